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
  of the image in `[0, 255]` units, horizontal plus vertical. Here the
  conventions part: neural-style's TV is half the *sum* of the same squares,
  so its weight `S` is `w = S * 3HW / 2` here (`total_variation`).

Gatys et al. normalise differently (`1 / (4 N^2 M^2)` for style, `1 / 2` sum
for content); lesson 4 shows how the weights translate between conventions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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


def masked_gram(features: jax.Array, masks: jax.Array) -> jax.Array:
    """One Gram matrix per region: `(F m_r)^T (F m_r) / (C * sum(m_r))` (Luan et al.'s masked Gram).

    Args:
        features: `(h, w, C)` activations.
        masks: `(R, h, w)` soft region masks at the layer's size.

    Returns:
        `(R, C, C)`. A mask of ones gives [`gram_matrix`][explainer.losses.gram_matrix].
    """
    h, w, c = features.shape
    flat = features.reshape(1, h * w, c) * masks.reshape(-1, h * w, 1)
    area = jnp.maximum(jnp.sum(masks, axis=(1, 2)), 1e-6)  # an empty region: a zero Gram, not NaN
    return _gram(flat) * (h * w / area)[:, None, None]


def region_style_loss(features: jax.Array, masks: jax.Array, target_grams: jax.Array) -> jax.Array:
    """Style loss per region, weighted by the region's share of the image: `sum_r mean(m_r) mean((G_r - A_r)^2)`.

    Each region's Gram matrix is matched only to the same region's of the
    style (Luan et al. 2017; Gatys et al. 2016, spatial control). One region
    covering the image is [`style_loss`][explainer.losses.style_loss].
    """
    share = jnp.mean(masks, axis=(1, 2))
    return jnp.sum(share * jnp.mean(jnp.square(masked_gram(features, masks) - target_grams), axis=(1, 2)))


def total_variation(image: jax.Array) -> jax.Array:
    """Mean squared neighbour difference of an RGB `[0, 1]` image, in `[0, 255]` units.

    Penalises high-frequency noise: gradient-based synthesis otherwise
    leaves a fine speckle that no VGG layer objects to.

    A *mean*, like the content and style terms, so that a weight keeps its
    balance against them at any size (and across coarse-to-fine scales).
    jcjohnson/neural-style's TV is `S/2 * sum` of the same squares over an
    `H x W x 3` image, so its `-tv_weight S` is `w = S * 3 * H * W / 2` here
    (1e-3 at 512 x 437 px: about 336). The TensorFlow tutorial's
    `tf.image.total_variation` sums *absolute* differences of `[0, 1]` pixels,
    another function: lesson 5 compares them on one image.
    """
    pixels = image * 255.0
    dy = jnp.diff(pixels, axis=-3)
    dx = jnp.diff(pixels, axis=-2)
    return jnp.mean(jnp.square(dy)) + jnp.mean(jnp.square(dx))


def _total_variation_term(image: jax.Array, target: Any) -> jax.Array:
    return total_variation(image)


@dataclasses.dataclass(frozen=True)
class ImageTerm:
    """A term of the loss that reads the image itself, not the network's features.

    Total variation is one; a method adds its own (a photorealism term, a
    temporal term) and it joins the objective like any other: it is summed
    into the loss, reported per step under its `name`, recorded with its
    share and its gradient map, and its weight travels as an array (changing
    it does not compile anew).

    Attributes:
        name: the key of the term in the loss terms (not `"content"` or `"style"`).
        loss: `loss(image, target) -> scalar`: pure and jit-able; `image` is
            RGB in `[0, 1]`, `(H, W, 3)` or `(N, H, W, 3)`. A module-level
            function, so the term is hashable.
        weight: how hard it pulls (0 switches it off).
        target: `target(content) -> pytree of arrays` made once per scale
            from the content image at that scale (what the term compares
            with, e.g. the content's matting Laplacian); `None`: no target.
    """

    name: str
    loss: Callable[[jax.Array, Any], jax.Array]
    weight: float = 1.0
    target: Callable[[Any], Any] | None = None

    def __post_init__(self):
        if self.name in ("content", "style"):
            raise ValueError(f"an image term cannot be called {self.name!r}")


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Which terms count and how much: static and hashable.

    Weights are *effective* weights: `content_weight * layer_weight` already
    multiplied in (see [`StyleConfig`][explainer.StyleConfig]). The layers
    and the terms are static (a compiled step is specialised to them); the
    weights travel as arrays in `Targets.weights` (see `weights()` and
    `structure()`), so moving a weight slider in the explorer, or sweeping
    the content/style ratio, reuses the compiled step.

    Attributes:
        content: `((layer, weight), ...)`.
        style: `((layer, weight), ...)`.
        tv_weight: weight of the total-variation term (always reported, as `"tv"`).
        image_terms: further terms on the image (see [`ImageTerm`][explainer.losses.ImageTerm]).
    """

    content: tuple[tuple[str, float], ...]
    style: tuple[tuple[str, float], ...]
    tv_weight: float = 0.0
    image_terms: tuple[ImageTerm, ...] = ()

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the loss reads, content first, without repeats."""
        return tuple(dict.fromkeys([name for name, _ in self.content + self.style]))

    @property
    def on_image(self) -> tuple[ImageTerm, ...]:
        """Every term on the image: total variation first, then `image_terms`."""
        return (ImageTerm("tv", _total_variation_term, self.tv_weight), *self.image_terms)

    def weights(self) -> dict:
        """`{"content": {layer: w}, "style": {layer: w}, "tv": w, <term>: w}` as float32 arrays (for `Targets.weights`)."""
        as_array = lambda w: jnp.asarray(w, jnp.float32)
        return {
            "content": {name: as_array(w) for name, w in self.content},
            "style": {name: as_array(w) for name, w in self.style},
            **{term.name: as_array(term.weight) for term in self.on_image},
        }

    def structure(self) -> LossSpec:
        """The same layers and terms, every weight 1 (or 0 where off): what a compiled step depends on.

        Compiled steps are cached on this, and read the weights from
        `Targets.weights`, so changing a weight does not compile anew.
        """
        unit = lambda w: 1.0 if w else 0.0
        return LossSpec(
            content=tuple((name, 1.0) for name, _ in self.content),
            style=tuple((name, 1.0) for name, _ in self.style),
            tv_weight=unit(self.tv_weight),
            image_terms=tuple(dataclasses.replace(t, weight=unit(t.weight)) for t in self.image_terms),
        )

    def only(self, kind: str, name: str | None = None) -> LossSpec:
        """The loss reduced to one term: `("content", layer)`, `("style", layer)` or an image term's name."""
        return LossSpec(
            content=tuple((n, w) for n, w in self.content if kind == "content" and n == name),
            style=tuple((n, w) for n, w in self.style if kind == "style" and n == name),
            tv_weight=self.tv_weight if kind == "tv" else 0.0,
            image_terms=tuple(t for t in self.image_terms if t.name == kind),
        )

    def term_keys(self) -> list[tuple[str, str | None]]:
        """`(kind, layer)` of every term that is on: content and style per layer, then the image terms."""
        keys = [("content", n) for n, _ in self.content] + [("style", n) for n, _ in self.style]
        return keys + [(term.name, None) for term in self.on_image if term.weight]

    def image_targets(self, content: Any) -> dict:
        """`Targets.extra` for a content image: each image term's target (those that have one)."""
        return {term.name: term.target(content) for term in self.image_terms if term.target is not None}


@dataclasses.dataclass(frozen=True)
class Targets:
    """What the image is pulled towards: a pytree of arrays (not static).

    Attributes:
        content: `{layer: activations of the content image}`.
        style: `{layer: (blended) Gram matrix of the style image(s)}`.
        weights: how hard each term pulls, as `LossSpec.weights()`; arrays,
            so that a compiled step serves any weights. `None`: the
            `LossSpec`'s own weights.
        extra: `{term name: target}` of the image terms that have one.
        regions: `None` (the whole image is one region), or the style
            loss's regions: `{"masks": {layer: (R, h, w) content masks},
            "grams": {layer: (R, C, C) the style's Gram per region}}`
            (see [`explainer.regions`][explainer.regions]); `style` then
            still holds the whole style's Grams, for the record.
    """

    content: dict[str, jax.Array]
    style: dict[str, jax.Array]
    weights: dict | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    regions: dict | None = None


jax.tree_util.register_dataclass(Targets, data_fields=["content", "style", "weights", "extra", "regions"],
                                 meta_fields=[])


def loss_terms(spec: LossSpec, features: Mapping[str, jax.Array], targets: Targets, image: jax.Array) -> dict:
    """Every weighted term of the loss, per layer.

    The weights are `targets.weights` when the targets carry them (as those
    from [`compute_targets`][explainer.optimize.compute_targets] do), else the
    `spec`'s; `spec` always decides which terms exist.

    Returns:
        `{"content": {layer: value}, "style": {layer: value}, "tv": value,
        <image term>: value}`, each already multiplied by its weight; they
        add up to the total. A term that is off is reported as 0.
    """
    w = targets.weights if targets.weights is not None else spec.weights()
    terms = {
        "content": {
            name: w["content"][name] * content_loss(features[name], targets.content[name]) for name, _ in spec.content
        },
        "style": {name: w["style"][name] * _style_term(features[name], targets, name) for name, _ in spec.style},
    }
    for term in spec.on_image:
        on = term.weight != 0
        terms[term.name] = w[term.name] * term.loss(image, targets.extra.get(term.name)) if on else jnp.zeros(())
    return terms


def _style_term(features: jax.Array, targets: Targets, name: str) -> jax.Array:
    if targets.regions is None:
        return style_loss(features, targets.style[name])
    return region_style_loss(features, targets.regions["masks"][name], targets.regions["grams"][name])


def sum_terms(terms: dict) -> jax.Array:
    """The total of a [`loss_terms`][explainer.losses.loss_terms] dict."""
    return sum(jax.tree.leaves(terms), jnp.zeros(()))


def blend_grams(grams: Sequence[Mapping[str, jax.Array]], blend: Sequence[float]) -> dict[str, jax.Array]:
    """Weighted average of several style images' Gram matrices (weights normalised to sum 1)."""
    total = float(sum(blend))
    return {name: sum(b / total * g[name] for g, b in zip(grams, blend)) for name in grams[0]}
