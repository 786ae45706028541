"""The Real-time tab: a feed-forward network paints the webcam (or a photo) in one pass per frame.

The handlers are functions of plain values, testable without a browser:
[`stylise_frame`][explainer.app.realtime_tab.stylise_frame] for a webcam
frame (an array) and [`stylise_photo`][explainer.app.realtime_tab.stylise_photo]
for an uploaded file. Each returns `(image, status, meter)`: the stylised
image (uint8), a Markdown line with milliseconds per frame and frames per
second, and the session's [`Meter`][explainer.app.realtime_tab.Meter].

The style comes from an uploaded image or a bundled sample (the
arbitrary-style network, Ghiasi et al. 2017: the image's 100-number
embedding) or one of the 26 styles built into the multistyle network
(Dumoulin et al. 2017). Strength moves the embedding towards the frame's
own (arbitrary styles only; the multistyle network has no embedding of the
frame), exactly as `--method fast` does: the vector is
[`fast.arbitrary_embedding`][explainer.fast.arbitrary_embedding]'s. The
strength slider is made from the declaration of `style_strength`
([`FastSettings`][explainer.config.FastSettings]). Every frame is scaled down to `AppOptions.realtime_max_side` before
the network, and a webcam stream lasts at most `realtime_time_limit` seconds.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from explainer import fast, samples
from explainer import images as _images
from explainer.app import state
from explainer.app.messages import web_message
from explainer.app.options import AppOptions, lesson_link
from explainer.app.stylize_tab import for_display
from explainer.app.uploads import image_upload, load_user_image
from explainer.app.widgets import make_widget, tab_setting
from explainer.config import FastSettings
from explainer.errors import USER_ERRORS, ConfigError
from explainer.figures_fast import styliser_line

SOURCES: tuple[str, ...] = ("Sample style", "Style image", "Built-in style")
#: The page sends the next webcam frame this many seconds after the last answer came back (Gradio
#: waits for each frame's answer before it captures the next).
STREAM_EVERY = 0.05
#: With strength < 1, a stream re-embeds the frame's own style at most this often (seconds); a photo always.
OWN_EMBEDDING_EVERY = 1.0
#: The strength slider: `style_strength`'s declaration, in the tab's words.
STRENGTH = tab_setting(FastSettings, "style_strength", label="Strength (1: the style's embedding; 0: the frame's own)")
#: Frames per second are counted over this many of the latest frames.
FPS_WINDOW = 10
SKIP = gr.skip()
#: (network, weights, frame shape) run so far in this process: the first of each compiled the network.
_COMPILED: set[tuple] = set()


@dataclasses.dataclass
class Meter:
    """What one session's stream remembers between frames: arrival times, the style, its vector, the last error.

    `style` is the style image as the style predictor sees it (`fast.style_square`); `vector` the
    embedding the network last ran with, made for `vector_key` (the style and the strength) at
    `vector_time`.
    """

    arrivals: list[float] = dataclasses.field(default_factory=list)
    style_key: tuple = ()
    style: np.ndarray | None = None
    vector: np.ndarray | None = None
    vector_key: tuple = ()
    vector_time: float = -np.inf
    last_error: str = ""

    def tick(self, now: float) -> float:
        """Record a frame's arrival; frames per second over the latest `FPS_WINDOW` (0 after one frame)."""
        self.arrivals = [*self.arrivals[-(FPS_WINDOW - 1):], now]
        span = self.arrivals[-1] - self.arrivals[0]
        return (len(self.arrivals) - 1) / span if span > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class StyleChoice:
    """The widgets' style choice: `source` (one of `SOURCES`), an uploaded file, a sample name, a built-in number."""

    source: str = SOURCES[0]
    image: str | None = None
    sample: str = samples.SAMPLE_STYLES[0]
    builtin: int = 0
    strength: float = 1.0


def downscale(frame: np.ndarray, max_side: int) -> np.ndarray:
    """A uint8 (or float) RGB frame as float32 in `[0, 1]`, its longest side at most `max_side` (never enlarged)."""
    pixels = _images.to_uint8(frame) if frame.dtype != np.uint8 else frame
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    pixels = pixels[..., :3]
    height, width = pixels.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(4, round(width * scale)), max(4, round(height * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    return pixels.astype(np.float32) / 255.0


def _style_of(choice: StyleChoice, options: AppOptions, meter: Meter) -> tuple[str, np.ndarray | None, str]:
    """`(network kind, built-in style vector or None, label)`; a style image is kept (as its square) in the meter."""
    if choice.source == "Built-in style":
        try:
            index = int(choice.builtin)
        except (TypeError, ValueError):
            raise ConfigError(f"built-in style {choice.builtin!r}: choose a number from 0 to 25") from None
        if not 0 <= index < fast.MULTISTYLE_COUNT or index != choice.builtin:
            raise ConfigError(f"built-in style {choice.builtin!r} does not exist; the styles are 0 to "
                              f"{fast.MULTISTYLE_COUNT - 1}")
        return "multistyle", fast.multistyle_vector(fast.parse_model(f"multistyle:{index}")), f"multistyle:{index}"
    if choice.source == "Sample style":
        if choice.sample not in samples.SAMPLE_STYLES:
            raise ConfigError(f"sample {choice.sample!r}: choose one of {', '.join(samples.SAMPLE_STYLES)}")
        key, label = ("sample", choice.sample), f"sample:{choice.sample}"
    elif choice.source == "Style image":
        if not choice.image:
            raise ConfigError("style image: no image; upload one, or choose a sample or a built-in style")
        key, label = ("image", str(choice.image)), "your style image"
    else:
        raise ConfigError(f"style source {choice.source!r}: choose one of {', '.join(SOURCES)}")
    if meter.style_key != key:
        image = (samples.load(f"sample:{choice.sample}") if key[0] == "sample"
                 else load_user_image(choice.image, "style image", options.max_image_side))
        meter.style, meter.style_key, meter.vector = fast.style_square(image), key, None
    return "arbitrary", None, label


def _condition(kind: str, builtin: np.ndarray | None, frame: np.ndarray, strength: float, meter: Meter, now: float,
               refresh: float, weights: str) -> np.ndarray:
    """The vector the network runs with: a built-in style's, or `fast.arbitrary_embedding`'s for the style image.

    That is the style's embedding moved towards the frame's own by `1 - strength`, as `--method fast` makes it.
    It is made again when the style or the strength changes and, below strength 1 (where the frame's own
    style counts), once `refresh` seconds have passed.
    """
    if kind == "multistyle":
        return builtin
    key = (meter.style_key, strength)
    stale = strength < 1.0 and now - meter.vector_time >= refresh
    if meter.vector is None or meter.vector_key != key or stale:
        network = state.cached_styliser("arbitrary", weights)
        meter.vector = fast.arbitrary_embedding(network, frame, [meter.style], None, strength)
        meter.vector_key, meter.vector_time = key, now
    return meter.vector


def _run(frame: np.ndarray, choice: StyleChoice, options: AppOptions, meter: Meter, now: float,
         refresh: float) -> tuple[Any, str, Meter]:
    start = time.perf_counter()
    try:
        strength = STRENGTH.check(float(choice.strength))  # the declared range: ConfigError outside it
        kind, builtin, label = _style_of(choice, options, meter)
        network = state.cached_styliser(kind, options.styliser_weights)
    except USER_ERRORS as error:
        return None, _error(web_message(error), meter), meter
    content = downscale(frame, options.realtime_max_side)
    vector = _condition(kind, builtin, content, strength, meter, now, refresh, options.styliser_weights)
    images, seconds = fast.apply_network(network, content[None], vector)
    fps = meter.tick(now)
    first = (kind, options.styliser_weights, content.shape[:2]) not in _COMPILED
    _COMPILED.add((kind, options.styliser_weights, content.shape[:2]))
    meter.last_error = ""
    total = (time.perf_counter() - start) * 1000
    line = (f"**{total:.0f} ms per frame** (network {seconds * 1000:.0f} ms)"
            + (f" · **{fps:.1f} frames/s**" if fps else "")
            + f" · {content.shape[1]}x{content.shape[0]} px · {label}"
            + (f" at strength {strength:.2f}" if kind == "arbitrary" and strength < 1 else "")
            + (" · this first frame of its size included compiling the network" if first else ""))
    return for_display(images[0]), f"{line}\n\n{_network_line(kind, options)}", meter


def _network_line(kind: str, options: AppOptions) -> str:
    return f"*{styliser_line(state.cached_styliser(kind, options.styliser_weights))}*"


def _error(message: str, meter: Meter) -> str:
    if message != meter.last_error:  # a stream would repeat it every frame: one toast per new message
        gr.Warning(message)
    meter.last_error = message
    return f"**Error:** {message}"


def stylise_frame(frame: np.ndarray | None, choice: StyleChoice, meter: Meter | None = None, *,
                  options: AppOptions | None = None, now: float | None = None) -> tuple[Any, str, Meter]:
    """One webcam frame (an `(H, W, 3)` uint8 array) through the network: `(image, status, meter)`.

    The image is `gr.skip()` when nothing was made (no frame yet, or a
    mistake, which the status says in one line). `now` is the frame's
    arrival time (default: the clock), for frames per second.
    """
    options = options or AppOptions()
    meter = meter if meter is not None else Meter()
    if frame is None:
        return SKIP, "Waiting for the camera…", meter
    image, status, meter = _run(np.asarray(frame), choice, options, meter,
                                time.perf_counter() if now is None else now, OWN_EMBEDDING_EVERY)
    return SKIP if image is None else image, status, meter


def stylise_photo(path: str | None, choice: StyleChoice, meter: Meter | None = None, *,
                  options: AppOptions | None = None) -> tuple[Any, str, Meter]:
    """An uploaded photo through the network, scaled down to the tab's budget: `(image, status, meter)`."""
    options = options or AppOptions()
    meter = meter if meter is not None else Meter()
    try:
        photo = load_user_image(path, "photo", options.max_image_side)
    except USER_ERRORS as error:
        return SKIP, _error(web_message(error), meter), meter
    meter.arrivals = []  # a photo is not a stream
    image, status, meter = _run(photo, choice, options, meter, time.perf_counter(), refresh=0.0)
    meter.arrivals = []
    return SKIP if image is None else image, status, meter


# --------------------------------------------------------------------------- layout


def _source_changed(source: str):
    builtin = source == "Built-in style"
    return (gr.update(visible=source == "Style image"), gr.update(visible=source == "Sample style"),
            gr.update(visible=builtin),
            gr.update(interactive=not builtin, label="Strength (image styles only: the built-in styles have no "
                      "embedding of the frame)" if builtin else STRENGTH.options["label"]))


def build_realtime_tab(opts: AppOptions) -> None:
    """The Real-time tab: webcam and photo in, style choice and strength, the result with its timing."""
    gr.Markdown("**Learn:** " + lesson_link("realtime", "any style in real time: how one network holds every style",
                                            opts.lessons_url)
                + f" · Frames are scaled to at most {opts.realtime_max_side} px on their longest side; "
                f"the webcam streams for up to {opts.realtime_time_limit} s at a time.")
    meter = gr.State(Meter())
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            side = opts.realtime_max_side  # ask the camera for frames near the budget: less to encode and send
            webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam (press record)",
                              elem_id="realtime-webcam", height=260, webcam_options=gr.WebcamOptions(
                                  constraints={"video": {"width": {"ideal": side}, "height": {"ideal": side * 3 // 4}}}))
            photo = image_upload(label="Or a photo", height=200, elem_id="realtime-photo")
            photo_btn = gr.Button("Stylise the photo", elem_id="realtime-photo-button")
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Style from", elem_id="realtime-source")
            sample = gr.Dropdown(list(samples.SAMPLE_STYLES), value=samples.SAMPLE_STYLES[0], label="Sample style",
                                 elem_id="realtime-sample")
            style = image_upload(label="Style image", height=160, elem_id="realtime-style", visible=False)
            builtin = gr.Slider(0, fast.MULTISTYLE_COUNT - 1, value=0, step=1, label="Built-in style (multistyle:K)",
                                visible=False, elem_id="realtime-builtin")
            strength = make_widget(STRENGTH, STRENGTH.default, opts, id_prefix="realtime-")
        with gr.Column(scale=1):
            # Each frame is a small JPEG in Gradio's cache (dropped after an hour, see build_app's delete_cache).
            result = gr.Image(label="Stylised", interactive=False, elem_id="realtime-result", height=420,
                              format="jpeg")
            status = gr.Markdown("Press record on the webcam, or upload a photo.", elem_id="realtime-status")
    inputs = [source, style, sample, builtin, strength]
    source.change(_source_changed, source, [style, sample, builtin, strength], queue=False,
                  api_visibility="private", show_progress="hidden")

    def on_frame(frame, source_, style_, sample_, builtin_, strength_, meter_):
        return stylise_frame(frame, StyleChoice(source_, style_, sample_, builtin_, strength_), meter_, options=opts)

    def on_photo(path, source_, style_, sample_, builtin_, strength_, meter_):
        return stylise_photo(path, StyleChoice(source_, style_, sample_, builtin_, strength_), meter_, options=opts)

    webcam.stream(on_frame, [webcam, *inputs, meter], [result, status, meter], stream_every=STREAM_EVERY,
                  time_limit=opts.realtime_time_limit, concurrency_id="realtime",
                  concurrency_limit=opts.concurrency_limit, show_progress="hidden", api_name="realtime_frame")
    photo_btn.click(on_photo, [photo, *inputs, meter], [result, status, meter], concurrency_id="realtime",
                    api_name="realtime_photo", show_progress="minimal")
