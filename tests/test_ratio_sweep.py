"""The ratio sweep (Gatys et al. 2015, Fig. 3) and the comparison table: tiny images, random weights."""

from __future__ import annotations

import itertools
import json
import re
import types

import numpy as np
import pytest

from backends import get_backend
from explainer import ConfigError, StyleConfig, settings
from explainer.cli import COMPARE_DEFAULTS, main
from explainer.compare import (
    DEFAULT_RATIOS,
    RATIO_SWEEP_DEFAULTS,
    RATIO_SWEEP_QUICK,
    Comparison,
    Variant,
    compare_ratio_sweep,
    quick,
    ratio_sweep,
)
from explainer.images import save_image

STYLE_SETS = [("relu1_1",), ("relu1_1", "relu2_1", "relu3_1")]


@pytest.fixture(scope="module")
def avg_backend():
    """The sweep's pooling, untrained weights."""
    return get_backend("vgg16", weights="random", pooling="avg")


@pytest.fixture(scope="module")
def tiny_sweep(avg_backend, images):
    """The sweep's preset at 32 px and 10 steps: two rows, the default ratios."""
    content, style = images
    base = RATIO_SWEEP_DEFAULTS.replace(weights="random", size=32, iterations=10)
    return compare_ratio_sweep(content, style, base, style_sets=STYLE_SETS, backend=avg_backend, progress=False,
                               log=lambda message: None)


def test_the_preset_is_the_papers_set_up():
    assert RATIO_SWEEP_DEFAULTS.init == "noise" and RATIO_SWEEP_DEFAULTS.pooling == "avg"
    assert RATIO_SWEEP_DEFAULTS.optimizer == "lbfgs" and RATIO_SWEEP_DEFAULTS.size == COMPARE_DEFAULTS.size
    # the columns span a factor of 1000, a factor of 10 apart, in increasing order
    assert DEFAULT_RATIOS == tuple(sorted(DEFAULT_RATIOS)) and len(DEFAULT_RATIOS) == 4
    np.testing.assert_allclose(np.diff(np.log10(DEFAULT_RATIOS)), 1.0)
    # quick: 3/4 of the size and half the steps, everything else the same
    assert (RATIO_SWEEP_QUICK.size, RATIO_SWEEP_QUICK.iterations) == (RATIO_SWEEP_DEFAULTS.size * 3 // 4,
                                                                     RATIO_SWEEP_DEFAULTS.iterations // 2)
    assert RATIO_SWEEP_QUICK.replace(size=128, iterations=RATIO_SWEEP_DEFAULTS.iterations) == RATIO_SWEEP_DEFAULTS
    assert quick(StyleConfig(size=40, iterations=1)).size == 32 and quick(StyleConfig(iterations=1)).iterations == 1
    assert (quick(StyleConfig(size=128, iterations=100)).size, quick(StyleConfig(iterations=100)).iterations) == (96, 50)


def test_ratio_sweep_has_the_paper_layout_and_layer_weights():
    variants, layout, rows, columns = ratio_sweep(ratios=(0.01, 0.1), style_sets=[("relu1_1",), ("relu1_1", "relu2_1")])
    assert layout == (2, 2) and len(variants) == 4
    assert variants[1].overrides == {"style_layers": ("relu1_1",), "style_layer_weights": (1.0,),
                                     "content_weight": 10.0, "style_weight": 100.0}
    assert variants[2].overrides["style_layer_weights"] == (0.5, 0.5)
    assert rows == ["style relu1_1", "style relu1_1..relu2_1\nw_l = 1/2"]
    assert columns == ["content/style = 0.01", "content/style = 0.1"]
    assert [v.label for v in variants[:2]] == ["style relu1_1, content/style 0.01", "style relu1_1, content/style 0.1"]
    # the project's own weighting (every layer 1) on request
    plain, *_ = ratio_sweep(ratios=(1.0,), style_sets=[("relu1_1", "relu2_1")], paper_layer_weights=False)
    assert "style_layer_weights" not in plain[0].overrides


def test_the_runs_carry_the_preset(tiny_sweep):
    """What ran is the preset: from noise, avg pooling, L-BFGS, w_l = 1/n per row, the ratios in the columns."""
    assert tiny_sweep.layout == (2, len(DEFAULT_RATIOS)) and len(tiny_sweep.results) == 2 * len(DEFAULT_RATIOS)
    for index, result in enumerate(tiny_sweep.results):
        config = result.record["config"]
        layers = STYLE_SETS[index // len(DEFAULT_RATIOS)]
        assert (config["init"], config["pooling"], config["optimizer"]) == ("noise", "avg", "lbfgs")
        assert config["style_layers"] == list(layers)
        # w_l = 1/n in the paper's normalisation: a rule (style_layer_balance), not fixed per-layer weights
        assert config["style_layer_balance"] == "paper" and config["style_layer_weights"] is None
        ratio = DEFAULT_RATIOS[index % len(DEFAULT_RATIOS)]
        assert config["content_weight"] / config["style_weight"] == pytest.approx(ratio)
        assert set(result.record["history"][-1]["style"]) == set(layers)


def test_the_content_loss_falls_along_every_row(tiny_sweep):
    """The progression the figure shows, measured: the more the content counts, the closer the result's
    content features come to the photo's (raw content loss = content term / content_weight)."""
    columns = len(DEFAULT_RATIOS)
    for start in range(0, len(tiny_sweep.rows), columns):
        cells = zip(tiny_sweep.rows[start:start + columns], tiny_sweep.variants[start:start + columns])
        raw = [row["content"] / variant.overrides["content_weight"] for row, variant in cells]
        assert all(later < earlier for earlier, later in itertools.pairwise(raw)), raw
        assert raw[-1] < 0.2 * raw[0], raw  # not a drift: the right column is far closer to the photo


def fake_comparison(labels_and_numbers) -> Comparison:
    variants, results = [], []
    for label, (loss, content, style, tv, seconds) in labels_and_numbers:
        variants.append(Variant(label, {}))
        final = {"loss": loss, "content": {"relu4_2": content}, "style": {"relu1_1": style}, "tv": tv}
        results.append(types.SimpleNamespace(record={"history": [final], "wall_time_s": seconds}))
    return Comparison(variants, results, StyleConfig(), "a network")


def separator_offsets(line: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\|", line)]


def assert_aligned(text: str, rows: int) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == rows + 2  # header, rule, one line per variant
    offsets = separator_offsets(lines[0])
    assert len(offsets) == 5
    assert [m.start() for m in re.finditer(r"\+", lines[1])] == offsets and set(lines[1]) == {"-", "+"}
    for line in lines[2:]:
        assert separator_offsets(line) == offsets, (line, lines[0])
    return lines


def test_the_table_lines_up_whatever_the_widths():
    comparison = fake_comparison([
        ("a", (1.0, 0.5, 0.25, 0.001, 0.1)),
        ("style relu1_1..relu5_1, content/style 0.001", (123456789.0, 1e-9, float("nan"), 0.0, 1234.5)),
        ("mid-length label", (-3.0, 12.0, 7.5, 1.0, 10.0)),
    ])
    lines = assert_aligned(comparison.table_text(), 3)
    assert lines[0].split("|")[0].strip() == "variant" and lines[4].startswith("mid-length label ")
    assert "1.235e+08" in lines[3] and lines[3].endswith("1234.5 s") and " nan " in lines[3]
    # numbers are right-aligned: every line of a column ends at the same offset
    ends = {len(line.split(" | ")[1]) for line in lines[2:]}
    assert len(ends) == 1


def test_cli_sweep_uses_the_preset_prints_an_aligned_table(tmp_path, capsys):
    rng = np.random.default_rng(3)
    content = save_image(rng.random((24, 28, 3)), tmp_path / "c.png")
    style = save_image(rng.random((24, 24, 3)), tmp_path / "s.png")
    out = tmp_path / "sweep.png"
    code = main(["compare", str(content), str(style), "-o", str(out), "--ratio-sweep", "--weights", "random",
                 "--size", "24", "--iterations", "2", "--quiet", "--ratios", "0.1,10", "--style-weight", "10",
                 "--style-layers", "relu1_1,relu2_1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    saved = json.loads(out.with_suffix(".json").read_text())
    base = saved["base"]
    assert (base["init"], base["pooling"], base["optimizer"]) == ("noise", "avg", "lbfgs")  # the preset ...
    assert (base["size"], base["iterations"], base["style_weight"]) == (24, 2, 10.0)        # ... flags override
    assert [row["overrides"].split("; ")[-2:] for row in saved["rows"][:2]] == [
        ["content_weight=1.0", "style_weight=10.0"], ["content_weight=100.0", "style_weight=10.0"]]
    lines = assert_aligned(captured.out, 2 * 2)  # rows: the growing sets of --style-layers
    assert [line.split(" | ")[0].strip() for line in lines[2:]] == [
        "style relu1_1, content/style 0.1", "style relu1_1, content/style 10",
        "style relu1_1..relu2_1, content/style 0.1", "style relu1_1..relu2_1, content/style 10"]
    # a flag overrides the preset: from the photo
    code = main(["compare", str(content), str(style), "-o", str(out), "--ratio-sweep", "--weights", "random",
                 "--size", "24", "--iterations", "1", "--quiet", "--ratios", "1", "--init", "content",
                 "--style-layers", "relu1_1"])
    assert code == 0 and json.loads(out.with_suffix(".json").read_text())["base"]["init"] == "content"
    capsys.readouterr()
    # the sweep makes its own variants
    code = main(["compare", str(content), str(style), "-o", str(out), "--ratio-sweep", "--variant", "style_weight=1"])
    assert code == 2 and "--variant and --ratio-sweep exclude each other" in capsys.readouterr().err


def test_quick_halves_size_and_steps(tmp_path, monkeypatch, capsys):
    """--quick starts from 3/4 of the size and half the steps of the defaults (the sweep's or compare's);
    flags still win."""
    import explainer.compare

    seen = []

    def record_config(content, styles, *variants_then_config, **kwargs):
        seen.append(variants_then_config[-1])
        return types.SimpleNamespace(save=lambda path: tmp_path / "x.png", table_text=lambda: "")

    monkeypatch.setattr(explainer.compare, "compare_ratio_sweep", record_config)
    monkeypatch.setattr(explainer.compare, "compare", record_config)
    args = ["compare", "c.png", "s.png", "-o", str(tmp_path / "x.png")]
    for extra in (["--ratio-sweep"], ["--ratio-sweep", "--quick"], ["--ratio-sweep", "--quick", "--size", "48"],
                  ["--variant", "style_weight=1"], ["--variant", "style_weight=1", "--quick"]):
        assert main(args + extra) == 0, capsys.readouterr().err
    sweep, sweep_quick, sweep_quick_48, plain, plain_quick = seen
    assert sweep == RATIO_SWEEP_DEFAULTS and sweep_quick == RATIO_SWEEP_QUICK
    assert sweep_quick.size < sweep.size and sweep_quick.iterations < sweep.iterations
    assert sweep_quick_48 == RATIO_SWEEP_QUICK.replace(size=48)
    assert plain == COMPARE_DEFAULTS and plain_quick == quick(COMPARE_DEFAULTS)
    assert plain_quick.size < plain.size and plain_quick.iterations < plain.iterations


def test_help_says_the_sweep_has_its_own_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    flags = settings.command_line(settings.to_flags(RATIO_SWEEP_DEFAULTS, COMPARE_DEFAULTS))
    assert flags.startswith("--preset paper")  # noise, avg pooling, L-BFGS, the paper's layer balance
    assert f"Its own defaults differ from those listed below: {flags} (noise, average pooling" in text
    assert f"(default: {','.join(f'{r:g}' for r in DEFAULT_RATIOS)})" in text and "each of a row's n layers weighted 1/n" in text
    assert f"with --ratio-sweep: --size {RATIO_SWEEP_QUICK.size} --iterations {RATIO_SWEEP_QUICK.iterations}" in text


def test_a_backend_with_other_pooling_is_refused(backend, images):
    """The sweep's preset pools with avg: a max-pooling network given with it would run and be mislabelled."""
    content, style = images
    base = RATIO_SWEEP_DEFAULTS.replace(weights="random", size=32, iterations=1)
    with pytest.raises(ConfigError, match="pools with 'max' but the settings say pooling='avg'"):
        compare_ratio_sweep(content, style, base, backend=backend, log=pytest.fail)
