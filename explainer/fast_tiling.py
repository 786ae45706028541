"""Feed-forward networks (`--method fast`) on images larger than memory: in tiles that share their statistics.

A styliser's instance norms normalise each channel by its mean and variance
over the whole image, so tiles normalised each by their own statistics would
each get their own tone, and seams. Here every tile is normalised by the
statistics of one downscaled copy of the image (`STATISTICS_SIDE` px), and
each window holds its tile plus the network's reach (`STYLISER_HALO`), so a
tile is what the whole image gives with those statistics; the tiles' plan is
[`tiling.plan_tiles`][explainer.tiling.plan_tiles]'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from backends import STYLISER_GRID, STYLISER_HALO
from explainer.budget import FIXED_BYTES, check_pixels, working_shape
from explainer.errors import BudgetError
from explainer.tiling import GIB, plan_tiles

#: Peak bytes per pixel of a feed-forward styliser's forward pass (full-resolution 32-channel activations, their
#: reflection-padded copies, the output), rounded up from the arbitrary network at 1024 px.
FAST_BYTES_PER_PIXEL = 600
#: Longest side of the downscaled copy whose instance-norm statistics every tile shares.
STATISTICS_SIDE = 512


def fast_tile_side(config: Any, shape: tuple[int, ...]) -> int | None:
    """The tile side for `--method fast` on an image of `shape` (None: one pass over the whole image)."""
    height, width = working_shape(shape, config.size)
    if config.tile_size is not None:
        return int(config.tile_size)
    budget = config.memory_budget * GIB
    if FIXED_BYTES + height * width * FAST_BYTES_PER_PIXEL <= budget:
        return None
    spare = budget - FIXED_BYTES - height * width * 24  # the content and the result, whole
    side = int(math.sqrt(max(spare, 0) / FAST_BYTES_PER_PIXEL)) - 2 * STYLISER_HALO - STYLISER_GRID
    side -= side % 16
    if side < 64:
        raise BudgetError(f"--size {config.size} ({width}x{height} px) does not fit --memory-budget "
                          f"{config.memory_budget:g} GiB even in tiles; use a smaller --size or a larger budget")
    return side


def stylise_tiled(styliser: Any, content: np.ndarray, embedding: np.ndarray, tile: int,
                  statistics_side: int = STATISTICS_SIDE) -> np.ndarray:
    """A feed-forward styliser over `(H, W, 3)` in tiles, every instance norm with the statistics of a downscaled copy.

    Each window holds its tile plus the network's reach (`STYLISER_HALO`), so a tile
    is what the whole image gives with the same statistics; the statistics
    come from the image at `statistics_side` px, so every tile has one tone.
    """
    import jax

    from backends import norm_statistics, transform_with_statistics  # JAX loads on first use
    from explainer.images import resize_longest

    spec, e = styliser.spec, np.asarray(embedding, np.float32)[None]
    small = resize_longest(content, min(statistics_side, max(content.shape[:2])))
    stats = jax.jit(norm_statistics, static_argnums=0)(spec, styliser.params, _pad_to(small, STYLISER_GRID)[None], e)
    forward = jax.jit(transform_with_statistics, static_argnums=0)
    tiles, _ = plan_tiles(content.shape[:2], tile, STYLISER_HALO, STYLISER_GRID)
    out = np.empty_like(content)
    for t in tiles:
        top, left, height, width = t.window
        window = _pad_to(content[top:top + height, left:left + width], STYLISER_GRID)
        result = np.asarray(forward(spec, styliser.params, window[None], e, stats))[0]
        y0, x0, y1, x1 = t.core
        out[y0:y1, x0:x1] = result[y0 - top:y1 - top, x0 - left:x1 - left]
    return np.clip(out, 0.0, 1.0)


def _pad_to(image: np.ndarray, multiple: int) -> np.ndarray:
    """Reflection-padded on the bottom and right to multiples of `multiple` (as the stylisers pad)."""
    height, width = image.shape[:2]
    return np.pad(image, ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="reflect")


def stylize_fast_tiled(styliser: Any, choice: Any, content: np.ndarray, styles: Sequence[np.ndarray], config: Any,
                       tile: int) -> Any:
    """`explainer.fast.stylize_images` for one large image, in tiles (see `stylise_tiled`)."""
    import time

    from explainer import fast
    from explainer.images import resize_longest

    scaled = resize_longest(content, config.size)
    embedding = fast.condition(styliser, choice, scaled, styles, config)
    start = time.perf_counter()
    image = stylise_tiled(styliser, scaled, embedding, tile)
    seconds = time.perf_counter() - start
    image = fast.finish_colors(image, scaled, config.colors)
    return fast.FastOutput(images=image[None], embedding=embedding, seconds=seconds)


def check_fast_run(config: Any, shape: tuple[int, ...]) -> int | None:
    """`fast_tile_side` after refusing, in one line, an image over the pixel limit (a tiled run's when tiled)."""
    side = fast_tile_side(config, shape)
    limit = config.max_megapixels
    if side is not None and limit is None:
        from explainer.budget import MEMORY_SHARE, machine_memory

        limit = max(0.25, (MEMORY_SHARE * (machine_memory() or 16 * GIB) - FIXED_BYTES) / 24 / 1e6)
    check_pixels(shape, config.size, limit)
    return side
