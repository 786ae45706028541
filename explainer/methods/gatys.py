"""`--method gatys`: optimise the image itself (Gatys, Ecker & Bethge 2015, 2016).

The maths is [`explainer.optimize`][explainer.optimize] (one jitted step,
weights as arrays) over a loss network from `backends`; regions and the
optional post-process come from [`explainer.photo`][explainer.photo]'s plan;
images larger than memory run in tiles through the same stepper
([`explainer.tiling`][explainer.tiling]). For video, each frame is
optimised from the previous result warped by the optical flow, with Ruder et
al.'s temporal term (`explainer.temporal`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from explainer.config import INITS, StyleConfig
from explainer.errors import ConfigError, ImageError
from explainer.methods.base import MethodBase, Request
from explainer.methods.frames import FrameContext, FrameResult, warped

if TYPE_CHECKING:
    from explainer.events import Event

__all__ = ["Gatys", "GatysFrames", "OptimisationRun", "loss_network"]


def loss_network(config: StyleConfig, log: Callable[[str], None] | None = None) -> Any:
    """The loss network a config names (`network`, `weights`, `pooling`, `seed`): every front door loads it here."""
    from backends import get_backend

    return get_backend(config.network, weights=config.weights, pooling=config.pooling, seed=config.seed, log=log)


class Gatys(MethodBase):
    """Optimise the image: content, style and TV terms of a VGG's features (minutes)."""

    name = "gatys"
    summary = "optimise the image (Gatys et al.; minutes)"
    iterative = True
    makes_video = True
    #: Whether the record gets both photorealism measures (Luan et al.'s; `explainer.matting.photorealism`).
    measures_photorealism = False

    def check(self, config: StyleConfig, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]],
              name: str = "the content image") -> None:
        """The pixel budget (tiled or not), and a short side deep enough for the deepest layer at the smallest scale."""
        from backends import downsampling, layer_names
        from explainer.budget import working_shape
        from explainer.tiling import check_run

        check_run(config, content_shape, style_shapes)
        # Names no VGG has are left to the network's own check, which lists the valid ones.
        layers = [layer for layer in config.content_layers + config.style_layers if layer in layer_names("vgg19")]
        if not layers:
            return
        need = 2 ** max(downsampling(layer) for layer in layers)
        smallest = config.scale_sizes()[0]
        short = min(working_shape(content_shape, smallest))
        if short < need:
            deepest = max(layers, key=downsampling)
            raise ImageError(
                f"{name}: at {smallest} px on its longest side (the smallest scale) its short side is {short} px, "
                f"but {deepest} needs at least {need} px; use a larger --size, fewer --scales, or a less elongated "
                "image")

    def network_key(self, config: StyleConfig) -> tuple:
        return ("vgg", config.network, config.weights, config.pooling, config.seed if config.weights == "random" else 0)

    def load_network(self, config: StyleConfig, log: Callable[[str], None]) -> Any:
        return loss_network(config, log)

    def image_terms(self, config: StyleConfig) -> tuple:
        """The method's own terms of the loss on the image (none: photo adds one)."""
        return ()

    def prepare(self, request: Request) -> OptimisationRun:
        from explainer import photo, samples, tiling

        config = request.config
        plan = photo.prepare(config, request.content, request.styles, measure=self.measures_photorealism)
        init_image = samples.load(config.init, min_side=1) if config.init not in INITS else None
        backend = request.network or self.load_network(config, request.log)
        backend.check_layers(config.content_layers + config.style_layers)
        request.log(f"network: {backend.describe()}")
        tile = tiling.tile_side(config, request.content.shape)
        if tile is not None:
            request.log(f"tiled: {tile} px tiles, each with the margin its deepest layer sees (explainer.tiling)")
        terms = (*request.image_terms, *self.image_terms(config))
        return OptimisationRun(request, backend, plan, tile, init_image, terms)

    def frames(self, config: Any, styles: Sequence[np.ndarray], network: Any,
               log: Callable[[str], None]) -> GatysFrames:
        """`config` is a `explainer.video.VideoConfig` (its `temporal_weight`, `frame_init`)."""
        if not styles:
            raise ConfigError("give at least one style image after the video")
        return GatysFrames(self, config, styles, network or self.load_network(config, log), log)


@dataclasses.dataclass
class OptimisationRun:
    """A prepared optimisation: its events are `optimize.run`'s; its result is the last image, post-processed."""

    request: Request
    network: Any
    plan: Any
    tile: int | None
    init_image: np.ndarray | None
    image_terms: tuple

    @property
    def steps(self) -> int:
        return self.request.config.iterations * self.request.config.scales

    def events(self) -> Iterator[Event]:
        from explainer.optimize import run

        request = self.request
        return run(request.config, self.network, request.content, list(request.styles), init_image=self.init_image,
                   snapshots=request.recorder, image_terms=self.image_terms, regions=self.plan.regions, tile=self.tile)

    def finish(self, latest: Event | None) -> tuple[np.ndarray, dict]:
        from explainer import images
        from explainer.optimize import finish_image, initial_image

        config, request = self.request.config, self.request
        if latest is not None:
            image = latest.image
        else:  # no finite step: the starting image, at the final size
            scaled = images.resize_longest(request.content, config.size)
            image = finish_image(config, initial_image(config, scaled, request.styles[0], self.init_image),
                                 request.content)
        return self.plan.finish(image)

    def trace(self, header: dict) -> Any:
        recorder = self.request.recorder
        return recorder.trace(**header) if recorder is not None else None


class GatysFrames:
    """Each frame optimised with Ruder et al.'s temporal term, from the previous result warped by the flow."""

    def __init__(self, method: Gatys, config: Any, styles: Sequence[np.ndarray], backend: Any,
                 log: Callable[[str], None]):
        self.method, self.config, self.styles, self.backend = method, config, list(styles), backend
        backend.check_layers(config.content_layers + config.style_layers)
        log(f"network: {backend.describe()}")

    def provenance(self) -> dict:
        from explainer.provenance import provenance

        return provenance(self.backend, self.config)

    def results(self, contexts: Iterator[FrameContext], previous: np.ndarray | None, first: np.ndarray):
        from explainer import temporal
        from explainer.optimize import run
        from explainer.video_io import quantize

        config = self.config
        for context in contexts:
            start = time.perf_counter()
            moved = warped(previous, context)
            terms = list(self.method.image_terms(config))
            if config.temporal_weight > 0:
                terms.append(temporal.temporal_term(moved, context.mask, config.temporal_weight))
            init = moved if config.frame_init == "warped" and context.index > 0 else None
            event = None
            for event in run(config, self.backend, context.frame, self.styles, init_image=init, image_terms=terms):
                pass
            image = quantize(event.image if event is not None else context.frame)
            extra = {"loss": event.loss, "terms": event.terms} if event is not None else {}
            yield context, FrameResult(image, previous, time.perf_counter() - start, extra)
            previous = image
