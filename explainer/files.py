"""Writing files safely: atomically, and checked before a run rather than after it.

A run can take minutes; a read-only folder or a mistyped extension should
stop it in its first second, not lose it at the end. Every file the project
writes goes through [`write_atomically`][explainer.files.write_atomically],
so a crash, a second Ctrl-C or SIGTERM leaves the previous file or the new
one, never half of one and never a stray temporary file. What goes into a
JSON file is made plain first by [`jsonable`][explainer.files.jsonable].
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from collections.abc import Iterable
from typing import Any

import numpy as np

from explainer.errors import ConfigError


def jsonable(value: Any) -> Any:
    """`value` with plain JSON types: dicts (keys as strings), lists for tuples, Python numbers for NumPy's.

    Nested dicts, lists and tuples are converted all the way down; anything
    else is returned as it is (`json.dumps` refuses what it cannot write).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_atomically(path: str | os.PathLike[str], data: bytes) -> pathlib.Path:
    """Write `data` to `path` through a temporary file and `os.replace`.

    Missing parent folders are created; the file gets the usual
    umask-filtered permissions (tempfile's 0600 would survive the rename and
    surprise whoever serves it). On any error, or an interrupt, the temporary
    file is removed and the original error is raised.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return target


def check_output_file(path: str | os.PathLike[str], suffixes: Iterable[str], what: str = "output") -> pathlib.Path:
    """Fail now, in one line, if a run could not write `path` later.

    Checks the extension against `suffixes`, that `path` is not a folder,
    and that its folder exists or can be made, and is writable.

    Raises:
        ConfigError: says what is wrong with the path.
    """
    path = pathlib.Path(path)
    suffixes = tuple(suffixes)
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a folder; give a file name")
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {path}: must end in {' or '.join(suffixes)}")
    check_output_dir(path.parent, what=f"{what} {path}: its folder")
    return path


def check_output_dir(path: str | os.PathLike[str], what: str = "output folder") -> pathlib.Path:
    """Fail now, in one line, unless `path` is (or can be made) a folder a run can write into. Leaves nothing behind.

    Really writes: folders that are missing are made, a temporary file
    (named as [`write_atomically`][explainer.files.write_atomically] names
    its own) is created in the deepest and removed, and the folders made
    are removed again. (`os.access` says yes to root even for `/sys`.)

    Raises:
        ConfigError: `path` is a file, lies under a file, or cannot be written.
    """
    path = pathlib.Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a folder")
    made: list[pathlib.Path] = []
    try:
        for folder in reversed([path, *path.parents]):
            if folder.is_dir():
                continue
            folder.mkdir()
            made.append(folder)
        probe = path / f".write-check.{secrets.token_hex(4)}.tmp"
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(f"{what} {path}: cannot be written ({reason.lower()})") from None
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return path
