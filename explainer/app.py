"""The explorer: a Gradio app to stylize live, look inside the network, and compare layer choices.

```bash
pip install "style-explainer[ui]"
style-explainer explore            # http://127.0.0.1:7860, this machine only
```

Three tabs, each linking to the lesson that explains it (`LESSON_LINKS`):

* **Stylize**: content and style images (uploads or the bundled samples),
  every [`StyleConfig`][explainer.StyleConfig] setting, a live preview and a
  live per-layer loss plot while the run streams, a Stop button that keeps
  the latest image, downloads of the result, its record and its trace, and
  the equivalent `style-explainer stylize ...` command.
* **Inspect**: what one image looks like inside the network (per-channel
  feature maps, the Gram matrix, channel statistics), and, after a run, each
  term's share of the loss and its gradient map at any recorded step.
* **Compare**: two to four layer/weight choices run side by side, with their
  final losses.

The event handlers are plain module-level functions of simple values
(`stylize_stream`, `inspect_view`, `trace_view`, `compare_view`, ...), so
they can be tested without a browser; `build_app` only wires them to widgets.

Limits: uploads up to `MAX_UPLOAD` (checked by Gradio) and `MAX_IMAGE_SIDE`
pixels a side (checked here), one run at a time by default and at most
`MAX_QUEUE` waiting, and user mistakes (a bad file, a bad setting, an unknown
layer, missing weights) become a one-line message, never a stack trace.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import inspect as _inspect
import math
import os
import pathlib
import queue
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr
import numpy as np
from matplotlib import colormaps
from PIL import Image

from backends import (
    ARCHITECTURES,
    POOLINGS,
    UnknownLayerError,
    WeightsError,
    enable_compile_cache,
    get_backend,
    layer_names,
)
from explainer import figures, samples
from explainer import images as _images
from explainer.cli import config_to_command
from explainer.config import (
    COLOR_MODES,
    INITS,
    OPTIMIZERS,
    WEIGHT_CHOICES,
    ConfigError,
    StyleConfig,
)
from explainer.images import ImageError
from explainer.record import RecordSpec, Trace

__all__ = [
    "LESSON_LINKS",
    "AppOptions",
    "build_app",
    "build_config",
    "compare_view",
    "inspect_view",
    "launch",
    "launch_kwargs",
    "request_stop",
    "stylize_stream",
    "trace_view",
    "warm_up",
]

#: The lesson behind each part of the explorer: page paths of the lessons site
#: (mkdocs, `docs_dir: lessons`), joined to `AppOptions.lessons_url`.
LESSON_LINKS: dict[str, str] = {
    "stylize": "06-optimising/",
    "inspect": "02-inside-vgg/",
    "gram": "04-style/",
    "trace": "reference/trace-format/",
    "compare": "07-choosing-layers/",
    "explorer": "10-explorer/",
}
#: Where the lessons site is served; the links are relative to the app without it.
LESSONS_URL_ENV = "STYLE_EXPLAINER_LESSONS_URL"

#: Errors that are the user's to fix; shown as one line in the page.
USER_ERRORS = (ImageError, ConfigError, WeightsError, UnknownLayerError)

MAX_UPLOAD = "20mb"
MAX_IMAGE_SIDE = 4096
MAX_QUEUE = 8
#: Runs kept on disk (results, records, traces) before the oldest is deleted.
RUNS_KEPT = 8
#: The leftmost TV slider position means "no TV loss".
TV_OFF_LOG = -7.0

# The explorer's starting point: the library's defaults, at a size that
# streams well on a laptop CPU.
UI_DEFAULTS = StyleConfig(size=256, iterations=200)


@dataclasses.dataclass(frozen=True)
class AppOptions:
    """What `build_app(**options)` accepts.

    Attributes:
        weights_choices: the weights offered (`"auto"`, a source, `"random"`).
        default_weights: the one selected at start.
        max_size: the largest `size` the slider offers.
        max_iterations: the largest `iterations` the slider offers.
        max_image_side: uploads with a longer side are rejected.
        concurrency_limit: runs (stylize, compare) at the same time.
        max_queue: events waiting in the queue before new ones are refused.
        lessons_url: prefix of the lesson links, e.g. the lessons site's address
            (default: `$STYLE_EXPLAINER_LESSONS_URL`, else links relative to the app).
        defaults: the settings the widgets start from.
    """

    weights_choices: tuple[str, ...] = WEIGHT_CHOICES
    default_weights: str = "auto"
    max_size: int = 1024
    max_iterations: int = 2000
    max_image_side: int = MAX_IMAGE_SIDE
    concurrency_limit: int = 1
    max_queue: int = MAX_QUEUE
    lessons_url: str = dataclasses.field(default_factory=lambda: os.environ.get(LESSONS_URL_ENV, ""))
    defaults: StyleConfig = UI_DEFAULTS

    def __post_init__(self):
        object.__setattr__(self, "weights_choices", tuple(self.weights_choices))
        if self.default_weights not in self.weights_choices:
            raise ValueError(f"default_weights {self.default_weights!r} is not in {self.weights_choices}")


# ============================================================================ helpers


def log_to_weight(log_value: float) -> float:
    """`10 ** log_value`, rounded to 3 significant digits (so the default 5 stays 5.0)."""
    return float(f"{10.0 ** float(log_value):.3g}")


def weight_to_log(weight: float) -> float:
    return round(math.log10(weight), 3) if weight > 0 else TV_OFF_LOG


def tv_from_log(log_value: float) -> float:
    return 0.0 if float(log_value) <= TV_OFF_LOG else log_to_weight(log_value)


def weight_label(name: str, log_value: float, *, tv: bool = False) -> str:
    """The slider label that shows the actual weight, e.g. `"style weight = 100"`."""
    value = tv_from_log(log_value) if tv else log_to_weight(log_value)
    return f"{name} = {'off' if tv and value == 0 else f'{value:g}'}  (log scale)"


def parse_weights(text: str | None, what: str = "style layer weights") -> tuple[float, ...] | None:
    """`"1, 2, 0.5"` -> `(1.0, 2.0, 0.5)`; blank -> `None` (all 1)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{what} must be numbers separated by commas, not {text!r}") from None


def relu_layers(arch: str) -> tuple[str, ...]:
    return tuple(name for name in layer_names(arch) if name.startswith("relu"))


def network_arch(backend: str, weights: str) -> str:
    """The architecture a backend/weights choice gives (HED weights are always VGG16)."""
    from backends import list_sources

    for row in list_sources():
        if row["name"] == weights:
            return row["arch"]
    return backend if backend in ARCHITECTURES else "vgg19"


def order_layers(layers: Sequence[str] | None, arch: str) -> tuple[str, ...]:
    """Layers in network order (a CheckboxGroup returns them in click order); unknown ones last."""
    known = layer_names(arch)
    layers = list(dict.fromkeys(layers or ()))
    return tuple(sorted(layers, key=lambda n: known.index(n) if n in known else len(known)))


def build_config(
    backend: str = UI_DEFAULTS.backend,
    weights: str = UI_DEFAULTS.weights,
    pooling: str = UI_DEFAULTS.pooling,
    content_layers: Sequence[str] | None = UI_DEFAULTS.content_layers,
    style_layers: Sequence[str] | None = UI_DEFAULTS.style_layers,
    style_layer_weights: str = "",
    content_weight_log: float = weight_to_log(UI_DEFAULTS.content_weight),
    style_weight_log: float = weight_to_log(UI_DEFAULTS.style_weight),
    tv_weight_log: float = weight_to_log(UI_DEFAULTS.tv_weight),
    size: int = UI_DEFAULTS.size,
    iterations: int = UI_DEFAULTS.iterations,
    optimizer: str = UI_DEFAULTS.optimizer,
    learning_rate: float = UI_DEFAULTS.learning_rate,
    init: str = UI_DEFAULTS.init,
    colors: str = UI_DEFAULTS.colors,
    seed: int = UI_DEFAULTS.seed,
    scales: int = UI_DEFAULTS.scales,
) -> StyleConfig:
    """The [`StyleConfig`][explainer.StyleConfig] the Stylize tab's widgets describe.

    Raises:
        ConfigError: for a setting that cannot work (one line, shown in the page).
    """
    if init not in INITS:  # the explorer has no way to pick an init file
        raise ConfigError(f"init must be one of {', '.join(INITS)}, not {init!r}")
    arch = network_arch(backend, weights)
    content_layers = order_layers(content_layers, arch)
    style_layers = order_layers(style_layers, arch)
    try:
        return StyleConfig(
            backend=backend,
            weights=weights,
            pooling=pooling,
            content_layers=content_layers,
            style_layers=style_layers,
            style_layer_weights=_unless_all_ones(parse_weights(style_layer_weights), style_layers),
            content_weight=log_to_weight(content_weight_log),
            style_weight=log_to_weight(style_weight_log),
            tv_weight=tv_from_log(tv_weight_log),
            size=_as_int(size, "size"),
            iterations=_as_int(iterations, "iterations"),
            optimizer=optimizer,
            learning_rate=float(learning_rate),
            init=init,
            colors=colors,
            seed=_as_int(seed, "seed"),
            scales=_as_int(scales, "scales"),
        )
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error)) from None


def _unless_all_ones(weights: tuple[float, ...] | None, layers: Sequence[str]) -> tuple[float, ...] | None:
    # One 1 per layer is the default; saying so keeps the command line short.
    return None if weights is not None and len(weights) == len(layers) and set(weights) == {1.0} else weights


def _as_int(value: Any, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if not number.is_integer():
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    return int(number)


def _display_name(path: str | None, fallback: str) -> str:
    return pathlib.Path(path).name if path else fallback


def load_user_image(path: str | None, what: str, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """Read an uploaded image, refusing huge ones; errors name the file, not the server path.

    Raises:
        ImageError: no file, not an image, or a side longer than `max_side`.
    """
    if not path:
        raise ImageError(f"{what}: no image; upload one or pick a sample")
    name = f"{what} ({pathlib.Path(path).name})"
    try:
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except Exception:  # noqa: BLE001 -- not an image: load_image below says why, in one line
        width = height = 0
    if max(width, height) > max_side:
        raise ImageError(
            f"{name}: {width}x{height} pixels is larger than the explorer takes "
            f"({max_side} px on a side); scale it down first"
        )
    try:
        return _images.load_image(path, max_pixels=max_side * max_side)
    except ImageError as error:
        raise ImageError(str(error).replace(str(path), name)) from None


def _message(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _notify(message: str) -> None:
    """A yellow toast in the page (a `UserWarning` when called outside Gradio)."""
    gr.Warning(message)


def _lesson(key: str, text: str, base: str = "") -> str:
    if base and not base.endswith("/"):
        base += "/"
    return f"[{text}]({base}{LESSON_LINKS[key]})"


def _samples_dir() -> pathlib.Path:
    return samples.sample_path(samples.SAMPLE_CONTENT).parent


def image_upload(**kwargs: Any) -> gr.Image:
    """A `gr.Image` input that passes the uploaded file itself to the explorer's loader.

    With `image_mode=None` Gradio does not re-encode uploads, so 16-bit and
    EXIF-rotated files are read exactly as the CLI reads them; and a file
    Pillow cannot even open still reaches `load_user_image`, whose one-line
    message the page shows, instead of failing inside Gradio with a bare
    "Error". (The override is on the instance: the browser must see a plain Image.)
    """
    component = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], **kwargs)
    strict = component.preprocess

    def preprocess(payload):
        try:
            return strict(payload)
        except Exception:  # noqa: BLE001 -- not an image: load_user_image says so, in one line
            return str(payload.path) if payload is not None and payload.path else None

    component.preprocess = preprocess
    return component


# ============================================================================ networks and warm-up

_BACKEND_LOCK = threading.Lock()
_WARMUP: dict[str, Any] = {"thread": None, "seconds": None, "error": None}


@functools.lru_cache(maxsize=4)
def _cached_backend(arch: str, weights: str, pooling: str, seed: int):
    return get_backend(arch, weights=weights, pooling=pooling, seed=seed, log=lambda message: None)


def cached_backend(config: StyleConfig):
    """One backend per (network, weights, pooling[, seed]): loaded once, and its compiled steps reused.

    `make_stepper` and `VGGBackend.features` cache compiled code per backend
    object, so handing every run the same object is what makes the second
    run start in a second instead of recompiling.
    """
    seed = config.seed if config.weights == "random" else 0
    with _BACKEND_LOCK:
        return _cached_backend(config.backend, config.weights, config.pooling, seed)


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
            settings = _defaults_as_settings(options)
            settings.update(iterations=4, preview_every=1, record_every=2)
            for outputs in stylize_stream(
                str(samples.sample_path(samples.SAMPLE_CONTENT)), str(samples.sample_path(samples.SAMPLE_STYLES[0])),
                **settings, session="warm-up", max_side=options.max_image_side, _warming=True,
            ):
                pass
            if isinstance(outputs[4], list):  # the warm-up's files are of no use to anyone
                shutil.rmtree(pathlib.Path(outputs[4][0]).parent, ignore_errors=True)
            elif outputs[2].startswith("**Error:**"):  # e.g. no weights: the first run will say so too
                _WARMUP["error"] = outputs[2].removeprefix("**Error:** ")
        except Exception as error:  # noqa: BLE001 -- a failed warm-up only costs time later
            _WARMUP["error"] = _message(error)
        _WARMUP["seconds"] = round(time.perf_counter() - start, 1)

    if not background:
        work()
        return None
    thread = threading.Thread(target=work, name="style-explainer-warm-up", daemon=True)
    _WARMUP["thread"] = thread
    thread.start()
    return thread


def _wait_for_warm_up() -> None:
    thread = _WARMUP.get("thread")
    if thread is not None and thread is not threading.current_thread() and thread.is_alive():
        thread.join()


# ============================================================================ stylize

_RUNS_LOCK = threading.Lock()
_STOP_FLAGS: dict[str, threading.Event] = {}
_RUN_DIRS: list[pathlib.Path] = []

#: The order of the Stylize settings, as `stylize_stream` and the widgets take them.
SETTINGS: tuple[str, ...] = (
    "backend", "weights", "pooling", "content_layers", "style_layers", "style_layer_weights",
    "content_weight_log", "style_weight_log", "tv_weight_log", "size", "iterations", "optimizer",
    "learning_rate", "init", "colors", "seed", "scales", "preview_every", "record_every", "record_gradients",
)
_CONFIG_SETTINGS = SETTINGS[:17]


def request_stop(session: str = "local") -> bool:
    """Ask the session's running stylization to stop after its current step; `True` if one was running."""
    with _RUNS_LOCK:
        flag = _STOP_FLAGS.get(session)
    if flag is None:
        return False
    flag.set()
    return True


@atexit.register
def _remove_run_dirs() -> None:
    for path in _RUN_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def _new_run_dir() -> pathlib.Path:
    path = pathlib.Path(tempfile.mkdtemp(prefix="style-explainer-run-"))
    with _RUNS_LOCK:
        _RUN_DIRS.append(path)
        while len(_RUN_DIRS) > RUNS_KEPT:
            shutil.rmtree(_RUN_DIRS.pop(0), ignore_errors=True)
    return path


def _status(lines: Sequence[str]) -> str:
    return "\n\n".join(lines)


def _live_plot(history: list[dict], config: StyleConfig, backend) -> Any:
    record = {
        "history": history,
        "config": config.to_dict(),
        "backend": {"name": backend.name, "pooling": getattr(backend, "pooling", None)},
        "weights": backend.weights.to_dict(),
    }
    figure = figures.loss_curves(record, kind="all", log=True)
    figure.set_size_inches(10.5, 5.0)  # room for the provenance line in the title
    return figure


def stylize_stream(
    content: str | None,
    style: str | None,
    backend: str = UI_DEFAULTS.backend,
    weights: str = UI_DEFAULTS.weights,
    pooling: str = UI_DEFAULTS.pooling,
    content_layers: Sequence[str] | None = UI_DEFAULTS.content_layers,
    style_layers: Sequence[str] | None = UI_DEFAULTS.style_layers,
    style_layer_weights: str = "",
    content_weight_log: float = weight_to_log(UI_DEFAULTS.content_weight),
    style_weight_log: float = weight_to_log(UI_DEFAULTS.style_weight),
    tv_weight_log: float = weight_to_log(UI_DEFAULTS.tv_weight),
    size: int = UI_DEFAULTS.size,
    iterations: int = UI_DEFAULTS.iterations,
    optimizer: str = UI_DEFAULTS.optimizer,
    learning_rate: float = UI_DEFAULTS.learning_rate,
    init: str = UI_DEFAULTS.init,
    colors: str = UI_DEFAULTS.colors,
    seed: int = UI_DEFAULTS.seed,
    scales: int = UI_DEFAULTS.scales,
    preview_every: int = 5,
    record_every: int = 20,
    record_gradients: bool = True,
    *,
    session: str = "local",
    max_side: int = MAX_IMAGE_SIDE,
    _warming: bool = False,
) -> Iterator[tuple]:
    """Stylize `content` in the style of `style`, yielding what the Stylize tab shows.

    Every item is `(preview, loss_plot, status, command, files, trace_dir)`:

    * `preview`: the latest image, `(H, W, 3)` uint8, or `gr.skip()`;
    * `loss_plot`: [`figures.loss_curves`][explainer.figures.loss_curves] of
      the steps so far (every term, log scale), or `gr.skip()`;
    * `status`: Markdown: the step, the loss, the time to the first preview,
      or a one-line error (also sent as a `gr.Warning`);
    * `command`: the `style-explainer stylize ...` line for these settings;
    * `files`: at the end, `[result .png, its .json record, trace .zip]`;
    * `trace_dir`: at the end, the folder of the recorded trace (for Inspect).

    A preview comes after the first step and then every `preview_every`
    steps. [`request_stop(session)`][explainer.app.request_stop], or closing
    this generator, stops the run after its current step; the last item
    then holds the latest image, and its record says `"interrupted": true`.
    """
    from explainer.stylize import stylize

    start = time.perf_counter()
    skip = gr.skip()
    settings = dict(zip(_CONFIG_SETTINGS, (
        backend, weights, pooling, content_layers, style_layers, style_layer_weights, content_weight_log,
        style_weight_log, tv_weight_log, size, iterations, optimizer, learning_rate, init, colors, seed, scales,
    )))
    command = ""
    try:
        config = build_config(**settings)
        command = config_to_command(
            config, _display_name(content, "content.png"), [_display_name(style, "style.png")], "stylized.png"
        )
        content_image = load_user_image(content, "content", max_side)
        style_image = load_user_image(style, "style", max_side)
        preview_every = max(1, _as_int(preview_every, "preview every"))
        record_every = max(1, _as_int(record_every, "record every"))
    except USER_ERRORS as error:
        message = _message(error)
        _notify(message)
        yield skip, skip, f"**Error:** {message}", command or skip, skip, skip
        return

    if not _warming:
        if _WARMUP.get("thread") is not None and _WARMUP["thread"].is_alive():
            yield skip, skip, "Finishing the start-up warm-up (compiling the network)…", command, None, skip
            _wait_for_warm_up()
        yield skip, skip, f"Loading {config.backend} with {config.weights} weights…", command, None, skip
    try:
        network = cached_backend(config)
        network.check_layers(config.content_layers + config.style_layers)
    except USER_ERRORS as error:
        message = _message(error)
        _notify(message)
        yield skip, skip, f"**Error:** {message}", command, skip, skip
        return

    total = config.iterations * config.scales
    header = f"**{network.describe(with_path=False)}**"
    yield skip, skip, _status([header, f"Compiling and taking the first step of {total}…"]), command, None, skip

    stop = threading.Event()
    with _RUNS_LOCK:
        _STOP_FLAGS[session] = stop
    steps: queue.Queue = queue.Queue()
    done = object()

    def on_step(progress):
        steps.put(progress)
        if stop.is_set():
            raise KeyboardInterrupt  # stylize() stops, keeps the latest image, marks the record interrupted

    def work():
        try:
            result = stylize(
                content_image, [style_image], config, backend=network, on_step=on_step, progress=False,
                log=lambda message: None,
                record=RecordSpec(every=record_every, top_k=16, gradients=bool(record_gradients)),
            )
            steps.put((done, result))
        except BaseException as error:  # noqa: BLE001 -- handed to the consumer below
            steps.put((done, error))

    worker = threading.Thread(target=work, name=f"style-explainer-run-{session}", daemon=True)
    history: list[dict] = []
    first_preview = None
    outcome = None
    try:
        worker.start()
        while outcome is None:
            batch = [steps.get()]
            while not steps.empty():
                batch.append(steps.get_nowait())
            if isinstance(batch[-1], tuple) and batch[-1][0] is done:
                outcome = batch.pop()[1]
            if not batch:
                continue
            history += [{"iteration": p.iteration, "scale": p.scale, "loss": p.loss, **p.terms} for p in batch]
            latest = batch[-1]
            wanted = any(p.iteration == 1 or p.iteration % preview_every == 0 for p in batch)
            if outcome is not None or not wanted:
                continue
            if first_preview is None:
                first_preview = time.perf_counter() - start
            status = _status([
                header,
                (f"Step {latest.iteration} of {total} · loss {latest.loss:.4g} · "
                 f"{time.perf_counter() - start:.1f} s (first preview after {first_preview:.1f} s)"),
            ])
            yield _images.to_uint8(latest.image), _live_plot(history, config, network), status, command, None, skip
    finally:
        stop.set()  # a no-op after a finished run; stops a run whose consumer went away
        worker.join()
        with _RUNS_LOCK:
            if _STOP_FLAGS.get(session) is stop:
                del _STOP_FLAGS[session]

    if isinstance(outcome, USER_ERRORS):
        message = _message(outcome)
        _notify(message)
        yield skip, skip, f"**Error:** {message}", command, skip, skip
        return
    if isinstance(outcome, BaseException):
        raise outcome
    result = outcome
    run_dir = _new_run_dir()
    png = result.save(run_dir / "stylized.png")
    record_path = png.with_suffix(".json")
    trace_dir = run_dir / "trace"
    result.trace.save(trace_dir)
    archive = run_dir / "stylized-trace.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(trace_dir.iterdir()):
            bundle.write(path, f"trace/{path.name}")
        bundle.write(record_path, record_path.name)
    record = result.record
    state = "**Stopped** after" if record["interrupted"] else "**Finished**"
    if first_preview is None:
        first_preview = time.perf_counter() - start
    status = _status([
        header,
        f"{state} {record['iterations_done']} of {total} steps in {record['wall_time_s']:.1f} s "
        f"(first preview after {first_preview:.1f} s)"
        + (f" · final loss {history[-1]['loss']:.4g}" if history else ""),
        f"Recorded {len(result.trace.iterations)} snapshots; open the **Inspect** tab to look inside them.",
    ])
    plot = _live_plot(history, config, network) if history else None
    files = [str(png), str(record_path), str(archive)]
    yield _images.to_uint8(result.image), plot, status, command, files, str(trace_dir)


def cli_command(content: str | None, style: str | None, *settings: Any) -> str:
    """The `style-explainer stylize ...` line for the Stylize tab's settings (or why there is none)."""
    try:
        config = build_config(**dict(zip(_CONFIG_SETTINGS, settings)))
    except USER_ERRORS as error:
        return f"# {_message(error)}"
    return config_to_command(
        config, _display_name(content, "content.png"), [_display_name(style, "style.png")], "stylized.png"
    )


def layer_choices(backend: str, weights: str, all_layers: bool, content_layers, style_layers):
    """Layer pickers for a network: relu layers (or all of them); selections it lacks are dropped."""
    arch = network_arch(backend, weights)
    names = layer_names(arch) if all_layers else relu_layers(arch)
    keep = lambda chosen: [n for n in order_layers(chosen, arch) if n in names]
    return (
        gr.update(choices=list(names), value=keep(content_layers)),
        gr.update(choices=list(names), value=keep(style_layers)),
        gr.update(choices=list(names), value=_inspect_default(names)),
    )


def sync_style_weights(style_layers, text: str, backend: str, weights: str):
    """Keep one weight per style layer: the text stays when the count matches, else all 1."""
    layers = order_layers(style_layers, network_arch(backend, weights))
    try:
        values = parse_weights(text)
    except ConfigError:
        values = None
    if values is None or len(values) != len(layers):
        text = ", ".join("1" for _ in layers)
    return gr.update(value=text, label=f"Style layer weights, in order: {', '.join(layers) or '(no style layers)'}")


# ============================================================================ inspect


def _inspect_default(names: Sequence[str]) -> str:
    return "relu3_1" if "relu3_1" in names else names[0]


@functools.lru_cache(maxsize=4)
def _inspection(path: str, mtime: float, arch: str, weights: str, pooling: str, size: int, seed: int,
                layers: tuple[str, ...], max_side: int) -> Trace:
    from explainer.inspect import inspect_image

    config = StyleConfig(backend=arch, weights=weights, pooling=pooling, size=size, seed=seed)
    pixels = load_user_image(path, "image", max_side)
    return inspect_image(pixels, layers, backend=cached_backend(config), config=config, top_k=16)


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


def inspect_view(
    image: str | None,
    layer: str,
    backend: str = UI_DEFAULTS.backend,
    weights: str = UI_DEFAULTS.weights,
    pooling: str = UI_DEFAULTS.pooling,
    size: int = UI_DEFAULTS.size,
    seed: int = UI_DEFAULTS.seed,
    *,
    max_side: int = MAX_IMAGE_SIDE,
) -> tuple:
    """Look at one image through the network at one layer.

    Returns:
        `(gallery, gram_figure, stats_figure, stats_rows, status)`: the 16
        most energetic channels as `(image, caption)` pairs, the Gram
        heatmap, the channel statistics figure, one row per inspected
        layer (`explainer.inspect.stats_table`), and a Markdown line.
        On a user error: empty outputs and the message.
    """
    from explainer.inspect import stats_table

    try:
        if not image:
            raise ImageError("no image to inspect; upload one or pick a sample")
        arch = network_arch(backend, weights)
        known = layer_names(arch)
        if layer not in known:
            raise UnknownLayerError(f"{arch} has no layer {layer!r}")
        layers = tuple(dict.fromkeys(relu_layers(arch) + (layer,)))
        layers = tuple(n for n in known if n in layers)
        trace = _inspection(
            str(image), os.path.getmtime(image), arch, weights, pooling, _as_int(size, "size"), _as_int(seed, "seed"),
            layers, max_side,
        )
    except USER_ERRORS as error:
        message = _message(error)
        _notify(message)
        return [], None, None, [], f"**Error:** {message}"
    rows = [[r["layer"], f"{r['height']}x{r['width']}", r["channels"], round(r["mean"], 4), round(r["max"], 4),
             r["dead_channels"], r["top_channel"]] for r in stats_table(trace)]
    acts, _ = trace.activations(0, layer)
    network = cached_backend(StyleConfig(backend=arch, weights=weights, pooling=pooling, seed=_as_int(seed, "seed")))
    status = (f"**{network.describe(with_path=False)}** · {layer}: "
              f"{acts.shape[0]}x{acts.shape[1]} px, {len(trace.channel_stats(0, layer)['mean'])} channels "
              f"(showing the 16 most energetic)")
    return (channel_images(trace, 0, layer), figures.gram_heatmap(trace, 0, layer),
            figures.channel_stats(trace, 0, layer), rows, status)


STATS_HEADERS = ["layer", "size", "channels", "mean", "max", "dead channels", "top channel"]


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
        notes.append(_message(error))
    gram = None
    style_terms = trace.losses(iteration)["terms"].get("style", {})
    if layer and layer in trace.layers and layer in style_terms:
        gram = figures.gram_comparison(trace, iteration, layer)
    elif layer:
        notes.append(f"{layer} was not a style layer of this run (style layers: {', '.join(style_terms) or 'none'}), "
                     "so there is no Gram comparison.")
    return bars, gradients, gram, " · ".join(notes)


# ============================================================================ compare


def parse_variants(text: str) -> list:
    """Compare-tab variants, one per line: `label: style_layers=relu1_1,relu2_1; style_weight=1000`.

    The part after the label is what `style-explainer compare` takes
    ([`parse_variant`][explainer.compare.parse_variant]: `StyleConfig` fields,
    typed like the CLI flags); without a label the settings name the variant.
    Blank lines and lines starting with `#` are skipped.

    Raises:
        ConfigError: for an unknown field, a bad value, or not 2 to 4 variants.
    """
    from explainer.compare import Variant, parse_variant

    variants = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, _, spec = line.partition(":") if ":" in line.split("=", 1)[0] else ("", "", line)
        overrides = parse_variant(spec)
        variants.append(Variant(label=label.strip() or spec.strip(), overrides=overrides))
    if not 2 <= len(variants) <= 4:
        raise ConfigError(f"give 2 to 4 variants, one per line (got {len(variants)})")
    return variants


DEFAULT_VARIANTS = """\
shallow style: style_layers=relu1_1,relu2_1
deep style: style_layers=relu3_1,relu4_1,relu5_1
all five: style_layers=relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"""


def compare_view(content: str | None, style: str | None, variants_text: str, size: int, iterations: int,
                 *settings: Any, max_side: int = MAX_IMAGE_SIDE, progress: bool = False) -> tuple:
    """Run 2-4 variants of the Stylize tab's settings side by side.

    Args:
        content, style: image files.
        variants_text: one variant per line (see `parse_variants`).
        size, iterations: for every variant (the Compare tab's own, smaller
            than a single run's, since it runs several).
        settings: the Stylize settings in `SETTINGS` order (the config ones are used).
        progress: show tqdm bars (which the page's progress bar follows).

    Returns:
        `(figure, table, status)`: the labelled grid, the table as
        `{"data": rows, "headers": names}` (label, overrides, final losses
        per term, time), and a Markdown line; on a user error `None`, an
        empty table and the message.
    """
    from explainer.compare import compare

    empty = {"data": [], "headers": ["label"]}
    try:
        base = build_config(**dict(zip(_CONFIG_SETTINGS, settings))).replace(
            size=_as_int(size, "size"), iterations=_as_int(iterations, "iterations"))
        variants = parse_variants(variants_text)
        for variant in variants:  # new layers, old per-layer weights: fall back to all 1
            for layers in ("style_layers", "content_layers"):
                weights = layers[:-1] + "_weights"
                if layers in variant.overrides and weights not in variant.overrides and getattr(base, weights):
                    variant.overrides[weights] = None
        content_image = load_user_image(content, "content", max_side)
        style_image = load_user_image(style, "style", max_side)
        network = cached_backend(base)
        comparison = compare(content_image, style_image, variants, base, backend=network, progress=progress,
                             log=lambda message: None)
    except USER_ERRORS as error:
        message = _message(error)
        _notify(message)
        return None, empty, f"**Error:** {message}"
    rows = comparison.rows
    headers = [key for key in dict.fromkeys(key for row in rows for key in row) if key != "time_s"] + ["time_s"]
    table = [[_cell(row.get(key)) for key in headers] for row in rows]
    status = (f"**{network.describe(with_path=False)}** · {len(rows)} variants, {base.size} px, "
              f"{base.iterations} steps each, {sum(r['time_s'] for r in rows):.1f} s in all.")
    return comparison.figure(), {"data": table, "headers": headers}, status


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


# ============================================================================ the app


def _defaults_as_settings(options: AppOptions) -> dict[str, Any]:
    d = options.defaults
    return {
        "backend": d.backend, "weights": options.default_weights, "pooling": d.pooling,
        "content_layers": list(d.content_layers), "style_layers": list(d.style_layers),
        "style_layer_weights": ", ".join(f"{w:g}" for w in (d.style_layer_weights or (1.0,) * len(d.style_layers))),
        "content_weight_log": weight_to_log(d.content_weight), "style_weight_log": weight_to_log(d.style_weight),
        "tv_weight_log": weight_to_log(d.tv_weight), "size": d.size, "iterations": d.iterations,
        "optimizer": d.optimizer, "learning_rate": d.learning_rate, "init": d.init if d.init in INITS else "content",
        "colors": d.colors, "seed": d.seed, "scales": d.scales, "preview_every": 5,
        "record_every": max(1, d.iterations // 10), "record_gradients": True,
    }


def build_app(**options: Any) -> gr.Blocks:
    """The explorer's `gr.Blocks`, with its queue set up (see [`AppOptions`][explainer.app.AppOptions])."""
    opts = AppOptions(**options)
    d = _defaults_as_settings(opts)
    arch = network_arch(d["backend"], d["weights"])
    names = relu_layers(arch)
    every_layer = not set(d["content_layers"] + d["style_layers"]) <= set(names)  # defaults beyond relu
    if every_layer:
        names = layer_names(arch)
    sample_content = str(samples.sample_path(samples.SAMPLE_CONTENT))
    sample_styles = [str(samples.sample_path(name)) for name in samples.SAMPLE_STYLES]
    base = opts.lessons_url

    # Results and traces (tens of MB) are copied into Gradio's cache: drop them after an hour.
    with gr.Blocks(title="style-explainer explorer", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# style-explainer explorer\nNeural style transfer you can see inside: every number in the loss "
            "belongs to a layer. Runs here use the same `StyleConfig` as the command line and the Python API."
        )
        with gr.Tabs():
            # ---------------------------------------------------------------- Stylize
            with gr.Tab("Stylize", id="stylize"):
                gr.Markdown("**Learn:** " + _lesson("stylize", "how the optimiser builds the image, step by step", base)
                            + " · " + _lesson("explorer", "using the explorer", base))
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        with gr.Row():
                            content = image_upload(label="Content", height=220, elem_id="content-image")
                            style = image_upload(label="Style", height=220, elem_id="style-image")
                        gr.Examples(
                            [[sample_content, s] for s in sample_styles], inputs=[content, style],
                            label="Bundled samples (Grace Hopper, public domain; styles painted by this project)",
                        )
                        with gr.Row():
                            run_btn = gr.Button("Stylize", variant="primary", elem_id="stylize-button")
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-button")
                        with gr.Accordion("Network and layers", open=True):
                            with gr.Row():
                                backend = gr.Dropdown(list(ARCHITECTURES), value=d["backend"], label="Network")
                                weights = gr.Dropdown(list(opts.weights_choices), value=d["weights"], label="Weights",
                                                      info="auto: ImageNet VGG19 if cached or downloadable, "
                                                      "else HED VGG16")
                                pooling = gr.Dropdown(list(POOLINGS), value=d["pooling"], label="Pooling")
                            all_layers = gr.Checkbox(every_layer, label="Offer every layer (conv, pool), not only relu")
                            content_layers = gr.CheckboxGroup(list(names), value=d["content_layers"],
                                                              label="Content layers", elem_id="content-layers")
                            style_layers = gr.CheckboxGroup(list(names), value=d["style_layers"],
                                                            label="Style layers", elem_id="style-layers")
                            style_layer_weights = gr.Textbox(
                                d["style_layer_weights"], label="Style layer weights, in order: "
                                + ", ".join(d["style_layers"]), info="one number per style layer, commas between")
                        with gr.Accordion("Loss weights (log-scale sliders)", open=True):
                            content_w = gr.Slider(-2, 4, value=d["content_weight_log"], step=0.05,
                                                  label=weight_label("content weight", d["content_weight_log"]))
                            style_w = gr.Slider(-1, 6, value=d["style_weight_log"], step=0.05,
                                                label=weight_label("style weight", d["style_weight_log"]))
                            tv_w = gr.Slider(TV_OFF_LOG, 0, value=d["tv_weight_log"], step=0.1,
                                             label=weight_label("TV weight", d["tv_weight_log"], tv=True),
                                             info="far left: no total-variation loss")
                        with gr.Accordion("Optimisation", open=False):
                            with gr.Row():
                                size = gr.Slider(32, opts.max_size, value=d["size"], step=32,
                                                 label="Size (longest side, px)")
                                iterations = gr.Slider(0, opts.max_iterations, value=d["iterations"], step=10,
                                                       label="Iterations (per scale)")
                            with gr.Row():
                                optimizer = gr.Radio(list(OPTIMIZERS), value=d["optimizer"], label="Optimizer")
                                learning_rate = gr.Number(d["learning_rate"], label="Learning rate (Adam)", minimum=0)
                                scales = gr.Slider(1, 4, value=d["scales"], step=1, label="Scales (coarse to fine)")
                            with gr.Row():
                                init = gr.Radio(list(INITS), value=d["init"], label="Start from")
                                colors = gr.Radio(list(COLOR_MODES), value=d["colors"], label="Colours")
                                seed = gr.Number(d["seed"], label="Seed", precision=0)
                            with gr.Row():
                                preview_every = gr.Slider(1, 50, value=d["preview_every"], step=1,
                                                          label="Preview every N steps")
                                record_every = gr.Slider(1, 200, value=d["record_every"], step=1,
                                                         label="Record a snapshot every N steps")
                                record_gradients = gr.Checkbox(d["record_gradients"], label="Record gradient maps",
                                                               info="taken at every other recorded step; each costs about one step more")
                    with gr.Column(scale=1):
                        preview = gr.Image(label="Result (live)", format="png", interactive=False,
                                           elem_id="result-image", height=420)
                        status = gr.Markdown("Pick a content and a style image (or a sample row), then **Stylize**.",
                                             elem_id="run-status")
                        loss_plot = gr.Plot(label="Loss per layer (live)", elem_id="loss-plot")
                        command = gr.Textbox(cli_command(None, None, *(d[n] for n in _CONFIG_SETTINGS)),
                                             label="Copy as CLI command", buttons=["copy"], interactive=False,
                                             lines=2, elem_id="cli-command")
                        downloads = gr.File(label="Downloads: result, record (.json), trace (.zip)",
                                            file_count="multiple", interactive=False, elem_id="downloads")
                trace_dir = gr.State(None)

            # ---------------------------------------------------------------- Inspect
            with gr.Tab("Inspect", id="inspect"):
                gr.Markdown("**Learn:** " + _lesson("inspect", "what each VGG layer sees", base) + " · "
                            + _lesson("gram", "Gram matrices: style as channel correlations", base) + " · "
                            + _lesson("trace", "what a run's trace records", base))
                gr.Markdown("### One image, inside the network\nUses the network, weights, pooling and size "
                            "chosen on the Stylize tab.")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        inspect_image_in = image_upload(label="Image", height=240, elem_id="inspect-image")
                        gr.Examples([[sample_content]] + [[s] for s in sample_styles], inputs=[inspect_image_in],
                                    label="Samples")
                        inspect_layer = gr.Dropdown(list(names), value=_inspect_default(names), label="Layer",
                                                    elem_id="inspect-layer")
                        inspect_btn = gr.Button("Look inside", variant="primary", elem_id="inspect-button")
                        inspect_status = gr.Markdown()
                    with gr.Column(scale=2):
                        gallery = gr.Gallery(label="The 16 most energetic channels (shared colour scale)",
                                             columns=4, height=480, format="png", elem_id="feature-gallery")
                with gr.Row():
                    gram_plot = gr.Plot(label="Gram matrix")
                    stats_plot = gr.Plot(label="Channel statistics")
                stats_table = gr.Dataframe(headers=STATS_HEADERS, label="Every inspected layer", interactive=False)

                gr.Markdown("### The last run, step by step\nWhich term carries the loss, and where each one "
                            "pushes the pixels, at any recorded step of the last Stylize run.")
                with gr.Row():
                    step_slider = gr.Slider(0, 1, value=0, step=1, interactive=False,
                                            label="Recorded step (run a stylization first)", elem_id="trace-step")
                    trace_status = gr.Markdown("Run a stylization first: its trace shows up here.")
                bars_plot = gr.Plot(label="Share of each term in the loss", elem_id="trace-bars")
                grad_plot = gr.Plot(label="Gradient maps: where each term pushes the pixels")
                gram_cmp_plot = gr.Plot(label="Gram matrices of the chosen layer: content, style target, result")

            # ---------------------------------------------------------------- Compare
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("**Learn:** " + _lesson("compare", "choosing layers and weights", base))
                gr.Markdown("Two to four variants of the Stylize tab's images and settings, one per line: "
                            "`label: field=value; field=value`, with `StyleConfig` field names (as "
                            "`style-explainer compare` takes them). The size and iterations below apply to each.")
                variants = gr.Textbox(DEFAULT_VARIANTS, lines=4, label="Variants", elem_id="compare-variants")
                with gr.Row():
                    compare_size = gr.Slider(32, opts.max_size, value=min(128, opts.max_size), step=32,
                                             label="Size for each variant (px)", elem_id="compare-size")
                    compare_iterations = gr.Slider(0, opts.max_iterations, value=min(100, opts.max_iterations),
                                                   step=10, label="Iterations for each variant",
                                                   elem_id="compare-iterations")
                compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-button")
                compare_status = gr.Markdown()
                compare_plot = gr.Plot(label="Side by side", elem_id="compare-plot")
                compare_table = gr.Dataframe(label="Final losses per variant", interactive=False,
                                             elem_id="compare-table")

        # -------------------------------------------------------------------- events
        settings = [backend, weights, pooling, content_layers, style_layers, style_layer_weights, content_w,
                    style_w, tv_w, size, iterations, optimizer, learning_rate, init, colors, seed, scales,
                    preview_every, record_every, record_gradients]
        assert len(settings) == len(SETTINGS)
        max_side = opts.max_image_side

        # Gradio passes the request only to a positional parameter annotated gr.Request.
        def on_stylize(request: gr.Request, content_path, style_path, *values):
            yield from stylize_stream(content_path, style_path, *values, session=_session(request), max_side=max_side)

        def on_stop(request: gr.Request):
            request_stop(_session(request))

        run_event = run_btn.click(
            on_stylize, [content, style, *settings], [preview, loss_plot, status, command, downloads, trace_dir],
            api_name="stylize", concurrency_id="engine", concurrency_limit=opts.concurrency_limit,
            show_progress="minimal",
        )
        stop_btn.click(on_stop, None, None, queue=False, concurrency_limit=None, api_name="stop")
        run_event.then(trace_steps, trace_dir, step_slider, api_visibility="private").then(
            trace_view, [trace_dir, step_slider, inspect_layer], [bars_plot, grad_plot, gram_cmp_plot, trace_status],
            api_visibility="private",
        )

        gr.on([c.change for c in (content, style, *settings[:17])], cli_command, [content, style, *settings[:17]],
              command, api_visibility="private", queue=False, show_progress="hidden")
        for slider, name, tv in ((content_w, "content weight", False), (style_w, "style weight", False),
                                 (tv_w, "TV weight", True)):
            slider.change(lambda v, name=name, tv=tv: gr.update(label=weight_label(name, v, tv=tv)), slider, slider,
                          api_visibility="private", queue=False, show_progress="hidden")
        gr.on([backend.change, weights.change, all_layers.change], layer_choices,
              [backend, weights, all_layers, content_layers, style_layers],
              [content_layers, style_layers, inspect_layer],
              api_visibility="private", queue=False)
        style_layers.change(sync_style_weights, [style_layers, style_layer_weights, backend, weights],
                            style_layer_weights, api_visibility="private", queue=False, show_progress="hidden")

        def on_inspect(image, layer, backend_, weights_, pooling_, size_, seed_):
            return inspect_view(image, layer, backend_, weights_, pooling_, size_, seed_, max_side=max_side)

        def on_layer(image, *values):  # quietly nothing until there is an image
            return on_inspect(image, *values) if image else tuple(gr.skip() for _ in inspect_outputs)

        inspect_inputs = [inspect_image_in, inspect_layer, backend, weights, pooling, size, seed]
        inspect_outputs = [gallery, gram_plot, stats_plot, stats_table, inspect_status]
        inspect_btn.click(on_inspect, inspect_inputs, inspect_outputs, api_name="inspect", concurrency_id="inspect")
        inspect_layer.change(on_layer, inspect_inputs, inspect_outputs, api_visibility="private",
                             concurrency_id="inspect")
        gr.on([step_slider.release, inspect_layer.change], trace_view, [trace_dir, step_slider, inspect_layer],
              [bars_plot, grad_plot, gram_cmp_plot, trace_status], api_visibility="private", concurrency_id="inspect")

        # Gradio finds a gr.Progress default only among the positional parameters.
        def on_compare(progress=gr.Progress(track_tqdm=True), *values):  # noqa: B008
            return compare_view(*values, max_side=max_side, progress=True)

        compare_btn.click(on_compare, [content, style, variants, compare_size, compare_iterations, *settings],
                          [compare_plot, compare_table, compare_status],
                          api_name="compare", concurrency_id="engine", concurrency_limit=opts.concurrency_limit)

    demo.queue(default_concurrency_limit=opts.concurrency_limit, max_size=opts.max_queue)
    demo.explorer_options = opts  # read by launch(); harmless for Gradio
    return demo


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def launch_kwargs(host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> dict[str, Any]:
    """The `Blocks.launch` arguments `launch` uses: bind address, limits, and the one extra readable folder."""
    return {
        "server_name": host,
        "server_port": port,
        "share": bool(share),
        "max_file_size": MAX_UPLOAD,
        # Only the bundled samples' folder, for the examples; uploads and
        # results live in Gradio's cache and the system temp folder.
        "allowed_paths": [str(_samples_dir())],
        "show_error": False,
        "ssr_mode": False,
        "footer_links": ["api", "settings"],
    }


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Serve the explorer (what `style-explainer explore` runs); blocks until interrupted."""
    cache = enable_compile_cache()
    demo = build_app()
    kept = f"compiled programs are kept in {cache}" if cache else "compiled programs are not kept"
    print(f"style-explainer explorer: {kept}; warming up in the background")
    warm_up(demo.explorer_options)
    try:
        demo.launch(**launch_kwargs(host, port, share))
    except OSError as error:  # port taken, address not available
        reason = _message(error).split(". ")[0]  # Gradio goes on about its own parameters
        raise ConfigError(f"cannot serve on {host}:{port}: {reason} (try another --port)") from None


# Keep the widget order and the handler's signature in step.
assert tuple(_inspect.signature(stylize_stream).parameters)[2:2 + len(SETTINGS)] == SETTINGS
