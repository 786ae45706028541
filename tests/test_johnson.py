"""Johnson et al.'s transformation network: shapes at odd sizes, instance norm against NumPy, batch norm."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends._johnson import (
    ARCHS,
    EPSILON,
    TransformSpec,
    layer_names,
    norm_layer_names,
    parameter_count,
    reflect_pad,
)


@pytest.fixture(scope="module")
def nets():
    """Every (arch, norm) with its variables (random init, seed 0)."""
    out = {}
    for arch in ARCHS:
        for norm in ("instance", "batch"):
            spec = TransformSpec(arch, norm)
            out[arch, norm] = (spec, spec.init(jax.random.key(0)))
    return out


def _images(n, h, w, seed=0):
    return np.random.default_rng(seed).random((n, h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("shape", [(13, 19), (5, 9), (31, 8), (16, 16)])
def test_any_input_size_gives_the_same_size_out(nets, arch, shape):
    spec, variables = nets[arch, "instance"]
    out = jax.jit(spec.apply)(variables, _images(2, *shape))
    assert out.shape == (2, *shape, 3)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # clipped when applied


def test_too_small_an_image_is_refused(nets):
    spec, variables = nets["slim", "instance"]
    with pytest.raises(ValueError, match="at least 5 px"):
        spec.apply(variables, _images(1, 4, 12))


def test_parameter_counts_match_the_architecture(nets):
    # Johnson's network: 1.68 M weights. Kernels, the output conv's bias, a scale and shift per normalised
    # channel, except the residual blocks' second norms (scale only); no conv bias before a norm.
    c1, c2, c3 = 32, 64, 128
    kernels = 81 * 3 * c1 + 9 * c1 * c2 + 9 * c2 * c3 + 10 * 9 * c3 * c3 + 9 * c3 * c2 + 9 * c2 * c1 + 81 * c1 * 3
    normalised = c1 + c2 + c3 + 10 * c3 + c2 + c1
    expected = kernels + 3 + 2 * normalised - 5 * c3
    assert parameter_count(nets["johnson", "instance"][1]) == expected == 1_676_995
    assert parameter_count(nets["slim", "instance"][1]) < expected / 3  # half the channels: ~1/4 the weights
    assert parameter_count(nets["johnson", "batch"][1]) == expected  # running statistics are not parameters


def test_activations_have_the_documented_shapes(nets):
    spec, variables = nets["johnson", "instance"]
    acts = spec.activations(variables, _images(1, 12, 20), layer_names())
    shapes = {name: a.shape for name, a in acts.items()}
    assert shapes["conv1"] == (1, 12, 20, 32)
    assert shapes["conv3"] == (1, 3, 5, 128)
    assert shapes["res5"] == (1, 3, 5, 128)
    assert shapes["up2"] == (1, 12, 20, 32)
    assert shapes["output"] == (1, 12, 20, 3)


def test_reflection_padding_mirrors_without_repeating_the_edge():
    x = jnp.arange(4.0).reshape(1, 1, 4, 1) * jnp.ones((1, 3, 1, 1))
    padded = np.asarray(reflect_pad(x, 2))[0, 2, :, 0]
    np.testing.assert_array_equal(padded, [2, 1, 0, 1, 2, 3, 2, 1])


def _numpy_instance_norm(x, scale, bias):
    """Ulyanov et al.'s instance norm written independently: per image and channel, over H and W."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[-1]):
            plane = x[n, :, :, c]
            mu = plane.sum() / plane.size
            var = ((plane - mu) ** 2).sum() / plane.size
            out[n, :, :, c] = (plane - mu) / np.sqrt(var + EPSILON) * scale[c] + bias[c]
    return out


def test_instance_norm_matches_an_independent_numpy_computation(nets):
    spec, variables = nets["slim", "instance"]
    params = variables["params"]
    rng = np.random.default_rng(1)
    # Give conv1's norm a non-trivial scale and shift, then compare its output layer by hand:
    scale = rng.uniform(0.5, 2.0, 16).astype(np.float32)
    bias = rng.normal(0, 0.5, 16).astype(np.float32)
    params = {**params, "norm_conv1": {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)}}
    content = _images(2, 12, 16, seed=2) * np.array([1.0, 0.3, 0.05], np.float32)  # channels of unequal contrast
    # conv1's convolution alone (a reflection-padded 9x9 conv), taken from the module itself:
    from backends._johnson import ConvLayer

    pre = ConvLayer(16, 9).apply({"params": params["conv1"]}, jnp.asarray(content))
    assert set(params["conv1"]["conv"]) == {"kernel"}  # no bias before a norm
    expected = np.maximum(_numpy_instance_norm(pre, scale, bias), 0.0)
    got = spec.activations({"params": params}, content, ["conv1"])["conv1"]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)
    # The statistics it reports are those it divided by.
    mean, var = spec.norm_statistics({"params": params}, content)["conv1"]
    np.testing.assert_allclose(np.asarray(mean), np.asarray(pre).mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(var), np.asarray(pre, np.float64).var(axis=(1, 2)), rtol=1e-3, atol=1e-6)


def test_instance_norms_written_out_gradient_is_autodiffs_of_the_plain_formula():
    """`backends._instance_norm` writes its gradient by hand (for speed): it must be the plain formula's."""
    from backends._instance_norm import EPSILON, instance_norm

    def plain(x, scale, shift):
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
        return (x - mean) / jnp.sqrt(var + EPSILON) * scale + shift

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((3, 7, 5, 4)) * 3 + 1, jnp.float32)
    scale, shift = (jnp.asarray(rng.standard_normal(4), jnp.float32) for _ in range(2))
    weights = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)

    def loss(norm):  # a nonlinear function of the output, so every part of the gradient matters
        return lambda *args: jnp.sum(jnp.tanh(norm(*args)) * weights)

    np.testing.assert_allclose(instance_norm(x, scale, shift), plain(x, scale, shift), atol=2e-6)
    ours = jax.grad(loss(instance_norm), argnums=(0, 1, 2))(x, scale, shift)
    theirs = jax.grad(loss(plain), argnums=(0, 1, 2))(x, scale, shift)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_instance_norm_makes_the_output_independent_of_the_input_contrast(nets):
    """Ulyanov et al.'s point: an image and a low-contrast copy give (almost) the same result."""
    spec, variables = nets["johnson", "instance"]
    image = _images(1, 16, 16, seed=3)
    dull = 0.5 + 0.2 * (image - 0.5)  # a fifth of the contrast
    out, out_dull = (np.asarray(spec.forward(variables, x)[0]) for x in (image, dull))
    # The first conv is affine, so instance norm divides the contrast out exactly (up to epsilon).
    np.testing.assert_allclose(out_dull, out, atol=2e-3)
    bn_spec, bn_vars = nets["johnson", "batch"]
    bn_out, bn_dull = (np.asarray(bn_spec.forward(bn_vars, x)[0]) for x in (image, dull))
    assert np.abs(bn_out - bn_dull).max() > 10 * np.abs(out - out_dull).max()  # batch norm at test time does not


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_at_test_time(nets):
    spec, variables = nets["slim", "batch"]
    batch = _images(3, 12, 12, seed=4)
    out_train, stats = spec.forward(variables, batch, train=True)
    # Training: each image's output depends on the others (the batch's statistics) ...
    alone, _ = spec.forward(variables, batch[:1], train=True)
    assert np.abs(np.asarray(alone) - np.asarray(out_train[:1])).max() > 1e-4
    # ... and the running averages move towards the batch's statistics.
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), stats, variables["batch_stats"])
    assert max(jax.tree.leaves(moved)) > 0
    # Test time: the running averages, so an image's output does not depend on its batch.
    together = spec.forward(variables, batch)[0]
    np.testing.assert_allclose(np.asarray(spec.forward(variables, batch[:1])[0]), np.asarray(together[:1]),
                               rtol=1e-5, atol=1e-5)


def test_norm_params_and_layer_lists(nets):
    spec, variables = nets["johnson", "instance"]
    params = spec.norm_params(variables)
    assert tuple(params) == norm_layer_names()
    assert params["res3_2"][0].shape == (128,)
    np.testing.assert_array_equal(np.asarray(params["up1"][0]), 1.0)  # fresh: scale 1, shift 0
    assert spec.layer_names == layer_names()
    with pytest.raises(ValueError, match="unknown architecture"):
        TransformSpec("huge", "instance")
    with pytest.raises(ValueError, match="unknown normalisation"):
        TransformSpec("slim", "group")
