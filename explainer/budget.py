"""How much work a request may ask for, checked before any work starts.

A run's memory grows with the pixels of its working image (the content
resized to `--size`): activations and their gradients at every layer.
Measured on VGG19 with Adam (`python benchmarks/scaling.py`, 128 to 2048
px): about 0.6 GB before the first step, and peaks of up to 2,550 bytes per
pixel above 1.5 GB (1024x874: 3.8 GB; 2048x1748: 8.9 GB), in steps where
XLA's buffer assignment changes. `BYTES_PER_PIXEL` and `FIXED_BYTES` bound
that table from above with some margin; the default limit is what three
quarters of this machine's memory allows. `--max-megapixels` (the `max_megapixels` setting) raises or lowers
it for people who know their machine.

The explorer applies tighter limits of its own on top (its `AppOptions`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from explainer.errors import BudgetError

#: Peak bytes per pixel of the working image (VGG19, Adam, float32), above the largest measured (2,550) with margin.
BYTES_PER_PIXEL = 3_000
#: Bytes a run needs whatever its size: the libraries, the weights, the compiled programs.
FIXED_BYTES = 1_500_000_000
#: The share of the machine's memory a run may plan to use.
MEMORY_SHARE = 0.75


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_max_megapixels(memory: int | None = None) -> float:
    """The largest working image this machine's memory allows, in megapixels (at least 0.25)."""
    memory = machine_memory() if memory is None else memory
    if memory <= 0:
        return 4.0
    return max(0.25, (MEMORY_SHARE * memory - FIXED_BYTES) / BYTES_PER_PIXEL / 1e6)


def working_shape(shape: tuple[int, ...], size: int) -> tuple[int, int]:
    """`(height, width)` of an image of `shape` resized so its longest side is `size`."""
    height, width = int(shape[0]), int(shape[1])
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def check_pixels(shape: tuple[int, ...], size: int, max_megapixels: float | None, what: str = "the result") -> None:
    """Refuse, in one line, a working image over the limit (`None`: this machine's default).

    Raises:
        BudgetError: names the size asked for, the limit, and how to change either.
    """
    limit = default_max_megapixels() if max_megapixels is None else float(max_megapixels)
    height, width = working_shape(shape, size)
    megapixels = height * width / 1e6
    if megapixels <= limit:
        return
    fits = math.floor(size * math.sqrt(limit / megapixels))
    source = "this machine's memory allows" if max_megapixels is None else "--max-megapixels allows"
    raise BudgetError(
        f"--size {size} makes {what} {width}x{height} px ({megapixels:.3g} megapixels), more than {source} "
        f"({limit:.3g} megapixels, about --size {fits} here); use a smaller --size, or raise the limit with "
        "--max-megapixels if you know your machine"
    )


def check_run(config: Any, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]]) -> None:
    """`check_pixels` for a run's content (at `size`) and style images (at `size * style_scale`)."""
    check_pixels(content_shape, config.size, config.max_megapixels)
    style_side = max(16, round(config.size * config.style_scale))
    for shape in style_shapes:
        check_pixels(shape, style_side, config.max_megapixels, what="the style image")


def check_images(shapes: Sequence[tuple[tuple[int, ...], str]], size: int | None, max_megapixels: float | None) -> None:
    """The budget of work over several images (folders, augment, reconstruct), checked before any of it starts.

    Args:
        shapes: `(shape, name)` of each image, from its header (`images.image_shape`).
        size: the longest side each is worked at; `None`: each image's own size.
        max_megapixels: the limit (`None`: this machine's default), as `check_pixels`.

    Raises:
        BudgetError: names the first image over the limit.
    """
    for shape, name in shapes:
        if size is not None:
            check_pixels(shape, size, max_megapixels, what=name)
            continue
        limit = default_max_megapixels() if max_megapixels is None else float(max_megapixels)
        height, width = int(shape[0]), int(shape[1])
        if height * width / 1e6 > limit:
            raise BudgetError(f"{name} is {width}x{height} px ({height * width / 1e6:.3g} megapixels), more than "
                              f"the limit ({limit:.3g} megapixels) at its own size; give a --size")
