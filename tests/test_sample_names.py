"""The bundled samples as files and as names: `style-explainer samples`, `sample:NAME` wherever a path goes."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from explainer import samples
from explainer.cli import main
from explainer.errors import ImageError
from explainer.images import load_image

FAST = ["--weights", "random", "--size", "32", "--iterations", "2", "--quiet"]


def test_samples_lists_names_then_writes_files_that_stylize_takes(tmp_path, capsys):
    assert main(["samples"]) == 0
    listing = capsys.readouterr().out
    for name in samples.SAMPLE_NAMES:
        assert f"sample:{name}" in listing
    assert main(["samples", "-o", str(tmp_path / "s")]) == 0
    written = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert written == sorted(f"{name}.png" for name in samples.SAMPLE_NAMES)
    np.testing.assert_allclose(load_image(tmp_path / "s" / "swirl.png"), samples.sample_style("swirl"), atol=1 / 255)
    out = tmp_path / "out.png"
    assert main(["stylize", str(tmp_path / "s" / "grace_hopper.png"), str(tmp_path / "s" / "swirl.png"), "-o", str(out),
                 *FAST]) == 0
    assert out.is_file()


def test_a_sample_name_works_wherever_a_path_does(tmp_path, capsys):
    out = tmp_path / "named.png"
    assert main(["stylize", "sample:grace_hopper", "sample:swirl", "-o", str(out), *FAST, "--init", "sample:mosaic"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["content"] == "sample:grace_hopper" and record["styles"] == ["sample:swirl"]
    assert main(["inspect", "sample:swirl", "-o", str(tmp_path / "inspect"), "--weights", "random", "--size", "32",
                 "--layers", "relu1_1"]) == 0
    assert np.array_equal(samples.load("sample:swirl"), load_image(samples.sample_path("swirl")))


def test_an_unknown_sample_is_a_one_line_error_listing_the_samples(tmp_path, capsys):
    code = main(["stylize", "sample:grace", "sample:swirl", "-o", str(tmp_path / "x.png"), *FAST])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "sample:grace: no such sample; the samples are sample:grace_hopper, sample:swirl" in err
    with pytest.raises(ImageError, match="no such sample"):
        samples.resolve("sample:nope")
    assert samples.resolve("photo.jpg") == "photo.jpg"


def test_copy_as_cli_names_samples_so_the_command_runs_as_is(tmp_path, capsys):
    pytest.importorskip("gradio")
    from explainer import app

    options = app.AppOptions(default_weights="random")
    line = app.cli_command(str(samples.sample_path("grace_hopper")), str(samples.sample_path("swirl")),
                           {**app.default_values(options), "size": 32, "iterations": 2}, options)
    words = shlex.split(line)
    assert words[:4] == ["style-explainer", "stylize", "sample:grace_hopper", "sample:swirl"]
    words[words.index("-o") + 1] = str(tmp_path / "copied.png")
    assert main([*words[1:], "--quiet"]) == 0 and (tmp_path / "copied.png").is_file()
