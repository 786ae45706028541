"""Colour control (Gatys et al. 2016, "Preserving colour in neural artistic style transfer").

Two ways to keep the content photo's colours:

* **luminance-only transfer** ([`keep_luminance_only`][explainer.color.keep_luminance_only]):
  stylise as usual, then keep only the result's luminance (Y of YIQ) and put
  back the content image's chrominance (I, Q). This is neural-style's
  `-original_colors 1`.
* **colour matching** ([`match_colors`][explainer.color.match_colors]): before
  transfer, give the style image the content image's colour statistics (the
  mean and covariance of its RGB pixels), so the style contributes texture
  but not palette.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ: Y is luminance, I and Q carry colour.
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float64) @ _RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float64) @ _YIQ_TO_RGB.T


def keep_luminance_only(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's chrominance (same shape), clipped to `[0, 1]`."""
    if result.shape != content.shape:
        raise ValueError(f"shapes differ: result {result.shape}, content {content.shape}")
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(result)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0).astype(np.float32)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 1e-8, None)
    power = -0.5 if inverse else 0.5
    return (vectors * values**power) @ vectors.T


def match_colors(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Recolour `source` so its RGB mean and covariance equal `reference`'s.

    A linear map `x -> A (x - mu_s) + mu_r` with `A = C_r^(1/2) C_s^(-1/2)`
    (symmetric square roots): the "image analogies" colour transfer used by
    Gatys et al. 2016. The statistics match exactly before the result is
    clipped to `[0, 1]`; clipping pulls saturated colours back in.
    """
    src = np.asarray(source, np.float64).reshape(-1, 3)
    ref = np.asarray(reference, np.float64).reshape(-1, 3)
    mu_s, mu_r = src.mean(0), ref.mean(0)
    cov_s = np.cov(src, rowvar=False) + 1e-5 * np.eye(3)
    cov_r = np.cov(ref, rowvar=False) + 1e-5 * np.eye(3)
    transform = _sqrtm(cov_r) @ _sqrtm(cov_s, inverse=True)
    out = (src - mu_s) @ transform.T + mu_r
    return np.clip(out, 0.0, 1.0).reshape(source.shape).astype(np.float32)
