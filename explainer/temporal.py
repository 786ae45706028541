"""Temporal consistency (Ruder, Dosovitskiy & Brox 2016): the temporal loss term, the flicker measure, a sample clip.

Stylising each frame of a video on its own makes it flicker: small changes
between frames grow into different brush strokes. Ruder et al. add a term
that pulls the new frame towards the previous *stylised* frame, moved into
place by the optical flow, wherever the flow can be trusted:

    L_temporal = mean over pixels and channels of  c * (x - warp(x_prev, w^))^2

with `c` the consistency mask ([`explainer.flow.consistency_mask`][explainer.flow.consistency_mask]),
in `[0, 255]` units like total variation (Ruder's weight: 1e3; here 1e6, see
`TEMPORAL_WEIGHT`). It is an
[`ImageTerm`][explainer.losses.ImageTerm] named `"temporal"`: summed into the
loss, reported per step, recorded with its share and gradient map like
every other term. Its target (the warped frame and the mask) travels as
arrays, so one compiled step serves every frame.

The **flicker measure** of a sequence is, per frame, the mean of
`|f_t - warp(f_{t-1}, w^_t)|` over the pixels the mask keeps; for a result it
is reported relative to the same number of the input frames (what the flow's
own errors and the scene's changes account for).

[`camera_move`][explainer.temporal.camera_move] renders a pan and zoom over
the bundled public-domain photo, so the true motion of every pixel is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from explainer import flow, samples
from explainer.config import VideoSettings
from explainer.losses import ImageTerm

#: The temporal term's default weight (with content 5, style 100, as here). Ruder et al. used 1e3 with L-BFGS
#: iterations from the warped frame; with this project's Adam steps on ImageNet VGG19, 1e3 let the frames drift
#: (the sample clip, 12 frames at 96 px, 40 steps: flicker 12.4x the input's against 9.7x for frames alone;
#: 1e5: 2.7x; 1e6: 0.90x, with each frame's style loss still below a frame optimised alone).
TEMPORAL_WEIGHT = VideoSettings().temporal_weight  # declared once, as the video setting


def temporal_loss(image: jax.Array, target: dict) -> jax.Array:
    """`mean(c * (255 (x - warped))^2)` over pixels and channels (Ruder et al.'s temporal loss, in 255 units)."""
    difference = (image - target["warped"]) * 255.0
    return jnp.mean(target["mask"][..., None] * jnp.square(difference))


@dataclasses.dataclass(frozen=True, eq=False)
class PreviousFrame:
    """The temporal term's target maker: the warped previous result and its mask, resized to each scale.

    Every `PreviousFrame` compares equal to every other: what differs from
    frame to frame is data, which reaches the compiled step as arrays
    (`Targets.extra`), so a loss with this frame's target reuses the step
    compiled for the first frame.
    """

    warped: np.ndarray
    mask: np.ndarray

    def __call__(self, content: Any) -> dict:
        height, width = np.shape(content)[:2]
        warped = jax.image.resize(jnp.asarray(self.warped, jnp.float32), (height, width, 3), "linear")
        mask = jax.image.resize(jnp.asarray(self.mask, jnp.float32), (height, width), "linear")
        return {"warped": warped, "mask": mask}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PreviousFrame)

    def __hash__(self) -> int:
        return hash(PreviousFrame)


def temporal_term(warped: np.ndarray, mask: np.ndarray, weight: float = TEMPORAL_WEIGHT) -> ImageTerm:
    """The `"temporal"` [`ImageTerm`][explainer.losses.ImageTerm] for one frame.

    `warped`: the previous result moved into this frame's place `(H, W, 3)`;
    `mask`: `(H, W)` in `[0, 1]` (all zeros for the first frame: the term is
    then 0, and the step is the same program as for the others).
    """
    return ImageTerm("temporal", temporal_loss, float(weight), PreviousFrame(np.asarray(warped, np.float32),
                                                                            np.asarray(mask, np.float32)))


def blend_with_previous(image: np.ndarray, warped: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """`(1 - a c) image + a c warped`: the fast method's temporal blending (`a = amount`, `c` the mask)."""
    weight = float(amount) * np.asarray(mask, np.float32)[..., None]
    return ((1.0 - weight) * image + weight * warped).astype(np.float32)


def frame_change(current: np.ndarray, previous: np.ndarray, backward: np.ndarray, mask: np.ndarray) -> float:
    """Mean `|current - warp(previous, backward)|` over the pixels where `mask` is 1 (and the channels)."""
    warped = np.asarray(flow.warp_jit(np.asarray(previous, np.float32), np.asarray(backward, np.float32)))
    weights = np.asarray(mask, np.float32)
    kept = float(weights.sum())
    if kept == 0.0:
        return 0.0
    return float(np.sum(weights[..., None] * np.abs(np.asarray(current, np.float32) - warped)) / (3.0 * kept))


def flicker_summary(output_changes: Sequence[float], input_changes: Sequence[float]) -> dict:
    """The run record's `flicker`: per frame (from the second), and the output's mean relative to the input's."""
    out, inp = np.asarray(output_changes, np.float64), np.asarray(input_changes, np.float64)
    relative = float(out.mean() / inp.mean()) if len(out) and inp.mean() > 0 else None
    return {
        "definition": "mean |f_t - warp(f_{t-1})| over non-occluded pixels, f in [0, 1]; relative = output / input",
        "output": float(out.mean()) if len(out) else None,
        "input": float(inp.mean()) if len(inp) else None,
        "relative": relative,
        "per_frame_output": [round(float(v), 6) for v in out],
        "per_frame_input": [round(float(v), 6) for v in inp],
    }


# --------------------------------------------------------------------------- the sample clip


@dataclasses.dataclass(frozen=True)
class Clip:
    """Frames with their true motion.

    Attributes:
        frames: `(T, H, W, 3)` float32 RGB in `[0, 1]`.
        fps: frames per second.
        backward: `(T, H, W, 2)`: the true flow from frame `t` to frame `t-1` (zeros for frame 0).
        forward: `(T, H, W, 2)`: the true flow from frame `t-1` to frame `t` (on frame `t-1`; zeros for 0).
    """

    frames: np.ndarray
    fps: float
    backward: np.ndarray
    forward: np.ndarray


def _ease(t: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * t)


def camera_path(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the photo-pixels-per-frame-pixel `s` and the photo position `(oy, ox)` of frame pixel (0, 0).

    A frame pixel `(y, x)` shows the photo at `(s y + oy, s x + ox)`: a pan
    from her shoulder up to her face while zooming in, eased at both ends.
    """
    photo_h, photo_w = samples.sample_content().shape[:2]
    height = round(size * 9 / 16)
    t = _ease(np.linspace(0.0, 1.0, count))
    scale = (1.9 - 0.5 * t) * 256.0 / size  # photo px per frame px: 1.9 -> 1.4 at 256 px
    centre_y = photo_h * (0.62 - 0.30 * t)
    centre_x = photo_w * (0.45 + 0.10 * t)
    oy = centre_y - scale * (height - 1) / 2
    ox = centre_x - scale * (size - 1) / 2
    return scale, np.stack([oy, ox], -1)


def _path_flow(shape: tuple[int, int], s_from: float, o_from: np.ndarray, s_to: float, o_to: np.ndarray) -> np.ndarray:
    """The exact flow from a frame with `(s_from, o_from)` to one with `(s_to, o_to)`, on the first one's pixels."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    to_y = (s_from * ys + o_from[0] - o_to[0]) / s_to
    to_x = (s_from * xs + o_from[1] - o_to[1]) / s_to
    return np.stack([to_x - xs, to_y - ys], -1).astype(np.float32)


def camera_move(seconds: float = 5.0, fps: float = 24.0, size: int = 256) -> Clip:
    """A pan-and-zoom clip over the sample photo (Grace Hopper, public domain), 16:9, `size` px wide.

    Rendered bilinearly from the photo (lightly blurred first, as a camera's
    optics would), so the true flows in `Clip.backward` and `Clip.forward`
    hold exactly up to that interpolation.
    """
    import cv2  # only with the [video] extra; flow.py says how to get it

    count = max(2, round(seconds * fps))
    scale, origin = camera_path(count, size)
    photo = cv2.GaussianBlur(samples.sample_content(), (0, 0), 0.6 * float(scale.max()))
    height = round(size * 9 / 16)
    ys, xs = np.mgrid[0:height, 0:size].astype(np.float32)
    frames = np.empty((count, height, size, 3), np.float32)
    backward = np.zeros((count, height, size, 2), np.float32)
    forward = np.zeros_like(backward)
    for t in range(count):
        map_y, map_x = scale[t] * ys + origin[t, 0], scale[t] * xs + origin[t, 1]
        frames[t] = cv2.remap(photo, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        if t:
            backward[t] = _path_flow((height, size), scale[t], origin[t], scale[t - 1], origin[t - 1])
            forward[t] = _path_flow((height, size), scale[t - 1], origin[t - 1], scale[t], origin[t])
    return Clip(np.clip(frames, 0.0, 1.0), float(fps), backward, forward)
