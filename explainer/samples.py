"""Sample images the project may legally ship.

- Content: `grace_hopper.jpg`, a public-domain US Navy photograph that comes
  with matplotlib, so nothing has to be downloaded.
- Styles: painted here, procedurally, from a fixed seed. They are ours, so
  there is no licence question, and they are deterministic, so tests and
  demos see the same pixels every time.

This module is the samples' registry (their names, descriptions and cached
files) and how to load them; the painting itself is in
[`explainer.sample_painters`][explainer.sample_painters].
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Any

import numpy as np

from backends import CACHE_ENV, cache_dir
from explainer.errors import ImageError
from explainer.images import MIN_SIDE, load_image, save_image
from explainer.sample_painters import PAINTERS as _PAINTERS

__all__ = [
    "CACHE_ENV_VAR",
    "SAMPLE_CONTENT",
    "SAMPLE_NAMES",
    "SAMPLE_PREFIX",
    "SAMPLE_STYLES",
    "describe_sample",
    "load",
    "name_of",
    "resolve",
    "sample_content",
    "sample_path",
    "sample_style",
    "write_samples",
]

SAMPLE_CONTENT = "grace_hopper"
SAMPLE_STYLES: tuple[str, ...] = ("swirl", "mosaic", "pointillism")
SAMPLE_NAMES: tuple[str, ...] = (SAMPLE_CONTENT, *SAMPLE_STYLES)

#: The cache folder's variable (the samples live in its `samples/` folder, beside the weights).
CACHE_ENV_VAR = CACHE_ENV
#: Written before a sample's name, it stands for the sample's file: `sample:grace_hopper`.
SAMPLE_PREFIX = "sample:"

_SEED = 0
_DEFAULT_STYLE_SIZE = 512
# Bump when a painter (explainer.sample_painters) changes, so files cached by `sample_path` are redrawn.
_PAINTER_VERSION = 1

_DESCRIPTIONS = {
    SAMPLE_CONTENT: "grace_hopper.jpg: US Navy photograph, public domain, bundled with matplotlib",
    "swirl": (
        f"swirl: painted procedurally by style-explainer (brush strokes along a vortex flow field), seed {_SEED}"
    ),
    "mosaic": (
        f"mosaic: painted procedurally by style-explainer (Voronoi tiles in warm colours with dark grout), seed {_SEED}"
    ),
    "pointillism": (
        "pointillism: painted procedurally by style-explainer "
        f"(dense dots of broken colour over a simple landscape), seed {_SEED}"
    ),
}


def _unknown(name: str, valid: tuple[str, ...]) -> ValueError:
    return ValueError(f"unknown sample {name!r}; choose one of: {', '.join(valid)}")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def sample_content() -> np.ndarray:
    """The sample content photo (Grace Hopper, public domain).

    **Returns:**

    A fresh `float32` array `(600, 512, 3)` with values in `[0, 1]`.
    """
    return _cached_content().copy()


def sample_style(name: str = "swirl", size: int = _DEFAULT_STYLE_SIZE) -> np.ndarray:
    """A procedurally painted style image.

    **Arguments:**

    - `name`: one of `SAMPLE_STYLES`.
    - `size`: side of the square image in pixels, at least `MIN_SIDE`.
      Stroke widths, tile and dot sizes scale with it, so every size shows
      the same painting.

    **Returns:**

    A fresh `float32` array `(size, size, 3)` with values in `[0, 1]`; the
    same pixels on every call.
    """
    if name not in _PAINTERS:
        raise _unknown(name, SAMPLE_STYLES)
    if int(size) != size or size < MIN_SIDE:
        raise ValueError(f"size must be an integer of at least {MIN_SIDE}, got {size!r}")
    return _cached_style(name, int(size)).copy()


def sample_path(name: str) -> pathlib.Path:
    """A PNG file of a sample, written to the cache folder on first use.

    The folder is `$STYLE_EXPLAINER_CACHE/samples`, else
    `$XDG_CACHE_HOME/style-explainer/samples`, else
    `~/.cache/style-explainer/samples`. Styles are written at 512 px.

    **Arguments:**

    - `name`: one of `SAMPLE_NAMES`.

    **Returns:**

    The path of the PNG file.
    """
    if name not in SAMPLE_NAMES:
        raise _unknown(name, SAMPLE_NAMES)
    path = cache_dir() / "samples" / f"{name}-v{_PAINTER_VERSION}.png"
    if not path.is_file():
        image = sample_content() if name == SAMPLE_CONTENT else sample_style(name)
        save_image(image, path)  # atomic, so concurrent callers are safe
    return path


def resolve(source: Any) -> Any:
    """`"sample:NAME"` as the path of that sample's file (written on first use); anything else unchanged.

    So a sample name works wherever an image path does: the command line,
    `stylize`, `inspect_image`, `reconstruct`, `compare`.

    Raises:
        ImageError: `sample:` with a name that is not a sample (listing the samples).
    """
    if not isinstance(source, str) or not source.startswith(SAMPLE_PREFIX):
        return source
    name = source[len(SAMPLE_PREFIX):]
    if name not in SAMPLE_NAMES:
        raise ImageError(f"{source}: no such sample; the samples are {', '.join(SAMPLE_PREFIX + n for n in SAMPLE_NAMES)}")
    return str(sample_path(name))


def load(source: Any, **kwargs: Any) -> np.ndarray:
    """[`load_image`][explainer.images.load_image] that also takes `"sample:NAME"`."""
    return load_image(resolve(source), **kwargs)


def name_of(path: Any) -> str | None:
    """`"sample:NAME"` if `path` is a sample's cached file, else `None` (for commands that run as-is)."""
    if path is None:
        return None
    path = pathlib.Path(path)
    for name in SAMPLE_NAMES:
        if path.name == f"{name}-v{_PAINTER_VERSION}.png":
            return SAMPLE_PREFIX + name
    return None


def write_samples(directory: str | os.PathLike) -> list[pathlib.Path]:
    """Write every sample into `directory` as `NAME.png`; returns the paths (content first)."""
    directory = pathlib.Path(directory)
    return [save_image(sample_content() if name == SAMPLE_CONTENT else sample_style(name), directory / f"{name}.png")
            for name in SAMPLE_NAMES]


def describe_sample(name: str) -> str:
    """One line of provenance for a sample: where it comes from, its licence."""
    if name not in _DESCRIPTIONS:
        raise _unknown(name, SAMPLE_NAMES)
    return _DESCRIPTIONS[name]


@functools.lru_cache(maxsize=1)
def _cached_content() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return _frozen(load_image(path))


@functools.lru_cache(maxsize=16)
def _cached_style(name: str, size: int) -> np.ndarray:
    rng = np.random.default_rng(_SEED)
    return _frozen(np.clip(_PAINTERS[name](size, rng), 0.0, 1.0).astype(np.float32))


def _frozen(array: np.ndarray) -> np.ndarray:
    # The cache hands out copies; read-only makes an accidental in-place
    # edit of the cached original fail loudly instead of corrupting it.
    array.setflags(write=False)
    return array
