"""What the real-browser tests share: finding Chromium, serving an explorer on a free port, opening a page.

Imported by `tests/test_browser*.py` (pytest puts `tests/` on the path);
those modules skip themselves where Playwright or Chromium is missing.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
from collections.abc import Iterator, Sequence

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("STYLE_EXPLAINER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run")

#: The marks of every browser test module: slow, and skipped with the reason where Chromium is missing.
MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (or set STYLE_EXPLAINER_CHROMIUM)"),
]


@contextlib.contextmanager
def served(demo) -> Iterator[str]:
    """Launch a built explorer (`explainer.app.build_app`) on a free local port; yield its URL; close it."""
    from explainer import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(**app.launch_kwargs("127.0.0.1", port), prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextlib.contextmanager
def browser_page(timeout_ms: int, extra_args: Sequence[str] = ()) -> Iterator:
    """A Playwright page in Debian's Chromium, 1440x1000, with `timeout_ms` as its default timeout."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 1000})
            tab.set_default_timeout(timeout_ms)
            yield tab
        finally:
            browser.close()
