"""Other ways to compute VGG's 3x3 convolutions, timed against XLA:CPU's own (issue 18).

The Gatys step is almost all 3x3 convolutions: forward to relu5_1 and their
input gradients (VGG's weights are fixed, so no weight gradients). This
script asks whether a different *algorithm* for them beats XLA's
convolution on this machine, layer by layer, at the step's shapes (VGG19
on a 256 px photo by default: 256x218, halved by each pooling):

* `xla`: `lax.conv_general_dilated`, what the package uses;
* `im2col`: the 9 shifted copies side by side, one matrix product (K = 9 Cin);
* `3 dots`: per kernel row, 3 shifted copies, 3 matrix products summed (K = 3 Cin);
* `winograd`: Lavin & Gray's F(2x2, 3x3) (2016): 4x4 input tiles, 16
  batched products of (tiles x Cin) @ (Cin x Cout): 2.25x fewer
  multiplications than the direct convolution, paid for in transforms.

For each: the forward (ms), the input gradient (ms, `jax.vjp`), and the
largest relative difference from `xla` (all are float32; the check fails the
script if one is wrong). Also XLA's arithmetic rate (GFLOP/s), and with
`--bf16-dot` a large matrix product in float32 vs bfloat16 inputs with
float32 accumulation (what reduced precision could gain through a library).

    python benchmarks/conv_algorithms.py [--size 256] [--reps 7] [--bf16-dot]

Medians of `--reps` runs after a warm-up. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # sets the package's XLA flags first
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# VGG19's 3x3 convolutions up to conv5_1: (input channels, output channels, times halved before it).
VGG19_CONVS = ((64, 64, 0), (64, 128, 1), (128, 128, 1), (128, 256, 2), (256, 256, 2), (256, 512, 3),
               (512, 512, 3), (512, 512, 4))
WINOGRAD_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)


def xla(x: jax.Array, k: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _padded_shifts(x: jax.Array, rows: range, cols: range) -> list[jax.Array]:
    _, h, w, _ = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return [xp[:, i:i + h, j:j + w] for i in rows for j in cols]


def im2col(x: jax.Array, k: jax.Array) -> jax.Array:
    cols = jnp.concatenate(_padded_shifts(x, range(3), range(3)), axis=-1)
    return jnp.einsum("nhwk,ko->nhwo", cols, k.reshape(-1, k.shape[-1]))


def three_dots(x: jax.Array, k: jax.Array) -> jax.Array:
    out = 0.0
    for i in range(3):
        cols = jnp.concatenate(_padded_shifts(x, range(i, i + 1), range(3)), axis=-1)
        out = out + jnp.einsum("nhwk,ko->nhwo", cols, k[i].reshape(-1, k.shape[-1]))
    return out


def _input_transform(d0, d1, d2, d3):
    """`B^T d` along one axis of F(2x2, 3x3), B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _output_transform(m0, m1, m2, m3):
    """`A^T m` along one axis, A^T = [[1,1,1,0],[0,1,-1,-1]]."""
    return m0 + m1 + m2, m1 - m2 - m3


def winograd(x: jax.Array, k: jax.Array) -> jax.Array:
    """F(2x2, 3x3) on 4x4 tiles taken every 2 pixels of the zero-padded input."""
    n, h, w, c = x.shape
    th, tw = -(-h // 2), -(-w // 2)
    xp = jnp.pad(x, ((0, 0), (1, 1 + 2 * th - h), (1, 1 + 2 * tw - w), (0, 0)))
    rows = _input_transform(*(xp[:, a:a + 2 * th:2] for a in range(4)))
    tiles = [t for r in rows for t in _input_transform(*(r[:, :, b:b + 2 * tw:2] for b in range(4)))]
    v = jnp.stack(tiles).reshape(16, n * th * tw, c)
    u = jnp.einsum("ah,hwio,bw->abio", WINOGRAD_G, k, WINOGRAD_G).reshape(16, c, -1)
    m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,)))).reshape(4, 4, n, th, tw, -1)
    out_rows = _output_transform(*m)
    y = jnp.stack([jnp.stack(_output_transform(*r)) for r in out_rows])  # (2, 2, n, th, tw, O)
    return y.transpose(2, 3, 0, 4, 1, 5).reshape(n, 2 * th, 2 * tw, -1)[:, :h, :w]


ALGORITHMS = {"xla": xla, "im2col": im2col, "3 dots": three_dots, "winograd": winograd}


def median_ms(f, *args, reps: int) -> float:
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def layer_rows(size: int, reps: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = []
    for cin, cout, halvings in VGG19_CONVS:
        h, w = (size * 218 // 256) >> halvings, size >> halvings
        x = jnp.asarray(rng.standard_normal((1, h, w, cin), np.float32))
        k = jnp.asarray(rng.standard_normal((3, 3, cin, cout), np.float32) / np.sqrt(9 * cin))
        g = jnp.asarray(rng.standard_normal((1, h, w, cout), np.float32))
        reference = xla(x, k)
        cells = []
        for name, f in ALGORITHMS.items():
            forward = jax.jit(f)
            backward = jax.jit(lambda x, k, g, f=f: jax.vjp(lambda x: f(x, k), x)[1](g)[0])
            err = float(jnp.max(jnp.abs(forward(x, k) - reference)) / jnp.max(jnp.abs(reference)))
            if err > 1e-5:
                raise SystemExit(f"{name} differs from XLA's convolution at {h}x{w} {cin}->{cout}: {err:.1e}")
            forward_ms = median_ms(forward, x, k, reps=reps)
            cells.append(f"{forward_ms:.1f} / {median_ms(backward, x, k, g, reps=reps):.1f}")
            if name == "xla":
                rate = 2 * h * w * 9 * cin * cout / forward_ms / 1e6
        rows.append(f"| {h}x{w}, {cin}->{cout} | " + " | ".join(cells) + f" | {rate:.0f} |")
        print(rows[-1], flush=True)
    return rows


def bf16_dot(reps: int) -> str:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4096, 2304), np.float32)
    b = rng.standard_normal((2304, 512), np.float32)
    f32 = jax.jit(lambda a, b: a @ b)
    bf16 = jax.jit(lambda a, b: jnp.dot(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16),
                                        preferred_element_type=jnp.float32))
    gflop = 2 * 4096 * 2304 * 512 / 1e9
    t32, t16 = median_ms(f32, a, b, reps=reps), median_ms(bf16, a, b, reps=reps)
    return (f"(4096 x 2304) @ (2304 x 512): float32 {t32:.1f} ms ({gflop / t32 * 1000:.0f} GFLOP/s), "
            f"bfloat16 inputs {t16:.1f} ms ({gflop / t16 * 1000:.0f} GFLOP/s)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="the photo's width (height 218/256 of it)")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--bf16-dot", action="store_true", help="also time a matrix product in bfloat16")
    args = parser.parse_args(argv)
    C.print_environment(C.environment())
    print("forward / input gradient, ms (medians); XLA's forward rate in GFLOP/s\n")
    print("| layer | " + " | ".join(ALGORITHMS) + " | XLA GFLOP/s |")
    print("|---" * (len(ALGORITHMS) + 2) + "|")
    layer_rows(args.size, args.reps)
    if args.bf16_dot:
        print("\n" + bf16_dot(args.reps))


if __name__ == "__main__":
    main()
