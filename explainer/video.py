"""Video: every frame stylised, without flicker (Ruder, Dosovitskiy & Brox 2016).

`style-explainer video IN STYLE... -o OUT.mp4` and
[`stylize_video`][explainer.video.stylize_video]. Frames come from a video
file (any container ffmpeg reads; imageio-ffmpeg brings its own ffmpeg) or a
folder of images, are resized to `--size`, and go through one method:

* `--method gatys`: each frame optimised, starting from the previous result
  warped by the optical flow, with Ruder et al.'s temporal term (see
  [`explainer.temporal`][explainer.temporal]) pulling it towards that warped
  result where the flow is reliable. One compiled step serves every frame.
* `--method fast`: a feed-forward network on batches of frames (spread over
  every local device), optionally blended with the warped previous result
  (`--temporal-blend`).

Every finished frame is written at once (`OUT.frames/frame_000012.png`, with
`progress.json`), so Ctrl-C or SIGTERM loses at most the frame being made,
and `--resume` continues to exactly the frames an uninterrupted run makes
(each frame starts from the *saved* 8-bit previous frame, in both cases).
At the end the frames become `OUT` with the input's frame rate and audio;
`OUT.json` holds the settings, each frame's loss terms and time, and the
flicker measure; `OUT_flicker.png` plots it per frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from explainer import images as _images
from explainer import registry, samples
from explainer.budget import check_pixels, working_shape
from explainer.config import StyleConfig, VideoSettings
from explainer.errors import BudgetError, ConfigError, ImageError, one_line
from explainer.files import write_atomically
from explainer.methods.frames import FrameContext
from explainer.video_io import (  # noqa: F401 -- the API of explainer.video
    FOLDER_FPS,
    FRAME_SUFFIXES,
    MIN_FPS,
    SAMPLE_CLIP,
    VIDEO_SUFFIXES,
    VideoError,
    VideoSource,
    encode,
    frame_file,
    frames_dir,
    is_video_path,
    open_video,
    quantize,
    read_frame,
    record_path,
    sample_clip_path,
    write_video,
)


@dataclasses.dataclass(frozen=True)
class VideoConfig(VideoSettings, StyleConfig):
    """A video run's settings: every [`StyleConfig`][explainer.StyleConfig] setting and the `video` group."""


#: The command's defaults: 256 px, 100 Adam steps per frame (the first frame too), no per-step printing.
VIDEO_DEFAULTS = VideoConfig(size=256, iterations=100, print_every=0)


def check_video_budget(source: VideoSource, config: VideoConfig) -> tuple[int, tuple[int, int]]:
    """`(frames to make, working (H, W))`, refused in one line over the pixel limits, before any work."""
    check_pixels(source.shape, config.size, config.max_megapixels, what="each frame")
    shape = working_shape(source.shape, config.size)
    frames = min(source.count, config.max_frames or source.count)
    total = frames * shape[0] * shape[1] / 1e6
    if total > config.max_video_megapixels:
        raise BudgetError(
            f"{source.path}: {frames} frames of {shape[1]}x{shape[0]} px make {total:.4g} megapixels, more than "
            f"--max-video-megapixels {config.max_video_megapixels:g}; use --max-frames, a smaller --size, or raise "
            "the limit")
    return frames, shape


# --------------------------------------------------------------------------- the run


@dataclasses.dataclass
class VideoResult:
    """What `stylize_video` made: the record (also written as JSON), where, and how it ended."""

    record: dict
    output: pathlib.Path
    frames: pathlib.Path
    interrupted: bool


def _progress(path: pathlib.Path) -> dict | None:
    """The frames folder's `progress.json` (`None` if there is none).

    Raises:
        ConfigError: it is there but cannot be read (a pipe, damaged, not this program's).
    """
    file = path / "progress.json"
    problem = _images.not_regular(file)
    if problem:
        raise ConfigError(f"{file}: {problem}; remove it")
    try:
        state = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{file}: damaged ({one_line(error)}); remove {path} to start over") from None
    if not isinstance(state, dict) or not isinstance(state.get("frames", []), list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("index"), int) for entry in state.get("frames", [])):
        raise ConfigError(f"{file}: not the progress of a 'style-explainer video' run; remove {path} to start over")
    return state


def _prepare_output(output: pathlib.Path, resume: bool, settings: dict) -> tuple[pathlib.Path, list[dict]]:
    """The frames folder, and the frames already made when resuming (refused if made with other settings)."""
    folder = frames_dir(output)
    state = _progress(folder) if folder.is_dir() else None
    if not resume:
        if (state or {}).get("frames") or (folder.is_dir() and any(folder.glob("frame_*.png"))):
            raise ConfigError(f"{folder} holds frames of an earlier run: --resume to continue it, or remove it")
        return folder, []
    if state is None:  # an interrupted run writes progress.json before its first frame
        raise ConfigError(f"--resume: nothing to resume in {folder} (no earlier run left its progress there); drop "
                          "--resume to start")
    done = state.get("frames", [])
    if state.get("settings") != settings:
        raise ConfigError(f"{folder}: its frames were made with other settings or input; --resume needs the same ones")
    done = [entry for entry in done if frame_file(folder, entry["index"]).is_file()]
    return folder, done[: next((i for i, e in enumerate(done) if e["index"] != i), len(done))]


def stylize_video(
    source: str | os.PathLike,
    styles: Sequence[Any],
    output: str | os.PathLike,
    config: VideoConfig | None = None,
    *,
    resume: bool = False,
    network: Any = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_frame: Callable[[int, np.ndarray, dict], None] | None = None,
    keep_frames: bool = False,
) -> VideoResult:
    """Stylise every frame of `source` into `output` (a video file, or a folder of PNG frames).

    Args:
        source: a video file, a folder of frames, or a sample.
        styles: style images (paths, `sample:NAME` or arrays); none for `--model multistyle:K`.
        output: `OUT.mp4` (`.mov`, `.mkv`, `.webm`, `.avi`, `.gif`) or a folder.
        config: the settings (default `VIDEO_DEFAULTS`).
        resume: continue the frames an interrupted run left in `OUT.frames/`.
        network: a ready VGG backend (gatys) or styliser (fast); by default made from the config.
        progress: a progress bar over frames.
        on_frame: called with `(index, image, entry)` after each frame is saved.
        keep_frames: keep `OUT.frames/` after the video is written (it is removed by default).

    Returns:
        A [`VideoResult`][explainer.video.VideoResult]; Ctrl-C stops after
        saving the finished frames (`interrupted` is then true; nothing is encoded).
    """
    config = config or VIDEO_DEFAULTS
    log = log or (lambda message: print(message, file=sys.stderr))
    output = pathlib.Path(output)
    video = open_video(source, config.fps)
    if is_video_path(output) and not video.fps >= MIN_FPS:  # before any work, not when encoding at the end
        rate = f"--fps {config.fps:g}" if config.fps else f"{video.path}: its frame rate {video.fps:g}"
        raise ConfigError(f"{rate} is below {MIN_FPS:g} frames per second, which ffmpeg cannot write; give --fps "
                          f"{MIN_FPS:g} or more")
    count, shape = check_video_budget(video, config)
    style_images = [s.astype(np.float32) if isinstance(s, np.ndarray) else samples.load(s) for s in styles]
    settings = {"config": config.to_dict(), "source": str(video.path), "count": count,
                "styles": [str(s) if not isinstance(s, np.ndarray) else f"array{s.shape}" for s in styles]}
    folder, done = _prepare_output(output, resume, settings)
    method = registry.get(config.method).frames(config, style_images, network, log)
    entries = list(done)
    # Before the first frame: an interrupted run's folder exists (the message names it) and --resume finds it.
    _write_progress(folder, settings, entries)
    interrupted, start = False, time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=count, initial=len(done), desc="frames", unit="frame", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        previous = read_frame(frame_file(folder, len(done) - 1)) if done else None
        first = _images.resize_to(next(video.frames()), *shape)  # the fast method's embedding is made from it
        for context, result in method.results(_contexts(video, count, shape, len(done), config), previous, first):
            entry = _finish_frame(context, result, folder, video.path, settings, entries)
            bar.update(1)
            bar.set_postfix_str(f"change {entry['change_output']:.4f}", refresh=False)
            if on_frame is not None:
                on_frame(context.index, result.image, entry)
    except KeyboardInterrupt:
        interrupted = True
    except (ImageError, ConfigError) as error:  # a bad frame, a loss that is not finite: the frames before it are
        # kept, and the record says why it stopped
        record = _record(config, video, settings, entries, method, time.perf_counter() - start, False)
        _save_record({**record, "failed": one_line(error)}, output)
        raise
    finally:
        bar.close()
    record = _record(config, video, settings, entries, method, time.perf_counter() - start, interrupted)
    _save_record(record, output)
    if not interrupted and len(entries) == count and is_video_path(output):
        encode(folder, count, output, video.fps, video.path if video.audio else None)
        if not keep_frames:
            shutil.rmtree(folder, ignore_errors=True)
    return VideoResult(record, output, folder, interrupted)


def _contexts(video: VideoSource, count: int, shape: tuple[int, int], skip: int,
              config: VideoConfig) -> Iterator[FrameContext]:
    """Each frame to make (from frame `skip` on), with the flow from the frame before it and Ruder's mask."""
    from explainer import flow

    previous: np.ndarray | None = None
    for index, frame in enumerate(video.frames()):
        if index >= count:
            break
        frame = _images.resize_to(frame, *shape)
        if index >= skip:
            if previous is None:
                yield FrameContext(index, frame, np.zeros(shape, np.float32))
            else:
                backward, forward = flow.flow_pair(previous, frame, config.flow_preset)
                yield FrameContext(index, frame, flow.consistency_mask(forward, backward), backward, previous)
        previous = frame


def _finish_frame(context, result, folder: pathlib.Path, source: pathlib.Path, settings: dict,
                  entries: list[dict]) -> dict:
    """Save the frame (atomically), measure its change from the previous one, append its entry to progress.json."""
    from explainer import temporal

    entry = {"index": context.index, "seconds": round(result.seconds, 4), "kept": round(float(context.mask.mean()), 4),
             "change_output": 0.0, "change_input": 0.0, **result.extra}
    bad = _not_finite(entry) or (None if np.isfinite(result.image).all() else ("image", float("nan")))
    if bad is not None:  # not saved: the frames before it are kept, and --resume makes it anew
        raise NonFiniteFrameError(
            f"frame {context.index}: its {bad[0]} became {bad[1]}: the weights are too large for float32 "
            f"arithmetic, or the network's weights are broken; the {context.index} frames before it are kept in "
            f"{folder} (lower the weights or --learning-rate, then run again with --resume)")
    _images.save_image(result.image, frame_file(folder, context.index))
    if context.index > 0:
        entry["change_output"] = round(temporal.frame_change(result.image, result.previous, context.backward,
                                                             context.mask), 6)
        entry["change_input"] = round(temporal.frame_change(context.frame, context.previous_frame, context.backward,
                                                            context.mask), 6)
    entries.append(entry)
    _write_progress(folder, settings, entries)
    return entry


class NonFiniteFrameError(ConfigError):
    """A frame's loss (or image) stopped being finite: the run stops, the frames before it are kept (one line)."""


def _not_finite(entry: Any, name: str = "") -> tuple[str, float] | None:
    """`(name, value)` of the first number in `entry` (nested dicts and lists too) that is NaN or infinite."""
    items = entry.items() if isinstance(entry, dict) else enumerate(entry) if isinstance(entry, (list, tuple)) else None
    if items is None:
        is_bad = isinstance(entry, (float, np.floating)) and not np.isfinite(entry)
        return (name, float(entry)) if is_bad else None
    for key, value in items:
        found = _not_finite(value, f"{name}.{key}" if name else str(key))
        if found is not None:
            return found
    return None


def _write_progress(folder: pathlib.Path, settings: dict, entries: list[dict]) -> None:
    state = {"settings": settings, "frames": entries}
    write_atomically(folder / "progress.json", json.dumps(state, allow_nan=False).encode())


def _record(config, video: VideoSource, settings: dict, entries: list[dict], method, seconds: float,
            interrupted: bool) -> dict:
    from explainer import temporal

    later = entries[1:]
    return {
        "format": "style-explainer.video",
        "version": 1,
        **method.provenance(),
        "config": config.to_dict(),
        "source": settings["source"],
        "styles": settings["styles"],
        "fps": video.fps,
        "audio": video.audio,
        "frames": settings["count"],
        "frames_done": len(entries),
        "size": list(working_shape(video.shape, config.size)),
        "wall_time_s": round(seconds, 3),
        "interrupted": interrupted,
        "failed": None,
        "flicker": temporal.flicker_summary([e["change_output"] for e in later], [e["change_input"] for e in later]),
        "per_frame": entries,
    }


def _save_record(record: dict, output: pathlib.Path) -> None:
    path = record_path(output)
    write_atomically(path, json.dumps(record, indent=1, allow_nan=False).encode())
    if len(record["per_frame"]) > 1:
        from explainer import figures

        figure = flicker_figure([record])
        figures.save(figure, path.with_name(path.stem + "_flicker.png"))
        import matplotlib.pyplot as plt

        plt.close(figure)


def flicker_figure(records: Sequence[dict], labels: Sequence[str] | None = None):
    """The flicker measure per frame of one or more video runs, with the input frames' for reference."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.2), layout="constrained")
    for record, label in zip(records, labels or [None] * len(records)):
        values = record["flicker"]["per_frame_output"]
        relative = record["flicker"]["relative"]
        name = label or f"output ({record['config']['method']})"
        axes.plot(range(1, len(values) + 1), values, label=f"{name}: {relative:.2f}x the input" if relative else name)
    inputs = records[0]["flicker"]["per_frame_input"]
    axes.plot(range(1, len(inputs) + 1), inputs, color="0.5", linestyle="--", label="input frames")
    axes.set_xlabel("frame")
    axes.set_ylabel("mean |f_t - warp(f_t-1)|")
    axes.set_title("Flicker: change from the previous frame moved by the optical flow (non-occluded pixels)",
                   fontsize=9)
    axes.legend(fontsize=8)
    return figure
