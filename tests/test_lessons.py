"""The lessons site's structure: every lesson is in the nav, links to the next one and to the API.

Whether each lesson's code runs is checked by the build itself: its snippets
execute (markdown-exec) and `mkdocs build --strict`, run by `.ci/run`, fails
on any error.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"


def nav_pages() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages: list[str] = []

    def walk(entry):
        if isinstance(entry, str):
            pages.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for item in entry:
                walk(item)

    walk(config["nav"])
    return pages


LESSON_FILES = sorted(p.name for p in LESSONS.glob("[0-9][0-9]-*.md"))


def test_every_lesson_is_in_the_nav_in_order():
    pages = nav_pages()
    lessons = [p for p in pages if re.match(r"\d\d-", p)]
    assert lessons == LESSON_FILES
    assert len(lessons) >= 15 and "reference/index.md" in pages
    assert pages.index("06b-compiled.md") == pages.index("06-optimising.md") + 1  # 6½ between 6 and 7


@pytest.mark.parametrize("name", LESSON_FILES)
def test_each_lesson_links_to_the_next_and_to_the_api(name):
    text = (LESSONS / name).read_text()
    index = LESSON_FILES.index(name)
    following = LESSON_FILES[index + 1] if index + 1 < len(LESSON_FILES) else "reference/index.md"
    assert re.search(rf"Next: \[[^\]]+\]\({re.escape(following)}\)", text), f"{name} does not link to {following}"
    assert "](reference/api.md" in text, f"{name} does not link to the API reference"
    assert text.startswith(f"# {int(name[:2])}. "), f"{name} should start with its numbered title"


@pytest.mark.parametrize("name", LESSON_FILES)
def test_each_lesson_makes_a_figure_at_build_time_and_has_exercises(name):
    text = (LESSONS / name).read_text()
    if "being written" in text:
        pytest.skip(f"{name} is still a stub")
    executed = re.findall(r'```python exec="on"[^\n]*html="1"', text)
    assert executed, f"{name} has no figure-making code block"
    assert "to_html(" in text or "<img" in text
    assert text.count('!!! question "Exercise') >= 2, f"{name} needs at least two exercises"


def test_home_page_says_how_to_run_the_code_locally():
    text = (LESSONS / "index.md").read_text()
    assert "pip install" in text and "mkdocs serve" in text
