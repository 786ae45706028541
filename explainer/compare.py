"""Comparing layer choices: run several variants of one config side by side.

```python
from explainer import StyleConfig
from explainer.compare import compare

variants = [{"style_layers": ("relu1_1", "relu2_1")}, {"style_layers": ("relu3_1", "relu4_1", "relu5_1")}]
comparison = compare("photo.jpg", "painting.jpg", variants, StyleConfig(size=256, iterations=200))
comparison.save("shallow-vs-deep.png")   # the grid, plus .csv and .json tables
```

[`ratio_sweep`][explainer.compare.ratio_sweep] builds the variants of Gatys
et al. 2015, Fig. 3: rows of growing style-layer sets, columns of
content/style weight ratios.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
import pathlib
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from backends import Backend, get_backend
from explainer import samples
from explainer.config import ConfigError, StyleConfig
from explainer.events import Event
from explainer.runner import Result, stylize
from explainer.settings import parse_assignments

#: Gatys et al. Fig. 3 columns, as content_weight / style_weight in this
#: project's loss normalisation (see lesson 7 for how it maps to the paper's).
DEFAULT_RATIOS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)


@dataclasses.dataclass
class Variant:
    """One configuration to compare: a label and the fields it overrides."""

    label: str
    overrides: dict[str, Any]


@dataclasses.dataclass
class Comparison:
    """The results of [`compare`][explainer.compare.compare].

    Attributes:
        variants: what was run.
        results: one [`Result`][explainer.Result] per variant.
        base: the shared settings.
        description: the network and weights used.
        layout: `(rows, columns)` of the grid (default: one row).
        row_labels, column_labels: for grid layouts such as the ratio sweep.
    """

    variants: list[Variant]
    results: list[Result]
    base: StyleConfig
    description: str
    layout: tuple[int, int] | None = None
    row_labels: list[str] | None = None
    column_labels: list[str] | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table: one row per variant with its final per-term losses and time."""
        table = []
        for variant, result in zip(self.variants, self.results):
            final = result.record["history"][-1] if result.record["history"] else {"loss": float("nan"), "content": {}, "style": {}, "tv": 0.0}
            row: dict[str, Any] = {"label": variant.label, "overrides": _format_overrides(variant.overrides)}
            row["loss"] = final["loss"]
            row["content"] = sum(final["content"].values())
            row["style"] = sum(final["style"].values())
            row["tv"] = final["tv"]
            row.update({f"content/{k}": v for k, v in final["content"].items()})
            row.update({f"style/{k}": v for k, v in final["style"].items()})
            row["time_s"] = result.record["wall_time_s"]
            table.append(row)
        return table

    def figure(self) -> Figure:
        """A labelled grid of the results, each titled with its variant and final loss."""
        rows, columns = self.layout or (1, len(self.results))
        fig = Figure(figsize=(2.6 * columns, 2.7 * rows + 0.7), layout="constrained")
        axes = np.asarray(fig.subplots(rows, columns, squeeze=False))
        for ax in axes.flat:
            ax.set_axis_off()
        for index, (variant, result) in enumerate(zip(self.variants, self.results)):
            ax = axes.flat[index]
            ax.imshow(np.clip(result.image, 0, 1))
            final = result.record["history"][-1]["loss"] if result.record["history"] else float("nan")
            title = textwrap.fill(variant.label, 34) if self.layout is None else ""
            ax.set_title(f"{title}\nloss {final:.3g}".strip(), fontsize=8)
        if self.row_labels:
            for ax, label in zip(axes[:, 0], self.row_labels):
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_ylabel(label, fontsize=8)
        if self.column_labels:
            for ax, label in zip(axes[0], self.column_labels):
                ax.set_title(f"{label}\n{ax.get_title()}", fontsize=8)
        b = self.base
        fig.suptitle(
            f"{b.iterations} {b.optimizer} steps at {b.size} px, init {b.init}, TV {b.tv_weight:g}\n"
            + textwrap.fill(self.description, 35 * max(2, (self.layout or (1, len(self.results)))[1])),
            fontsize=9,
        )
        return fig

    def table_csv(self) -> str:
        rows = self.rows
        fields = list(dict.fromkeys(key for row in rows for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the grid image at `path`, and `<stem>.csv` / `<stem>.json` tables beside it."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure().savefig(path, dpi=120)
        path.with_suffix(".csv").write_text(self.table_csv())
        path.with_suffix(".json").write_text(json.dumps({
            "format": "style-explainer.compare", "version": 1, "base": self.base.to_dict(),
            "network": self.description, "variants": [dataclasses.asdict(v) for v in self.variants],
            "rows": self.rows,
        }, indent=1, default=_jsonable))
        return path


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def _format_overrides(overrides: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in overrides.items())


def parse_variant(text: str, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """`"style_layers=relu1_1,relu2_1; content_weight=10"` -> overrides, parsed like the CLI flags.

    Args:
        text: `FIELD=VALUE` pairs separated by `;` (settings of
            [`StyleConfig`][explainer.StyleConfig]).
        allowed: the settings a variant may change (default: all).

    Raises:
        ConfigError: unknown or unavailable setting, or a value of the wrong type.
    """
    try:
        overrides = parse_assignments(text, StyleConfig, allowed)
    except ConfigError as error:
        raise ConfigError(f"variant {text.strip()!r}: {error}") from None
    if not overrides:
        raise ConfigError(f"variant {text!r} changes nothing")
    return overrides


def compare(
    content: str | np.ndarray,
    style: str | np.ndarray | Sequence[str | np.ndarray],
    variants: Sequence[Mapping[str, Any] | str | Variant],
    base: StyleConfig | None = None,
    *,
    backend: Backend | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, Event], None] | None = None,
) -> Comparison:
    """Run `base` once per variant and collect the results.

    Args:
        content: the photo.
        style: the painting(s).
        variants: each a dict of `StyleConfig` fields to override, a string
            such as `"style_layers=relu1_1,relu2_1; style_weight=1000"`, or a
            [`Variant`][explainer.compare.Variant].
        base: the shared settings.
        backend: one network for every variant; variants may not change
            `network`, `weights` or `pooling` unless no backend is given.
        progress: show a progress bar per variant.
        log: one-line messages (default: stderr).
        on_step: called with `(variant index, event)` after every step; an
            exception it raises (other than `KeyboardInterrupt`, which ends
            only the current variant) stops the whole comparison.

    Returns:
        A [`Comparison`][explainer.compare.Comparison].
    """
    base = base or StyleConfig()
    parsed = [_as_variant(v) for v in variants]
    if not parsed:
        raise ConfigError("give at least one variant")
    configs = [base.replace(**v.overrides) for v in parsed]  # validates every variant before running any
    content_image = content if isinstance(content, np.ndarray) else samples.load(content)
    styles = style if isinstance(style, (list, tuple)) else [style]
    style_images = [s if isinstance(s, np.ndarray) else samples.load(s) for s in styles]
    network_fields = ("network", "weights", "pooling")
    shared = backend or get_backend(base.network, weights=base.weights, pooling=base.pooling, seed=base.seed, log=log)
    networks = []
    for variant, config in zip(parsed, configs):
        own = shared
        if any(getattr(config, f) != getattr(base, f) for f in network_fields):
            if backend is not None:
                raise ConfigError(f"variant {variant.label!r} changes the network, but a backend was given")
            own = get_backend(config.network, weights=config.weights, pooling=config.pooling, seed=config.seed, log=log)
        own.check_layers(config.content_layers + config.style_layers)  # fail before any variant runs
        networks.append(own)
    results = []
    for index, (variant, config, own) in enumerate(zip(parsed, configs, networks)):
        (log or _stderr)(f"variant {variant.label}")
        step = None if on_step is None else functools.partial(on_step, index)
        results.append(stylize(content_image, style_images, config, backend=own, progress=progress,
                               log=lambda m: None, on_step=step))
    return Comparison(parsed, results, base, shared.describe(with_path=False))


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _as_variant(value: Mapping[str, Any] | str | Variant) -> Variant:
    if isinstance(value, Variant):
        return value
    overrides = parse_variant(value) if isinstance(value, str) else dict(value)
    return Variant(label=_format_overrides(overrides), overrides=overrides)


def ratio_sweep(
    ratios: Sequence[float] = DEFAULT_RATIOS,
    style_sets: Sequence[Sequence[str]] | None = None,
    style_weight: float = 100.0,
) -> tuple[list[Variant], tuple[int, int], list[str], list[str]]:
    """The variants of Gatys et al. Fig. 3: style-layer sets (rows) x content/style ratios (columns).

    Returns:
        `(variants, (rows, columns), row_labels, column_labels)`; pass them to
        [`compare`][explainer.compare.compare] and set the layout on the
        result, or use [`compare_ratio_sweep`][explainer.compare.compare_ratio_sweep].
    """
    from explainer.reconstruct import PAPER_LAYERS, growing_subsets

    sets = [tuple(s) for s in (style_sets or growing_subsets(PAPER_LAYERS))]
    variants = []
    for layers in sets:
        for ratio in ratios:
            variants.append(Variant(
                label=f"{'+'.join(layers)}, content/style {ratio:g}",
                overrides={"style_layers": layers, "content_weight": round(ratio * style_weight, 12),
                           "style_weight": style_weight},
            ))
    row_labels = [f"style {layers[0]}" + (f"..{layers[-1]}" if len(layers) > 1 else "") for layers in sets]
    column_labels = [f"content/style = {r:g}" for r in ratios]
    return variants, (len(sets), len(ratios)), row_labels, column_labels


def compare_ratio_sweep(
    content, style, base: StyleConfig | None = None, *, ratios: Sequence[float] = DEFAULT_RATIOS,
    style_sets: Sequence[Sequence[str]] | None = None, backend: Backend | None = None, progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Run the Fig. 3 sweep and return a [`Comparison`][explainer.compare.Comparison] laid out as a grid."""
    base = base or StyleConfig()
    variants, layout, rows, columns = ratio_sweep(ratios, style_sets, base.style_weight)
    comparison = compare(content, style, variants, base, backend=backend, progress=progress, log=log)
    comparison.layout, comparison.row_labels, comparison.column_labels = layout, rows, columns
    return comparison
