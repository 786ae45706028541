"""The explorer's page: the tabs put together, the warm-up, and the server."""

from __future__ import annotations

import pathlib
import shutil
import threading
import time
from typing import Any

import gradio as gr

from backends import enable_compile_cache
from explainer import samples
from explainer.app import state
from explainer.app.compare_tab import build_compare_tab
from explainer.app.inspect_tab import build_inspect_tab
from explainer.app.messages import guard_requests, web_message
from explainer.app.options import LESSONS_ROUTE, MAX_UPLOAD, AppOptions, built_lessons
from explainer.app.realtime_tab import build_realtime_tab
from explainer.app.stylize_tab import build_stylize_tab, layer_choices, network_status, stylize_stream
from explainer.app.train_tab import build_train_tab
from explainer.app.video_tab import build_video_tab
from explainer.app.widgets import default_values, model_names
from explainer.errors import ConfigError, one_line

#: A log-scale slider's number box would show log10 of the weight; its label shows the weight itself.
EXPLORER_CSS = ".log-slider input[type=number] { display: none; }"


def build_app(**options: Any) -> gr.Blocks:
    """The explorer's `gr.Blocks`, with its queue set up (see [`AppOptions`][explainer.app.AppOptions])."""
    opts = AppOptions(**options)
    values = default_values(opts, resolve=True)  # show and offer the network that will run
    # Results and traces (tens of MB) are copied into Gradio's cache: drop them after an hour.
    with gr.Blocks(title="style-explainer explorer", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# style-explainer explorer\nNeural style transfer you can see inside: every number in the loss "
            "belongs to a layer. Runs here use the same settings as the command line and the Python API."
            + ("" if opts.lessons_url else "\n\n*The **Learn** links need the lessons: "
               '`pip install -e ".[docs]" && mkdocs build`, then restart the explorer, which serves them at '
               f"`{LESSONS_ROUTE}`.*")
        )
        with gr.Tabs():
            with gr.Tab("Stylize", id="stylize"):
                stylize = build_stylize_tab(opts, values)
            with gr.Tab("Inspect", id="inspect"):
                inspect = build_inspect_tab(opts, stylize)
            with gr.Tab("Compare", id="compare"):
                build_compare_tab(opts, stylize)
            with gr.Tab("Real-time", id="realtime"):
                build_realtime_tab(opts)
            with gr.Tab("Video", id="video"):
                build_video_tab(opts)
            with gr.Tab("Train", id="train"):
                train = build_train_tab(opts)
        w, all_layers = stylize.widgets, stylize.all_layers
        # A network trained in the Train tab becomes a choice of Stylize's Model (method fast).
        train["model"].change(model_choices, w["model"], w["model"], api_visibility="private", queue=False)
        gr.on([w["network"].change, w["weights"].change, all_layers.change], layer_choices,
              [w["network"], w["weights"], all_layers, w["content_layers"], w["style_layers"]],
              [w["content_layers"], w["style_layers"], inspect.layer], api_visibility="private", queue=False)
        gr.on([w["network"].change, w["weights"].change, w["pooling"].change], network_status,
              [w["network"], w["weights"], w["pooling"]], stylize.network_line, api_visibility="private")
    demo.queue(default_concurrency_limit=opts.concurrency_limit, max_size=opts.max_queue)
    demo.explorer_options = opts  # read by launch(); harmless for Gradio
    return guard_requests(demo)  # every refusal reaches the page as one readable line, without server paths


def model_choices(current: str):
    """Stylize's Model choices: the networks trained in this explorer (newest first, as `trained:N`, never their
    folders), then the pretrained ones: exactly what `widgets.model_names` accepts."""
    trained = [(f"trained: {label}", name) for name, label, _folder in state.trained_networks()]
    declared = [name for name in model_names() if not name.startswith(state.TRAINED_PREFIX)]
    return gr.update(choices=[*trained, *declared], value=trained[0][1] if trained else current)


def warm_up(options: AppOptions | None = None, *, background: bool = True) -> threading.Thread | None:
    """Compile the default run's programs so the first preview comes quickly.

    Four steps, recorded every other step: the plain step, a snapshot with
    gradient maps (steps 1 and 4) and one without (step 3), so no run stalls
    later to compile one of them.

    Runs the same handler the Stylize button runs, on the bundled samples,
    at the default size and weights. With `background=True` it returns the
    started thread; runs started meanwhile wait for it rather than compile
    the same programs a second time.
    """
    options = options or AppOptions()

    def work():
        start = time.perf_counter()
        try:
            values = {**default_values(options), "iterations": 4, "preview_every": 1, "record_every": 2}
            outputs = None
            for outputs in stylize_stream(
                str(samples.sample_path(samples.SAMPLE_CONTENT)), str(samples.sample_path(samples.SAMPLE_STYLES[0])),
                values, options=options, session="warm-up", _warming=True,
            ):
                pass
            if isinstance(outputs[4], list):  # the warm-up's files are of no use to anyone
                shutil.rmtree(pathlib.Path(outputs[4][0]).parent, ignore_errors=True)
            elif outputs[2].startswith("**Error:**"):  # e.g. no weights: the first run will say so too
                state.WARM_UP["error"] = outputs[2].removeprefix("**Error:** ")
        except Exception as error:  # noqa: BLE001 -- a failed warm-up only costs time later
            state.WARM_UP["error"] = web_message(error)
        state.WARM_UP["seconds"] = round(time.perf_counter() - start, 1)

    if not background:
        work()
        return None
    thread = threading.Thread(target=work, name="style-explainer-warm-up", daemon=True)
    state.WARM_UP["thread"] = thread
    thread.start()
    return thread


def launch_kwargs(host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> dict[str, Any]:
    """The `Blocks.launch` arguments `launch` uses: bind address, limits, and the one extra readable folder."""
    return {
        "server_name": host,
        "server_port": port,
        "share": bool(share),
        "max_file_size": MAX_UPLOAD,
        # Only the bundled samples' folder, for the examples; uploads and
        # results live in Gradio's cache and the system temp folder.
        "allowed_paths": [str(samples.sample_path(samples.SAMPLE_CONTENT).parent)],
        "show_error": False,
        "ssr_mode": False,
        "footer_links": ["api", "settings"],
        "css": EXPLORER_CSS,
    }


def serve_lessons(demo: gr.Blocks, site: pathlib.Path) -> None:
    """Serve the built lessons site at `LESSONS_ROUTE` of the running explorer (before Gradio's own routes)."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    route = Mount(LESSONS_ROUTE.rstrip("/"), app=StaticFiles(directory=site, html=True), name="lessons")
    demo.app.router.routes.insert(0, route)


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Serve the explorer (what `style-explainer explore` runs), and the lessons when built; blocks until interrupted."""
    cache = enable_compile_cache()
    site = built_lessons()
    demo = build_app(**({"lessons_url": LESSONS_ROUTE} if site else {}))
    kept = f"compiled programs are kept in {cache}" if cache else "compiled programs are not kept"
    print(f"style-explainer explorer: {kept}; warming up in the background")
    print(f"lessons: served at {LESSONS_ROUTE} from {site}" if site else
          'lessons: not built; pip install -e ".[docs]" && mkdocs build, then restart, to read them here')
    warm_up(demo.explorer_options)
    try:
        demo.launch(**launch_kwargs(host, port, share), prevent_thread_lock=True)
    except OSError as error:  # port taken, address not available
        reason = one_line(error).split(". ")[0]  # Gradio goes on about its own parameters
        raise ConfigError(f"cannot serve on {host}:{port}: {reason} (try another --port)") from None
    if site:
        serve_lessons(demo, site)
    demo.block_thread()
