"""What a method's video frames are made from and of: the pieces `video` and the methods' frame makers share.

`style-explainer video` reads the frames, computes the optical flow and
Ruder et al.'s reliability mask ([`FrameContext`][explainer.methods.frames.FrameContext]),
and hands them to the method's `frames(...)` object, whose
`results(contexts, previous, first)` yields each context with its
[`FrameResult`][explainer.methods.frames.FrameResult]; `video` saves,
measures and records them. A frame maker also has `provenance()`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import numpy as np

from explainer.errors import ImageError

__all__ = ["FrameContext", "FrameResult", "take", "warped"]


@dataclasses.dataclass
class FrameContext:
    """What one frame is made from: the frame, the backward flow to the frame before and Ruder's mask."""

    index: int
    frame: np.ndarray
    mask: np.ndarray
    backward: np.ndarray | None = None
    previous_frame: np.ndarray | None = None


@dataclasses.dataclass
class FrameResult:
    """A made frame: the image (8-bit values as float), the previous result, the seconds it took, record fields."""

    image: np.ndarray
    previous: np.ndarray | None
    seconds: float
    extra: dict


def take(contexts: Iterator[FrameContext], count: int) -> tuple[list[FrameContext], ImageError | None]:
    """Up to `count` frames, and the error of a frame that could not be read (after the good ones)."""
    batch: list[FrameContext] = []
    try:
        batch.extend(itertools.islice(contexts, count))
    except ImageError as error:
        return batch, error
    return batch, None


def warped(previous: np.ndarray | None, context: FrameContext) -> np.ndarray:
    """The previous result moved by the backward flow onto this frame (the frame itself for the first)."""
    from explainer import flow

    if previous is None or context.index == 0:
        return context.frame
    return np.asarray(flow.warp_jit(previous, context.backward))
