"""The Train tab: train a small feed-forward network for one style and watch it learn.

Its widgets are generated from the settings of
[`TrainSettings`][explainer.config.TrainSettings] that declare one (size,
steps, network, normalisation, loss balance and weights, learning-rate
schedule), starting at `TAB_DEFAULTS`. [`train_stream`][explainer.app.train_tab.train_stream]
is the handler, a generator of plain values (testable without a browser):
it runs [`Training`][explainer.training.Training] with the explorer's limits
(`MAX_SIZE`, `MAX_STEPS`, batch 4) and yields, every
few steps, a status line, the loss curve and the probe photos as the
network paints them. Stop (the session's stop flag, `state.request_stop`)
ends it after the current step with a checkpoint and a usable model; the
model is offered to the Stylize tab's `--method fast` as `trained:N` (never
its folder: see [`trained_models`][explainer.app.train_tab.trained_models]).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from explainer import samples
from explainer.app import state
from explainer.app.messages import web_message
from explainer.app.options import AppOptions
from explainer.app.uploads import image_upload, load_user_image
from explainer.app.widgets import follow_weight_labels, key, make_widget, to_setting_value, to_widget_value
from explainer.config import TrainSettings
from explainer.errors import USER_ERRORS, BudgetError, ConfigError
from explainer.figures_train import plot_history
from explainer.settings import Setting, settings_of

#: The explorer's limits (the command line has none but --max-work): about 10 minutes on 2 busy cores.
MAX_SIZE, MAX_STEPS, BATCH = 128, 300, 4
#: The sliders' maxima, by setting.
LIMITS = {"size": MAX_SIZE, "steps": MAX_STEPS}
#: Where the tab's widgets start (the command line's defaults are for longer runs).
TAB_DEFAULTS = TrainSettings(size=96, steps=100, arch="slim", batch_size=BATCH)
#: Shown at once; the other settings with a widget are under "Loss and learning rate".
MAIN = ("size", "steps", "arch", "norm")
#: Update the page every this many steps (and at the first and last).
UPDATE_EVERY = 5


def trained_models() -> list[tuple[str, str]]:
    """`(label, model folder)` of every model trained in this explorer, newest first.

    Pages choose them as `trained:N` ([`state.trained_networks`][explainer.app.state.trained_networks]).
    """
    return [(label, folder) for _name, label, folder in state.trained_networks()]


def loss_figure(history: list[dict]) -> Figure:
    fig = Figure(figsize=(5.0, 2.6), layout="constrained")
    ax = fig.add_subplot()
    plot_history(ax, history)
    ax.legend(fontsize=7)
    return fig


def tab_settings() -> tuple[Setting, ...]:
    """The settings the tab shows: every `TrainSettings` setting declared with a widget."""
    return tuple(item for item in settings_of(TrainSettings) if item.widget)


def settings_from_values(values: Mapping[str, Any], *, data: str | None = None,
                         weights: str = TAB_DEFAULTS.weights) -> TrainSettings:
    """`TrainSettings` from the widgets' values (keyed like the flags: `"lr_schedule"`), missing ones from
    `TAB_DEFAULTS`; `ConfigError` or `BudgetError` (one line) for what the explorer does not train."""
    try:
        fields = {item.name: to_setting_value(item, values[key(item)]) for item in tab_settings()
                  if key(item) in values}
        settings = TAB_DEFAULTS.replace(**fields, data=data, weights=weights, preview_every=UPDATE_EVERY * 4,
                                        checkpoint_every=100, max_work=MAX_SIZE ** 2 * BATCH * MAX_STEPS / 1e6)
    except ValueError as error:
        raise ConfigError(" ".join(str(error).split())) from None
    for name, limit in LIMITS.items():
        if getattr(settings, name) > limit:
            raise BudgetError(f"{name} {getattr(settings, name)} is more than the explorer trains ({limit}); "
                              "use style-explainer train for more")
    return settings


def train_stream(style_path: str | None, values: Mapping[str, Any], *, session: str = "local",
                 data: str | None = None, weights: str = TAB_DEFAULTS.weights) -> Iterator[tuple[str, Any, Any, str]]:
    """Yield `(status, loss figure, probe previews (uint8), model folder)` while training; errors as a status line.

    `values`: the widgets' values keyed like the flags (see `settings_from_values`).
    """
    from explainer.training import Training

    flag = state.start_run(session)
    try:
        settings = settings_from_values(values, data=data, weights=weights)
        style = load_user_image(style_path, "style image") if style_path else samples.sample_style("swirl")
        folder = state.new_run_dir() / "model"
        yield "Preparing: the loss network, the photos, compiling the step (a minute)...", None, None, ""
        training = Training(style, folder, settings, log=lambda message: None)
        events = training.events(stop=flag.is_set)
        start = time.perf_counter()
        try:
            for event in events:
                if event.iteration in (1, settings.steps) or event.iteration % UPDATE_EVERY == 0:
                    status = (f"step {event.iteration} of {settings.steps}: loss {event.loss:.4g}, "
                              f"{event.images_per_second:.2f} images/s, {time.perf_counter() - start:.0f} s")
                    yield status, loss_figure(training.history), _strip(training.preview), ""
        finally:
            events.close()  # writes the checkpoint and the model, however the loop ended
        result = training.result
        label = f"{settings.arch}/{settings.norm}, {result['steps_done']} steps ({time.strftime('%H:%M')})"
        name = state.add_trained(label, str(folder))
        ended = "stopped" if result["interrupted"] else "failed: " + result["failed"] if result["failed"] else "done"
        status = web_message(f"{ended} after {result['steps_done']} steps; the model is `{name}` (choose it in "
                             "Stylize's Model, with --method fast)")
        yield status, loss_figure(training.history), _strip(training.preview), str(folder)
    except USER_ERRORS as error:
        yield f"**Error:** {web_message(error)}", None, None, ""
    finally:
        state.end_run(session, flag)


def _strip(previews: np.ndarray | None) -> np.ndarray | None:
    if previews is None:
        return None
    return (np.clip(np.concatenate(list(previews), axis=1), 0, 1) * 255).astype(np.uint8)


def build_train_tab(opts: Any = None) -> dict:
    """The tab's widgets and events (inside a `gr.Tab`)."""
    gr.Markdown("Train Johnson et al.'s network for one style on a few real photos, and watch it learn: the loss "
                "and the photos it never trains on, as it paints them. Limits here: "
                f"{MAX_SIZE} px, {MAX_STEPS} steps of {BATCH} photos (the command line: `style-explainer train`).")
    items = tab_settings()
    widgets = {}
    with gr.Row():
        style = image_upload(label="style image (empty: the swirl sample)")
        with gr.Column():
            for item in items:
                if item.name in MAIN:
                    widgets[key(item)] = _widget(item, opts)
            with gr.Accordion("Loss and learning rate", open=False):
                for item in items:
                    if item.name not in MAIN:
                        widgets[key(item)] = _widget(item, opts)
            with gr.Row():
                start = gr.Button("Train", variant="primary")
                stop = gr.Button("Stop")
    status = gr.Markdown()
    with gr.Row():
        plot = gr.Plot(label="loss")
        previews = gr.Image(label="probe photos, as the network paints them", interactive=False)
    model = gr.Textbox(label="model (a choice of Stylize's Model)", interactive=False)
    names, components = list(widgets), list(widgets.values())

    def run(request: gr.Request, style_path, *values):  # Gradio fills a gr.Request only before *values
        for status_, plot_, previews_, folder in train_stream(style_path, dict(zip(names, values)),
                                                               session=state.session_of(request)):
            # The page names the model `trained:N`, never by its server folder.
            yield status_, plot_, previews_, next((n for n, _l, f in state.trained_networks() if f == folder), "")

    def halt(request: gr.Request):
        state.request_stop(state.session_of(request))

    start.click(run, [style, *components], [status, plot, previews, model], api_visibility="private")
    stop.click(halt, None, None, queue=False, api_visibility="private")
    follow_weight_labels(items, widgets)
    return {"model": model, "status": status}


def _widget(item: Setting, opts: Any) -> Any:
    value = to_widget_value(item, getattr(TAB_DEFAULTS, item.name))
    return make_widget(item, value, opts or AppOptions(), limits=LIMITS, id_prefix="train-")
