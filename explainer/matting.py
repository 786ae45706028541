"""The matting Laplacian as an operator, and what it measures: pure maths, no files.

Levin, Lischinski & Weiss (2008) showed that if, in every 3x3 window `w_k`
of a photo `I`, a channel `V` of another image is an affine function of the
photo's colours (`V_j = a_k . I_j + b_k` for the pixels `j` of the window),
then `V^T M V = 0` for a sparse `N x N` matrix `M`, the *matting Laplacian*
of `I`; and `V^T M V` grows with how far `V` is from such a locally affine
map. Luan et al. (2017) add `sum_c V_c^T M V_c` over the colour channels of
the output to the style-transfer loss: the output may recolour the photo,
but only as a locally affine function of its colours, so edges stay where
they are and no painterly texture can appear.

`M` is never built here. Per window `k` (centred on an interior pixel) it
is `S_k^T (I_9 - P_k) S_k`, where `S_k` picks the 9 pixels of the window and

    P_k = (1/9) (1 1^T + X_k D_k^-1 X_k^T),   D_k = Sigma_k + (epsilon / 9) I_3,

with `X_k` the window's centred colours (rows `I_j - mu_k`) and `Sigma_k`
their covariance. Writing `D_k^-1 = W_k W_k^T` (from an eigendecomposition,
done once per photo in float64), the *whitened* colours
`z_kj = W_k^T (I_j - mu_k)` are all a matrix-vector product needs:

    s_k = (1/9) sum_j z_kj v_j            (what the best affine fit explains)
    t_kj = v_j - mean_k(v) - z_kj . s_k   (residual of pixel j in window k)
    (M v)_i = sum over the 9 windows k that contain i of t_ki.

That is the box-filter formulation of He, Sun & Tang (2010): O(N) time and
memory (9 x 3 whitened colours per pixel), jit-compiled, and accurate in
float32 even where `Sigma_k` is nearly singular (flat sky, a two-colour
edge), because nothing of size `1 / epsilon` is ever multiplied in float32.
It matches `pymatting.cf_laplacian(image, epsilon, radius=1)` (row-major
pixel order) to float32 precision (`tests/test_matting.py`).

Units: images are RGB in `[0, 1]` (Luan et al. scale theirs by 1/256, the
same), so `epsilon = 1e-7` is theirs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

#: Levin et al.'s and Luan et al.'s regulariser of the window covariances ([0, 1] colours).
EPSILON = 1e-7
#: The 9 offsets of a 3x3 window, row-major.
OFFSETS: tuple[tuple[int, int], ...] = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


# --------------------------------------------------------------------------- the operator


def matting_guide(image: np.ndarray, epsilon: float = EPSILON) -> dict[str, jax.Array]:
    """What the operator needs of the photo `image` (`(H, W, 3)` in `[0, 1]`): computed once, in float64.

    Returns:
        `{"z": (H, W, 9, 3), "valid": (H, W, 1)}` float32: for each window
        centre `k` and offset `o`, the whitened colour `W_k^T (I_{k+o} - mu_k)`;
        `valid` is 1 where the window lies inside the image (centres on the
        border have no window in `M`; their `z` is 0). A pytree of arrays:
        it travels into a jitted step as a target.
    """
    pixels = np.asarray(image, np.float64)
    height, width = pixels.shape[:2]
    if height < 3 or width < 3:
        raise ValueError(f"the matting Laplacian needs at least 3x3 pixels, got {height}x{width}")
    # Windows centred on interior pixels: (H-2, W-2, 9, 3) colours.
    windows = np.stack([pixels[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx] for dy, dx in OFFSETS], axis=2)
    centred = windows - windows.mean(axis=2, keepdims=True)
    covariance = np.einsum("...ja,...jb->...ab", centred, centred) / 9.0 + (epsilon / 9.0) * np.eye(3)
    values, vectors = np.linalg.eigh(covariance)
    whiten = vectors / np.sqrt(values)[..., None, :]  # D^-1 = whiten @ whiten^T
    z = np.zeros((height, width, 9, 3), np.float32)
    z[1:-1, 1:-1] = np.einsum("...ja,...ab->...jb", centred, whiten)
    valid = np.zeros((height, width, 1), np.float32)
    valid[1:-1, 1:-1] = 1.0
    return {"z": jnp.asarray(z), "valid": jnp.asarray(valid)}


def _shift(x: jax.Array, dy: int, dx: int) -> jax.Array:
    """`y[i, j] = x[i + dy, j + dx]`, zero outside the image (over the first two axes)."""
    height, width = x.shape[:2]
    padded = jnp.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2))
    return padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]


def laplacian_matvec(guide: dict, v: jax.Array) -> jax.Array:
    """`M v` for every channel of `v` (`(H, W)` or `(H, W, C)`): the matting Laplacian of the guide's photo, applied.

    O(N): two passes over the 9 offsets of a 3x3 window, no `N x N` matrix.
    """
    flat = v.ndim == 2
    v = v[..., None] if flat else v
    z, valid = guide["z"], guide["valid"]  # (H, W, 9, 3), (H, W, 1)
    around = jnp.stack([_shift(v, dy, dx) for dy, dx in OFFSETS], axis=2)  # (H, W, 9, C): v_{k+o}
    mean = around.mean(axis=2, keepdims=True)
    explained = jnp.einsum("hwoa,hwoc->hwac", z, around) / 9.0  # s_k: (H, W, 3, C)
    residual = valid[..., None] * (around - mean - jnp.einsum("hwoa,hwac->hwoc", z, explained))  # t_k(o)
    # Pixel i collects t_k(i - k) from the 9 windows k = i - o that contain it.
    out = sum(_shift(residual[:, :, n], -dy, -dx) for n, (dy, dx) in enumerate(OFFSETS))
    return out[..., 0] if flat else out


@jax.custom_vjp
def matting_energy(v: jax.Array, guide: dict) -> jax.Array:
    """`sum_c v_c^T M v_c` over the channels of `v` (`(H, W, C)`): 0 for a locally affine map of the photo.

    Its gradient is `2 M v` (M is symmetric), taken with one more product:
    the custom VJP reuses the forward's `M v`.
    """
    return jnp.sum(v * laplacian_matvec(guide, v))


def _energy_forward(v, guide):
    mv = laplacian_matvec(guide, v)
    return jnp.sum(v * mv), (mv, guide)


def _energy_backward(saved, cotangent):
    mv, guide = saved
    return 2.0 * cotangent * mv, jax.tree.map(jnp.zeros_like, guide)


matting_energy.defvjp(_energy_forward, _energy_backward)


def photo_loss(image: jax.Array, guide: dict) -> jax.Array:
    """The photorealism term of an [`ImageTerm`][explainer.losses.ImageTerm]: `sum_c V_c^T M V_c` of an RGB image."""
    return matting_energy(image, guide)


# --------------------------------------------------------------------------- measures


def residual_map(output: np.ndarray, content: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Per window (centre pixel), the output's variance that no affine map of the content's colours explains.

    `(H, W)`, summed over the output's channels; zero on the border. Its sum
    over all windows is `sum_c V_c^T M V_c / 9`.
    """
    guide = matting_guide(content, epsilon)
    return np.asarray(_residual_map(guide, jnp.asarray(output, jnp.float32)))


@jax.jit
def _residual_map(guide: dict, v: jax.Array) -> jax.Array:
    return _window_stats(guide, v)[0]


def _window_stats(guide: dict, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per window: (unexplained variance, total variance) of `v`, summed over channels."""
    z, valid = guide["z"], guide["valid"][..., 0]
    around = jnp.stack([_shift(v, dy, dx) for dy, dx in OFFSETS], axis=2)
    variance = jnp.var(around, axis=2)  # (H, W, C)
    explained = jnp.einsum("hwoa,hwoc->hwac", z, around) / 9.0
    unexplained = variance - jnp.sum(jnp.square(explained), axis=2)
    return valid * jnp.sum(unexplained, -1), valid * jnp.sum(variance, -1)


def affine_residual(output: np.ndarray, content: np.ndarray, epsilon: float = EPSILON) -> float:
    """How far `output` is from a locally affine colour map of `content`, in `[0, 1]`.

    Over all 3x3 windows, the output's variance that no affine map of the
    content's RGB explains (a ridge fit, the matting Laplacian's own),
    divided by the output's total local variance. 0: the output is a
    locally affine recolouring of the photo (edges, texture and noise all
    kept in place); a painterly result has a large share of new texture.
    Equal to `sum_c V_c^T M V_c / (9 * sum_k var_k(V))`.
    """
    if np.shape(output)[:2] != np.shape(content)[:2]:
        raise ValueError(f"output {np.shape(output)[:2]} and content {np.shape(content)[:2]} differ in size")
    guide = matting_guide(content, epsilon)
    unexplained, total = _window_stats(guide, jnp.asarray(output, jnp.float32))
    return float(jnp.sum(unexplained) / jnp.maximum(jnp.sum(total), 1e-12))


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 64, quantiles: int = 256,
                       seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance between the RGB colour distributions of two images (any sizes).

    The colours are projected on `projections` random directions (seeded);
    on each, the two 1-D distributions are compared at `quantiles` evenly
    spaced quantiles. In `[0, 1]` colour units.
    """
    directions = np.random.default_rng(seed).normal(size=(3, projections))
    directions /= np.linalg.norm(directions, axis=0)
    levels = (np.arange(quantiles) + 0.5) / quantiles
    qa, qb = (np.quantile(np.reshape(x, (-1, 3)).astype(np.float64) @ directions, levels, axis=0) for x in (a, b))
    return float(np.sqrt(np.mean(np.square(qa - qb))))


def colour_distance(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> float:
    """How much of the style's colours the output took: `SW(output, style) / SW(content, style)`.

    1: the content's own colours; 0: exactly the style's colour distribution.
    """
    return sliced_wasserstein(output, style) / max(sliced_wasserstein(content, style), 1e-12)


def photorealism(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """Both measures, as a run's record keeps them (`content` at the output's size)."""
    return {
        "affine_residual": round(affine_residual(output, content), 6),
        "colour_distance": round(colour_distance(output, content, style), 6),
        "colour_distance_content": round(sliced_wasserstein(content, style), 6),
    }


# --------------------------------------------------------------------------- post-processing


def smooth(image: np.ndarray, content: np.ndarray, strength: float = 1e-2, iterations: int = 400,
           epsilon: float = 1e-4) -> np.ndarray:
    """Locally affine smoothing: solve `(M + lambda I) x = lambda y` per channel by conjugate gradients.

    `x` minimises `x^T M x + lambda |x - y|^2`: the closest image to the
    stylised `y` that is (nearly) a locally affine map of the photo
    `content`. A smaller `strength` (lambda) is more photorealistic and
    further from `y`. M's eigenvalues lie in `[0, 9]`, so CG converges in
    about `sqrt(9 / lambda)` iterations times a few.
    """
    guide = matting_guide(content, epsilon)
    return np.clip(np.asarray(_solve(guide, jnp.asarray(image, jnp.float32), strength, iterations)), 0.0, 1.0)


@functools.partial(jax.jit, static_argnums=(3,))
def _solve(guide: dict, y: jax.Array, strength: float, iterations: int) -> jax.Array:
    operator = lambda x: laplacian_matvec(guide, x) + strength * x
    x, _ = jax.scipy.sparse.linalg.cg(operator, strength * y, x0=y, tol=1e-6, maxiter=iterations)
    return x


def box_mean(x: jax.Array, radius: int) -> jax.Array:
    """Mean over the `(2r+1)^2` window around each pixel (clipped at the border), over the first two axes."""

    def along(a, axis):
        a = jnp.moveaxis(a, axis, 0)
        padded = jnp.pad(a, [(radius, radius)] + [(0, 0)] * (a.ndim - 1))
        total = sum(padded[d:d + a.shape[0]] for d in range(2 * radius + 1))
        return jnp.moveaxis(total, 0, axis)

    ones = jnp.ones(x.shape[:2] + (1,) * (x.ndim - 2), x.dtype)
    return along(along(x, 0), 1) / along(along(ones, 0), 1)


@functools.partial(jax.jit, static_argnums=(2,))
def guided_filter(image: jax.Array, content: jax.Array, radius: int = 4, epsilon: float = 1e-3) -> jax.Array:
    """He, Sun & Tang's guided filter with a colour guide: each output channel a locally affine map of `content`.

    In every `(2r+1)^2` window `k` the output is fitted as `a_k . I + b_k`
    (ridge `epsilon`); each pixel then takes the mean of the fits of the
    windows that contain it. O(N) for any radius; one pass, no iterations.
    """
    guide = jnp.asarray(content, jnp.float32)
    p = jnp.asarray(image, jnp.float32)
    mean_i, mean_p = box_mean(guide, radius), box_mean(p, radius)
    cov_ip = box_mean(guide[..., :, None] * p[..., None, :], radius) - mean_i[..., :, None] * mean_p[..., None, :]
    var_i = box_mean(guide[..., :, None] * guide[..., None, :], radius) - mean_i[..., :, None] * mean_i[..., None, :]
    a = jnp.linalg.solve(var_i + epsilon * jnp.eye(3), cov_ip)  # (H, W, 3, C)
    b = mean_p - jnp.einsum("hwa,hwac->hwc", mean_i, a)
    return jnp.clip(jnp.einsum("hwa,hwac->hwc", guide, box_mean(a, radius)) + box_mean(b, radius), 0.0, 1.0)


def post_process(image: np.ndarray, content: np.ndarray, how: str) -> np.ndarray:
    """`how`: `"none"`, `"smooth"` ([`smooth`][explainer.matting.smooth]) or `"guided"` ([`guided_filter`][explainer.matting.guided_filter])."""
    if how == "none":
        return image
    if how == "smooth":
        return smooth(image, content)
    if how == "guided":
        return np.asarray(guided_filter(image, content))
    raise ValueError(f"unknown post-process {how!r}")
