"""One frozen dataclass describes a run, for the CLI, the Python API and the explorer.

The CLI builds its flags from these fields, the explorer's widgets map onto
them, and every record a run writes starts with `config.to_dict()`, so the
three front doors cannot drift apart.

Defaults follow jcjohnson/neural-style (content `relu4_2`, style
`relu1_1..relu5_1` equally weighted, content 5, style 100, TV 1e-3) with
this project's loss normalisation (see [`explainer.losses`][explainer.losses]).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from backends import ARCHITECTURES, POOLINGS, SOURCES

OPTIMIZERS: tuple[str, ...] = ("adam", "lbfgs")
INITS: tuple[str, ...] = ("content", "noise", "style")
COLOR_MODES: tuple[str, ...] = ("none", "keep", "match")
WEIGHT_CHOICES: tuple[str, ...] = ("auto", *SOURCES, "random")

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class ConfigError(ValueError):
    """A setting that cannot work, explained in one line."""


@dataclasses.dataclass(frozen=True)
class StyleConfig:
    """Everything that defines a style-transfer run.

    Attributes:
        backend: network, `"vgg19"` or `"vgg16"`.
        weights: `"auto"`, `"vgg19"`, `"vgg16"`, `"hed"`, `"random"` or a path.
        pooling: `"max"` or `"avg"`.
        content_layers: layers whose activations the result should share with the content image.
        style_layers: layers whose Gram matrices it should share with the style image(s).
        content_layer_weights: one weight per content layer (default: all 1).
        style_layer_weights: one weight per style layer (default: all 1).
        content_weight: multiplies every content term.
        style_weight: multiplies every style term.
        tv_weight: total-variation weight (0 turns it off).
        size: longest side of the result, in pixels.
        iterations: optimisation steps (per scale when `scales > 1`).
        optimizer: `"adam"` or `"lbfgs"`.
        learning_rate: Adam's step size, in `[0, 1]` pixel units.
        init: `"content"`, `"noise"`, `"style"`, or the path of an image.
        seed: seeds the noise init and random weights; runs are deterministic.
        scales: number of coarse-to-fine scales (factor sqrt(2) apart, ending at `size`).
        ema_decay: if set (e.g. 0.99), the result is an exponential moving average of the iterates.
        style_blend: one weight per style image (default: equal).
        style_scale: the style image is resized to `style_scale * size`.
        colors: `"none"`, `"keep"` (luminance-only transfer) or `"match"` (match the style's colours to the content's).
        save_every: write an intermediate image every N steps (0: never).
        print_every: report losses every N steps (0: never).
    """

    backend: str = "vgg19"
    weights: str = "auto"
    pooling: str = "max"
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_layer_weights: tuple[float, ...] | None = None
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    size: int = 512
    iterations: int = 500
    optimizer: str = "adam"
    learning_rate: float = 0.02
    init: str = "content"
    seed: int = 0
    scales: int = 1
    ema_decay: float | None = None
    style_blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    colors: str = "none"
    save_every: int = 0
    print_every: int = 50

    def __post_init__(self):
        # Lists from JSON or callers become tuples so the config stays hashable.
        for name in ("content_layers", "style_layers", "content_layer_weights", "style_layer_weights", "style_blend"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        self.validate()

    def validate(self) -> None:
        """Raise [`ConfigError`][explainer.ConfigError] for settings that cannot work."""
        _choice("backend", self.backend, tuple(ARCHITECTURES))
        _choice("pooling", self.pooling, POOLINGS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("colors", self.colors, COLOR_MODES)
        if not self.content_layers and not self.style_layers:
            raise ConfigError("choose at least one content or style layer")
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate", "style_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.learning_rate == 0 or self.style_scale == 0:
            raise ConfigError("learning_rate and style_scale must be > 0")
        for name, layers in (("content_layer_weights", self.content_layers), ("style_layer_weights", self.style_layers)):
            weights = getattr(self, name)
            if weights is None:
                continue
            if len(weights) != len(layers):
                raise ConfigError(f"{name} has {len(weights)} values for {len(layers)} layers")
            if any(not math.isfinite(w) or w < 0 for w in weights):
                raise ConfigError(f"{name} must be finite numbers >= 0, not {weights}")
        if self.style_blend is not None and (any(not math.isfinite(b) or b < 0 for b in self.style_blend) or sum(self.style_blend) <= 0):
            raise ConfigError(f"style_blend must be numbers >= 0 with a positive sum, not {self.style_blend}")
        for name, low in (("size", 16), ("iterations", 0), ("scales", 1), ("save_every", 0), ("print_every", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, not {value!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be between 0 and 1 (exclusive), not {self.ema_decay}")
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, not {self.seed!r}")

    # ------------------------------------------------------------------ derived

    def layer_weights(self) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        """Effective `((layer, weight), ...)` for content and style: global x per-layer."""
        content_w = self.content_layer_weights or (1.0,) * len(self.content_layers)
        style_w = self.style_layer_weights or (1.0,) * len(self.style_layers)
        content = tuple((n, float(self.content_weight * w)) for n, w in zip(self.content_layers, content_w))
        style = tuple((n, float(self.style_weight * w)) for n, w in zip(self.style_layers, style_w))
        return content, style

    def scale_sizes(self) -> tuple[int, ...]:
        """Longest side at each scale: `size / sqrt(2)^k`, coarsest first."""
        return tuple(max(16, round(self.size / math.sqrt(2) ** k)) for k in reversed(range(self.scales)))

    def replace(self, **changes: Any) -> StyleConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
