"""Recording: the trace round-trips, its numbers agree with the loss and with independent computations."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from explainer import StyleConfig, stylize
from explainer.cli import main
from explainer.images import save_image
from explainer.losses import total_variation
from explainer.record import RecordSpec, Trace, channel_summary

CONFIG = StyleConfig(
    weights="random", size=32, iterations=7, print_every=0,
    content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), style_layer_weights=(1.0, 0.5),
)


@pytest.fixture(scope="module")
def result(backend, images):
    return stylize(*images, CONFIG, backend=backend, progress=False, log=lambda m: None,
                   record=RecordSpec(every=3, top_k=None))


def test_a_recorder_keeps_what_the_events_of_a_run_carry(result, backend, images):
    from explainer.optimize import run
    from explainer.record import Recorder

    content, style = images
    recorder = Recorder(RecordSpec(every=3, top_k=None))
    events = []
    for event in run(CONFIG, backend, content, [style], snapshots=recorder):
        recorder.observe(event)  # the consumer hands every event to the recorder
        events.append(event)
    assert [e.iteration for e in events if e.arrays is not None] == [1, 4, 7]
    assert {"image", "gram/relu1_1", "stats/relu2_1"} <= set(events[0].arrays)
    trace = recorder.trace(**{k: result.trace.manifest[k] for k in ("config", "network", "weights")})
    assert trace.iterations == result.trace.iterations and set(trace.arrays) == set(result.trace.arrays)
    np.testing.assert_allclose(trace.gram(4, "relu1_1"), result.trace.gram(4, "relu1_1"), rtol=1e-5)
    # a recorder that is not shown the events keeps only the reference Gram matrices
    unseen = Recorder(RecordSpec(every=3))
    for _ in run(CONFIG, backend, content, [style], snapshots=unseen):
        pass
    assert unseen.snapshots == [] and not any(k.startswith("iter") for k in unseen.arrays)


def test_trace_manifest_has_the_provenance_of_the_run(result):
    manifest = result.trace.manifest
    for key in ("software", "config", "network", "weights"):
        assert manifest[key] == result.record[key], key
    assert manifest["network"]["name"] == "vgg16" and "backend" not in manifest
    json.loads(json.dumps(manifest, allow_nan=False))  # strict JSON


def test_snapshots_at_first_every_nth_and_last(result):
    assert result.trace.iterations == [1, 4, 7]
    assert RecordSpec(every=3).wants(1, 7) and not RecordSpec(every=3).wants(2, 7)


def test_trace_round_trips_through_files(result, tmp_path):
    result.trace.save(tmp_path / "trace")
    loaded = Trace.load(tmp_path / "trace")
    assert loaded.manifest == json.loads(json.dumps(result.trace.manifest))
    assert set(loaded.arrays) == set(result.trace.arrays)
    for key, value in result.trace.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], value, err_msg=key)


def test_per_layer_contributions_sum_to_the_recorded_total(result):
    for iteration in result.trace.iterations:
        losses = result.trace.losses(iteration)
        terms = losses["terms"]
        total = sum(terms["content"].values()) + sum(terms["style"].values()) + terms["tv"]
        assert total == pytest.approx(losses["loss"], rel=1e-5)
        # and they are the very numbers of the run's history
        assert result.record["history"][iteration - 1]["loss"] == losses["loss"]


def test_recorded_gram_equals_one_computed_from_recorded_activations(result):
    trace = result.trace
    for layer in trace.layers:
        activations, channels = trace.activations(4, layer)
        full = np.empty_like(activations)
        full[..., channels] = activations  # top_k=None keeps every channel, reordered by energy
        flat = full.reshape(-1, full.shape[-1]).astype(np.float64)
        expected = flat.T @ flat / flat.size
        np.testing.assert_allclose(trace.gram(4, layer), expected, rtol=1e-4, atol=1e-6)


def test_snapshot_losses_match_a_recomputation_from_the_recorded_image(result, backend, images):
    from explainer.losses import style_loss

    trace = result.trace
    image = trace.image(4)
    style_features = backend.features(image, ["relu1_1"])["relu1_1"]
    expected = 100.0 * 1.0 * float(style_loss(style_features, trace.target_gram("relu1_1")))
    assert trace.losses(4)["terms"]["style"]["relu1_1"] == pytest.approx(expected, rel=1e-4)


def test_gradient_maps_cover_every_term_at_image_size(result):
    maps = result.trace.gradient_maps(1)
    assert set(maps) == {"content/relu2_1", "style/relu1_1", "style/relu2_1", "tv"}
    for value in result.trace.gradient_maps(7).values():
        assert value.shape == (24, 32) and np.all(value >= 0) and value.max() > 0
    # content loss is zero on the first step (init = content): so is its gradient, up to rounding
    assert maps["content/relu2_1"].max() <= 1e-4 * maps["style/relu1_1"].max()


def test_gradient_maps_at_every_other_snapshot_by_default(result):
    # every=3 over 7 steps: snapshots 1, 4, 7; maps every 6th step (1) and at the last (7)
    trace = result.trace
    assert trace.gradient_iterations == [1, 7] and trace.gradient_maps(4) == {}
    assert [s["gradients"] for s in trace.manifest["snapshots"]] == [True, False, True]
    assert trace.manifest["gradients_every"] == 6
    # the snapshot without maps keeps everything else
    assert trace.gram(4, "relu1_1").shape == (64, 64) and trace.losses(4)["loss"] > 0


def test_gradient_maps_schedule():
    spec = RecordSpec(every=5, gradients_every=15)
    assert [i for i in range(1, 33) if spec.wants(i, 32)] == [1, 6, 11, 16, 21, 26, 31, 32]
    assert [i for i in range(1, 33) if spec.wants_gradients(i, 32)] == [1, 16, 31, 32]
    assert RecordSpec(every=5).gradient_period == 10
    assert not any(RecordSpec(every=5, gradients=False).wants_gradients(i, 32) for i in range(1, 33))
    with pytest.raises(ValueError, match=re.escape("every 4 steps: must be a positive multiple of the record interval (3)")):
        RecordSpec(every=3, gradients_every=4)
    for bad, message in ((0, "gradients_every must be >= 1, not 0"), (7.5, "gradients_every must be a whole number, not 7.5"),
                         (-3, "gradients_every must be >= 1, not -3")):
        with pytest.raises(ValueError, match=re.escape(message)):
            RecordSpec(every=3, gradients_every=bad)


def test_gradient_maps_at_every_snapshot_when_asked(backend, images):
    trace = stylize(*images, CONFIG, backend=backend, progress=False, log=lambda m: None,
                    record=RecordSpec(every=3, gradients_every=3)).trace
    assert trace.gradient_iterations == [1, 4, 7]
    assert set(trace.gradient_maps(4)) == {"content/relu2_1", "style/relu1_1", "style/relu2_1", "tv"}


def test_version_1_traces_still_load(result):
    # Version 1 had no "gradients" flags; which steps carry maps is read from the arrays.
    manifest = {**result.trace.manifest, "version": 1}
    manifest["snapshots"] = [{k: v for k, v in s.items() if k != "gradients"} for s in manifest["snapshots"]]
    old = Trace(manifest, result.trace.arrays)
    assert old.gradient_iterations == [1, 7]
    with pytest.raises(ValueError, match="newer than this style-explainer reads"):
        Trace({**manifest, "version": 99}, {})


def test_reference_grams_are_the_style_and_content_images(result, backend, images):
    from explainer.losses import gram_matrix

    _, style = images
    expected = gram_matrix(backend.features(style, ["relu1_1"])["relu1_1"])
    np.testing.assert_allclose(result.trace.style_gram("relu1_1"), expected, rtol=1e-5)
    np.testing.assert_allclose(result.trace.target_gram("relu1_1"), expected, rtol=1e-5)  # one style: target = its Gram
    assert result.trace.content_gram("relu2_1").shape == (128, 128)


def test_recording_changes_the_result_only_by_rounding(result, backend, images):
    quiet = {"backend": backend, "progress": False, "log": lambda m: None}
    plain = stylize(*images, CONFIG, **quiet)
    # Recorded steps add up the per-term gradients they record (in another order
    # than one backward pass would), so only float rounding differs.
    np.testing.assert_allclose(result.image, plain.image, rtol=0, atol=1e-5)
    assert not np.array_equal(result.trace.image(4), result.trace.image(1))
    without_maps = stylize(*images, CONFIG, record=RecordSpec(every=3, gradients=False), **quiet)
    np.testing.assert_allclose(without_maps.image, plain.image, rtol=0, atol=1e-6)


def test_snapshot_gradient_is_the_sum_of_the_term_gradients(backend, images):
    import jax

    from explainer.optimize import compute_targets, loss_spec, make_objective
    from explainer.record import make_snapshot_fn

    config = dataclasses.replace(CONFIG, tv_weight=1e-3)
    spec = loss_spec(config)
    content, style = images
    targets = compute_targets(backend, spec, content, [style], [1.0])
    image = np.clip(content + 0.05 * np.random.default_rng(0).standard_normal(content.shape), 0, 1).astype(np.float32)
    (loss, _), expected = jax.value_and_grad(make_objective(backend, spec), argnums=1, has_aux=True)(
        backend.params, image, targets)
    snapshot = make_snapshot_fn(backend, spec, ("relu1_1",), 4, True)(backend.params, image, targets)
    assert float(snapshot.loss) == pytest.approx(float(loss), rel=1e-6)
    np.testing.assert_allclose(snapshot.gradient, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    maps = {k: v for k, v in snapshot.arrays.items() if k.startswith("gradient/")}
    assert set(maps) == {"gradient/content/relu2_1", "gradient/style/relu1_1", "gradient/style/relu2_1", "gradient/tv"}
    # the tv map, by hand: the gradient of tv_weight * tv(image) is independent of the network
    tv_grad = jax.grad(lambda x: 1e-3 * total_variation(x))(image)
    np.testing.assert_allclose(maps["gradient/tv"], np.sqrt((np.asarray(tv_grad) ** 2).sum(-1)), rtol=1e-5)


def test_channel_summary_ranks_by_energy():
    features = np.zeros((2, 2, 3), np.float32)
    features[..., 0], features[..., 1], features[..., 2] = 1.0, 3.0, -2.0
    stats, channels, kept = channel_summary(features, top_k=2)
    assert list(channels) == [1, 2]
    np.testing.assert_allclose(stats[:, 3], [1.0, 9.0, 4.0])  # energy = mean square
    np.testing.assert_allclose(kept[0, 0], [3.0, -2.0])


def test_channel_summary_matches_numpy_in_float64():
    features = (np.random.default_rng(3).standard_normal((5, 7, 6)) * np.arange(1, 7)).astype(np.float32)
    stats, channels, kept = channel_summary(features, top_k=None)
    flat = features.reshape(-1, 6).astype(np.float64)
    expected = np.stack([flat.mean(0), flat.std(0), flat.max(0), (flat**2).mean(0)], axis=1)
    np.testing.assert_allclose(stats, expected, rtol=1e-5)
    assert list(channels) == list(np.argsort(-expected[:, 3]))
    np.testing.assert_array_equal(kept, features[..., np.asarray(channels)])


def test_cli_record_writes_a_loadable_trace(tmp_path, capsys):
    rng = np.random.default_rng(1)
    content = save_image(rng.random((20, 24, 3)), tmp_path / "c.png")
    style = save_image(rng.random((20, 20, 3)), tmp_path / "s.png")
    code = main(["stylize", str(content), str(style), "-o", str(tmp_path / "o.png"),
                "--weights", "random", "--size", "24", "--iterations", "4", "--quiet",
                "--record", str(tmp_path / "trace"), "--record-every", "2", "--record-top-k", "3"])
    assert code == 0, capsys.readouterr().err
    trace = Trace.load(tmp_path / "trace")
    assert trace.iterations == [1, 3, 4] and trace.manifest["weights"]["name"] == "random"
    assert trace.manifest["network"]["name"] == "vgg19" and "jax" in trace.manifest["software"]
    assert trace.manifest["config"]["size"] == 24 and "backend" not in trace.manifest
    # the run record beside the image names the same network and weights
    record = json.loads((tmp_path / "o.json").read_text())
    assert {k: record[k] for k in ("network", "weights", "config")} == {
        k: trace.manifest[k] for k in ("network", "weights", "config")}
    assert trace.activations(3, "relu1_1")[0].shape[-1] == 3
    assert trace.gradient_iterations == [1, 4]  # maps every 4th step by default (twice --record-every), and the last


def test_cli_refuses_a_gradient_interval_that_misses_the_snapshots(tmp_path, capsys):
    rng = np.random.default_rng(1)
    content = save_image(rng.random((20, 24, 3)), tmp_path / "c.png")
    code = main(["stylize", str(content), str(content), "-o", str(tmp_path / "o.png"), "--weights", "random",
                 "--size", "24", "--iterations", "4", "--quiet", "--record", str(tmp_path / "trace"),
                 "--record-every", "2", "--record-gradients-every", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "positive multiple of the record interval (2)" in err and "Traceback" not in err
    assert not (tmp_path / "trace").exists()


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trace.json"):
        Trace.load(tmp_path)
    with pytest.raises(ValueError, match="not a style-explainer trace"):
        Trace({"format": "other"}, {})
