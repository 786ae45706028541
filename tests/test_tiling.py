"""Tiled optimisation: the same loss and gradient as the untiled run through the same stepper, no seam, memory
bounded by one window, and when it switches on; the feed-forward networks' tiles (explainer.fast_tiling)."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import fast_tiling, tiling
from explainer.config import StyleConfig
from explainer.errors import BudgetError, ConfigError
from explainer.images import resize_longest
from explainer.samples import sample_content, sample_style

CONFIG = StyleConfig(size=112, iterations=6, network="vgg16", weights="random", content_layers=("relu3_1",),
                     style_layers=("relu1_1", "relu2_1", "relu3_1"), print_every=0)


@pytest.fixture(scope="module")
def pair():
    return resize_longest(sample_content(), 112), sample_style("swirl", 80)


def test_the_halo_is_the_reach_of_the_deepest_layer_rounded_to_its_grid():
    # VGG19 relu5_1: 2 convs x 1 + 2 x 2 + 4 x 4 + 4 x 8 + 1 x 16 = 70 px, on a 16 px grid -> 80
    assert tiling.halo_for(("relu1_1", "relu5_1")) == 80
    # VGG16 relu4_2: 2 + 2 x 2 + 3 x 4 + 2 x 8 = 34 -> 40 (8 px grid); relu1_1: 1 px -> 1
    assert tiling.halo_for(("relu4_2",), "vgg16") == 40
    assert tiling.halo_for(("relu1_1",)) == 1


def test_cores_partition_the_image_and_every_window_holds_its_core_and_halo():
    shape, halo, grid = (300, 410), 40, 16
    tiles, (height, width) = tiling.plan_tiles(shape, 96, halo, grid)
    covered = np.zeros(shape, int)
    for t in tiles:
        top, left, h, w = t.window
        assert (h, w) == (height, width) and top % grid == 0 and left % grid == 0
        assert top + h <= shape[0] and left + w <= shape[1]
        y0, x0, y1, x1 = t.core
        covered[y0:y1, x0:x1] += 1
        assert top <= max(0, y0 - halo) and min(shape[0], y1 + halo) <= top + h
        assert left <= max(0, x0 - halo) and min(shape[1], x1 + halo) <= left + w
    assert (covered == 1).all() and len(tiles) == 4 * 5
    # each layer's feature positions: in exactly one core, as many as the whole image has
    layers = ("relu2_1", "relu4_2")
    for name, f in (("relu2_1", 2), ("relu4_2", 8)):
        total = sum(tiling.feature_masks(t, layers)[name].sum() for t in tiles)
        assert total == (shape[0] // f) * (shape[1] // f)


@pytest.fixture(scope="module")
def vgg16():
    from backends import get_backend

    return get_backend("vgg16", weights="random")


def test_a_tiled_run_is_the_untiled_run(pair, vgg16):
    from explainer.optimize import run

    content, style = pair
    whole = list(run(CONFIG, vgg16, content, [style]))
    tiles, _ = tiling.plan_tiles(content.shape[:2], 32, tiling.halo_for(CONFIG.style_layers, "vgg16"), 4)
    assert len(tiles) >= 6
    tiled = list(run(CONFIG, vgg16, content, [style], tile=32))
    assert len(tiled) == len(whole) == CONFIG.iterations
    for a, b in zip(whole, tiled):
        assert b.loss == pytest.approx(a.loss, rel=1e-5)
        for layer, value in a.terms["style"].items():
            assert b.terms["style"][layer] == pytest.approx(value, rel=1e-4)
        assert b.terms["content"]["relu3_1"] == pytest.approx(a.terms["content"]["relu3_1"], rel=1e-4, abs=1e-3)
        assert b.terms["tv"] == pytest.approx(a.terms["tv"], rel=1e-5)
    # stated tolerance: the images agree to 1e-4 (float32 sums in another order), far below one 8-bit level
    assert np.abs(whole[-1].image - tiled[-1].image).max() < 1e-4
    assert np.abs(whole[-1].image - content).max() > 0.02  # and the steps did change the image


def test_a_tiled_result_has_no_seam(pair, vgg16):
    from explainer.optimize import run

    content, style = pair
    config = CONFIG.replace(iterations=25, learning_rate=0.05)
    image = list(run(config, vgg16, content, [style], tile=32))[-1].image
    assert np.abs(image - content).mean() > 0.02
    energy_y = np.square(np.diff(image, axis=0)).sum(axis=(1, 2))  # between rows y and y + 1
    energy_x = np.square(np.diff(image, axis=1)).sum(axis=(0, 2))
    tiles, _ = tiling.plan_tiles(content.shape[:2], 32, tiling.halo_for(CONFIG.style_layers, "vgg16"), 4)
    rows = sorted({t.core[0] - 1 for t in tiles if t.core[0]})
    cols = sorted({t.core[1] - 1 for t in tiles if t.core[1]})
    assert rows and cols
    # gradient energy across the tiles' borders is no higher than across the image's other rows and columns
    assert energy_y[rows].mean() <= 1.25 * np.median(energy_y)
    assert energy_x[cols].mean() <= 1.25 * np.median(energy_x)


def _regions(content, style):
    from explainer.regions import match

    ours, theirs = np.zeros_like(content), np.zeros_like(style)
    ours[:, : content.shape[1] // 3], ours[:, content.shape[1] // 3:] = (1, 0, 0), (0, 0, 1)
    theirs[: style.shape[0] // 2], theirs[style.shape[0] // 2:] = (1, 0, 0), (0, 0, 1)
    return match(ours, theirs)


@pytest.mark.parametrize("with_regions", [False, True])
def test_the_windowed_objective_and_targets_are_the_objective_and_targets(pair, vgg16, with_regions):
    import jax

    from explainer.optimize import compute_targets, loss_spec, make_objective

    content, style = pair
    spec = loss_spec(CONFIG)
    targets = compute_targets(vgg16, spec, content, [style], [1.0])
    regions = _regions(content, style) if with_regions else None
    if regions is not None:
        targets = regions.targets(vgg16, spec, targets, content, style)
    tiled, window = tiling.tiled_targets(vgg16, spec, content, [style], [1.0], 32, regions)
    assert len(tiled.windows.offsets) >= 6
    for mine, theirs in zip(jax.tree.leaves(tiled.targets), jax.tree.leaves(targets)):
        np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=1e-6 * np.abs(theirs).max())
    image = np.clip(content + np.random.default_rng(0).normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    whole = make_objective(vgg16.spec, spec.structure())
    windowed = tiling.windowed_objective(vgg16.spec, spec.structure(), window)
    grad = lambda objective, t: jax.jit(jax.value_and_grad(objective, 1, has_aux=True))(vgg16.params, image, t)
    ((a, terms_a), ga), ((b, terms_b), gb) = grad(whole, targets), grad(windowed, tiled)
    assert float(b) == pytest.approx(float(a), rel=1e-6)
    assert jax.tree.structure(terms_a) == jax.tree.structure(terms_b)
    assert np.abs(ga - gb).max() < 1e-5 * np.abs(ga).max()


@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs-fixed"])
def test_a_tiled_lbfgs_run_is_the_untiled_run(pair, vgg16, optimizer):
    from explainer.optimize import run

    content, style = pair
    config = CONFIG.replace(optimizer=optimizer, iterations=3)
    whole = list(run(config, vgg16, content, [style]))
    tiled = list(run(config, vgg16, content, [style], tile=32))
    assert [b.loss for b in tiled] == pytest.approx([a.loss for a in whole], rel=1e-5)
    # L-BFGS's curvature pairs amplify float rounding more than Adam does: 1e-3, a quarter of an 8-bit level
    assert np.abs(whole[-1].image - tiled[-1].image).max() < 1e-3
    assert np.abs(whole[-1].image - content).max() > 0.05


def test_a_tiled_run_with_regions_ema_scales_and_an_image_term_is_the_untiled_run(pair, vgg16):
    from explainer.optimize import run
    from explainer.photo import photo_term

    content, style = pair
    config = CONFIG.replace(iterations=2, scales=2, ema_decay=0.5)
    regions, terms = _regions(content, style), (photo_term(10.0),)
    whole = list(run(config, vgg16, content, [style], regions=regions, image_terms=terms))
    tiled = list(run(config, vgg16, content, [style], regions=regions, image_terms=terms, tile=32))
    assert [e.scale for e in tiled] == [e.scale for e in whole] == [0, 0, 1, 1]
    for a, b in zip(whole, tiled):
        assert b.loss == pytest.approx(a.loss, rel=1e-5)
        assert b.terms["photo"] == pytest.approx(a.terms["photo"], rel=1e-5) and a.terms["photo"] > 0
        assert np.abs(a.image - b.image).max() < 1e-4
    assert whole[-1].loss != pytest.approx(list(run(config, vgg16, content, [style]))[-1].loss, rel=1e-3)


def test_a_tiled_run_refuses_to_be_recorded_in_one_line(pair, vgg16):
    from explainer.optimize import run
    from explainer.record import Recorder

    content, style = pair
    with pytest.raises(ConfigError, match="^--record cannot record a tiled run") as refused:
        next(run(CONFIG, vgg16, content, [style], snapshots=Recorder(), tile=32))
    assert len(str(refused.value).splitlines()) == 1


def test_a_tiled_gradient_holds_one_window_at_a_time(vgg16):
    import jax

    from explainer.optimize import loss_spec

    spec, rng = loss_spec(CONFIG), np.random.default_rng(1)
    temp = {}
    for side in (96, 192):  # 9 and 36 windows of 56 x 56 px
        image = rng.uniform(size=(side, side, 3)).astype(np.float32)
        tiled, window = tiling.tiled_targets(vgg16, spec, image, [image[:64, :64]], [1.0], 32)
        objective = tiling.windowed_objective(vgg16.spec, spec.structure(), window)
        step = jax.jit(jax.value_and_grad(lambda p, x, t, f=objective: f(p, x, t)[0], argnums=1))
        temp[side] = step.lower(vgg16.params, image, tiled).compile().memory_analysis().temp_size_in_bytes
        assert window == (56, 56)
    # four times the windows: at most a few more image-sized buffers, not four times the activations
    assert temp[192] <= temp[96] + 4 * 192 * 192 * 3 * 4


def test_stylize_tiles_on_request_and_when_the_image_would_not_fit(pair):
    from backends import get_backend
    from explainer.runner import stylize

    content, style = pair
    said = []
    backend = get_backend("vgg16", weights="random")
    tiled = stylize(content, [style], CONFIG.replace(tile_size=48, iterations=3), backend=backend, progress=False,
                    log=said.append)
    assert any(line.startswith("tiled: 48 px tiles") for line in said)
    untiled = stylize(content, [style], CONFIG.replace(iterations=3), backend=backend, progress=False)
    assert np.abs(tiled.image - untiled.image).max() < 1e-4
    assert [h["loss"] for h in tiled.record["history"]] == pytest.approx([h["loss"] for h in untiled.record["history"]],
                                                                        rel=1e-5)
    # automatic: 4096 px needs ~36 GB untiled; 6 GiB allows tiles of a few hundred pixels
    big = StyleConfig(size=4096)
    side = tiling.tile_side(big, (600, 512))
    assert side is not None and 256 <= side <= 1024 and side % 16 == 0
    assert tiling.tile_side(StyleConfig(size=512), (600, 512)) is None
    assert tiling.check_run(big, (600, 512), [(512, 512)]) == side  # allowed, tiled, where untiled is refused
    with pytest.raises(BudgetError, match="does not fit --memory-budget 0.5 GiB"):
        tiling.tile_side(big.replace(memory_budget=0.5), (600, 512))
    # L-BFGS tiles too, in smaller tiles (its memory of image-sized pairs is whole); lbfgs-fixed's 100 pairs do not fit
    mid = StyleConfig(size=2048)
    lbfgs = tiling.tile_side(mid.replace(optimizer="lbfgs"), (600, 512))
    assert lbfgs is not None and 256 <= lbfgs < tiling.tile_side(mid, (600, 512))
    assert tiling.check_run(mid.replace(optimizer="lbfgs", ema_decay=0.9), (600, 512), [(512, 512)]) is not None
    with pytest.raises(BudgetError, match="even in tiles"):
        tiling.check_run(big.replace(optimizer="lbfgs-fixed"), (600, 512), [])
    # whether a method tiles is the method's to say: the side is the same whatever the method
    assert tiling.tile_side(big.replace(method="fast"), (600, 512)) == side


# --------------------------------------------------------------------------- feed-forward networks


@pytest.fixture(scope="module")
def multistyle():
    from backends import get_styliser

    return get_styliser("multistyle", weights="random", seed=1)


@pytest.mark.parametrize("kind", ["multistyle", "arbitrary"])
def test_the_networks_with_their_own_statistics_given_are_the_networks(kind):
    from backends import get_styliser, norm_statistics, transform_with_statistics

    styliser = get_styliser(kind, weights="random", seed=2)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, 24, 36, 3)).astype(np.float32)
    e = rng.dirichlet(np.ones(26), size=1) if kind == "multistyle" else rng.normal(size=(1, 100))
    e = e.astype(np.float32)
    stats = norm_statistics(styliser.spec, styliser.params, x, e)
    assert len(stats) == (18 if kind == "multistyle" else 13)
    mine = transform_with_statistics(styliser.spec, styliser.params, x, e, stats)
    np.testing.assert_allclose(np.asarray(mine), np.asarray(styliser.spec.apply(styliser.params, x, e)), atol=1e-6)


def test_fast_tiles_with_shared_statistics_match_the_whole_image_without_seams(pair, multistyle):
    content = resize_longest(sample_content(), 300)  # 300 x 256
    e = np.zeros(26, np.float32)
    e[3] = 1.0
    whole = np.clip(np.asarray(multistyle.stylise(content, e))[0], 0, 1)
    # statistics of the whole image: the tiles are the whole image's result
    exact = fast_tiling.stylise_tiled(multistyle, content, e, 96, statistics_side=300)
    assert np.abs(exact - whole).max() < 1e-5
    # statistics of a copy at half the size (as for large images): shared by every tile, so the result does not
    # depend on how the image is cut (tiles normalised each by its own statistics would); an untrained network's
    # statistics move with scale more than a trained one's, hence the loose bound against the whole image
    tiled = fast_tiling.stylise_tiled(multistyle, content, e, 96, statistics_side=150)
    assert np.abs(fast_tiling.stylise_tiled(multistyle, content, e, 160, statistics_side=150) - tiled).max() < 1e-5
    assert np.abs(tiled - whole).mean() < 0.06
    tiles, _ = tiling.plan_tiles(content.shape[:2], 96, 64, 4)
    energy_y = np.square(np.diff(tiled, axis=0)).sum(axis=(1, 2))
    rows = sorted({t.core[0] - 1 for t in tiles if t.core[0]})
    assert energy_y[rows].mean() <= 1.25 * np.median(energy_y)


def test_stylize_fast_tiles_a_large_image(pair, multistyle):
    from explainer.runner import stylize

    said = []
    config = StyleConfig(method="fast", model="multistyle:3", size=300, tile_size=96)
    result = stylize(sample_content(), [], config, backend=multistyle, progress=False, log=said.append)
    assert any(line.startswith("tiled: 96 px tiles") for line in said)
    whole = stylize(sample_content(), [], config.replace(tile_size=None), backend=multistyle, progress=False)
    assert result.image.shape == whole.image.shape == (300, 256, 3)
    assert np.abs(result.image - whole.image).max() < 1e-5  # 300 px: the statistics are the whole image's
    assert fast_tiling.fast_tile_side(StyleConfig(method="fast", size=4096), (600, 512)) is not None
    assert fast_tiling.fast_tile_side(StyleConfig(method="fast", size=1024), (600, 512)) is None
