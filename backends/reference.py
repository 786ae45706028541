"""VGG in plain NumPy: the network written out so you can read every step.

This is the *reference* implementation. It is slow and it is not
differentiable; it exists for two reasons:

1. Teaching. A convolution here is nine shifted matrix products, a ReLU is
   `np.maximum(x, 0)`, pooling is a reshape and a max. Nothing is hidden.
2. Checking. The Flax backend must give the same activations, layer by
   layer; `tests/test_backends.py` compares the two on random weights.

It follows the same conventions as the Flax backend: images are `(H, W, 3)`
RGB in `[0, 1]`, preprocessed the Caffe way; kernels are HWIO; padding keeps
the size; pooling is 2x2 with stride 2 and floors odd sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from backends._vgg import IMAGENET_MEAN_BGR, layer_names


def preprocess(image: np.ndarray, mean_bgr: Sequence[float] = IMAGENET_MEAN_BGR) -> np.ndarray:
    """RGB `[0, 1]` -> BGR `[0, 255]` minus the training mean (Caffe convention)."""
    bgr = np.asarray(image, np.float64)[..., ::-1] * 255.0
    return bgr - np.asarray(mean_bgr, np.float64)


def conv3x3(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One VGG convolution: 3x3, stride 1, zero padding of 1, plus bias.

    Each output pixel is a weighted sum over a 3x3 neighbourhood and over all
    input channels. Written as nine shifted matrix products: for each kernel
    offset `(dy, dx)` the whole (padded, shifted) image is multiplied by the
    `C_in x C_out` matrix `kernel[dy, dx]`.

    Args:
        x: `(H, W, C_in)`.
        kernel: `(3, 3, C_in, C_out)`.
        bias: `(C_out,)`.
    """
    height, width, _ = x.shape
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, kernel.shape[-1]), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + height, dx : dx + width] @ kernel[dy, dx]
    return out + bias


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def pool2x2(x: np.ndarray, mode: str = "max") -> np.ndarray:
    """2x2 pooling with stride 2; an odd last row/column is dropped."""
    height, width, channels = x.shape
    h, w = height // 2, width // 2
    windows = x[: 2 * h, : 2 * w].reshape(h, 2, w, 2, channels)
    return windows.max(axis=(1, 3)) if mode == "max" else windows.mean(axis=(1, 3))


def features(
    params: Mapping[str, Mapping[str, np.ndarray]],
    image: np.ndarray,
    layers: Sequence[str],
    *,
    arch: str = "vgg19",
    pooling: str = "max",
    mean_bgr: Sequence[float] = IMAGENET_MEAN_BGR,
) -> dict[str, np.ndarray]:
    """Activations of `layers` for one `(H, W, 3)` RGB image in `[0, 1]`.

    Computed in float64 and stopping after the deepest requested layer, like
    the Flax backend.
    """
    order = layer_names(arch)
    unknown = set(layers).difference(order)
    if unknown:
        raise ValueError(f"{arch} has no layer(s) {sorted(unknown)}")
    deepest = max(order.index(name) for name in layers)
    x = preprocess(image, mean_bgr)
    out = {}
    for name in order[: deepest + 1]:
        if name.startswith("conv"):
            x = conv3x3(x, np.asarray(params[name]["kernel"], np.float64), np.asarray(params[name]["bias"], np.float64))
        elif name.startswith("relu"):
            x = relu(x)
        else:
            x = pool2x2(x, pooling)
        if name in layers:
            out[name] = x
    return out
