"""The explorer's settings widgets, generated from the declared settings.

Every setting with a `widget` hint (see [`explainer.settings`][explainer.settings])
gets a widget: the run settings of [`StyleConfig`][explainer.StyleConfig],
the recording settings of [`RecordSpec`][explainer.record.RecordSpec] and the
explorer's own [`LiveSettings`][explainer.app.widgets.LiveSettings]. Handlers
receive the widgets' values as one dict keyed like the command-line flags
(`"style_weight"`, `"record_every"`, ...) and turn it into settings with
[`settings_from_values`][explainer.app.widgets.settings_from_values].

The other tabs (Video, Real-time, Compare, Train) build their settings'
widgets the same way, from the declarations; where a tab must be stricter
than the command line (its budgets), it says so in one place per tab with
[`tab_setting`][explainer.app.widgets.tab_setting], which refuses anything
looser than the declaration.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr

from backends import ARCHITECTURES, layer_names, list_sources
from explainer.app import state
from explainer.app.options import MAX_SCALES, AppOptions
from explainer.config import INITS, FastSettings, StyleConfig
from explainer.errors import BudgetError, ConfigError
from explainer.record import RecordSpec
from explainer.settings import Setting, Settings, setting, settings_of


@dataclasses.dataclass(frozen=True)
class LiveSettings(Settings):
    """The explorer's own settings: how often the page updates."""

    preview_every: int = setting(5, group="explorer", kind="int", minimum=1, maximum=50, unit="steps", metavar="N",
                                 help="show the image and the loss plot every N steps", widget="slider",
                                 ui=(("min", 1), ("max", 50), ("step", 1)))


#: What a tab may change of a setting's widget (`tab_setting`): its kind where the declaration has none, a
#: narrower range, a step, fewer choices, and the words shown.
TAB_OPTIONS = ("widget", "min", "max", "step", "choices", "label", "info")


def tab_setting(cls: type, name: str, **changes: Any) -> Setting:
    """Setting `name` of `cls` as one tab shows it: the declaration, with the tab's own widget options.

    `changes` (keys of `TAB_OPTIONS`) may give a widget to a setting declared
    without one (`widget="slider"`), and narrow what the declaration allows:
    `min`/`max` within the declared bounds (a slider's default range is the
    declared one), `choices` among the declared ones. Anything looser is a
    `ValueError`: a tab may be stricter than the command line, never looser.

    `tab_setting(VideoSettings, "max_frames", widget="slider", min=2, max=48)`
    """
    declared = next((item for item in settings_of(cls) if item.name == name), None)
    if declared is None:
        raise ValueError(f"{cls.__name__} declares no setting {name!r}")
    unknown = set(changes) - set(TAB_OPTIONS)
    if unknown:
        raise ValueError(f"{name}: a tab may change only {', '.join(TAB_OPTIONS)}, not {', '.join(sorted(unknown))}")
    widget = changes.pop("widget", declared.widget)
    if widget is None:
        raise ValueError(f"{name} is declared without a widget: give the tab's one (widget=...)")
    shown = dataclasses.replace(declared, widget=widget, ui=tuple({**declared.options, **changes}.items()))
    # The declared bounds, in the widget's units (a log slider's are its declared ends).
    floor, ceiling = widget_range(declared) if widget == "log-slider" else (declared.minimum, declared.maximum)
    low, high = widget_range(shown)
    if floor is not None and (low is None or low < floor):
        raise ValueError(f"{name}: the tab's minimum {low} is below the declared {floor}")
    if ceiling is not None and (high is None or high > ceiling):
        raise ValueError(f"{name}: the tab's maximum {high} is above the declared {ceiling}")
    allowed = declared.options.get("choices", declared.choices)
    if "choices" in changes and allowed and not set(changes["choices"]) <= set(allowed):
        raise ValueError(f"{name}: choices {sorted(set(changes['choices']) - set(allowed))} are not declared")
    return shown


def widget_range(item: Setting) -> tuple[float | None, float | None]:
    """`(lowest, highest)` a setting's slider offers: its `ui` options, else (not a log slider) its declared bounds."""
    if item.widget == "log-slider":
        return item.options.get("min"), item.options.get("max")
    return item.options.get("min", item.minimum), item.options.get("max", item.maximum)


def key(item: Setting) -> str:
    """A setting's key in the explorer's values: its flag without dashes (`record_every`)."""
    return item.cli_flag.removeprefix("--").replace("-", "_")


def explorer_settings(config_cls: type = StyleConfig) -> tuple[Setting, ...]:
    """The settings the explorer shows, in widget order: run, recording, live."""
    return tuple(item for cls in (config_cls, RecordSpec, LiveSettings) for item in settings_of(cls) if item.widget)


# --------------------------------------------------------------------------- values <-> settings


def network_arch(network: str, weights: str, *, resolve: bool = False) -> str:
    """The architecture a network/weights choice runs: HED weights are always VGG16.

    With `resolve`, `auto` is looked up by loading the weights (ImageNet
    VGG19 if it can be had, else HED's VGG16); without, it counts as `network`.
    """
    for row in list_sources():
        if row["name"] == weights:
            return row["arch"]
    if resolve and weights == "auto" and (resolved := state.resolved_network(network, weights)) is not None:
        return resolved.arch
    return network if network in ARCHITECTURES else "vgg19"


def relu_layers(arch: str) -> tuple[str, ...]:
    return tuple(name for name in layer_names(arch) if name.startswith("relu"))


def order_layers(layers: Sequence[str] | None, arch: str) -> tuple[str, ...]:
    """Layers in network order (a CheckboxGroup returns them in click order); unknown ones last."""
    known = layer_names(arch)
    layers = list(dict.fromkeys(layers or ()))
    return tuple(sorted(layers, key=lambda n: known.index(n) if n in known else len(known)))


def log_to_weight(log_value: float) -> float:
    """`10 ** log_value`, rounded to 3 significant digits (so the default 5 stays 5.0)."""
    return float(f"{10.0 ** float(log_value):.3g}")


def weight_to_log(weight: float, item: Setting) -> float:
    return round(math.log10(weight), 3) if weight > 0 else float(item.options["min"])


def weight_label(item: Setting, log_value: float) -> str:
    """The slider label that shows the actual weight, e.g. `"style weight = 100  (log scale)"`."""
    value = to_setting_value(item, log_value)
    return f"{item.name.replace('_', ' ')} = {'off' if value == 0 else f'{value:g}'}  (log scale)"


def to_setting_value(item: Setting, value: Any, arch: str = "vgg19") -> Any:
    """A widget's value as the setting's value (`ConfigError` for text that is not one)."""
    if item.widget == "log-slider":
        off = item.options.get("off_at_min") and float(value) <= float(item.options["min"])
        return 0.0 if off else log_to_weight(value)
    if item.widget == "layers":
        return order_layers(value, arch)
    if item.widget == "numbers":
        text = str(value or "").replace(";", ",").strip()
        return item.parse(text) if text else None
    if item.kind == "int":
        return item.parse(str(value))
    if item.kind == "float":
        return float(value)
    return value


def to_widget_value(item: Setting, value: Any) -> Any:
    """A setting's value as its widget shows it (inverse of `to_setting_value`)."""
    if item.widget == "log-slider":
        return weight_to_log(value, item)
    if item.widget == "layers":
        return list(value)
    if item.widget == "numbers":
        return "" if value is None else ", ".join(f"{v:g}" for v in value)
    return value


def _as_resolved(config: StyleConfig) -> StyleConfig:
    """`config` naming the network that will run, with only layers it has (auto without VGG19: HED's VGG16)."""
    arch = network_arch(config.network, config.weights, resolve=True)
    if arch == config.network:
        return config
    known = layer_names(arch)
    return config.replace(network=arch, content_layers=tuple(n for n in config.content_layers if n in known),
                          style_layers=tuple(n for n in config.style_layers if n in known),
                          content_layer_weights=None, style_layer_weights=None)


def default_values(options: AppOptions, *, resolve: bool = False) -> dict[str, Any]:
    """The widgets' starting values: `options.defaults`, the default weights, recording every tenth step.

    With `resolve`, the network is the one that will run (the weights are
    loaded to know; see `network_arch`), as the page shows it.
    """
    config = options.defaults.replace(weights=options.default_weights)
    if config.init not in INITS:
        config = config.replace(init="content")
    if resolve:
        config = _as_resolved(config)
    record = RecordSpec(every=max(1, config.iterations // 10))
    return {key(item): to_widget_value(item, getattr(owner, item.name))
            for owner in (config, record, LiveSettings())
            for item in settings_of(owner) if item.widget}


def settings_from_values(values: Mapping[str, Any], options: AppOptions | None = None):
    """`(StyleConfig, RecordSpec, LiveSettings)` from the widgets' values, within the explorer's limits.

    Missing values keep `options`' defaults. Raises `ConfigError` (one line) for a value that cannot
    work, and `BudgetError` for a run beyond the explorer's limits.
    """
    options = options or AppOptions()
    values = {**default_values(options), **values}
    if "model" in values:  # a page names a trained network `trained:N`; the run gets its folder
        values["model"] = model_folder(values["model"])
    arch = network_arch(values["network"], values["weights"])
    try:
        parts = []
        for cls in (type(options.defaults), RecordSpec, LiveSettings):
            fields = {item.name: to_setting_value(item, values[key(item)], arch)
                      for item in settings_of(cls) if item.widget and key(item) in values}
            parts.append(cls(**fields) if cls is not type(options.defaults) else options.defaults.replace(**fields))
    except ValueError as error:  # RecordSpec and float() raise ValueError
        raise ConfigError(" ".join(str(error).split())) from None
    check_limits(parts[0], options)
    return tuple(parts)


#: A blend of the built-in multistyle network's styles (`multistyle:3=0.5,12=0.5`): never a path.
_BLEND = re.compile(r"multistyle:\d+=[0-9.e+-]+(,\d+=[0-9.e+-]+)*")
#: The one refusal of a `model` the explorer does not offer, whatever it names and whether or not that exists.
MODEL_REFUSAL = ("model must be arbitrary, multistyle:K (K from 0 to 25, or a blend multistyle:K=W,K=W) or a network "
                 "trained in this explorer (trained:N) here")


def model_names() -> tuple[str, ...]:
    """The `model` values a page may send: the built-in networks, then those trained in this explorer (`trained:N`)."""
    declared = next(item for item in settings_of(FastSettings) if item.name == "model").options["choices"]
    return (*declared, *(name for name, _label, _folder in state.trained_networks()))


def model_folder(value: Any) -> str:
    """A page's `model` as the run's: a built-in name (or blend) as it is, `trained:N` as its folder.

    Anything else (a path, whether or not it exists, a folder this explorer did not train) is the one
    `MODEL_REFUSAL`: the explorer never reads a file a web user names.
    """
    text = str(value or "").strip()
    if text.startswith(state.TRAINED_PREFIX):
        folder = state.trained_folder(text)
        if folder is not None:
            return folder
    elif text in model_names() or _BLEND.fullmatch(text):
        return text
    raise ConfigError(MODEL_REFUSAL)


def check_limits(config: StyleConfig, options: AppOptions) -> StyleConfig:
    """Refuse, in one line, what the explorer does not run: over-size work and server paths.

    Every path into the engine (Stylize, Compare variants) passes here. Its refusals read the same whatever a
    value names, and name no file: a web user cannot learn what exists on the server.
    """
    trained = {folder for _name, _label, folder in state.trained_networks()}
    if config.model not in trained and (config.model.startswith(state.TRAINED_PREFIX)
                                        or model_folder(config.model) != config.model):
        raise ConfigError(MODEL_REFUSAL)
    for name in ("content_mask", "style_mask"):  # uploads are set by the tab itself, after this check
        if getattr(config, name, None) is not None:
            raise ConfigError(f"{name} is set by uploading a mask here, never by a path")
    if config.weights not in options.weights_choices:
        raise ConfigError(f"weights must be one of {', '.join(options.weights_choices)} here")
    if config.init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)} here")
    for name, limit in (("size", options.max_size), ("iterations", options.max_iterations), ("scales", MAX_SCALES)):
        if getattr(config, name) > limit:
            raise BudgetError(f"{name} {getattr(config, name)} is more than the explorer runs ({limit}); "
                              "use the command line for larger runs")
    return config


# --------------------------------------------------------------------------- widgets


def make_widget(item: Setting, value: Any, options: AppOptions, layer_choices: Sequence[str] = (),
                limits: Mapping[str, float] | None = None, id_prefix: str = "") -> gr.components.Component:
    """The widget for one setting, starting at `value` (in widget units); `limits`: the sliders' maxima by setting
    name (default: the explorer's size and iterations); `id_prefix` for its HTML id (another tab's setting of the
    same name)."""
    limits = {"size": options.max_size, "iterations": options.max_iterations} if limits is None else limits
    common = {"label": _label(item, value), "elem_id": id_prefix + key(item).replace("_", "-"), "info": _info(item)}
    opts = item.options
    kind = item.widget
    if kind in ("dropdown", "radio"):
        choices = options.weights_choices if item.name == "weights" else opts.get("choices", item.choices)
        widget = gr.Dropdown if kind == "dropdown" else gr.Radio
        return widget(list(choices), value=value, **common)
    if kind in ("slider", "log-slider"):
        low, high = widget_range(item)
        maximum = limits.get(item.name, high)
        # A log slider's own number box would show log10 of the weight: the label shows the weight instead.
        classes = ["log-slider"] if kind == "log-slider" else None
        return gr.Slider(0 if low is None else low, maximum, value=value, step=opts.get("step", 1),
                         elem_classes=classes, **common)
    if kind == "layers":
        return gr.CheckboxGroup(list(layer_choices), value=value, **common)
    if kind == "checkbox":
        return gr.Checkbox(value, **common)
    if kind == "number":
        return gr.Number(value, precision=0 if item.kind == "int" else None, minimum=item.minimum, **common)
    return gr.Textbox(value, **common)


def _label(item: Setting, value: Any) -> str:
    if "label" in item.options:
        return item.options["label"]
    if item.widget == "log-slider":
        return weight_label(item, value)
    text = key(item).replace("_", " ")
    label = text[0].upper() + text[1:]
    # "Steps", not "Steps (steps)": a unit the name already says is not repeated.
    return f"{label} ({item.unit})" if item.unit and item.unit not in text.lower().split() else label


def _info(item: Setting) -> str:
    if "info" in item.options:
        return item.options["info"]
    if item.widget == "log-slider" and item.options.get("off_at_min"):
        return f"{item.help}; far left: off"
    return item.help


def follow_weight_labels(items: Sequence[Setting], widgets: Mapping[str, Any]) -> None:
    """Keep each log slider's label showing the weight itself as it moves (its number box shows log10)."""
    quiet = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    for item in items:
        if item.widget == "log-slider":
            slider = widgets[key(item)]
            slider.change(lambda v, item=item: gr.update(label=weight_label(item, v)), slider, slider, **quiet)
