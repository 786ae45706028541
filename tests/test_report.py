"""The report of a recorded run: PNG figures and one self-contained index.html that names only its own folder."""

from __future__ import annotations

import html.parser
import json

import numpy as np
import pytest

from explainer import StyleConfig, stylize
from explainer.cli import main
from explainer.images import save_image
from explainer.record import RecordSpec, Trace
from explainer.report import write_report

CONFIG = StyleConfig(weights="random", size=32, iterations=4, content_layers=("relu2_1",),
                     style_layers=("relu1_1", "relu2_1"), print_every=0)
SPEC = RecordSpec(every=2)
FIGURES = {"loss_curves.png", "contribution_bars.png", "gradient_maps.png", "gram_relu1_1.png", "gram_relu2_1.png",
           "progression.png"}
CLI = ["--weights", "random", "--size", "32", "--iterations", "4", "--content-layers", "relu2_1",
       "--style-layers", "relu1_1,relu2_1", "--print-every", "0", "--quiet", "--record-every", "2"]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    return (save_image(rng.random((40, 48, 3)), folder / "content.png"),
            save_image(rng.random((32, 32, 3)), folder / "style.png"))


class Links(html.parser.HTMLParser):
    """Every `src` and `href` of a page, and whether it loads anything else (scripts, stylesheets)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.links += [value for name, value in attrs if name in ("src", "href")]


def links_of(page) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def assert_self_contained(folder):
    parser = links_of(folder / "index.html")
    assert parser.links, "the page shows no figure"
    for link in parser.links:
        assert not link.startswith(("/", "http:", "https:", "file:", "//")) and "/" not in link and "\\" not in link, link
        assert (folder / link).is_file(), f"index.html names {link}, which is not in {folder}"
    assert not parser.tags & {"script", "link", "iframe"}


def test_stylize_record_writes_the_figures_and_a_page(tmp_path, pictures, capsys):
    content, style = pictures
    trace_dir = tmp_path / "trace"
    code = main(["stylize", content, style, "-o", tmp_path / "out.png", *CLI, "--record", trace_dir])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"report: {trace_dir / 'index.html'}" in err
    names = {path.name for path in trace_dir.iterdir()}
    assert names == {"trace.json", "arrays.npz", "index.html"} | FIGURES
    assert_self_contained(trace_dir)
    assert {link for link in links_of(trace_dir / "index.html").links if link.endswith(".png")} == FIGURES
    page = (trace_dir / "index.html").read_text(encoding="utf-8")
    record = json.loads((tmp_path / "out.json").read_text())
    assert "relu1_1, relu2_1" in page and "--style-layers" in page  # the config's values, with their flags
    assert "vgg19" in page and "random weights" in page and "He-normal" in page  # network and weights
    for package, version in record["software"].items():
        assert f"{package}</th><td><code>{version}" in page
    assert "Finished 4 steps" in page and "Lesson 4" in page


def test_no_figures_leaves_only_the_trace(tmp_path, pictures, capsys):
    content, style = pictures
    code = main(["stylize", content, style, "-o", tmp_path / "out.png", *CLI, "--record", tmp_path / "t",
                 "--no-figures"])
    assert code == 0, capsys.readouterr().err
    assert {path.name for path in (tmp_path / "t").iterdir()} == {"trace.json", "arrays.npz"}
    assert "report:" not in capsys.readouterr().err


def test_an_interrupted_run_still_gets_a_report(tmp_path, pictures):
    content, style = pictures

    def stop_after_two(event):
        if event.iteration == 2:
            raise KeyboardInterrupt

    result = stylize(content, style, CONFIG, record=SPEC, progress=False, log=lambda m: None, on_step=stop_after_two)
    assert result.record["interrupted"] and result.trace.iterations == [1]
    result.trace.save(tmp_path)
    page = write_report(result.trace, result.record, tmp_path)
    assert page == tmp_path / "index.html"
    assert_self_contained(tmp_path)
    assert "Interrupted after 2 steps" in page.read_text(encoding="utf-8")
    assert {"loss_curves.png", "gradient_maps.png", "progression.png"} <= {p.name for p in tmp_path.iterdir()}


def test_a_page_with_nothing_recorded_or_no_figures(tmp_path):
    empty = Trace({"format": "style-explainer.trace", "version": 2, "layers": ["relu1_1"], "snapshots": [],
                   "config": CONFIG.to_dict()}, {})
    page = write_report(empty, {"history": [], "interrupted": True, "iterations_done": 0}, tmp_path / "a")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["index.html"]
    assert "no step was recorded" in page.read_text(encoding="utf-8")
    page = write_report(empty, None, tmp_path / "b", figures=False)
    assert "without them" in page.read_text(encoding="utf-8")


def test_text_is_escaped(tmp_path):
    trace = Trace({"format": "style-explainer.trace", "version": 2, "layers": [], "snapshots": [],
                   "content": "<script>alert(1)</script>.png", "styles": ["a&b.png"]}, {})
    text = write_report(trace, None, tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text and "a&amp;b.png" in text
