"""The Video tab: a short clip through the fast network, with and without temporal blending, and its flicker curve.

The handler [`stylise_clip`][explainer.app.video_tab.stylise_clip] is a
function of plain values (testable without a browser): it runs
[`stylize_video`][explainer.video.stylize_video] on the uploaded clip (or the
sample pan-and-zoom) within the explorer's limits, `MAX_FRAMES` frames at
`MAX_SIDE` px at most, and returns the result, the flicker figure and one
line of numbers. A one-line message replaces them when something is wrong.

Its settings' widgets (network, blend, size, frames) are made from the
settings' declarations; `TAB_SETTINGS` is the one place where the tab is
stricter than `style-explainer video` (its budget), and `TAB_DEFAULTS` where
its widgets start.
"""

from __future__ import annotations

import pathlib
import tempfile
from typing import Any

import gradio as gr

from backends import Styliser
from explainer import samples
from explainer.app.messages import web_message
from explainer.app.options import AppOptions
from explainer.app.uploads import display_name
from explainer.app.widgets import make_widget, tab_setting, widget_range
from explainer.config import FastSettings, OptimisationSettings, VideoSettings
from explainer.errors import USER_ERRORS, ConfigError
from explainer.settings import Setting

#: The explorer's limits for a clip: frames stylised and the longest side of a frame.
MAX_FRAMES = 48
MAX_SIDE = 256
SAMPLE_CLIP_LABEL = "Sample clip (pan and zoom over the sample photo)"

#: The tab's settings, in widget order: each its declaration, with what the tab does differently: its budget
#: (size, frames), widgets the command line's settings lack, and its words. `tab_setting` refuses a looser range.
TAB_SETTINGS: dict[str, Setting] = {
    "model": tab_setting(FastSettings, "model", label="Network (arbitrary: the style image below)"),
    "temporal_blend": tab_setting(VideoSettings, "temporal_blend", label="Temporal blend (0: each frame on its own)"),
    "size": tab_setting(OptimisationSettings, "size", min=64, max=MAX_SIDE),
    "max_frames": tab_setting(VideoSettings, "max_frames", widget="slider", min=2, max=MAX_FRAMES, step=1,
                              label="Frames"),
}
#: Where the tab's widgets start (the command line's defaults are for whole videos, without blending).
TAB_DEFAULTS = {"model": "arbitrary", "temporal_blend": 0.6, "size": 192, "max_frames": 24}


def stylise_clip(clip: str | None, style: str, model: str, blend: float, size: int, frames: int,
                 styliser: Styliser | None = None) -> tuple[str | None, Any, str]:
    """`(output video path, flicker figure, Markdown line)`; on a mistake `(None, None, "**Error:** ...")`.

    The network and style are the tab's choices only (never a path); errors name the upload by its own file
    name (`uploads.display_name`), never the server's path to it.
    """
    from explainer.video import SAMPLE_CLIP, VIDEO_DEFAULTS, flicker_figure, stylize_video

    try:
        if model not in widget_choices("model") or style not in samples.SAMPLE_STYLES:
            raise ConfigError("choose a network the tab offers (arbitrary, multistyle:K with K from 0 to 25) and a "
                              f"sample style ({', '.join(samples.SAMPLE_STYLES)}) here")
        try:
            size, frames, blend = int(size), int(frames), float(blend)
        except (TypeError, ValueError):
            raise ConfigError("size, frames and blend must be numbers") from None
        if not _within("size", size) or not _within("max_frames", frames):
            low_size, low_frames = widget_range(TAB_SETTINGS["size"])[0], widget_range(TAB_SETTINGS["max_frames"])[0]
            raise ConfigError(f"the explorer stylises at most {MAX_FRAMES} frames of at most {MAX_SIDE} px "
                              f"(at least {low_frames} frames of at least {low_size} px)")
        config = VIDEO_DEFAULTS.replace(method="fast", model=model, size=size, max_frames=frames,
                                        temporal_blend=float(blend))
        styles = [samples.SAMPLE_PREFIX + style] if model == "arbitrary" else []
        out = pathlib.Path(tempfile.mkdtemp(prefix="style-explainer-video-")) / "stylised.mp4"
        result = stylize_video(clip or SAMPLE_CLIP, styles, out, config, network=styliser, progress=False,
                               log=lambda message: None)
    except USER_ERRORS as error:
        message = str(error).replace(str(clip), display_name(clip, "the clip")) if clip else str(error)
        return None, None, f"**Error:** {web_message(message)}"
    flicker = result.record["flicker"]
    figure = flicker_figure([result.record], [f"blend {blend:g}"])
    seconds = result.record["wall_time_s"]
    line = (f"{result.record['frames']} frames in {seconds:.1f} s ({result.record['frames'] / seconds:.1f} frames/s); "
            f"flicker **{flicker['relative']:.2f}x** the input's (mean change {flicker['output']:.4f} against "
            f"{flicker['input']:.4f}, pixels the flow can follow)")
    return str(out), figure, line


def widget_choices(name: str) -> tuple[str, ...]:
    """The choices the tab offers for setting `name`."""
    item = TAB_SETTINGS[name]
    return tuple(item.options.get("choices", item.choices))


def _within(name: str, value: float) -> bool:
    low, high = widget_range(TAB_SETTINGS[name])
    return low <= value <= high


def _widget(name: str, options: AppOptions | None) -> gr.components.Component:
    """The tab's widget of setting `name` (HTML id `video-` and the setting's flag, e.g. `video-temporal-blend`)."""
    # limits={}: the tab's own range (TAB_SETTINGS), not the Stylize tab's size and iterations.
    return make_widget(TAB_SETTINGS[name], TAB_DEFAULTS[name], options or AppOptions(), limits={}, id_prefix="video-")


def build_video_tab(options: AppOptions | None = None) -> None:
    """The tab's widgets and its one event (inside a `gr.Tab`)."""
    gr.Markdown(
        "Every frame through the fast network. With **temporal blending** each frame takes some of the previous "
        "result, moved by the optical flow, where the flow can be trusted: the curve below shows how much each frame "
        "changes beyond the motion (lower: less flicker). `style-explainer video` does the same for whole videos, "
        "and optimises frames with Ruder et al.'s temporal term (`--method gatys`).")
    with gr.Row():
        clip = gr.Video(label=f"Clip (empty: {SAMPLE_CLIP_LABEL.lower()}); the first {MAX_FRAMES} frames are used",
                        sources=["upload"])
        with gr.Column():
            model = _widget("model", options)
            style = gr.Dropdown(list(samples.SAMPLE_STYLES), value=samples.SAMPLE_STYLES[0], label="Style",
                                elem_id="video-style")
            blend, size, frames = (_widget(name, options) for name in ("temporal_blend", "size", "max_frames"))
            run = gr.Button("Stylise the clip", variant="primary")
    with gr.Row():
        result = gr.Video(label="Result", interactive=False)
        curve = gr.Plot(label="Flicker per frame")
    line = gr.Markdown()
    run.click(stylise_clip, [clip, style, model, blend, size, frames], [result, curve, line],
              concurrency_limit=1, api_visibility="private")
