"""The engine and `stylize`: each option changes what it should, on tiny images and random weights."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import ConfigError, StyleConfig, stylize
from explainer.color import keep_luminance_only, match_colors, rgb_to_yiq
from explainer.events import Event, total_of_family
from explainer.optimize import run
from explainer.runner import RECORD_VERSION, NonFiniteLossError

SHALLOW = {"weights": "random", "content_layers": ("relu2_1",), "style_layers": ("relu1_1", "relu2_1"), "print_every": 0}


def quiet(content, style, backend, **changes):
    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 10, **changes})
    return stylize(content, style, config, backend=backend, progress=False, log=lambda m: None)


def test_adam_reduces_the_style_loss(smooth_pair, backend):
    result = quiet(*smooth_pair, backend, iterations=30, init="noise", content_weight=0.0)
    history = result.record["history"]
    first, last = sum(history[0]["style"].values()), sum(history[-1]["style"].values())
    assert last < first / 5
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0


def test_lbfgs_beats_adam_step_for_step(smooth_pair, backend):
    # Ten steps: on this tiny random-weights problem the line search later stalls for a few steps (where
    # depends on XLA's last digits), after which Adam catches up; early on L-BFGS is clearly ahead
    # (10 steps: 0.82 of the start vs Adam's 0.87).
    lbfgs = quiet(*smooth_pair, backend, optimizer="lbfgs", iterations=10, init="noise").record["history"]
    adam = quiet(*smooth_pair, backend, optimizer="adam", iterations=10, init="noise").record["history"]
    assert lbfgs[0]["loss"] == pytest.approx(adam[0]["loss"])
    assert lbfgs[-1]["loss"] < 0.85 * lbfgs[0]["loss"]
    assert lbfgs[-1]["loss"] < 0.95 * adam[-1]["loss"]


def test_history_terms_sum_to_the_total(smooth_pair, backend):
    for entry in quiet(*smooth_pair, backend, iterations=3).record["history"]:
        total = sum(entry["content"].values()) + sum(entry["style"].values()) + entry["tv"]
        assert total == pytest.approx(entry["loss"], rel=1e-5)


def test_runs_are_deterministic_for_a_seed(smooth_pair, backend):
    a = quiet(*smooth_pair, backend, init="noise", seed=3).image
    b = quiet(*smooth_pair, backend, init="noise", seed=3).image
    c = quiet(*smooth_pair, backend, init="noise", seed=4).image
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_content_starts_at_zero_content_loss(smooth_pair, backend):
    first = quiet(*smooth_pair, backend, init="content", iterations=1).record["history"][0]
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in first["content"].values())


def test_zero_iterations_returns_the_starting_image(smooth_pair, backend):
    content, style = smooth_pair
    result = quiet(content, style, backend, iterations=0, init="content")
    np.testing.assert_allclose(result.image, content, atol=1e-6)
    assert result.record["iterations_done"] == 0


def test_coarse_to_fine_visits_every_scale_and_ends_at_size(smooth_pair, backend):
    content, style = smooth_pair
    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 2, "scales": 2})
    assert config.scale_sizes() == (23, 32)
    events = list(run(config, backend, content, [style]))
    assert all(isinstance(e, Event) for e in events)
    assert [e.scale for e in events] == [0, 0, 1, 1] and [e.iteration for e in events] == [1, 2, 3, 4]
    assert events[0].image.shape == (17, 23, 3) and events[-1].image.shape == (24, 32, 3)
    assert all(e.arrays is None for e in events)  # nothing recorded without a snapshot plan


def test_events_carry_the_terms_that_make_the_history(smooth_pair, backend):
    content, style = smooth_pair
    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 3})
    events = list(run(config, backend, content, [style]))
    history = quiet(content, style, backend, iterations=3).record["history"]
    assert [e.history_entry() for e in events] == history
    for event in events:
        assert set(event.terms) == {"content", "style", "tv"}
        assert set(event.terms["style"]) == {"relu1_1", "relu2_1"}
        total = sum(total_of_family(value) for value in event.terms.values())
        assert total == pytest.approx(event.loss, rel=1e-5)


def test_with_keep_colors_every_event_shows_the_content_colours(smooth_pair, backend):
    content, style = smooth_pair
    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 4, "colors": "keep", "init": "noise"})
    events = list(run(config, backend, content, [style]))
    target = rgb_to_yiq(content)[..., 1:]
    for event in events:
        assert np.abs(rgb_to_yiq(event.image)[..., 1:] - target).mean() < 0.02
    result = stylize(content, style, config, backend=backend, progress=False, log=lambda m: None)
    np.testing.assert_array_equal(events[-1].image, result.image)  # the last preview is the result


def test_ema_shows_an_average_of_the_iterates(smooth_pair, backend):
    content, style = smooth_pair
    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 2, "ema_decay": 0.5, "init": "noise"})
    plain = [p.image for p in run(config.replace(ema_decay=None), backend, content, [style])]
    averaged = list(run(config, backend, content, [style]))[-1].image
    # Bias-corrected EMA of x1, x2 with decay 0.5: (0.5 * x1 + x2) / 1.5 (before clipping).
    np.testing.assert_allclose(averaged, (0.5 * plain[0] + plain[1]) / 1.5, atol=1e-5)


def test_style_blend_weights_change_the_target(smooth_pair, backend):
    content, style = smooth_pair
    inverted = 1.0 - style
    a = quiet(content, [style, inverted], backend, style_blend=(1.0, 0.0), iterations=1).record["history"][0]
    b = quiet(content, [style], backend, iterations=1).record["history"][0]
    assert a["style"] == pytest.approx(b["style"], rel=1e-5)  # weight 0 on the second style: same target


def test_luminance_only_keeps_the_content_chroma(smooth_pair, backend):
    content, style = smooth_pair
    kept = rgb_to_yiq(quiet(content, style, backend, colors="keep", init="noise").image)
    free = rgb_to_yiq(quiet(content, style, backend, colors="none", init="noise").image)
    target = rgb_to_yiq(content)
    # Exact up to clipping back into the RGB cube; without "keep" the chroma is far off.
    kept_error = np.abs(kept[..., 1:] - target[..., 1:]).mean()
    assert kept_error < 0.02 < np.abs(free[..., 1:] - target[..., 1:]).mean()
    assert np.abs(kept[..., 0] - free[..., 0]).mean() < 0.02  # the luminance is the stylised one


def test_keep_luminance_only_golden():
    grey = np.full((1, 1, 3), 0.5, np.float32)
    red = np.array([[[0.8, 0.2, 0.2]]], np.float32)
    out = keep_luminance_only(grey, red)
    # Y from grey (0.5), I/Q from red: the result is a red of luminance 0.5.
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 1:], rgb_to_yiq(red)[..., 1:], atol=1e-6)


def test_match_colors_copies_mean_and_covariance():
    rng = np.random.default_rng(0)
    source = rng.random((20, 20, 3)).astype(np.float32) * 0.4 + 0.1
    reference = np.clip(rng.normal([0.6, 0.4, 0.3], [0.08, 0.05, 0.03], (30, 30, 3)), 0, 1).astype(np.float32)
    matched = match_colors(source, reference).reshape(-1, 3)
    np.testing.assert_allclose(matched.mean(0), reference.reshape(-1, 3).mean(0), atol=1e-3)
    np.testing.assert_allclose(np.cov(matched, rowvar=False), np.cov(reference.reshape(-1, 3), rowvar=False), atol=2e-4)


def test_interrupt_returns_the_latest_image(smooth_pair, backend):
    content, style = smooth_pair
    seen = []

    def stop_at_three(event):
        seen.append(event.iteration)
        if event.iteration == 3:
            raise KeyboardInterrupt

    config = StyleConfig(**{**SHALLOW, "size": 32, "iterations": 10})
    result = stylize(content, style, config, backend=backend, progress=False, on_step=stop_at_three, log=lambda m: None)
    assert result.record["interrupted"] is True and result.record["iterations_done"] == 3
    assert seen == [1, 2, 3] and result.record["failed"] is None


def test_record_carries_provenance_and_is_strict_json(smooth_pair, backend):
    import json

    result = quiet(*smooth_pair, backend, iterations=2)
    record = result.record
    assert record["version"] == RECORD_VERSION == 2 and record["failed"] is None
    assert {"software", "config", "network", "weights"} <= set(record) and "backend" not in record
    assert record["network"]["name"] == "vgg16" and record["network"]["pooling"] == "max"
    assert record["weights"]["name"] == "random"
    assert {"python", "jax", "numpy"} <= set(record["software"])
    assert StyleConfig.from_dict(record["config"]) == StyleConfig(**{**SHALLOW, "size": 32, "iterations": 2})
    json.loads(json.dumps(record, allow_nan=False))  # strict JSON


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_a_non_finite_loss_fails_with_the_last_finite_image(smooth_pair, backend):
    import json

    content, style = smooth_pair
    with pytest.raises(NonFiniteLossError, match="the loss became") as failure:
        quiet(content, style, backend, style_weight=1e39, iterations=3)
    assert isinstance(failure.value, ConfigError)
    result = failure.value.result
    assert result.record["failed"] and "the loss became" in result.record["failed"]
    # 1e39 overflows float32 at once: no step was finite, so the result is the starting image
    assert result.record["history"] == [] and result.record["iterations_done"] == 0
    np.testing.assert_allclose(result.image, content, atol=1e-6)
    json.loads(json.dumps(result.record, allow_nan=False))


def test_init_from_a_file(tmp_path, smooth_pair, backend):
    from explainer.images import save_image

    content, style = smooth_pair
    start = save_image(np.full((6, 8, 3), 0.25), tmp_path / "start.png")
    result = quiet(content, style, backend, init=str(start), iterations=0)
    np.testing.assert_allclose(result.image, 0.25, atol=1 / 255)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": "sgd"}, "optimizer must be one of adam, lbfgs, lbfgs-fixed, not 'sgd'"),
        ({"content_layers": (), "style_layers": ()}, "choose at least one content or style layer"),
        ({"tv_weight": float("nan")}, "tv_weight must be finite, not nan"),
        ({"style_weight": -1.0}, "style_weight must be >= 0, not -1"),
        ({"ema_decay": 1.0}, "ema_decay must be > 0 and <= 0.9999, not 1"),
        ({"ema_decay": 0.0}, "ema_decay must be > 0 and <= 0.9999, not 0"),
        ({"style_blend": (0.0, 0.0)}, "style_blend must have a positive sum"),
        ({"style_blend": (-1.0, 2.0)}, "style_blend must be >= 0, not -1"),
        ({"iterations": -1}, "iterations must be 0 to 1000000, not -1"),
        ({"iterations": 2_000_000}, "iterations must be 0 to 1000000, not 2000000"),
        ({"iterations": 2.5}, "iterations must be a whole number, not 2.5"),
        ({"size": 8}, "size must be >= 16, not 8"),
        ({"style_layer_weights": (1.0, 2.0)}, "style_layer_weights has 2 values for 5 layers"),
    ],
)
def test_config_rejects_what_cannot_work(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StyleConfig(**changes)


def test_config_round_trips_through_json_dict():
    config = StyleConfig(style_layers=("relu1_1",), style_layer_weights=(2.0,), colors="match", network="vgg16")
    assert StyleConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown setting 'sizee'"):
        StyleConfig.from_dict({"sizee": 3})


def test_config_reads_the_old_name_of_network():
    # Records before version 2 (and older code) call the network "backend".
    old_dict = {("backend" if k == "network" else k): v for k, v in StyleConfig(network="vgg16").to_dict().items()}
    old = StyleConfig.from_dict(old_dict)
    assert old.network == "vgg16" and "backend" not in old.to_dict()
    assert StyleConfig().replace(backend="vgg16") == StyleConfig(network="vgg16")
    assert not hasattr(StyleConfig(), "backend")


def test_lbfgs_clip_is_straight_through():
    import jax
    import jax.numpy as jnp

    from explainer.optimize import _clip_straight_through

    x = jnp.array([-0.5, 0.3, 1.7])
    np.testing.assert_allclose(_clip_straight_through(x), [0.0, 0.3, 1.0])
    # out-of-range pixels keep their gradient, so L-BFGS can bring them back
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(_clip_straight_through(v) * 2.0))(x), [2.0, 2.0, 2.0])


def test_changing_a_loss_weight_reuses_the_compiled_step(smooth_pair, backend):
    from explainer.losses import LossSpec, Targets, loss_terms, sum_terms
    from explainer.optimize import compute_targets, make_stepper

    content, style = smooth_pair
    light = LossSpec(content=(("relu2_1", 1.0),), style=(("relu1_1", 10.0),), tv_weight=1e-3)
    heavy = LossSpec(content=(("relu2_1", 1.0),), style=(("relu1_1", 1e4),), tv_weight=1e-3)
    stepper_light, stepper_heavy = make_stepper(backend, light), make_stepper(backend, heavy)
    assert stepper_light.step is stepper_heavy.step  # one jitted function for both weightings
    losses = {}
    for spec, stepper in ((light, stepper_light), (heavy, stepper_heavy)):
        targets = compute_targets(backend, spec, content, [style], [1.0])
        _, losses[spec], _ = stepper.step(backend.params, stepper.init(content), targets)
        # and the loss is the one these weights give, computed independently
        features = backend.features(content, spec.layers)
        plain = Targets(content=targets.content, style=targets.style)  # no weights: the spec's own
        assert float(losses[spec]) == pytest.approx(float(sum_terms(loss_terms(spec, features, plain, content))), rel=1e-5)
    assert stepper_light.step._cache_size() == 1  # compiled once
    assert float(losses[heavy]) > 100 * float(losses[light]) > 0


def test_step_refuses_targets_without_weights(smooth_pair, backend):
    from explainer.losses import LossSpec, Targets
    from explainer.optimize import compute_targets, make_stepper

    content, style = smooth_pair
    spec = LossSpec(content=(("relu1_1", 1.0),), style=(("relu1_1", 2.0),))
    targets = compute_targets(backend, spec, content, [style], [1.0])
    stepper = make_stepper(backend, spec)
    with pytest.raises(ValueError, match="carry no loss weights"):
        stepper.step(backend.params, stepper.init(content), Targets(targets.content, targets.style))


def test_changing_the_learning_rate_reuses_the_compiled_step(smooth_pair, backend):
    from explainer.losses import LossSpec
    from explainer.optimize import compute_targets, make_stepper

    content, style = smooth_pair
    spec = LossSpec(content=(("relu2_1", 1.0),), style=(("relu1_1", 10.0),), tv_weight=1e-3)
    targets = compute_targets(backend, spec, content, [style], [1.0])
    slow, fast = make_stepper(backend, spec, "adam", 0.005), make_stepper(backend, spec, "adam", 0.1)
    assert slow.step is fast.step  # one jitted function for both rates
    moves = {}
    for rate, stepper in ((0.005, slow), (0.1, fast)):
        image = np.asarray(stepper.step(backend.params, stepper.init(content), targets)[0].image)
        inside = (image > 0) & (image < 1)  # not clipped
        moves[rate] = np.where(inside, image - content, np.nan)
        # Adam's first step is lr * g / (|g| + eps): every pixel moves by the rate
        # (less only where the gradient is as small as eps)
        assert np.nanmedian(np.abs(moves[rate])) == pytest.approx(rate, rel=1e-3)
    # the same gradient, so the same moves, scaled by the rates' ratio
    both = ~np.isnan(moves[0.005] + moves[0.1])
    np.testing.assert_allclose(moves[0.1][both], 20 * moves[0.005][both], rtol=1e-3, atol=1e-6)
    assert slow.step._cache_size() == 1  # compiled once


def test_lbfgs_fixed_takes_unit_steps_along_the_two_loop_direction(smooth_pair, backend):
    """Three steps of `lbfgs-fixed` against L-BFGS written out in NumPy (Nocedal & Wright, Algorithm 7.4)."""
    import jax

    from explainer.losses import LossSpec
    from explainer.optimize import _clip_straight_through, compute_targets, make_objective, make_stepper

    content, style = smooth_pair
    spec = LossSpec(content=(("relu2_1", 1.0),), style=(("relu1_1", 10.0), ("relu2_1", 10.0)), tv_weight=1e-3)
    targets = compute_targets(backend, spec, content, [style], [1.0])
    objective = make_objective(backend.spec, spec)
    grad = jax.jit(jax.grad(lambda x: objective(backend.params, _clip_straight_through(x), targets)[0]))
    stepper = make_stepper(backend, spec, "lbfgs-fixed")
    state, iterates = stepper.init(content), [content.astype(np.float64)]
    for _ in range(3):
        state, loss, terms = stepper.step(backend.params, state, targets)
        iterates.append(np.asarray(state.image, np.float64))
    # The reported loss and terms are those of the clipped iterate the step evaluated.
    total, expected_terms = objective(backend.params, np.clip(iterates[2], 0, 1).astype(np.float32), targets)
    assert float(loss) == pytest.approx(float(total), rel=1e-5)
    for layer, value in expected_terms["style"].items():
        assert float(terms["style"][layer]) == pytest.approx(float(value), rel=1e-5)

    g = [np.asarray(grad(np.float32(x)), np.float64).ravel() for x in iterates[:3]]
    x = [v.ravel() for v in iterates]
    expected = x[0] - g[0] * min(1.0, 1.0 / np.linalg.norm(g[0]))  # the first step: length at most 1
    np.testing.assert_allclose(x[1], expected, atol=1e-5)
    s, y = [x[1] - x[0], x[2] - x[1]], [g[1] - g[0], g[2] - g[1]]
    for k in (1, 2):  # two-loop recursion over the k pairs so far, H0 = <s, y>/<y, y> I
        q, alphas = g[k].copy(), []
        for si, yi in zip(reversed(s[:k]), reversed(y[:k])):
            alphas.append(si @ q / (yi @ si))
            q -= alphas[-1] * yi
        r = q * (s[k - 1] @ y[k - 1]) / (y[k - 1] @ y[k - 1])
        for (si, yi), alpha in zip(zip(s[:k], y[:k]), reversed(alphas)):
            r += si * (alpha - yi @ r / (yi @ si))
        np.testing.assert_allclose(x[k + 1], x[k] - r, atol=2e-4 * np.abs(r).max())


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs", "lbfgs-fixed"])
def test_tiling_is_only_another_objective_for_the_one_stepper(smooth_pair, backend, optimizer):
    from explainer import tiling
    from explainer.losses import LossSpec
    from explainer.optimize import compute_targets, make_stepper

    content, style = smooth_pair
    spec = LossSpec(content=(("relu2_1", 1.0),), style=(("relu1_1", 10.0), ("relu2_1", 5.0)), tv_weight=1e-3)
    untiled = make_stepper(backend, spec, optimizer)
    assert make_stepper(backend, spec, optimizer, window=None).step is untiled.step  # tile=None: the same program
    tiled_targets, window = tiling.tiled_targets(backend, spec, content, [style], [1.0], tile=8)
    assert len(tiled_targets.windows.offsets) > 1
    tiled = make_stepper(backend, spec, optimizer, window=window)
    assert tiled.step is not untiled.step and tiled.carries_state_across_scales == untiled.carries_state_across_scales
    a, b = untiled.init(content), tiled.init(content)
    targets = compute_targets(backend, spec, content, [style], [1.0])
    for _ in range(2):
        a, loss_a, terms_a = untiled.step(backend.params, a, targets)
        b, loss_b, terms_b = tiled.step(backend.params, b, tiled_targets)
        assert float(loss_b) == pytest.approx(float(loss_a), rel=1e-5)
        assert float(terms_b["style"]["relu1_1"]) == pytest.approx(float(terms_a["style"]["relu1_1"]), rel=1e-5)
    assert np.abs(np.asarray(a.image) - np.asarray(b.image)).max() < 1e-4
    compiled = tiled.step._cache_size()
    tiled.step(backend.params, b, tiled_targets)
    assert tiled.step._cache_size() == compiled  # compiled once per image shape, as the untiled step
