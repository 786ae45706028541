"""`stylize`: the Python API of a whole run, and the record it returns.

```python
from explainer import StyleConfig, stylize

result = stylize("photo.jpg", ["painting.jpg"], StyleConfig(size=256, iterations=300))
result.save("out.png")          # also writes out.json: config, weights, losses
```
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backends import Backend, get_backend
from explainer import images as _images
from explainer.color import keep_luminance_only
from explainer.config import StyleConfig
from explainer.optimize import Progress, run
from explainer.record import Recorder, RecordSpec, Trace

RECORD_VERSION = 1
ImageLike = str | os.PathLike | np.ndarray


@dataclasses.dataclass
class Result:
    """What a run produced.

    Attributes:
        image: the stylised image, `(H, W, 3)` float32 RGB in `[0, 1]`.
        record: a JSON-ready dict: `config`, `backend`, `weights`,
            `wall_time_s`, `interrupted`, and `history` (one entry per step:
            `iteration`, `scale`, `loss`, `content`, `style`, `tv`).
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
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
    return path


def _as_image(value: ImageLike, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.ndim != 3 or value.shape[-1] != 3:
            raise ValueError(f"{name}: expected an (H, W, 3) array, got shape {value.shape}")
        return value.astype(np.float32)
    return _images.load_image(value)


def _describe_source(value: ImageLike) -> str:
    return f"array{tuple(value.shape)}" if isinstance(value, np.ndarray) else str(value)


def stylize(
    content: ImageLike,
    styles: ImageLike | Sequence[ImageLike],
    config: StyleConfig | None = None,
    *,
    backend: Backend | None = None,
    on_step: Callable[[Progress], None] | None = None,
    progress: bool = True,
    save_path: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    record: RecordSpec | None = None,
) -> Result:
    """Run neural style transfer and return the image with a full record.

    Args:
        content: path or `(H, W, 3)` array in `[0, 1]`.
        styles: one or more paths/arrays (blended by `config.style_blend`).
        config: the run's settings (default: `StyleConfig()`).
        backend: a ready backend; by default one is made from
            `config.backend`, `config.weights` and `config.pooling`.
        on_step: called with every [`Progress`][explainer.optimize.Progress].
        progress: show a progress bar with the loss terms on stderr.
        save_path: where `config.save_every` writes intermediate images
            (`<stem>_0100.png` ...).
        log: receives one-line messages, such as which network and weights
            the run uses (default: print to stderr).
        record: if given, snapshots are recorded as it says and returned as
            `result.trace` (a [`Trace`][explainer.record.Trace]).

    Returns:
        A [`Result`][explainer.Result]. Ctrl-C stops the run early and still
        returns the latest image (`record["interrupted"]` is then true).
    """
    config = config or StyleConfig()
    log = log or (lambda message: print(message, file=sys.stderr))
    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if not style_list:
        raise ValueError("give at least one style image")
    content_image = _as_image(content, "content")
    style_images = [_as_image(s, f"style {i + 1}") for i, s in enumerate(style_list)]
    init_image = None
    if config.init not in ("content", "noise", "style"):
        init_image = _images.load_image(config.init, min_side=1)  # resized to the content anyway
    backend = backend or get_backend(
        config.backend, weights=config.weights, pooling=config.pooling, seed=config.seed, log=log
    )
    backend.check_layers(config.content_layers + config.style_layers)
    log(f"network: {backend.describe()}")

    total_steps = config.iterations * config.scales
    history: list[dict] = []
    latest: Progress | None = None
    interrupted = False
    start = time.perf_counter()
    bar = _progress_bar(total_steps, progress)
    try:
        recorder = Recorder(record) if record is not None else None
        for latest in run(config, backend, content_image, style_images, init_image=init_image, recorder=recorder):
            history.append(_history_entry(latest))
            bar.update(1)
            bar.set_postfix_str(_short_terms(latest), refresh=False)
            if config.print_every and latest.iteration % config.print_every == 0:
                bar.write(_long_terms(latest))
            if save_path and config.save_every and latest.iteration % config.save_every == 0:
                stem = pathlib.Path(save_path)
                _images.save_image(latest.image, stem.with_name(f"{stem.stem}_{latest.iteration:04d}.png"))
            if on_step is not None:
                on_step(latest)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    wall = time.perf_counter() - start

    if latest is not None:
        image = latest.image
    else:  # zero iterations: the starting image, at the final size
        from explainer.optimize import initial_image

        scaled = _images.resize_longest(content_image, config.size)
        image = initial_image(config, scaled, style_images[0], init_image)
    final_content = _images.resize_to(content_image, *image.shape[:2])
    if config.colors == "keep":
        image = keep_luminance_only(image, final_content)

    run_record = {
        "format": "style-explainer.run",
        "version": RECORD_VERSION,
        "config": config.to_dict(),
        "content": _describe_source(content),
        "styles": [_describe_source(s) for s in style_list],
        "backend": {"name": backend.name, "pooling": getattr(backend, "pooling", None), "description": backend.describe()},
        "weights": backend.weights.to_dict(),
        "size": list(image.shape[:2]),
        "wall_time_s": round(wall, 3),
        "iterations_done": len(history),
        "interrupted": interrupted,
        "history": history,
    }
    trace = None
    if recorder is not None:
        trace = recorder.trace(**{k: run_record[k] for k in ("config", "backend", "weights", "content", "styles")})
    return Result(image=np.asarray(image, np.float32), record=run_record, trace=trace)


def _history_entry(p: Progress) -> dict:
    return {"iteration": p.iteration, "scale": p.scale, "loss": p.loss, **p.terms}


def _short_terms(p: Progress) -> str:
    content = sum(p.terms["content"].values())
    style = sum(p.terms["style"].values())
    return f"loss {p.loss:.4g} content {content:.3g} style {style:.3g} tv {p.terms['tv']:.3g}"


def _long_terms(p: Progress) -> str:
    parts = [f"iter {p.iteration:5d}  total {p.loss:.5g}"]
    parts += [f"content[{k}] {v:.4g}" for k, v in p.terms["content"].items()]
    parts += [f"style[{k}] {v:.4g}" for k, v in p.terms["style"].items()]
    parts.append(f"tv {p.terms['tv']:.4g}")
    return "  ".join(parts)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="stylizing", unit="step", file=sys.stderr, disable=not enabled, dynamic_ncols=True)
