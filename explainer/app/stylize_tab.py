"""The Stylize tab: a run streamed live, with Stop, downloads and the equivalent command.

The handler [`stylize_stream`][explainer.app.stylize_stream] is a generator of
plain values, testable without a browser; `build_stylize_tab` makes the
widgets (the settings' widgets generated from their declarations) and wires
them to it.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import gradio as gr

from backends import layer_names
from explainer import figures, registry, samples
from explainer import images as _images
from explainer.app import state
from explainer.app.messages import web_message
from explainer.app.options import AppOptions, lesson_link
from explainer.app.photo_panel import (
    build_mask_panel,
    check_uploads,
    photorealism_lines,
    with_masks,
    without_server_paths,
)
from explainer.app.uploads import display_name, image_upload, load_user_image
from explainer.app.widgets import (
    explorer_settings,
    follow_weight_labels,
    key,
    make_widget,
    network_arch,
    order_layers,
    relu_layers,
    settings_from_values,
    to_setting_value,
    to_widget_value,
)
from explainer.config import StyleConfig
from explainer.errors import USER_ERRORS, ConfigError
from explainer.events import Event
from explainer.runner import Result, stylize, stylize_command
from explainer.settings import GROUPS

SKIP = gr.skip()


def _error(message: str) -> str:
    gr.Warning(message)  # a toast in the page; a UserWarning outside Gradio
    return f"**Error:** {message}"


def cli_command(content: str | None, style: str | None, values: Mapping[str, Any],
                options: AppOptions | None = None) -> str:
    """The `style-explainer stylize ...` line for the tab's settings (or, as a comment, why there is none).

    It names the bundled samples by their file names, so it runs as-is next to `style-explainer samples`.
    """
    try:
        config = settings_from_values(values, options)[0]
        config = with_masks(config, values.get("content_mask"), values.get("style_mask"), names=True)
    except USER_ERRORS as error:
        return f"# {web_message(error)}"
    return stylize_command(config, display_name(content, "content.png"), [display_name(style, "style.png")],
                           "stylized.png")


#: Previews smaller than this are enlarged (by whole pixels) so a 128 px run does not sit tiny in its box.
DISPLAY_SIDE = 384


def for_display(image) -> Any:
    """The image as the page shows it: uint8, small ones enlarged by a whole factor (nearest neighbour).

    Only the preview: the downloads are the result itself.
    """
    pixels = _images.to_uint8(image)
    factor = DISPLAY_SIDE // max(pixels.shape[:2])
    return pixels.repeat(factor, 0).repeat(factor, 1) if factor > 1 else pixels


def live_plot(history: list[dict], config: StyleConfig, backend) -> Any:
    """Every term of the loss so far, per layer, on a log scale."""
    record = {"history": history, "config": config.to_dict(), **backend.provenance()}
    figure = figures.loss_curves(record, kind="all", log=True)
    figure.set_size_inches(10.5, 5.0)  # room for the provenance line in the title
    return figure


def stylize_stream(content: str | None, style: str | None, values: Mapping[str, Any] | None = None, *,
                   options: AppOptions | None = None, session: str = "local", max_side: int | None = None,
                   _warming: bool = False) -> Iterator[tuple]:
    """Stylize `content` in the style of `style`, yielding what the Stylize tab shows.

    Args:
        content: the content image file.
        style: the style image file.
        values: the settings widgets' values, keyed as
            [`explorer_settings`][explainer.app.explorer_settings] says
            (missing ones keep the defaults); `content_mask` and
            `style_mask`: uploaded region masks (files), if any.
        options: the explorer's options and limits.
        session: whose run this is (for `request_stop`).

    Every item is `(preview, loss_plot, status, command, files, trace_dir)`:
    the latest image (uint8) or `gr.skip()`; the loss curves so far or
    `gr.skip()`; a Markdown status (or a one-line error, also shown as a
    toast); the equivalent command; at the end `[result .png, record .json,
    trace .zip]`; at the end the trace folder (for Inspect).

    A preview comes after the first step and then every `preview_every`
    steps; its image is the result as it would be saved at that step.
    [`request_stop(session)`][explainer.app.request_stop], or closing this
    generator, stops the run after its current step; the last item then holds
    the latest image, and its record says `"interrupted": true`.
    """
    options = options or AppOptions()
    max_side = max_side or options.max_image_side
    values = dict(values or {})
    command = cli_command(content, style, values, options)
    try:
        config, record, live = settings_from_values(values, options)
        config = with_masks(config, values.get("content_mask"), values.get("style_mask"))  # uploads, if any
        images = load_user_image(content, "content", max_side), load_user_image(style, "style", max_side)
        check_uploads(config.content_mask, config.style_mask, *images)
    except USER_ERRORS as error:
        yield SKIP, SKIP, _error(web_message(error)), command, SKIP, SKIP
        return
    if not _warming:
        if state.warming_up():
            yield SKIP, SKIP, "Finishing the start-up warm-up (compiling the network)…", command, None, SKIP
            state.wait_for_warm_up()
        yield SKIP, SKIP, f"Loading {config.network} with {config.weights} weights…", command, None, SKIP
    try:
        network = _network_for(config)
    except USER_ERRORS as error:
        yield SKIP, SKIP, _error(web_message(error)), command, SKIP, SKIP
        return
    if not registry.get(config.method).iterative:
        record = None  # a trace of a feed-forward network holds no loss terms for Inspect to show
    run = _LiveRun(config, network, command, time.perf_counter())
    yield SKIP, SKIP, run.status(f"Compiling and taking the first step of {run.total}…"), command, None, SKIP
    outcome = yield from run.stream(images, record, live.preview_every, session)
    if isinstance(outcome, USER_ERRORS):
        yield SKIP, SKIP, _error(web_message(outcome)), command, SKIP, SKIP
    elif isinstance(outcome, BaseException):
        raise outcome
    else:
        yield run.finish(outcome)


def _network_for(config: StyleConfig):
    """The loaded network a run of the config's method uses (one per method's network key, shared)."""
    return state.cached_network(config)


@dataclasses.dataclass
class _LiveRun:
    """One run of the Stylize tab: the engine in a thread, the page fed from its events."""

    config: StyleConfig
    network: Any
    command: str
    start: float
    history: list = dataclasses.field(default_factory=list)
    first_preview: float | None = None

    @property
    def method(self):
        return registry.get(self.config.method)

    @property
    def fast(self) -> bool:
        """One pass of a network: no steps, no loss, no trace to inspect."""
        return not self.method.iterative

    @property
    def total(self) -> int:
        return self.config.iterations * self.config.scales if self.method.iterative else 1

    def status(self, *lines: str) -> str:
        name = self.method.network_name(self.network)  # no server paths
        return "\n\n".join([f"**{name}**", *lines])

    def stream(self, images, record, preview_every: int, session: str):
        """Yield previews while the run lasts; return its `Result` or the exception it raised."""
        steps: queue.Queue = queue.Queue()
        stop = state.start_run(session)
        worker = threading.Thread(target=self._work, args=(images, record, steps, stop), daemon=True,
                                  name=f"style-explainer-run-{session}")
        latest = shown = None
        try:
            worker.start()
            while True:
                batch = [steps.get()] + [steps.get_nowait() for _ in range(steps.qsize())]
                done = isinstance(batch[-1], tuple)  # ("done", Result or exception)
                events = batch[:-1] if done else batch
                self.history += [event.history_entry() for event in events]
                latest = events[-1] if events else latest
                wanted = any(e.iteration == 1 or e.iteration % preview_every == 0 for e in events)
                # At the end, the last step too: the page's last preview is the result's image.
                if latest is not None and latest is not shown and (wanted or done):
                    shown = latest
                    yield self._preview(latest)
                if done:
                    return batch[-1][1]
        finally:
            state.end_run(session, stop)  # stops a run whose page went away
            worker.join()

    def _work(self, images, record, steps: queue.Queue, stop: threading.Event) -> None:
        def on_step(event: Event) -> None:
            steps.put(event)

        try:
            styles = [images[1]] if self.method.uses_styles(self.config) else []  # some networks have theirs built in
            result = stylize(images[0], styles, self.config, backend=self.network,
                             on_step=on_step, stop=stop.is_set,  # stops, keeps the latest image, marks it interrupted
                             progress=False, log=lambda message: None, record=record)
            steps.put(("done", result))
        except BaseException as error:  # noqa: BLE001 -- handed to the consumer
            steps.put(("done", error))

    def _preview(self, event: Event) -> tuple:
        now = time.perf_counter() - self.start
        self.first_preview = self.first_preview or now
        if self.fast:
            return for_display(event.image), None, self.status(f"Stylised in {now:.1f} s"), self.command, None, SKIP
        line = (f"Step {event.iteration} of {self.total} · loss {event.loss:.4g} · {now:.1f} s "
                f"(first preview after {self.first_preview:.1f} s)")
        return (for_display(event.image), live_plot(self.history, self.config, self.network), self.status(line),
                self.command, None, SKIP)

    def finish(self, result: Result) -> tuple:
        """Save the result, its record and its trace; the last item of the stream."""
        run_dir = state.new_run_dir()
        result.record = without_server_paths(result.record)  # the uploaded masks by their own names
        if result.trace is not None:
            result.trace.manifest = without_server_paths(result.trace.manifest)
        png = result.save(run_dir / "stylized.png")
        record_path = png.with_suffix(".json")
        record = result.record
        if self.fast:  # no loss, no trace: the image and its record (embedding, network, time)
            status = self.status(f"**Finished** in {record['wall_time_s']:.2f} s (the network "
                                 f"{record['network_time_s'] * 1000:.0f} ms; the first run of a size compiles it)")
            return for_display(result.image), None, status, self.command, [str(png), str(record_path)], None
        trace_dir = result.trace.save(run_dir / "trace")
        archive = run_dir / "stylized-trace.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(trace_dir.iterdir()):
                bundle.write(path, f"trace/{path.name}")
            bundle.write(record_path, record_path.name)
        done = "**Stopped** after" if record["interrupted"] else "**Finished**"
        self.first_preview = self.first_preview or time.perf_counter() - self.start
        status = self.status(
            f"{done} {record['iterations_done']} of {self.total} steps in {record['wall_time_s']:.1f} s "
            f"(first preview after {self.first_preview:.1f} s)"
            + (f" · final loss {self.history[-1]['loss']:.4g}" if self.history else ""),
            f"Recorded {len(result.trace.iterations)} snapshots; open the **Inspect** tab to look inside them.",
            *photorealism_lines(record),
        )
        plot = live_plot(self.history, self.config, self.network) if self.history else None
        return (for_display(result.image), plot, status, self.command, [str(png), str(record_path), str(archive)],
                str(trace_dir))


# --------------------------------------------------------------------------- widget events


def layer_choices(network: str, weights: str, all_layers: bool, content_layers, style_layers):
    """Layer pickers for a network: relu layers (or all of them); selections it lacks are dropped."""
    arch = network_arch(network, weights, resolve=True)
    names = layer_names(arch) if all_layers else relu_layers(arch)
    keep = lambda chosen: [n for n in order_layers(chosen, arch) if n in names]
    return (
        gr.update(choices=list(names), value=keep(content_layers)),
        gr.update(choices=list(names), value=keep(style_layers)),
        gr.update(choices=list(names), value=inspect_default(names)),
    )


def sync_layer_weights(layers, text: str, network: str, weights: str, what: str = "style"):
    """Keep one weight per layer: the text stays when the count matches, else it is cleared (all 1)."""
    layers = order_layers(layers, network_arch(network, weights))
    try:
        values = to_setting_value(_setting(f"{what}_layer_weights"), text)
    except ConfigError:
        values = None
    if values is None or len(values) != len(layers):
        text = ""
    return gr.update(value=text, label=f"{what.capitalize()} layer weights, in order: "
                     f"{', '.join(layers) or '(no layers)'} (blank: 1 each)")


def network_status(network: str, weights: str, pooling: str = "max") -> str:
    """What will run for these choices, in one Markdown line (the weights are loaded to know)."""
    resolved = state.resolved_network(network, weights)
    if resolved is None:
        return f"**Runs:** {network} with {weights} weights, which cannot be loaded here (a run will say why)"
    return f"**Runs:** {resolved.arch} ({pooling} pooling), weights: {resolved.weights.describe(with_path=False)}"


def preset_values(preset: str, options: AppOptions | None = None) -> list[Any]:
    """The widget values a preset sets, in `PRESET_FILLED` order (`gr.skip()` for a setting it leaves alone)."""
    config = (options or AppOptions()).defaults.replace(preset=preset)
    return [to_widget_value(_setting(name), getattr(config, name)) if name in _filled(preset) else gr.skip()
            for name in PRESET_FILLED]


def method_values(method: str, names: Sequence[str]) -> Any:
    """The widget values choosing `method` sets, in `names` order (`gr.skip()` for a setting it leaves alone).

    One name gives its value alone: Gradio reads a list returned to a single output as that output's value.
    """
    fills = dict(registry.get(method).presets)
    values = [to_widget_value(_setting(name), fills[name]) if name in fills else gr.skip() for name in names]
    return values[0] if len(values) == 1 else values


def _method_filled() -> tuple[str, ...]:
    """Every setting some registered method sets when chosen."""
    return tuple(dict.fromkeys(name for method in registry.names() for name, _ in registry.get(method).presets))


def _filled(preset: str) -> tuple[str, ...]:
    return tuple(name for name, _ in dict(_setting("preset").presets).get(preset, ()))


#: Every setting some preset sets (their widgets follow the Preset choice).
PRESET_FILLED: tuple[str, ...] = tuple(dict.fromkeys(
    name for _, fills in next(i for i in explorer_settings() if i.name == "preset").presets for name, _ in fills))


def inspect_default(names: Sequence[str]) -> str:
    return "relu3_1" if "relu3_1" in names else names[0]


def _setting(name: str):
    return next(item for item in explorer_settings() if item.name == name)


# --------------------------------------------------------------------------- layout


@dataclasses.dataclass
class StylizeTab:
    """The Stylize tab's components that other tabs read."""

    content: Any
    style: Any
    widgets: dict[str, Any]  # key -> component, in `explorer_settings` order
    all_layers: Any  # "offer every layer" checkbox
    network_line: Any  # what will run
    run_event: Any
    trace_dir: Any


def build_stylize_tab(opts: AppOptions, values: dict[str, Any]) -> StylizeTab:
    """The Stylize tab: images, generated settings widgets, the live result; events wired."""
    base = opts.lessons_url
    gr.Markdown("**Learn:** " + lesson_link("stylize", "how the optimiser builds the image, step by step", base)
                + " · " + lesson_link("explorer", "using the explorer", base))
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            with gr.Row():
                content = image_upload(label="Content", height=220, elem_id="content-image")
                style = image_upload(label="Style", height=220, elem_id="style-image")
            gr.Examples(
                [[str(samples.sample_path(samples.SAMPLE_CONTENT)), str(samples.sample_path(s))]
                 for s in samples.SAMPLE_STYLES], inputs=[content, style],
                label="Bundled samples (Grace Hopper, public domain; styles painted by this project)",
            )
            masks = build_mask_panel()
            with gr.Row():
                run_btn = gr.Button("Stylize", variant="primary", elem_id="stylize-button")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-button")
            widgets, all_layers, network_line = _settings_panel(opts, values)
            widgets.update(zip(("content_mask", "style_mask"), masks))  # uploads: their values travel with the settings
        with gr.Column(scale=1):
            preview = gr.Image(label="Result (live)", format="png", interactive=False, elem_id="result-image", height=420)
            status = gr.Markdown("Pick a content and a style image (or a sample row), then **Stylize**.",
                                 elem_id="run-status")
            loss_plot = gr.Plot(label="Loss per layer (live)", show_label=False, elem_id="loss-plot")
            command = gr.Textbox(cli_command(None, None, values, opts), label="Copy as CLI command", buttons=["copy"],
                                 interactive=False, lines=2, elem_id="cli-command")
            downloads = gr.File(label="Downloads: result, record (.json), trace (.zip)", file_count="multiple",
                                interactive=False, elem_id="downloads")
    trace_dir = gr.State(None)
    run_event = _wire(opts, content, style, widgets, all_layers,
                      (run_btn, stop_btn), (preview, loss_plot, status, command, downloads, trace_dir))
    return StylizeTab(content, style, widgets, all_layers, network_line, run_event, trace_dir)


def _settings_panel(opts: AppOptions, values: dict[str, Any]):
    """One accordion per settings group, a widget per setting, made from the declarations."""
    arch = network_arch(values["network"], values["weights"])
    names = relu_layers(arch)
    every_layer = not set(values["content_layers"] + values["style_layers"]) <= set(names)  # defaults beyond relu
    if every_layer:
        names = layer_names(arch)
    widgets: dict[str, Any] = {}
    all_layers = status = None
    items = explorer_settings(type(opts.defaults))
    for group, title in GROUPS.items():
        members = [item for item in items if item.group == group]
        if not members:
            continue
        with gr.Accordion(title.capitalize(), open=group in ("network", "loss")):
            if group == "loss":
                all_layers = gr.Checkbox(every_layer, label="Offer every layer (conv, pool), not only relu")
            for item in members:
                widgets[key(item)] = make_widget(item, values[key(item)], opts, names)
            if group == "network":
                status = gr.Markdown(network_status(values["network"], values["weights"], values["pooling"]),
                                     elem_id="network-status")
    return widgets, all_layers, status


def _wire(opts: AppOptions, content, style, widgets: dict[str, Any], all_layers, buttons, outputs):
    run_btn, stop_btn = buttons
    names = list(widgets)
    components = list(widgets.values())

    # Gradio passes the request only to a positional parameter annotated gr.Request.
    def on_stylize(request: gr.Request, content_path, style_path, *settings):
        yield from stylize_stream(content_path, style_path, dict(zip(names, settings)), options=opts,
                                  session=state.session_of(request))

    def on_stop(request: gr.Request):
        state.request_stop(state.session_of(request))

    run_event = run_btn.click(on_stylize, [content, style, *components], list(outputs), api_name="stylize",
                              concurrency_id="engine", concurrency_limit=opts.concurrency_limit,
                              show_progress="minimal")
    stop_btn.click(on_stop, None, None, queue=False, concurrency_limit=None, api_name="stop")
    quiet = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    filled = [name for name in _method_filled() if name in widgets]
    if "method" in widgets and filled:  # what a method sets (photo: L-BFGS), each widget changeable after it
        widgets["method"].change(lambda method: method_values(method, filled), widgets["method"],
                                 [widgets[name] for name in filled], **quiet)
    gr.on([c.change for c in (content, style, *components)],
          lambda c, s, *v: cli_command(c, s, dict(zip(names, v)), opts), [content, style, *components], outputs[3],
          **quiet)
    follow_weight_labels(explorer_settings(type(opts.defaults)), widgets)
    if "preset" in widgets:  # a preset sets the widgets it stands for; each can be changed after it
        targets = [widgets[key(_setting(name))] for name in PRESET_FILLED]
        widgets["preset"].change(lambda preset: preset_values(preset, opts), widgets["preset"], targets, **quiet)
    for what in ("content", "style"):
        if f"{what}_layer_weights" in widgets:
            widgets[f"{what}_layers"].change(
                lambda layers, text, n, w, what=what: sync_layer_weights(layers, text, n, w, what),
                [widgets[f"{what}_layers"], widgets[f"{what}_layer_weights"], widgets["network"], widgets["weights"]],
                widgets[f"{what}_layer_weights"], **quiet)
    return run_event
