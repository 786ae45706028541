"""The matting Laplacian operator against pymatting's sparse matrix, and the photorealism measures and post-processes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explainer import matting

pymatting = pytest.importorskip("pymatting")


def channels(matrix, v: np.ndarray) -> np.ndarray:
    """`M v` per channel with a scipy matrix in row-major pixel order."""
    h, w, c = v.shape
    return np.stack([matrix @ v[..., k].reshape(-1) for k in range(c)], -1).reshape(h, w, c)


@pytest.mark.parametrize("shape", [(3, 3), (7, 9), (20, 17), (16, 31)])
def test_matvec_equals_pymatting(shape):
    rng = np.random.default_rng(sum(shape))
    image, v = rng.random((*shape, 3)), rng.random((*shape, 3))
    laplacian = pymatting.cf_laplacian(image, epsilon=1e-7, radius=1)
    got = np.asarray(matting.laplacian_matvec(matting.matting_guide(image), jnp.asarray(v, jnp.float32)))
    expected = channels(laplacian, v)
    np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())


def test_matvec_of_one_channel_and_another_epsilon():
    rng = np.random.default_rng(1)
    image, v = rng.random((9, 11, 3)), rng.random((9, 11))
    laplacian = pymatting.cf_laplacian(image, epsilon=1e-2, radius=1)
    got = matting.laplacian_matvec(matting.matting_guide(image, epsilon=1e-2), jnp.asarray(v, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), (laplacian @ v.reshape(-1)).reshape(9, 11), atol=1e-5)


def test_energy_and_its_gradient():
    rng = np.random.default_rng(2)
    image, v = rng.random((12, 10, 3)), rng.random((12, 10, 3)).astype(np.float32)
    laplacian = pymatting.cf_laplacian(image, epsilon=1e-7, radius=1)
    guide = matting.matting_guide(image)
    energy = matting.matting_energy(jnp.asarray(v), guide)
    expected = sum(v[..., k].reshape(-1) @ laplacian @ v[..., k].reshape(-1) for k in range(3))
    np.testing.assert_allclose(float(energy), expected, rtol=1e-5)
    twice = 2 * channels(laplacian, v.astype(np.float64))
    np.testing.assert_allclose(np.asarray(jax.grad(matting.matting_energy)(jnp.asarray(v), guide)), twice,
                               atol=1e-4 * np.abs(twice).max())
    # Plain autodiff of v . Mv agrees (M is symmetric): the custom VJP only saves the second product.
    plain = jax.grad(lambda x: jnp.sum(x * matting.laplacian_matvec(guide, x)))(jnp.asarray(v))
    np.testing.assert_allclose(np.asarray(plain), twice, atol=1e-4 * np.abs(twice).max())


def test_symmetric_rows_sum_to_zero_and_positive():
    rng = np.random.default_rng(3)
    image = rng.random((8, 13, 3))
    guide = matting.matting_guide(image)
    u, v = (jnp.asarray(rng.random((8, 13)), jnp.float32) for _ in range(2))
    mv = lambda x: matting.laplacian_matvec(guide, x)
    np.testing.assert_allclose(float(jnp.sum(u * mv(v))), float(jnp.sum(v * mv(u))), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(mv(jnp.full((8, 13), 0.7))), 0.0, atol=1e-5)  # rows sum to zero
    assert float(jnp.sum(v * mv(v))) > 0
    laplacian = pymatting.cf_laplacian(image, epsilon=1e-7, radius=1)
    assert abs(laplacian - laplacian.T).max() < 1e-12 and np.abs(laplacian.sum(axis=1)).max() < 1e-12


def test_an_affine_function_of_the_photo_costs_nothing():
    rng = np.random.default_rng(4)
    image = rng.random((15, 14, 3))
    affine = image @ rng.normal(size=(3, 3)) + rng.normal(size=3)
    guide = matting.matting_guide(image)
    random = float(matting.matting_energy(jnp.asarray(rng.random((15, 14, 3)), jnp.float32), guide))
    assert float(matting.matting_energy(jnp.asarray(affine, jnp.float32), guide)) < 1e-6 * random
    assert matting.affine_residual(affine, image) < 1e-6


def test_flat_and_two_colour_windows_are_exact():
    """Nearly singular window covariances (flat areas, an edge between two flat colours): our whitened
    float64 set-up stays exact; it agrees with pymatting to pymatting's own float64 accuracy there."""
    image = np.zeros((10, 12, 3))
    image[:, 6:] = [0.2, 0.5, 0.9]
    image[:, :6] = 0.1
    v = np.random.default_rng(5).random((10, 12, 3))
    got = np.asarray(matting.laplacian_matvec(matting.matting_guide(image), jnp.asarray(v, jnp.float32)))
    expected = channels(pymatting.cf_laplacian(image, epsilon=1e-7, radius=1), v)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    # In a flat window every unit of variance is unexplained; a constant output costs nothing.
    constant = np.asarray(matting.laplacian_matvec(matting.matting_guide(image), jnp.full((10, 12, 3), 0.3)))
    np.testing.assert_allclose(constant, 0.0, atol=1e-5)


def test_too_small_for_a_window():
    with pytest.raises(ValueError, match="3x3"):
        matting.matting_guide(np.zeros((2, 5, 3)))


def test_residual_measure_and_map():
    rng = np.random.default_rng(6)
    content, noise = rng.random((16, 18, 3)), rng.random((16, 18, 3))
    # Random output against a random photo: of 8 degrees of freedom per window (9 pixels less the mean)
    # an affine map of 3 colours explains 3, so 5/8 is left on average.
    assert 0.5 < matting.affine_residual(noise, content) < 0.75
    guide = matting.matting_guide(content)
    energy = float(matting.matting_energy(jnp.asarray(noise, jnp.float32), guide))
    np.testing.assert_allclose(matting.residual_map(noise, content).sum(), energy / 9, rtol=1e-4)
    assert matting.residual_map(noise, content)[0].sum() == 0  # border centres have no window
    with pytest.raises(ValueError, match="differ in size"):
        matting.affine_residual(noise[1:], content)


def test_sliced_wasserstein_by_hand():
    rng = np.random.default_rng(7)
    a = rng.random((20, 20, 3))
    assert matting.sliced_wasserstein(a, a) == 0
    shift = np.array([0.1, -0.2, 0.05])
    directions = np.random.default_rng(0).normal(size=(3, 64))
    directions /= np.linalg.norm(directions, axis=0)
    # A colour shift moves every projected quantile by shift . u.
    expected = np.sqrt(np.mean(np.square(shift @ directions)))
    np.testing.assert_allclose(matting.sliced_wasserstein(a + shift, a), expected, rtol=1e-6)
    style = rng.random((10, 30, 3)) ** 3
    assert matting.colour_distance(a, a, style) == pytest.approx(1.0)
    assert matting.colour_distance(style, a, style) == 0.0


def painterly(rng, content):
    """The photo with strokes of new texture: what a painterly result does to a photo."""
    return np.clip(content + 0.15 * rng.normal(size=content.shape), 0, 1)


def smooth_photo(h=24, w=28):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return np.stack([x, y, 0.5 + 0.3 * np.sin(6 * x * y)], -1)


def test_smoothing_makes_a_painterly_image_locally_affine_and_keeps_its_colours():
    rng = np.random.default_rng(8)
    content = smooth_photo()
    content = np.clip(content + 0.02 * rng.normal(size=content.shape), 0, 1)  # a photo has some texture
    painted = painterly(rng, content) * [1.0, 0.8, 0.6]  # recoloured and painted over
    smoothed = matting.smooth(painted, content, strength=1e-2)
    assert matting.affine_residual(smoothed, content) < 0.25 * matting.affine_residual(painted, content)
    assert np.abs(smoothed.mean((0, 1)) - painted.mean((0, 1))).max() < 0.02  # the colours stay
    assert matting.sliced_wasserstein(smoothed, painted) < 0.5 * matting.sliced_wasserstein(content, painted)
    # It solves (M + lambda I) x = lambda y.
    guide = matting.matting_guide(content, 1e-4)
    x = jnp.asarray(smoothed, jnp.float32)
    lhs = matting.laplacian_matvec(guide, x) + 1e-2 * x
    inside = (smoothed > 1e-3) & (smoothed < 1 - 1e-3)  # the clip to [0, 1] aside
    np.testing.assert_allclose(np.asarray(lhs)[inside], 1e-2 * painted[inside], atol=2e-4)


def test_guided_filter_keeps_an_affine_map_and_smooths_texture():
    rng = np.random.default_rng(9)
    content = smooth_photo()
    content = np.clip(content + 0.02 * rng.normal(size=content.shape), 0, 1)
    affine = np.clip(content @ np.diag([0.9, 0.7, 0.5]) + 0.05, 0, 1)
    np.testing.assert_allclose(np.asarray(matting.guided_filter(affine, content, 2, 1e-6)), affine, atol=2e-3)
    painted = painterly(rng, content)
    filtered = np.asarray(matting.guided_filter(painted, content))
    assert matting.affine_residual(filtered, content) < 0.5 * matting.affine_residual(painted, content)
    assert np.abs(filtered.mean((0, 1)) - painted.mean((0, 1))).max() < 0.02
    assert matting.post_process(painted, content, "none") is painted
    with pytest.raises(ValueError, match="unknown post-process"):
        matting.post_process(painted, content, "blur")


def test_box_mean_by_hand():
    x = jnp.arange(12.0).reshape(3, 4)
    # Corner (0, 0): the mean of x[0:2, 0:2] = (0 + 1 + 4 + 5) / 4.
    assert float(matting.box_mean(x, 1)[0, 0]) == pytest.approx(2.5)
    assert float(matting.box_mean(x, 1)[1, 1]) == pytest.approx(float(x[0:3, 0:3].mean()))


@pytest.mark.slow
def test_the_term_runs_at_1024_px_without_a_matrix():
    """O(N) memory: a 1024 x 1024 photo's guide is 9 x 3 numbers per pixel (an N x N matrix would be 4 TB)."""
    rng = np.random.default_rng(10)
    image = rng.random((1024, 1024, 3)).astype(np.float32)
    guide = matting.matting_guide(image)
    assert guide["z"].shape == (1024, 1024, 9, 3)
    energy, grad = jax.jit(jax.value_and_grad(matting.photo_loss))(jnp.asarray(image), guide)
    assert np.isfinite(float(energy)) and grad.shape == image.shape
