"""The losses against values worked out by hand."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from explainer.losses import (
    LossSpec,
    Targets,
    blend_grams,
    content_loss,
    gram_matrix,
    loss_terms,
    style_loss,
    sum_terms,
    total_variation,
)

# One row of two pixels, two channels: F = [[1, 2], [3, 4]] as (h*w, C).
F = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])


def test_gram_matrix_by_hand():
    # F^T F = [[1+9, 2+12], [2+12, 4+16]] = [[10, 14], [14, 20]], divided by h*w*C = 4.
    np.testing.assert_allclose(gram_matrix(F), [[2.5, 3.5], [3.5, 5.0]])


def test_gram_matrix_ignores_where_features_are():
    rng = np.random.default_rng(0)
    features = jnp.asarray(rng.random((4, 6, 3)), jnp.float32)
    shuffled = jnp.asarray(rng.permutation(np.asarray(features).reshape(24, 3)).reshape(4, 6, 3))
    np.testing.assert_allclose(gram_matrix(features), gram_matrix(shuffled), rtol=1e-6)


def test_gram_matrix_batched():
    batch = jnp.stack([F, 2 * F])
    np.testing.assert_allclose(gram_matrix(batch)[1], 4 * gram_matrix(F), rtol=1e-6)


def test_content_loss_by_hand():
    # differences 1, 0, -1, 2 -> squares 1, 0, 1, 4 -> mean 1.5
    np.testing.assert_allclose(content_loss(F, F - jnp.array([[[1.0, 0.0], [-1.0, 2.0]]])), 1.5)


def test_style_loss_by_hand():
    # against a zero target: mean(G^2) = (6.25 + 12.25 + 12.25 + 25) / 4
    np.testing.assert_allclose(style_loss(F, jnp.zeros((2, 2))), 55.75 / 4)
    np.testing.assert_allclose(style_loss(F, gram_matrix(F)), 0.0)


def test_total_variation_by_hand():
    image = jnp.zeros((2, 2, 3)).at[0, 1].set(1.0)  # one white pixel top right
    # vertical: differences (0, -1) per channel -> mean of squares 1/2; horizontal: (1, 0) -> 1/2; in 255 units
    np.testing.assert_allclose(total_variation(image), 255.0**2, rtol=1e-6)
    np.testing.assert_allclose(total_variation(jnp.full((5, 4, 3), 0.3)), 0.0)


def test_terms_are_weighted_per_layer_and_sum_to_the_total():
    rng = np.random.default_rng(1)
    feats = {name: jnp.asarray(rng.random((3, 4, 2)), jnp.float32) for name in ("a", "b")}
    targets = Targets(content={"a": feats["a"] + 1.0}, style={"a": jnp.zeros((2, 2)), "b": jnp.eye(2)})
    image = jnp.asarray(rng.random((5, 5, 3)), jnp.float32)
    spec = LossSpec(content=(("a", 2.0),), style=(("a", 3.0), ("b", 0.5)), tv_weight=0.01)
    terms = loss_terms(spec, feats, targets, image)
    np.testing.assert_allclose(terms["content"]["a"], 2.0 * 1.0, rtol=1e-6)  # every difference is 1
    np.testing.assert_allclose(terms["style"]["b"], 0.5 * style_loss(feats["b"], jnp.eye(2)), rtol=1e-6)
    np.testing.assert_allclose(terms["tv"], 0.01 * total_variation(image), rtol=1e-6)
    expected = terms["content"]["a"] + terms["style"]["a"] + terms["style"]["b"] + terms["tv"]
    np.testing.assert_allclose(sum_terms(terms), expected, rtol=1e-6)
    assert spec.layers == ("a", "b")


def test_blend_grams_normalises_the_weights():
    blended = blend_grams([{"x": jnp.ones((2, 2))}, {"x": jnp.zeros((2, 2))}], [3.0, 1.0])
    np.testing.assert_allclose(blended["x"], 0.75)


@pytest.mark.parametrize("shape", [(3, 3, 2), (1, 3, 3, 2)])
def test_losses_are_jit_and_grad_friendly(shape):
    import jax

    x = jnp.ones(shape)
    grad = jax.jit(jax.grad(lambda v: style_loss(v, jnp.zeros((2, 2)))))(x)
    assert grad.shape == shape and bool(jnp.all(jnp.isfinite(grad)))


def test_weights_carried_by_the_targets_override_the_spec():
    rng = np.random.default_rng(2)
    feats = {"a": jnp.asarray(rng.random((3, 4, 2)), jnp.float32)}
    image = jnp.asarray(rng.random((5, 5, 3)), jnp.float32)
    spec = LossSpec(content=(("a", 2.0),), style=(("a", 3.0),), tv_weight=0.01)
    plain = Targets(content={"a": feats["a"] + 1.0}, style={"a": jnp.eye(2)})
    other = LossSpec(content=(("a", 5.0),), style=(("a", 0.0),), tv_weight=1.0)
    carried = Targets(content=plain.content, style=plain.style, weights=other.weights())
    by_spec, by_targets = loss_terms(spec, feats, plain, image), loss_terms(spec, feats, carried, image)
    np.testing.assert_allclose(by_targets["content"]["a"], 5.0 / 2.0 * by_spec["content"]["a"], rtol=1e-6)
    assert float(by_targets["style"]["a"]) == 0.0
    np.testing.assert_allclose(by_targets["tv"], 100.0 * by_spec["tv"], rtol=1e-6)
    # the structure a compiled step depends on: layers and whether TV is on, not the weights
    assert spec.structure() == other.structure() == LossSpec((("a", 1.0),), (("a", 1.0),), 1.0)
