"""The Train tab: train a small feed-forward network for one style and watch it learn.

[`train_stream`][explainer.app.train_tab.train_stream] is the handler, a
generator of plain values (testable without a browser): it runs
[`Training`][explainer.training.Training] with the explorer's limits
(`MAX_SIZE`, `MAX_STEPS`, a slim or full network, batch 4) and yields, every
few steps, a status line, the loss curve and the probe photos as the
network paints them. Stop (the session's stop flag, `state.request_stop`)
ends it after the current step with a checkpoint and a usable model; the
model's folder is offered to the Stylize tab's `--method fast` through
[`trained_models`][explainer.app.train_tab.trained_models].
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from explainer import samples
from explainer.app import state
from explainer.app.uploads import image_upload, load_user_image
from explainer.config import TrainSettings
from explainer.errors import USER_ERRORS, one_line
from explainer.figures_train import plot_history

#: The explorer's limits (the command line has none but --max-work): about 10 minutes on 2 busy cores.
MAX_SIZE, MAX_STEPS, BATCH = 128, 300, 4
#: Update the page every this many steps (and at the first and last).
UPDATE_EVERY = 5
#: Models trained in this process, newest last: `(label, folder)`.
_TRAINED: list[tuple[str, str]] = []


def trained_models() -> list[tuple[str, str]]:
    """`(label, model folder)` of every model trained in this explorer, newest first (for Stylize's `--model`)."""
    return list(reversed(_TRAINED))


def loss_figure(history: list[dict]) -> Figure:
    fig = Figure(figsize=(5.0, 2.6), layout="constrained")
    ax = fig.add_subplot()
    plot_history(ax, history)
    ax.legend(fontsize=7)
    return fig


def train_stream(style_path: str | None, size: int, steps: int, arch: str, norm: str, *, session: str = "local",
                 data: str | None = None, weights: str = "auto") -> Iterator[tuple[str, Any, Any, str]]:
    """Yield `(status, loss figure, probe previews (uint8), model folder)` while training; errors as a status line."""
    from explainer.training import Training

    flag = state.start_run(session)
    try:
        style = load_user_image(style_path, "style image") if style_path else samples.sample_style("swirl")
        settings = TrainSettings(size=min(int(size), MAX_SIZE), steps=min(int(steps), MAX_STEPS), batch_size=BATCH,
                                 arch=arch, norm=norm, data=data, weights=weights, preview_every=UPDATE_EVERY * 4,
                                 checkpoint_every=100, max_work=MAX_SIZE ** 2 * BATCH * MAX_STEPS / 1e6)
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
        _TRAINED.append((f"{arch}/{norm}, {result['steps_done']} steps ({time.strftime('%H:%M')})", str(folder)))
        ended = "stopped" if result["interrupted"] else "failed: " + result["failed"] if result["failed"] else "done"
        status = (f"{ended} after {result['steps_done']} steps; the model is in `{folder}` (choose it in Stylize "
                  "with --method fast)")
        yield status, loss_figure(training.history), _strip(training.preview), str(folder)
    except USER_ERRORS as error:
        yield f"**Error:** {one_line(error)}", None, None, ""
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
    with gr.Row():
        style = image_upload(label="style image (empty: the swirl sample)")
        with gr.Column():
            size = gr.Slider(32, MAX_SIZE, value=96, step=32, label="size (px)")
            steps = gr.Slider(10, MAX_STEPS, value=100, step=10, label="steps")
            arch = gr.Radio(["slim", "johnson"], value="slim", label="network")
            norm = gr.Radio(["instance", "batch"], value="instance", label="normalisation")
            with gr.Row():
                start = gr.Button("Train", variant="primary")
                stop = gr.Button("Stop")
    status = gr.Markdown()
    with gr.Row():
        plot = gr.Plot(label="loss")
        previews = gr.Image(label="probe photos, as the network paints them", interactive=False)
    model = gr.Textbox(label="model folder", interactive=False)

    def run(style_path, size, steps, arch, norm, request: gr.Request):
        yield from train_stream(style_path, size, steps, arch, norm, session=state.session_of(request))

    def halt(request: gr.Request):
        state.request_stop(state.session_of(request))

    start.click(run, [style, size, steps, arch, norm], [status, plot, previews, model], api_visibility="private")
    stop.click(halt, None, None, queue=False, api_visibility="private")
    return {"model": model, "status": status}
