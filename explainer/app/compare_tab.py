"""The Compare tab: two to four variants of the Stylize tab's settings, side by side.

A variant may change only the settings the explorer shows, within the
explorer's limits, and never names a file: a setting with choices takes only
the Stylize tab's choices (`model` also `trained:N`, a network trained in this
explorer), and every refusal reads the same whatever a value names, without
echoing it. What it reads and how much work it asks for are the same as a
Stylize run's.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import gradio as gr

from explainer.app import state
from explainer.app.messages import hide_paths, web_message
from explainer.app.options import AppOptions, lesson_link
from explainer.app.uploads import load_user_image
from explainer.app.widgets import (
    check_limits,
    explorer_settings,
    make_widget,
    model_folder,
    settings_from_values,
    tab_setting,
)
from explainer.compare import Variant, compare, parse_variant
from explainer.config import INITS, OptimisationSettings
from explainer.errors import USER_ERRORS, ConfigError

DEFAULT_VARIANTS = """\
shallow style: style_layers=relu1_1,relu2_1
deep style: style_layers=relu3_1,relu4_1,relu5_1
all five: style_layers=relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"""


#: The table's first columns, shown before the first run (per-layer columns follow after one).
TABLE_HEADERS = ["label", "overrides", "loss", "content", "style", "tv", "time_s"]
#: The size and iterations every variant runs at: their declarations, in the tab's words; the sliders stop at the
#: explorer's budget (`AppOptions.max_size`, `max_iterations`), as the Stylize tab's do.
TAB_SETTINGS = {
    "size": tab_setting(OptimisationSettings, "size", label="Size for each variant (px)"),
    "iterations": tab_setting(OptimisationSettings, "iterations", label="Iterations for each variant"),
}
#: Where they start (smaller than a single run's: the tab runs up to four).
TAB_DEFAULTS = {"size": 128, "iterations": 100}


def variant_settings(options: AppOptions | None = None) -> tuple[str, ...]:
    """The settings a Compare variant may change: the run settings the explorer shows."""
    config_cls = type((options or AppOptions()).defaults)
    return tuple(item.name for item in explorer_settings(config_cls) if hasattr(config_cls, item.name))


def variant_choices(name: str, options: AppOptions | None = None) -> tuple[str, ...] | None:
    """The values a variant's setting `name` may take when it has choices (the Stylize tab's); `None`: a number
    or layer names, parsed as the command line does. `model`'s are checked by `widgets.model_folder`."""
    options = options or AppOptions()
    if name == "weights":
        return tuple(options.weights_choices)
    if name == "init":
        return tuple(INITS)
    item = next(item for item in explorer_settings(type(options.defaults)) if item.name == name)
    if item.widget in ("dropdown", "radio"):
        return tuple(item.options.get("choices", item.choices))
    return None


def _check_variant(number: int, spec: str, options: AppOptions | None) -> None:
    """Refuse a variant that sets what the tab does not list, or a value not among a setting's choices.

    The refusals never echo what was sent (it may be a server path): they read the same whether it names
    something that exists or not.
    """
    allowed = variant_settings(options)
    for pair in spec.split(";"):
        if not pair.strip():
            continue
        name, equals, value = (part.strip() for part in pair.partition("="))
        if not equals or name not in allowed:
            raise ConfigError(f"variant {number}: give setting=value pairs separated by ';', the settings among "
                              f"{', '.join(allowed)}")
        if name == "model":
            try:
                model_folder(value)
            except ConfigError as error:
                raise ConfigError(f"variant {number}: {error}") from None
        elif (choices := variant_choices(name, options)) is not None and value not in choices:
            raise ConfigError(f"variant {number}: {name} must be one of {', '.join(choices)} here")


def parse_variants(text: str, options: AppOptions | None = None) -> list[Variant]:
    """Compare-tab variants, one per line: `label: style_layers=relu1_1,relu2_1; style_weight=1000`.

    The part after the label is what `style-explainer compare` takes
    ([`parse_variant`][explainer.compare.parse_variant]), limited to
    `variant_settings()` and, for settings with choices, to the Stylize tab's
    (`variant_choices`; `model`: a built-in network or `trained:N`, which
    the variant runs from that network's folder); without a label the
    settings name the variant. Blank lines and lines starting with `#` are skipped.

    Raises:
        ConfigError: for an unknown or unavailable setting, a bad value, or not 2 to 4 variants; the
            message names the variant by its number and never echoes a value that may be a path.
    """
    variants = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, _, spec = line.partition(":") if ":" in line.split("=", 1)[0] else ("", "", line)
        number = len(variants) + 1
        _check_variant(number, spec, options)
        try:
            overrides = parse_variant(spec, allowed=variant_settings(options))
        except ConfigError as error:  # its message quotes the variant: say its number instead
            message = str(error).removeprefix(f"variant {spec.strip()!r}: ").removeprefix(f"variant {spec!r} ")
            raise ConfigError(f"variant {number}: {hide_paths(message)}") from None
        if "model" in overrides:
            overrides["model"] = model_folder(overrides["model"])
        variants.append(Variant(label=label.strip() or spec.strip(), overrides=overrides))
    if not 2 <= len(variants) <= 4:
        raise ConfigError(f"give 2 to 4 variants, one per line (got {len(variants)})")
    return variants


def compare_view(content: str | None, style: str | None, variants_text: str, size: int, iterations: int,
                 values: Mapping[str, Any] | None = None, *, options: AppOptions | None = None,
                 max_side: int | None = None, progress: bool = False) -> tuple:
    """Run 2-4 variants of the Stylize tab's settings side by side: the last item of `compare_stream`.

    Returns:
        `(figure, table, status)`: the labelled grid, the table as
        `{"data": rows, "headers": names}` (label, overrides, final losses
        per term, time), and a Markdown line; on a user error `None`, an
        empty table and the message.
    """
    outputs = None
    for outputs in compare_stream(content, style, variants_text, size, iterations, values, options=options,
                                  max_side=max_side, progress=progress):
        pass
    return outputs


class _Cancelled(Exception):
    """Raised inside a comparison's steps when its page asked to stop or went away."""


def compare_stream(content: str | None, style: str | None, variants_text: str, size: int, iterations: int,
                   values: Mapping[str, Any] | None = None, *, options: AppOptions | None = None,
                   max_side: int | None = None, progress: bool = False, session: str = "local") -> Iterator[tuple]:
    """Run 2-4 variants of the Stylize tab's settings side by side, saying which step it is at.

    Args:
        content: the content image file.
        style: the style image file.
        variants_text: one variant per line (see `parse_variants`).
        size: the size of every variant (the Compare tab's own, smaller
            than a single run's, since it runs several).
        iterations: the steps of every variant.
        values: the Stylize tab's settings widgets' values.
        progress: show tqdm bars (which the page's progress bar follows).
        session: whose job this is: `request_stop(session)` stops it.

    Yields `(figure, table, status)`: while it runs `gr.skip()` twice and
    the variant and step it is at; at the end the grid, the table and a
    summary (or, on a user error, `None`, an empty table and the message).
    Closing the generator (Gradio does when the page goes away or the job
    is cancelled) or `request_stop(session)` stops the computation within a step.
    """
    options = options or AppOptions()
    empty = {"data": [], "headers": ["label"]}
    try:
        base = settings_from_values({**(values or {}), "size": size, "iterations": iterations}, options)[0]
        variants = parse_variants(variants_text, options)
        for variant in variants:
            _reset_layer_weights(variant, base)
            check_limits(base.replace(**variant.overrides), options)
        images = [load_user_image(path, what, max_side or options.max_image_side)
                  for path, what in ((content, "content"), (style, "style"))]
        network = state.cached_backend(base)
    except USER_ERRORS as error:
        yield None, empty, _warn(error)
        return
    updates: queue.Queue = queue.Queue()
    stop = state.start_run(session)

    def on_step(index: int, event) -> None:
        if stop.is_set():
            raise _Cancelled
        updates.put(f"Variant {index + 1} of {len(variants)} ({variants[index].label}) · step {event.iteration} of "
                    f"{base.iterations * base.scales}")

    def work() -> None:
        try:
            updates.put(("done", compare(images[0], images[1], variants, base, backend=network, progress=progress,
                                         log=lambda message: None, on_step=on_step)))
        except BaseException as error:  # noqa: BLE001 -- handed to the consumer
            updates.put(("done", error))

    worker = threading.Thread(target=work, name=f"style-explainer-compare-{session}", daemon=True)
    try:
        worker.start()
        while not isinstance(message := updates.get(), tuple):
            yield gr.skip(), gr.skip(), message
    finally:
        state.end_run(session, stop)
        worker.join()
    outcome = message[1]
    if isinstance(outcome, _Cancelled):
        yield None, empty, "**Stopped** before the variants finished."
        return
    if isinstance(outcome, USER_ERRORS):
        yield None, empty, _warn(outcome)
        return
    if isinstance(outcome, BaseException):
        raise outcome
    rows = outcome.rows
    for row in rows:  # a trained network by the name the page knows, not its folder
        row["overrides"] = _named(row.get("overrides", ""))
    headers = [key for key in dict.fromkeys(key for row in rows for key in row) if key != "time_s"] + ["time_s"]
    table = [[_cell(row.get(key)) for key in headers] for row in rows]
    status = (f"**{network.describe(with_path=False)}** · {len(rows)} variants, {base.size} px, "
              f"{base.iterations} steps each, {sum(r['time_s'] for r in rows):.1f} s in all.")
    yield outcome.figure(), {"data": table, "headers": headers}, status


def _warn(error: BaseException) -> str:
    message = web_message(_named(str(error)) if isinstance(error, USER_ERRORS) else error)
    gr.Warning(message)
    return f"**Error:** {message}"


def _named(text: str) -> str:
    """`text` with the folder of each network trained in this explorer replaced by its name (`trained:N`)."""
    for name, _label, folder in state.trained_networks():
        text = text.replace(folder, name)
    return text


def _reset_layer_weights(variant: Variant, base) -> None:
    """New layers with the old per-layer weights cannot work: such a variant gets 1 per layer."""
    for layers in ("style_layers", "content_layers"):
        weights = layers[:-1] + "_weights"
        if layers in variant.overrides and weights not in variant.overrides and getattr(base, weights):
            variant.overrides[weights] = None


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def build_compare_tab(opts: AppOptions, stylize) -> None:
    """The Compare tab, reading the images and settings of the Stylize tab."""
    gr.Markdown("**Learn:** " + lesson_link("compare", "choosing layers and weights", opts.lessons_url))
    gr.Markdown("Two to four variants of the Stylize tab's images and settings, one per line: "
                "`label: setting=value; setting=value`, with the settings' names as `style-explainer compare` "
                f"takes them ({', '.join(variant_settings(opts))}). The size and iterations below apply to each.")
    variants = gr.Textbox(DEFAULT_VARIANTS, lines=4, label="Variants", elem_id="compare-variants")
    with gr.Row():
        limits = {"size": opts.max_size, "iterations": opts.max_iterations}
        size, iterations = (make_widget(TAB_SETTINGS[name], min(TAB_DEFAULTS[name], limits[name]), opts,
                                        limits=limits, id_prefix="compare-") for name in ("size", "iterations"))
    with gr.Row():
        button = gr.Button("Compare", variant="primary", elem_id="compare-button")
        stop = gr.Button("Stop", variant="stop", elem_id="compare-stop")
    status = gr.Markdown()
    plot = gr.Plot(label="Side by side", show_label=False, elem_id="compare-plot")
    table = gr.Dataframe(value={"data": [], "headers": TABLE_HEADERS}, label="Final losses per variant",
                         interactive=False, elem_id="compare-table")
    names = list(stylize.widgets)

    # Gradio finds a gr.Progress default only among the positional parameters.
    def on_compare(request: gr.Request, progress=gr.Progress(track_tqdm=True), *inputs):  # noqa: B008
        content, style, text, size_, iterations_, *values = inputs
        yield from compare_stream(content, style, text, size_, iterations_, dict(zip(names, values)), options=opts,
                                  progress=True, session=state.session_of(request))

    button.click(on_compare, [stylize.content, stylize.style, variants, size, iterations, *stylize.widgets.values()],
                 [plot, table, status], api_name="compare", concurrency_id="engine",
                 concurrency_limit=opts.concurrency_limit)
    def on_stop(request: gr.Request) -> None:
        state.request_stop(state.session_of(request))

    stop.click(on_stop, None, None, queue=False, concurrency_limit=None, api_visibility="private")
