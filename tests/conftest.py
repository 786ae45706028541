"""Shared test set-up: every test gets its own empty cache, never the user's."""

from __future__ import annotations

import numpy as np
import pytest

from backends import _weights, get_backend


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("STYLE_EXPLAINER_CACHE", str(tmp_path_factory.mktemp("style-explainer-cache")))
    # What `auto` remembers within a process (failed sources, fallbacks announced) starts afresh.
    monkeypatch.setattr(_weights, "_UNAVAILABLE", {})
    monkeypatch.setattr(_weights, "_SAID", set())


@pytest.fixture(scope="module")
def backend():
    """An untrained VGG16: fast, deterministic, no download."""
    return get_backend("vgg16", weights="random")


@pytest.fixture(scope="module")
def images():
    """A tiny random (content, style) pair: 24x32 and 32x32."""
    rng = np.random.default_rng(0)
    return rng.random((24, 32, 3)).astype(np.float32), rng.random((32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def smooth_pair():
    """A smooth colour ramp as content (24x32; colour tests need structure) and a random 32x32 style."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:32] / 32.0
    content = np.stack([x, y, 0.5 * np.ones_like(x)], -1).astype(np.float32)
    return content, rng.random((32, 32, 3)).astype(np.float32)
