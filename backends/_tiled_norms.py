"""The feed-forward stylisers with their instance-norm statistics given from outside: for images in tiles.

Instance normalisation divides each channel by its mean and spread *over
the whole image*. Run on tiles one by one, every tile would get its own
statistics and its own tone; with the statistics of the whole image (or of
a downscaled copy, which are nearly the same) every tile is normalised
alike and the tiles join without a visible change of tone.

Two pure functions, float activations (the int8 emulation of
`quantized=True` is not supported here):

* `norm_statistics(spec, params, content, embedding)`: `{layer: (mean,
  variance)}`, each `(N, 1, 1, C)`, of every instance-normalised layer;
* `transform_with_statistics(spec, params, content, embedding, stats)`: the
  network's image with those statistics in place of the content's own.

They follow `backends._styliser_nets` layer for layer (a test checks that
`transform_with_statistics` with the content's own statistics is the
network's own output).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from backends import _styliser_nets as nets
from backends._styliser_protocol import STYLISER_GRID, STYLISER_HALO

#: Pixels beyond a tile that the transformer's output depends on (public: `backends.STYLISER_HALO`).
HALO = STYLISER_HALO
#: Tiles and windows start on multiples of this (public: `backends.STYLISER_GRID`).
GRID = STYLISER_GRID

Norm = Callable[[str, jax.Array, jax.Array, jax.Array], jax.Array]


def _normalise(x: jax.Array, mean: jax.Array, variance: jax.Array, gamma: jax.Array, beta: jax.Array) -> jax.Array:
    inv = 1.0 / jnp.sqrt(variance + nets.EPSILON)
    mul = inv * gamma[:, None, None, :]
    return x * mul + (beta[:, None, None, :] - mean * mul)


def _moments(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    return mean, jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)


def _forward(kind: str, params: dict, content: jax.Array, embedding: jax.Array, norm: Norm) -> jax.Array:
    """Either transformer, with `norm(layer, x, gamma, beta)` wherever it normalises (float activations)."""
    if kind == "arbitrary":
        net, norms, residuals = params["transformer"], nets.arbitrary_norm_params(params["transformer"], embedding), \
            nets.ARBITRARY_RESIDUALS
    else:
        net, norms, residuals = params, nets.multistyle_norm_params(params, embedding), nets.MULTISTYLE_RESIDUALS

    def conv(name, x, pad, stride=1):
        layer = net[name]
        y = nets.conv(nets.reflect(x, pad), layer["kernel"], stride)
        return y + layer["bias"] if "bias" in layer else y

    def block(name, x, pad, stride=1):
        return norm(name, conv(name, x, pad, stride), *norms[name])

    x = content
    for i, (pad, stride) in enumerate(((4, 1), (1, 2), (1, 2)), start=1):
        name = f"contract{i}"
        x = jax.nn.relu(conv(name, x, pad, stride) if kind == "arbitrary" else block(name, x, pad, stride))
    for r in range(1, residuals + 1):
        y = jax.nn.relu(block(f"residual{r}_conv1", x, 1))
        x = x + block(f"residual{r}_conv2", y, 1)
    for i in (1, 2):
        x = jax.nn.relu(block(f"expand{i}", nets.upsample2(x), 1))
    return jax.nn.sigmoid(block("expand3", x, 4))


def norm_statistics(spec, params: dict, content: jax.Array, embedding: jax.Array) -> dict[str, tuple]:
    """`{layer: (mean, variance)}` of every instance-normalised layer for `content` `(N, H, W, 3)`, H, W multiples of 4."""
    stats: dict[str, tuple] = {}

    def record(name, x, gamma, beta):
        stats[name] = _moments(x)
        return _normalise(x, *stats[name], gamma, beta)

    _forward(spec.kind, params, content, embedding, record)
    return stats


def transform_with_statistics(spec, params: dict, content: jax.Array, embedding: jax.Array,
                              stats: dict[str, tuple]) -> jax.Array:
    """The stylised `(N, H, W, 3)` with every instance norm using `stats` (from `norm_statistics`)."""
    return _forward(spec.kind, params, content, embedding, lambda name, x, g, b: _normalise(x, *stats[name], g, b))
