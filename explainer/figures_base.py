"""What every figure of a run shares: its provenance line and title, argument checks, the loss terms and
their weights, colour maps, and writing a figure out.

The figures themselves are in [`explainer.figures_loss`][explainer.figures_loss] (the loss and how it moves
the image) and [`explainer.figures_activations`][explainer.figures_activations] (what a layer sees); import
them all from [`explainer.figures`][explainer.figures].
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from explainer.config import ConfigError, StyleConfig
from explainer.record import Trace

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
