"""Images of any size: the optimisation of `stylize` in overlapping tiles, without seams.

The memory of a run grows with the pixels of the image: every layer's
activations and their gradients. A tiled run keeps only the image, Adam's
moments and the content's features whole, and sends the network over one
*window* at a time: a core tile plus a halo as wide as the deepest layer
reaches (`halo_for`: 80 px for `relu5_1`, 48 px for `relu4_2`).

It computes the **same loss and gradient as the untiled run**, not an
approximation that is blended afterwards:

* each feature position belongs to exactly one core; its value in its
  window equals its value in the whole image, as the halo holds everything
  it depends on (windows start on multiples of the deepest pooling, so the
  grids agree);
* the style loss needs the Gram matrix of the whole image: a first pass sums
  every core's `F^T F`; the second pass differentiates, per window,
  `<dL/dG, F^T diag(core) F>`, whose gradient is that window's share of the
  whole image's (the Gram matrix is linear in each position's `F^T F`);
* content: each core's `sum (F - P)^2`, `P` the content's features in the
  same window; total variation and the other image terms on the whole image.

Gradients of overlapping windows are added (each pixel's gradient is a sum
over the features that see it), so there is nothing to blend and no seam.
Style targets come from the whole style image (its Gram by the same sums).
Coarse-to-fine (`--scales`) works: a scale that fits is one window.
The price: each step runs the network forward twice per window, over windows
that overlap; Adam only (L-BFGS needs the whole objective at each line-search point).

`stylize` tiles on its own when the whole image would need more than
`--memory-budget`, or when `--tile-size` says so.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from backends import downsampling, layer_names
from explainer.budget import BYTES_PER_PIXEL, FIXED_BYTES, check_pixels, working_shape
from explainer.errors import BudgetError, ConfigError

#: Bytes per pixel a tiled run keeps for the whole image: the image, Adam's two moments, the gradient, the content's
#: features at the content layers (in each window), and the copies an event carries; rounded up.
TILED_BYTES_PER_PIXEL = 200
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
    """
    if config.method != "gatys":
        return None
    height, width = working_shape(shape, config.size)
    if config.tile_size is not None:
        return int(config.tile_size)
    budget = config.memory_budget * GIB
    if FIXED_BYTES + height * width * BYTES_PER_PIXEL <= budget:
        return None
    spare = budget - FIXED_BYTES - height * width * TILED_BYTES_PER_PIXEL
    halo = halo_for(config.content_layers + config.style_layers)
    window = math.sqrt(max(spare, 0) / BYTES_PER_PIXEL)
    side = int(window - 2 * halo - grid_for(config.content_layers + config.style_layers))
    side -= side % 16
    if side < 64:
        raise BudgetError(
            f"--size {config.size} ({width}x{height} px) does not fit --memory-budget {config.memory_budget:g} GiB "
            f"even in tiles; use a smaller --size or a larger --memory-budget")
    return side


def check_run(config: Any, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]]) -> int | None:
    """The tile side (None: untiled), after refusing in one line what cannot work; `budget.check_run` when untiled."""
    from explainer.budget import check_run as check_untiled

    side = tile_side(config, content_shape)
    if side is None:
        check_untiled(config, content_shape, style_shapes)
        return None
    if config.optimizer != "adam" or config.ema_decay is not None:
        raise ConfigError("a tiled run (a large --size, or --tile-size) optimises with Adam and no --ema-decay")
    limit = config.max_megapixels
    if limit is None:  # what this machine allows at a tiled run's bytes per pixel
        from explainer.budget import MEMORY_SHARE, machine_memory

        memory = machine_memory() or 16 * GIB
        limit = max(0.25, (MEMORY_SHARE * memory - FIXED_BYTES) / TILED_BYTES_PER_PIXEL / 1e6)
    check_pixels(content_shape, config.size, limit)
    for shape in style_shapes:
        check_pixels(shape, max(16, round(config.size * config.style_scale)), limit, what="the style image")
    return side


# --------------------------------------------------------------------------- the compiled passes


@functools.lru_cache(maxsize=8)
def _programs(network: Any, content: tuple[str, ...], style: tuple[str, ...]):
    """The two jitted passes over one window, for a network spec and layers (compiled once per window shape)."""
    import jax
    import jax.numpy as jnp

    def gram_sums(params, window, masks):
        features = network.apply(params, window, style)
        return {n: jnp.einsum("hwc,hwd->cd", features[n] * masks[n][..., None], features[n]) for n in style}

    def surrogate(window, params, targets, masks, slopes, scales):
        features = network.apply(params, window, tuple(dict.fromkeys(content + style)))
        sums = {n: jnp.sum(masks[n][..., None] * jnp.square(features[n] - targets[n])) for n in content}
        value = sum(scales["content"][n] * sums[n] for n in content)
        for n in style:
            value = value + scales["style"][n] * jnp.sum(slopes[n] * jnp.einsum(
                "hwc,hwd->cd", features[n] * masks[n][..., None], features[n]))
        return value, sums

    def gradient(params, window, targets, masks, slopes, scales):
        (_, sums), grad = jax.value_and_grad(surrogate, has_aux=True)(window, params, targets, masks, slopes, scales)
        return sums, grad

    def features(params, window, masks):
        return network.apply(params, window, content)

    return jax.jit(gram_sums), jax.jit(gradient), jax.jit(features)


def _window(image: np.ndarray, tile: Tile) -> np.ndarray:
    top, left, height, width = tile.window
    return np.ascontiguousarray(image[top:top + height, left:left + width])


def whole_grams(backend: Any, image: np.ndarray, layers: tuple[str, ...], tile: int, halo: int,
                grid: int) -> dict[str, np.ndarray]:
    """The Gram matrices of a whole image, summed window by window (`F^T F / (n C)` as `losses.gram_matrix`)."""
    gram_sums = _programs(backend.spec, (), layers)[0]
    tiles, _ = plan_tiles(image.shape[:2], tile, halo, grid)
    total: dict[str, np.ndarray] = {}
    counts = dict.fromkeys(layers, 0.0)
    for t in tiles:
        masks = feature_masks(t, layers)
        sums = gram_sums(backend.params, _window(image, t), masks)
        for name in layers:
            total[name] = total.get(name, 0.0) + np.asarray(sums[name], np.float64)
            counts[name] += float(masks[name].sum())
    return {n: (total[n] / (counts[n] * total[n].shape[0])).astype(np.float32) for n in layers}


@functools.lru_cache(maxsize=4)
def _image_programs(on_image: tuple, learning_rate_free: bool = True):
    """Jitted: the image terms' value and gradient on the whole image, and one Adam update with the clip."""
    import jax
    import jax.numpy as jnp
    import optax

    transform = optax.inject_hyperparams(optax.adam)(learning_rate=0.02)

    def image_terms(image, extra, weights):
        terms = {t.name: weights[t.name] * t.loss(image, extra.get(t.name)) for t in on_image}
        return sum(terms.values(), jnp.zeros(())), terms

    def update(image, grad, state):
        updates, state = transform.update(grad, state, image)
        return jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0), state

    def init(image, learning_rate):
        state = transform.init(image)
        return state._replace(hyperparams={**state.hyperparams, "learning_rate": jnp.asarray(learning_rate,
                                                                                           jnp.float32)})

    terms_grad = jax.jit(jax.value_and_grad(image_terms, has_aux=True))
    return terms_grad, jax.jit(update, donate_argnums=(2,)), init


def run_tiled(config: Any, backend: Any, content: np.ndarray, styles: Sequence[np.ndarray], *, tile: int,
              init_image: np.ndarray | None = None, image_terms: Sequence[Any] = (),
              progress: bool = False) -> Iterator[Any]:
    """`explainer.optimize.run` in tiles: the same events (loss, every term per layer, the image) step by step.

    With `progress`, a second bar counts the windows of each step (two passes over every window).
    """
    import jax

    from explainer.events import Event
    from explainer.optimize import _finisher, _resize_like, _scaled_images, initial_image, loss_spec

    spec = loss_spec(config, image_terms)
    content_layers, style_layers = tuple(n for n, _ in spec.content), tuple(n for n, _ in spec.style)
    layers = tuple(dict.fromkeys(content_layers + style_layers))
    halo, grid = halo_for(layers, getattr(backend, "arch", "vgg19")), grid_for(layers)
    _, gradient, features = _programs(backend.spec, content_layers, style_layers)
    on_image = tuple(term for term in spec.on_image if term.weight)
    terms_grad, update, init = _image_programs(tuple(dataclasses.replace(t, weight=1.0) for t in on_image))
    weights = jax.tree.map(np.asarray, spec.weights())
    blend = np.asarray(config.style_blend or (1.0,) * len(styles), np.float64)
    image = state = None
    iteration = 0
    for scale, side in enumerate(config.scale_sizes()):
        scaled_content, scaled_styles = _scaled_images(config, spec, content, styles, side)
        grams = [whole_grams(backend, s, style_layers, tile, halo, grid) for s in scaled_styles]
        style_targets = {n: sum(b / blend.sum() * g[n] for g, b in zip(grams, blend)) for n in style_layers}
        tiles, _ = plan_tiles(scaled_content.shape[:2], tile, halo, grid)
        masks = [feature_masks(t, layers) for t in tiles]
        counts = {n: sum(float(m[n].sum()) for m in masks) for n in layers}
        targets = [features(backend.params, _window(scaled_content, t), m) for t, m in zip(tiles, masks)]
        if image is None:
            image = np.asarray(initial_image(config, scaled_content, scaled_styles[0], init_image), np.float32)
            state = init(image, config.learning_rate)
        else:
            shape = scaled_content.shape
            state = _resize_like(state, image.shape, shape)
            image = np.asarray(jax.image.resize(image, shape, "linear"), np.float32)
        extra = spec.image_targets(scaled_content)
        finish = _finisher(config, scaled_content)
        for _ in range(config.iterations):
            with _window_bar(2 * len(tiles), progress and len(tiles) > 1) as bar:
                loss, terms, grad = _loss_and_gradient(backend, gradient, image, tiles, masks, targets, counts,
                                                       style_targets, weights, spec, bar.update)
            (image_value, image_terms_), image_grad = terms_grad(image, extra, weights)
            terms.update({name: float(value) for name, value in image_terms_.items()})
            terms.update({t.name: 0.0 for t in spec.on_image if not t.weight})
            image, state = update(image, grad + np.asarray(image_grad), state)
            image = np.asarray(image)
            iteration += 1
            yield Event(iteration, scale, float(loss + float(image_value)), terms, finish(image))


def _window_bar(total: int, enabled: bool):
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc="windows", unit="window", file=sys.stderr, disable=not enabled, leave=False,
                dynamic_ncols=True)


def _loss_and_gradient(backend, gradient, image, tiles, masks, targets, counts, style_targets, weights, spec, tick):
    """The network's terms (content and style per layer) and their gradient, window by window."""
    gram_sums = _programs(backend.spec, (), tuple(n for n, _ in spec.style))[0]
    style: dict[str, np.ndarray] = {}
    for t, m in zip(tiles, masks):
        if not spec.style:
            break
        for name, value in gram_sums(backend.params, _window(image, t), m).items():
            style[name] = style.get(name, 0.0) + np.asarray(value, np.float64)
        tick(1)
    terms: dict[str, Any] = {"content": {}, "style": {}}
    slopes, scales = {}, {"content": {}, "style": {}}
    for name, _ in spec.style:
        channels = style[name].shape[0]
        difference = style[name] / (counts[name] * channels) - style_targets[name]
        terms["style"][name] = float(weights["style"][name] * np.mean(np.square(difference)))
        slopes[name] = (2.0 * weights["style"][name] * difference / channels**2).astype(np.float32)
        scales["style"][name] = np.float32(1.0 / (counts[name] * channels))
    for name, _ in spec.content:
        channels = targets[0][name].shape[-1]
        scales["content"][name] = np.float32(weights["content"][name] / (counts[name] * channels))
    grad = np.zeros_like(image)
    content = dict.fromkeys(scales["content"], 0.0)
    for t, m, target in zip(tiles, masks, targets):
        sums, g = gradient(backend.params, _window(image, t), target, m, slopes, scales)
        top, left, height, width = t.window
        grad[top:top + height, left:left + width] += np.asarray(g)
        tick(1 if spec.style else 2)
        for name in content:
            content[name] += float(sums[name])
    terms["content"] = {name: float(scales["content"][name]) * value for name, value in content.items()}
    loss = sum(terms["content"].values()) + sum(terms["style"].values())
    return loss, terms, grad


# --------------------------------------------------------------------------- feed-forward networks

#: Peak bytes per pixel of a feed-forward styliser's forward pass (full-resolution 32-channel activations, their
#: reflection-padded copies, the output), rounded up from the arbitrary network at 1024 px.
FAST_BYTES_PER_PIXEL = 600
#: Longest side of the downscaled copy whose instance-norm statistics every tile shares.
STATISTICS_SIDE = 512


def fast_tile_side(config: Any, shape: tuple[int, ...]) -> int | None:
    """The tile side for `--method fast` on an image of `shape` (None: one pass over the whole image)."""
    from backends._tiled_norms import GRID, HALO

    height, width = working_shape(shape, config.size)
    if config.tile_size is not None:
        return int(config.tile_size)
    budget = config.memory_budget * GIB
    if FIXED_BYTES + height * width * FAST_BYTES_PER_PIXEL <= budget:
        return None
    spare = budget - FIXED_BYTES - height * width * 24  # the content and the result, whole
    side = int(math.sqrt(max(spare, 0) / FAST_BYTES_PER_PIXEL)) - 2 * HALO - GRID
    side -= side % 16
    if side < 64:
        raise BudgetError(f"--size {config.size} ({width}x{height} px) does not fit --memory-budget "
                          f"{config.memory_budget:g} GiB even in tiles; use a smaller --size or a larger budget")
    return side


def stylise_tiled(styliser: Any, content: np.ndarray, embedding: np.ndarray, tile: int,
                  statistics_side: int = STATISTICS_SIDE) -> np.ndarray:
    """A feed-forward styliser over `(H, W, 3)` in tiles, every instance norm with the statistics of a downscaled copy.

    Each window holds its tile plus the network's reach (`HALO`), so a tile
    is what the whole image gives with the same statistics; the statistics
    come from the image at `statistics_side` px, so every tile has one tone.
    """
    import jax

    from backends._tiled_norms import GRID, HALO, norm_statistics, transform_with_statistics
    from explainer.images import resize_longest

    spec, e = styliser.spec, np.asarray(embedding, np.float32)[None]
    small = resize_longest(content, min(statistics_side, max(content.shape[:2])))
    stats = jax.jit(norm_statistics, static_argnums=0)(spec, styliser.params, _pad_to(small, GRID)[None], e)
    forward = jax.jit(transform_with_statistics, static_argnums=0)
    tiles, _ = plan_tiles(content.shape[:2], tile, HALO, GRID)
    out = np.empty_like(content)
    for t in tiles:
        top, left = t.window[:2]
        window = _pad_to(_window(content, t), GRID)
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
