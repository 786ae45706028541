"""What the network keeps: reconstructions from noise (Gatys et al. 2015, Fig. 1).

* **Style reconstructions** (the paper's top row): start from noise and
  minimise *only* the style loss on a growing set of layers (`relu1_1`;
  `relu1_1 + relu2_1`; ...). With more and deeper layers the texture's
  structures grow larger, while the layout of the painting is gone.
* **Content reconstructions** (its bottom row): start from noise and
  minimise *only* the content loss of one layer. Shallow layers give back
  the photo almost exactly; deep layers keep the objects and their
  arrangement but lose the exact pixels.

The defaults, [`RECONSTRUCT_DEFAULTS`][explainer.config.RECONSTRUCT_DEFAULTS],
are the `paper` preset (average pooling, L-BFGS from noise, the paper's
balance of the style layers: `w_l = 1/n` in its normalisation) at 128 px.

The paper calls the layers `conv1_1 ... conv5_1`; in its Caffe network those
names hold the *rectified* outputs, which are our `relu1_1 ... relu5_1`.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from backends import Backend
from explainer import images as _images
from explainer import samples
from explainer.config import RECONSTRUCT_DEFAULTS, ConfigError, StyleConfig
from explainer.methods import loss_network
from explainer.runner import stylize

PAPER_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclasses.dataclass
class Reconstructions:
    """Images reconstructed from single layers (content) and growing layer sets (style).

    Attributes:
        content: `[(layer, image)]`.
        style: `[(layers, image)]`.
        content_image, style_image: the originals at the working size.
        description: the network and weights used.
        config: the base settings.
    """

    content: list[tuple[str, np.ndarray]]
    style: list[tuple[tuple[str, ...], np.ndarray]]
    content_image: np.ndarray | None
    style_image: np.ndarray | None
    description: str
    config: StyleConfig

    def figure(self) -> Figure:
        """The paper's layout: originals on the left, style row on top, content row below."""
        columns = 1 + max(len(self.content), len(self.style))
        rows = [r for r in (("style", self.style_image, self.style), ("content", self.content_image, self.content)) if r[2]]
        fig = Figure(figsize=(2.1 * columns, 2.4 * len(rows) + 0.6), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(rows), columns, squeeze=False))
        for row, (kind, original, items) in zip(axes, rows):
            for ax in row:
                ax.set_axis_off()
            row[0].imshow(np.clip(original, 0, 1))
            row[0].set_title(f"{kind} image", fontsize=9)
            for ax, (layers, image) in zip(row[1:], items):
                ax.imshow(np.clip(image, 0, 1))
                label = layers if isinstance(layers, str) else " + ".join(layers) if len(layers) < 3 else f"{layers[0]} .. {layers[-1]}"
                ax.set_title(f"{kind} from {label}", fontsize=8)
        cfg = self.config
        balance = "style layers weighted as the paper (N_l^2/4n)" if cfg.style_layer_balance == "paper" else \
            "style layers weighted 1 each"
        setup = f"{cfg.iterations} {cfg.optimizer} steps from {cfg.init} at {cfg.size} px, {cfg.pooling} pooling"
        fig.suptitle(
            textwrap.fill(f"Reconstructions (Gatys et al. 2015, Fig. 1): {setup}"
                          + (f", {balance}" if self.style else ""), 30 * columns)
            + "\n" + textwrap.fill(self.description, 30 * columns),
            fontsize=10,
        )
        return fig


def reconstruct_content(
    content: np.ndarray, layer: str, config: StyleConfig, *, backend: Backend, log: Callable[[str], None] | None = None,
    bar: bool = False,
) -> np.ndarray:
    """An image whose activations at `layer` match `content`'s, found from noise (`bar`: a progress bar of its steps)."""
    cfg = config.replace(content_layers=(layer,), style_layers=(), content_layer_weights=None, style_layer_weights=None,
                         content_weight=1.0, style_weight=0.0)
    return stylize(content, content, cfg, backend=backend, progress=bar, log=log or (lambda m: None)).image


def reconstruct_style(
    style: np.ndarray, layers: Sequence[str], config: StyleConfig, *, backend: Backend, size_like: np.ndarray | None = None,
    log: Callable[[str], None] | None = None, bar: bool = False,
) -> np.ndarray:
    """A texture whose Gram matrices at `layers` match `style`'s, found from noise (`bar`: a progress bar of its steps)."""
    cfg = config.replace(content_layers=(), style_layers=tuple(layers), content_layer_weights=None,
                         style_layer_weights=None, content_weight=0.0, style_weight=max(config.style_weight, 1.0))
    canvas = style if size_like is None else size_like
    return stylize(canvas, style, cfg, backend=backend, progress=bar, log=log or (lambda m: None)).image


def growing_subsets(layers: Sequence[str]) -> list[tuple[str, ...]]:
    """`[(l1,), (l1, l2), ..., (l1, ..., ln)]`: the style rows of the paper's figure."""
    return [tuple(layers[: i + 1]) for i in range(len(layers))]


def check_budget(content: str | np.ndarray | None, style: str | np.ndarray | None, config: StyleConfig) -> None:
    """Refuse, in one line and before the network or any image is loaded, images over the budget at `config.size`.

    Reads only the files' headers (a file without one is reported when it is loaded).
    """
    from explainer.budget import check_images

    shapes = []
    for source in (content, style):
        if source is None:
            continue
        shape = np.shape(source) if isinstance(source, np.ndarray) else _images.image_shape(samples.resolve(source))
        if shape is not None:
            shapes.append((shape, "the image" if isinstance(source, np.ndarray) else str(source)))
    check_images(shapes, config.size, config.max_megapixels)


def reconstruct(
    content: str | np.ndarray | None,
    style: str | np.ndarray | None,
    config: StyleConfig | None = None,
    *,
    content_layers: Sequence[str] = PAPER_LAYERS,
    style_layers: Sequence[str] = PAPER_LAYERS,
    backend: Backend | None = None,
    progress: Callable[[str], None] | None = None,
    bars: bool = False,
) -> Reconstructions:
    """Gatys et al. Fig. 1: content reconstructions per layer and style reconstructions per layer subset.

    Args:
        content: the photo (path or array), or `None` to skip the content row.
        style: the painting (path or array), or `None` to skip the style row.
        config: size, iterations, optimizer, network... (default:
            `RECONSTRUCT_DEFAULTS`: the `paper` preset, 128 px, 100 L-BFGS steps from noise).
            The style rows weigh their layers by `config.style_layer_balance`.
        content_layers: one content reconstruction per layer.
        style_layers: one style reconstruction per growing prefix of this list.
        backend: the network (default: from `config`); its pooling must be `config.pooling`.
        progress: called with a line before each reconstruction.
        bars: show a progress bar of each reconstruction's steps (on stderr).

    Returns:
        [`Reconstructions`][explainer.reconstruct.Reconstructions]; `.figure()` lays them out.
    """
    config = config or RECONSTRUCT_DEFAULTS
    say = progress or (lambda message: None)
    check_budget(content, style, config)
    backend = backend or loss_network(config)
    if getattr(backend, "pooling", config.pooling) != config.pooling:  # the figure would say one and show the other
        raise ConfigError(f"the backend given pools with {backend.pooling!r} but the settings say "
                          f"pooling={config.pooling!r}: make it with get_backend(..., pooling={config.pooling!r})")
    backend.check_layers(tuple(content_layers) + tuple(style_layers))
    load = lambda image: _images.resize_longest(
        image.astype(np.float32) if isinstance(image, np.ndarray) else samples.load(image), config.size
    )
    content_image = load(content) if content is not None else None
    style_image = load(style) if style is not None else None
    content_rows, style_rows = [], []
    if content_image is not None:
        for layer in content_layers:
            say(f"content from {layer}")
            content_rows.append((layer, reconstruct_content(content_image, layer, config, backend=backend, bar=bars)))
    if style_image is not None:
        for subset in growing_subsets(style_layers):
            say(f"style from {' + '.join(subset)}")
            style_rows.append((subset, reconstruct_style(style_image, subset, config, backend=backend, bar=bars)))
    return Reconstructions(content_rows, style_rows, content_image, style_image, backend.describe(with_path=False), config)
