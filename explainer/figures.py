"""Figures of a recorded run, for the lessons and the web UI.

Every function here takes a [`Trace`][explainer.record.Trace] (or a run's
history) and returns a `matplotlib.figure.Figure`. Nothing touches pyplot's
global state, so figures can be made from several threads (a web server) and
never pop up a window; write them with [`save`][explainer.figures.save] or
`fig.savefig`.

Each figure names what it shows: the layers, the step, the loss weights, and
in its title the network and weights that produced the run, read from the
trace's manifest (a run with random weights looks nothing like one with
trained weights, and a figure should never hide which it was).

```python
from explainer import StyleConfig, stylize
from explainer.record import RecordSpec
from explainer import figures

result = stylize("photo.jpg", "painting.png", StyleConfig(size=256), record=RecordSpec(every=50))
figures.save(figures.gram_comparison(result.trace, 1, "relu3_1"), "gram.png")
figures.save(figures.loss_curves(result.record), "losses.png")
```
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from explainer.config import ConfigError, StyleConfig
from explainer.record import Trace

__all__ = [
    "channel_stats",
    "contribution_bars",
    "feature_maps",
    "gradient_maps",
    "gram_comparison",
    "gram_heatmap",
    "loss_curves",
    "progression",
    "save",
    "term_names",
    "to_html",
]

#: Colormaps: activations and Gram matrices, gradient maps, signed differences.
SEQUENTIAL = "viridis"
HEAT = "inferno"
DIVERGING = "RdBu_r"
KINDS = ("style", "content", "all")


# ---------------------------------------------------------------------- helpers


def _provenance(trace_or_manifest: Trace | Mapping[str, Any]) -> str:
    """One short line naming the network and the weights of a run.

    Args:
        trace_or_manifest: a trace, its manifest, or a run record (the
            `Result.record` dict), which have the same `network` and `weights`
            entries.

    Returns:
        e.g. `"vgg16 (max pooling) · hed weights"` or `"vgg19 (max pooling) ·
        random weights (seed 0)"`, from the config where the manifest lacks
        them. The weights' long description stays in the JSON files.
    """
    manifest = trace_or_manifest.manifest if isinstance(trace_or_manifest, Trace) else trace_or_manifest
    # "backend": the key before record version 2 (see explainer.provenance).
    network = manifest.get("network") or manifest.get("backend") or {}
    weights = manifest.get("weights") or {}
    config = manifest.get("config") or {}
    name = network.get("name") or config.get("network") or config.get("backend", "unknown network")
    pooling = network.get("pooling") or config.get("pooling")
    weights_name = weights.get("name") or config.get("weights", "unknown")
    seed = f" (seed {weights['seed']})" if weights.get("seed") is not None else ""
    return f"{name}" + (f" ({pooling} pooling)" if pooling else "") + f" · {weights_name} weights{seed}"


#: The one-line provenance of any figure, for figures made elsewhere (e.g. `Comparison.figure`).
provenance_line = _provenance


def _suptitle(fig: Figure, title: str, provenance: str | None) -> None:
    fig.suptitle(title if not provenance else f"{title}\n{provenance}", fontsize=11)


def _of(trace: Trace, iteration: int) -> str:
    """`"at step 3"` for a run; `"of photo.jpg"` for an inspection, which optimises nothing."""
    if trace.manifest.get("kind") != "inspect":
        return f"at step {iteration}"
    source = str(trace.manifest.get("image") or "")
    return "of the inspected image" if not source or source.startswith("array(") else f"of {os.path.basename(source)}"


def _check_iteration(trace: Trace, iteration: int) -> int:
    if iteration not in trace.iterations:
        raise KeyError(f"iteration {iteration!r} was not recorded; recorded iterations: {trace.iterations}")
    return iteration


def _check_layer(trace: Trace, layer: str, allowed: Sequence[str] | None = None, what: str = "recorded") -> str:
    allowed = list(trace.layers if allowed is None else allowed)
    if layer not in allowed:
        raise KeyError(f"layer {layer!r} is not {what}; {what} layers: {allowed}")
    return layer


def _grid(n: int, max_cols: int = 6) -> tuple[int, int]:
    cols = min(n, max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def _show(ax, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.clip(np.asarray(image, np.float32), 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def term_names(terms: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Flatten a step's loss terms into `[(name, value)]`.

    Args:
        terms: `{"content": {L: v}, "style": {L: v}, "tv": v, ...}`, as in
            `Trace.losses(it)["terms"]` or a history entry (other keys of a
            history entry, `iteration`, `scale`, `loss`, are skipped).

    Returns:
        `[("content/L", v), ..., ("style/L", v), ..., ("tv", v), (term, v)]`:
        per-layer terms as `family/layer`, terms on the image by their name,
        in the order of `terms`.
    """
    out = []
    for family, value in terms.items():
        if family in _NOT_TERMS:
            continue
        if isinstance(value, Mapping):
            out += [(f"{family}/{name}", float(v)) for name, v in value.items()]
        else:
            out.append((family, float(value)))
    return out


#: Keys of a history entry that are not loss terms.
_NOT_TERMS = ("iteration", "scale", "loss")


def _term_value(entry: Mapping[str, Any], key: str) -> float:
    """The value of term `key` (`"style/relu1_1"`, `"tv"`) in a history entry; NaN where absent."""
    family, _, name = key.partition("/")
    value = entry.get(family, np.nan)
    return value.get(name, np.nan) if isinstance(value, Mapping) and name else value


def _effective_weights(config: StyleConfig | Mapping[str, Any] | None) -> dict[str, float]:
    """`{"content/L": w, "style/L": w, "tv": w}` (global x per-layer), or `{}` when unknown."""
    if config is None:
        return {}
    if not isinstance(config, StyleConfig):
        try:
            config = StyleConfig.from_dict(dict(config))
        except (ConfigError, TypeError, ValueError):
            return {}
    content, style = config.layer_weights()
    weights = {f"content/{n}": w for n, w in content}
    weights.update({f"style/{n}": w for n, w in style})
    weights["tv"] = float(config.tv_weight)
    return weights


# ---------------------------------------------------------------------- figures


def feature_maps(trace: Trace, iteration: int, layer: str, max_channels: int = 16) -> Figure:
    """The activation maps of a layer's most energetic channels at one step.

    The trace keeps the `top_k` channels with the most energy (mean square
    activation); this shows up to `max_channels` of them, most energetic first,
    on one shared colour scale so their strengths can be compared.

    Args:
        trace: a recorded run.
        iteration: a recorded step (see `trace.iterations`).
        layer: a recorded layer (see `trace.layers`).
        max_channels: show at most this many channels.

    Returns:
        A figure with one panel per channel, titled `"ch {index}"` and its
        energy, a colorbar, and the suptitle `"{layer} activations at step {iteration}"`
        (`"of IMAGE"` for an inspection).

    Raises:
        KeyError: for an unrecorded iteration or layer.
        ValueError: if `max_channels < 1`.
    """
    _check_iteration(trace, iteration)
    _check_layer(trace, layer)
    if max_channels < 1:
        raise ValueError(f"max_channels must be >= 1, not {max_channels!r}")
    acts, channels = trace.activations(iteration, layer)
    energy = trace.channel_stats(iteration, layer)["energy"]
    n = min(max_channels, len(channels))
    rows, cols = _grid(n)
    fig = Figure(figsize=(2.1 * cols + 1.0, 2.0 * rows + 0.9), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = float(np.max(acts[..., :n])) if n else 1.0
    norm = Normalize(vmin=0.0, vmax=vmax if vmax > 0 else 1.0)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.remove()  # unused grid cell
            continue
        ch = int(channels[i])
        im = ax.imshow(acts[..., i], cmap=SEQUENTIAL, norm=norm, interpolation="nearest")
        ax.set_title(f"ch {ch}\nenergy {energy[ch]:.3g}", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat[:n]), shrink=0.8, label="activation")
    h, w = acts.shape[:2]
    total = len(energy)
    _suptitle(
        fig,
        f"{layer} activations {_of(trace, iteration)} ({n} most energetic of {total} channels, {h}x{w})",
        _provenance(trace),
    )
    return fig


def gram_comparison(trace: Trace, iteration: int, layer: str) -> Figure:
    """Gram matrices of one style layer: content image, style target, result, and the gap.

    The style loss of a layer is the mean squared difference between the
    result's Gram matrix and the style target's; the last panel shows that
    difference (result - target) on a diverging scale centred at 0, so red is
    "too much of this channel pair", blue "too little".

    Args:
        trace: a recorded run.
        iteration: a recorded step.
        layer: a style layer that was recorded.

    Returns:
        A figure with four panels: content, style target and result on one
        shared colour scale, and result - target; the title carries the layer's
        weighted style loss at that step.

    Raises:
        KeyError: for an unrecorded iteration or layer.
        ValueError: if the layer has no style target (not a style layer).
    """
    _check_iteration(trace, iteration)
    _check_layer(trace, layer)
    style_terms = trace.losses(iteration)["terms"].get("style", {})
    if layer not in style_terms:
        raise ValueError(f"layer {layer!r} has no style target; style layers: {list(style_terms)}")
    scale = trace.snapshot(iteration)["scale"]
    content = np.asarray(trace.content_gram(layer, scale))
    target = np.asarray(trace.target_gram(layer, scale))
    result = np.asarray(trace.gram(iteration, layer))
    diff = result - target

    fig = Figure(figsize=(15.5, 4.4), layout="constrained")
    axes = fig.subplots(1, 4)
    # One scale for the three: clipped at the 99.5th percentile so a few very
    # large entries (often the diagonal) do not wash everything else out.
    values = np.concatenate([content.ravel(), target.ravel(), result.ravel()])
    lo, hi = float(values.min()), float(np.percentile(values, 99.5))
    shared = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
    clipped = bool(values.max() > hi)
    for ax, gram, title in zip(
        axes[:3], (content, target, result), ("content image", "style target", f"result at step {iteration}")
    ):
        im = ax.imshow(gram, cmap=SEQUENTIAL, norm=shared, interpolation="nearest")
        ax.set_title(f"{title}\n{layer} Gram", fontsize=9)
    fig.colorbar(im, ax=axes[:3], shrink=0.85, extend="max" if clipped else "neither",
                 label="G[i, j] (shared scale" + (", top 0.5% clipped)" if clipped else ")"))
    span = float(np.max(np.abs(diff))) or 1.0
    imd = axes[3].imshow(diff, cmap=DIVERGING, vmin=-span, vmax=span, interpolation="nearest")
    axes[3].set_title(f"result - style target\n{layer}, mean square {np.mean(diff ** 2):.3g}", fontsize=9)
    fig.colorbar(imd, ax=axes[3], shrink=0.85, label="difference (0 = match)")
    for ax in axes:
        ax.set_xlabel("channel j")
        ax.set_ylabel("channel i")
    weight = _effective_weights(trace.manifest.get("config")).get(f"style/{layer}")
    weight_text = f" (weight {weight:g})" if weight is not None else ""
    _suptitle(
        fig,
        f"{layer} Gram matrices ({content.shape[0]} channels) at step {iteration}: "
        f"weighted style loss {style_terms[layer]:.4g}{weight_text}",
        _provenance(trace),
    )
    return fig


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


def channel_stats(trace: Trace, iteration: int, layer: str) -> Figure:
    """Statistics of every channel of a layer at one step, most energetic first.

    A channel is *dead* on an image when it never fires: its largest
    activation is 0 or less (after the ReLU, 0 everywhere), so it adds
    nothing to the Gram matrix or the loss. Dead channels are shaded grey.

    Args:
        trace: a recorded run or an inspection.
        iteration: a recorded step.
        layer: a recorded layer.

    Returns:
        A figure with two panels: channel energy (mean square activation)
        sorted, the channels kept in the trace highlighted and the dead ones
        shaded; and mean against std of every channel.

    Raises:
        KeyError: for an unrecorded iteration or layer.
    """
    _check_iteration(trace, iteration)
    _check_layer(trace, layer)
    stats = trace.channel_stats(iteration, layer)
    _, kept = trace.activations(iteration, layer)
    energy = stats["energy"]
    order = np.argsort(-energy, kind="stable")
    dead = stats["max"] <= 0
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_e, ax_m = fig.subplots(1, 2)
    ax_e.bar(np.arange(len(order)), energy[order], width=1.0,
             color=np.where(np.isin(order, kept), "tab:orange", "tab:blue"))
    if dead.any():  # zero energy: they sort last
        ax_e.axvspan(len(order) - dead.sum() - 0.5, len(order) - 0.5, color="0.85", zorder=0,
                     label=f"{dead.sum()} dead: never fire on this image (max activation <= 0)")
        ax_e.legend(fontsize=8, loc="upper right")
    ax_e.set_xlabel("channels, by energy (orange: kept in the trace)")
    ax_e.set_ylabel("energy (mean square activation)")
    ax_e.set_title(f"{layer}: energy of its {len(energy)} channels, {dead.sum()} dead", fontsize=9)
    kept_mask = np.isin(np.arange(len(energy)), kept)
    for mask, size, color, label in ((~kept_mask & ~dead, 8, "tab:blue", "other channels"),
                                     (kept_mask, 14, "tab:orange", "kept in the trace"),
                                     (dead & ~kept_mask, 8, "0.6", "dead (all at 0, 0)")):
        if mask.any():
            ax_m.scatter(stats["mean"][mask], stats["std"][mask], s=size, color=color, label=label)
    ax_m.legend(fontsize=8)
    ax_m.set_xlabel("mean activation")
    ax_m.set_ylabel("std of activation")
    ax_m.set_title(f"{layer}: mean vs std per channel", fontsize=9)
    _suptitle(fig, f"{layer} channel statistics {_of(trace, iteration)}", _provenance(trace))
    return fig


def gram_heatmap(trace: Trace, iteration: int, layer: str) -> Figure:
    """The Gram matrix of one image at one layer, as a heatmap.

    Args:
        trace: a recorded run or an [`inspect_image`][explainer.inspection.inspect_image] trace.
        iteration: a recorded step (0 for an inspection).
        layer: a recorded layer.

    Returns:
        A figure with the `C x C` Gram matrix (colour scale capped at the
        99.5th percentile so a few large entries do not hide the rest).
    """
    _check_iteration(trace, iteration)
    _check_layer(trace, layer)
    gram = trace.gram(iteration, layer)
    fig = Figure(figsize=(5.6, 4.8), layout="constrained")
    ax = fig.subplots()
    vmax = float(np.percentile(gram, 99.5)) or float(gram.max()) or 1.0
    shown = ax.imshow(gram, cmap="viridis", vmin=min(0.0, float(gram.min())), vmax=vmax, interpolation="nearest")
    fig.colorbar(shown, ax=ax, extend="max", label="G[i, j] (capped at the 99.5th percentile)")
    ax.set_xlabel("channel j")
    ax.set_ylabel("channel i")
    ax.set_title(f"{layer}: {gram.shape[0]} x {gram.shape[0]} Gram matrix", fontsize=9)
    _suptitle(fig, f"{layer} Gram matrix {_of(trace, iteration)}", _provenance(trace))
    return fig


# ---------------------------------------------------------------------- files


def to_html(fig: Figure, alt: str = "", dpi: int = 100) -> str:
    """The figure as an `<img>` tag with an embedded PNG (for the lessons site and notebooks)."""
    import base64
    import html
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width: 100%">'


def save(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> pathlib.Path:
    """Write a figure to a file.

    Args:
        fig: a figure from this module (or any matplotlib figure).
        path: where to write; the extension picks the format (`.png`, `.svg`,
            `.pdf`, ...), and `.png` is added when there is none. Parent
            folders are created.
        dpi: resolution of raster formats.

    Returns:
        The path written. The figure stays usable (nothing is closed).
    """
    path = pathlib.Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
