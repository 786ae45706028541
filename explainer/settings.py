"""Every setting is declared once, here and in the dataclasses that use it.

A setting is a dataclass field made by [`setting`][explainer.settings.setting]:
its default, the group it belongs to, its help text, its unit, how it is
parsed from text and what values it accepts. Everything else is generated
from that one declaration:

* the command line's flags, grouped, each with its default and unit
  ([`add_arguments`][explainer.settings.add_arguments], [`from_args`][explainer.settings.from_args]);
* the `field=value; field=value` text that `compare` and the explorer's
  Compare tab take ([`parse_assignments`][explainer.settings.parse_assignments]);
* the explorer's widgets (a setting with a `widget` hint gets one);
* copy-as-CLI ([`to_flags`][explainer.settings.to_flags]);
* validation of every value ([`check_all`][explainer.settings.check_all]);
* the reference table in the lessons ([`markdown_table`][explainer.settings.markdown_table]).

Adding a setting is one edit: a field in the dataclass of its group.

```python
@dataclasses.dataclass(frozen=True)
class MySettings:
    blur: float = setting(0.0, group="output", help="blur the result", unit="px", minimum=0)
```
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from explainer.errors import ConfigError

#: The groups, in the order `--help` and the explorer show them, with their titles.
GROUPS: dict[str, str] = {
    "method": "method",
    "network": "network",
    "loss": "loss: layers and weights",
    "optimisation": "optimisation",
    "style": "style images and colour",
    "fast": "real-time networks (--method fast)",
    "photo": "photorealism (--method photo)",
    "augment": "style augmentation",
    "train": "training a network (style-explainer train)",
    "tiling": "tiling (images larger than memory)",
    "video": "video (style-explainer video)",
    "output": "output and progress",
    "recording": "recording",
    "explorer": "page updates",
}
#: How a setting's text is read: `KINDS[kind]` parses one value.
KINDS = ("int", "float", "str", "bool", "names", "numbers")
#: Words that mean "no value" for an optional setting.
NONE_WORDS = ("none", "off", "")


@dataclasses.dataclass(frozen=True)
class Setting:
    """The declaration of one setting (read it with [`settings_of`][explainer.settings.settings_of]).

    Attributes:
        group: a key of `GROUPS`.
        help: one line, lower case, no default (that is added).
        kind: how text is parsed: `"int"`, `"float"`, `"str"`, `"bool"`,
            `"names"` (comma-separated words) or `"numbers"` (comma-separated floats).
        unit: shown after the default, e.g. `"px"`.
        choices: the allowed values, when they are a fixed list.
        minimum, maximum: bounds (inclusive) of a number, or of each number of a list.
        above: `minimum` is exclusive (the value must be larger).
        optional: `None` is allowed (written `none` or `off`).
        none_means: what `None` means, for the help text (e.g. `"all 1"`).
        metavar: the placeholder in `--help`.
        flag: the command-line flag (default: `--` + the name with dashes).
        aliases: older flags and record keys that still work.
        widget: how the explorer shows it (`"dropdown"`, `"radio"`, `"slider"`,
            `"log-slider"`, `"layers"`, `"number"`, `"text"`, `"checkbox"`);
            `None`: not in the explorer.
        ui: widget options as `(key, value)` pairs (e.g. `(("min", 32), ("step", 32))`).
        presets: for a preset setting, what each of its values sets:
            `((value, ((name, setting value), ...)), ...)`. Choosing the value
            fills those settings, except the ones given with it (see
            [`with_presets`][explainer.settings.with_presets]).
        name, default: filled in from the dataclass field.
    """

    group: str
    help: str
    kind: str = "str"
    unit: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False
    optional: bool = False
    none_means: str = "off"
    metavar: str | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    widget: str | None = None
    ui: tuple[tuple[str, Any], ...] = ()
    presets: tuple[tuple[Any, tuple[tuple[str, Any], ...]], ...] = ()
    name: str = ""
    default: Any = None

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"unknown settings group {self.group!r}; groups: {', '.join(GROUPS)}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown setting kind {self.kind!r}; kinds: {', '.join(KINDS)}")

    # ------------------------------------------------------------------ text

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def options(self) -> dict[str, Any]:
        """`ui` as a dict."""
        return dict(self.ui)

    def parse(self, text: str) -> Any:
        """The value that `text` (from a command line or a variant) stands for; `ConfigError` if none."""
        text = str(text).strip()
        if self.optional and text.lower() in NONE_WORDS:
            return None
        if self.kind in ("names", "numbers") and text and not text.replace(",", "").strip():
            raise ConfigError(f"{self.name}: {text!r} has separators but no values: give at least one")
        try:
            if self.kind in ("names", "numbers"):
                items = [item.strip() for item in text.split(",") if item.strip()]
                return tuple(float(item) for item in items) if self.kind == "numbers" else tuple(items)
            if self.kind == "int":
                number = float(text)
                if not number.is_integer():
                    raise ValueError
                return int(number)
            if self.kind == "float":
                return float(text)
            if self.kind == "bool":
                return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}[text.lower()]
        except (ValueError, KeyError):
            raise ConfigError(f"{self.name}: {text!r} is not {self.expected}") from None
        return text

    @property
    def expected(self) -> str:
        return {
            "int": "a whole number", "float": "a number", "bool": "true or false", "str": "a word",
            "names": "names separated by commas", "numbers": "numbers separated by commas",
        }[self.kind]

    def format(self, value: Any) -> str:
        """`value` as the command line writes it (inverse of `parse`)."""
        if value is None:
            return "none"
        if isinstance(value, (tuple, list)):
            return ",".join(_number(v) for v in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return _number(value)

    def describe_default(self, default: Any = dataclasses.MISSING) -> str:
        value = self.default if default is dataclasses.MISSING else default
        if value is None or value == ():
            return self.none_means
        shown = self.format(value)
        return f"{shown} {self.unit}" if self.unit else shown

    def help_text(self, default: Any = dataclasses.MISSING) -> str:
        """The `--help` line: the help, the unit, the accepted range, and the default."""
        bounds = self.bounds_text()
        return f"{self.help}{f'; {bounds}' if bounds else ''} (default: {self.describe_default(default)})"

    def bounds_text(self) -> str:
        low, high = self.minimum, self.maximum
        if low is None and high is None:
            return ""
        if high is None:
            return f"{'>' if self.above else '>='} {_number(low)}"
        if low is None:
            return f"<= {_number(high)}"
        return f"> {_number(low)} and <= {_number(high)}" if self.above else f"{_number(low)} to {_number(high)}"

    # ------------------------------------------------------------------ values

    def check(self, value: Any) -> Any:
        """`value`, normalised (lists become tuples), or `ConfigError` saying what is wrong."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{self.name} needs a value ({self.expected})")
        if self.kind in ("names", "numbers"):
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise ConfigError(f"{self.name} must be {self.expected}, not {value!r}")
            value = tuple(value)
            for item in value:
                self._check_one(item, "numbers" if self.kind == "numbers" else "names")
            return value
        return self._check_one(value, self.kind)

    def _check_one(self, value: Any, kind: str) -> Any:
        if kind in ("int", "float", "numbers"):
            integral = kind == "int"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integral and not isinstance(value, int)):
                raise ConfigError(f"{self.name} must be {'a whole number' if integral else 'a number'}, not {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{self.name} must be finite, not {value!r}")
            low, high = self.minimum, self.maximum
            if (low is not None and (value <= low if self.above else value < low)) or (high is not None and value > high):
                raise ConfigError(f"{self.name} must be {self.bounds_text()}, not {_number(value)}")
            value = value if integral else float(value)
        elif kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{self.name} must be true or false, not {value!r}")
        elif kind in ("str", "names") and not isinstance(value, str):
            raise ConfigError(f"{self.name} must be text, not {value!r}")
        if self.choices and kind != "names" and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, not {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of a group of settings: every declared value is checked (and lists made tuples) on creation.

    A preset setting given to the constructor fills the settings it names
    that are not given with it: `StyleConfig(preset="paper", size=256)`.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        self = super().__new__(cls)
        given = [f.name for f in dataclasses.fields(cls)[: len(args)]] + list(kwargs)
        if any(item.presets and item.name in given for item in settings_of(cls)):  # seen by __post_init__ only
            object.__setattr__(self, "_given", frozenset(given))
        return self

    def __post_init__(self):
        given = self.__dict__.pop("_given", None)
        if given is not None:
            current = {name: getattr(self, name) for name in given}
            for name, value in with_presets(type(self), current).items():
                object.__setattr__(self, name, value)
        check_all(self)

    def replace(self, **changes: Any) -> Any:
        """A copy with some settings changed (checked again); older names (`aliases`) work too; a preset fills the rest."""
        return dataclasses.replace(self, **with_presets(type(self), resolve_aliases(type(self), changes)))


def setting(default: Any, **declaration: Any) -> Any:
    """A dataclass field declaring a setting: `size: int = setting(512, group="optimisation", help=...)`."""
    return dataclasses.field(default=default, metadata={"setting": Setting(**declaration)})


def setting_like(cls: Any, name: str, default: Any, **changes: Any) -> Any:
    """A field that declares `cls`'s setting `name` again with another default (and the attributes in `changes`).

    One declaration, several defaults: `train`'s `style_weight` is the loss
    settings' `style_weight`, its default 3 instead of 100 and its group
    "train" (`setting_like(LossSettings, "style_weight", 3.0, group="train")`).
    """
    declared = next((field.metadata.get("setting") for field in dataclasses.fields(cls) if field.name == name), None)
    if declared is None:
        raise ValueError(f"{cls.__name__} declares no setting {name!r}")
    return dataclasses.field(default=default, metadata={"setting": dataclasses.replace(declared, **changes)})


def settings_of(cls_or_instance: Any, groups: Iterable[str] | None = None,
                names: Iterable[str] | None = None) -> tuple[Setting, ...]:
    """The settings a dataclass declares, in field order (only those in `groups` or `names`, if given)."""
    groups = None if groups is None else set(groups)
    names = None if names is None else set(names)
    out = []
    for field in dataclasses.fields(cls_or_instance):
        declared = field.metadata.get("setting")
        if declared is None:
            continue
        everything = groups is None and names is None
        if everything or (groups is not None and declared.group in groups) or (names is not None and field.name in names):
            out.append(dataclasses.replace(declared, name=field.name, default=field.default))
    return tuple(out)


def check_all(instance: Any) -> None:
    """Normalise and check every declared setting of a frozen dataclass instance, in place."""
    for item in settings_of(instance):
        object.__setattr__(instance, item.name, item.check(getattr(instance, item.name)))


def with_presets(cls: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` plus what a preset among them sets: the preset's values first, the changes given win.

    `with_presets(StyleConfig, {"preset": "paper", "optimizer": "adam"})` is the
    paper preset's settings with Adam instead of its L-BFGS.
    """
    filled: dict[str, Any] = {}
    for item in settings_of(cls):
        if item.presets and item.name in changes:
            filled.update(dict(item.presets).get(changes[item.name], ()))
    return {**filled, **changes}


def preset_flags(cls: Any, item: Setting) -> list[tuple[Any, str]]:
    """What each value of a preset setting sets, as flags: `[("paper", "--pooling avg --init noise ..."), ...]`."""
    declared = {other.name: other for other in settings_of(cls)}
    return [(value, " ".join(f"{declared[name].cli_flag} {declared[name].format(v)}" for name, v in fills))
            for value, fills in item.presets if fills]


def preset_text(cls: Any, item: Setting) -> str:
    """`preset_flags` in one line: `paper sets --pooling avg ...`."""
    return "; ".join(f"{value} sets {flags}" for value, flags in preset_flags(cls, item))


def resolve_aliases(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with older keys (a setting's `aliases`) renamed; `ConfigError` for unknown keys."""
    names = {item.name: item for item in settings_of(cls)}
    renames = {alias: item.name for item in names.values() for alias in item.aliases}
    known = {field.name for field in dataclasses.fields(cls)}
    out = {}
    for key, value in data.items():
        key = renames.get(key, key)
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; settings: {', '.join(sorted(names))}")
        out[key] = value
    return out


# --------------------------------------------------------------------------- the command line


def add_arguments(parser: argparse.ArgumentParser, cls: Any, defaults: Any = None,
                  groups: Iterable[str] | None = None, names: Iterable[str] | None = None) -> None:
    """One flag per setting of `cls`, in one argument group per settings group.

    Every flag defaults to `None` ("not given"), so [`from_args`][explainer.settings.from_args]
    can tell a value typed on the command line from the subcommand's own defaults.
    """
    sections: dict[str, argparse._ArgumentGroup] = {}
    for item in settings_of(cls, groups, names):
        if item.group not in sections:
            sections[item.group] = parser.add_argument_group(f"{GROUPS[item.group]} settings")
        default = getattr(defaults, item.name) if defaults is not None else item.default
        if item.presets:  # what each value sets, before the default
            item = dataclasses.replace(item, help=f"{item.help}; {preset_text(cls, item)} (flags given still apply)")
        text = item.help_text(default)
        # SUPPRESS: a flag not given leaves no attribute, so "none" typed by the user stays a value.
        spec: dict[str, Any] = {"dest": item.name, "default": argparse.SUPPRESS, "help": _escape(text)}
        if item.kind == "bool":
            spec["action"] = argparse.BooleanOptionalAction
        else:
            spec["type"] = _argparse_type(item)
            spec["metavar"] = item.metavar or ("|".join(map(str, item.choices)) if item.choices else item.name.upper())
        sections[item.group].add_argument(item.cli_flag, **spec)
        for alias in item.aliases:  # older names still work, unlisted
            sections[item.group].add_argument("--" + alias.replace("_", "-"), **{**spec, "help": argparse.SUPPRESS})


def from_args(args: argparse.Namespace, defaults: Any) -> Any:
    """`defaults` with every flag the user gave (`ConfigError` if the result cannot work).

    A preset flag (`--preset paper`) first sets what its value sets; the other flags given still win.
    """
    given = vars(args)
    changes = {item.name: given[item.name] for item in settings_of(defaults) if item.name in given}
    return dataclasses.replace(defaults, **with_presets(type(defaults), changes)) if changes else defaults


def to_flags(instance: Any, baseline: Any = None) -> list[str]:
    """The flags that turn `baseline` (default: the class's defaults) into `instance`."""
    baseline = baseline if baseline is not None else type(instance)()
    words: list[str] = []
    for item in settings_of(instance):  # a preset first: then only what differs from what it sets
        value = getattr(instance, item.name)
        if item.presets and value != getattr(baseline, item.name):
            baseline = baseline.replace(**{item.name: value})
            words += [item.cli_flag, item.format(value)]
    for item in settings_of(instance):
        value = getattr(instance, item.name)
        if value == getattr(baseline, item.name):
            continue
        if item.kind == "bool":
            words.append(item.cli_flag if value else "--no-" + item.cli_flag[2:])
        else:
            words += [item.cli_flag, item.format(value)]
    return words


def command_line(words: Sequence[str]) -> str:
    """`words` quoted for a POSIX shell."""
    return " ".join(shlex.quote(str(word)) for word in words)


def parse_assignments(text: str, cls: Any, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """`"style_layers=relu1_1,relu2_1; style_weight=1e3"` -> `{"style_layers": (...), "style_weight": 1000.0}`.

    Names are setting names (or their flags without dashes); values are
    parsed as on the command line. `allowed` limits the names (the explorer
    passes the settings it shows); any other name is a `ConfigError`.
    """
    declared = {item.name: item for item in settings_of(cls)}
    for item in list(declared.values()):
        declared.update({alias: item for alias in item.aliases})
    allowed = set(declared) if allowed is None else set(allowed)
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in str(text).split(";"))):
        name, equals, value = part.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not equals:
            raise ConfigError(f"expected FIELD=VALUE, not {part!r}")
        if name not in declared or declared[name].name not in allowed:
            offered = ", ".join(sorted(n for n in allowed if n in declared and declared[n].name == n))
            raise ConfigError(f"unknown or unavailable setting {name!r}; choose from: {offered}")
        item = declared[name]
        out[item.name] = item.parse(value)
    return out


def markdown_table(cls: Any, groups: Iterable[str] | None = None) -> str:
    """The settings of `cls` as a Markdown table (name, flag, default, meaning), for the reference."""
    rows = ["| setting | flag | default | what it does |", "|---|---|---|---|"]
    for item in settings_of(cls, groups):
        meaning = item.help + (f" ({item.bounds_text()})" if item.bounds_text() else "")
        if item.choices:
            meaning += f"; one of {', '.join(f'`{c}`' for c in item.choices)}"
        if item.presets:
            meaning += "".join(f"; `{value}` sets `{flags}`" for value, flags in preset_flags(cls, item))
        rows.append(f"| `{item.name}` | `{item.cli_flag}` | `{item.describe_default()}` | {meaning} |")
    return "\n".join(rows)


def _argparse_type(item: Setting):
    def parse(text: str) -> Any:
        try:
            return item.check(item.parse(text))
        except ConfigError as error:
            message = str(error).removeprefix(f"{item.name}: ").removeprefix(f"{item.name} ")
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = item.kind  # argparse names the type in its message
    return parse


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def _number(value: Any) -> str:
    """Floats as short as they round-trip: `5.0` -> `5`, `0.001` -> `0.001`."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)
