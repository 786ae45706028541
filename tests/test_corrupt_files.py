"""Files users will have: damaged checkpoints, a model.json with NaN, named pipes and devices where files go.

Each is refused in one line that names the file and says what to do, before anything is read from a pipe (so
nothing hangs) and without a library's traceback; tiny sizes, random weights.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import threading

import numpy as np
import pytest

from explainer.checkpoints import CheckpointError
from explainer.config import TrainSettings
from explainer.errors import ConfigError, ImageError, one_line
from explainer.images import image_shape, load_image, save_image
from explainer.models import ModelError, load_model
from explainer.training import Training, train

SIZE = 24


def quiet(message):
    pass


def _settings(photos, **changes):
    base = {"size": SIZE, "steps": 2, "batch_size": 1, "arch": "slim", "data": photos, "preview_every": 0,
            "checkpoint_every": 0}
    return TrainSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        save_image(rng.random((SIZE, SIZE, 3)), folder / f"p{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def style():
    return np.random.default_rng(1).random((SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photos, style, backend):
    """A model folder after 2 steps: its model files and its checkpoint of step 2."""
    folder = tmp_path_factory.mktemp("trained") / "m"
    train(style, folder, _settings(photos), backend=backend, progress=False, log=quiet)
    return folder


@pytest.fixture
def copy(trained, tmp_path):
    """A copy of the trained model folder to damage."""
    return pathlib.Path(shutil.copytree(trained, tmp_path / "m"))


def _within(seconds, function, *args):
    """`function(*args)`'s exception (or None), failing the test if it does not return within `seconds` (a hang)."""
    outcome = {}

    def call():
        try:
            function(*args)
        except Exception as error:  # noqa: BLE001 -- handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} blocked on a named pipe"
    return outcome.get("error")


# ------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize(("damaged", "how"), [("meta/metadata", "garbage"), ("state/_METADATA", "truncated"),
                                               ("state/manifest.ocdbt", "truncated")])
def test_a_damaged_checkpoint_is_refused_in_one_line_naming_the_file(copy, photos, style, backend, damaged, how,
                                                                     capfd):
    path = copy / "checkpoints" / "2" / damaged
    data = path.read_bytes()
    path.write_bytes(b"\xff\xfe\x00 overwritten" * 8 if how == "garbage" else data[: len(data) // 2])
    with pytest.raises(CheckpointError) as error:
        Training(style, copy, _settings(photos, steps=4), resume=True, backend=backend, log=quiet)
    message = one_line(error.value)
    assert message == str(error.value) and len(message) < 400
    assert str(path) in message and "damaged" in message and "train anew" in message
    assert isinstance(error.value, ConfigError)  # the command line prints it as one line
    assert "Traceback" not in capfd.readouterr().err  # orbax's threads said nothing either
    assert data  # the rest of the model folder is untouched: the model still loads
    assert load_model(copy).manifest["steps_done"] == 2


def test_resume_past_the_planned_steps_is_refused_not_reported_as_finished(copy, photos, style, backend):
    with pytest.raises(ConfigError, match=r"at step 2, past --steps 1; give --steps above 2"):
        Training(style, copy, _settings(photos, steps=1), resume=True, backend=backend, log=quiet)


# ------------------------------------------------------------------ model files


def test_a_model_json_with_nan_is_refused(copy):
    manifest = json.loads((copy / "model.json").read_text())
    manifest["history"][0]["loss"] = float("nan")
    (copy / "model.json").write_text(json.dumps(manifest))  # Python writes NaN; strict JSON has none
    with pytest.raises(ModelError, match=r"model.json: holds NaN, which strict JSON .* never writes"):
        load_model(copy)
    manifest["history"][0]["loss"] = 1.0
    manifest["version"] = "1"
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not a whole number"):
        load_model(copy)


def test_a_model_json_naming_weights_elsewhere_reads_only_the_model_folder(copy, tmp_path):
    manifest = json.loads((copy / "model.json").read_text())
    (tmp_path / "elsewhere.safetensors").write_bytes((copy / "model.safetensors").read_bytes())
    manifest["weights_file"]["name"] = str(tmp_path / "elsewhere.safetensors")
    (copy / "model.json").write_text(json.dumps(manifest))
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=f"{copy}/elsewhere.safetensors: cannot read the weights"):
        load_model(copy)


@pytest.mark.parametrize("name", ["model.json", "model.safetensors"])
def test_a_named_pipe_in_a_model_folder_is_refused_without_blocking(copy, name):
    from explainer.fast import parse_model

    (copy / name).unlink()
    os.mkfifo(copy / name)
    assert parse_model(str(copy)).kind == "trained"  # a pipe called model.json: the folder is meant as a model
    error = _within(10, load_model, copy)
    assert isinstance(error, ModelError) and f"{copy / name}: is a named pipe, not a regular file" in str(error)


# ------------------------------------------------------------------ special files as images, masks, videos


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "photo.png"
    os.mkfifo(path)
    return path


def test_a_named_pipe_as_an_image_is_refused_without_blocking(fifo):
    error = _within(10, load_image, fifo)
    assert isinstance(error, ImageError) and str(error) == f"{fifo}: is a named pipe, not a regular file; give an image file"
    assert _within(10, image_shape, fifo) is None  # the budget's look at the header does not open it either


def test_a_named_pipe_as_a_style_image_or_mask_is_refused_without_blocking(fifo):
    from explainer import regions, samples

    error = _within(10, samples.load, str(fifo))
    assert isinstance(error, ImageError) and "named pipe" in str(error)
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    error = _within(10, regions.from_files, str(fifo), str(fifo), image, [image])
    assert isinstance(error, ImageError) and "named pipe" in str(error)


def test_a_named_pipe_or_a_device_as_a_video_is_refused_and_not_called_missing(fifo):
    pytest.importorskip("imageio_ffmpeg")
    from explainer.video import open_video

    error = _within(10, open_video, fifo)
    assert isinstance(error, ImageError) and "is a named pipe, not a regular file" in str(error)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ImageError, match=r"^/dev/zero: is a device, not a regular file"):
            open_video("/dev/zero")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_as_an_image_is_a_device_not_a_missing_file():
    with pytest.raises(ImageError, match=r"^/dev/zero: is a device, not a regular file"):
        load_image("/dev/zero")
