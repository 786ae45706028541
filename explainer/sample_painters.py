"""How the sample styles are painted: procedurally, from a seeded random generator.

A style image is only useful if it has what style transfer copies: a
distinctive palette and strong texture at several scales. The painters below
build that up in layers (smooth colour regions, strokes or tiles or dots, fine
surface texture) rather than aiming for a picture of anything.

[`explainer.samples`][explainer.samples] names the samples, caches and serves them;
this module only paints: `PAINTERS[name](size, rng)` is an `(size, size, 3)` array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

# --------------------------------------------------------------------------
# Shared painting helpers
# --------------------------------------------------------------------------


def _hex(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise: a `cells x cells` random grid, bicubically upsampled.

    Returns `(size, size)` float32, roughly in `[0, 1]` (bicubic overshoots a
    little), with features about `size / cells` pixels across.
    """
    grid = rng.random((cells + 3, cells + 3), dtype=np.float32)
    # Upsample a slightly larger grid and crop, so the borders are as
    # random as the middle instead of clamped.
    scale = size / cells
    big = round((cells + 3) * scale)
    up = np.asarray(Image.fromarray(grid).resize((big, big), Image.Resampling.BICUBIC))
    offset = round(1.5 * scale)
    return up[offset : offset + size, offset : offset + size]


def _fractal_noise(rng: np.random.Generator, size: int, cells: tuple[int, ...]) -> np.ndarray:
    """Sum of value-noise octaves, normalised to `[0, 1]`."""
    total = sum(_smooth_noise(rng, size, c) / (i + 1) for i, c in enumerate(cells))
    low, high = total.min(), total.max()
    return (total - low) / max(high - low, 1e-6)


def _palette_lookup(t: np.ndarray, colours: list[tuple[float, float, float]]) -> np.ndarray:
    """Map `t` in `[0, 1]` onto a piecewise-linear gradient through `colours`."""
    stops = np.linspace(0.0, 1.0, len(colours))
    table = np.asarray(colours, dtype=np.float32)
    return np.stack([np.interp(t, stops, table[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def _box_blur(array: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of a 2-D array (edges wrap; fine for texture)."""
    out = array
    for axis in (0, 1):
        out = sum(np.roll(out, k, axis=axis) for k in range(-radius, radius + 1)) / (2 * radius + 1)
    return out


def _to_inks(colours: np.ndarray) -> list[list[int]]:
    """Float colours `(..., C)` -> nested lists of 0-255 ints for `ImageDraw`.

    Vectorised: converting one stroke at a time costs more than drawing it.
    """
    return np.clip(np.rint(np.asarray(colours) * 255.0), 0, 255).astype(np.uint8).tolist()


# --------------------------------------------------------------------------
# "swirl": brush strokes along a vortex flow field
# --------------------------------------------------------------------------

_NIGHT_BLUES = [_hex(c) for c in ("#08122e", "#10245a", "#1c3f86", "#2c5da8", "#4a80c4", "#7aa6d6")]
_STAR_YELLOW = _hex("#f4d03f")
_STAR_WHITE = _hex("#fbf6dc")
_HILL_DARK = [_hex(c) for c in ("#050a14", "#0e1d2a", "#1b3340", "#2b4a3e")]


def _paint_swirl(size: int, rng: np.random.Generator) -> np.ndarray:
    scale = size / 512.0
    flow_cos, flow_sin, stars = _vortex_flow(size, rng)
    colour_field = _night_colours(size, rng, stars)

    # One RGBA canvas: RGB is paint, alpha is the paint's "height", a random
    # value per stroke. The ridges between strokes of different height,
    # lit from the top left below, are what make it read as impasto.
    canvas = Image.fromarray(
        np.concatenate(
            [np.rint(colour_field * 255).astype(np.uint8), np.full((size, size, 1), 128, np.uint8)],
            axis=-1,
        )
    )  # (H, W, 4) uint8: Pillow infers RGBA
    draw = ImageDraw.Draw(canvas)
    # Coarse to fine: big strokes block in the colour, small ones on top add
    # the busy texture that style transfer latches onto.
    for width, length, density in ((11.0, 34.0, 1.3), (6.0, 20.0, 2.6), (3.0, 11.0, 3.2)):
        count = int(density * size * size / (width * length * scale * scale))
        _draw_flow_strokes(
            draw,
            rng,
            flow_cos,
            flow_sin,
            colour_field,
            count=count,
            width=max(1, round(width * scale)),
            length=length * scale,
        )

    painted = np.asarray(canvas, dtype=np.float32) / 255.0
    rgb, height = painted[..., :3], painted[..., 3]
    bristles = _line_integral_convolution(rng, flow_cos, flow_sin, steps=max(2, round(6 * scale)))
    surface = _box_blur(height + 0.25 * bristles, radius=1)
    light = _relief_shading(surface)
    shaded = rgb * (1.0 + 0.18 * bristles)[..., None] + 0.35 * light[..., None]
    return shaded


def _vortex_flow(
    size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
    """Unit direction field of a wavy wind plus a few vortices plus noise.

    Returns `(cos, sin, stars)`: the field as two `(size, size)` arrays and
    the vortices that become stars, as `(x, y, radius)` in pixels.
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    # A wind that rolls in long waves, like the sky of a night painting.
    vx = np.ones_like(xs)
    vy = 0.45 * np.sin(2 * np.pi * (1.3 * xs + 0.7 * ys))

    stars = []
    # Two wide eddies give the large-scale swirl; five tight ones become
    # stars, each wrapped in its own concentric strokes.
    kinds = [(0.16, 0.26, False)] * 2 + [(0.05, 0.09, True)] * 5
    for low, high, is_star in kinds:
        cx, cy = rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.68)
        radius = rng.uniform(low, high)
        strength = rng.uniform(2.5, 3.5) * rng.choice([-1.0, 1.0])
        dx, dy = xs - cx, ys - cy
        distance = np.sqrt(dx * dx + dy * dy) + 1e-3
        # Tangential speed `strength` near the centre, fading over ~1.5
        # radii; above 1 (the wind) is what closes the streamlines into loops.
        speed = strength * np.exp(-((distance / (1.5 * radius)) ** 2))
        vx += -dy / distance * speed
        vy += dx / distance * speed
        if is_star:
            stars.append((cx * size, cy * size, 0.6 * radius * size))

    angle = np.arctan2(vy, vx) + 0.7 * (_fractal_noise(rng, size, (3, 7)) - 0.5)
    return np.cos(angle), np.sin(angle), stars


def _night_colours(size: int, rng: np.random.Generator, stars: list[tuple[float, float, float]]) -> np.ndarray:
    """Smooth colour map: blue sky, glowing yellow-white stars, dark hills."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    sky = _palette_lookup(_fractal_noise(rng, size, (2, 5, 11)), _NIGHT_BLUES)

    glow = np.zeros((size, size), np.float32)
    halo = np.zeros((size, size), np.float32)
    for cx, cy, radius in stars:
        distance = np.hypot(xs - cx, ys - cy) / radius
        glow = np.maximum(glow, np.exp(-(distance**2)))
        # A pale ring around each star, as in the halos of the night sky.
        halo = np.maximum(halo, np.exp(-(((distance - 1.8) / 0.35) ** 2)))
    colours = sky + (np.asarray(_palette_lookup(np.full((1,), 0.85), _NIGHT_BLUES)) - sky) * (0.6 * halo)[..., None]
    colours = colours + (np.asarray(_STAR_YELLOW) - colours) * np.clip(1.6 * glow, 0, 1)[..., None]
    colours = colours + (np.asarray(_STAR_WHITE) - colours) * np.clip(2.5 * glow - 1.5, 0, 1)[..., None]

    # Dark rolling hills along the bottom, for a second, contrasting region.
    horizon = size * (0.8 + 0.05 * np.sin(2 * np.pi * (xs / size * 1.7 + 0.3)))
    ground = _palette_lookup(_fractal_noise(rng, size, (4, 9)), _HILL_DARK)
    in_ground = np.clip((ys - horizon) / (0.02 * size), 0, 1)[..., None]
    return colours * (1 - in_ground) + ground * in_ground


def _draw_flow_strokes(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    flow_cos: np.ndarray,
    flow_sin: np.ndarray,
    colour_field: np.ndarray,
    *,
    count: int,
    width: int,
    length: float,
    points: int = 5,
) -> None:
    """Draw `count` strokes, each a short polyline that follows the flow."""
    size = flow_cos.shape[0]
    step = length / (points - 1)
    # Trace all strokes at once: positions (count, points, 2) in x, y order.
    path = np.empty((count, points, 2), np.float32)
    path[:, 0] = rng.uniform(-0.02 * size, 1.02 * size, (count, 2))
    for k in range(1, points):
        col, row = (np.clip(path[:, k - 1, i], 0, size - 1).astype(np.int32) for i in (0, 1))
        path[:, k, 0] = path[:, k - 1, 0] + step * flow_cos[row, col]
        path[:, k, 1] = path[:, k - 1, 1] + step * flow_sin[row, col]

    centre = np.clip(path[:, points // 2], 0, size - 1).astype(np.int32)
    base = colour_field[centre[:, 1], centre[:, 0]]
    # Jitter: a lightness shift plus a little per-channel tint, so that
    # neighbouring strokes differ the way mixed-on-the-brush paint does.
    colours = base * rng.uniform(0.7, 1.3, (count, 1)) + rng.normal(0.0, 0.045, (count, 3))
    # A few much lighter strokes of the local hue: the bright accents that
    # keep a dark palette lively.
    bright = rng.random(count) < 0.06
    colours[bright] = 1.5 * colours[bright] + 0.1
    heights = rng.integers(40, 256, (count, 1)) / 255.0
    inks = _to_inks(np.concatenate([colours, heights], axis=-1))
    for stroke, ink in zip(path.tolist(), inks):
        draw.line([tuple(p) for p in stroke], fill=tuple(ink), width=width, joint="curve")


def _line_integral_convolution(
    rng: np.random.Generator, flow_cos: np.ndarray, flow_sin: np.ndarray, *, steps: int
) -> np.ndarray:
    """White noise smeared along the flow: fine streaks, like bristle marks.

    Returns `(size, size)` float32 with zero mean and unit standard deviation.
    """
    size = flow_cos.shape[0]
    noise = rng.random((size, size), dtype=np.float32)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    total = noise.copy()
    for sign in (1.0, -1.0):
        y, x = rows.copy(), cols.copy()
        for _ in range(steps):
            r = np.clip(y, 0, size - 1).astype(np.int32)
            c = np.clip(x, 0, size - 1).astype(np.int32)
            x += sign * flow_cos[r, c]
            y += sign * flow_sin[r, c]
            total += noise[np.clip(y, 0, size - 1).astype(np.int32), np.clip(x, 0, size - 1).astype(np.int32)]
    return (total - total.mean()) / max(float(total.std()), 1e-6)


def _relief_shading(height: np.ndarray) -> np.ndarray:
    """Light from the top left on a height map: positive on lit slopes."""
    dy, dx = np.gradient(height)
    return -(dx + dy)


# --------------------------------------------------------------------------
# "mosaic": Voronoi tiles with dark grout
# --------------------------------------------------------------------------

_WARM_TILES = [
    _hex(c)
    for c in (
        "#b5532d",  # terracotta
        "#d9912f",  # ochre
        "#f0b54a",  # amber
        "#8c2f1b",  # rust
        "#efdcb0",  # cream
        "#a8231c",  # brick red
        "#a88a35",  # olive gold
        "#e07a3f",  # orange
        "#1f6b6e",  # a cool teal accent, for contrast
    )
]
_GROUT = _hex("#231c17")


def _paint_mosaic(size: int, rng: np.random.Generator) -> np.ndarray:
    cell = 30.0 * size / 512.0
    cells = int(np.ceil(size / cell)) + 1
    # Jittered grid: one seed per cell, so the nearest seeds to a pixel are
    # always in the surrounding 5x5 cells and Voronoi is cheap and exact.
    seeds = (np.mgrid[0:cells, 0:cells].transpose(1, 2, 0) + rng.uniform(0.1, 0.9, (cells, cells, 2))) * cell

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    home_row, home_col = (ys // cell).astype(np.int32), (xs // cell).astype(np.int32)
    nearest = np.full((size, size), np.inf, np.float32)
    second = np.full((size, size), np.inf, np.float32)
    owner = np.zeros((size, size), np.int32)
    for dr in range(-2, 3):
        for dc in range(-2, 3):
            r, c = home_row + dr, home_col + dc
            outside = (r < 0) | (r >= cells) | (c < 0) | (c >= cells)
            r, c = np.clip(r, 0, cells - 1), np.clip(c, 0, cells - 1)
            seed = seeds[r, c]
            distance = np.hypot(ys - seed[..., 0], xs - seed[..., 1]).astype(np.float32)
            # Clipped indices repeat a border seed; counting it twice would
            # make "second nearest" equal "nearest" and paint grout there.
            distance[outside] = np.inf
            closer = distance < nearest
            second = np.where(closer, nearest, np.minimum(second, distance))
            owner = np.where(closer, r * cells + c, owner)
            nearest = np.where(closer, distance, nearest)

    # Tile colours: a slowly varying palette position, so colour forms
    # larger patterns across tiles, plus a per-tile random pick and jitter.
    drift = _fractal_noise(rng, cells, (2, 4)).ravel()
    pick = np.clip(np.rint(drift * (len(_WARM_TILES) - 2) + rng.normal(0, 1.2, cells * cells)), 0, len(_WARM_TILES) - 2)
    pick = np.where(rng.random(cells * cells) < 0.08, len(_WARM_TILES) - 1, pick).astype(np.int32)
    tile_colours = np.asarray(_WARM_TILES, np.float32)[pick] * rng.uniform(0.82, 1.12, (cells * cells, 1))
    tile_colours += rng.normal(0, 0.03, (cells * cells, 3))

    # Domed tiles: darker towards their edges; plus a fine stone speckle.
    dome = 1.0 - 0.35 * np.clip(nearest / (0.75 * cell), 0, 1) ** 2
    speckle = (
        1.0
        + 0.08 * (rng.random((size, size), dtype=np.float32) - 0.5)
        + 0.12 * (_smooth_noise(rng, size, max(4, size // 12)) - 0.5)
    )
    tiles = tile_colours[owner] * (dome * speckle)[..., None]

    # Grout where the two nearest seeds are almost equidistant, i.e. on the
    # Voronoi edges; a 1 px ramp keeps the edges antialiased.
    grout_half_width = 2.2 * size / 512.0
    edge = np.clip(((second - nearest) / 2 - grout_half_width) / 1.0, 0, 1)[..., None]
    grout = np.asarray(_GROUT) * (1.0 + 0.4 * (rng.random((size, size, 1), dtype=np.float32) - 0.5))
    return tiles * edge + grout * (1 - edge)


# --------------------------------------------------------------------------
# "pointillism": dense coloured dots
# --------------------------------------------------------------------------

_PIGMENTS = [_hex(c) for c in ("#e63b2e", "#f2c12e", "#2e8b57", "#2f5fd0", "#f08a24", "#8e44ad", "#ffffff")]


def _paint_pointillism(size: int, rng: np.random.Generator) -> np.ndarray:
    scale = size / 512.0
    scene = _pointillist_scene(size, rng)
    canvas = Image.new("RGB", (size, size), tuple(_to_inks(np.asarray(_hex("#f3ecd8")))))
    draw = ImageDraw.Draw(canvas)
    pigments = np.asarray(_PIGMENTS, np.float32)
    # Two layers: larger dots in the local colour, then smaller dots of pure
    # pigment mixed in, which the eye blends (that is the whole technique).
    for radius, density, pigment_share in ((4.2, 1.6, 0.25), (2.6, 1.2, 0.5)):
        r = radius * scale
        count = int(density * size * size / (np.pi * r * r))
        centres = rng.uniform(0, size, (count, 2))
        local = scene[centres[:, 1].astype(np.int32), centres[:, 0].astype(np.int32)]
        chosen = pigments[rng.integers(0, len(pigments), count)]
        share = pigment_share * rng.random((count, 1))
        colours = local * (1 - share) + chosen * share + rng.normal(0, 0.04, (count, 3))
        radii = r * rng.uniform(0.7, 1.3, count)
        for (x, y), ink, dot in zip(centres.tolist(), _to_inks(colours), radii.tolist()):
            draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=tuple(ink))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _pointillist_scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """A simple landscape to dot over: sky, sun, sea, green shore."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    sky = _palette_lookup(ys / 0.5, [_hex("#6fa8dc"), _hex("#bcd9ea"), _hex("#f6e3a1")])
    sun = np.exp(-(((xs - 0.7) ** 2 + (ys - 0.3) ** 2) / 0.006))[..., None]
    sky = sky + (np.asarray(_hex("#f7b733")) - sky) * np.clip(1.5 * sun, 0, 1)
    sea = _palette_lookup(_fractal_noise(rng, size, (3, 8)), [_hex("#1f5f8b"), _hex("#3a8fb7"), _hex("#7cc3d6")])
    shore = _palette_lookup(_fractal_noise(rng, size, (4, 10)), [_hex("#2d6a2d"), _hex("#6aa84f"), _hex("#c9b458")])
    sea_line = 0.5 + 0.01 * np.sin(9 * xs)
    shore_line = 0.78 - 0.12 * xs + 0.03 * np.sin(5 * xs + 1)
    scene = np.where((ys < sea_line)[..., None], sky, np.where((ys < shore_line)[..., None], sea, shore))
    return scene.astype(np.float32)


#: The painter of each sample style: `PAINTERS[name](size, rng)`.
PAINTERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "swirl": _paint_swirl,
    "mosaic": _paint_mosaic,
    "pointillism": _paint_pointillism,
}
