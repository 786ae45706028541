"""The explorer's Real-time tab: its handlers called directly with arrays, random-weight stylisers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the explorer needs the ui extra: pip install 'style-explainer[ui]'")

from explainer import fast, samples
from explainer.app import realtime_tab as rt
from explainer.app import state
from explainer.app.options import AppOptions
from explainer.app.stylize_tab import DISPLAY_SIDE
from explainer.images import save_image

OPTS = AppOptions(styliser_weights="random", realtime_max_side=48)


@pytest.fixture(scope="module")
def frame():
    """A 'webcam' frame, 96x64 uint8: twice the tab's budget in these tests."""
    y, x = np.mgrid[0:64, 0:96]
    rgb = np.stack([x * 2, y * 3, (x + y) % 256], axis=-1)
    return rgb.astype(np.uint8)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a gr.Warning outside Gradio is a UserWarning: none expected
        return fn(*args, **kwargs)


def as_run(shown: np.ndarray) -> np.ndarray:
    """The shown image at the network's size (the page enlarges small results by whole pixels)."""
    factor = DISPLAY_SIDE // OPTS.realtime_max_side
    assert shown.shape[0] % factor == 0 and shown.shape[1] % factor == 0
    return shown[::factor, ::factor]


def expected(kind: str, content: np.ndarray, vector: np.ndarray) -> np.ndarray:
    images, _ = fast.apply_network(state.cached_styliser(kind, "random"), content[None], vector)
    return np.round(images[0] * 255).astype(np.uint8)


def test_frames_are_scaled_to_the_budget_before_the_network(frame):
    small = rt.downscale(frame, 48)
    assert small.shape == (32, 48, 3) and small.dtype == np.float32
    assert 0.0 <= small.min() and small.max() <= 1.0
    np.testing.assert_array_equal(rt.downscale(frame[:40, :40], 48), frame[:40, :40] / np.float32(255))  # never enlarged
    assert rt.downscale(np.zeros((10, 12), np.uint8), 48).shape == (10, 12, 3)  # grey frames become RGB


def test_a_sample_style_frame_is_the_arbitrary_network_at_the_samples_embedding(frame):
    shown, status, meter = quiet(rt.stylise_frame, frame, rt.StyleChoice("Sample style", sample="mosaic"),
                                 options=OPTS, now=10.0)
    image = as_run(shown)
    content = rt.downscale(frame, 48)
    network = state.cached_styliser("arbitrary", "random")
    embedding = np.asarray(network.embed(fast.style_square(samples.load("sample:mosaic"))[None]))[0]
    np.testing.assert_allclose(meter.vector, embedding, rtol=1e-6)
    assert image.shape == (32, 48, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - expected("arbitrary", content, embedding)).max() <= 1
    assert "ms per frame" in status and "48x32 px" in status and "sample:mosaic" in status
    assert "random weights (seed 0)" in status
    assert "frames/s" not in status  # one frame: no rate yet


def test_frames_per_second_counts_the_latest_frames(frame):
    choice = rt.StyleChoice("Sample style", sample="swirl")
    meter = rt.Meter()
    for now in (0.0, 0.25, 0.5):
        _, status, meter = quiet(rt.stylise_frame, frame, choice, meter, options=OPTS, now=now)
    assert "**4.0 frames/s**" in status
    assert "compiling" not in status  # only the first frame of a size says so
    for i in range(20):
        meter.tick(1.0 + i * 0.1)
    assert len(meter.arrivals) == rt.FPS_WINDOW
    assert meter.tick(3.0) == pytest.approx((rt.FPS_WINDOW - 1) / (3.0 - 2.1))


def test_a_builtin_style_is_the_multistyle_network_one_hot(frame):
    shown, status, _ = quiet(rt.stylise_frame, frame, rt.StyleChoice("Built-in style", builtin=7), options=OPTS, now=0.0)
    image = as_run(shown)
    vector = np.eye(26, dtype=np.float32)[7]
    assert np.abs(image.astype(int) - expected("multistyle", rt.downscale(frame, 48), vector)).max() <= 1
    assert "multistyle:7" in status and "26-style network" in status


def test_strength_moves_the_embedding_towards_the_frames_own(frame):
    content = rt.downscale(frame, 48)
    choice = rt.StyleChoice("Sample style", sample="swirl", strength=0.25)
    shown, status, meter = quiet(rt.stylise_frame, frame, choice, options=OPTS, now=0.0)
    image = as_run(shown)
    network = state.cached_styliser("arbitrary", "random")
    style = samples.load("sample:swirl")
    # The tab's blend is --method fast's: fast.arbitrary_embedding of the style and the frame.
    blended = fast.arbitrary_embedding(network, content, [style], None, 0.25)
    np.testing.assert_allclose(meter.vector, blended, rtol=1e-5, atol=1e-6)
    embed = lambda image: np.asarray(network.embed(fast.style_square(image)[None]))[0]
    np.testing.assert_allclose(meter.vector, 0.25 * embed(style) + 0.75 * embed(content), rtol=1e-5, atol=1e-6)
    assert np.abs(image.astype(int) - expected("arbitrary", content, blended)).max() <= 1
    assert "at strength 0.25" in status
    # Within OWN_EMBEDDING_EVERY seconds a stream keeps the frame's embedding; after it, re-embeds.
    _, _, meter = quiet(rt.stylise_frame, frame[::-1], choice, meter, options=OPTS, now=0.5)
    np.testing.assert_array_equal(meter.vector, blended)
    _, _, meter = quiet(rt.stylise_frame, frame[::-1], choice, meter, options=OPTS, now=1.5)
    assert not np.allclose(meter.vector, blended)
    np.testing.assert_allclose(meter.vector, fast.arbitrary_embedding(network, content[::-1], [style], None, 0.25),
                               rtol=1e-5, atol=1e-6)
    # A new strength is a new blend at once; strength 1 is the style's own embedding.
    _, _, meter = quiet(rt.stylise_frame, frame, rt.StyleChoice("Sample style", sample="swirl", strength=1.0), meter,
                        options=OPTS, now=1.6)
    np.testing.assert_allclose(meter.vector, embed(style), rtol=1e-5, atol=1e-6)


def test_an_uploaded_style_and_photo(frame, tmp_path):
    style_path, photo_path = tmp_path / "mine.png", tmp_path / "photo.png"
    save_image(samples.load("sample:pointillism")[:64, :80], style_path)
    save_image(frame, photo_path)
    choice = rt.StyleChoice("Style image", image=str(style_path))
    image, status, meter = quiet(rt.stylise_photo, str(photo_path), choice, options=OPTS)
    network = state.cached_styliser("arbitrary", "random")
    from explainer.images import load_image

    embedding = np.asarray(network.embed(fast.style_square(load_image(style_path))[None]))[0]
    np.testing.assert_allclose(meter.vector, embedding, rtol=1e-5)
    assert as_run(image).shape == (32, 48, 3)
    assert "your style image" in status and str(tmp_path) not in status
    assert meter.arrivals == []  # a photo is not part of a stream's rate


@pytest.mark.parametrize(("choice", "message"), [
    (rt.StyleChoice("Style image", image=None), "style image: no image"),
    (rt.StyleChoice("Sample style", sample="/etc/passwd"), "choose one of swirl, mosaic, pointillism"),
    (rt.StyleChoice("Built-in style", builtin=26), "built-in style 26 does not exist"),
    (rt.StyleChoice("Built-in style", builtin=2.5), "built-in style 2.5 does not exist"),
    (rt.StyleChoice("Somewhere", builtin=0), "style source 'Somewhere'"),
    (rt.StyleChoice("Sample style", strength=1.5), "style_strength must be 0 to 1, not 1.5"),
])
def test_mistakes_are_one_line_and_toasted_once_per_stream(frame, choice, message):
    with pytest.warns(UserWarning, match="."):
        image, status, meter = rt.stylise_frame(frame, choice, options=OPTS, now=0.0)
    assert image is rt.SKIP
    assert status.startswith("**Error:** ") and message in status and "\n" not in status
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same mistake on the next frame: no second toast
        _, again, _ = rt.stylise_frame(frame, choice, meter, options=OPTS, now=0.1)
    assert again == status


def test_an_uploaded_file_that_is_not_an_image_is_refused_by_its_name(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.warns(UserWarning):
        image, status, _ = rt.stylise_photo(str(bad), rt.StyleChoice(), options=OPTS)
    assert image is rt.SKIP and "notes.png" in status and str(tmp_path) not in status
    image, status, _ = rt.stylise_frame(None, rt.StyleChoice(), options=OPTS)
    assert image is rt.SKIP and "Waiting for the camera" in status


def test_the_tab_is_in_the_explorer():
    from explainer import app

    demo = app.build_app(weights_choices=("random",), default_weights="random", styliser_weights="random")
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"realtime-webcam", "realtime-result", "realtime-status", "realtime-style-strength"} <= ids
    webcam = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "realtime-webcam")
    assert webcam.streaming and webcam.sources == ["webcam"]
    streams = [d for d in demo.fns.values() if d.name == "on_frame"]
    assert streams and streams[0].time_limit == AppOptions().realtime_time_limit
    assert streams[0].stream_every == rt.STREAM_EVERY


def test_only_the_first_frame_of_a_size_says_it_compiled(frame):
    choice = rt.StyleChoice("Sample style", sample="swirl")
    odd = frame[:, :90]  # 48x34 after scaling: a size no other test uses
    _, first, _ = quiet(rt.stylise_frame, odd, choice, options=OPTS, now=0.0)
    _, second, _ = quiet(rt.stylise_frame, odd, choice, rt.Meter(), options=OPTS, now=0.0)  # another session
    assert "48x34 px" in first and "included compiling the network" in first
    assert "compiling" not in second


def test_the_tabs_sliders_are_the_declared_settings():
    """The strength slider is `style_strength` as declared; the built-in slider spans the model's multistyle choices."""
    from explainer import app
    from explainer.config import FastSettings
    from explainer.settings import settings_of

    demo = app.build_app(weights_choices=("random",), default_weights="random", styliser_weights="random")
    sliders = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Slider)}
    declared = {item.name: item for item in settings_of(FastSettings)}
    strength = declared["style_strength"]
    slider = sliders["realtime-style-strength"]
    assert (slider.minimum, slider.maximum) == (strength.minimum, strength.maximum)
    assert (slider.step, slider.value) == (strength.options["step"], strength.default)
    builtins = [c for c in declared["model"].options["choices"] if c.startswith("multistyle:")]
    assert sliders["realtime-builtin"].maximum == len(builtins) - 1 == fast.MULTISTYLE_COUNT - 1
