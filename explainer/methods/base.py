"""What a method is: the members `stylize`, `video`, the command line and the explorer use, and nothing else.

The pattern is pystiche's (a criterion and one generic loop) with optax's
habit of passing values in: [`stylize`][explainer.stylize] loads the images,
asks the method which style images it uses, lets it refuse a request it
cannot afford, and then calls `prepare`, which returns a
[`Run`][explainer.methods.Run]: its `events()` are driven by the one loop
of the runner (progress bar, printing, saving, the recorder, the callback,
the non-finite check, Ctrl-C), and its `finish` turns the last event into
the result and the fields the method adds to the record.

A new method is one module: a class with these members, and
`explainer.registry.register(MyMethod())`. The `method` setting's choices,
`--method`, the explorer's method choice and the settings reference read
the registry, so nothing else changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from explainer.config import StyleConfig

if TYPE_CHECKING:
    from explainer.events import Event

__all__ = ["Method", "MethodBase", "Request", "Run"]


@dataclasses.dataclass(frozen=True)
class Request:
    """What `stylize` hands a method: the settings, the loaded images, and the caller's own pieces.

    Attributes:
        config: the run's settings.
        content: the content image, `(H, W, 3)` float32 in `[0, 1]`.
        styles: the style images the method uses (see `Method.uses_styles`).
        network: a ready network given by the caller (a loss network or a
            styliser), or `None`: the method loads its own.
        log: receives one-line messages (which network, tiles, ...).
        recorder: the [`Recorder`][explainer.record.Recorder] that observes the run's events when the
            caller asked for a record (its `spec` says what), or `None`.
        image_terms: further terms of the loss on the image, from the caller.
    """

    config: StyleConfig
    content: np.ndarray
    styles: tuple[np.ndarray, ...]
    network: Any = None
    log: Callable[[str], None] = print
    recorder: Any = None
    image_terms: tuple = ()


@runtime_checkable
class Run(Protocol):
    """A prepared run: the network it uses, its events, and how its last event becomes the result."""

    #: The network that makes the image (described in the record's provenance).
    network: Any
    #: How many events a whole run yields (the progress bar's length).
    steps: int

    def events(self) -> Iterator[Event]:
        """The run's steps, as [`Event`][explainer.events.Event]s (a generator: closing it stops the run)."""

    def finish(self, latest: Event | None) -> tuple[np.ndarray, dict]:
        """The result image from the last finite event (`None`: no step was finite) and the record fields it adds."""

    def trace(self, header: dict) -> Any:
        """The recorded [`Trace`][explainer.record.Trace] (`header`: the record's provenance), or `None`."""


@runtime_checkable
class Method(Protocol):
    """A way of making a stylised image, registered by `name` (see the module's text)."""

    #: The `--method` value.
    name: str
    #: One line for `--help`, the explorer and the settings reference.
    summary: str
    #: What choosing the method sets, as `((setting, value), ...)` (photo: `optimizer="lbfgs"`).
    presets: tuple[tuple[str, Any], ...]
    #: True: steps with a loss (a progress bar, a loss plot, a trace to inspect); False: one pass of a network.
    iterative: bool
    #: Whether `frames` makes a video's frames; whether `stylize_folder` takes a folder of images.
    makes_video: bool
    takes_folders: bool

    def uses_styles(self, config: StyleConfig) -> bool:
        """Whether this run takes its style from style images (False: the network has its styles built in)."""

    def missing_styles(self, config: StyleConfig) -> str:
        """The one-line error for a run that uses style images and was given none."""

    def check(self, config: StyleConfig, content_shape: tuple[int, ...], style_shapes: Sequence[tuple[int, ...]],
              name: str = "the content image") -> None:
        """Refuse, in one line and before any work, a request over its budget or one that cannot work."""

    def network_key(self, config: StyleConfig) -> tuple:
        """What identifies the network a run loads (the explorer keeps one network per key)."""

    def load_network(self, config: StyleConfig, log: Callable[[str], None]) -> Any:
        """The network a run of `config` uses, loaded."""

    def network_name(self, network: Any) -> str:
        """The network in words for a web page: no server paths."""

    def prepare(self, request: Request) -> Run:
        """Everything before the first step: the network, the targets, the terms."""

    def frames(self, config: StyleConfig, styles: Sequence[np.ndarray], network: Any,
               log: Callable[[str], None]) -> Any:
        """What makes a video's frames (see [`explainer.methods.frames`][explainer.methods.frames]); refuse in one
        line if this method makes no video."""

    def stylize_folder(self, folder: str, styles: Sequence[Any], config: StyleConfig, out: Any,
                       progress: bool) -> Any:
        """Every image of a folder into `out` (a summary with `text()` and `interrupted`); refuse in one line if
        this method does one image at a time."""


class MethodBase:
    """Defaults for the optional parts of a [`Method`][explainer.methods.Method]: no video, no folders."""

    presets: tuple[tuple[str, Any], ...] = ()
    iterative = True
    #: Whether `frames` makes a video's frames, and `stylize_folder` takes folders.
    makes_video = False
    takes_folders = False

    def uses_styles(self, config: StyleConfig) -> bool:
        return True

    def missing_styles(self, config: StyleConfig) -> str:
        return ("give at least one style image after the content (or use --method fast --model multistyle:K, whose "
                "styles are built in)")

    def network_name(self, network: Any) -> str:
        return network.describe(with_path=False)

    def frames(self, config, styles, network, log):
        from explainer.errors import ConfigError

        raise ConfigError(f"video --method {self.name}: this method makes no video (methods that do: "
                          f"{', '.join(_methods_that('makes_video'))})")

    def stylize_folder(self, folder, styles, config, out, progress):
        from explainer.errors import ConfigError

        raise ConfigError(f"--method {self.name} stylises one image: give an image file, not a folder (methods "
                          f"that take folders: {', '.join(_methods_that('takes_folders'))})")


def _methods_that(flag: str) -> list[str]:
    from explainer import registry

    return [name for name in registry.names() if getattr(registry.get(name), flag, False)]
