"""The losses of neural style transfer, as pure `jax.numpy` functions.

Gatys et al. (2015) define the image to synthesise as the minimiser of

    L = content_weight * sum_l a_l * L_content(l)
      + style_weight   * sum_l w_l * L_style(l)
      + tv_weight      * L_tv

Normalisation (one convention, used everywhere in this project, the same as
jcjohnson/neural-style so its default weights carry over):

* content: the mean squared difference of the activations,
  `mean((F - P)^2)` over all `h * w * C` entries;
* Gram matrix: `G = F^T F / (h * w * C)` for activations `F` reshaped to
  `(h * w, C)`: dividing by the number of entries makes it independent of
  image size and layer width;
* style: the mean squared difference of the Gram matrices,
  `mean((G - A)^2)` over the `C * C` entries;
* total variation: the mean squared difference between neighbouring pixels
  of the image in `[0, 255]` units, horizontal plus vertical.

Gatys et al. normalise differently (`1 / (4 N^2 M^2)` for style, `1 / 2` sum
for content); lesson 4 shows how the weights translate between conventions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp


def gram_matrix(features: jax.Array) -> jax.Array:
    """Channel-by-channel correlations of one layer's activations.

    Args:
        features: `(h, w, C)` activations (or `(..., h, w, C)`).

    Returns:
        `(C, C)` (or `(..., C, C)`): `F^T F / (h * w * C)`. Entry `(i, j)`
        is large when channels `i` and `j` fire together *somewhere*: where
        is summed away, which is why a Gram matrix keeps texture and loses
        layout.
    """
    *batch, h, w, c = features.shape
    return _gram(features.reshape(*batch, h * w, c))


@jax.custom_vjp
def _gram(flat: jax.Array) -> jax.Array:
    """`F^T F / F.size` for `F` of shape `(..., n, C)`."""
    n, c = flat.shape[-2:]
    return jnp.einsum("...ni,...nj->...ij", flat, flat) / (n * c)


def _gram_forward(flat):
    return _gram(flat), flat


def _gram_backward(flat, cotangent):
    # d(F^T F)/dF applied to g is F (g + g^T): one matmul where autodiff
    # writes two (one per factor), a few percent of a step at 256 px.
    n, c = flat.shape[-2:]
    symmetric = cotangent + jnp.swapaxes(cotangent, -1, -2)
    return (jnp.einsum("...nj,...ij->...ni", flat, symmetric) / (n * c),)


_gram.defvjp(_gram_forward, _gram_backward)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
    """`mean((features - target) ** 2)`: how far one layer is from the content's."""
    return jnp.mean(jnp.square(features - target))


def style_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
    """`mean((gram(features) - target_gram) ** 2)` over the `C x C` entries."""
    return jnp.mean(jnp.square(gram_matrix(features) - target_gram))


def total_variation(image: jax.Array) -> jax.Array:
    """Mean squared neighbour difference of an RGB `[0, 1]` image, in `[0, 255]` units.

    Penalises high-frequency noise: gradient-based synthesis otherwise
    leaves a fine speckle that no VGG layer objects to.
    """
    pixels = image * 255.0
    dy = jnp.diff(pixels, axis=-3)
    dx = jnp.diff(pixels, axis=-2)
    return jnp.mean(jnp.square(dy)) + jnp.mean(jnp.square(dx))


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Which layers count and how much: static and hashable.

    Weights are *effective* weights: `content_weight * layer_weight` already
    multiplied in (see [`StyleConfig`][explainer.StyleConfig]). The layers
    are static (a compiled step is specialised to them); the weights travel
    as arrays in `Targets.weights` (see `weights()` and `structure()`), so
    moving a weight slider in the explorer, or sweeping the content/style
    ratio, reuses the compiled step.

    Attributes:
        content: `((layer, weight), ...)`.
        style: `((layer, weight), ...)`.
        tv_weight: weight of the total-variation term.
    """

    content: tuple[tuple[str, float], ...]
    style: tuple[tuple[str, float], ...]
    tv_weight: float = 0.0

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the loss reads, content first, without repeats."""
        return tuple(dict.fromkeys([name for name, _ in self.content + self.style]))

    def weights(self) -> dict:
        """`{"content": {layer: w}, "style": {layer: w}, "tv": w}` as float32 arrays (for `Targets.weights`)."""
        as_array = lambda w: jnp.asarray(w, jnp.float32)
        return {
            "content": {name: as_array(w) for name, w in self.content},
            "style": {name: as_array(w) for name, w in self.style},
            "tv": as_array(self.tv_weight),
        }

    def structure(self) -> LossSpec:
        """The same layers, every weight 1 (TV on or off): what a compiled step depends on.

        Compiled steps are cached on this, and read the weights from
        `Targets.weights`, so changing a weight does not compile anew.
        """
        return LossSpec(
            content=tuple((name, 1.0) for name, _ in self.content),
            style=tuple((name, 1.0) for name, _ in self.style),
            tv_weight=1.0 if self.tv_weight else 0.0,
        )


@dataclasses.dataclass(frozen=True)
class Targets:
    """What the image is pulled towards: a pytree of arrays (not static).

    Attributes:
        content: `{layer: activations of the content image}`.
        style: `{layer: (blended) Gram matrix of the style image(s)}`.
        weights: how hard each term pulls, as `LossSpec.weights()`; arrays,
            so that a compiled step serves any weights. `None`: the
            `LossSpec`'s own weights.
    """

    content: dict[str, jax.Array]
    style: dict[str, jax.Array]
    weights: dict | None = None


jax.tree_util.register_dataclass(Targets, data_fields=["content", "style", "weights"], meta_fields=[])


def loss_terms(spec: LossSpec, features: Mapping[str, jax.Array], targets: Targets, image: jax.Array) -> dict:
    """Every weighted term of the loss, per layer.

    The weights are `targets.weights` when the targets carry them (as those
    from [`compute_targets`][explainer.optimize.compute_targets] do), else the
    `spec`'s; `spec` always decides which terms exist.

    Returns:
        `{"content": {layer: value}, "style": {layer: value}, "tv": value}`,
        each already multiplied by its weight; they add up to the total.
    """
    w = targets.weights if targets.weights is not None else spec.weights()
    return {
        "content": {
            name: w["content"][name] * content_loss(features[name], targets.content[name]) for name, _ in spec.content
        },
        "style": {name: w["style"][name] * style_loss(features[name], targets.style[name]) for name, _ in spec.style},
        "tv": w["tv"] * total_variation(image) if spec.tv_weight else jnp.zeros(()),
    }


def sum_terms(terms: dict) -> jax.Array:
    """The total of a [`loss_terms`][explainer.losses.loss_terms] dict."""
    return sum(jax.tree.leaves(terms), jnp.zeros(()))


def blend_grams(grams: Sequence[Mapping[str, jax.Array]], blend: Sequence[float]) -> dict[str, jax.Array]:
    """Weighted average of several style images' Gram matrices (weights normalised to sum 1)."""
    total = float(sum(blend))
    return {name: sum(b / total * g[name] for g, b in zip(grams, blend)) for name in grams[0]}
