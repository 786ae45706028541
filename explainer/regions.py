"""Regions of the style loss: colour-coded masks, matched by colour, at every layer's size.

Luan et al. (2017) and Gatys et al. (2016, "spatial control") match the
style only within corresponding regions: sky to sky, building to building.
A region is given by a pair of mask images, one the shape of the content,
one the shape of the style, painted in flat colours; equal colours mark
corresponding regions (the format Luan et al. distribute). Each mask's
colours are found (any colour covering at least `MIN_SHARE` of it; stray
anti-aliased or JPEG pixels join the nearest one), matched across the two
masks, and each region becomes a soft mask at every style layer's size.
The style loss then compares, region by region, masked Gram matrices
([`region_style_loss`][explainer.losses.region_style_loss]).

A colour that appears in one mask only is ignored, with a
[`Note`][explainer.errors.Note]; without masks the whole image is one region
and the loss is the plain one (the same program, the same numbers).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from explainer import images as _images
from explainer.errors import ConfigError, ImageError, Note
from explainer.losses import LossSpec, Targets, masked_gram

#: A colour is a region of a mask when it covers at least this share of its pixels.
MIN_SHARE = 0.002
#: Two colours are the same region when no channel differs by more than this (of 255).
TOLERANCE = 24
#: How far a mask's aspect ratio may be from its image's (relative).
ASPECT_TOLERANCE = 0.02


@dataclasses.dataclass(frozen=True)
class Regions:
    """Matched regions of a content mask and a style mask.

    Attributes:
        colours: `(R, 3)` uint8, the colour of each region.
        content: `(h, w, R)` float32 one-hot labels of the content mask (its own size).
        style: `(h, w, R)` the same for the style mask.
        ignored: colours found in one mask only, as `#rrggbb`.
    """

    colours: np.ndarray
    content: np.ndarray
    style: np.ndarray
    ignored: tuple[str, ...] = ()

    def targets(self, backend, spec: LossSpec, targets: Targets, content: np.ndarray, style: np.ndarray) -> Targets:
        """`targets` with their `regions` filled in for images at this scale (`content`, `style`)."""
        layers = tuple(name for name, _ in spec.style)
        content_masks = _resize(self.content, content.shape[:2])
        style_masks = _resize(self.style, style.shape[:2])
        features = backend.features(style, layers) if layers else {}
        masks, grams = {}, {}
        for name in layers:
            h, w = _layer_shape(content.shape[:2], name)
            masks[name] = jnp.moveaxis(_resize(content_masks, (h, w)), -1, 0)
            style_features = features[name]
            at_layer = jnp.moveaxis(_resize(style_masks, style_features.shape[:2]), -1, 0)
            grams[name] = masked_gram(style_features, at_layer)
        return dataclasses.replace(targets, regions={"masks": masks, "grams": grams})


def _layer_shape(shape: tuple[int, int], layer: str) -> tuple[int, int]:
    from backends import downsampling

    h, w = shape
    for _ in range(downsampling(layer)):  # each 2x2 pooling floors
        h, w = h // 2, w // 2
    return h, w


def _resize(masks, shape: tuple[int, int]) -> jax.Array:
    """Soft masks `(h, w, R)` resized to `shape` (area-weighted when shrinking)."""
    masks = jnp.asarray(masks, jnp.float32)
    if tuple(masks.shape[:2]) == tuple(shape):
        return masks
    return jax.image.resize(masks, (*shape, masks.shape[-1]), "linear", antialias=True)


def palette(mask: np.ndarray) -> np.ndarray:
    """The colours (uint8 `(K, 3)`) that cover at least `MIN_SHARE` of `mask`, most frequent first."""
    pixels = _images.to_uint8(mask).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    kept: list[np.ndarray] = []
    for colour, count in zip(colours[order], counts[order]):
        if count < MIN_SHARE * len(pixels):
            break
        if all(np.abs(colour.astype(int) - k.astype(int)).max() > TOLERANCE for k in kept):
            kept.append(colour)
    return np.array(kept, np.uint8).reshape(-1, 3)


def labels(mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """One-hot `(h, w, R)` float32: each pixel of `mask` to the nearest of `colours`."""
    pixels = _images.to_uint8(mask).astype(np.int32)
    distance = np.square(pixels[:, :, None, :] - colours.astype(np.int32)[None, None]).sum(-1)
    return np.eye(len(colours), dtype=np.float32)[np.argmin(distance, axis=-1)]


def _hex(colour) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in colour)


def match(content_mask: np.ndarray, style_mask: np.ndarray) -> Regions:
    """Regions from a pair of colour-coded masks (`(h, w, 3)` in `[0, 1]`); warns a `Note` for unmatched colours.

    Raises:
        ConfigError: the masks share no colour.
    """
    ours, theirs = palette(content_mask), palette(style_mask)
    close = lambda a, b: np.abs(a.astype(int) - b.astype(int)).max() <= TOLERANCE
    pairs = [(c, next(s for s in theirs if close(c, s))) for c in ours if any(close(c, s) for s in theirs)]
    ignored = tuple([f"{_hex(c)} (content mask only)" for c in ours if not any(close(c, s) for s in theirs)]
                    + [f"{_hex(s)} (style mask only)" for s in theirs if not any(close(c, s) for c in ours)])
    if not pairs:
        raise ConfigError(f"the content mask's colours ({', '.join(map(_hex, ours))}) and the style mask's "
                          f"({', '.join(map(_hex, theirs))}) have none in common: equal colours mark the same region")
    if ignored:
        warnings.warn(f"regions ignored (a colour in one mask only): {', '.join(ignored)}", Note, stacklevel=2)
    # Every pixel goes to its nearest colour in its own mask; unmatched colours are dropped after.
    content = labels(content_mask, ours)[..., [_index(ours, c) for c, _ in pairs]]
    style = labels(style_mask, theirs)[..., [_index(theirs, s) for _, s in pairs]]
    return Regions(np.array([c for c, _ in pairs], np.uint8), content, style, ignored)


def _index(colours: np.ndarray, colour: np.ndarray) -> int:
    return int(np.flatnonzero((colours == colour).all(axis=1))[0])


def _read(path: str, what: str, image: np.ndarray) -> np.ndarray:
    """A mask file, checked against the shape of the image it marks."""
    return check_aspect(_images.load_image(path, min_side=1), image, what, str(path))


def check_aspect(mask: np.ndarray, image: np.ndarray, what: str, name: str) -> np.ndarray:
    """`mask`, or an `ImageError` naming it (`name`) when it has not its image's aspect ratio."""
    (mh, mw), (ih, iw) = mask.shape[:2], image.shape[:2]
    if abs((mw / mh) / (iw / ih) - 1.0) > ASPECT_TOLERANCE:
        raise ImageError(f"{name}: the {what} mask is {mw}x{mh} pixels, its image {iw}x{ih}: a mask must have "
                         "its image's aspect ratio")
    return mask


def from_files(content_mask: str | None, style_mask: str | None, content: np.ndarray,
               styles: Sequence[np.ndarray]) -> Regions | None:
    """The regions of a run (`None` without masks); one-line errors for a user's mistake."""
    if content_mask is None and style_mask is None:
        return None
    if content_mask is None or style_mask is None:
        raise ConfigError("regions need both masks: give --content-mask and --style-mask")
    if len(styles) != 1:
        raise ConfigError(f"regions work with one style image, not {len(styles)}")
    return match(_read(content_mask, "content", content), _read(style_mask, "style", styles[0]))


def preview(mask: np.ndarray, regions: Regions, which: str = "content") -> np.ndarray:
    """The mask as the run sees it: each pixel in its region's colour, ignored pixels grey (`(h, w, 3)` in `[0, 1]`)."""
    one_hot = regions.content if which == "content" else regions.style
    colours = regions.colours.astype(np.float32) / 255.0
    image = one_hot @ colours
    ignored = one_hot.sum(-1, keepdims=True) == 0
    return np.where(ignored, 0.5, image).astype(np.float32)
