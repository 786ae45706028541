"""inspect, reconstruct and compare: API and CLI, on tiny images with random weights."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from explainer import ConfigError, StyleConfig
from explainer.cli import main
from explainer.compare import compare, parse_variant
from explainer.images import save_image
from explainer.inspection import inspect_image, stats_table
from explainer.losses import gram_matrix
from explainer.reconstruct import growing_subsets, reconstruct

TINY = StyleConfig(weights="random", size=32, iterations=3, print_every=0)


def test_inspect_records_every_channel_and_the_gram(backend, images):
    content, _ = images
    trace = inspect_image(content, ["relu1_1", "relu2_1"], backend=backend, config=TINY, top_k=None)
    assert trace.iterations == [0] and trace.layers == ["relu1_1", "relu2_1"]
    acts, channels = trace.activations(0, "relu2_1")
    assert acts.shape == (12, 16, 128) and sorted(channels) == list(range(128))
    direct = backend.features(content, ["relu2_1"])["relu2_1"]
    np.testing.assert_allclose(trace.gram(0, "relu2_1"), gram_matrix(direct), rtol=1e-5)
    rows = stats_table(trace)
    assert [r["layer"] for r in rows] == ["relu1_1", "relu2_1"] and rows[1]["channels"] == 128
    assert rows[0]["max"] == pytest.approx(float(np.max(backend.features(content, ["relu1_1"])["relu1_1"])), rel=1e-5)
    # the same provenance as a run record: software, config, network, weights
    manifest = trace.manifest
    assert manifest["network"]["name"] == "vgg16" and manifest["weights"]["name"] == "random"
    assert manifest["config"] == TINY.to_dict() and "jax" in manifest["software"] and "backend" not in manifest


def test_inspect_cli_writes_figures_and_table(tmp_path, capsys):
    image = save_image(np.random.default_rng(2).random((20, 24, 3)), tmp_path / "img.png")
    code = main(["inspect", str(image), "-o", str(tmp_path / "out"), "--layers", "relu1_1,pool1",
                 "--weights", "random", "--size", "24"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for name in ("relu1_1_features.png", "relu1_1_gram.png", "pool1_stats.png", "stats.csv", "trace/trace.json"):
        assert (tmp_path / "out" / name).is_file(), name
    with open(tmp_path / "out" / "stats.csv") as f:
        assert [row["layer"] for row in csv.DictReader(f)] == ["relu1_1", "pool1"]
    assert "relu1_1" in out and "pool1" in out
    manifest = json.loads((tmp_path / "out" / "trace" / "trace.json").read_text())
    assert manifest["network"]["name"] == "vgg19" and manifest["config"]["size"] == 24


def test_growing_subsets():
    assert growing_subsets(["a", "b", "c"]) == [("a",), ("a", "b"), ("a", "b", "c")]


def test_reconstruct_rows_and_figure(backend, images):
    content, style = images
    result = reconstruct(content, style, TINY.replace(init="noise"), content_layers=("relu1_1", "relu2_1"),
                         style_layers=("relu1_1", "relu2_1"), backend=backend)
    assert [layer for layer, _ in result.content] == ["relu1_1", "relu2_1"]
    assert [layers for layers, _ in result.style] == [("relu1_1",), ("relu1_1", "relu2_1")]
    assert result.content[0][1].shape == content.shape
    fig = result.figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert "content from relu1_1" in titles and "style from relu1_1 + relu2_1" in titles
    assert "vgg16" in fig._suptitle.get_text() and "random" in fig._suptitle.get_text()


def test_content_reconstruction_from_a_shallow_layer_approaches_the_image(backend, images):
    content, _ = images
    cfg = TINY.replace(init="noise", iterations=40, optimizer="lbfgs", seed=5)
    result = reconstruct(content, None, cfg, content_layers=("relu1_1",), backend=backend)
    start = np.random.default_rng(cfg.seed).uniform(0, 1, content.shape)
    error, initial = np.abs(result.content[0][1] - content).mean(), np.abs(start - content).mean()
    assert error < 0.5 * initial


def test_compare_runs_each_variant_and_tabulates(backend, images, tmp_path):
    content, style = images
    comparison = compare(content, style, ["style_layers=relu1_1", {"style_layers": ("relu2_1",), "style_weight": 10.0}],
                         TINY, backend=backend, progress=False, log=lambda m: None)
    rows = comparison.rows
    assert [r["label"] for r in rows] == ["style_layers=relu1_1", "style_layers=relu2_1; style_weight=10.0"]
    for row, result in zip(rows, comparison.results):
        final = result.record["history"][-1]
        assert row["loss"] == final["loss"]
        assert row["style"] == pytest.approx(sum(final["style"].values()))
    assert "style/relu1_1" in rows[0] and "style/relu2_1" in rows[1]
    path = comparison.save(tmp_path / "grid.png")
    assert path.is_file()
    saved = json.loads(path.with_suffix(".json").read_text())
    assert saved["rows"][1]["label"] == rows[1]["label"]
    assert path.with_suffix(".csv").read_text().splitlines()[0].startswith("label,")
    titles = [ax.get_title() for ax in comparison.figure().axes]
    assert any("style_layers=relu1_1" in t for t in titles)


def test_compare_rejects_bad_variants_before_running(backend, images):
    content, style = images
    with pytest.raises(ConfigError, match="variant 'stlye=3': unknown or unavailable setting 'stlye'; choose from: .*style_weight"):
        compare(content, style, ["stlye=3"], TINY, backend=backend)
    with pytest.raises(ConfigError, match="style_weight must be >= 0, not -1"):
        compare(content, style, ["style_weight=-1"], TINY, backend=backend)
    with pytest.raises(ValueError, match="has no layer relu9_1"):
        compare(content, style, ["style_layers=relu1_1", "style_layers=relu9_1"], TINY, backend=backend,
                log=pytest.fail)  # the first variant must not even start


def test_parse_variant_types_values_like_the_cli():
    assert parse_variant("style_layers=relu1_1,relu2_1; content_weight=10; optimizer=lbfgs") == {
        "style_layers": ("relu1_1", "relu2_1"), "content_weight": 10.0, "optimizer": "lbfgs"}
    with pytest.raises(ConfigError, match="expected FIELD=VALUE"):
        parse_variant("style_layers")
    with pytest.raises(ConfigError, match="size: 'big' is not a whole number"):
        parse_variant("size=big")
    # the old name of `network` still works; `allowed` limits what a variant may change
    assert parse_variant("backend=vgg16") == {"network": "vgg16"}
    assert parse_variant("style_weight=10", allowed=("style_weight", "content_weight")) == {"style_weight": 10.0}
    with pytest.raises(ConfigError, match="unknown or unavailable setting 'size'; choose from: content_weight, style_weight$"):
        parse_variant("size=64", allowed=("style_weight", "content_weight"))


def test_compare_and_reconstruct_cli(tmp_path, capsys):
    rng = np.random.default_rng(3)
    content = save_image(rng.random((24, 28, 3)), tmp_path / "c.png")
    style = save_image(rng.random((24, 24, 3)), tmp_path / "s.png")
    fast = ["--weights", "random", "--size", "24", "--iterations", "2", "--quiet"]
    code = main(["compare", str(content), str(style), "-o", str(tmp_path / "cmp.png"), *fast,
                 "--variant", "style_layers=relu1_1", "--variant", "style_layers=relu2_1"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "cmp.csv").is_file()
    code = main(["reconstruct", str(content), str(style), "-o", str(tmp_path / "rec.png"), *fast,
                 "--layers", "relu1_1,relu2_1"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "rec.png").is_file()
    code = main(["compare", str(content), str(style), "-o", str(tmp_path / "x.png"), *fast])
    assert code == 2 and "give at least one --variant" in capsys.readouterr().err
