"""Video files and folders of frames: reading, writing, the sample clip (for [`explainer.video`][explainer.video]).

Video files go through imageio-ffmpeg, whose wheel brings its own ffmpeg
binary (`pip install 'style-explainer[video]'`): any container and codec
ffmpeg reads; out as MP4 (H.264), MOV, MKV, WebM (VP9), AVI or GIF, with the
frame rate asked for and the sound of another file. A folder of frames is
read in name order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np
from PIL import Image

from explainer import images as _images
from explainer import samples
from explainer.errors import ConfigError, ImageError, one_line

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
FRAME_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_CODECS = {".webm": ("libvpx-vp9", "libopus"), ".avi": ("mpeg4", "mp3"), ".gif": ("gif", None)}
#: Frame rate of a folder of frames when `--fps` does not say.
FOLDER_FPS = 24.0
#: The slowest frame rate a video file is written at (one frame every 100 s); ffmpeg cannot write rates near 0.
MIN_FPS = 0.01


class VideoError(ImageError):
    """ffmpeg could not read or write a video: one line, the file and ffmpeg's reason (not its banner)."""


def ffmpeg_reason(text: str, limit: int = 160) -> str:
    """ffmpeg's own reason from what it printed: its last lines that are not the banner, the build or the command."""
    lines = []
    for raw in str(text).splitlines():
        line = raw.strip()
        if (not line or re.match(r"lib\w+\s+\d+\.", line) or line.startswith((
                "ffmpeg version", "built with", "configuration:", "Copyright", "===", "FFMPEG", "Could not load meta",
                "Input #", "Duration:", "Stream #", "Metadata:")) or line.startswith("/") and " -i " in line):
            continue
        lines.append(re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", line))
    # "Error opening output file PATH." only repeats the file our message names: the cause is the line after it.
    lines = [line for line in lines if not re.match(r"Error opening (in|out)put file ", line)] or lines
    reason = "; ".join(dict.fromkeys(lines[-2:])) or "no reason given"
    return reason if len(reason) <= limit else "..." + reason[3 - limit:]  # the end holds the cause


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class VideoSource:
    """A video file or a folder of frames: its frames, their rate, their count, and whether it has sound."""

    path: pathlib.Path
    fps: float
    count: int
    shape: tuple[int, int]
    audio: bool = False
    files: tuple[pathlib.Path, ...] = ()

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame, `(H, W, 3)` float32 in `[0, 1]`; a frame that cannot be read raises `ImageError` with its index."""
        if self.files:
            for index, file in enumerate(self.files):
                try:
                    yield _images.load_image(file)
                except ImageError as error:
                    raise ImageError(f"{self.path}: frame {index} ({file.name}): {one_line(error)}") from None
            return
        import imageio_ffmpeg

        width, height = self.shape[1], self.shape[0]
        reader = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        index = 0
        try:
            with _quiet_fork():
                next(reader)  # starts ffmpeg; the metadata
            for data in reader:
                if len(data) != width * height * 3:
                    raise ImageError(f"{self.path}: frame {index}: {len(data)} bytes where {width}x{height} RGB needs "
                                     f"{width * height * 3}")
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3).astype(np.float32) / np.float32(255.0)
                index += 1
        except (OSError, RuntimeError) as error:
            raise VideoError(f"{self.path}: frame {index} cannot be decoded: {ffmpeg_reason(str(error))}") from None
        finally:
            reader.close()


#: The sample clip's name: a 5 s pan and zoom over the sample photo (see `explainer.temporal.camera_move`).
SAMPLE_CLIP = "sample:camera_move"


def sample_clip_path() -> pathlib.Path:
    """The sample clip as an MP4 file (256x144, 24 fps, 5 s), rendered into the cache on first use."""
    from backends import cache_dir

    path = cache_dir() / "samples" / "camera_move-v1.mp4"
    if not path.is_file():
        from explainer import temporal

        clip = temporal.camera_move()
        write_video(clip.frames, path, clip.fps)
    return path


def write_video(frames: Sequence[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: float) -> pathlib.Path:
    """Frames `(H, W, 3)` in `[0, 1]` as a video file (written atomically); a folder path gets PNG frames."""
    path = pathlib.Path(path)
    if not is_video_path(path):
        for index, frame in enumerate(frames):
            _images.save_image(frame, frame_file(path, index))
        return path
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for index, frame in enumerate(frames):
            _images.save_image(frame, frame_file(pathlib.Path(folder), index))
        path.parent.mkdir(parents=True, exist_ok=True)
        encode(pathlib.Path(folder), len(frames), path, fps, None)
    return path


def open_video(path: str | os.PathLike, fps: float | None = None) -> VideoSource:
    """Look at a video file or a folder of frames without decoding it all (one-line `ImageError` if unreadable).

    `sample:camera_move` is the sample clip (see [`sample_clip_path`][explainer.video.sample_clip_path]).
    """
    path = sample_clip_path() if str(path) == SAMPLE_CLIP else pathlib.Path(samples.resolve(str(path)))
    if path.is_dir():
        files = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")))
        if not files:
            raise ImageError(f"{path}: no frames ({', '.join(FRAME_SUFFIXES)}) in this folder")
        shape = _images.image_shape(files[0])
        if shape is None:
            raise ImageError(f"{path}: frame 0 ({files[0].name}) cannot be read")
        return VideoSource(path, float(fps or FOLDER_FPS), len(files), tuple(shape[:2]), files=files)
    problem = _images.not_regular(path)
    if problem:
        raise ImageError(f"{path}: {problem}; give a video file or a folder of frames")
    if not path.is_file():
        raise ImageError(f"{path}: no such file or folder")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ConfigError("video files need imageio-ffmpeg: pip install 'style-explainer[video]'") from None
    try:
        with _quiet_fork():
            reader = imageio_ffmpeg.read_frames(str(path))
            meta = next(reader)
            reader.close()
            count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, StopIteration) as error:
        raise VideoError(f"{path}: not a video ffmpeg can read ({ffmpeg_reason(str(error))})") from None
    width, height = meta["size"]
    return VideoSource(path, float(fps or meta.get("fps") or FOLDER_FPS), int(count), (int(height), int(width)),
                       audio=bool(meta.get("audio_codec")))


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _quiet_fork():
    """ffmpeg runs as a child process: JAX's warning about fork does not apply to a fork that execs at once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield


def is_video_path(path: str | os.PathLike) -> bool:
    return pathlib.Path(path).suffix.lower() in VIDEO_SUFFIXES


def frames_dir(output: pathlib.Path) -> pathlib.Path:
    """Where the frames go: the output itself when it is a folder, else `OUT.frames/` beside it."""
    return output.with_name(output.name + ".frames") if is_video_path(output) else output


def record_path(output: pathlib.Path) -> pathlib.Path:
    return output.with_suffix(".json") if is_video_path(output) else output / "video.json"


def frame_file(folder: pathlib.Path, index: int) -> pathlib.Path:
    return folder / f"frame_{index:06d}.png"


def quantize(image: np.ndarray) -> np.ndarray:
    """The frame as saved: 8 bits a channel, back in float (what the next frame starts from, resumed or not)."""
    return _images.to_uint8(image).astype(np.float32) / np.float32(255.0)


def read_frame(path: pathlib.Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), np.float32) / np.float32(255.0)
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{path}: a saved frame cannot be read ({one_line(error)}); remove it and run again with "
                         "--resume to make it anew") from None


def encode(folder: pathlib.Path, count: int, output: pathlib.Path, fps: float, audio_from: pathlib.Path | None) -> None:
    """The saved frames as a video file, at `fps`, with the audio of `audio_from` (cut to the frames' length).

    ffmpeg reads the PNG frames itself and writes `.OUT.partial.EXT`, renamed
    to `OUT` when complete. If it fails, [`VideoError`][explainer.video_io.VideoError]
    says why in ffmpeg's words (one line); the frames are untouched.
    """
    import imageio_ffmpeg

    if not fps >= MIN_FPS:
        raise VideoError(f"{output}: a frame rate of {fps:g} is below {MIN_FPS:g} frames per second, which ffmpeg "
                         f"cannot write; give --fps of at least {MIN_FPS:g}")
    first = read_frame(frame_file(folder, 0))
    height, width = first.shape[:2]
    codec, audio_codec = _CODECS.get(output.suffix.lower(), ("libx264", "aac"))
    temporary = output.with_name(f".{output.stem}.partial{output.suffix}")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-nostdin", "-v", "error",
               "-framerate", str(Fraction(fps).limit_denominator()), "-start_number", "0",
               "-i", str(folder / "frame_%06d.png")]
    if audio_from and audio_codec:
        command += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0", "-c:a", audio_codec]
    else:
        command += ["-an"]
    command += ["-frames:v", str(count), "-c:v", codec, "-pix_fmt", "rgb24" if codec == "gif" else "yuv420p"]
    command += ["-crf", "10"] if codec == "libx264" else ["-qscale:v", "7"]  # imageio-ffmpeg's quality 8
    if width % 2 or height % 2:  # what most codecs and players need: even sides
        command += ["-vf", f"scale={width + width % 2}:{height + height % 2}"]
    command += ["-shortest", str(temporary)]
    try:
        with _quiet_fork():
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True, check=False)
        if done.returncode != 0 or not temporary.is_file():
            reason = ffmpeg_reason(done.stderr.decode("utf-8", "replace"))
            raise VideoError(f"{output}: ffmpeg could not write the video ({reason}); the frames are kept in {folder}")
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
