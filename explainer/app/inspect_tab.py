"""The Inspect tab: one image inside the network, and the last run step by step."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr
import numpy as np
from matplotlib import colormaps

from backends import UnknownLayerError, layer_names
from explainer import figures, samples
from explainer import images as _images
from explainer.app import state
from explainer.app.messages import web_message
from explainer.app.options import AppOptions, lesson_link
from explainer.app.stylize_tab import inspect_default
from explainer.app.uploads import image_upload, load_user_image
from explainer.app.widgets import relu_layers, settings_from_values
from explainer.errors import USER_ERRORS, ImageError, one_line
from explainer.inspection import inspect_image, stats_table
from explainer.record import Trace

STATS_HEADERS = ["layer", "size", "channels", "mean", "max", "dead channels", "top channel"]
#: The settings of the Stylize tab that Inspect uses.
INSPECT_KEYS = ("network", "weights", "pooling", "size", "seed")


@functools.lru_cache(maxsize=4)
def _inspection(path: str, mtime: float, config, layers: tuple[str, ...], max_side: int) -> Trace:
    pixels = load_user_image(path, "image", max_side)
    return inspect_image(pixels, layers, backend=state.cached_backend(config), config=config, top_k=16)


def channel_images(trace: Trace, iteration: int, layer: str, min_side: int = 160) -> list[tuple[np.ndarray, str]]:
    """The kept channels of a layer as colour images with captions, on one shared scale."""
    acts, channels = trace.activations(iteration, layer)
    energy = trace.channel_stats(iteration, layer)["energy"]
    vmax = float(np.max(acts)) or 1.0
    cmap = colormaps[figures.SEQUENTIAL]
    height, width = acts.shape[:2]
    repeat = max(1, math.ceil(min_side / max(1, min(height, width))))
    items = []
    for i, channel in enumerate(channels):
        rgb = cmap(np.clip(acts[..., i] / vmax, 0.0, 1.0))[..., :3]
        rgb = np.repeat(np.repeat(rgb, repeat, axis=0), repeat, axis=1)  # nearest: keep the pixels visible
        items.append((_images.to_uint8(rgb), f"channel {int(channel)} · energy {float(energy[int(channel)]):.3g}"))
    return items


def inspect_view(image: str | None, layer: str, values: Mapping[str, Any] | None = None, *,
                 options: AppOptions | None = None, max_side: int | None = None) -> tuple:
    """Look at one image through the network at one layer.

    Args:
        image: an image file.
        layer: the layer to show.
        values: the Stylize tab's settings (network, weights, pooling, size, seed are used).

    Returns:
        `(gallery, gram_figure, stats_figure, stats_rows, status)`: the 16
        most energetic channels as `(image, caption)` pairs, the Gram
        heatmap, the channel statistics figure, one row per inspected
        layer (`explainer.inspection.stats_table`), and a Markdown line.
        On a user error: empty outputs and the message.
    """
    options = options or AppOptions()
    try:
        if not image:
            raise ImageError("no image to inspect; upload one or pick a sample")
        config = settings_from_values(values or {}, options)[0]
        config = config.replace(seed=config.seed if config.weights == "random" else 0)
        arch = state.cached_backend(config).arch  # what runs: with auto perhaps HED's VGG16
        known = layer_names(arch)
        if layer not in known:
            raise UnknownLayerError(f"{arch} has no layer {layer!r}")
        layers = tuple(n for n in known if n in set(relu_layers(arch)) | {layer})
        trace = _inspection(str(image), os.path.getmtime(image), config, layers, max_side or options.max_image_side)
    except USER_ERRORS as error:
        message = web_message(error)
        gr.Warning(message)
        return [], None, None, [], f"**Error:** {message}"
    rows = [[r["layer"], f"{r['height']}x{r['width']}", r["channels"], round(r["mean"], 4), round(r["max"], 4),
             r["dead_channels"], r["top_channel"]] for r in stats_table(trace)]
    acts, _ = trace.activations(0, layer)
    status = (f"**{state.cached_backend(config).describe(with_path=False)}** · {layer}: "
              f"{acts.shape[0]}x{acts.shape[1]} px, {len(trace.channel_stats(0, layer)['mean'])} channels "
              f"(showing the 16 most energetic)")
    return (channel_images(trace, 0, layer), figures.gram_heatmap(trace, 0, layer),
            figures.channel_stats(trace, 0, layer), rows, status)


@functools.lru_cache(maxsize=4)
def _load_trace(directory: str, mtime: float) -> Trace:
    return Trace.load(directory)


def _run_trace(trace_dir: str | None) -> Trace | None:
    if not trace_dir or not pathlib.Path(trace_dir, "trace.json").is_file():
        return None
    return _load_trace(str(trace_dir), os.path.getmtime(pathlib.Path(trace_dir, "trace.json")))


def trace_steps(trace_dir: str | None):
    """The step slider for a run's trace: its recorded range, at the last step."""
    trace = _run_trace(trace_dir)
    if trace is None or not trace.iterations:
        return gr.update(minimum=0, maximum=1, value=0, interactive=False,
                         label="Recorded step (run a stylization first)")
    first, last = min(trace.iterations), max(trace.iterations)
    return gr.update(minimum=first, maximum=max(last, first + 1), value=last, step=1, interactive=True,
                     label=f"Recorded step ({len(trace.iterations)} snapshots: {_short_list(trace.iterations)})")


def _short_list(values: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", … {values[-1]}" if len(values) > limit else "")


def trace_view(trace_dir: str | None, step: float | None, layer: str | None = None) -> tuple:
    """A run's trace at the recorded step nearest `step`.

    Returns:
        `(contribution_bars, gradient_maps, gram_comparison, status)`; the
        Gram comparison only when `layer` was a recorded style layer. Figures
        that cannot be made are `None`, with the reason in `status`.
    """
    trace = _run_trace(trace_dir)
    if trace is None or not trace.iterations:
        return None, None, None, "Run a stylization first: its trace shows up here."
    iteration = min(trace.iterations, key=lambda it: (abs(it - float(step or 0)), it))
    notes = [f"Step **{iteration}** (recorded: {_short_list(trace.iterations)})"]
    bars = figures.contribution_bars(trace, iteration)
    # Gradient maps are taken at every other snapshot by default: show the nearest.
    with_maps = trace.gradient_iterations
    map_step = min(with_maps, key=lambda it: (abs(it - iteration), it)) if with_maps else iteration
    if map_step != iteration:
        notes.append(f"gradient maps are from step **{map_step}** (taken at {_short_list(with_maps)})")
    try:
        gradients = figures.gradient_maps(trace, map_step)
    except ValueError as error:
        gradients = None
        notes.append(one_line(error))
    gram = None
    style_terms = trace.losses(iteration)["terms"].get("style", {})
    if layer and layer in trace.layers and layer in style_terms:
        gram = figures.gram_comparison(trace, iteration, layer)
    elif layer:
        notes.append(f"{layer} was not a style layer of this run (style layers: {', '.join(style_terms) or 'none'}), "
                     "so there is no Gram comparison.")
    return bars, gradients, gram, " · ".join(notes)


@dataclasses.dataclass
class InspectTab:
    layer: Any


def build_inspect_tab(opts: AppOptions, stylize) -> InspectTab:
    """The Inspect tab, reading the network settings of the Stylize tab and the trace of its last run."""
    base = opts.lessons_url
    gr.Markdown("**Learn:** " + lesson_link("inspect", "what each VGG layer sees", base) + " · "
                + lesson_link("gram", "Gram matrices: style as channel correlations", base) + " · "
                + lesson_link("trace", "what a run's trace records", base))
    gr.Markdown("### One image, inside the network\nUses the network, weights, pooling and size chosen on the "
                "Stylize tab.")
    names = stylize.widgets["content_layers"].choices
    names = [choice[0] if isinstance(choice, tuple) else choice for choice in names]
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            image = image_upload(label="Image", height=240, elem_id="inspect-image")
            gr.Examples([[str(samples.sample_path(name))] for name in samples.SAMPLE_NAMES], inputs=[image],
                        label="Samples")
            layer = gr.Dropdown(list(names), value=inspect_default(names), label="Layer", elem_id="inspect-layer")
            button = gr.Button("Look inside", variant="primary", elem_id="inspect-button")
            status = gr.Markdown()
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="The 16 most energetic channels (shared colour scale)", columns=4, height=480,
                                 format="png", elem_id="feature-gallery")
    with gr.Row():
        gram_plot = gr.Plot(label="Gram matrix", show_label=False)
    stats_plot = gr.Plot(label="Channel statistics", show_label=False)  # full width: one bar per channel
    table = gr.Dataframe(headers=STATS_HEADERS, label="Every inspected layer", interactive=False)

    gr.Markdown("### The last run, step by step\nWhich term carries the loss, and where each one pushes the pixels, "
                "at any recorded step of the last Stylize run.")
    with gr.Row():
        step = gr.Slider(0, 1, value=0, step=1, interactive=False, label="Recorded step (run a stylization first)",
                         elem_id="trace-step")
        trace_status = gr.Markdown("Run a stylization first: its trace shows up here.")
    bars = gr.Plot(label="Share of each term in the loss", show_label=False, elem_id="trace-bars")
    gradients = gr.Plot(label="Gradient maps: where each term pushes the pixels", show_label=False)
    grams = gr.Plot(label="Gram matrices of the chosen layer: content, style target, result", show_label=False)

    settings = [stylize.widgets[k] for k in INSPECT_KEYS]
    outputs = [gallery, gram_plot, stats_plot, table, status]

    def on_inspect(image_path, layer_name, *values):
        return inspect_view(image_path, layer_name, dict(zip(INSPECT_KEYS, values)), options=opts)

    def on_layer(image_path, *values):  # quietly nothing until there is an image
        return on_inspect(image_path, *values) if image_path else tuple(gr.skip() for _ in outputs)

    # The last message goes at once (a stale error must not sit beside a new request), then the work.
    button.click(lambda: "Looking inside…", None, status, queue=False, api_visibility="private").then(
        on_inspect, [image, layer, *settings], outputs, api_name="inspect", concurrency_id="inspect")
    layer.change(on_layer, [image, layer, *settings], outputs, api_visibility="private", concurrency_id="inspect")
    trace_outputs = [bars, gradients, grams, trace_status]
    stylize.run_event.then(trace_steps, stylize.trace_dir, step, api_visibility="private").then(
        trace_view, [stylize.trace_dir, step, layer], trace_outputs, api_visibility="private")
    gr.on([step.release, layer.change], trace_view, [stylize.trace_dir, step, layer], trace_outputs,
          api_visibility="private", concurrency_id="inspect")
    return InspectTab(layer)
