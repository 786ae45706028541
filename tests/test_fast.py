"""The fast method and the folder drivers, with a stand-in network whose outputs are known by hand.

The real networks' numbers are checked against onnxruntime in `test_stylisers.py`;
here the styliser is a two-line function so every value can be computed independently.
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np
import pytest

from backends import Styliser
from explainer import fast
from explainer.augment import (
    MANIFEST,
    augment,
    embedding_distribution,
    plan_augment,
    stylize_folder,
)
from explainer.config import AugmentSettings, StyleConfig
from explainer.data import find_images
from explainer.errors import ConfigError, Note
from explainer.images import load_image, save_image
from explainer.record import RecordSpec, Trace
from explainer.runner import stylize


class MeanColour:
    """Embeds an image as its mean colour; paints `(content + embedding) / 2` (a whole `backends.Styliser`)."""

    def __init__(self, kind: str = "arbitrary"):
        self.kind, self.params = kind, {}
        self.embedding_size = 3 if kind == "arbitrary" else fast.MULTISTYLE_COUNT
        self.calls = 0

    @property
    def spec(self):
        return ("mean-colour", self.kind)

    def apply(self, params, contents, embeddings):
        return self.stylise(contents, embeddings)

    def embed(self, squares):
        assert squares.shape[1:] == (fast.STYLE_SIDE, fast.STYLE_SIDE, 3)
        return np.asarray(squares).mean(axis=(1, 2))

    def stylise(self, contents, embeddings):
        self.calls += 1
        embeddings = np.atleast_2d(embeddings)  # one for all images, or one each, as the real networks
        colour = embeddings[:, :3] if self.kind == "arbitrary" else embeddings[:, :3] * 0 + embeddings[:, 3:4]
        return (np.asarray(contents) + colour[:, None, None, :]) / 2

    layer_names = ("paint", "twice")

    def activations(self, contents, embeddings, layers):
        values = {"paint": self.stylise(contents, embeddings), "twice": 2 * np.asarray(contents)}
        return {name: values[name] for name in layers}

    def norm_params(self, embeddings):
        e = np.asarray(embeddings)[None] if np.ndim(embeddings) == 1 else np.asarray(embeddings)
        return {"paint": (e + 1, e - 1)}

    def norm_statistics(self, contents, embeddings):
        contents = np.asarray(contents)
        return {"paint": (contents.mean(axis=(1, 2)), contents.var(axis=(1, 2)))}

    def describe(self):
        return f"mean-colour stand-in ({self.kind})"

    def provenance(self):
        return {"network": {"name": self.kind}, "weights": {"name": "none"}}


def _flat(colour, shape=(40, 60)):
    return np.broadcast_to(np.asarray(colour, np.float32), (*shape, 3)).copy()


# --------------------------------------------------------------------------- --model


@pytest.mark.parametrize("text, kind, blend", [
    ("arbitrary", "arbitrary", ()),
    ("multistyle:3", "multistyle", ((3, 1.0),)),
    ("multistyle:3=1,12=3", "multistyle", ((3, 0.25), (12, 0.75))),
    ("multistyle: 25 = 2 , 0=2", "multistyle", ((0, 0.5), (25, 0.5))),
])
def test_model_choices_parse(text, kind, blend):
    choice = fast.parse_model(text)
    assert (choice.kind, choice.blend) == (kind, blend)


@pytest.mark.parametrize("text, message", [
    ("multistyle:26", "style 26 does not exist; the styles are 0 to 25"),
    ("multistyle:", "say which of the 26 styles"),
    ("multistyle:3=x", "'3=x' is not K or K=W"),
    ("multistyle:3=0", "must have a positive sum"),
    ("picasso", "expected arbitrary, multistyle:K"),
])
def test_bad_model_choices_say_why(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        fast.parse_model(text)


def test_multistyle_vector_is_the_blend():
    vector = fast.multistyle_vector(fast.parse_model("multistyle:3=1,12=3"))
    expected = np.zeros(26)
    expected[3], expected[12] = 0.25, 0.75
    np.testing.assert_allclose(vector, expected)


# --------------------------------------------------------------------------- embeddings


def test_style_square_is_the_central_square():
    image = np.zeros((100, 300, 3), np.float32)
    image[:, 100:200] = 1.0  # the central square is white, the sides black
    square = fast.style_square(image, side=64)
    assert square.shape == (64, 64, 3)
    np.testing.assert_allclose(square[:, 3:-3], 1.0, atol=0.01)  # none of the black sides


def test_strength_interpolates_between_the_contents_own_and_the_styles_embedding():
    content, red, blue = _flat([0.2, 0.4, 0.6]), _flat([1, 0, 0]), _flat([0, 0, 1])
    styliser = MeanColour()
    full = fast.arbitrary_embedding(styliser, content, [red, blue], (3.0, 1.0), 1.0)
    np.testing.assert_allclose(full, [0.75, 0, 0.25], atol=1e-6)  # blended 3:1
    quarter = fast.arbitrary_embedding(styliser, content, [red, blue], (3.0, 1.0), 0.25)
    np.testing.assert_allclose(quarter, 0.25 * np.array([0.75, 0, 0.25]) + 0.75 * np.array([0.2, 0.4, 0.6]), atol=1e-3)


def test_stylize_fast_through_the_api_records_the_embedding():
    content = _flat([0.2, 0.4, 0.6], (30, 60))
    config = StyleConfig(method="fast", size=40)
    assert isinstance(MeanColour(), Styliser)  # the stand-in is a whole styliser: the runner asks nothing else
    result = stylize(content, [_flat([1, 0, 0])], config, backend=MeanColour(), log=lambda m: None)
    assert result.image.shape == (20, 40, 3)
    np.testing.assert_allclose(result.image[5, 5], ([0.2, 0.4, 0.6] + np.array([1, 0, 0])) / 2, atol=1e-6)
    record = json.loads(json.dumps(result.record, allow_nan=False))
    assert record["embedding"] == [1.0, 0.0, 0.0]
    assert record["config"]["method"] == "fast" and record["network"] == {"name": "arbitrary"}


def test_a_fast_run_records_the_networks_activations_norms_and_embedding(tmp_path):
    content = _flat([0.2, 0.4, 0.6], (32, 32))
    content[:16] = 0.0  # the top half black: channel statistics differ by channel
    result = stylize(content, [_flat([1, 0, 0])], StyleConfig(method="fast", size=32), backend=MeanColour(),
                     log=lambda m: None, record=RecordSpec(top_k=2))
    trace = Trace.load(result.trace.save(tmp_path / "trace"))
    assert trace.layers == ["paint", "twice"] and trace.iterations == [1]
    np.testing.assert_allclose(trace.image(1), result.image)
    kept, channels = trace.activations(1, "twice")
    assert list(channels) == [2, 1]  # blue (0.6) has the most energy, then green (0.4)
    np.testing.assert_allclose(kept[20, 5], [1.2, 0.8], atol=1e-6)
    np.testing.assert_allclose(trace.arrays["iter1/stats/twice"][0], [0.2, 0.2, 0.4, 0.08], atol=1e-6)  # mean, std, max, energy
    np.testing.assert_allclose(trace.arrays["norm/paint/scale"], [2, 1, 1])
    np.testing.assert_allclose(trace.arrays["norm_stats/paint/mean"], [0.1, 0.2, 0.3], atol=1e-5)  # what a norm
    np.testing.assert_allclose(trace.arrays["norm_stats/paint/var"], [0.01, 0.04, 0.09], atol=1e-5)  # divides out
    np.testing.assert_allclose(trace.arrays["embedding"], [1, 0, 0])
    assert trace.manifest["method"] == "fast" and trace.manifest["norm_layers"] == ["paint"]


def test_multistyle_says_that_strength_and_style_images_are_not_used():
    with pytest.warns(Note) as notes:
        stylize(_flat([0.5] * 3), [_flat([1, 0, 0])], StyleConfig(method="fast", model="multistyle:2", size=32,
                                                                  style_strength=0.5),
                backend=MeanColour("multistyle"), log=lambda m: None)
    said = " ".join(str(note.message) for note in notes)
    assert "has its styles built in: the style images are not used" in said
    assert "--style-strength 0.5 is not used by --model multistyle:2" in said


def test_arbitrary_needs_a_style_image():
    with pytest.raises(ConfigError, match="give at least one"):
        stylize(_flat([0.5] * 3), [], StyleConfig(method="fast", size=32), backend=MeanColour(), log=print)


def test_random_embeddings_follow_the_fitted_distribution():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 4)) * [1, 2, 3, 4] + [10, 0, 0, 0]
    distribution = embedding_distribution(embeddings)
    draws = np.stack([distribution.sample(seed) for seed in range(4000)])
    np.testing.assert_allclose(draws.mean(0), embeddings.mean(0), atol=0.25)
    sample_cov = np.cov(embeddings, rowvar=False)
    expected = sample_cov + 0.1 * np.mean(np.diag(sample_cov)) * np.eye(4)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), expected, rtol=0.1, atol=0.3)
    assert np.array_equal(distribution.sample(7), distribution.sample(7))


# --------------------------------------------------------------------------- folders


def _folder(tmp_path, count=5, corrupt=True):
    root = tmp_path / "in"
    for i in range(count):
        save_image(_flat([i / count, 0.5, 1 - i / count], (24 + 8 * (i % 2), 32)), root / ("sub" if i % 2 else "") / f"im{i}.png")
    if corrupt:
        (root / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("ignored")
    return root


def test_plan_depends_only_on_seed_path_and_variant():
    settings = AugmentSettings(variants=3, seed=5, source="images", strength_min=0.2, strength_max=0.9)
    one = plan_augment(["a.png", "b/c.png"], settings, ["x", "y"])
    other = plan_augment(["b/c.png"], settings, ["x", "y"])
    assert one[3:] == other and len(one) == 6
    assert {job.output for job in one[:3]} == {"a_style0.png", "a_style1.png", "a_style2.png"}
    assert all(0.2 <= job.strength <= 0.9 for job in one)
    assert plan_augment(["a.png"], settings.replace(seed=6), ["x", "y"]) != one[:3]


def _stylisers():
    made = {"arbitrary": MeanColour(), "multistyle": MeanColour("multistyle")}
    return made.__getitem__


def test_augment_keeps_the_tree_lists_unreadable_files_and_writes_a_manifest(tmp_path):
    root = _folder(tmp_path)
    assert find_images(root, relative=True) == ["broken.jpg", "im0.png", "im2.png", "im4.png", "sub/im1.png",
                                                "sub/im3.png"]
    assert find_images(root) == [str(root / name) for name in find_images(root, relative=True)]
    settings = AugmentSettings(variants=2, source="random", batch_size=2)
    summary = augment(root, tmp_path / "out", settings, styles=[_flat([1, 0, 0]), _flat([0, 1, 0])],
                      progress=False, stylisers=_stylisers())
    assert summary.done == 10 and summary.unreadable == ["broken.jpg"] * 2
    assert (tmp_path / "out/sub/im3_style1.png").exists()
    rows = list(csv.DictReader((tmp_path / "out" / MANIFEST).read_text().splitlines()))
    assert len(rows) == 12 and {r["status"] for r in rows if r["input"] == "broken.jpg"} == {
        "unreadable: not an image file Pillow can read"}
    assert load_image(tmp_path / "out/im0_style0.png").shape == (24, 32, 3)  # each image keeps its size


class _StopAfter:
    """A stand-in network that is interrupted (Ctrl-C) at its n-th batch."""

    def __init__(self, n):
        self.inner, self.n = MeanColour(), n

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def stylise(self, contents, embeddings):
        if self.inner.calls + 1 == self.n:
            raise KeyboardInterrupt
        return self.inner.stylise(contents, embeddings)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_interrupted_augmentation_resumes_to_exactly_the_uninterrupted_files(tmp_path):
    root = _folder(tmp_path, count=6, corrupt=True)
    settings = AugmentSettings(variants=2, source="images", batch_size=2, seed=3)
    styles = [_flat([1, 0, 0]), _flat([0, 0, 1])]
    whole = augment(root, tmp_path / "whole", settings, styles=styles, progress=False, stylisers=_stylisers())
    stopping = _StopAfter(3)
    first = augment(root, tmp_path / "resumed", settings, styles=styles, progress=False,
                    stylisers={"arbitrary": stopping}.__getitem__)
    assert first.interrupted and 0 < first.done < whole.done
    second = augment(root, tmp_path / "resumed", settings, styles=styles, progress=False, stylisers=_stylisers())
    assert second.already_done == first.done + len(first.unreadable)
    assert second.done == whole.done - first.done
    assert _files(tmp_path / "resumed") == _files(tmp_path / "whole")


def test_stylize_folder_runs_batches_of_one_size(tmp_path):
    root = _folder(tmp_path, count=4, corrupt=False)
    stylisers = _stylisers()
    config = StyleConfig(method="fast", model="multistyle:3", size=32)
    summary = stylize_folder(root, [], config, tmp_path / "out", batch_size=8, progress=False, stylisers=stylisers)
    assert summary.done == 4
    assert stylisers("multistyle").calls == 2  # two image shapes: one batch each
    out = load_image(tmp_path / "out/sub/im1.png")
    assert out.shape == (32, 32, 3)
    # the stand-in paints (content + weight of style 3) / 2
    np.testing.assert_allclose(out[4, 4], (np.array([0.25, 0.5, 0.75]) + 1.0) / 2, atol=1 / 255)


_DEVICES_SCRIPT = """
import numpy as np, jax
from backends import get_styliser
from explainer import fast
s = get_styliser("multistyle", weights="random", seed=1)
rng = np.random.default_rng(0)
x = rng.uniform(size=(5, 24, 20, 3)).astype(np.float32)
e = rng.dirichlet(np.ones(26), size=5).astype(np.float32)
spread, _ = fast.apply_network(s, x, e)
alone = np.clip(np.concatenate([np.asarray(s.stylise(x[i:i + 1], e[i:i + 1])) for i in range(5)]), 0, 1)
print(jax.local_device_count(), fast._spread(s) is not None, float(np.abs(spread - alone).max()))
"""


def test_batches_spread_over_eight_devices_give_the_one_device_images():
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    devices, spread, difference = out.stdout.split()
    assert (devices, spread) == ("8", "True")  # 5 images padded to 8, one per device
    assert float(difference) == 0.0


# --------------------------------------------------------------------------- command line


@pytest.fixture
def stand_in(monkeypatch):
    """`backends.get_styliser` replaced by the mean-colour stand-ins (one per kind)."""
    import backends

    made = {"arbitrary": MeanColour(), "multistyle": MeanColour("multistyle")}
    monkeypatch.setattr(backends, "get_styliser", lambda kind, **kwargs: made[kind], raising=False)
    return made


def test_cli_stylizes_with_a_built_in_style_and_no_style_image(tmp_path, stand_in, capsys):
    from explainer.cli import main

    save_image(_flat([0.2, 0.4, 0.6], (20, 40)), tmp_path / "c.png")
    code = main(["stylize", str(tmp_path / "c.png"), "--method", "fast", "--model", "multistyle:3=1,5=1",
                 "--size", "32", "-o", str(tmp_path / "out.png"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["embedding"][3] == record["embedding"][5] == 0.5 and record["size"] == [16, 32]
    assert "the network" in capsys.readouterr().err


def test_cli_stylizes_a_folder_into_a_folder(tmp_path, stand_in, capsys):
    from explainer.cli import main

    root = _folder(tmp_path, count=3, corrupt=True)
    code = main(["stylize", str(root), "sample:swirl", "--method", "fast", "--size", "32",
                 "-o", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        "im0.png", "im2.png", "sub/im1.png"]
    err = capsys.readouterr().err
    assert "wrote 3 images" in err and "1 unreadable, skipped (listed in manifest.csv): broken.jpg" in err


def test_cli_augments_and_refuses_what_cannot_work(tmp_path, stand_in, capsys):
    from explainer.cli import main

    root = _folder(tmp_path, count=2, corrupt=False)
    assert main(["augment", str(root), str(tmp_path / "aug"), "--variants", "2", "--source", "builtin", "--quiet"]) == 0
    rows = list(csv.DictReader((tmp_path / "aug" / MANIFEST).read_text().splitlines()))
    assert len(rows) == 4 and all(r["style"].startswith("builtin:") and r["status"] == "done" for r in rows)
    capsys.readouterr()
    assert main(["augment", str(tmp_path / "missing"), str(tmp_path / "aug2")]) == 2
    assert "missing: not a folder" in capsys.readouterr().err
    assert main(["augment", str(root), str(tmp_path / "aug3"), "--strength-min", "0.9", "--strength-max", "0.5"]) == 2
    assert "--strength-min 0.9 is above --strength-max 0.5" in capsys.readouterr().err


def test_a_folder_through_a_network_trained_here_equals_each_image_alone(tmp_path):
    from explainer.models import load_model

    model = str(pathlib.Path(__file__).resolve().parents[1] / "lessons/assets/models/swirl-slim-128")
    root = _folder(tmp_path, count=3, corrupt=False)
    config = StyleConfig(method="fast", model=model, size=32)
    summary = stylize_folder(root, [], config, tmp_path / "out", progress=False)
    assert summary.done == 3 and not summary.unreadable
    alone = stylize(root / "sub/im1.png", [], config, log=lambda m: None).image
    np.testing.assert_allclose(load_image(tmp_path / "out/sub/im1.png"), alone, atol=1 / 255 + 1e-6)
    assert load_model(model).embedding_size == 0
