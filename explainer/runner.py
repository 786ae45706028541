"""A whole run, from files to a result: `stylize` and the record it returns.

The runner loads the images (paths, arrays or `sample:NAME`), checks the
request against its budget before any work, makes the network, drives the
method's events (progress bar, printing, intermediate images, the recorder,
a callback), fails a run whose loss stops being finite, and assembles the
[`Result`][explainer.Result] with its provenance.

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

from backends import Backend, downsampling, get_backend, layer_names
from explainer import images as _images
from explainer import photo, samples, tiling
from explainer.budget import working_shape
from explainer.config import INITS, StyleConfig
from explainer.errors import ConfigError, ImageError, Note
from explainer.events import Event, total_of_family
from explainer.files import write_atomically
from explainer.losses import ImageTerm
from explainer.optimize import finish_image, initial_image, run
from explainer.provenance import provenance
from explainer.record import Recorder, RecordSpec, Trace, network_trace
from explainer.settings import command_line, to_flags

#: 2: provenance in one shape (`software`, `network` instead of `backend`), `failed`.
RECORD_VERSION = 2
#: Methods besides gatys that `stylize` can run (each adds itself when it lands).
_METHODS_READY: tuple[str, ...] = ("fast", "photo")
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
) -> Result:
    """Run neural style transfer and return the image with a full record.

    Args:
        content: path or `(H, W, 3)` array in `[0, 1]`.
        styles: one or more paths/arrays (blended by `config.style_blend`).
        config: the run's settings (default: `StyleConfig()`).
        backend: a ready network; by default one is made from
            `config.network`, `config.weights` and `config.pooling`.
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
    if config.method != "gatys" and config.method not in _METHODS_READY:
        raise ConfigError(f"--method {config.method} is not available in this version yet")
    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if config.method == "fast":
        styliser = backend if hasattr(backend, "stylise") else None  # a loss network given is not used here
        return _stylize_fast(content, style_list, config, styliser=styliser, log=log, on_step=on_step, record=record)
    if not style_list:
        raise ConfigError("give at least one style image")
    if config.style_blend is not None and len(config.style_blend) != len(style_list):
        raise ConfigError(f"style_blend has {len(config.style_blend)} weights for {len(style_list)} style images")
    content_image = _as_image(content, "content")
    style_images = [_as_image(s, f"style {i + 1}") for i, s in enumerate(style_list)]
    _check_work(config, content_image, style_images, _describe_source(content))
    plan = photo.prepare(config, content_image, style_images)  # photo's term, the regions, the post-process
    init_image = None
    if config.init not in INITS:
        init_image = samples.load(config.init, min_side=1)  # resized to the content anyway
    backend = backend or get_backend(
        config.network, weights=config.weights, pooling=config.pooling, seed=config.seed, log=log
    )
    backend.check_layers(config.content_layers + config.style_layers)
    log(f"network: {backend.describe()}")

    recorder = Recorder(record) if record is not None else None
    tile = tiling.tile_side(config, content_image.shape)  # images larger than memory: in tiles, the same loss
    if tile is None:
        events = run(config, backend, content_image, style_images, init_image=init_image, snapshots=recorder,
                     image_terms=(*image_terms, *plan.image_terms), regions=plan.regions)
    elif recorder is not None:
        raise ConfigError("--record cannot record a tiled run (a large --size, or --tile-size) in this version")
    else:
        log(f"tiled: {tile} px tiles, each with the margin its deepest layer sees (explainer.tiling)")
        events = tiling.run_tiled(config, backend, content_image, style_images, tile=tile, init_image=init_image,
                                  image_terms=(*image_terms, *plan.image_terms), progress=progress)
    start = time.perf_counter()
    latest, history, interrupted, failure = _consume(events, config, recorder, on_step, progress, save_path)
    if latest is not None:
        image = latest.image
    else:  # no finite step: the starting image, at the final size
        scaled = _images.resize_longest(content_image, config.size)
        image = finish_image(config, initial_image(config, scaled, style_images[0], init_image), content_image)
    image, photo_record = plan.finish(image)

    run_record = {
        "format": "style-explainer.run",
        "version": RECORD_VERSION,
        **provenance(backend, config, content=_describe_source(content), styles=[_describe_source(s) for s in style_list]),
        "size": list(image.shape[:2]),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "iterations_done": len(history),
        "interrupted": interrupted,
        "failed": failure,
        **photo_record,
        "history": history,
    }
    trace = None
    if recorder is not None:
        trace = recorder.trace(**{k: run_record[k] for k in ("software", "config", "network", "weights", "content",
                                                            "styles")})
    result = Result(image=np.asarray(image, np.float32), record=run_record, trace=trace)
    if failure is not None:
        raise NonFiniteLossError(failure, result)
    return result


def _stylize_fast(content: ImageLike, style_list: list, config: StyleConfig, *, styliser: Any,
                  log: Callable[[str], None], on_step: Callable[[Event], None] | None,
                  record: RecordSpec | None) -> Result:
    """`stylize` with `config.method == "fast"`: one pass of a feed-forward network (see `explainer.fast`)."""
    from explainer import fast

    choice = fast.parse_model(config.model)
    if not choice.needs_style_images and style_list:
        warnings.warn(f"--model {config.model} has its styles built in: the style images are not used", Note,
                      stacklevel=3)
        style_list = []
    if choice.kind == "multistyle" and config.style_strength < 1.0:
        warnings.warn(f"--style-strength {config.style_strength:g} is not used by --model {config.model}: the "
                      "26-style network has no embedding of the content to move towards", Note, stacklevel=3)
    content_image = _as_image(content, "content")
    style_images = [_as_image(s, f"style {i + 1}") for i, s in enumerate(style_list)]
    tile = tiling.check_fast_run(config, content_image.shape)  # check_pixels, or a tiled run's own limit
    if styliser is None and choice.kind == "trained":
        from explainer.models import load_model

        styliser = load_model(choice.path)
    if styliser is None:
        from backends import get_styliser

        styliser = get_styliser(choice.kind, log=log)
    log(f"network: {styliser.describe()}")
    start = time.perf_counter()
    if tile is None:
        out = fast.stylize_images(styliser, choice, [content_image], style_images, config)
    else:
        log(f"tiled: {tile} px tiles sharing the instance-norm statistics of a downscaled copy (explainer.tiling)")
        out = tiling.stylize_fast_tiled(styliser, choice, content_image, style_images, config, tile)
    image = out.images[0]
    if on_step is not None:
        on_step(Event(iteration=1, scale=0, loss=0.0, terms={}, image=image))
    run_record = {
        "format": "style-explainer.run",
        "version": RECORD_VERSION,
        **provenance(styliser, config, content=_describe_source(content),
                     styles=[_describe_source(s) for s in style_list]),
        "size": list(image.shape[:2]),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "network_time_s": round(out.seconds, 4),
        "embedding": [round(float(v), 6) for v in out.embedding],
        "iterations_done": 0,
        "interrupted": False,
        "failed": None,
        "history": [],
    }
    trace = None
    if record is not None:
        trace = _fast_trace(styliser, out, content_image, config, record, run_record)
    return Result(image=image, record=run_record, trace=trace)


def _fast_trace(styliser: Any, out: Any, content: np.ndarray, config: StyleConfig, spec: RecordSpec,
                run_record: dict) -> Trace:
    """A fast run's trace: the network's activations for the content, its norms' scale and shift."""
    layers = spec.layers or styliser.layer_names
    scaled = _images.resize_longest(content, config.size)[None]
    activations = styliser.activations(scaled, out.embedding, layers)
    keys = ("software", "config", "network", "weights", "content", "styles")
    trace = network_trace(out.images[0], activations, styliser.norm_params(out.embedding), out.embedding, spec,
                          **{k: run_record[k] for k in keys if k in run_record})
    if hasattr(styliser, "norm_statistics"):  # a trained network: what each norm divided out, per channel
        for name, (mean, var) in styliser.norm_statistics(scaled).items():
            trace.arrays[f"norm_stats/{name}/mean"] = np.asarray(mean)[0]
            trace.arrays[f"norm_stats/{name}/var"] = np.asarray(var)[0]
    return trace


def _check_work(config: StyleConfig, content: np.ndarray, styles: Sequence[np.ndarray], name: str) -> None:
    """Refuse, before any work, a run over the pixel budget or too thin for its deepest layer."""
    tiling.check_run(config, content.shape, [style.shape for style in styles])  # budget.check_run when untiled
    # Names no VGG has are left to the network's own check, which lists the valid ones.
    layers = [name for name in config.content_layers + config.style_layers if name in layer_names("vgg19")]
    if not layers:
        return
    need = 2 ** max(downsampling(layer) for layer in layers)
    smallest = config.scale_sizes()[0]
    short = min(working_shape(content.shape, smallest))
    if short < need:
        deepest = max(layers, key=downsampling)
        raise ImageError(
            f"{name}: at {smallest} px on its longest side (the smallest scale) its short side is {short} px, but "
            f"{deepest} needs at least {need} px; use a larger --size, fewer --scales, or a less elongated image"
        )


def _consume(events, config: StyleConfig, recorder, on_step, progress: bool, save_path):
    """Drive a method's events: progress bar, printing, intermediate images, recorder, callback.

    Returns `(last finite event, history, interrupted, failure message or None)`.
    """
    history: list[dict] = []
    latest: Event | None = None
    interrupted, failure = False, None
    bar = _progress_bar(config.iterations * config.scales, progress)
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
