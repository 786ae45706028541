"""Requests a careless or hostile user makes: refused early, in one line, with nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from explainer import files
from explainer.cli import main
from explainer.images import save_image

QUICK = ["--weights", "random", "--size", "32", "--iterations", "1", "--quiet"]


@pytest.fixture()
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    return (str(save_image(rng.random((40, 48, 3)), tmp_path / "content.png")),
            str(save_image(rng.random((32, 32, 3)), tmp_path / "style.png")))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def test_a_huge_size_is_refused_before_jax_starts(pictures, tmp_path):
    code = ("import sys; from explainer.cli import main; "
            f"code = main(['stylize', {pictures[0]!r}, {pictures[1]!r}, '-o', {str(tmp_path / 'x.png')!r}, "
            "'--size', '100000']); print(code, 'jax' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "False"], done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1
    # too large even for tiles (explainer.tiling): the one-line refusal says what would fit
    assert "--size 100000 (100000x83333 px) does not fit --memory-budget" in message
    assert "even in tiles; use a smaller --size or a larger --memory-budget" in message
    assert not (tmp_path / "x.png").exists()


def test_the_budget_can_be_set_and_names_its_source(pictures, tmp_path, capsys):
    code, err = run(capsys, "stylize", *pictures, "-o", tmp_path / "x.png", "--size", "64", "--max-megapixels",
                    "0.001", *QUICK[:2])
    assert code == 2 and "makes the result 64x53 px (0.00339 megapixels), more than --max-megapixels allows" in err
    assert "about --size 34 here" in err


def test_an_image_too_thin_for_its_layers_is_named(tmp_path, pictures, capsys):
    thin = save_image(np.zeros((20, 400, 3), np.float32), tmp_path / "thin.png")
    code, err = run(capsys, "stylize", thin, pictures[1], "-o", tmp_path / "x.png", *QUICK)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{thin}: at 32 px on its longest side (the smallest scale) its short side is 2 px" in err
    assert "relu5_1 needs at least 16 px" in err


def test_a_negative_value_after_a_flag_reaches_the_settings_check(pictures, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", pictures[0], pictures[1], pictures[1], "-o", str(tmp_path / "x.png"), "--style-blend", "-1,2"])
    assert exit_.value.code == 2
    assert "argument --style-blend: must be >= 0, not -1" in capsys.readouterr().err


def test_an_animation_says_it_uses_the_first_frame(tmp_path, pictures, capsys):
    from PIL import Image

    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, err = run(capsys, "stylize", tmp_path / "anim.gif", pictures[1], "-o", tmp_path / "x.png", *QUICK)
    assert code == 0
    assert f"style-explainer: note: {tmp_path / 'anim.gif'}: an animation of 3 frames; using the first" in err
    assert json.loads((tmp_path / "x.json").read_text())["size"] == [32, 32]


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = files.write_atomically(tmp_path / "trace.json", b"previous")
    real_open = open

    class Interrupted:
        def __init__(self, path, mode):
            self.file = real_open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[:3])
            raise KeyboardInterrupt  # a second Ctrl-C (or SIGTERM) in the middle of a save

    monkeypatch.setattr("builtins.open", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(target, b"the new, longer contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.json"]


def test_outputs_are_checked_before_a_run(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(files.ConfigError, match="is a file, not a folder"):
        files.check_output_file(tmp_path / "file" / "x.png", (".png",))
    with pytest.raises(files.ConfigError, match="must end in .png or .jpg"):
        files.check_output_file(tmp_path / "x.txt", (".png", ".jpg"))
    with pytest.raises(files.ConfigError, match="is a folder; give a file name"):
        files.check_output_file(tmp_path, (".png",))
    assert files.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists(), "checking creates nothing"


def test_the_explorer_gives_a_web_user_no_server_advice(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from PIL import Image

    from explainer.app import load_user_image
    from explainer.errors import ImageError

    big = save_image(np.zeros((64, 64, 3), np.float32), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses it as a decompression bomb
    with pytest.raises(ImageError) as error:
        load_user_image(str(big), "content", max_side=64)
    message = str(error.value)
    assert message == "content (big.png): too many pixels for the explorer (at most 64 px on a side); scale it down first"
    assert str(tmp_path) not in message


def test_help_does_not_start_jax():
    code = "import sys; from explainer.cli import build_parser; build_parser().format_help(); print('jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
    for command in ("stylize", "compare", "reconstruct", "inspect", "demo"):
        script = ("import sys; from explainer.cli import main\n"
                  f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
                  "print('jax' in sys.modules)")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert done.stdout.strip().endswith("False"), (command, done.stdout[-200:])


def test_reconstruct_shows_the_steps_of_each_reconstruction(pictures, tmp_path, capsys):
    code, err = run(capsys, "reconstruct", *pictures, "-o", tmp_path / "fig1.png", "--weights", "random", "--size", "32",
                    "--iterations", "2", "--layers", "relu1_1")
    assert code == 0
    assert "stylizing: 100%" in err and "2/2" in err  # a bar of each reconstruction's steps
    code, err = run(capsys, "reconstruct", *pictures, "-o", tmp_path / "quiet.png", "--weights", "random", "--size",
                    "32", "--iterations", "2", "--layers", "relu1_1", "--quiet")
    assert code == 0 and "stylizing" not in err


# --------------------------------------------------------------------------- every entry point has a budget

HUGE = "100000"


@pytest.fixture()
def no_work(monkeypatch):
    """Any network loaded, or any image resized past 4096 px, fails the test: the budget must refuse first."""
    import backends
    from explainer import images

    def started(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(backends, "get_backend", started)
    monkeypatch.setattr(backends, "get_styliser", started)
    real_to, real_longest = images.resize_to, images.resize_longest

    def resize_to(image, height, width):
        assert max(height, width) <= 4096, "work started: a huge resize"
        return real_to(image, height, width)

    def resize_longest(image, side):
        assert side <= 4096, "work started: a huge resize"
        return real_longest(image, side)

    monkeypatch.setattr(images, "resize_to", resize_to)
    monkeypatch.setattr(images, "resize_longest", resize_longest)


@pytest.fixture()
def folder(tmp_path, pictures):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    save_image(rng.random((40, 48, 3)), root / "a.png")
    save_image(rng.random((24, 32, 3)), root / "sub" / "b.png")
    return root


def _entry_points(pictures, folder, tmp_path):
    """Every public way into the engine, with an absurd size: `(name, CLI argv or API call)`."""
    from explainer.augment import augment, stylize_folder
    from explainer.compare import compare
    from explainer.config import AugmentSettings, StyleConfig
    from explainer.inspection import inspect_image
    from explainer.reconstruct import reconstruct
    from explainer.runner import stylize

    content, style = pictures
    huge = StyleConfig(size=int(HUGE), weights="random")
    out = tmp_path / "out"
    return [
        ("stylize API", lambda: stylize(content, [style], huge)),
        ("stylize API fast", lambda: stylize(content, [style], huge.replace(method="fast"))),
        ("stylize API photo", lambda: stylize(content, [style], huge.replace(method="photo"))),
        ("stylize", ["stylize", content, style, "-o", out / "x.png"]),
        ("stylize fast", ["stylize", content, style, "-o", out / "x.png", "--method", "fast"]),
        ("stylize folder fast", ["stylize", folder, style, "-o", out / "dir", "--method", "fast"]),
        ("stylize_folder API", lambda: stylize_folder(folder, [style], huge.replace(method="fast"), out, progress=False)),
        ("augment", ["augment", folder, out / "aug"]),
        ("augment API", lambda: augment(folder, out, AugmentSettings(size=int(HUGE)), progress=False)),
        ("reconstruct", ["reconstruct", content, style, "-o", out / "fig.png"]),
        ("reconstruct API", lambda: reconstruct(content, style, huge)),
        ("compare", ["compare", content, style, "-o", out / "grid.png", "--variant", "style_weight=10"]),
        ("compare API", lambda: compare(content, [style], [{"style_weight": 10.0}], huge, progress=False)),
        ("inspect", ["inspect", content, "-o", out / "inspect"]),
        ("inspect API", lambda: inspect_image(content, config=huge)),
        ("video", ["video", folder, style, "-o", out / "frames"]),
    ]


def test_every_entry_point_refuses_an_absurd_size_before_any_work(pictures, folder, tmp_path, capsys, no_work):
    from explainer.errors import BudgetError, ConfigError

    names = []
    for name, call in _entry_points(pictures, folder, tmp_path):
        names.append(name)
        if callable(call):
            with pytest.raises(ConfigError) as error:  # BudgetError, or the tiler's own refusal
                call()
            assert isinstance(error.value, BudgetError) or "does not fit" in str(error.value), name
            assert len(str(error.value).splitlines()) == 1, name
            continue
        code, err = run(capsys, *call, "--size", HUGE, *(["--weights", "random"] if call[0] != "augment" else []))
        assert code == 2, (name, err)
        assert len(err.splitlines()) == 1 and "--size 100000" in err, (name, err)
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists(), "nothing written"
    assert len(names) == 16


def test_training_refuses_more_work_than_max_work_before_any(pictures, tmp_path, capsys, no_work):
    code, err = run(capsys, "train", pictures[1], "-o", tmp_path / "model", "--steps", "10000000", "--max-work", "1",
                    "--weights", "random")
    assert code == 2 and len(err.splitlines()) == 1
    assert "more than --max-work 1 allows" in err


# --------------------------------------------------------------------------- silently wrong, now refused


def test_augment_refuses_an_output_inside_its_input_or_around_it(folder, capsys, no_work):
    for out, message in [(folder / "sub" / "out", "lies inside IN_DIR"), (folder, "is IN_DIR itself"),
                         (folder.parent, "lies inside OUT_DIR")]:
        code, err = run(capsys, "augment", folder, out)
        assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (folder / "sub" / "out").exists()


def test_a_content_folder_refuses_an_output_inside_it(folder, pictures, capsys, no_work):
    code, err = run(capsys, "stylize", folder, pictures[1], "-o", folder / "styled", "--method", "fast")
    assert code == 2 and "lies inside the content folder" in err


def test_separators_alone_are_no_list_of_layers(pictures, tmp_path, capsys):
    for flag in ("--style-layers", "--content-layers", "--style-layer-weights", "--style-blend", "--record-layers"):
        with pytest.raises(SystemExit) as exit_:
            main(["stylize", *pictures, "-o", str(tmp_path / "x.png"), flag, " , ,"])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and len(err.splitlines()) == 1, err
        assert f"argument {flag}: ', ,' has separators but no values: give at least one" in err
    for argv in (["inspect", pictures[0], "-o", tmp_path / "i"], ["reconstruct", *pictures, "-o", tmp_path / "r.png"]):
        with pytest.raises(SystemExit):
            main([str(a) for a in argv] + ["--layers", ","])
        assert "argument --layers: ',' has separators but no values" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_the_fast_method_on_an_empty_folder_says_so(tmp_path, pictures, capsys, no_work):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    code, err = run(capsys, "stylize", tmp_path / "empty", pictures[1], "-o", tmp_path / "out", "--method", "fast")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{tmp_path / 'empty'}: no images in it or below it (looked for .png" in err
    code, err = run(capsys, "augment", tmp_path / "empty", tmp_path / "out")
    assert code == 2 and "no images in it or below it" in err
    assert not (tmp_path / "out").exists()


def test_a_content_folder_with_an_image_name_as_output_is_refused(folder, pictures, tmp_path, capsys, no_work):
    code, err = run(capsys, "stylize", folder, pictures[1], "-o", tmp_path / "out.png", "--method", "fast")
    assert code == 2 and len(err.splitlines()) == 1
    assert "is a folder, so -o names a folder for its images, not an image file like" in err
    assert not (tmp_path / "out.png").exists()


def test_the_output_check_really_writes_and_leaves_nothing(tmp_path):
    (tmp_path / "kept").mkdir()
    assert files.check_output_dir(tmp_path / "kept") == tmp_path / "kept"
    assert files.check_output_file(tmp_path / "a" / "b" / "x.png", (".png",)) == tmp_path / "a" / "b" / "x.png"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"], "no probe file, no folder made"
    for unwritable in ("/sys/x/y", "/proc/x", "/sys"):  # os.access says yes to root for /sys; writing says no
        with pytest.raises(files.ConfigError, match="cannot be written"):
            files.check_output_dir(unwritable)
