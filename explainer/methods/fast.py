"""`--method fast`: one pass of a feed-forward network (Johnson et al. 2016; Ghiasi et al. 2017; Dumoulin et al.).

The networks are `backends`' pretrained stylisers (any style from an
image, or 26 built in) and the ones `style-explainer train` makes
(`explainer.models`); the maths of conditioning and
applying them is `explainer.fast`. Images larger than
memory run in tiles that share the instance-norm statistics of a downscaled
copy ([`explainer.fast_tiling`][explainer.fast_tiling]). A run yields one
event; `--record` records the network's activations for the content.
For video, frames go through the network in batches, optionally blended
with the warped previous result (`--temporal-blend`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from backends import Styliser
from explainer.config import StyleConfig
from explainer.errors import ConfigError, Note
from explainer.methods.base import MethodBase, Request
from explainer.methods.frames import FrameContext, FrameResult, take, warped

if TYPE_CHECKING:
    from explainer.events import Event

__all__ = ["Fast", "FastFrames", "NetworkRun"]

#: Frames per batch of a video.
FAST_BATCH = 8


def _choice(config: StyleConfig):
    from explainer.fast import parse_model

    return parse_model(config.model)


class Fast(MethodBase):
    """Apply a feed-forward network: real time, any style from an image or one built in."""

    name = "fast"
    summary = "a feed-forward network (real time)"
    iterative = False
    makes_video = True
    takes_folders = True

    def uses_styles(self, config: StyleConfig) -> bool:
        uses = _choice(config).needs_style_images
        if not uses and config.style_strength < 1.0 and _choice(config).kind == "multistyle":
            warnings.warn(f"--style-strength {config.style_strength:g} is not used by --model {config.model}: the "
                          "26-style network has no embedding of the content to move towards", Note, stacklevel=4)
        return uses

    def missing_styles(self, config: StyleConfig) -> str:
        return (f"--model {config.model} takes its style from style images: give at least one after the content "
                "(or --model multistyle:K, whose styles are built in)")

    def check(self, config: StyleConfig, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]],
              name: str = "the content image") -> None:
        from explainer.fast_tiling import check_fast_run

        tile = check_fast_run(config, content_shape)  # the pixel limit, a tiled run's when tiled
        if tile is not None and _choice(config).kind == "trained":
            raise ConfigError(f"--model {config.model}: a trained network runs on whole images only, and --size "
                              f"{config.size} needs tiles here; use a smaller --size or a larger --memory-budget")

    def network_key(self, config: StyleConfig) -> tuple:
        choice = _choice(config)
        return ("styliser", choice.kind, choice.path)

    def load_network(self, config: StyleConfig, log: Callable[[str], None]) -> Any:
        choice = _choice(config)
        if choice.kind == "trained":
            from explainer.models import load_model

            return load_model(choice.path)
        from backends import get_styliser

        return get_styliser(choice.kind, log=log)

    def network_name(self, network: Any) -> str:
        if network.kind == "trained":
            return "a network trained in this explorer"
        return f"{network.kind} network (Magenta/TensorFlow weights, Apache-2.0)"

    def prepare(self, request: Request) -> NetworkRun:
        from explainer.fast_tiling import fast_tile_side

        config = request.config
        from backends import Styliser

        styliser = request.network if isinstance(request.network, Styliser) else None  # a loss network is not used
        styliser = styliser or self.load_network(config, request.log)
        request.log(f"network: {styliser.describe()}")
        tile = fast_tile_side(config, request.content.shape)
        if tile is not None:
            request.log(f"tiled: {tile} px tiles sharing the instance-norm statistics of a downscaled copy "
                        "(explainer.fast_tiling)")
        return NetworkRun(request, styliser, _choice(config), tile)

    def frames(self, config: Any, styles: Sequence[np.ndarray], network: Any,
               log: Callable[[str], None]) -> FastFrames:
        choice = _choice(config)
        if choice.needs_style_images and not styles:
            raise ConfigError(f"--model {config.model} takes its style from style images: give at least one")
        styliser = network or self.load_network(config, log)
        log(f"network: {styliser.describe()}")
        return FastFrames(config, list(styles), styliser, choice)

    def stylize_folder(self, folder: str, styles: Sequence[Any], config: StyleConfig, out: Any,
                       progress: bool) -> Any:
        from explainer.augment import stylize_folder

        return stylize_folder(folder, styles, config, out, progress=progress)


@dataclasses.dataclass
class NetworkRun:
    """A prepared pass of a network: one event, the image; the record gets the embedding and the network's time."""

    request: Request
    network: Any
    choice: Any
    tile: int | None
    steps: int = 1
    output: Any = None

    def events(self) -> Iterator[Event]:
        from explainer import fast
        from explainer.events import Event
        from explainer.fast_tiling import stylize_fast_tiled

        request = self.request
        if self.tile is None:
            self.output = fast.stylize_images(self.network, self.choice, [request.content], list(request.styles),
                                              request.config)
        else:
            self.output = stylize_fast_tiled(self.network, self.choice, request.content, list(request.styles),
                                             request.config, self.tile)
        yield Event(iteration=1, scale=0, loss=0.0, terms={}, image=self.output.images[0])

    def finish(self, latest: Event | None) -> tuple[np.ndarray, dict]:
        out = self.output
        return out.images[0], {"network_time_s": round(out.seconds, 4),
                               "embedding": [round(float(v), 6) for v in out.embedding]}

    def trace(self, header: dict) -> Any:
        """The network's activations for the content, its norms' scale and shift (and what each norm divided out)."""
        from explainer import images
        from explainer.record import network_trace

        recorder, styliser, out = self.request.recorder, self.network, self.output
        if recorder is None or out is None:
            return None
        spec = recorder.spec
        scaled = images.resize_longest(self.request.content, self.request.config.size)[None]
        activations = styliser.activations(scaled, out.embedding, spec.layers or styliser.layer_names)
        trace = network_trace(out.images[0], activations, styliser.norm_params(out.embedding), out.embedding, spec,
                              **header)
        for name, (mean, var) in styliser.norm_statistics(scaled, out.embedding).items():
            trace.arrays[f"norm_stats/{name}/mean"] = np.asarray(mean)[0]
            trace.arrays[f"norm_stats/{name}/var"] = np.asarray(var)[0]
        return trace


class FastFrames:
    """A feed-forward network on batches of frames, then (optionally) blended with the warped previous result."""

    def __init__(self, config: Any, styles: list[np.ndarray], styliser: Styliser, choice: Any):
        self.config, self.styles, self.styliser, self.choice = config, styles, styliser, choice
        self.embedding = None

    def provenance(self) -> dict:
        from explainer.provenance import provenance

        return provenance(self.styliser, self.config)

    def results(self, contexts: Iterator[FrameContext], previous: np.ndarray | None, first: np.ndarray):
        from explainer import fast

        self.embedding = fast.condition(self.styliser, self.choice, first, self.styles, self.config)
        error = None
        while error is None:  # a batch of frames read ahead (their flows need no results)
            batch, error = take(contexts, FAST_BATCH)
            if not batch:
                break
            start = time.perf_counter()
            painted = self._paint(np.stack([context.frame for context in batch]))
            share = (time.perf_counter() - start) / len(batch)
            for context, image in zip(batch, painted):
                start = time.perf_counter()
                image = self._blend(image, previous, context)
                yield context, FrameResult(image, previous, share + time.perf_counter() - start, {})
                previous = image
        if error is not None:  # the frames before a bad one are made and kept
            raise error

    def _paint(self, frames: np.ndarray) -> np.ndarray:
        from explainer import fast

        out, _ = fast.apply_network(self.styliser, frames, self.embedding)
        return np.stack([fast.finish_colors(image, frame, self.config.colors) for image, frame in zip(out, frames)])

    def _blend(self, image: np.ndarray, previous: np.ndarray | None, context: FrameContext) -> np.ndarray:
        from explainer import temporal
        from explainer.video_io import quantize

        if self.config.temporal_blend > 0 and previous is not None and context.index > 0:
            image = temporal.blend_with_previous(image, warped(previous, context), context.mask,
                                                 self.config.temporal_blend)
        return quantize(image)
