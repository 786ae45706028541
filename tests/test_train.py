"""Training a feed-forward network: the loss is the optimisation loss, the loss falls, resume is exact,
model files are checked; tiny images, an untrained VGG16, a slim network."""

from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from explainer import trainer
from explainer.config import TrainSettings
from explainer.errors import BudgetError, ConfigError
from explainer.images import save_image
from explainer.models import ModelError, load_model
from explainer.optimize import compute_targets, make_stepper
from explainer.training import Training, check_budget, train

SIZE = 24


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of five smooth, photo-like images of different sizes (the first two are held out as probes)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(5):
        h, w = 30 + 4 * i, 40 - 2 * i
        y, x = np.mgrid[0:h, 0:w] / 20.0
        image = np.stack([0.5 + 0.4 * np.sin(3 * x + i), 0.5 + 0.4 * np.cos(2 * y - i), 0.5 + 0.2 * np.sin(x * y)], -1)
        save_image(np.clip(image + 0.05 * rng.standard_normal(image.shape), 0, 1), folder / f"p{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def style():
    return np.random.default_rng(1).random((28, 28, 3)).astype(np.float32)


def settings(photos, **changes):
    base = {"size": SIZE, "steps": 4, "batch_size": 2, "arch": "slim", "data": photos, "preview_every": 0,
            "checkpoint_every": 0, "learning_rate": 2e-3, "tv_weight": 1e-4}
    return TrainSettings(**{**base, **changes})


def quiet(message):
    pass


def test_a_training_steps_loss_is_the_optimisation_methods_loss(tmp_path, photos, style, backend):
    """Same code, same numbers: the loss of the network's output is what `optimize` reports for that image."""
    t = Training(style, tmp_path / "m", settings(photos, batch_size=1), backend=backend, log=quiet)
    photo = np.asarray(next(t.batches))
    out, _ = t.net.forward(t.state.variables, jnp.asarray(photo), train=True)
    state, loss, terms = t.step_fn(t.state, t.loss_params, jnp.asarray(photo), t.grams, t.weights, t.rates)
    # The optimisation method: targets from the photo (content) and the style image, its own jitted step.
    targets = compute_targets(backend, t.loss, photo[0], [t.style], [1.0])
    stepper = make_stepper(backend, t.loss, "adam", 0.01)
    _, opt_loss, opt_terms = stepper.step(backend.params, stepper.init(out[0]), targets)
    assert float(loss) == pytest.approx(float(opt_loss), rel=2e-5)
    for family in ("content", "style"):
        for layer, value in opt_terms[family].items():
            assert float(terms[family][layer]) == pytest.approx(float(value), rel=2e-5, abs=1e-6)
    assert float(terms["tv"]) == pytest.approx(float(opt_terms["tv"]), rel=2e-5)
    assert int(state.step) == 1


def test_a_batchs_loss_is_the_mean_of_its_images_losses(tmp_path, photos, style, backend):
    t = Training(style, tmp_path / "m", settings(photos), backend=backend, log=quiet)
    batch = np.asarray(next(t.batches))
    out, _ = t.net.forward(t.state.variables, jnp.asarray(batch), train=True)
    _, loss, _ = t.step_fn(t.state, t.loss_params, jnp.asarray(batch), t.grams, t.weights, t.rates)
    stepper = make_stepper(backend, t.loss, "adam", 0.01)
    each = [float(stepper.step(backend.params, stepper.init(out[i]),
                               compute_targets(backend, t.loss, batch[i], [t.style], [1.0]))[1]) for i in range(2)]
    assert float(loss) == pytest.approx(np.mean(each), rel=2e-5)


def _loss_on(t: Training, batch: np.ndarray) -> float:
    out, _ = t.net.forward(t.state.variables, jnp.asarray(batch), train=False)
    stepper = make_stepper(t.backend, t.loss, "adam", 0.01)
    return float(np.mean([float(stepper.step(t.backend.params, stepper.init(out[i]),
                                             compute_targets(t.backend, t.loss, batch[i], [t.style], [1.0]))[1])
                          for i in range(len(batch))]))


def test_cosine_schedule_follows_optax_and_the_step_moves_the_weights_by_it(tmp_path, photos, style, backend):
    """Rates as optax's own cosine schedule computes them; the step applies the rate of `state.step`."""
    peak, steps = 2e-3, 4
    t = Training(style, tmp_path / "m", settings(photos, steps=steps, learning_rate=peak, lr_schedule="cosine"),
                 backend=backend, log=quiet)
    expected = optax.cosine_decay_schedule(peak, steps)
    for k in range(steps + 2):  # past the end: 0
        rate = trainer.learning_rate_at("cosine", jnp.asarray(k), t.rates)
        assert float(rate) == pytest.approx(float(expected(min(k, steps))), rel=1e-6, abs=1e-12)
    assert float(trainer.learning_rate_at("constant", jnp.asarray(3), t.rates)) == pytest.approx(peak)
    # Adam's first update moves each weight by rate * g / (|g| + eps): the largest moves are the rate.
    at_half = t.state._replace(step=jnp.asarray(2, jnp.int32))  # cosine at 2 of 4 steps: peak / 2
    state, _, _ = t.step_fn(at_half, t.loss_params, jnp.asarray(next(t.batches)), t.grams, t.weights, t.rates)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(state.params),
                                                               jax.tree.leaves(at_half.params)))
    assert moved == pytest.approx(peak / 2, rel=1e-3)
    assert float(state.opt_state.hyperparams["learning_rate"]) == pytest.approx(peak / 2, rel=1e-6)


def test_a_few_steps_reduce_the_loss(tmp_path, photos, backend):
    # A smooth, stripy style: with a noise style and a large rate the loss oscillates (Adam on a chaotic problem).
    y, x = np.mgrid[0:28, 0:28] / 28.0
    style = np.stack([0.5 + 0.4 * np.sin(12 * x + 4 * y), 0.5 + 0.4 * np.sin(9 * y), 0.5 + 0.3 * np.cos(7 * x)], -1)
    t = Training(style.astype(np.float32), tmp_path / "m", settings(photos, steps=15, learning_rate=1e-3),
                 backend=backend, log=quiet)
    fixed = t.probes  # never trained on
    before = _loss_on(t, fixed)
    events = list(t.events())
    after = _loss_on(t, fixed)
    assert len(events) == 15 and events[-1].iteration == 15
    assert after < 0.5 * before, (before, after)
    assert np.mean([e.loss for e in events[-5:]]) < np.mean([e.loss for e in events[:5]])


def test_resume_continues_exactly_where_it_stopped(tmp_path, photos, style, backend):
    straight = train(style, tmp_path / "straight", settings(photos, steps=6), backend=backend, progress=False, log=quiet)
    # The same training stopped after 3 steps (a checkpoint is written on the way out), then resumed.
    first = train(style, tmp_path / "resumed", settings(photos, steps=3), backend=backend, progress=False, log=quiet)
    assert first.manifest["steps_done"] == 3
    resumed = train(style, tmp_path / "resumed", settings(photos, steps=6), resume=True, backend=backend,
                    progress=False, log=quiet)
    assert resumed.manifest["steps_done"] == 6 and not resumed.interrupted
    a, b = load_model(straight.model_dir), load_model(resumed.model_dir)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=1e-6)
    losses = lambda r: [h["loss"] for h in r.manifest["history"]]
    assert losses(resumed) == pytest.approx(losses(straight), rel=1e-5)  # same batches, same order


def test_resume_may_lower_the_rate_and_model_json_records_each_run(tmp_path, photos, style, backend):
    first = train(style, tmp_path / "m", settings(photos, steps=2), backend=backend, progress=False, log=quiet)
    before = load_model(tmp_path / "m").params
    resumed = train(style, tmp_path / "m", settings(photos, steps=3, learning_rate=1e-9), resume=True,
                    backend=backend, progress=False, log=quiet)
    rate = first.manifest["settings"]["learning_rate"]
    assert resumed.manifest["runs"] == [
        {"from_step": 0, "learning_rate": rate, "lr_schedule": "constant", "steps": 2},
        {"from_step": 2, "learning_rate": 1e-9, "lr_schedule": "constant", "steps": 3}]
    # Adam moves each weight by about the rate: 1e-9 now, where the first steps moved them by ~`rate`.
    after = load_model(tmp_path / "m").params
    moved = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    assert moved < 1e-7 < rate


def test_deleting_the_latest_checkpoints_resumes_from_an_earlier_one(tmp_path, photos, style, backend):
    """The README's advice after a blow-up: delete `checkpoints/STEP` from the jump on, `--resume` at a lower rate."""
    import shutil

    train(style, tmp_path / "m", settings(photos, steps=4, checkpoint_every=2), backend=backend, progress=False,
          log=quiet)
    assert sorted(p.name for p in (tmp_path / "m" / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]
    shutil.rmtree(tmp_path / "m" / "checkpoints" / "4")
    resumed = train(style, tmp_path / "m", settings(photos, steps=4, checkpoint_every=2, learning_rate=5e-4),
                    resume=True, backend=backend, progress=False, log=quiet)
    assert [run["from_step"] for run in resumed.manifest["runs"]] == [0, 2]
    assert [h["step"] for h in resumed.manifest["history"]] == [1, 2, 3, 4]  # steps 3-4 once, from the new run


def test_an_interrupted_training_leaves_a_usable_model_and_resume_refuses_other_settings(tmp_path, photos, style,
                                                                                       backend):
    def stop_after_two(event):
        if event.iteration == 2:
            raise KeyboardInterrupt

    result = train(style, tmp_path / "m", settings(photos, steps=5), backend=backend, progress=False, log=quiet,
                   on_step=stop_after_two)
    assert result.interrupted and result.manifest["steps_done"] == 2
    model = load_model(tmp_path / "m")
    assert model.stylise(np.full((9, 11, 3), 0.5, np.float32)).shape == (1, 9, 11, 3)
    with pytest.raises(ConfigError, match="another arch"):
        Training(style, tmp_path / "m", settings(photos, steps=5, arch="johnson"), resume=True, backend=backend,
                 log=quiet)
    with pytest.raises(ConfigError, match="holds checkpoints of an earlier training"):
        Training(style, tmp_path / "m", settings(photos, steps=5), backend=backend, log=quiet)
    with pytest.raises(ConfigError, match="no checkpoint"):
        Training(style, tmp_path / "new", settings(photos), resume=True, backend=backend, log=quiet)


def test_resume_accepts_loss_weights_that_differ_in_the_last_digits_only(tmp_path):
    from explainer.training import _check_same

    saved = {"loss": [[["relu2_2", 0.0009004497412306176]], [["relu4_3", 5720.852627982575]], 1e-05], "arch": "slim"}
    _check_same(saved, {"loss": [[["relu2_2", 0.0009004500381581092]], [["relu4_3", 5720.853898002415]], 1e-05],
                        "arch": "slim"}, tmp_path)  # another XLA: 3e-7 relative
    for changed in ({"loss": [[["relu2_2", 0.0009]], [["relu4_3", 2 * 5720.85]], 1e-05]},
                    {"loss": [[["relu3_3", 0.0009004497412306176]], [["relu4_3", 5720.852627982575]], 1e-05]},
                    {"arch": "johnson"}):
        with pytest.raises(ConfigError, match=f"another {next(iter(changed))}"):
            _check_same(saved, {**saved, **changed}, tmp_path)
    # Checksums are said in words, without the hashes.
    photos_then = {"data": "56a68dd1" * 8, "style": "sha256:" + "8a8f" * 16}
    for key, words in (("data", "other training photos (another --data folder"), ("style", "another style image")):
        with pytest.raises(ConfigError, match=re.escape(f"was trained with {words}")) as error:
            _check_same(photos_then, {**photos_then, key: "3f2edf7a" * 8}, tmp_path)
        assert "56a68dd1" not in str(error.value) and "8a8f" not in str(error.value)


def test_resume_keeps_a_cosine_rate_to_its_length_and_a_constant_one_to_any(tmp_path):
    from explainer.training import _check_same

    cosine = {"arch": "slim", "schedule": ["cosine", 6000]}
    _check_same(cosine, dict(cosine), tmp_path)
    for now in ({"arch": "slim", "schedule": ["cosine", 20000]}, {"arch": "slim", "schedule": ["constant"]}):
        with pytest.raises(ConfigError, match="cosine rate that ends at step 6000; resume with --lr-schedule "
                                              "cosine --steps 6000"):
            _check_same(cosine, now, tmp_path)
    with pytest.raises(ConfigError, match="another schedule"):
        _check_same({"arch": "slim", "schedule": ["constant"]}, cosine, tmp_path)
    _check_same({"arch": "slim"}, cosine, tmp_path)  # a checkpoint from before the schedule was recorded


def test_the_model_files_round_trip_and_corrupt_files_are_refused(tmp_path, photos, style, backend):
    result = train(style, tmp_path / "m", settings(photos, steps=2, preview_every=1), backend=backend,
                   progress=False, log=quiet)
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["architecture"]["arch"] == "slim" and manifest["steps_done"] == 2
    assert manifest["data"]["images"] == 3 and len(manifest["history"]) == 2
    assert {"relu1_2", "relu4_3"} <= {layer for layer, _ in manifest["loss"]["style"]}
    assert (tmp_path / "m" / "previews" / "step_000001.png").is_file()
    model = load_model(tmp_path / "m")
    probes = np.stack([np.full((SIZE, SIZE, 3), 0.3, np.float32)])
    np.testing.assert_allclose(np.asarray(model.stylise(probes)),
                               np.asarray(model.spec.apply(model.params, jnp.asarray(probes))), atol=1e-6)
    assert "slim" in model.describe() and model.provenance()["weights"]["steps"] == 2
    assert result.manifest == manifest

    weights = tmp_path / "m" / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])  # one bit
    with pytest.raises(ModelError, match="corrupt or replaced"):
        load_model(tmp_path / "m")
    weights.write_bytes(original[: len(original) // 2])
    with pytest.raises(ModelError, match="corrupt or replaced"):
        load_model(tmp_path / "m")
    weights.write_bytes(original)
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not readable as JSON"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelError, match="no model.json"):
        load_model(tmp_path)


def test_budget_and_settings_are_checked_before_any_work(tmp_path, photos):
    with pytest.raises(BudgetError, match="megapixel-steps"):
        check_budget(TrainSettings(size=512, steps=100_000))
    check_budget(TrainSettings(size=256, steps=40_000))  # Johnson et al.'s training fits the default budget
    with pytest.raises(ConfigError, match="needs --coordinator"):
        Training(np.zeros((8, 8, 3)), tmp_path / "m", settings(photos, num_processes=2), log=quiet)
    with pytest.raises(ConfigError, match="not a folder"):
        Training(np.zeros((8, 8, 3)), tmp_path / "m", settings(str(tmp_path / "missing")), log=quiet)
    with pytest.raises(ConfigError, match="size"):
        TrainSettings(size=8)


def test_a_loss_that_stops_being_finite_fails_the_run_and_keeps_the_last_finite_weights(tmp_path, photos, style,
                                                                                       backend):
    result = train(style, tmp_path / "m", settings(photos, steps=3, style_weight=1e38), backend=backend,
                   progress=False, log=quiet)
    assert result.failed and "became" in result.failed
    model = load_model(tmp_path / "m")  # the weights saved are finite (load checks)
    assert model.manifest["steps_done"] < 3


def test_the_train_tabs_widgets_are_the_declared_settings_and_their_values_become_settings():
    from explainer.app import train_tab
    from explainer.errors import BudgetError

    shown = [item.name for item in train_tab.tab_settings()]
    assert shown == ["size", "steps", "arch", "norm", "layer_balance", "content_weight", "style_weight", "lr_schedule"]
    settings = train_tab.settings_from_values({"size": 64, "steps": 40, "arch": "johnson", "style_weight": 1.0,
                                               "lr_schedule": "cosine"}, weights="random")
    assert (settings.size, settings.steps, settings.arch, settings.lr_schedule) == (64, 40, "johnson", "cosine")
    assert settings.style_weight == 10.0  # the slider is log10 of the weight
    assert (settings.norm, settings.batch_size, settings.weights) == ("instance", train_tab.BATCH, "random")
    with pytest.raises(BudgetError, match=r"^steps 301 is more than the explorer trains \(300\); use style-explainer "
                                          "train for more$"):
        train_tab.settings_from_values({"steps": 301})
    with pytest.raises(ConfigError, match="arch"):
        train_tab.settings_from_values({"arch": "resnet"})
    status = next(iter(train_tab.train_stream(None, {"size": 256}, session="limits")))[0]
    assert status == "**Error:** size 256 is more than the explorer trains (128); use style-explainer train for more"


def test_the_explorers_train_tab_streams_the_loss_and_stop_keeps_a_model(tmp_path, photos, monkeypatch):
    from explainer.app import state, train_tab

    monkeypatch.setattr(train_tab, "UPDATE_EVERY", 1)
    seen = []
    values = {"size": 24, "steps": 30, "arch": "slim", "norm": "instance"}
    for status, figure, previews, folder in train_tab.train_stream(None, values, session="t", data=photos,
                                                                    weights="random"):
        seen.append((status, folder))
        if status.startswith("step 2 "):
            assert figure is not None and previews.shape == (24, 24 * 2, 3)  # two probes side by side
            assert state.request_stop("t")  # the page's Stop
    last, folder = seen[-1]
    assert last.startswith("stopped after 2 steps"), seen  # before the next step
    assert load_model(folder).manifest["steps_done"] == 2
    assert train_tab.trained_models()[0][1] == folder


def test_the_loss_network_is_vgg19_unless_the_weights_are_a_vgg16(tmp_path):
    from test_weights import write_keras2

    from backends import _weights
    from explainer.training import _loss_network

    said = []
    assert _loss_network(TrainSettings(weights="random"), said.append).arch == "vgg19"  # auto's architecture too
    assert "loss network: vgg19" in said[-1]
    vgg16_file = write_keras2(tmp_path / "vgg16.h5", _weights.random_params("vgg16"))  # as HED's: a VGG16
    assert _loss_network(TrainSettings(weights=str(vgg16_file)), said.append).arch == "vgg16"
