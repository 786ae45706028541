"""The fast method: a feed-forward network paints the content in one pass.

Johnson et al. (2016) trained one network per style; Dumoulin et al. (2017)
showed that one network holds many styles when each style is only the scale
and shift of its instance normalisations (*conditional* instance
normalisation); Ghiasi et al. (2017) predicted that scale and shift from any
style image through a 100-number *style embedding*. This module applies such
networks (see [`backends.get_styliser`][backends.get_styliser]):

* `model="arbitrary"`: the embedding comes from the style image(s), blended
  by `style_blend`, and moved towards the content's own embedding by
  `style_strength` (0: the content's own style, 1: the style's);
* `model="multistyle:K"` (or a blend, `multistyle:3=0.5,12=0.5`): one of
  the 26 styles built into Dumoulin et al.'s network, or a mix of them.

```python
from explainer import StyleConfig, stylize

result = stylize("photo.jpg", "painting.jpg", StyleConfig(method="fast", size=512))
```

The functions here are pure of files and printing: the runner loads the
images and writes the results.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from backends import Styliser
from explainer import images as _images
from explainer.color import keep_luminance_only, match_colors
from explainer.errors import ConfigError

#: The style predictor's input: a square this many pixels on a side (Ghiasi et al.).
STYLE_SIDE = 256
#: Dumoulin et al.'s network holds this many styles, numbered 0 to 25.
MULTISTYLE_COUNT = 26


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """A parsed `--model`: which network, and for `multistyle` which styles in which proportions.

    Attributes:
        kind: `"arbitrary"`, `"multistyle"` or `"trained"`.
        blend: for `multistyle`, `((style index, weight), ...)` with the
            weights summing to 1.
        path: for `trained`, the model folder (see `explainer.models`).
    """

    kind: str
    blend: tuple[tuple[int, float], ...] = ()
    path: str | None = None

    @property
    def needs_style_images(self) -> bool:
        return self.kind == "arbitrary"


def parse_model(text: str) -> ModelChoice:
    """`"arbitrary"`, `"multistyle:K"` or `"multistyle:K=W,K=W,..."` as a [`ModelChoice`][explainer.fast.ModelChoice].

    Blend weights are scaled to sum to 1. A bad value raises `ConfigError` with one line that says what is wrong.
    """
    text = text.strip()
    if text == "arbitrary":
        return ModelChoice("arbitrary")
    from explainer.models import is_model_dir

    if is_model_dir(text):  # a folder written by 'style-explainer train'
        return ModelChoice("trained", path=text)
    kind, _, rest = text.partition(":")
    if kind != "multistyle":
        raise ConfigError(f"--model {text!r}: expected arbitrary, multistyle:K, multistyle:K=W,K=W (K from 0 to "
                          f"{MULTISTYLE_COUNT - 1}) or the folder of a network trained with 'style-explainer train' "
                          "(with its model.json)")
    if not rest:
        raise ConfigError(f"--model {text!r}: say which of the {MULTISTYLE_COUNT} styles, e.g. multistyle:3")
    parts = [part.strip() for part in rest.split(",") if part.strip()]
    blend = {}
    for part in parts:
        index_text, has_weight, weight_text = part.partition("=")
        try:
            index = int(index_text)
            weight = float(weight_text) if has_weight else 1.0
        except ValueError:
            raise ConfigError(f"--model {text!r}: {part!r} is not K or K=W with a style number K and a weight W") from None
        if not 0 <= index < MULTISTYLE_COUNT:
            raise ConfigError(f"--model {text!r}: style {index} does not exist; the styles are 0 to {MULTISTYLE_COUNT - 1}")
        if weight < 0 or not np.isfinite(weight):
            raise ConfigError(f"--model {text!r}: weight {weight_text} of style {index} must be a number >= 0")
        blend[index] = blend.get(index, 0.0) + weight
    total = sum(blend.values())
    if total <= 0:
        raise ConfigError(f"--model {text!r}: the blend's weights must have a positive sum")
    return ModelChoice("multistyle", tuple(sorted((k, w / total) for k, w in blend.items())))


def style_square(image: np.ndarray, side: int = STYLE_SIDE) -> np.ndarray:
    """The style predictor's view of an image: the short side scaled to `side`, then the central square."""
    h, w = image.shape[:2]
    scale = side / min(h, w)
    resized = _images.resize_to(image, max(side, round(h * scale)), max(side, round(w * scale)))
    top, left = (resized.shape[0] - side) // 2, (resized.shape[1] - side) // 2
    return resized[top:top + side, left:left + side]


def multistyle_vector(choice: ModelChoice) -> np.ndarray:
    """The 26 style weights of a `multistyle` choice (summing to 1)."""
    vector = np.zeros(MULTISTYLE_COUNT, np.float32)
    for index, weight in choice.blend:
        vector[index] = weight
    return vector


def blend_weights(count: int, style_blend: Sequence[float] | None) -> np.ndarray:
    """Weights of `count` style images, summing to 1 (equal when `style_blend` is None)."""
    weights = np.ones(count) if style_blend is None else np.asarray(style_blend, np.float64)
    if len(weights) != count:
        raise ConfigError(f"style_blend has {len(weights)} weights for {count} style images")
    return (weights / weights.sum()).astype(np.float32)


def arbitrary_embedding(styliser: Styliser, content: np.ndarray, styles: Sequence[np.ndarray],
                        style_blend: Sequence[float] | None, strength: float) -> np.ndarray:
    """The style embedding of an `arbitrary` run: `strength * blend(styles) + (1 - strength) * embed(content)`.

    Each style image is seen as its central square at 256 px (`style_square`).
    At strength 1 the content is not embedded at all.
    """
    if not styles:
        raise ConfigError("--model arbitrary takes its style from style images: give at least one")
    squares = np.stack([style_square(style) for style in styles])
    embeddings = np.asarray(styliser.embed(squares))
    style = blend_weights(len(styles), style_blend) @ embeddings
    if strength >= 1.0:
        return style.astype(np.float32)
    own = np.asarray(styliser.embed(style_square(content)[None]))[0]
    return (strength * style + (1.0 - strength) * own).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class FastOutput:
    """What one application of a network produced.

    Attributes:
        images: the stylised images, `(N, H, W, 3)` in `[0, 1]`, each the size of its content.
        embedding: the vector the network was conditioned on (a style
            embedding, or the 26 style weights of `multistyle`).
        seconds: wall time of the network's call (the first call at a new
            image shape includes compiling it).
    """

    images: np.ndarray
    embedding: np.ndarray
    seconds: float


def apply_network(styliser: Styliser, contents: np.ndarray, embedding: np.ndarray) -> tuple[np.ndarray, float]:
    """Run the network on a batch `(N, H, W, 3)` with one embedding `(D,)` or one each `(N, D)`.

    Returns the images, clipped to `[0, 1]` and cropped to the contents' size, and the seconds it took.
    """
    batch = np.repeat(embedding[None], len(contents), axis=0) if embedding.ndim == 1 else embedding
    start = time.perf_counter()
    spread = _spread(styliser) if len(contents) > 1 else None
    out = np.asarray(spread(contents, batch) if spread else styliser.stylise(contents, batch))
    seconds = time.perf_counter() - start
    height, width = contents.shape[1:3]
    return np.clip(out[:, :height, :width], 0.0, 1.0).astype(np.float32), seconds


@functools.lru_cache(maxsize=4)
def _spread(styliser: Styliser) -> Callable[[np.ndarray, np.ndarray], jax.Array] | None:
    """A batch forward split over every local device (data parallel, weights replicated), or None with one device.

    Batches are padded to a multiple of the device count (the padding's
    outputs are dropped), so any batch size works.
    """
    devices = jax.local_devices()
    if len(devices) < 2:
        return None
    mesh = Mesh(np.array(devices), ("data",))
    by_batch, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    params = jax.device_put(styliser.params, replicated)
    forward = jax.jit(styliser.apply, out_shardings=by_batch)

    def run(contents: np.ndarray, embeddings: np.ndarray) -> jax.Array:
        pad = -len(contents) % len(devices)
        if pad:
            contents = np.concatenate([contents, np.repeat(contents[-1:], pad, axis=0)])
            embeddings = np.concatenate([embeddings, np.repeat(embeddings[-1:], pad, axis=0)])
        out = forward(params, jax.device_put(contents, by_batch), jax.device_put(embeddings, by_batch))
        return out[: len(out) - pad]

    return run


def finish_colors(image: np.ndarray, content: np.ndarray, colors: str) -> np.ndarray:
    """`colors="keep"`: the result's luminance on the content's colours; otherwise the image as it is."""
    return keep_luminance_only(image, content) if colors == "keep" else image


def prepare_styles(styles: Sequence[np.ndarray], content: np.ndarray, colors: str) -> list[np.ndarray]:
    """`colors="match"`: recolour each style image to the content's colours before it is embedded."""
    return [match_colors(style, content) for style in styles] if colors == "match" else list(styles)


def condition(styliser: Styliser, choice: ModelChoice, content: np.ndarray, styles: Sequence[np.ndarray],
              config: Any) -> np.ndarray:
    """The vector the network is conditioned on for this run (see the module's description)."""
    if choice.kind == "trained":  # one style, built in: conditioned on nothing
        return np.zeros(0, np.float32)
    if choice.kind == "multistyle":
        return multistyle_vector(choice)
    styles = prepare_styles(styles, content, config.colors)
    return arbitrary_embedding(styliser, content, styles, config.style_blend, config.style_strength)


def stylize_images(styliser: Styliser, choice: ModelChoice, contents: Sequence[np.ndarray], styles: Sequence[np.ndarray],
                   config: Any) -> FastOutput:
    """Stylise images that share one size: resized to `config.size`, one batch, colours finished.

    `contents` are `(H, W, 3)` arrays in `[0, 1]` of one shape; the
    embedding is computed from the first one when `style_strength < 1`.
    """
    scaled = np.stack([_images.resize_longest(content, config.size) for content in contents])
    embedding = condition(styliser, choice, scaled[0], styles, config)
    out, seconds = apply_network(styliser, scaled, embedding)
    out = np.stack([finish_colors(image, content, config.colors) for image, content in zip(out, scaled)])
    return FastOutput(images=out, embedding=embedding, seconds=seconds)
