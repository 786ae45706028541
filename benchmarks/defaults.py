"""Score candidate default settings by one yardstick: how much of the style gap each result closes, per layer.

Each variant (a `compare`-style override string, e.g. `"style_scale=2;
colors=keep"`) is run on each content/style pair with `explainer.stylize`,
then every result is measured with the *same* loss, whatever the variant
optimised: on the run's network (ImageNet VGG19 unless `--weights` says
otherwise), max pooling, the style image at the result's size (style scale
1), this project's normalisation (`explainer.losses`):

* `style[l] = L_style(result, l) / L_style(photo, l)` at relu1_1..relu5_1:
  the share of the photo's style loss left in the result (1: no style
  transferred, 0: the style's Gram matrices matched exactly), and `style`,
  their geometric mean;
* `content = mean((F - P)^2) / mean(P^2)` at relu4_2: the content features'
  relative squared error (0: the photo's features kept).

    python benchmarks/defaults.py --pair CONTENT STYLE [--pair ...] --variant "SETTINGS" [--variant ...]
        [--size 256] [--iterations 200] [--base "SETTINGS"] [--save DIR]

`--base` is applied before every variant (e.g. `"size=256; iterations=200"`);
an empty `--variant ""` is the base itself. Prints one row per pair and
variant (time, content, style per layer, style) and, with `--save`, writes
each result and one labelled grid per pair.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # noqa: F401 -- sets the package's XLA flags first
import jax
import numpy as np

from backends import get_backend
from explainer import samples
from explainer.compare import parse_variant
from explainer.config import DEFAULT_STYLE_LAYERS, StyleConfig
from explainer.images import load_image, resize_to, save_image
from explainer.losses import content_loss, gram_matrix, style_loss
from explainer.runner import stylize

CONTENT_LAYER = "relu4_2"


def yardstick(backend, photo: np.ndarray, style: np.ndarray):
    """`score(image) -> (content, {layer: style share})` against `photo` and `style` (resized to the image)."""
    layers = (CONTENT_LAYER, *DEFAULT_STYLE_LAYERS)

    @jax.jit
    def terms(params, image, photo_features, style_features):
        f = backend.spec.apply(params, image, layers)
        p = photo_features[CONTENT_LAYER]
        content = content_loss(f[CONTENT_LAYER], p) / jax.numpy.mean(jax.numpy.square(p))
        grams = {name: gram_matrix(style_features[name]) for name in DEFAULT_STYLE_LAYERS}
        return content, {name: style_loss(f[name], grams[name]) for name in DEFAULT_STYLE_LAYERS}

    def score(image: np.ndarray):
        h, w = image.shape[:2]
        p = resize_to(photo, h, w)
        s = resize_to(style, h, w)
        photo_features = backend.features(p, layers)
        style_features = backend.features(s, layers)
        _, base = jax.device_get(terms(backend.params, p, photo_features, style_features))
        content, left = jax.device_get(terms(backend.params, image, photo_features, style_features))
        return float(content), {name: float(left[name] / base[name]) for name in DEFAULT_STYLE_LAYERS}

    return score


def geometric_mean(values) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(np.asarray(list(values)), 1e-12)))))


def _config(base: str, variant: str) -> StyleConfig:
    overrides = {**(parse_variant(base) if base else {}), **(parse_variant(variant) if variant else {})}
    return StyleConfig(print_every=0).replace(**overrides)


def _grid(images: list[np.ndarray], labels: list[str], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.6), squeeze=False)
    for ax, image, label in zip(axes[0], images, labels):
        ax.imshow(np.clip(image, 0, 1))
        ax.set_title(label, fontsize=7, wrap=True)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("CONTENT", "STYLE"))
    parser.add_argument("--variant", action="append", required=True, metavar="SETTINGS")
    parser.add_argument("--base", default="", metavar="SETTINGS", help="applied before every variant")
    parser.add_argument("--weights", default="auto", help="the yardstick's weights (default: auto)")
    parser.add_argument("--save", type=pathlib.Path, metavar="DIR")
    args = parser.parse_args(argv)

    configs = [_config(args.base, v) for v in args.variant]
    yard_backend = get_backend("vgg19", weights=args.weights, pooling="max")
    print(f"yardstick: {yard_backend.weights.describe(with_path=False)}; content {CONTENT_LAYER}, "
          f"style {','.join(DEFAULT_STYLE_LAYERS)} as shares of the photo's")
    for content_path, style_path in args.pair:
        photo = load_image(samples.resolve(content_path))
        style = load_image(samples.resolve(style_path))
        score = yardstick(yard_backend, photo, style)
        images, labels = [], []
        for variant, config in zip(args.variant, configs):
            start = time.perf_counter()
            result = stylize(photo, [style], config, progress=False, log=lambda message: None)
            seconds = time.perf_counter() - start
            content, left = score(np.asarray(result.image))
            per_layer = " ".join(f"{left[n]:.3f}" for n in DEFAULT_STYLE_LAYERS)
            print(f"{pathlib.Path(content_path).stem:>14} | {variant or '(base)':<60} | {seconds:6.1f} s | "
                  f"content {content:.3f} | style {per_layer} | style {geometric_mean(left.values()):.3f}",
                  flush=True)
            images.append(np.asarray(result.image))
            labels.append(f"{variant or '(base)'}\ncontent {content:.2f}, style {geometric_mean(left.values()):.3f}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            stem = f"{pathlib.Path(content_path).stem}-{pathlib.Path(style_path).stem}".replace(":", "_")
            for i, image in enumerate(images):
                save_image(image, args.save / f"{stem}-{i}.png")
            _grid(images, labels, args.save / f"{stem}.png")


if __name__ == "__main__":
    main()
