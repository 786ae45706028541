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
import warnings
from collections.abc import Iterator, Sequence

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
            raise ImageError(f"{self.path}: frame {index} cannot be decoded: {one_line(error)}") from None
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
        raise ImageError(f"{path}: not a video ffmpeg can read ({one_line(error)[:200]})") from None
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
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), np.float32) / np.float32(255.0)


def encode(folder: pathlib.Path, count: int, output: pathlib.Path, fps: float, audio_from: pathlib.Path | None) -> None:
    """The saved frames as a video file, at `fps`, with the audio of `audio_from` (cut to the frames' length)."""
    import imageio_ffmpeg

    first = read_frame(frame_file(folder, 0))
    height, width = first.shape[:2]
    codec, audio_codec = _CODECS.get(output.suffix.lower(), ("libx264", "aac"))
    temporary = output.with_name(f".{output.stem}.partial{output.suffix}")
    extra = {"audio_path": str(audio_from), "audio_codec": audio_codec} if audio_from and audio_codec else {}
    pix_fmt = "rgb24" if codec == "gif" else "yuv420p"
    writer = imageio_ffmpeg.write_frames(str(temporary), (width, height), fps=fps, codec=codec, pix_fmt_out=pix_fmt,
                                         macro_block_size=2, quality=8, ffmpeg_log_level="error",
                                         output_params=["-shortest"], **extra)
    try:
        with _quiet_fork():
            writer.send(None)
        for index in range(count):
            writer.send(np.ascontiguousarray(_images.to_uint8(read_frame(frame_file(folder, index)))))
        writer.close()
        os.replace(temporary, output)
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
