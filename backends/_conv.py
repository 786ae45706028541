"""The 3x3 convolution every VGG layer uses, with a faster input gradient.

Style transfer differentiates the loss with respect to the *image*, so the
backward pass is dominated by input gradients of convolutions. XLA:CPU
lowers that gradient (a transposed convolution) to a slower kernel than its
forward convolution. For a stride-1 convolution with "SAME" padding and an
odd kernel, the input gradient *is* a forward convolution of the output
gradient with the kernel rotated by 180 degrees and its input/output
channels swapped, so we tell JAX to compute it that way. See
`benchmarks/README.md` for what it buys; `tests/test_conv.py` checks it
against JAX's own derivative.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _correlate(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DIMENSIONS)


@jax.custom_vjp
def conv2d(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """Stride-1, zero-padded ("SAME") convolution plus bias.

    Args:
        x: `(N, H, W, C_in)`.
        kernel: `(kh, kw, C_in, C_out)` with odd `kh`, `kw`.
        bias: `(C_out,)`.

    Returns:
        `(N, H, W, C_out)`.
    """
    return _correlate(x, kernel) + bias


def _conv2d_fwd(x, kernel, bias):
    return conv2d(x, kernel, bias), (x, kernel)


def _conv2d_bwd(residuals, grad_out):
    x, kernel = residuals
    # d(loss)/dx as a forward convolution: rotate the kernel 180 degrees and
    # swap its in/out channel axes (HWIO -> HWOI, read as HWIO).
    grad_x = _correlate(grad_out, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
    # The weight gradient is only needed when training the network (never in
    # style transfer, where XLA removes it as dead code); let JAX derive it.
    _, weight_vjp = jax.vjp(lambda k: _correlate(x, k), kernel)
    (grad_kernel,) = weight_vjp(grad_out)
    grad_bias = grad_out.sum(axis=(0, 1, 2))
    return grad_x, grad_kernel, grad_bias


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)
