"""What the explorer may do: its limits, its options, and where its lessons live."""

from __future__ import annotations

import dataclasses
import os
import pathlib

from explainer.config import WEIGHT_CHOICES, StyleConfig

#: The lesson behind each part of the explorer: page paths of the lessons site
#: (mkdocs, `docs_dir: lessons`), joined to `AppOptions.lessons_url`.
LESSON_LINKS: dict[str, str] = {
    "stylize": "06-optimising/",
    "inspect": "02-inside-vgg/",
    "gram": "04-style/",
    "trace": "reference/trace-format/",
    "compare": "07-choosing-layers/",
    "explorer": "10-explorer/",
    "realtime": "12-real-time/",
}
#: Where the lessons site is served, when it is not by the explorer itself.
LESSONS_URL_ENV = "STYLE_EXPLAINER_LESSONS_URL"
#: A built lessons site (`mkdocs build`'s folder) for the explorer to serve under `LESSONS_ROUTE`.
LESSONS_DIR_ENV = "STYLE_EXPLAINER_LESSONS_DIR"
LESSONS_ROUTE = "/lessons/"

MAX_UPLOAD = "20mb"
MAX_IMAGE_SIDE = 4096
MAX_QUEUE = 8
#: Runs kept on disk (results, records, traces) before the oldest is deleted.
RUNS_KEPT = 8
#: The most coarse-to-fine scales a run in the explorer may ask for.
MAX_SCALES = 4
#: The Real-time tab's budget: frames and photos are scaled down to this longest side before the network.
REALTIME_SIDE = 320

# The explorer's starting point: the library's defaults, at a size that
# streams well on a laptop CPU.
UI_DEFAULTS = StyleConfig(size=256, iterations=200)


@dataclasses.dataclass(frozen=True)
class AppOptions:
    """What `build_app(**options)` accepts.

    Attributes:
        weights_choices: the weights offered (`"auto"`, a source, `"random"`).
        default_weights: the one selected at start.
        max_size: the largest `size` a run may have (slider and Compare variants alike).
        max_iterations: the largest `iterations` a run may have.
        max_image_side: uploads with a longer side are rejected.
        concurrency_limit: runs (stylize, compare) at the same time.
        max_queue: events waiting in the queue before new ones are refused.
        lessons_url: prefix of the lesson links: `LESSONS_ROUTE` where the
            explorer serves a built site (see `built_lessons`), else
            `$STYLE_EXPLAINER_LESSONS_URL` (e.g. a published site); empty: no links work,
            and the page says how to build the lessons.
        defaults: the settings the widgets start from.
        realtime_max_side: the Real-time tab scales every frame and photo down
            to this longest side before the network (the work per frame is bounded).
        realtime_time_limit: seconds of webcam streaming per start (others may then have their turn).
        styliser_weights: the Real-time tab's networks: `"pretrained"` or `"random"` (tests).
    """

    weights_choices: tuple[str, ...] = WEIGHT_CHOICES
    default_weights: str = "auto"
    max_size: int = 1024
    max_iterations: int = 2000
    max_image_side: int = MAX_IMAGE_SIDE
    concurrency_limit: int = 1
    max_queue: int = MAX_QUEUE
    lessons_url: str = dataclasses.field(default_factory=lambda: os.environ.get(LESSONS_URL_ENV, ""))
    defaults: StyleConfig = UI_DEFAULTS
    realtime_max_side: int = REALTIME_SIDE
    realtime_time_limit: int = 120
    styliser_weights: str = "pretrained"

    def __post_init__(self):
        object.__setattr__(self, "weights_choices", tuple(self.weights_choices))
        if self.default_weights not in self.weights_choices:
            raise ValueError(f"default_weights {self.default_weights!r} is not in {self.weights_choices}")


def built_lessons() -> pathlib.Path | None:
    """The built lessons site to serve: `$STYLE_EXPLAINER_LESSONS_DIR`, else `site/` of a source checkout.

    `pip install -e ".[docs]" && mkdocs build` makes `site/`; `None` where no
    built site (a folder with an `index.html`) is found.
    """
    chosen = os.environ.get(LESSONS_DIR_ENV)
    folder = pathlib.Path(chosen) if chosen else pathlib.Path(__file__).resolve().parents[2] / "site"
    return folder if (folder / "index.html").is_file() else None


def lesson_link(key: str, text: str, base: str = "") -> str:
    """A Markdown link to the lesson behind part `key` of the explorer."""
    if base and not base.endswith("/"):
        base += "/"
    return f"[{text}]({base}{LESSON_LINKS[key]})"
