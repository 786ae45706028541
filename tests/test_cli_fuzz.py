"""The command line under generated values: every numeric and list flag of every subcommand, hostile values.

Whatever a flag gets (negative, zero, NaN, infinities, huge numbers, empty
text, separators only, garbage), `style-explainer` exits with 0, 1 or 2,
says what is wrong in one line, and never shows a traceback. Only parsing
and validation run: the library calls a run would make are replaced by a
stub that stops at once (`Reached`), so a value that passes every check
counts as exit code 0 without any work.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainer.cli import build_parser, main
from explainer.images import save_image

#: Generated examples per subcommand (each runs 1 to 3 flags with generated values).
EXAMPLES = 60

#: Value types of the flags that take numbers or lists (the settings' kinds, and the CLI's own parsers).
NUMERIC_OR_LIST = {"int", "float", "names", "numbers", "_comma_floats", "_comma_names", "_port"}

NASTY = ["-1", "0", "-0", "1", "0.5", "-0.5", "1e-9", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308",
         "1e999", "-1e999", "99999999999999999999", "2147483648", "", " ", ",", " , ", ",,", ";", "1,,2", "-1,2",
         "nan,1", "1,inf", "0,0", "relu1_1", "relu1_1,", ",relu1_1", "relu9_9", "abc", "1,2,x", "none", "None", "\t",
         "１", "1_000", "0x10", "--", "-", "1e3", "3.0", "1 2"]

VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    st.lists(st.sampled_from(["0", "-1", "nan", "1e9", "relu2_1", "", " "]), max_size=4).map(",".join),
)


class Reached(Exception):
    """A run got past every check: a stand-in for the work it would do."""


def _reached(*args, **kwargs):
    raise Reached


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    content = save_image(rng.random((40, 48, 3)), root / "content.png")
    style = save_image(rng.random((32, 32, 3)), root / "style.png")
    frames = root / "frames"
    frames.mkdir()
    save_image(rng.random((40, 48, 3)), frames / "f0001.png")
    return {"content": str(content), "style": str(style), "folder": str(frames), "out": str(root / "out")}


#: Where a run's work starts: `(module, name)`, each replaced by `_reached`.
ENGINE = [("backends", "get_backend"), ("backends", "get_styliser"), ("explainer.runner", "stylize"),
          ("explainer.augment", "augment"), ("explainer.augment", "stylize_folder"),
          ("explainer.reconstruct", "reconstruct"), ("explainer.compare", "compare"),
          ("explainer.compare", "compare_ratio_sweep"), ("explainer.inspection", "inspect_image"),
          ("explainer.video", "stylize_video"), ("explainer.training", "train"), ("explainer.samples", "write_samples"),
          ("explainer.commands", "_network"), ("explainer.commands", "cmd_explore")]


@pytest.fixture()
def stubbed(monkeypatch):
    """Every call into the engine a subcommand makes, replaced by `_reached` (nothing loads, nothing runs)."""
    import importlib

    modules = {name: importlib.import_module(name) for name, _ in ENGINE}  # all imported before any is patched,
    for module, name in ENGINE:  # so no `from ... import` binds a stub for later tests
        monkeypatch.setattr(modules[module], name, _reached)
    monkeypatch.setattr(modules["explainer.commands"], "enable_compile_cache", lambda: None)


def base_commands(inputs) -> dict[str, list[str]]:
    """A valid command line of each subcommand that takes numeric or list flags (tiny, random weights)."""
    c, s, folder, out = inputs["content"], inputs["style"], inputs["folder"], inputs["out"]
    return {
        "stylize": ["stylize", c, s, "-o", f"{out}/x.png", "--weights", "random", "--quiet"],
        "demo": ["demo", "-o", f"{out}/demo", "--weights", "random", "--quiet"],
        "inspect": ["inspect", c, "-o", f"{out}/inspect", "--weights", "random"],
        "reconstruct": ["reconstruct", c, s, "-o", f"{out}/fig.png", "--weights", "random", "--quiet"],
        "compare": ["compare", c, s, "-o", f"{out}/grid.png", "--variant", "style_weight=10", "--weights", "random",
                    "--quiet"],
        "augment": ["augment", folder, f"{out}/aug", "--quiet"],
        "train": ["train", s, "-o", f"{out}/model", "--weights", "random", "--quiet"],
        "video": ["video", folder, s, "-o", f"{out}/frames", "--weights", "random", "--quiet"],
        "explore": ["explore"],
    }


def numeric_and_list_flags(command: str) -> list[str]:
    """The flags of `command` whose values are numbers or comma-separated lists, read from the parser itself."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    flags = []
    for action in sub._actions:
        kind = getattr(action.type, "__name__", "")
        if action.option_strings and action.help != argparse.SUPPRESS and kind in NUMERIC_OR_LIST:
            flags.append(action.option_strings[-1])
    return flags


def run_main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Reached:
            code = 0
    return code, err.getvalue()


def test_every_subcommand_with_numbers_or_lists_is_covered():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    with_flags = {name for name in commands if numeric_and_list_flags(name)}
    assert with_flags == set(base_commands({"content": "", "style": "", "folder": "", "out": ""}))
    assert "--style-layers" in numeric_and_list_flags("stylize") and "--ratios" in numeric_and_list_flags("compare")


RUNS: dict[str, int] = {}


@pytest.mark.parametrize("command", sorted(base_commands({"content": "", "style": "", "folder": "", "out": ""})))
def test_generated_values_never_end_in_a_traceback(command, inputs, stubbed):
    base = base_commands(inputs)[command]
    flags = numeric_and_list_flags(command)
    assert base[0] == command and flags

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from(flags), VALUES), min_size=1, max_size=3))
    def check(pairs):
        argv = list(base)
        for flag, value in pairs:
            argv.append(f"{flag}={value}")  # `=`: a value that starts with `-` stays a value
        code, err = run_main(argv)
        RUNS[command] = RUNS.get(command, 0) + 1
        assert "Traceback" not in err, (argv, err)
        assert code in (0, 1, 2), (argv, code, err)
        said = [line for line in err.splitlines() if line.strip() and ": note: " not in line]
        if code:
            assert len(said) == 1 and "error: " in said[0], (argv, err)

    check()
    assert RUNS[command] >= EXAMPLES // 2
