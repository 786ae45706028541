"""Figures of what a layer sees: its activation maps, its channels' statistics and its Gram matrices.

Part of [`explainer.figures`][explainer.figures], which re-exports every function here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from explainer.figures_base import (
    DIVERGING,
    SEQUENTIAL,
    _check_iteration,
    _check_layer,
    _effective_weights,
    _grid,
    _of,
    _provenance,
    _suptitle,
)
from explainer.record import Trace

__all__ = ["channel_stats", "feature_maps", "gram_comparison", "gram_heatmap"]


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
