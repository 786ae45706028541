"""Comparing layer choices: run several variants of one config side by side.

```python
from explainer import StyleConfig
from explainer.compare import compare

variants = [{"style_layers": ("relu1_1", "relu2_1")}, {"style_layers": ("relu3_1", "relu4_1", "relu5_1")}]
comparison = compare("photo.jpg", "painting.jpg", variants, StyleConfig(size=256, iterations=200))
comparison.save("shallow-vs-deep.png")   # the grid, plus .csv and .json tables
print(comparison.table_text())           # the same table, aligned for a terminal
```

[`ratio_sweep`][explainer.compare.ratio_sweep] builds the variants of Gatys
et al. 2015, Fig. 3: rows of growing style-layer sets, columns of
content/style weight ratios; [`compare_ratio_sweep`][explainer.compare.compare_ratio_sweep]
runs them from [`RATIO_SWEEP_DEFAULTS`][explainer.compare.RATIO_SWEEP_DEFAULTS].

Importing this module does not start JAX (the command line reads its
presets for `--help`); running a comparison does.
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
from typing import TYPE_CHECKING, Any

import numpy as np

from explainer import samples
from explainer.config import ConfigError, StyleConfig
from explainer.files import jsonable
from explainer.methods import loss_network
from explainer.settings import parse_assignments

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from backends import Backend
    from explainer.events import Event
    from explainer.runner import Result

DEFAULT_RATIOS: tuple[float, ...] = (5.0, 50.0, 500.0, 5000.0)
"""The columns of the ratio sweep (Gatys et al. 2015, Fig. 3), left to right.

Each is `content_weight / style_weight` in this project's loss normalisation.
With the `paper` preset's layer balance, the paper's `alpha/beta` is
`2 * ratio / (M_c * N_c)` for a content layer of `M_c` positions and `N_c`
channels ([`paper_alpha_beta`][explainer.compare.paper_alpha_beta]); the
figure's column titles give both numbers. For the bundled photo at the
sweep's 128 px (`relu4_2`: 16 x 13 positions, 512 channels) these four are
`alpha/beta` = 1e-4, 1e-3, 1e-2 and 1e-1, rounded (9.4e-5 ... 9.4e-2): ten
times the paper's Fig. 3 columns (1e-5 ... 1e-2). Chosen by running the
sweep, first with HED's VGG16 and again with ImageNet VGG19, whose unscaled
activations make the style terms pull harder against the content than in
the paper's rescaled VGG19 (mean activation 1 per filter): at the paper's
own ratios the rows with deep style layers stay texture up to 1e-3; at
these the photo appears from left to right.
"""

RATIO_SWEEP_DEFAULTS = StyleConfig(preset="paper", size=128, iterations=80, tv_weight=0.1, print_every=0)
"""The ratio sweep's own defaults: `compare --ratio-sweep` starts from these (its flags still override them).

The `paper` preset, as Gatys et al. made the figure: start from noise, so
that what a panel shows of the photo is what the content term put there
(from the photo, the first steps follow the style alone, the same in every
column, and in short runs the columns differ little); average pooling;
L-BFGS, which goes much further than Adam from noise in the same time. One
change: the default TV weight, 0.1, where the paper had none: chosen on HED's
VGG16, where at 128 px and 80 steps it cleared much of the noise start's
speckle; on ImageNet VGG19 it is too small to act (lesson 5). Each row weights its `n` style layers
as the paper's `w_l = 1/n` in the
paper's normalisation (`style_layer_balance="paper"`: `N_l^2 / (4 n)` here),
so that adding layers does not add weight.

80 steps at 128 px are enough for every panel to take its place in the
progression (more steps sharpen the texture, lower the loss slowly and let a
little more of the photo into the left columns); the 20 runs take about 3.5
minutes on a 2-core CPU with the HED VGG16 weights (VGG19, the default
now, has three more convolutions).
"""


def paper_alpha_beta(ratio: float, content_shape: Sequence[int], layer: str = "relu4_2") -> float:
    """Gatys et al.'s `alpha/beta` for this project's `content_weight / style_weight`, with the paper's layer balance.

    Their content loss is `1/2 sum (F - P)^2`, ours the mean, `2 / (M_c N_c)`
    times theirs; with `style_layer_balance="paper"` our style term is exactly
    their `sum_l w_l E_l`. So `alpha/beta = 2 * ratio / (M_c N_c)`: `M_c`
    positions of the content layer for a content image of `content_shape`
    (each pooling halves a side, rounding down), `N_c` its channels.
    """
    from backends import downsampling
    from explainer.config import layer_channels

    halvings = downsampling(layer)
    positions = (int(content_shape[0]) >> halvings) * (int(content_shape[1]) >> halvings)
    return 2.0 * ratio / (positions * layer_channels(layer))


def quick(config: StyleConfig) -> StyleConfig:
    """`config` at three quarters of its size (at least 32 px) and half its steps: `compare --quick`.

    Not smaller: from noise, L-BFGS leaves pixel-sized speckle that 50 steps
    at 64 px do not clear, and it hides the trend of the ratio sweep.
    """
    return config.replace(size=max(32, config.size * 3 // 4), iterations=max(1, config.iterations // 2))


RATIO_SWEEP_QUICK = quick(RATIO_SWEEP_DEFAULTS)
"""`compare --ratio-sweep --quick`: 3/4 of the size and half the steps of [`RATIO_SWEEP_DEFAULTS`][explainer.compare.RATIO_SWEEP_DEFAULTS].

96 px and 40 steps, about 1.5 minutes for the 20 runs: the panels are
grainier, the trend from left to right is the same. Lesson 7 makes its Fig. 3
with these.
"""


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
        from matplotlib.figure import Figure

        from explainer.figures import provenance_line  # imports JAX: only when a figure is made

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
        preset = f"preset {b.preset}: " if b.preset != "none" else ""
        fig.suptitle(
            f"{preset}{b.iterations} {b.optimizer} steps at {b.size} px, init {b.init}, {b.pooling} pooling, "
            f"TV {b.tv_weight:g}\n"
            + (provenance_line(self.results[0].record) if self.results else self.description),
            fontsize=9,
        )
        return fig

    def table_text(self) -> str:
        """The table for a terminal: one line per variant, columns as wide as their widest entry.

        Columns: the variant, its final loss and the loss's terms (weighted,
        as the optimiser saw them), and the run's time. Every line has its
        `|` separators at the same character offsets.
        """
        header = ("variant", "loss", "content", "style", "tv", "time")
        lines = [header]
        for row in self.rows:
            numbers = (f"{row[key]:.4g}" for key in ("loss", "content", "style", "tv"))
            lines.append((row["label"], *numbers, f"{row['time_s']:.1f} s"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        # the label column is left-aligned, the numbers right-aligned so their digits line up
        cell = lambda i, text: text.ljust(widths[i]) if i == 0 else text.rjust(widths[i])
        text = [" | ".join(cell(i, value) for i, value in enumerate(line)).rstrip() for line in lines]
        text.insert(1, "-+-".join("-" * width for width in widths))
        return "\n".join(text) + "\n"

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
        path.with_suffix(".json").write_text(json.dumps(jsonable({
            "format": "style-explainer.compare", "version": 1, "base": self.base.to_dict(),
            "network": self.description, "variants": [dataclasses.asdict(v) for v in self.variants],
            "rows": self.rows,
        }), indent=1))
        return path


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
        backend: one network for every variant; its pooling must be
            `base.pooling`, and variants may not change `network`, `weights`
            or `pooling` unless no backend is given.
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
    from explainer import registry

    for config in configs:  # every variant's budget, before any network is loaded (each run checks again)
        registry.get(config.method).check(config, content_image.shape, [s.shape for s in style_images],
                                          "the content image")
    pooling = getattr(backend, "pooling", base.pooling)
    if pooling != base.pooling:  # the runs would say one pooling and use the other
        raise ConfigError(f"the backend given pools with {pooling!r} but the settings say pooling={base.pooling!r}: "
                          f"make it with get_backend(..., pooling={base.pooling!r})")
    network_fields = ("network", "weights", "pooling")
    shared = backend or loss_network(base, log)
    networks = []
    for variant, config in zip(parsed, configs):
        own = shared
        if any(getattr(config, f) != getattr(base, f) for f in network_fields):
            if backend is not None:
                raise ConfigError(f"variant {variant.label!r} changes the network, but a backend was given")
            own = loss_network(config, log)
        own.check_layers(config.content_layers + config.style_layers)  # fail before any variant runs
        networks.append(own)
    from explainer.runner import stylize

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
    *,
    paper_layer_weights: bool = True,
    balance: str = "equal",
) -> tuple[list[Variant], tuple[int, int], list[str], list[str]]:
    """The variants of Gatys et al. Fig. 3: style-layer sets (rows) x content/style ratios (columns).

    Args:
        ratios: `content_weight / style_weight`, one column each (left to right).
        style_sets: one row each (default: `relu1_1`, then `relu1_1, relu2_1`,
            ... up to `relu5_1`, the paper's rows).
        style_weight: kept in every variant; `content_weight` is `ratio * style_weight`.
        paper_layer_weights: weight each of a row's `n` style layers `1/n`, as
            the paper's Fig. 3 did (`w_l = 1/n` for the active layers), so that
            a row with more layers does not get more style weight in all;
            `False`: every layer weight 1 (this project's default).
        balance: the base's `style_layer_balance`. With `"paper"` the rows
            leave their weights to it (`N_l^2 / (4 n)`: the paper's `1/n` in
            its normalisation) instead of setting `1/n`.

    Returns:
        `(variants, (rows, columns), row_labels, column_labels)`; pass them to
        [`compare`][explainer.compare.compare] and set the layout on the
        result, or use [`compare_ratio_sweep`][explainer.compare.compare_ratio_sweep].
    """
    from explainer.reconstruct import PAPER_LAYERS, growing_subsets

    sets = [tuple(s) for s in (style_sets or growing_subsets(PAPER_LAYERS))]
    variants = []
    for layers in sets:
        span = layers[0] + (f"..{layers[-1]}" if len(layers) > 1 else "")
        for ratio in ratios:
            overrides: dict[str, Any] = {"style_layers": layers}
            if balance == "paper":
                overrides["style_layer_weights"] = None  # the balance's N_l^2 / (4 n)
            elif paper_layer_weights:
                overrides["style_layer_weights"] = (1 / len(layers),) * len(layers)
            overrides.update(content_weight=round(ratio * style_weight, 12), style_weight=style_weight)
            variants.append(Variant(label=f"style {span}, content/style {ratio:g}", overrides=overrides))
    row_labels = []
    for layers in sets:
        label = f"style {layers[0]}" + (f"..{layers[-1]}" if len(layers) > 1 else "")
        shown = paper_layer_weights or balance == "paper"
        row_labels.append(f"{label}\nw_l = 1/{len(layers)}" if shown and len(layers) > 1 else label)
    column_labels = [f"content/style = {r:g}" for r in ratios]
    return variants, (len(sets), len(ratios)), row_labels, column_labels


def compare_ratio_sweep(
    content, style, base: StyleConfig | None = None, *, ratios: Sequence[float] = DEFAULT_RATIOS,
    style_sets: Sequence[Sequence[str]] | None = None, paper_layer_weights: bool = True,
    backend: Backend | None = None, progress: bool = True, log: Callable[[str], None] | None = None,
) -> Comparison:
    """Run the Fig. 3 sweep and return a [`Comparison`][explainer.compare.Comparison] laid out as a grid.

    `base` defaults to [`RATIO_SWEEP_DEFAULTS`][explainer.compare.RATIO_SWEEP_DEFAULTS]
    (from noise, average pooling, L-BFGS, 128 px); its `style_weight` is kept
    and its style layers and their weights are replaced per row. The rows are
    `style_sets`, by default the growing sets of `base.style_layers`
    (`relu1_1`, then `relu1_1, relu2_1`, ...; the paper's five rows for the
    default layers). See [`ratio_sweep`][explainer.compare.ratio_sweep] for
    the other arguments.
    """
    from explainer.reconstruct import growing_subsets

    base = base or RATIO_SWEEP_DEFAULTS
    style_sets = style_sets or growing_subsets(base.style_layers)
    variants, layout, rows, columns = ratio_sweep(ratios, style_sets, base.style_weight,
                                                  paper_layer_weights=paper_layer_weights,
                                                  balance=base.style_layer_balance)
    comparison = compare(content, style, variants, base, backend=backend, progress=progress, log=log)
    if base.style_layer_balance == "paper" and len(base.content_layers) == 1 and comparison.results:
        shape = comparison.results[0].image.shape
        columns = [f"{label}\n(paper: alpha/beta = {paper_alpha_beta(r, shape, base.content_layers[0]):.2g})"
                   for label, r in zip(columns, ratios)]
    comparison.layout, comparison.row_labels, comparison.column_labels = layout, rows, columns
    return comparison
