"""Figures of a run's loss: its terms over the steps, their shares, where each pushes the pixels, and the image
as it forms.

Part of [`explainer.figures`][explainer.figures], which re-exports every function here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from explainer.config import StyleConfig
from explainer.figures_base import (
    HEAT,
    KINDS,
    _check_iteration,
    _effective_weights,
    _grid,
    _provenance,
    _show,
    _suptitle,
    _term_value,
    term_names,
)
from explainer.record import Trace

__all__ = ["contribution_bars", "gradient_maps", "loss_curves", "progression"]


def _history_entries(history: Any) -> tuple[list[Mapping[str, Any]], Mapping[str, Any] | None]:
    """`(entries, manifest-like dict or None)` from a history list, a run record or a trace."""
    if isinstance(history, Trace):
        entries = [{"iteration": s["iteration"], "scale": s["scale"], "loss": s["loss"], **s["terms"]}
                   for s in history.manifest["snapshots"] if "terms" in s]
        return entries, history.manifest
    if isinstance(history, Mapping):
        if "history" not in history:
            raise ValueError("loss_curves wants a history list, a run record (Result.record) or a Trace")
        return list(history["history"]), history
    return list(history), None


def loss_curves(
    history: Sequence[Mapping[str, Any]] | Mapping[str, Any] | Trace,
    kind: str = "style",
    log: bool = True,
    config: StyleConfig | Mapping[str, Any] | None = None,
) -> Figure:
    """Per-layer loss terms over the iterations of a run, and their total.

    On a log scale (the default) each term is a line: style terms often span
    several orders of magnitude. With `log=False` the terms are stacked areas,
    whose top edge is the total. Terms are already multiplied by their weights
    (they add up to the loss); the legend gives each layer's effective weight
    (global x per-layer) when a config is known.

    Args:
        history: `Result.record["history"]` (one dict per step), the whole
            `Result.record` (then its config and network are used too), or a
            `Trace` (only the recorded steps).
        kind: `"style"`, `"content"` or `"all"` (every term, `content/L`,
            `style/L` and `tv`, with the total loss).
        log: logarithmic loss axis, lines; else linear, stacked areas.
        config: a `StyleConfig` or its `to_dict()`, for the weights in the
            legend; taken from `history` when that is a run record or a trace.

    Returns:
        A figure with one axes; legend entries are the layer names (`kind`
        `"style"`/`"content"`) or term names (`"all"`), each followed by its
        weight, then the total.

    Raises:
        ValueError: for an unknown `kind` or an empty history.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, not {kind!r}")
    entries, manifest = _history_entries(history)
    if not entries:
        raise ValueError("the history is empty: nothing to plot")
    if config is None and manifest is not None:
        config = manifest.get("config")
    weights = _effective_weights(config)

    steps = np.array([e["iteration"] for e in entries])
    series: list[tuple[str, str, np.ndarray]] = []  # (legend name, term key, values)
    if kind in ("content", "style"):
        for name in entries[0].get(kind, {}):
            series.append((name, f"{kind}/{name}", np.array([e[kind].get(name, np.nan) for e in entries], float)))
        total = np.sum([s[2] for s in series], axis=0) if series else np.zeros(len(entries))
        total_label = f"total {kind}"
    else:
        for key, _ in term_names(entries[0]):
            series.append((key, key, np.array([_term_value(e, key) for e in entries], float)))
        total = np.array([e["loss"] for e in entries], float)
        total_label = "total loss"

    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.subplots()
    labels = [f"{name} (x{weights[key]:g})" if key in weights else name for name, key, _ in series]
    if log or not series:
        for (_, _, values), label in zip(series, labels):
            ax.plot(steps, values, label=label, linewidth=1.4)
    else:
        ax.stackplot(steps, *[np.nan_to_num(v) for _, _, v in series], labels=labels, alpha=0.8)
    ax.plot(steps, total, label=total_label, color="black", linewidth=2.2, linestyle="--")
    if log:
        ax.set_yscale("log")
    scales = [e.get("scale", 0) for e in entries]
    for i in range(1, len(scales)):
        if scales[i] != scales[i - 1]:
            ax.axvline(steps[i] - 0.5, color="0.5", linestyle=":", linewidth=1)
            ax.text(steps[i], 1.0, f" scale {scales[i]}", transform=ax.get_xaxis_transform(),
                    va="top", fontsize=8, color="0.4")
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("weighted loss" + (" (log scale)" if log else " (stacked)"))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="layer (weight)" if kind != "all" else "term (weight)", fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    what = {"style": "Style loss per layer", "content": "Content loss per layer", "all": "Every loss term"}[kind]
    _suptitle(fig, f"{what} over {len(entries)} steps (terms include their weights)",
              _provenance(manifest) if manifest is not None else _config_provenance(config))
    return fig


def _config_provenance(config: StyleConfig | Mapping[str, Any] | None) -> str | None:
    if config is None:
        return None
    data = config.to_dict() if isinstance(config, StyleConfig) else config
    return _provenance({"config": data})


def contribution_bars(trace: Trace, iteration: int) -> Figure:
    """Each loss term's share of the total loss at one step.

    Args:
        trace: a recorded run.
        iteration: a recorded step.

    Returns:
        A figure with one horizontal bar per term (`content/L`, `style/L`,
        `tv`, top to bottom); a bar's width is the term's share of the total
        in percent, labelled with the share and the weighted value.

    Raises:
        KeyError: for an unrecorded iteration.
    """
    _check_iteration(trace, iteration)
    losses = trace.losses(iteration)
    terms = term_names(losses["terms"])
    total = sum(v for _, v in terms)
    shares = [100.0 * v / total if total else 0.0 for _, v in terms]
    weights = _effective_weights(trace.manifest.get("config"))
    colors = {"content": "tab:blue", "style": "tab:orange", "tv": "tab:green"}

    fig = Figure(figsize=(8.5, 1.2 + 0.45 * len(terms)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(terms))
    bars = ax.barh(y, shares, color=[colors.get(name.split("/")[0], "tab:purple") for name, _ in terms])
    ax.set_yticks(y, [name for name, _ in terms])
    ax.invert_yaxis()
    labels = [f"{s:.1f}%  ({v:.3g}" + (f", weight {weights[n]:g})" if n in weights else ")")
              for s, (n, v) in zip(shares, terms)]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_xlim(0, max(max(shares, default=0) * 1.45, 1.0))
    ax.set_xlabel("share of the total loss (%)")
    ax.grid(True, axis="x", alpha=0.3)
    _suptitle(fig, f"Share of each term in the loss at step {iteration} (total {losses['loss']:.4g})",
              _provenance(trace))
    return fig


def gradient_maps(trace: Trace, iteration: int, shared: bool = False) -> Figure:
    """Where each loss term pushes the pixels: the gradient norm over the image.

    Each map is the Euclidean norm over RGB of one term's gradient with respect
    to the image. Terms differ by orders of magnitude, so by default each panel
    has its own colour scale (`shared=False`, said in the title and by each
    panel's colorbar); `shared=True` puts all maps on one scale.

    Args:
        trace: a recorded run (recorded with `RecordSpec(gradients=True)`).
        iteration: a recorded step that carries gradient maps (one of
            `trace.gradient_iterations`: by default every other snapshot).
        shared: one colour scale for every map instead of one per panel.

    Returns:
        A figure whose first panel is the image at that step, then one panel
        per term (`content/L`, `style/L`, `tv`) titled with the term and its
        largest gradient norm.

    Raises:
        KeyError: for an unrecorded iteration.
        ValueError: if no gradient maps were taken at that step.
    """
    _check_iteration(trace, iteration)
    maps = trace.gradient_maps(iteration)
    if not maps:
        if trace.gradient_iterations:
            raise ValueError(f"no gradient maps at step {iteration}; they were taken at steps "
                             f"{', '.join(map(str, trace.gradient_iterations))} (RecordSpec.gradients_every)")
        raise ValueError("this trace has no gradient maps (record with RecordSpec(gradients=True))")
    order = [name for name, _ in term_names(trace.losses(iteration)["terms"]) if name in maps]
    order += sorted(set(maps) - set(order))
    n = len(order) + 1
    rows, cols = _grid(n, max_cols=4)
    fig = Figure(figsize=(3.3 * cols, 3.0 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    _show(axes[0], trace.image(iteration), f"image at step {iteration}")
    norm = None
    if shared:
        vmax = max(float(np.max(maps[k])) for k in order) or 1.0
        norm = Normalize(vmin=0.0, vmax=vmax)
    im = None
    for ax, name in zip(axes[1:], order):
        grad = np.asarray(maps[name])
        ax.set_xticks([])
        ax.set_yticks([])
        if not np.any(grad):  # e.g. the content term at a content start: a flat colour would look broken
            ax.imshow(np.ones_like(grad), cmap="gray", vmin=0.0, vmax=1.0)
            ax.text(0.5, 0.5, "no push here:\nthis term is zero\nat this step", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="0.35")
            ax.set_title(f"{name}\nmax |grad| 0", fontsize=9)
            continue
        im = ax.imshow(grad, cmap=HEAT, norm=norm, vmin=None if shared else 0.0, interpolation="nearest")
        ax.set_title(f"{name}\nmax |grad| {float(grad.max()):.3g}", fontsize=9)
        if not shared:
            fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes[n:]:
        ax.remove()  # unused grid cells
    if shared and im is not None:
        fig.colorbar(im, ax=list(axes[1:n]), shrink=0.8, label="|d loss / d pixel| (shared scale)")
    scaling = "one shared colour scale" if shared else "each panel on its own colour scale"
    _suptitle(fig, f"Gradient norm of each loss term at step {iteration} ({scaling})", _provenance(trace))
    return fig


def progression(trace: Trace, iterations: Sequence[int] | None = None) -> Figure:
    """The image at recorded steps, left to right.

    Args:
        trace: a recorded run.
        iterations: recorded steps to show, in this order (default: all).

    Returns:
        A figure with one panel per step, titled `"step N"` with its loss.

    Raises:
        KeyError: if a step was not recorded.
        ValueError: if `iterations` is empty.
    """
    iterations = list(trace.iterations if iterations is None else iterations)
    if not iterations:
        raise ValueError(f"no iterations to show; recorded iterations: {trace.iterations}")
    for it in iterations:
        _check_iteration(trace, it)
    n = len(iterations)
    rows, cols = _grid(n, max_cols=6) if n > 6 else (1, n)
    image0 = trace.image(iterations[-1])
    aspect = image0.shape[0] / image0.shape[1]
    fig = Figure(figsize=(2.4 * cols, 2.4 * aspect * rows + 1.0), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    multiscale = len({trace.snapshot(it)["scale"] for it in trace.iterations}) > 1
    for ax, it in zip(axes, iterations):
        snap = trace.snapshot(it)
        title = f"step {it}"
        if multiscale:
            title += f" (scale {snap['scale']})"
        if "loss" in snap:
            title += f"\nloss {snap['loss']:.3g}"
        _show(ax, trace.image(it), title)
    for ax in axes[n:]:
        ax.remove()  # unused grid cells
    _suptitle(fig, f"The image over {n} recorded steps", _provenance(trace))
    return fig
