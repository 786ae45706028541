"""Figures of a trained network: how it learnt, what it sees, and why instance normalisation matters.

* [`loss_history`][explainer.figures_train.loss_history]: every term of the
  loss over the training steps (from `model.json`);
* [`previews_over_time`][explainer.figures_train.previews_over_time]: the
  probe photos (never trained on) as the network painted them along the way;
* [`norm_statistics`][explainer.figures_train.norm_statistics]: per channel,
  the standard deviation each normalisation divided out, for a photo and a
  low-contrast copy of it (instance norm sees the difference and removes it;
  batch norm, at test time, divides both by the same running averages);
* [`batch_vs_instance`][explainer.figures_train.batch_vs_instance]: Ulyanov
  et al.'s point: two networks trained alike but for the normalisation, on
  photos of different contrast.

Each returns a Matplotlib figure; `explainer.figures.save` writes it.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from explainer import images as _images
from explainer.events import total_of_family
from explainer.models import MANIFEST_FILE


def _manifest(model_or_dir) -> dict:
    if isinstance(model_or_dir, dict):
        return model_or_dir
    return json.loads((pathlib.Path(model_or_dir) / MANIFEST_FILE).read_text())


def plot_history(ax, history: list[dict]) -> None:
    """The total and each loss term (content, style, TV; weighted) over the training steps, log scale, on `ax`."""
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], color="black", label="total")
    for family in ("content", "style", "tv"):
        values = [total_of_family(h[family]) for h in history if family in h]
        if values and max(values) > 0:
            ax.plot(steps, values, label=family)
    ax.set_yscale("log")
    ax.set_xlabel("training step")


def loss_history(model_or_dir) -> Figure:
    """Each loss term (content, style, TV; weighted) and the total over the steps, log scale."""
    manifest = _manifest(model_or_dir)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    plot_history(ax, manifest["history"])
    ax.set_ylabel("weighted loss (batch mean)")
    arch = manifest["architecture"]
    ax.set_title(f"{arch['arch']} network, {arch['norm']} norm: the loss while it learns", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def previews_over_time(model_dir, steps: Sequence[int] | None = None) -> Figure:
    """The probe photos, then the network's paintings of them at the given (default: every saved) steps."""
    folder = pathlib.Path(model_dir) / "previews"
    saved = sorted(int(p.stem.split("_")[1]) for p in folder.glob("step_*.png"))
    chosen = [s for s in saved if steps is None or s in steps]
    rows = [("photos (never trained on)", folder / "probes.png")] + [(f"step {s}", folder / f"step_{s:06d}.png")
                                                                    for s in chosen]
    fig = Figure(figsize=(6.4, 1.6 * len(rows)), layout="constrained")
    for i, (label, path) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, i + 1)
        ax.imshow(_images.load_image(path))
        ax.set_ylabel(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def norm_statistics(model, image: np.ndarray, low_contrast: float = 1 / 3, layer: str = "conv1") -> Figure:
    """Per channel of `layer`, the standard deviation the norm divides by, for `image` and a low-contrast copy."""
    dull = (0.5 + low_contrast * (image - 0.5)).astype(np.float32)
    stats = [np.sqrt(np.asarray(model.norm_statistics(x[None])[layer][1])[0]) for x in (image, dull)]
    order = np.argsort(-stats[0])
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(stats[0][order], marker=".", label="the photo")
    ax.plot(stats[1][order], marker=".", label=f"the photo at {low_contrast:.2g} of its contrast")
    ax.set_xlabel(f"channel of {layer} (sorted)")
    ax.set_ylabel("std divided out")
    ax.set_title(f"{model.spec.norm} norm at {layer}", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def batch_vs_instance(models: dict, photos: Sequence[np.ndarray], labels: Sequence[str]) -> Figure:
    """Rows: photos; columns: the photo, then each model's painting (`models`: `{title: TrainedStyliser}`)."""
    columns = ["photo", *models]
    fig = Figure(figsize=(2.0 * len(columns), 2.0 * len(photos)), layout="constrained")
    for r, (photo, label) in enumerate(zip(photos, labels)):
        painted = [photo] + [np.asarray(model.stylise(photo[None]))[0] for model in models.values()]
        for c, picture in enumerate(painted):
            ax = fig.add_subplot(len(photos), len(columns), r * len(columns) + c + 1)
            ax.imshow(np.clip(picture, 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    return fig
