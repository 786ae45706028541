"""One Flax definition of VGG16 and VGG19 (convolutional part only).

Simonyan & Zisserman (2014) describe a family of networks that differ only in
how many 3x3 convolutions each of the five blocks holds. Style transfer uses
only the convolutional part, so that is all we define; the classifier head
is never loaded.

Layer names follow the style-transfer literature (Gatys et al. 2015,
jcjohnson/neural-style): `conv1_1, relu1_1, conv1_2, relu1_2, pool1,
conv2_1, ...`. Parameters are stored under the conv names, e.g.
`params["conv3_2"]["kernel"]` with layout HWIO.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from backends._layers import (  # noqa: F401 -- re-exported: the network's names live with the network
    ARCHITECTURES,
    BLOCK_CHANNELS,
    IMAGENET_MEAN_BGR,
    POOLINGS,
    UnknownLayerError,
    _blocks,
    conv_names,
    downsampling,
    layer_names,
    param_shapes,
)

Pooling = Literal["max", "avg"]


def pool2x2(x: jax.Array, pooling: str = "max") -> jax.Array:
    """VGG's 2x2 pooling with stride 2 on `(N, H, W, C)`; odd sides are floored, as in Keras and torchvision.

    `pooling` is `"max"` or `"avg"`. Max pooling's gradient goes, in each
    window, to the largest input, and among tied inputs to the first in
    reading order, as in Caffe (where VGG was trained) and PyTorch.

    Written as crop + reshape + reduce rather than `flax.linen.max_pool`,
    whose gradient XLA:CPU turns into a slow select-and-scatter, and with its
    own gradient rule rather than `jnp.max`'s, which splits the gradient
    between tied inputs and counts them at some cost (timings in
    `benchmarks/README.md`).
    """
    n, height, width, channels = x.shape
    h, w = height // 2, width // 2
    windows = x[:, : 2 * h, : 2 * w].reshape(n, h, 2, w, 2, channels)
    return _max_over_windows(windows) if pooling == "max" else windows.mean(axis=(2, 4))


#: The name `VGG` calls (`benchmarks/_common.py` swaps it for an experiment).
_pool = pool2x2


@jax.custom_vjp
def _max_over_windows(windows: jax.Array) -> jax.Array:
    """`max` over axes 2 and 4 of `(n, h, 2, w, 2, c)`; the gradient goes to the *first* maximum.

    Each window's gradient goes to the first of its maxima in row-major
    order, as in Caffe's and PyTorch's max pooling; a tie is not rare (a
    flat patch of image gives equal activations side by side). `jnp.max`'s
    own gradient splits it evenly between tied elements instead, and
    counting the ties cost XLA:CPU about 10% of a VGG19 step.
    """
    return windows.max(axis=(2, 4))


def _max_over_windows_forward(windows):
    pooled = windows.max(axis=(2, 4))
    return pooled, (windows, pooled)


def _max_over_windows_backward(residuals, g):
    windows, pooled = residuals
    grads, taken = [], None
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):  # row-major order within the window
        is_max = windows[:, :, i, :, j] == pooled
        first = is_max if taken is None else is_max & ~taken
        taken = is_max if taken is None else taken | is_max
        grads.append(jnp.where(first, g, 0.0))
    top, bottom = jnp.stack(grads[:2], axis=3), jnp.stack(grads[2:], axis=3)  # (n, h, w, 2, c)
    return (jnp.stack([top, bottom], axis=2),)  # (n, h, 2, w, 2, c)


_max_over_windows.defvjp(_max_over_windows_forward, _max_over_windows_backward)


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    # NHWC and HWIO: XLA:CPU's preferred layouts, and those of the weight files.
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def backward_kernel(kernel: jax.Array) -> jax.Array:
    """The kernel of the input-gradient convolution of a 3x3 "SAME" conv, HWIO.

    The gradient of `conv(x, K)` with respect to `x` is `conv(g, K')`, where
    `K'` is `K` flipped in space with its input and output channels swapped.
    """
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


@jax.custom_vjp
def conv3x3(x: jax.Array, kernel: jax.Array, kernel_backward: jax.Array) -> jax.Array:
    """`conv(x, kernel)`, 3x3, stride 1, "SAME"; its input gradient uses the given `kernel_backward`.

    Why: left to itself, XLA derives the flipped, transposed kernel from
    `kernel` inside every gradient evaluation. For VGG19 these thirteen
    copies cost about 10% of an optimisation step on the CPU, yet the
    weights never change during a run. `VGGBackend`
    computes them once, as `params[conv]["kernel_backward"]`
    (`backward_kernel`), and passes them in.

    Differentiable in `x` and `kernel` as the plain convolution is (the
    kernel's gradient is computed only if it is used). `kernel_backward` gets
    a zero gradient: the value does not depend on it.
    """
    return _conv(x, kernel)


def _conv3x3_forward(x, kernel, kernel_backward):
    return _conv(x, kernel), (x, kernel, kernel_backward)


def _conv3x3_backward(residuals, g):
    x, kernel, kernel_backward = residuals
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k), kernel)
    return _conv(g, kernel_backward), kernel_vjp(g)[0], jnp.zeros_like(kernel_backward)


conv3x3.defvjp(_conv3x3_forward, _conv3x3_backward)


class Conv3x3(nn.Module):
    """A 3x3, stride 1, zero-padded convolution with bias (every VGG conv).

    Its parameters are `kernel` (HWIO) and `bias`, and optionally
    `kernel_backward`, precomputed by `VGGBackend`
    so that gradients with respect to the image skip a per-step kernel
    transpose (see `backends._vgg.conv3x3`).
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.he_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.has_variable("params", "kernel_backward"):
            kernel_back = self.get_variable("params", "kernel_backward")
        else:
            kernel_back = backward_kernel(kernel)
        return conv3x3(x, kernel, kernel_back) + bias


class VGG(nn.Module):
    """The convolutional part of VGG16/VGG19 as a Flax module.

    Call it on a *preprocessed* batch `(N, H, W, 3)` (see
    [`caffe_preprocess`][backends.caffe_preprocess]) with the names of the
    layers you want; it returns `{name: activation}` and stops after the
    deepest requested layer, so asking for `relu2_1` costs two blocks, not
    five.

    Attributes:
        arch: `"vgg16"` or `"vgg19"`.
        pooling: `"max"` (as trained) or `"avg"` (Gatys et al. found average
            pooling gives slightly smoother results).
    """

    arch: str = "vgg19"
    pooling: str = "max"

    @nn.compact
    def __call__(self, x: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        order = layer_names(self.arch)
        wanted = set(layers)
        unknown = wanted.difference(order)
        if unknown:
            raise ValueError(f"{self.arch} has no layer(s) {sorted(unknown)}")
        deepest = max(order.index(name) for name in wanted) if wanted else -1
        out: dict[str, jax.Array] = {}
        shapes = param_shapes(self.arch)
        for name in order[: deepest + 1]:
            kind = name[:4]
            if kind == "conv":
                x = Conv3x3(features=shapes[name][1][0], name=name)(x)
            elif kind == "relu":
                x = jax.nn.relu(x)
            else:
                x = _pool(x, self.pooling)
            if name in wanted:
                out[name] = x
        return out


def with_backward_kernels(params: dict) -> dict:
    """`params` with each conv's `kernel_backward` added (computed once; see `conv3x3`)."""
    return {
        name: {**layer, "kernel_backward": backward_kernel(jnp.asarray(layer["kernel"]))}
        for name, layer in params.items()
    }


def caffe_preprocess(image: jax.Array, mean_bgr: Sequence[float] = IMAGENET_MEAN_BGR) -> jax.Array:
    """RGB in [0, 1] -> Caffe input: BGR, scaled to [0, 255], mean subtracted.

    The original VGG weights were trained in Caffe on BGR images with the
    ImageNet mean removed and no division by a standard deviation; a network
    only "sees" correctly when fed the statistics it was trained on.
    """
    return image[..., ::-1] * 255.0 - jnp.asarray(mean_bgr, image.dtype)


def caffe_deprocess(x: jax.Array, mean_bgr: Sequence[float] = IMAGENET_MEAN_BGR) -> jax.Array:
    """Inverse of [`caffe_preprocess`][backends.caffe_preprocess]."""
    return ((x + jnp.asarray(mean_bgr, x.dtype)) / 255.0)[..., ::-1]


@dataclasses.dataclass(frozen=True)
class VGGSpec:
    """The static part of a VGG backend: architecture, pooling, input convention.

    Hashable and compared by value, so compiled programs are cached on it
    (two backends of the same network share them) and never keep weights
    alive. `apply` is pure: the weights come in as an argument.
    """

    arch: str
    pooling: str
    mean_bgr: tuple[float, ...] = tuple(IMAGENET_MEAN_BGR)

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {self.pooling!r}")
        _blocks(self.arch)
        object.__setattr__(self, "mean_bgr", tuple(float(v) for v in self.mean_bgr))

    @property
    def layer_names(self) -> tuple[str, ...]:
        return layer_names(self.arch)

    def apply(self, params: dict, image: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """Activations of `layers` for an RGB `[0, 1]` image `(H, W, 3)` or batch `(N, H, W, 3)`."""
        batched = image.ndim == 4
        x = caffe_preprocess(image if batched else image[None], self.mean_bgr)
        out = VGG(arch=self.arch, pooling=self.pooling).apply({"params": params}, x, tuple(layers))
        return out if batched else {k: v[0] for k, v in out.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class VGGBackend:
    """A VGG network with its weights: the object the explainer talks to.

    Instances are immutable. `apply` is a pure function of `(params, image)`
    for a static tuple of layer names, so it can sit inside `jax.jit`; pass
    `backend.params` as an argument rather than closing over it, so the
    80 MB of weights are not baked into the compiled program as constants.

    Attributes:
        arch: `"vgg16"` or `"vgg19"`.
        pooling: `"max"` or `"avg"`.
        params: `{conv_name: {"kernel": HWIO, "bias": (C,), "kernel_backward":
            HWIO}}` as jax arrays; `kernel_backward` is derived from `kernel`
            when the backend is made (see `backends._vgg.conv3x3`).
        weights: where the parameters came from (printed by every run).
    """

    arch: str
    pooling: str
    params: dict
    weights: WeightsInfo  # noqa: F821 (defined in backends._weights)

    def __post_init__(self):
        VGGSpec(self.arch, self.pooling)  # checks both
        object.__setattr__(self, "params", with_backward_kernels(self.params))

    @functools.cached_property
    def spec(self) -> VGGSpec:
        """The hashable, weightless part: what compiled programs are keyed on."""
        return VGGSpec(self.arch, self.pooling, tuple(self.weights.mean_bgr))

    @property
    def name(self) -> str:
        return self.arch

    @property
    def layer_names(self) -> tuple[str, ...]:
        return layer_names(self.arch)

    @property
    def module(self) -> VGG:
        return VGG(arch=self.arch, pooling=self.pooling)

    def preprocess(self, image: jax.Array) -> jax.Array:
        """RGB `[0, 1]` -> the network's input convention."""
        return caffe_preprocess(image, self.weights.mean_bgr)

    def deprocess(self, x: jax.Array) -> jax.Array:
        """The network's input convention -> RGB `[0, 1]`."""
        return caffe_deprocess(x, self.weights.mean_bgr)

    def apply(self, params: dict, image: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """Activations of `layers` for an RGB `[0, 1]` image.

        Args:
            params: `self.params` (or any pytree of the same structure).
            image: `(H, W, 3)` or `(N, H, W, 3)`, RGB in `[0, 1]`.
            layers: layer names (static: a different tuple compiles anew).

        Returns:
            `{layer: activation}`, each `(h, w, C)` or `(N, h, w, C)`
            matching the rank of `image`.
        """
        return self.spec.apply(params, image, layers)

    def features(self, image: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """`apply` with this backend's own parameters, compiled once per layer tuple and image shape."""
        return self._compiled_apply(self.params, jnp.asarray(image, jnp.float32), tuple(layers))

    @functools.cached_property
    def _compiled_apply(self):
        # Op-by-op Flax is ~10x slower than one compiled forward; the layer
        # tuple is static, as everywhere else.
        return jax.jit(self.apply, static_argnums=2)

    def check_layers(self, layers: Sequence[str]) -> None:
        """Raise a one-line `UnknownLayerError` naming any layer this network lacks."""
        unknown = [name for name in layers if name not in self.layer_names]
        if unknown:
            raise UnknownLayerError(
                f"{self.arch} has no layer {', '.join(unknown)}; its layers are "
                f"{', '.join(self.layer_names)}"
            )

    def describe(self, with_path: bool = True) -> str:
        """One line: network, pooling, weights (and the weights file unless `with_path=False`)."""
        return f"{self.arch} ({self.pooling} pooling), weights: {self.weights.describe(with_path)}"

    def provenance(self) -> dict:
        """What a file needs to say about the network that made it (JSON-ready)."""
        return {
            "network": {"name": self.name, "arch": self.arch, "pooling": self.pooling, "description": self.describe()},
            "weights": self.weights.to_dict(),
        }
