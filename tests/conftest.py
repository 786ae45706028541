"""Shared test set-up: every test gets its own empty cache, never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("STYLE_EXPLAINER_CACHE", str(tmp_path_factory.mktemp("style-explainer-cache")))
