"""Instance normalisation with its sums as matrix products, and its gradient written out.

`instance_norm(x, scale, shift)` is Ulyanov et al.'s normalisation: for
each image and channel, `x` minus its mean over height and width, divided
by the square root of its variance plus `EPSILON`, then times `scale` plus
`shift` (per channel). The numbers are those of the obvious
`jnp.mean(x, axis=(1, 2))` version (`tests/test_johnson.py` checks it against
NumPy); what differs is how XLA:CPU runs it.

Why: in NHWC the channels are the fastest-varying axis, so a mean over
height and width is a "column" reduction, which XLA:CPU runs at about
1 GB/s; in a training step of Johnson et al.'s network the normalisations'
reductions and their gradients took 300 of 730 ms (`jax.profiler`, johnson,
128 px, batch 4). The same sum written as a product with a vector of ones,
`(N, H*W, C) x (H*W,)`, runs in the CPU's matrix library at memory speed.
Left to autodiff, the gradient would bring the column reductions back
(the transpose of a broadcast is a reduction), so the gradient is written
out with the same products (the textbook formula, with `xh` the normalised
input, `g` the output's gradient and means over height and width):

    d shift = sum over images, pixels of g
    d scale = sum over images, pixels of g * xh
    d x     = scale / sqrt(var + eps) * (g - mean(g) - xh * mean(g * xh))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Added to the variance before the square root (torch's InstanceNorm2d value).
EPSILON = 1e-5


def spatial_mean(x: jax.Array) -> jax.Array:
    """`(N, H, W, C) -> (N, C)`: the mean over height and width, as a matrix-vector product."""
    n, h, w, c = x.shape
    weights = jnp.full((h * w,), 1.0 / (h * w), x.dtype)
    return jnp.einsum("nkc,k->nc", x.reshape(n, h * w, c), weights)


def statistics(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and (biased) variance per image and channel over height and width: `(N, C)` each."""
    mean = spatial_mean(x)
    return mean, spatial_mean(jnp.square(x - mean[:, None, None]))


def _normalise(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, var = statistics(x)
    inverse = jax.lax.rsqrt(var + EPSILON)
    return (x - mean[:, None, None]) * inverse[:, None, None], inverse


@jax.custom_vjp
def instance_norm(x: jax.Array, scale: jax.Array, shift: jax.Array) -> jax.Array:
    """`(N, H, W, C)`, `(C,)`, `(C,)` -> `(N, H, W, C)`: normalised per image and channel, then `* scale + shift`."""
    return _normalise(x)[0] * scale + shift


def _forward(x, scale, shift):
    normalised, inverse = _normalise(x)
    return normalised * scale + shift, (normalised, inverse, scale)


def _backward(residuals, g):
    normalised, inverse, scale = residuals
    mean_g, mean_gx = spatial_mean(g), spatial_mean(g * normalised)  # (N, C) each
    pixels = g.shape[1] * g.shape[2]
    d_shift = jnp.sum(mean_g, axis=0) * pixels
    d_scale = jnp.sum(mean_gx, axis=0) * pixels
    d_x = (inverse * scale)[:, None, None] * (g - mean_g[:, None, None] - normalised * mean_gx[:, None, None])
    return d_x, d_scale, d_shift


instance_norm.defvjp(_forward, _backward)
