"""A whole run, from files to a result: `stylize` and the record it returns.

The runner is the same for every method: it loads the images (paths,
arrays or `sample:NAME`), looks the method up by name
([`explainer.methods`][explainer.methods]), lets it refuse a request over
its budget before any work, has it prepare its run, drives the run's
events (progress bar, printing, intermediate images, the recorder, a
callback), fails a run whose loss stops being finite, and assembles the
[`Result`][explainer.Result] with its provenance and the fields the method
adds.

```python
from explainer import StyleConfig, stylize

result = stylize("photo.jpg", ["painting.jpg"], StyleConfig(size=256, iterations=300))
result.save("out.png")          # also writes out.json: config, weights, losses
```
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backends import Backend
from explainer import images as _images
from explainer import registry, samples
from explainer.config import StyleConfig
from explainer.errors import ConfigError, Note
from explainer.events import Event, total_of_family
from explainer.files import write_atomically
from explainer.losses import ImageTerm
from explainer.methods import Request
from explainer.provenance import provenance
from explainer.record import Recorder, RecordSpec, Trace
from explainer.settings import command_line, to_flags

#: 2: provenance in one shape (`software`, `network` instead of `backend`), `failed`.
RECORD_VERSION = 2
ImageLike = str | os.PathLike | np.ndarray


@dataclasses.dataclass
class Result:
    """What a run produced.

    Attributes:
        image: the stylised image, `(H, W, 3)` float32 RGB in `[0, 1]`.
        record: a JSON-ready dict (strict JSON: no NaN): the provenance
            (`software`, `config`, `network`, `weights`, see
            [`explainer.provenance`][explainer.provenance]), `content`, `styles`,
            `wall_time_s`, `interrupted`, `failed` (why the run failed, or
            `None`), and `history` (one entry per step: `iteration`, `scale`,
            `loss`, and every term: `content`, `style`, `tv`).
        trace: the recorded snapshots when `stylize(..., record=...)` asked for them.
    """

    image: np.ndarray
    record: dict[str, Any]
    trace: Trace | None = None

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the image (PNG) and, beside it, the record as `<stem>.json`."""
        path = _images.save_image(self.image, path)
        save_record(self.record, path.with_suffix(".json"))
        return path


def save_record(record: dict, path: str | os.PathLike) -> pathlib.Path:
    """Write `record` as strict JSON (no NaN or Infinity), atomically: the old file or the new, never half."""
    return write_atomically(path, json.dumps(record, indent=1, allow_nan=False).encode())


def _as_image(value: ImageLike, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.ndim != 3 or value.shape[-1] != 3:
            raise ValueError(f"{name}: expected an (H, W, 3) array, got shape {value.shape}")
        return value.astype(np.float32)
    return samples.load(value)


def _describe_source(value: ImageLike) -> str:
    return f"array{tuple(value.shape)}" if isinstance(value, np.ndarray) else str(value)


class NonFiniteLossError(ConfigError):
    """The loss stopped being a finite number: the run failed. `result` holds the last finite image."""

    def __init__(self, message: str, result: Result):
        super().__init__(message)
        self.result = result


def stylize(
    content: ImageLike,
    styles: ImageLike | Sequence[ImageLike],
    config: StyleConfig | None = None,
    *,
    backend: Backend | None = None,
    on_step: Callable[[Event], None] | None = None,
    progress: bool = True,
    save_path: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    record: RecordSpec | None = None,
    image_terms: Sequence[ImageTerm] = (),
    stop: Callable[[], bool] | None = None,
) -> Result:
    """Run neural style transfer and return the image with a full record.

    Args:
        content: path or `(H, W, 3)` array in `[0, 1]`.
        styles: one or more paths/arrays (blended by `config.style_blend`).
        config: the run's settings (default: `StyleConfig()`).
        backend: a ready network for the method (a loss network, or a
            styliser for `method="fast"`); by default the method loads its
            own (e.g. from `config.network`, `config.weights`, `config.pooling`).
        on_step: called with every [`Event`][explainer.events.Event].
        progress: show a progress bar with the loss terms on stderr.
        save_path: where `config.save_every` writes intermediate images
            (`<stem>_0100.png` ...).
        log: receives one-line messages, such as which network and weights
            the run uses (default: print to stderr).
        record: if given, snapshots are recorded as it says and returned as
            `result.trace` (a [`Trace`][explainer.record.Trace]).
        image_terms: further terms of the loss on the image (see
            [`ImageTerm`][explainer.losses.ImageTerm]): summed, reported and
            recorded like the others.
        stop: asked after every step; when it returns true the run stops
            as after Ctrl-C (the explorer's Stop button: `threading.Event.is_set`).

    Returns:
        A [`Result`][explainer.Result]. Ctrl-C (and SIGTERM in the command
        line) stops the run early and still returns the latest image
        (`record["interrupted"]` is then true).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite (weights too
            large for float32, or a weights file with NaNs); the error's
            `result` holds the last finite image and the steps before.
    """
    config = config or StyleConfig()
    log = log or (lambda message: print(message, file=sys.stderr))
    method = registry.get(config.method)
    style_list = _styles_used(method, config, list(styles) if isinstance(styles, (list, tuple)) else [styles])
    content_image = _as_image(content, "content")
    style_images = tuple(_as_image(s, f"style {i + 1}") for i, s in enumerate(style_list))
    method.check(config, content_image.shape, [style.shape for style in style_images], _describe_source(content))
    recorder = Recorder(record) if record is not None else None
    run = method.prepare(Request(config, content_image, style_images, network=backend, log=log, recorder=recorder,
                                 image_terms=tuple(image_terms)))
    start = time.perf_counter()
    latest, history, interrupted, failure = _consume(run.events(), config, run.steps, recorder, on_step, progress,
                                                     save_path, stop)
    image, fields = run.finish(latest)
    run_record = {
        "format": "style-explainer.run",
        "version": RECORD_VERSION,
        **provenance(run.network, config, content=_describe_source(content),
                     styles=[_describe_source(s) for s in style_list]),
        "size": list(image.shape[:2]),
        "wall_time_s": round(time.perf_counter() - start, 3),
        **({"network_time_s": fields.pop("network_time_s")} if "network_time_s" in fields else {}),
        "iterations_done": len(history) if method.iterative else 0,
        "interrupted": interrupted,
        "failed": failure,
        **fields,
        "history": history if method.iterative else [],
    }
    trace = run.trace({key: run_record[key] for key in _TRACE_HEADER if key in run_record})
    result = Result(image=np.asarray(image, np.float32), record=run_record, trace=trace)
    if failure is not None:
        raise NonFiniteLossError(failure, result)
    return result


#: The record's keys a trace repeats (its provenance).
_TRACE_HEADER = ("software", "config", "network", "weights", "content", "styles")


def _styles_used(method: Any, config: StyleConfig, styles: list) -> list:
    """The style images the run uses: refused if it needs some and has none; a note if it has its own."""
    if not method.uses_styles(config):
        if styles:
            warnings.warn(f"--model {config.model} has its styles built in: the style images are not used", Note,
                          stacklevel=3)
        return []
    if not styles:
        raise ConfigError(method.missing_styles(config))
    if config.style_blend is not None and len(config.style_blend) != len(styles):
        raise ConfigError(f"style_blend has {len(config.style_blend)} weights for {len(styles)} style images")
    return styles


def _consume(events, config: StyleConfig, steps: int, recorder, on_step, progress: bool, save_path, stop=None):
    """Drive a method's events: progress bar, printing, intermediate images, recorder, callback.

    Returns `(last finite event, history, interrupted, failure message or None)`.
    """
    history: list[dict] = []
    latest: Event | None = None
    interrupted, failure = False, None
    bar = _progress_bar(steps, progress)
    try:
        for event in events:
            if not math.isfinite(event.loss):
                failure = (f"the loss became {event.loss} at step {event.iteration}: the weights are too large for "
                           "float32 arithmetic, or the network's weights are broken; the result is the last finite "
                           f"image (step {latest.iteration if latest else 0})")
                break
            latest = event
            history.append(event.history_entry())
            if recorder is not None:
                recorder.observe(event)
            bar.update(1)
            bar.set_postfix_str(_short_terms(event), refresh=False)
            if config.print_every and event.iteration % config.print_every == 0:
                bar.write(_long_terms(event))
            if save_path and config.save_every and event.iteration % config.save_every == 0:
                stem = pathlib.Path(save_path)
                _images.save_image(event.image, stem.with_name(f"{stem.stem}_{event.iteration:04d}.png"))
            if on_step is not None:
                on_step(event)
            if stop is not None and stop():
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        events.close()
        bar.close()
    return latest, history, interrupted, failure


def _short_terms(event: Event) -> str:
    parts = [f"loss {event.loss:.4g}"] + [f"{family} {total_of_family(v):.3g}" for family, v in event.terms.items()]
    return " ".join(parts)


def _long_terms(event: Event) -> str:
    parts = [f"iter {event.iteration:5d}  total {event.loss:.5g}"]
    for family, value in event.terms.items():
        if isinstance(value, dict):
            parts += [f"{family}[{k}] {v:.4g}" for k, v in value.items()]
        else:
            parts.append(f"{family} {value:.4g}")
    return "  ".join(parts)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="stylizing", unit="step", file=sys.stderr, disable=not enabled, dynamic_ncols=True)


def stylize_command(config: StyleConfig, content: str, styles: Sequence[str], output: str) -> str:
    """The `style-explainer stylize ...` line that reproduces `config` (only settings that differ from the defaults)."""
    return command_line(["style-explainer", "stylize", content, *styles, "-o", output, *to_flags(config)])
