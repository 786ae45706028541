"""Tests for `explainer.samples`: the shipped content photo and painted styles."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import samples
from explainer.images import load_image
from explainer.samples import (
    SAMPLE_NAMES,
    SAMPLE_STYLES,
    describe_sample,
    sample_content,
    sample_path,
    sample_style,
)

# Small enough to paint quickly, large enough for strokes and tiles to form.
SIZE = 256


def _orientation_stats(image: np.ndarray, block: int = 16) -> tuple[float, float]:
    """Structure-tensor statistics of the luminance, per `block` px tile.

    Returns `(coherence, alignment)`: the median coherence (0 for isotropic
    texture, 1 for perfectly parallel lines) and how aligned the tiles'
    dominant orientations are with each other (1: all the same direction).
    """
    grey = image.mean(axis=-1)
    gy, gx = np.gradient(grey)
    rows, cols = grey.shape[0] // block, grey.shape[1] // block

    def pool(values):
        return values[: rows * block, : cols * block].reshape(rows, block, cols, block).mean(axis=(1, 3))

    jxx, jyy, jxy = pool(gx * gx), pool(gy * gy), pool(gx * gy)
    anisotropy = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
    coherence = float(np.median(anisotropy / (jxx + jyy + 1e-12)))
    doubled_angle = np.exp(1j * np.arctan2(2 * jxy, jxx - jyy))
    alignment = float(abs(doubled_angle.mean()))
    return coherence, alignment


def test_sample_content():
    image = sample_content()
    assert image.shape == (600, 512, 3)
    assert image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert image.std() > 0.1


def test_sample_content_returns_copies():
    first = sample_content()
    first[:] = 0.0
    assert sample_content().max() > 0.0


@pytest.mark.parametrize("name", SAMPLE_STYLES)
def test_style_shape_range_and_colour(name):
    image = sample_style(name, SIZE)
    assert image.shape == (SIZE, SIZE, 3)
    assert image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert (image.reshape(-1, 3).std(axis=0) > 0.05).all(), "a channel is nearly flat"


@pytest.mark.parametrize("name", SAMPLE_STYLES)
def test_style_is_deterministic(name):
    cached = sample_style(name, SIZE)
    repainted = samples._cached_style.__wrapped__(name, SIZE)  # bypasses the cache
    np.testing.assert_array_equal(cached, repainted)


def test_style_returns_copies():
    first = sample_style("mosaic", SIZE)
    first[:] = 0.0
    assert sample_style("mosaic", SIZE).max() > 0.0


def test_default_style_is_swirl_at_512():
    np.testing.assert_array_equal(sample_style(), sample_style("swirl", 512))
    assert sample_style().shape == (512, 512, 3)


def test_swirl_has_oriented_swirling_strokes():
    coherence, alignment = _orientation_stats(sample_style("swirl", SIZE))
    dots_coherence, _ = _orientation_stats(sample_style("pointillism", SIZE))
    # Strokes: strongly oriented locally, far more than isotropic dots...
    assert coherence > 0.3 > dots_coherence + 0.1
    # ...but not all one way: the flow field swirls.
    assert alignment < 0.7


def test_swirl_palette_is_night_blue_with_yellow_accents():
    image = sample_style("swirl", SIZE)
    red, green, blue = np.moveaxis(image, -1, 0)
    assert (blue > red + 0.15).mean() > 0.5  # mostly blue
    assert ((red > 0.6) & (green > 0.5) & (blue < 0.5)).mean() > 0.005  # some yellow


def test_unknown_names():
    with pytest.raises(ValueError, match="choose one of: swirl, mosaic, pointillism"):
        sample_style("starry")
    with pytest.raises(ValueError, match="grace_hopper, swirl"):
        sample_path("nope")
    with pytest.raises(ValueError, match="unknown sample 'nope'"):
        describe_sample("nope")


def test_bad_size():
    with pytest.raises(ValueError, match="at least 16"):
        sample_style("swirl", 8)


def test_sample_path_writes_loadable_png_into_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLE_EXPLAINER_CACHE", str(tmp_path))
    path = sample_path("mosaic")
    assert path.parent == tmp_path / "samples"
    assert path.suffix == ".png" and path.is_file()
    np.testing.assert_allclose(load_image(path), sample_style("mosaic"), atol=0.5 / 255 + 1e-6)

    written = path.stat().st_mtime_ns
    assert sample_path("mosaic") == path
    assert path.stat().st_mtime_ns == written  # cached, not rewritten

    content = sample_path("grace_hopper")
    np.testing.assert_allclose(load_image(content), sample_content(), atol=0.5 / 255 + 1e-6)


def test_samples_live_in_the_one_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STYLE_EXPLAINER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert samples.sample_path("swirl").parent == tmp_path / "xdg" / "style-explainer" / "samples"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty counts as unset, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert samples.sample_path("swirl").parent == tmp_path / "home" / ".cache" / "style-explainer" / "samples"


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_describe_sample(name):
    description = describe_sample(name)
    assert "\n" not in description
    assert description.split(":")[0] in (name, f"{name}.jpg")
    assert ("public domain" in description) or ("seed 0" in description)


def test_the_painters_are_the_samples_styles():
    from explainer import sample_painters

    assert tuple(sample_painters.PAINTERS) == samples.SAMPLE_STYLES
    assert samples._PAINTERS is sample_painters.PAINTERS
