"""The Real-time tab in a real browser: Chromium's fake camera streams into the tab and stylised frames come back.

Needs Playwright and a Chromium, as `tests/test_browser.py` (skipped with the
reason otherwise). Chromium's fake camera (`--use-fake-device-for-media-stream`,
a moving test pattern; `--use-fake-ui-for-media-stream` grants it without a
prompt) stands in for a webcam. Random-weight stylisers, frames at 128 px.
A screenshot goes to `test-artifacts/explorer-realtime.png`.
"""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("gradio", reason="the explorer needs the ui extra: pip install 'style-explainer[ui]'")
pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")

from _browser import ARTIFACTS, MARKS, browser_page, served

from explainer import app

FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
TIMEOUT_MS = 120_000

pytestmark = MARKS


@pytest.fixture()
def explorer():
    demo = app.build_app(weights_choices=("random",), default_weights="random", styliser_weights="random",
                         realtime_max_side=128, realtime_time_limit=60)
    with served(demo) as url:
        yield url


@pytest.fixture()
def page():
    with browser_page(TIMEOUT_MS, FAKE_CAMERA) as tab:
        yield tab


def result_src(page) -> str:
    images = page.locator("#realtime-result img")
    return images.first.get_attribute("src") or "" if images.count() else ""


def frames_per_second(page) -> float:
    found = re.search(r"([\d.]+) frames/s", page.locator("#realtime-status").inner_text())
    return float(found.group(1)) if found else 0.0


def test_the_fake_camera_streams_and_stylised_frames_arrive(explorer, page):
    page.goto(explorer, wait_until="load")
    page.get_by_role("tab", name="Real-time").click()
    webcam = page.locator("#realtime-webcam")
    webcam.get_by_text("Click to Access Webcam").click()
    webcam.get_by_role("button", name="capture photo").click()  # the Record button of a streaming webcam
    page.wait_for_selector("#realtime-status :text('ms per frame')")
    page.wait_for_selector("#realtime-result img")
    first = result_src(page)
    assert first.endswith(".jpeg")  # each frame a small JPEG

    # The fake camera's pattern moves: later frames differ, and the page counts their rate.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (result_src(page) == first or frames_per_second(page) <= 0):
        page.wait_for_timeout(250)
    status = page.locator("#realtime-status").inner_text()
    assert result_src(page) != first, status
    assert frames_per_second(page) > 0, status
    assert "128x96 px" in status and "sample:swirl" in status and "random weights" in status
    print(f"real-time tab, random weights, 128x96 frames: {status.splitlines()[0]}")

    # A built-in style switches the network while the stream runs.
    page.locator("#realtime-source").get_by_text("Built-in style").click()
    page.wait_for_selector("#realtime-status :text('multistyle:0')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "explorer-realtime.png", full_page=True)
