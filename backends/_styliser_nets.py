"""The three pretrained feed-forward style networks as pure JAX functions.

Each network is a plain function of a parameter pytree (NumPy/JAX arrays,
convolution kernels HWIO, images NHWC in `[0, 1]`), jit-friendly and written
layer by layer in the order of the original graphs:

* `predict_style` -- Magenta's style prediction network (Ghiasi et al. 2017):
  a MobileNetV2 (17 inverted-residual blocks) averaged over space, then a
  1x1 convolution to the 100-d style embedding.
* `arbitrary_transform` -- Magenta's transformer: three convolutions
  (9x9, 3x3/2, 3x3/2) with ReLU, five residual blocks and three upsampling
  convolutions with *conditional instance normalisation*: every normalised
  layer's scale `gamma` and shift `beta` are 1x1 convolutions of the style
  embedding. Reflection padding; nearest-neighbour upsampling then a
  convolution; a sigmoid at the end.
* `multistyle_transform` -- Dumoulin et al. 2017: the same shape of network
  with conditional instance normalisation everywhere, where `gamma` and
  `beta` of a layer are the style weights (26) times a table of 26 rows.

The two arbitrary-style files are int8 networks (TFLite) in
quantize-dequantize form: every activation is rounded to an 8-bit grid. These
functions take a `q(x, name)` callable applied wherever the original graph
quantizes the tensor `name`: `no_quant` (the identity, the default: float
activations) or `fake_quant(table)` (the exact emulation of the int8 graph).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from jax import lax

Quant = Callable[[jax.Array, str], jax.Array]

#: Instance-norm epsilon of both networks (1e-5 in the graphs).
EPSILON = 1e-5

#: MobileNetV2's inverted-residual blocks: (expansion, output channels, stride).
MOBILENET_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1),
    (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)

ARBITRARY_RESIDUALS = 5
MULTISTYLE_RESIDUALS = 6


def no_quant(x: jax.Array, name: str) -> jax.Array:
    """Float activations: the identity."""
    return x


def fake_quant(table: Mapping[str, tuple[float, int]]) -> Quant:
    """`q(x, name)`: quantize to int8 and back with `name`'s (scale, zero point), as QuantizeLinear +
    DequantizeLinear do (round half to even, saturate to [-128, 127])."""

    def q(x: jax.Array, name: str) -> jax.Array:
        scale, zero = table[name]
        s = jnp.float32(scale)
        level = jnp.clip(jnp.round(x / s) + zero, -128, 127)
        return (level - zero) * s

    return q


# --------------------------------------------------------------------------- building blocks


def conv(x: jax.Array, kernel: jax.Array, stride: int = 1, padding: str = "VALID", groups: int = 1) -> jax.Array:
    """NHWC x HWIO convolution (`padding` "VALID" or TensorFlow's "SAME")."""
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )


def reflect(x: jax.Array, pad: int) -> jax.Array:
    """Reflection padding of H and W (the edge pixel is not repeated)."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def upsample2(x: jax.Array) -> jax.Array:
    """Nearest-neighbour upsampling by 2 (each pixel becomes a 2x2 block)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def conditional_instance_norm(
    x: jax.Array, gamma: jax.Array, beta: jax.Array, q: Quant = no_quant, name: str = ""
) -> jax.Array:
    """`(x - mean) / sqrt(var + eps) * gamma + beta` per sample and channel, over H and W.

    `gamma`, `beta`: `(N, C)`, the style's scale and shift. Written as the
    TensorFlow graph computes it (`batchnorm/mul = rsqrt * gamma`, `mul_1 =
    x * mul`, `sub = beta - mean * mul`, `mul_1 + sub`) so that `q` can
    round each intermediate where the int8 graph does. Returns the
    pre-activation (`add_1`, not yet quantized).
    """
    moments, norm = f"{name}/StyleNorm/moments", f"{name}/StyleNorm/batchnorm"
    mean = q(jnp.mean(x, axis=(1, 2), keepdims=True), f"{moments}/mean")
    squared = q(jnp.square(x - mean), f"{moments}/SquaredDifference")
    variance = q(jnp.mean(squared, axis=(1, 2), keepdims=True), f"{moments}/variance")
    inv = q(1.0 / jnp.sqrt(q(variance + EPSILON, f"{norm}/add")), f"{norm}/Rsqrt")
    mul = q(inv * gamma[:, None, None, :], f"{norm}/mul")
    shift = q(beta[:, None, None, :] - q(mean * mul, f"{norm}/mul_2"), f"{norm}/sub")
    return q(x * mul, f"{norm}/mul_1") + shift


# --------------------------------------------------------------------------- style predictor


def predict_style(params: dict, style: jax.Array, q: Quant = no_quant) -> jax.Array:
    """Style images `(N, H, W, 3)` in `[0, 1]` (256x256 as trained) -> embeddings `(N, 100)`."""
    relu6 = lambda v: jnp.clip(v, 0.0, 6.0)
    x = q(style, "style_image")
    layer = params["conv"]
    x = q(relu6(conv(x, layer["kernel"], 2, "SAME") + layer["bias"]), "MobilenetV2/Conv/Relu6")
    for index, (expansion, _, stride) in enumerate(MOBILENET_BLOCKS):
        x = _inverted_residual(params, index, expansion, stride, x, q, relu6)
    layer = params["conv_1"]
    x = q(relu6(conv(x, layer["kernel"]) + layer["bias"]), "MobilenetV2/Conv_1/Relu6")
    x = q(jnp.mean(x, axis=(1, 2), keepdims=True), "bottleneck/Mean")
    layer = params["bottleneck"]
    x = q(conv(x, layer["kernel"]) + layer["bias"], "mobilenet_conv/Conv/BiasAdd")
    return x[:, 0, 0, :]


def _inverted_residual(params, index, expansion, stride, x, q, relu6):
    prefix = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
    inputs = x
    if expansion != 1:
        layer = params[f"block{index}_expand"]
        x = q(relu6(conv(x, layer["kernel"]) + layer["bias"]), f"{prefix}/expand/Relu6")
    layer = params[f"block{index}_depthwise"]
    x = conv(x, layer["kernel"], stride, "SAME", groups=x.shape[-1]) + layer["bias"]
    x = q(relu6(x), f"{prefix}/depthwise/Relu6")
    layer = params[f"block{index}_project"]
    x = q(conv(x, layer["kernel"]) + layer["bias"], f"{prefix}/project/BatchNorm/FusedBatchNormV3")
    if stride == 1 and inputs.shape[-1] == x.shape[-1]:
        x = q(x + inputs, f"{prefix}/add")
    return x


# --------------------------------------------------------------------------- arbitrary-style transformer


def arbitrary_layer_names() -> tuple[str, ...]:
    """The transformer's layers in order (each name is an activation `activations` can return)."""
    return _layer_names(ARBITRARY_RESIDUALS)


def multistyle_layer_names() -> tuple[str, ...]:
    return _layer_names(MULTISTYLE_RESIDUALS)


def _layer_names(residuals: int) -> tuple[str, ...]:
    names = ["contract1", "contract2", "contract3"]
    for r in range(1, residuals + 1):
        names += [f"residual{r}_conv1", f"residual{r}_conv2", f"residual{r}"]
    return (*names, "expand1", "expand2", "expand3", "output")


def arbitrary_norm_layers() -> tuple[str, ...]:
    """The layers with conditional instance normalisation (the style's scale and shift)."""
    residual = [f"residual{r}_conv{c}" for r in range(1, ARBITRARY_RESIDUALS + 1) for c in (1, 2)]
    return (*residual, "expand1", "expand2", "expand3")


def arbitrary_scope(layer: str) -> str:
    """Our layer name -> its TensorFlow scope in the arbitrary transformer's graph."""
    if layer.startswith("contract"):
        return f"transformer/contract/conv{layer[-1]}"
    if layer.startswith("residual"):
        block, conv_ = layer.split("_")
        return f"transformer/residual/{block}/{conv_}"
    return f"transformer/expand/conv{layer[-1]}/conv"


def arbitrary_norm_params(params: dict, embedding: jax.Array, q: Quant = no_quant) -> dict[str, tuple]:
    """`{layer: (gamma (N, C), beta (N, C))}`: the conditional instance norm's scale and shift for a style."""
    e = q(embedding, "mobilenet_conv/Conv/BiasAdd")
    out = {}
    for layer in arbitrary_norm_layers():
        p, scope = params[layer], f"style_params/{arbitrary_scope(layer)}/StyleNorm"
        gamma = q(e @ p["gamma_kernel"] + p["gamma_bias"], f"{scope}/Conv_1/BiasAdd")
        beta = q(e @ p["beta_kernel"] + p["beta_bias"], f"{scope}/Conv/BiasAdd")
        out[layer] = (gamma, beta)
    return out


def arbitrary_transform(
    params: dict, content: jax.Array, embedding: jax.Array, q: Quant = no_quant, layers: tuple[str, ...] = ()
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Content `(N, H, W, 3)` in `[0, 1]` (H, W multiples of 4) and embeddings `(N, 100)` -> `(image, {layer: act})`."""
    norms = arbitrary_norm_params(params, embedding, q)
    acts: dict[str, jax.Array] = {}
    keep = lambda name, v: acts.__setitem__(name, v) if name in layers else None
    x = q(content, "transformer/contract/MirrorPad")
    for i, (pad, stride) in enumerate(((4, 1), (1, 2), (1, 2)), start=1):
        layer = params[f"contract{i}"]
        x = conv(reflect(x, pad), layer["kernel"], stride) + layer["bias"]
        x = q(jax.nn.relu(x), f"transformer/contract/conv{i}/Relu")
        keep(f"contract{i}", x)
    for r in range(1, ARBITRARY_RESIDUALS + 1):
        scope = f"transformer/residual/residual{r}"
        y = _cin_conv(params, norms, f"residual{r}_conv1", x, 1, q)
        y = q(jax.nn.relu(y), f"{scope}/conv1/Relu")
        keep(f"residual{r}_conv1", y)
        y = q(_cin_conv(params, norms, f"residual{r}_conv2", y, 1, q), f"{scope}/conv2/StyleNorm/batchnorm/add_1")
        keep(f"residual{r}_conv2", y)
        x = q(x + y, f"{scope}/add")
        keep(f"residual{r}", x)
    for i in (1, 2):
        x = _cin_conv(params, norms, f"expand{i}", upsample2(x), 1, q)
        x = q(jax.nn.relu(x), f"transformer/expand/conv{i}/conv/Relu")
        keep(f"expand{i}", x)
    x = q(_cin_conv(params, norms, "expand3", x, 4, q), "transformer/expand/conv3/conv/StyleNorm/batchnorm/add_1")
    keep("expand3", x)
    x = q(jax.nn.sigmoid(x), "transformer/expand/conv3/conv/Sigmoid")
    keep("output", x)
    return x, acts


def _cin_conv(params, norms, layer, x, pad, q):
    """Reflection pad, convolve, quantize, conditional instance norm (pre-activation)."""
    p, scope = params[layer], arbitrary_scope(layer)
    x = q(conv(reflect(x, pad), p["kernel"]) + p["bias"], f"{scope}/Conv2D")
    gamma, beta = norms[layer]
    return conditional_instance_norm(x, gamma, beta, q, scope)


# --------------------------------------------------------------------------- multistyle (Dumoulin et al.)


def multistyle_norm_params(params: dict, weights: jax.Array) -> dict[str, tuple]:
    """`{layer: (gamma (N, C), beta (N, C))}` for style weights `(N, 26)`: the weighted sums of the tables' rows."""
    return {
        layer: (weights @ p["gamma"], weights @ p["beta"])
        for layer, p in params.items()
    }


def multistyle_transform(
    params: dict, content: jax.Array, weights: jax.Array, layers: tuple[str, ...] = ()
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Content `(N, H, W, 3)` in `[0, 1]` (H, W multiples of 4), style weights `(N, 26)` -> `(image, {layer: act})`."""
    norms = multistyle_norm_params(params, weights)
    acts: dict[str, jax.Array] = {}
    keep = lambda name, v: acts.__setitem__(name, v) if name in layers else None

    def block(name, v, pad, stride=1):
        v = conv(reflect(v, pad), params[name]["kernel"], stride)
        return conditional_instance_norm(v, *norms[name])

    x = content
    for i, (pad, stride) in enumerate(((4, 1), (1, 2), (1, 2)), start=1):
        x = jax.nn.relu(block(f"contract{i}", x, pad, stride))
        keep(f"contract{i}", x)
    for r in range(1, MULTISTYLE_RESIDUALS + 1):
        y = jax.nn.relu(block(f"residual{r}_conv1", x, 1))
        keep(f"residual{r}_conv1", y)
        y = block(f"residual{r}_conv2", y, 1)
        keep(f"residual{r}_conv2", y)
        x = x + y
        keep(f"residual{r}", x)
    for i in (1, 2):
        x = jax.nn.relu(block(f"expand{i}", upsample2(x), 1))
        keep(f"expand{i}", x)
    x = block("expand3", x, 4)
    keep("expand3", x)
    x = jax.nn.sigmoid(x)
    keep("output", x)
    return x, acts
