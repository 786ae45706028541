"""Images of any size: the optimisation of `stylize` in overlapping tiles, without seams.

The memory of a run grows with the pixels of the image: every layer's
activations and their gradients. A tiled run keeps only the image, the
optimiser's state and the content's features whole, and sends the network
over one *window* at a time: a core tile plus a halo as wide as the deepest
layer reaches (`halo_for`: 80 px for `relu5_1`, 48 px for `relu4_2`).

It computes the **same loss and gradient as the untiled run**, not an
approximation that is blended afterwards:

* each feature position belongs to exactly one core; its value in its
  window equals its value in the whole image, as the halo holds everything
  it depends on (windows start on multiples of the deepest pooling, so the
  grids agree);
* the style loss needs the Gram matrix of the whole image: it is the sum
  over windows of each core's `F^T F` (times the region masks, with
  `regions`); differentiated, each window's share of the gradient is that of
  `<dL/dG, F^T diag(core) F>` (the Gram matrix is linear in each position's
  `F^T F`);
* content: each core's `sum (F - P)^2`, `P` the content's features (kept
  whole, computed window by window); total variation and the other image
  terms on the whole image.

Gradients of overlapping windows are added (each pixel's gradient is a sum
over the features that see it), so there is nothing to blend and no seam.

All of it is one pure JAX function ([`windowed_objective`][explainer.tiling.windowed_objective]):
a `lax.scan` over the windows' offsets (they share one shape), each window
rematerialised in the backward pass, so memory holds one window's
activations at a time. The optimiser of an untiled run consumes it as it
consumes the untiled objective ([`optimize.run`][explainer.optimize.run]
with `tile=`): Adam, L-BFGS with its line search, `lbfgs-fixed`, EMA,
coarse-to-fine scales, the photo term and regions alike. Style targets come
from the whole style image, window by window. The price: each gradient runs
the network forward twice per window (once more in the backward pass), over
windows that overlap. A run cannot be recorded in tiles (a snapshot holds
whole-image activations and gradient maps).

`stylize` tiles on its own when the whole image would need more than
`--memory-budget`, or when `--tile-size` says so. The feed-forward networks'
tiling is [`explainer.fast_tiling`][explainer.fast_tiling].
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from backends import downsampling, layer_names
from explainer.budget import BYTES_PER_PIXEL, FIXED_BYTES, check_pixels, working_shape
from explainer.errors import BudgetError

if TYPE_CHECKING:  # JAX loads on first use: `check_run` refuses a request before it starts
    from explainer.losses import LossSpec

#: Bytes per pixel a tiled run keeps for the whole image: the image, Adam's two moments, the gradient, the content's
#: features at the content layers, and the copies an event carries; rounded up.
TILED_BYTES_PER_PIXEL = 200
#: What another optimiser keeps beyond that, per pixel: L-BFGS's memory of image-sized pairs (10 pairs with its
#: line search's vectors; 100 pairs for lbfgs-fixed); an EMA's running image adds `EMA_BYTES_PER_PIXEL`.
OPTIMIZER_BYTES_PER_PIXEL = {"adam": 0, "lbfgs": 400, "lbfgs-fixed": 2_500}
EMA_BYTES_PER_PIXEL = 12
GIB = 2**30


def halo_for(layers: Sequence[str], arch: str = "vgg19") -> int:
    """Pixels beyond a core that the deepest of `layers` depends on, rounded up to its pooling grid.

    A 3x3 convolution at a level pooled `f` times over reaches `f` pixels
    further; `relu5_1` of VGG19: 2*1 + 2*2 + 4*4 + 4*8 + 1*16 = 70 -> 80 px.
    """
    names = layer_names(arch)
    deepest = max((names.index(name) for name in layers), default=0)
    reach, factor = 0, 1
    for name in names[: deepest + 1]:
        if name.startswith("conv"):
            reach += factor
        elif name.startswith("pool"):
            factor *= 2
    grid = grid_for(layers)
    return -(-reach // grid) * grid


def grid_for(layers: Sequence[str]) -> int:
    """The coarsest pooling factor among `layers` (windows start on its multiples)."""
    return 2 ** max((downsampling(name) for name in layers), default=0)


@dataclasses.dataclass(frozen=True)
class Tile:
    """A window `[top, top + height) x [left, left + width)` and the core it is responsible for."""

    window: tuple[int, int, int, int]  # top, left, height, width
    core: tuple[int, int, int, int]  # top, left, bottom, right (exclusive)


def _axis(length: int, tile: int, halo: int, grid: int) -> tuple[list[tuple[int, int, int]], int]:
    """`(window start, core start, core end)` along one axis, and the windows' common length.

    Every window starts on the grid and holds its core plus `halo` on both
    sides (or reaches the image's edge); the length is chosen so that the
    last window, which ends at the edge, starts on the grid too.
    """
    if length <= tile + 2 * halo:
        return [(0, 0, length)], length
    span = tile + 2 * halo
    span = length - ((length - span) // grid) * grid
    out = []
    for start in range(0, length, tile):
        left = max(0, min(start - halo, length - span))
        out.append((left - left % grid, start, min(length, start + tile)))
    return out, span


def plan_tiles(shape: tuple[int, int], tile: int, halo: int, grid: int) -> tuple[list[Tile], tuple[int, int]]:
    """The tiles of an image of `shape` (row by row), and the windows' common `(height, width)`."""
    tile = max(grid, tile - tile % grid)
    (rows, height), (cols, width) = _axis(shape[0], tile, halo, grid), _axis(shape[1], tile, halo, grid)
    return [Tile((r[0], c[0], height, width), (r[1], c[1], r[2], c[2])) for r in rows for c in cols], (height, width)


def feature_masks(tile: Tile, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """`{layer: (h, w)}` float32: 1 at the window's feature positions whose pixels start inside the core."""
    top, left, height, width = tile.window
    masks = {}
    for name in layers:
        f = 2 ** downsampling(name)
        ys = top + f * np.arange(height // f)
        xs = left + f * np.arange(width // f)
        inside_y = (ys >= tile.core[0]) & (ys < tile.core[2])
        inside_x = (xs >= tile.core[1]) & (xs < tile.core[3])
        masks[name] = (inside_y[:, None] & inside_x[None, :]).astype(np.float32)
    return masks


# --------------------------------------------------------------------------- when to tile


def tile_side(config: Any, shape: tuple[int, ...]) -> int | None:
    """The core tile side for a run on an image of `shape` (None: untiled).

    `config.tile_size` if given; else tiles only when the whole image would
    need more than `config.memory_budget` GiB, as large as the budget allows.
    Whether a method tiles at all is the method's to decide.
    """
    height, width = working_shape(shape, config.size)
    if config.tile_size is not None:
        return int(config.tile_size)
    budget = config.memory_budget * GIB
    if FIXED_BYTES + height * width * BYTES_PER_PIXEL <= budget:
        return None
    spare = budget - FIXED_BYTES - height * width * tiled_bytes_per_pixel(config)
    halo = halo_for(config.content_layers + config.style_layers)
    window = math.sqrt(max(spare, 0) / BYTES_PER_PIXEL)
    side = int(window - 2 * halo - grid_for(config.content_layers + config.style_layers))
    side -= side % 16
    if side < 64:
        raise BudgetError(
            f"--size {config.size} ({width}x{height} px) does not fit --memory-budget {config.memory_budget:g} GiB "
            f"even in tiles; use a smaller --size or a larger --memory-budget")
    return side


def tiled_bytes_per_pixel(config: Any) -> int:
    """Bytes per pixel a tiled run with `config`'s optimiser (and EMA) keeps for the whole image."""
    ema = EMA_BYTES_PER_PIXEL if config.ema_decay is not None else 0
    return TILED_BYTES_PER_PIXEL + OPTIMIZER_BYTES_PER_PIXEL.get(config.optimizer, 0) + ema


def check_run(config: Any, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]]) -> int | None:
    """The tile side (None: untiled), after refusing in one line what cannot work; `budget.check_run` when untiled."""
    from explainer.budget import check_run as check_untiled

    side = tile_side(config, content_shape)
    if side is None:
        check_untiled(config, content_shape, style_shapes)
        return None
    limit = config.max_megapixels
    if limit is None:  # what this machine allows at a tiled run's bytes per pixel
        from explainer.budget import MEMORY_SHARE, machine_memory

        memory = machine_memory() or 16 * GIB
        limit = max(0.25, (MEMORY_SHARE * memory - FIXED_BYTES) / tiled_bytes_per_pixel(config) / 1e6)
    check_pixels(content_shape, config.size, limit)
    for shape in style_shapes:
        check_pixels(shape, max(16, round(config.size * config.style_scale)), limit, what="the style image")
    return side


# --------------------------------------------------------------------------- the windowed objective


class Windows(NamedTuple):
    """The windows of a plan as arrays (a pytree), all of one `(height, width)`: what a compiled pass scans over."""

    offsets: Any  # (N, 2) int32: each window's top, left
    cores: Any  # (N, 4) int32: its core's top, left, bottom, right (exclusive)


class TiledTargets(NamedTuple):
    """What a windowed step takes for its targets (a pytree): the whole image's `Targets` and its windows."""

    targets: Any
    windows: Windows

    @property
    def weights(self) -> Any:
        """The loss weights (`Targets.weights`)."""
        return self.targets.weights


def plan_windows(shape: tuple[int, ...], tile: int, layers: Sequence[str],
                 arch: str = "vgg19") -> tuple[Windows, tuple[int, int]]:
    """`plan_tiles` for `layers` (the halo of the deepest, the grid of the coarsest) as arrays, and the window shape."""
    import jax.numpy as jnp

    tiles, window = plan_tiles(shape[:2], tile, halo_for(layers, arch), grid_for(layers))
    offsets = jnp.asarray([t.window[:2] for t in tiles], jnp.int32)
    return Windows(offsets, jnp.asarray([t.core for t in tiles], jnp.int32)), window


def _layer_shape(shape: tuple[int, ...], name: str) -> tuple[int, int]:
    """A layer's `(h, w)` for an image of `shape` (each 2x2 pooling floors)."""
    height, width = shape[:2]
    for _ in range(downsampling(name)):
        height, width = height // 2, width // 2
    return height, width


def _core_mask(offset, core, size: tuple[int, int], factor: int):
    """`(h, w)`: 1 at a window's feature positions (pooled `factor` times over) whose pixels start in its core."""
    import jax.numpy as jnp

    ys = offset[0] + factor * jnp.arange(size[0])
    xs = offset[1] + factor * jnp.arange(size[1])
    inside_y, inside_x = (ys >= core[0]) & (ys < core[2]), (xs >= core[1]) & (xs < core[3])
    return (inside_y[:, None] & inside_x[None, :]).astype(jnp.float32)


def _at(whole, offset, factor: int, size: tuple[int, int], first: int = 0):
    """A window's part of a layer's map of the whole image (spatial axes `first`, `first + 1`)."""
    import jax

    start, shape = [0] * whole.ndim, list(whole.shape)
    start[first:first + 2] = offset[0] // factor, offset[1] // factor
    shape[first:first + 2] = size
    return jax.lax.dynamic_slice(whole, start, shape)


def _window_features(network: Any, params: Any, image, offset, window: tuple[int, int], layers: tuple[str, ...]):
    import jax

    pixels = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (*window, image.shape[-1]))
    return network.apply(params, pixels, layers)


def _window_grams(features: dict, layers: Sequence[str], offset, core, masks: dict | None) -> dict:
    """Per layer, the window's share of the whole image's `F^T F` (times `masks`' regions, `(R, h, w)`, squared)."""
    from explainer.losses import gram_matrix

    out = {}
    for name in layers:
        found = features[name]
        h, w, c = found.shape
        weights = _core_mask(offset, core, (h, w), 2 ** downsampling(name))
        if masks is not None:
            weights = weights * _at(masks[name], offset, 2 ** downsampling(name), (h, w), first=1)
        out[name] = gram_matrix(found * weights[..., None]) * (h * w * c)  # one matmul backward (losses._gram)
    return out


def _window_content(features: dict, layers: Sequence[str], targets: Any, offset, core) -> dict:
    """Per content layer, the window's share of `sum (F - P)^2`, `P` the content's features there."""
    import jax.numpy as jnp

    out = {}
    for name in layers:
        found, factor = features[name], 2 ** downsampling(name)
        mask = _core_mask(offset, core, found.shape[:2], factor)
        target = _at(targets.content[name], offset, factor, found.shape[:2])
        out[name] = jnp.sum(mask[..., None] * jnp.square(found - target))
    return out


def _sum_over(fn, windows: Windows):
    """`sum_i fn(offsets[i], cores[i])` (a pytree), window after window; differentiated, each window is evaluated
    again in the backward pass (`jax.checkpoint`), so the memory is one window's activations, not all of them."""
    import jax
    import jax.numpy as jnp

    fn = jax.checkpoint(fn)
    shapes = jax.eval_shape(fn, windows.offsets[0], windows.cores[0])
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    add = lambda total, window: (jax.tree.map(jnp.add, total, fn(*window)), None)
    return jax.lax.scan(add, zeros, (windows.offsets, windows.cores))[0]


@functools.lru_cache(maxsize=16)
def windowed_objective(network: Any, spec: LossSpec, window: tuple[int, int]):
    """`objective(params, image, tiled) -> (total, terms)`: `optimize.make_objective`'s, window by window.

    Pure, jit-able and differentiable like the untiled one (`tiled` is a
    `TiledTargets` whose windows all have the shape `window`): pass 1 sums
    the cores' Gram sums, the backward pass runs each window again for its
    share of the gradient, which the scan adds into the whole image's.
    """
    from explainer.losses import LossSpec, loss_terms, sum_terms

    content_layers, style_layers = tuple(n for n, _ in spec.content), tuple(n for n, _ in spec.style)
    on_image = LossSpec((), (), spec.tv_weight, spec.image_terms)

    def objective(params, image, tiled: TiledTargets):
        targets, windows = tiled
        masks = targets.regions["masks"] if targets.regions is not None else None

        def window_sums(offset, core):
            features = _window_features(network, params, image, offset, window, spec.layers)
            return (_window_content(features, content_layers, targets, offset, core),
                    _window_grams(features, style_layers, offset, core, masks))

        content, style = _sum_over(window_sums, windows)
        terms = _whole_terms(spec, content, style, targets, image.shape)
        terms.update({k: v for k, v in loss_terms(on_image, {}, targets, image).items() if k not in terms})
        return sum_terms(terms), terms

    return objective


def _whole_terms(spec: LossSpec, content: dict, style: dict, targets: Any, shape: tuple[int, ...]) -> dict:
    """The content and style terms of the whole image from the windows' sums (as `losses.loss_terms`)."""
    w = targets.weights if targets.weights is not None else spec.weights()
    return {"content": {n: w["content"][n] * content[n] / targets.content[n].size for n, _ in spec.content},
            "style": {n: w["style"][n] * _style_value(style[n], targets, n, shape) for n, _ in spec.style}}


def _style_value(sums, targets: Any, name: str, shape: tuple[int, ...]):
    """`losses.style_loss` (or `region_style_loss`) of the whole image's Gram sums at one layer."""
    import jax.numpy as jnp

    channels = sums.shape[-1]
    if targets.regions is None:
        height, width = _layer_shape(shape, name)
        return jnp.mean(jnp.square(sums / (height * width * channels) - targets.style[name]))
    masks, grams = targets.regions["masks"][name], targets.regions["grams"][name]
    area = jnp.maximum(jnp.sum(masks, axis=(1, 2)), 1e-6)  # as losses.masked_gram
    difference = sums / (channels * area[:, None, None]) - grams
    return jnp.sum(jnp.mean(masks, axis=(1, 2)) * jnp.mean(jnp.square(difference), axis=(1, 2)))


# --------------------------------------------------------------------------- the targets, window by window


@functools.lru_cache(maxsize=16)
def _passes(network: Any, layers: tuple[str, ...], window: tuple[int, int]):
    """Jitted: an image's whole feature maps at `layers` (over every window), and one window's (region) Gram sums."""
    import jax

    def maps(params, image, windows: Windows):
        def place(whole, window_at):
            offset, core = window_at
            features = _window_features(network, params, image, offset, window, layers)
            for name in layers:
                found, factor = features[name], 2 ** downsampling(name)
                part = _at(whole[name], offset, factor, found.shape[:2])
                part = part + _core_mask(offset, core, found.shape[:2], factor)[..., None] * found
                start = (offset[0] // factor, offset[1] // factor, 0)
                whole = {**whole, name: jax.lax.dynamic_update_slice(whole[name], part, start)}
            return whole, None

        channels = jax.eval_shape(lambda: _window_features(network, params, image, windows.offsets[0], window, layers))
        zeros = {n: jax.numpy.zeros((*_layer_shape(image.shape, n), channels[n].shape[-1])) for n in layers}
        return jax.lax.scan(place, zeros, (windows.offsets, windows.cores))[0]

    def grams(params, image, offset, core, masks: dict | None):
        features = _window_features(network, params, image, offset, window, layers)
        return _window_grams(features, layers, offset, core, masks)

    return jax.jit(maps), jax.jit(grams)


def whole_grams(backend: Any, image: np.ndarray, layers: tuple[str, ...], tile: int,
                masks: dict | None = None) -> dict:
    """The Gram matrices of a whole image (`losses.gram_matrix`), or per region of `masks` (`{layer: (R, h, w)}`
    at the image's layer sizes: `losses.masked_gram`), summed window by window.

    The windows' sums are added in float64 on the host (a target is made
    once per scale): float32 sums in another order than the untiled einsum's
    move a target by ~1e-7, which Adam can turn into a different step at a
    max-pooling tie (1e-3 apart after a few steps on a random VGG).
    """
    windows, window = plan_windows(image.shape, tile, layers, getattr(backend, "arch", "vgg19"))
    grams = _passes(backend.spec, tuple(layers), window)[1]
    sums = dict.fromkeys(layers, 0.0)
    for offset, core in zip(windows.offsets, windows.cores):
        for name, value in grams(backend.params, image, offset, core, masks).items():
            sums[name] = sums[name] + np.asarray(value, np.float64)
    if masks is None:
        scale = {n: math.prod(_layer_shape(image.shape, n)) for n in layers}
    else:
        scale = {n: np.maximum(np.asarray(masks[n], np.float64).sum(axis=(1, 2)), 1e-6)[:, None, None] for n in layers}
    return {n: (sums[n] / (scale[n] * sums[n].shape[-1])).astype(np.float32) for n in layers}


def tiled_targets(backend: Any, spec: LossSpec, content: np.ndarray, styles: Sequence[np.ndarray],
                  blend: Sequence[float], tile: int, regions: Any = None) -> tuple[TiledTargets, tuple[int, int]]:
    """`optimize.compute_targets` (and `Regions.targets`) window by window, with the content's windows; and their shape.

    The content's features at the content layers are kept whole (each
    position from the window whose core holds it): small next to the image's
    activations, and what every window's content term slices from.
    """
    from explainer.losses import Targets, blend_grams

    content_layers, style_layers = tuple(n for n, _ in spec.content), tuple(n for n, _ in spec.style)
    windows, window = plan_windows(content.shape, tile, spec.layers, getattr(backend, "arch", "vgg19"))
    features = _passes(backend.spec, content_layers, window)[0](backend.params, content, windows) if content_layers else {}
    grams = [whole_grams(backend, style, style_layers, tile) for style in styles] if style_layers else []
    targets = Targets(content=features, style=blend_grams(grams, blend) if grams else {}, weights=spec.weights(),
                      extra=spec.image_targets(content))
    if regions is not None:
        targets = _region_targets(regions, backend, spec, targets, content, styles[0], tile)
    return TiledTargets(targets, windows), window


def _region_targets(regions: Any, backend: Any, spec: LossSpec, targets: Any, content: np.ndarray,
                    style: np.ndarray, tile: int) -> Any:
    """`Regions.targets` with the style's region Gram matrices summed window by window.

    The masks come from `Regions.targets` itself, so they are resized
    exactly as an untiled run's: the content's as they are, the style's as
    the content's of the mirrored regions; a tiny stand-in style keeps its
    own (whole-image) pass cheap.
    """
    layers = tuple(n for n, _ in spec.style)
    probe = np.zeros((grid_for(layers),) * 2 + (3,), np.float32)
    masks = regions.targets(backend, spec, targets, content, probe).regions["masks"]
    mirrored = dataclasses.replace(regions, content=regions.style)
    style_masks = mirrored.targets(backend, spec, targets, style, probe).regions["masks"]
    grams = whole_grams(backend, style, layers, tile, style_masks)
    return dataclasses.replace(targets, regions={"masks": masks, "grams": grams})
