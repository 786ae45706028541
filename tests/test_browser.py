"""The explorer in a real browser: upload, stylize, inspect, compare; a screenshot of each tab.

Needs Playwright (`pip install playwright`) and a Chromium: Debian's
(`apt-get install chromium`, found at `/usr/bin/chromium`) or the one named by
`$STYLE_EXPLAINER_CHROMIUM`; skipped with the reason otherwise. Playwright's
own browser download is not used.

Screenshots go to `test-artifacts/explorer-<tab>.png`. With
`STYLE_EXPLAINER_UPDATE_SCREENSHOTS=1` they are also copied to
`lessons/assets/explorer/` for the docs (so CI never changes tracked files);
`STYLE_EXPLAINER_TEST_WEIGHTS=hed` (and `STYLE_EXPLAINER_TEST_SIZE`,
`STYLE_EXPLAINER_TEST_ITERATIONS`, and `STYLE_EXPLAINER_TEST_CACHE` for a
cache folder that holds those weights) run with real weights, bigger and longer, for those.
"""

from __future__ import annotations

import os
import pathlib
import time

import pytest

pytest.importorskip("gradio", reason="the explorer needs the ui extra: pip install 'style-explainer[ui]'")
pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")

from _browser import ARTIFACTS, MARKS, ROOT, browser_page, served

from explainer import app, samples
from explainer.config import StyleConfig

DOCS_ASSETS = ROOT / "lessons" / "assets" / "explorer"
WEIGHTS = os.environ.get("STYLE_EXPLAINER_TEST_WEIGHTS", "random")
SIZE = int(os.environ.get("STYLE_EXPLAINER_TEST_SIZE", "128"))
ITERATIONS = int(os.environ.get("STYLE_EXPLAINER_TEST_ITERATIONS", "20"))
TIMEOUT_MS = 120_000 if SIZE * ITERATIONS <= 128 * 20 else 1_800_000

pytestmark = MARKS


@pytest.fixture()
def explorer(monkeypatch):
    if os.environ.get("STYLE_EXPLAINER_TEST_CACHE"):  # a cache with real weights, for the docs' screenshots
        monkeypatch.setenv("STYLE_EXPLAINER_CACHE", os.environ["STYLE_EXPLAINER_TEST_CACHE"])
    # Small and quick, with shallow layers, so the whole tour stays well under 90 s on a CPU.
    defaults = StyleConfig(weights=WEIGHTS, size=SIZE, iterations=ITERATIONS, content_layers=("relu3_1",),
                           style_layers=("relu1_1", "relu2_1", "relu3_1"))
    with served(app.build_app(weights_choices=(WEIGHTS,), default_weights=WEIGHTS, defaults=defaults)) as url:
        yield url


@pytest.fixture()
def page():
    with browser_page(TIMEOUT_MS) as tab:
        yield tab


def screenshot(page, name: str) -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"explorer-{name}.png"
    page.screenshot(path=path, full_page=True)
    if os.environ.get("STYLE_EXPLAINER_UPDATE_SCREENSHOTS") == "1":
        from PIL import Image

        DOCS_ASSETS.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as shot:  # 256 colours: a third of the size, and still crisp
            shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
                DOCS_ASSETS / f"{name}.png", optimize=True)
    return path


def set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_tour_of_the_three_tabs(explorer, page):
    started = time.perf_counter()
    lap = lambda what: print(f"{what}: {time.perf_counter() - started:.1f} s")
    page.goto(explorer, wait_until="load")
    page.wait_for_selector("#stylize-button")

    # Stylize: upload two images, run, wait for the result and its downloads.
    page.locator("#content-image input[type=file]").set_input_files(samples.sample_path("grace_hopper"))
    page.locator("#style-image input[type=file]").set_input_files(samples.sample_path("swirl"))
    page.wait_for_selector("#content-image img")
    page.wait_for_selector("#style-image img")
    page.locator("#stylize-button").click()
    page.wait_for_selector(f"#run-status :text('Finished {ITERATIONS} of {ITERATIONS} steps')")
    assert page.locator("#result-image img").count() == 1
    assert page.locator("#loss-plot img").count() >= 1
    downloads = page.locator("#downloads").inner_text()
    assert "stylized-trace" in downloads and ".zip" in downloads
    command = page.locator("#cli-command textarea").input_value()
    assert command.startswith("style-explainer stylize sample:grace_hopper sample:swirl -o stylized.png")
    screenshot(page, "stylize")
    lap("stylize")

    # Inspect: one image's channels, and the run's trace (filled in after the run).
    page.get_by_role("tab", name="Inspect").click()
    page.locator("#inspect-image input[type=file]").set_input_files(samples.sample_path("swirl"))
    page.wait_for_selector("#inspect-image img")
    page.locator("#inspect-button").click()
    page.wait_for_function("document.querySelectorAll('#feature-gallery img').length >= 16")
    page.wait_for_selector("#trace-bars img")
    screenshot(page, "inspect")
    lap("inspect")

    # Compare: two variants, tiny and short.
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-variants textarea").fill(
        "shallow: style_layers=relu1_1,relu2_1\ndeep: style_layers=relu3_1")
    set_slider(page, "compare-size", 64)
    set_slider(page, "compare-iterations", 10)
    page.locator("#compare-button").click()
    page.wait_for_selector("#compare-plot img")
    page.wait_for_selector("#compare-table :text('deep')")
    assert "shallow" in page.locator("#compare-table").inner_text()
    screenshot(page, "compare")
    lap("compare")


def test_inspect_with_the_default_settings_where_only_vgg16_weights_exist(page, monkeypatch):
    """`auto` without ImageNet VGG19 runs HED's VGG16: the page offers its layers, and Inspect works as it opens.

    HED's layout is stood in for by a random VGG16 (no download in tests): what matters is the architecture.
    """
    from backends import get_backend
    from explainer.app import state

    vgg16 = get_backend("vgg16", weights="random")
    original = state.cached_backend
    monkeypatch.setattr(state, "cached_backend", lambda config: vgg16 if config.weights == "auto" else original(config))
    demo = app.build_app(weights_choices=("auto",), default_weights="auto", defaults=StyleConfig(size=64))
    with served(demo) as url:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#network-status")
        assert "Runs: vgg16" in page.locator("#network-status").inner_text()
        offered = page.locator("#style-layers").inner_text()
        assert "relu3_3" in offered and "relu3_4" not in offered  # VGG16's layers, not VGG19's
        page.get_by_role("tab", name="Inspect").click()
        page.locator("#inspect-image input[type=file]").set_input_files(samples.sample_path("swirl"))
        page.wait_for_selector("#inspect-image img")
        page.locator("#inspect-button").click()  # the page's defaults: layer relu3_1, network as loaded
        page.wait_for_function("document.querySelectorAll('#feature-gallery img').length >= 16")
        assert "Error" not in page.locator("body").inner_text()
        screenshot(page, "inspect-vgg16")
