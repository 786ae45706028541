"""Johnson et al.'s image transformation network, in Flax, with instance or batch normalisation.

Johnson, Alahi & Fei-Fei (2016) trained one feed-forward network per style
against a *perceptual* loss (the VGG losses of Gatys et al.); Ulyanov,
Vedaldi & Lempitsky (2016) showed that replacing its batch normalisation
with *instance* normalisation is what makes such networks good. The
network, in the paper's notation:

    c9s1-32, d64, d128, R128 x 5, u64, u32, c9s1-3

* `c9s1-32`: a 9x9 convolution, stride 1, 32 channels, normalised, ReLU;
* `d64`, `d128`: 3x3 convolutions with stride 2 (downsampling), normalised, ReLU;
* `R128`: a residual block, `x + norm(conv(relu(norm(conv(x)))))`;
* `u64`, `u32`: upsampling by 2. The paper used stride-1/2 (transposed)
  convolutions, which leave checkerboard artefacts; here, as in most later
  work (Odena et al. 2016, "Deconvolution and checkerboard artifacts"), a
  nearest-neighbour resize followed by a 3x3 convolution;
* `c9s1-3`: a 9x9 convolution to RGB, no normalisation, no activation: the
  output is used as it is by the loss (as pytorch/examples does) and
  clipped to `[0, 1]` only when the network is applied.

Every convolution pads by reflection (zero padding draws dark frames).
Convolutions followed by a normalisation have no bias: the normalisation
subtracts the mean, so a bias there would do nothing (its gradient is zero
up to rounding, and Adam, which divides by the gradient's size, would move
it by the learning rate at random); for the same reason the second norm
of each residual block has a scale but no shift.
`arch="slim"` halves every width (16, 32, 64): about a quarter of the
multiply-adds, for real time on a CPU.

Normalisation (`norm`):

* `"instance"`: per image and per channel, over the image's height and
  width, the same at training and test time, no running statistics; then a
  learnt scale and shift per channel (`y = gamma (x - mu) / sqrt(var + eps) + beta`);
* `"batch"`: per channel over the batch *and* the image; running averages
  of the statistics (collection `batch_stats`) are used at test time.

Images are `(N, H, W, 3)` RGB in `[0, 1]`, any `H, W >= 5`: the input is
reflection-padded on the bottom and right to a multiple of 4 (the network
halves twice, then doubles twice) and the result cropped back.

```python
from backends import TransformSpec

spec = TransformSpec("johnson", "instance")
variables = spec.init(jax.random.key(0))          # {"params": ...} (+ "batch_stats" for batch norm)
image = spec.apply(variables, content)             # (N, H, W, 3), clipped to [0, 1]
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from backends._instance_norm import EPSILON, instance_norm
from backends._instance_norm import statistics as instance_norm_statistics

#: Channel widths `(c9s1, d1, d2 = residual width)` of each architecture.
ARCHS: dict[str, tuple[int, int, int]] = {"johnson": (32, 64, 128), "slim": (16, 32, 64)}
NORMS: tuple[str, ...] = ("instance", "batch")
#: Residual blocks of the network (`R128 x 5`; layers `res1`..`res5`).
RESIDUAL_BLOCKS = 5
#: Running averages of batch norm: `new = MOMENTUM * old + (1 - MOMENTUM) * batch`.
BATCH_NORM_MOMENTUM = 0.9
#: The smallest image side the network takes (reflection padding by 4 needs 5 pixels).
MIN_SIDE = 5


def layer_names() -> tuple[str, ...]:
    """The network's layers in order (the activations `activations` can return)."""
    residual = [f"res{r}" for r in range(1, RESIDUAL_BLOCKS + 1)]
    return ("conv1", "conv2", "conv3", *residual, "up1", "up2", "output")


def norm_layer_names() -> tuple[str, ...]:
    """The normalised layers in order: `conv1..3`, `res{r}_1`, `res{r}_2`, `up1`, `up2`."""
    residual = [f"res{r}_{i}" for r in range(1, RESIDUAL_BLOCKS + 1) for i in (1, 2)]
    return ("conv1", "conv2", "conv3", *residual, "up1", "up2")


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class InstanceNorm(nn.Module):
    """Ulyanov et al.'s instance normalisation with a learnt scale and shift per channel.

    Records the statistics it normalised by as `("norm_stats", "mean"/"var")` when
    that collection is mutable (see `TransformSpec.norm_statistics`). `shift=False`:
    no shift (where the next normalisation would subtract it anyway).
    """

    shift: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,))
        shift = (self.param("bias", nn.initializers.zeros, (channels,)) if self.shift
                 else jnp.zeros((channels,), x.dtype))
        if self.is_mutable_collection("norm_stats"):
            mean, var = instance_norm_statistics(x)
            self.sow("norm_stats", "mean", mean)
            self.sow("norm_stats", "var", var)
        return instance_norm(x, scale, shift)


class BatchNorm(nn.Module):
    """Batch normalisation: statistics over the batch and the image in training, running averages at test time."""

    shift: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,)) if self.shift else 0.0
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (channels,))
        running_var = self.variable("batch_stats", "var", jnp.ones, (channels,))
        if train:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            if not self.is_initializing():
                m = BATCH_NORM_MOMENTUM
                running_mean.value = m * running_mean.value + (1 - m) * mean
                running_var.value = m * running_var.value + (1 - m) * var
        else:
            mean, var = running_mean.value, running_var.value
        n = x.shape[0]
        self.sow("norm_stats", "mean", jnp.broadcast_to(mean, (n, channels)))
        self.sow("norm_stats", "var", jnp.broadcast_to(var, (n, channels)))
        return (x - mean) * jax.lax.rsqrt(var + EPSILON) * scale + bias


class ConvLayer(nn.Module):
    """Reflection padding then a convolution ("VALID"), optionally upsampled first (nearest, x2)."""

    features: int
    kernel: int
    stride: int = 1
    upsample: bool = False
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.upsample:
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        x = reflect_pad(x, self.kernel // 2)
        return nn.Conv(self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
                       padding="VALID", use_bias=self.use_bias, name="conv")(x)


class TransformNet(nn.Module):
    """The network on `(N, H, W, 3)` with `H, W` multiples of 4; activations are sown as `("activations", "act_" + L)`."""

    arch: str = "johnson"
    norm: str = "instance"

    def _norm(self, name: str, shift: bool = True) -> nn.Module:
        kind = InstanceNorm if self.norm == "instance" else BatchNorm
        return kind(shift, name=f"norm_{name}")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        c1, c2, c3 = ARCHS[self.arch]

        def block(x, name, features, kernel, stride=1, upsample=False):
            x = ConvLayer(features, kernel, stride, upsample, name=name)(x)
            x = nn.relu(self._norm(name)(x, train))
            self.sow("activations", f"act_{name}", x)
            return x

        x = block(x, "conv1", c1, 9)
        x = block(x, "conv2", c2, 3, 2)
        x = block(x, "conv3", c3, 3, 2)
        for r in range(1, RESIDUAL_BLOCKS + 1):
            y = ConvLayer(c3, 3, name=f"res{r}_1")(x)
            y = nn.relu(self._norm(f"res{r}_1")(y, train))
            y = ConvLayer(c3, 3, name=f"res{r}_2")(y)
            # No shift here: a constant added to the residual stream is subtracted by the next norm.
            x = x + self._norm(f"res{r}_2", shift=False)(y, train)
            self.sow("activations", f"act_res{r}", x)
        x = block(x, "up1", c2, 3, upsample=True)
        x = block(x, "up2", c1, 3, upsample=True)
        x = ConvLayer(3, 9, use_bias=True, name="output")(x)
        self.sow("activations", "act_output", x)
        return x


def _pad_to_4(content: jax.Array) -> jax.Array:
    height, width = content.shape[1:3]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the transformation network needs images of at least {MIN_SIDE} px a side, "
                         f"not {height}x{width}")
    return jnp.pad(content, ((0, 0), (0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")


@dataclasses.dataclass(frozen=True)
class TransformSpec:
    """The hashable, weightless part of a transformation network (compiled programs are keyed on it).

    Attributes:
        arch: `"johnson"` (32, 64, 128 channels) or `"slim"` (half).
        norm: `"instance"` or `"batch"`.
    """

    arch: str = "johnson"
    norm: str = "instance"

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown normalisation {self.norm!r}; choose one of {', '.join(NORMS)}")

    @property
    def module(self) -> TransformNet:
        return TransformNet(self.arch, self.norm)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return layer_names()

    @property
    def channels(self) -> tuple[int, int, int]:
        return ARCHS[self.arch]

    def init(self, key: jax.Array, side: int = 16) -> dict:
        """Fresh variables: `{"params": ...}`, plus `{"batch_stats": ...}` for batch norm (Flax's default
        initialisers: LeCun-normal kernels, zero biases, norm scale 1 and shift 0)."""
        variables = self.module.init(key, jnp.zeros((1, side, side, 3), jnp.float32))
        return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}

    def forward(self, variables: dict, content: jax.Array, train: bool = False) -> tuple[jax.Array, dict]:
        """Pure, unclipped: `(image (N, H, W, 3), new batch_stats or {})`; in training batch norm
        uses (and updates the running averages with) the batch's statistics."""
        height, width = content.shape[1:3]
        mutable = ["batch_stats"] if (train and self.norm == "batch") else []
        out, updates = self.module.apply(variables, _pad_to_4(content), train, mutable=mutable)
        return out[:, :height, :width], dict(updates).get("batch_stats", {})

    def apply(self, variables: dict, content: jax.Array) -> jax.Array:
        """Pure test-time forward: content `(N, H, W, 3)` in `[0, 1]` -> the stylised images, clipped to `[0, 1]`."""
        return jnp.clip(self.forward(variables, content)[0], 0.0, 1.0)

    def activations(self, variables: dict, content: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """`{layer: (N, h, w, C)}` at test time (content padded to a multiple of 4, not cropped)."""
        _, state = self.module.apply(variables, _pad_to_4(content), False, mutable=["activations"])
        return {name: state["activations"][f"act_{name}"][0] for name in layers}

    def norm_statistics(self, variables: dict, content: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{norm layer: (mean (N, C), var (N, C))}`: what each normalisation divided out at test time.

        With instance norm these are the image's own per-channel statistics
        (a low-contrast photo has small variances, normalised away); with
        batch norm they are the running averages, the same for every image.
        """
        _, state = self.module.apply(variables, _pad_to_4(content), False, mutable=["norm_stats"])
        stats = state["norm_stats"]
        return {name: (stats[f"norm_{name}"]["mean"][0], stats[f"norm_{name}"]["var"][0])
                for name in norm_layer_names()}

    def norm_params(self, variables: dict) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{norm layer: (scale (C,), shift (C,))}`: the learnt affine part of every normalisation."""
        params = variables["params"]
        out = {}
        for name in norm_layer_names():
            norm = params[f"norm_{name}"]
            out[name] = (norm["scale"], norm.get("bias", jnp.zeros_like(norm["scale"])))  # res{r}_2: no shift
        return out


def parameter_count(variables: dict) -> int:
    """The number of trainable weights in `variables["params"]` (batch norm's running averages not counted)."""
    return sum(int(leaf.size) for leaf in jax.tree.leaves(variables.get("params", {})))
