"""Figures of the feed-forward stylisers (explainer.figures_fast), with random-weight networks at tiny sizes."""

from __future__ import annotations

import numpy as np
import pytest

from backends import get_styliser
from explainer import fast
from explainer import figures_fast as ff


@pytest.fixture(scope="module")
def arbitrary():
    return get_styliser("arbitrary", weights="random", seed=1)


@pytest.fixture(scope="module")
def multistyle():
    return get_styliser("multistyle", weights="random", seed=2)


@pytest.fixture(scope="module")
def content():
    y, x = np.mgrid[0:20, 0:24] / 24.0
    return np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def styles():
    rng = np.random.default_rng(0)
    return {f"s{i}": rng.uniform(size=(40 + 8 * i, 48, 3)).astype(np.float32) for i in range(4)}


def test_pca_coordinates_equal_numpys_svd():
    x = np.random.default_rng(3).normal(size=(7, 5)) * [3.0, 1.0, 0.5, 0.2, 0.1]
    result = ff.pca(x)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(result.coords), np.abs(u[:, :2] * s[:2]), atol=1e-10)
    np.testing.assert_allclose(np.abs(result.components), np.abs(vt[:2]), atol=1e-12)
    np.testing.assert_allclose(result.coords, centred @ result.components.T, atol=1e-12)
    np.testing.assert_allclose(result.explained, s[:2] ** 2 / np.sum(s**2))
    # Signs are fixed: each component's largest entry is positive.
    assert all(c[np.argmax(np.abs(c))] > 0 for c in result.components)
    np.testing.assert_allclose(ff.pca(-x).components, result.components)  # the same directions for -x


def test_pca_of_too_few_points_pads_with_zeros():
    result = ff.pca(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(result.coords, [[0.0, 0.0]])
    np.testing.assert_array_equal(result.explained, [0.0, 0.0])
    two = ff.pca(np.array([[0.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_allclose(two.coords, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(two.explained, [1.0, 0.0])
    with pytest.raises(ValueError, match="N >= 1"):
        ff.pca(np.zeros((0, 3)))


def test_embedding_map_plots_the_pca_of_the_embeddings(arbitrary, multistyle, styles):
    user = {"mine": styles.pop("s3")}
    embeddings = np.asarray(arbitrary.embed(np.stack([fast.style_square(i) for i in [*styles.values(), user["mine"]]])))
    np.testing.assert_allclose(ff.style_embeddings(arbitrary, {**styles, **user}), embeddings, rtol=1e-6)
    expected = ff.pca(embeddings).coords
    fig = ff.embedding_map(arbitrary, styles, user, multistyle=multistyle)
    left, right = fig.axes[:2]
    points = [c.get_offsets() for c in left.collections]
    np.testing.assert_allclose(np.concatenate(points), expected, rtol=1e-5, atol=1e-6)
    assert [len(p) for p in points] == [3, 1]  # style images (circles), the user's (triangles)
    np.testing.assert_allclose(right.collections[0].get_offsets(), ff.pca(ff.builtin_vectors(multistyle)).coords,
                               rtol=1e-5, atol=1e-6)
    assert "random weights (seed 1)" in fig.get_suptitle()
    assert "PC1 (" in left.get_xlabel()
    with pytest.raises(ValueError, match="at least one image"):
        ff.embedding_map(arbitrary, {})


def test_builtin_vectors_are_each_styles_scales_then_shifts(multistyle):
    vectors = ff.builtin_vectors(multistyle)
    params = multistyle.norm_params(np.eye(26, dtype=np.float32)[5])
    layers = [n for n in multistyle.layer_names if n in params]
    expected = np.concatenate([np.asarray(params[n][0])[0] for n in layers] + [np.asarray(params[n][1])[0] for n in layers])
    assert vectors.shape == (26, expected.size)
    np.testing.assert_allclose(vectors[5], expected, rtol=1e-6)


def test_interpolation_ends_are_the_network_at_a_and_b(arbitrary, content):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=100).astype(np.float32), rng.normal(size=100).astype(np.float32)
    t, vectors = ff.interpolate(a, b, 5)
    np.testing.assert_allclose(t, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(vectors[2], (a + b) / 2, rtol=1e-6)
    images = ff.interpolation_images(arbitrary, content, a, b, 5)
    at = lambda e: np.clip(np.asarray(arbitrary.stylise(content, e))[0], 0, 1)
    np.testing.assert_allclose(images[0], at(a), atol=1e-5)
    np.testing.assert_allclose(images[-1], at(b), atol=1e-5)
    np.testing.assert_allclose(images[2], at((a + b) / 2), atol=1e-5)
    assert not np.allclose(images[0], images[-1])
    fig = ff.interpolation_strip(arbitrary, content, a, b, 5, names=("swirl", "mosaic"))
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images[0])
    assert fig.axes[-1].get_title() == "t = 1.00\nmosaic"
    with pytest.raises(ValueError, match="differ in length"):
        ff.interpolate(a, b[:3], 3)


def test_interpolating_builtin_styles_is_the_weighted_network(multistyle, content):
    a, b = np.eye(26, dtype=np.float32)[[3, 12]]
    images = ff.interpolation_images(multistyle, content, a, b, 3)
    blend = fast.multistyle_vector(fast.parse_model("multistyle:3=0.5,12=0.5"))
    np.testing.assert_allclose(images[1], np.clip(np.asarray(multistyle.stylise(content, blend))[0], 0, 1), atol=1e-5)


def test_norm_table_and_figure_show_the_scale_and_shift(arbitrary):
    e1, e2 = np.random.default_rng(5).normal(size=(2, 100)).astype(np.float32)
    table = ff.norm_table(arbitrary, e1)
    params = arbitrary.norm_params(e1)
    assert list(table) == [n for n in arbitrary.layer_names if n in params]
    for name, (scale, shift) in table.items():
        np.testing.assert_array_equal(scale, np.asarray(params[name][0])[0])
        np.testing.assert_array_equal(shift, np.asarray(params[name][1])[0])
    fig = ff.norm_params_figure(arbitrary, {"one": e1, "two": e2})
    other = ff.norm_table(arbitrary, e2)
    shift_bars = fig.axes[5]  # rows scale, shift; columns one, two, difference
    assert shift_bars.get_title() == "one vs two: shift"
    expected = [np.sqrt(np.mean((table[n][1] - other[n][1]) ** 2)) for n in table]
    np.testing.assert_allclose([p.get_width() for p in shift_bars.patches], expected, rtol=1e-6)
    strip = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(strip[0, :len(table["residual1_conv1"][0])], table["residual1_conv1"][0], rtol=1e-6)
    assert np.ma.is_masked(strip) or np.isnan(np.asarray(strip)[-1, -1])  # expand3 has 3 channels: the rest blank


def test_top_channels_and_the_activation_figure(arbitrary, content):
    act = np.zeros((4, 4, 5), np.float32)
    act[..., 3], act[..., 1], act[0, 0, 4] = 2.0, -1.0, 0.5
    channels, maps = ff.top_channels(act, 3)
    assert list(channels) == [3, 1, 4]
    np.testing.assert_array_equal(maps, act[..., [3, 1, 4]])
    embedding = np.random.default_rng(6).normal(size=100).astype(np.float32)
    fig = ff.layer_activations(arbitrary, content, embedding, layers=["contract2", "expand3"], channels=2)
    acts = arbitrary.activations(content, embedding, ["contract2", "expand3"])
    picked, expected = ff.top_channels(np.asarray(acts["contract2"])[0], 2)
    rows = np.asarray(fig.axes).reshape(2, 3)
    np.testing.assert_allclose(rows[0, 1].images[0].get_array(), expected[..., 0], rtol=1e-6)
    assert rows[0, 1].get_title() == f"ch {picked[0]}"
    assert expected.shape[:2] == (10, 12)  # contract2 halves the 20x24 content


def test_builtin_styles_are_the_one_hot_networks(multistyle, content):
    fig = ff.builtin_styles(multistyle, content)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 26 and shown[7].get_title() == "multistyle:7"
    expected = np.clip(np.asarray(multistyle.stylise(content, np.eye(26, dtype=np.float32)[7]))[0], 0, 1)
    np.testing.assert_allclose(shown[7].images[0].get_array(), expected, atol=1e-5)


def test_styliser_line_names_the_weights(arbitrary, multistyle):
    assert ff.styliser_line(arbitrary) == "arbitrary-style network (Ghiasi et al. 2017) · random weights (seed 1)"
    assert ff.styliser_line(multistyle).startswith("26-style network (Dumoulin et al. 2017)")
