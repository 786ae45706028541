"""Optical flow, warping and the masks of Ruder, Dosovitskiy & Brox (2016): pure maths, no files.

A *flow* is an `(H, W, 2)` float32 array of `(dx, dy)` in pixels. The flow
from frame `a` to frame `b` says where each pixel of `a` went:
`a[y, x] ~ b[y + dy, x + dx]` (OpenCV's convention). Two flows matter for
video:

* the **backward flow** `w^` (frame `t` -> frame `t-1`), defined on the
  pixels of the *current* frame: [`warp`][explainer.flow.warp] with it brings
  the previous (stylised) frame into the current frame's place,
  `warp(previous, w^)[y, x] = previous[y + dy, x + dx]`;
* the **forward flow** `w` (frame `t-1` -> frame `t`), used only to check the
  backward one.

Where the two disagree, the pixel was not visible in the previous frame
(disocclusion); where the flow changes sharply, the flow is unreliable
(motion boundary). Ruder et al.'s tests, with their thresholds:

    occluded:        |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5,   w~(x) = w(x + w^(x))
    motion boundary: |grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002

Both are in pixels of the frames the flow was computed on. A pixel whose
backward flow points outside the previous frame is occluded too (it entered
the picture: no test on the flows can say that, as the flow there is
extrapolated).

```python
from explainer import flow

back, fwd = flow.flow_pair(previous_frame, frame)     # DIS flow, both directions
warped = flow.warp(previous_output, back)              # the previous result, moved into place
mask = flow.consistency_mask(fwd, back)                # 1 where the warped pixel can be trusted
```

Flow comes from OpenCV's DIS (Kroeger et al. 2016) in
`opencv-python-headless` (`pip install 'style-explainer[video]'`); the rest
is NumPy and `jax.numpy`, so `warp` can sit inside a jitted loss.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

#: Ruder et al.'s occlusion test: |w~ + w^|^2 > OCCLUSION_RELATIVE (|w~|^2 + |w^|^2) + OCCLUSION_ABSOLUTE.
OCCLUSION_RELATIVE = 0.01
OCCLUSION_ABSOLUTE = 0.5
#: Ruder et al.'s motion-boundary test: |grad u^|^2 + |grad v^|^2 > BOUNDARY_RELATIVE |w^|^2 + BOUNDARY_ABSOLUTE.
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002
#: OpenCV's DIS presets (speed against accuracy).
PRESETS: tuple[str, ...] = ("ultrafast", "fast", "medium")


def _cv2():
    try:
        import cv2
    except ImportError:
        from explainer.errors import ConfigError

        raise ConfigError("optical flow needs OpenCV: pip install 'style-explainer[video]' "
                          "(opencv-python-headless)") from None
    return cv2


def _gray(image: np.ndarray) -> np.ndarray:
    """RGB `[0, 1]` (or already grey) -> uint8 luminance, as DIS wants it."""
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image @ np.asarray([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _dis(preset: str):
    cv2 = _cv2()
    code = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
    return cv2.DISOpticalFlow_create(code)


def dis_flow(source: np.ndarray, target: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Dense flow from `source` to `target` (both `(H, W, 3)` RGB in `[0, 1]`): `(H, W, 2)` float32 `(dx, dy)`.

    `source[y, x] ~ target[y + dy, x + dx]`. DIS (dense inverse search), the
    `medium` preset by default: about 0.13 s at 640x272 on one core.
    """
    if preset not in PRESETS:
        raise ValueError(f"DIS preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    if np.shape(source)[:2] != np.shape(target)[:2]:
        raise ValueError(f"frames differ in size: {np.shape(source)[:2]} and {np.shape(target)[:2]}")
    flow = _dis(preset).calc(_gray(source), _gray(target), None)
    return np.asarray(flow, np.float32)


def flow_pair(previous: np.ndarray, current: np.ndarray, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """`(backward, forward)`: the flow current -> previous (on the current frame's pixels), and previous -> current."""
    return dis_flow(current, previous, preset), dis_flow(previous, current, preset)


def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
    """`out[y, x] = image[y + dy, x + dx]`, bilinear; positions outside take the nearest edge pixel.

    Pure `jax.numpy` (`map_coordinates(order=1)`), differentiable in `image`
    and jit-able. `image`: `(H, W)` or `(H, W, C)`; `flow`: `(H, W, 2)` on the
    output's pixels (the same size as `image` here).
    """
    image = jnp.asarray(image)
    flow = jnp.asarray(flow, jnp.float32)
    height, width = flow.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij")
    rows, cols = ys + flow[..., 1], xs + flow[..., 0]
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, [rows, cols], order=1, mode="nearest")
    if image.ndim == 2:
        return sample(image)
    return jnp.stack([sample(image[..., c]) for c in range(image.shape[-1])], axis=-1)


warp_jit = jax.jit(warp)


def outside(flow: np.ndarray) -> np.ndarray:
    """`(H, W)` bool: where `flow` points outside the frame (more than half a pixel beyond an edge)."""
    flow = np.asarray(flow, np.float32)
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rows, cols = ys + flow[..., 1], xs + flow[..., 0]
    return (rows < -0.5) | (rows > height - 0.5) | (cols < -0.5) | (cols > width - 0.5)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """`(H, W)` bool on the current frame: True where it was not visible in the previous one.

    Ruder et al.'s forward-backward check (see the module), plus pixels whose
    backward flow leaves the previous frame.
    """
    backward = np.asarray(backward, np.float32)
    carried = np.asarray(warp_jit(np.asarray(forward, np.float32), backward))  # w~(x) = w(x + w^(x))
    mismatch = np.sum(np.square(carried + backward), axis=-1)
    scale = np.sum(np.square(carried), axis=-1) + np.sum(np.square(backward), axis=-1)
    return (mismatch > OCCLUSION_RELATIVE * scale + OCCLUSION_ABSOLUTE) | outside(backward)


def motion_boundaries(backward: np.ndarray) -> np.ndarray:
    """`(H, W)` bool: Ruder et al.'s motion boundaries of the backward flow (central differences)."""
    backward = np.asarray(backward, np.float32)
    energy = np.zeros(backward.shape[:2], np.float32)
    for component in (backward[..., 0], backward[..., 1]):
        dy, dx = np.gradient(component)
        energy += dy * dy + dx * dx
    return energy > BOUNDARY_RELATIVE * np.sum(np.square(backward), axis=-1) + BOUNDARY_ABSOLUTE


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """`(H, W)` float32 weights `c`: 0 where occluded or on a motion boundary, 1 elsewhere (Ruder et al.'s `c`)."""
    unreliable = occlusion_mask(forward, backward) | motion_boundaries(backward)
    return (~unreliable).astype(np.float32)


def shift_flow(shape: tuple[int, int], dx: float, dy: float) -> np.ndarray:
    """A constant flow `(dx, dy)` of `shape = (H, W)`: for tests and the sample clip's known motion."""
    return np.broadcast_to(np.asarray([dx, dy], np.float32), (*shape, 2)).copy()
