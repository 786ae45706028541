"""The method-neutral core: settings declared once, the objective's terms, the event stream, provenance, layering."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explainer import settings
from explainer.config import StyleConfig
from explainer.errors import ConfigError
from explainer.events import Event
from explainer.inspection import inspect_image
from explainer.losses import ImageTerm, LossSpec, Targets, content_loss, gram_matrix, loss_terms, style_loss
from explainer.optimize import compute_targets, loss_spec, make_objective, make_stepper
from explainer.provenance import provenance
from explainer.record import RecordSpec
from explainer.runner import stylize

QUIET = {"progress": False, "log": lambda message: None}
TINY = StyleConfig(weights="random", size=32, iterations=3, content_layers=("relu2_1",),
                   style_layers=("relu1_1", "relu2_1"), print_every=0)


# --------------------------------------------------------------------------- settings


def _other_value(item: settings.Setting):
    """A valid value different from the default, for each kind of setting."""
    if item.choices:
        return next(c for c in item.choices if c != item.default)
    special = {"init": "noise", "weights": "hed", "content_layers": ("relu1_1",), "style_layers": ("relu3_1",),
               "content_layer_weights": (2.0,), "style_layer_weights": (0.5, 2.0, 1.0, 1.0, 1.0),
               "style_blend": (1.0,), "ema_decay": 0.9, "learning_rate": 0.05, "scales": 2, "style_scale": 0.5,
               "model": "multistyle:3", "style_strength": 0.5, "content_mask": "mask.png", "style_mask": "mask.png",
               "tile_size": 256}
    if item.name in special:
        return special[item.name]
    return {"int": (item.default or 0) + 3, "float": (item.default or 0.0) * 2 + 0.25}[item.kind]


@pytest.mark.parametrize("item", settings.settings_of(StyleConfig), ids=lambda item: item.name)
def test_every_setting_round_trips_through_its_flags(item):
    config = StyleConfig().replace(**{item.name: _other_value(item)})
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, StyleConfig)
    flags = settings.to_flags(config)
    assert flags[0] == item.cli_flag and len(flags) == 2
    assert settings.from_args(parser.parse_args(flags), StyleConfig()) == config
    assert settings.parse_assignments(f"{item.name}={flags[1]}", StyleConfig) == {item.name: getattr(config, item.name)}
    assert f"`{item.cli_flag}`" in settings.markdown_table(StyleConfig)


def test_help_lists_each_setting_once_with_default_and_unit():
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, StyleConfig, StyleConfig(size=256))
    text = " ".join(parser.format_help().split())
    assert "optimisation settings:" in text and "loss: layers and weights settings:" in text
    assert "longest side of the result; >= 16 (default: 256 px)" in text
    assert "(default: 1 for every layer)" in text and "(default: None)" not in text
    assert text.count("--backend") == 0, "the old name is accepted but not listed"
    assert settings.from_args(parser.parse_args(["--backend", "vgg16"]), StyleConfig()).network == "vgg16"


@pytest.mark.parametrize("flags, message", [
    (["--size", "8"], "must be >= 16, not 8"),
    (["--learning-rate", "0"], "must be > 0 and <= 1, not 0"),
    (["--style-layer-weights", "1,x"], "'1,x' is not numbers separated by commas"),
    (["--pooling", "median"], "must be one of max, avg, not 'median'"),
])
def test_flags_are_checked_by_their_declaration(flags, message, capsys):
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, StyleConfig)
    with pytest.raises(SystemExit):
        parser.parse_args(flags)
    assert message in capsys.readouterr().err


def test_records_before_the_rename_still_load():
    old = {**StyleConfig().to_dict(), "backend": "vgg16"}
    del old["network"]
    assert StyleConfig.from_dict(old).network == "vgg16"
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        StyleConfig.from_dict({"colour": "keep"})


# --------------------------------------------------------------------------- the objective


def _brightness(image, target):
    return jnp.square(jnp.mean(image) - target)


def _brighter_than(content):
    return jnp.asarray(np.mean(content) + 0.25, jnp.float32)


#: Pulls the image's mean brightness to the content's plus 0.25.
BRIGHTNESS = ImageTerm("brightness", _brightness, weight=50.0, target=_brighter_than)


def test_an_image_term_joins_the_objective_reports_and_records(images, backend):
    content, style = images
    result = stylize(content, style, TINY.replace(init="noise"), backend=backend, record=RecordSpec(every=1),
                     image_terms=[BRIGHTNESS], **QUIET)
    first = result.record["history"][0]
    parts = sum(first["content"].values()) + sum(first["style"].values()) + first["tv"] + first["brightness"]
    assert first["loss"] == pytest.approx(parts, rel=1e-5)
    # Step 1 evaluates the seeded noise start: the term's value and its gradient map by hand.
    start = result.trace.image(1)
    gap = float(np.mean(start, dtype=np.float64) - np.mean(content, dtype=np.float64) - 0.25)
    assert first["brightness"] == pytest.approx(50.0 * gap**2, rel=1e-4)
    per_pixel = 50.0 * 2 * gap / start.size  # d/dx of w (mean(x) - t)^2, the same for every channel
    gradient = result.trace.gradient_maps(1)["brightness"]
    np.testing.assert_allclose(gradient, abs(per_pixel) * np.sqrt(3), rtol=1e-4)


def test_an_image_terms_weight_travels_as_an_array(images, backend):
    content, style = images
    light, heavy = (loss_spec(TINY, [dataclasses.replace(BRIGHTNESS, weight=w)]) for w in (1.0, 1e4))
    stepper = make_stepper(backend, light)
    assert make_stepper(backend, heavy).step is stepper.step
    start = np.full_like(content, 0.75)
    gap = 0.75 - float(np.mean(content)) - 0.25
    before = stepper.compiled_count()
    for spec in (light, heavy):
        targets = compute_targets(backend, spec, content, [style], [1.0])
        *_, terms = stepper.step(backend.params, stepper.init(start), targets)
        assert float(terms["brightness"]) == pytest.approx(spec.image_terms[0].weight * gap**2, rel=1e-4)
    assert stepper.compiled_count() <= before + 1, "a new weight compiled the step again"


def test_the_objective_takes_a_batch_first(images, backend):
    content, style = images
    spec = LossSpec(content=(("relu2_1", 2.0),), style=(("relu1_1", 3.0),), tv_weight=0.5)
    objective = jax.jit(make_objective(backend.spec, spec))
    rng = np.random.default_rng(1)
    batch = rng.random((2, *content.shape)).astype(np.float32)
    content_features = backend.features(np.stack([content, content[::-1]]), ("relu2_1",))["relu2_1"]
    target_gram = gram_matrix(backend.features(style, ("relu1_1",))["relu1_1"])
    targets = Targets(content={"relu2_1": content_features}, style={"relu1_1": target_gram}, weights=spec.weights())
    total, terms = objective(backend.params, batch, targets)
    singles = [objective(backend.params, batch[i], dataclasses.replace(
        targets, content={"relu2_1": content_features[i]}))[0] for i in range(2)]
    assert float(total) == pytest.approx(np.mean(singles), rel=1e-5)  # every term is a mean over the batch
    features = backend.features(batch, ("relu1_1", "relu2_1"))
    by_hand = 2.0 * content_loss(features["relu2_1"], content_features)
    assert float(terms["content"]["relu2_1"]) == pytest.approx(float(by_hand), rel=1e-5)
    assert float(terms["style"]["relu1_1"]) == pytest.approx(
        3.0 * np.mean([float(style_loss(features["relu1_1"][i], target_gram)) for i in range(2)]), rel=1e-5)


def test_loss_terms_reports_a_term_that_is_off_as_zero(images, backend):
    content, _ = images
    spec = LossSpec(content=(("relu1_1", 1.0),), style=(), tv_weight=0.0)
    features = backend.features(content, ("relu1_1",))
    terms = loss_terms(spec, features, Targets({"relu1_1": features["relu1_1"]}, {}), content)
    assert float(terms["tv"]) == 0.0 and float(terms["content"]["relu1_1"]) == 0.0
    with pytest.raises(ValueError, match="cannot be called 'style'"):
        ImageTerm("style", _brightness)


# --------------------------------------------------------------------------- events and provenance


def test_every_event_shows_the_result_as_it_would_be_saved(images, backend):
    content, style = images
    events: list[Event] = []
    result = stylize(content, style, TINY.replace(colors="keep"), backend=backend, on_step=events.append, **QUIET)
    assert [e.iteration for e in events] == [1, 2, 3]
    assert np.array_equal(events[-1].image, result.image)
    assert result.record["history"] == [e.history_entry() for e in events]
    # Kept colours: the chrominance of every preview is the content's (YIQ's I and Q).
    from explainer.color import rgb_to_yiq

    for event in events:
        np.testing.assert_allclose(rgb_to_yiq(event.image)[..., 1:], rgb_to_yiq(content)[..., 1:], atol=0.02)


def test_every_file_gets_its_provenance_from_one_function(images, backend):
    content, style = images
    result = stylize(content, style, TINY, backend=backend, record=RecordSpec(every=2), **QUIET)
    expected = provenance(backend, TINY)
    for manifest in (result.record, result.trace.manifest):
        assert {k: manifest[k] for k in expected} == expected
    inspected = inspect_image(content, ["relu1_1"], backend=backend, config=TINY)
    assert {k: inspected.manifest[k] for k in expected} == expected
    assert expected["network"] == {"name": "vgg16", "arch": "vgg16", "pooling": "max",
                                   "description": backend.describe()}
    assert expected["software"]["jax"] == jax.__version__ and expected["software"]["style-explainer"]


def test_a_broken_network_fails_the_run_and_keeps_the_last_finite_image(images, backend):
    from explainer.runner import NonFiniteLossError

    content, style = images
    with pytest.raises(NonFiniteLossError, match="the loss became inf at step 1") as caught:
        stylize(content, style, TINY.replace(style_weight=1e38, style_layer_weights=(1e3, 1.0)), backend=backend,
                **QUIET)
    record = caught.value.result.record
    assert record["failed"] and record["iterations_done"] == 0
    assert np.array_equal(caught.value.result.image, content[:24, :32])  # the start: nothing finite came after


# --------------------------------------------------------------------------- layering


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (test extra)")
def test_imports_point_one_way():
    done = subprocess.run([shutil.which("lint-imports")], capture_output=True, text=True, check=False,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert done.returncode == 0, done.stdout[-2000:]
    assert "0 broken" in done.stdout


def test_library_code_does_not_import_the_front_doors():
    code = ("import sys, explainer, explainer.compare, explainer.reconstruct, explainer.inspection, explainer.figures; "
            "print(sorted(m for m in sys.modules if m in ('explainer.cli', 'explainer.app', 'gradio')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
