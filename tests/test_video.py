"""`style-explainer video`: round trips, resume, bad frames, budgets, one compiled step, less flicker with the temporal term."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

pytest.importorskip("cv2")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

from explainer import temporal
from explainer.errors import BudgetError, ConfigError, ImageError
from explainer.images import save_image
from explainer.video import VIDEO_DEFAULTS, open_video, stylize_video, write_video


@pytest.fixture(scope="module")
def clip():
    return temporal.camera_move(seconds=1.0, fps=8, size=64)  # 8 frames of 36x64


@pytest.fixture(scope="module")
def styliser():
    from backends._stylisers import get_styliser

    return get_styliser("multistyle", weights="random", seed=1)


@pytest.fixture(scope="module")
def vgg():
    from backends import get_backend

    return get_backend("vgg16", weights="random")


FAST = VIDEO_DEFAULTS.replace(method="fast", model="multistyle:3", size=64)
GATYS = VIDEO_DEFAULTS.replace(size=48, iterations=4, network="vgg16", weights="random",
                               style_layers=("relu1_1", "relu2_1", "relu3_1"), content_layers=("relu3_1",))


def _frames(folder, count):
    return [(folder / f"frame_{i:06d}.png").read_bytes() for i in range(count)]


def test_a_video_with_sound_keeps_its_frame_count_rate_and_sound(tmp_path, clip, styliser):
    silent = write_video(clip.frames, tmp_path / "silent.mp4", clip.fps)
    with_sound = tmp_path / "in.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-c:v", "copy", "-c:a", "aac", "-shortest", str(with_sound)],
                   check=True)
    source = open_video(with_sound)
    assert (source.count, source.fps, source.shape, source.audio) == (8, 8.0, (36, 64), True)
    result = stylize_video(with_sound, [], tmp_path / "out.mp4", FAST, network=styliser, progress=False)
    out = open_video(tmp_path / "out.mp4")
    assert (out.count, out.fps, out.shape, out.audio) == (8, 8.0, (36, 64), True)
    assert not result.frames.exists()  # the frames folder goes once the video is written
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["frames_done"] == 8 and len(record["flicker"]["per_frame_output"]) == 7
    assert (tmp_path / "out_flicker.png").stat().st_size > 0


def test_a_folder_of_frames_round_trips_and_a_bad_frame_is_named_by_its_index(tmp_path, clip, styliser):
    write_video(clip.frames[:4], tmp_path / "frames", clip.fps)
    source = open_video(tmp_path / "frames", fps=12)
    assert (source.count, source.fps) == (4, 12.0)
    np.testing.assert_allclose(next(source.frames()), clip.frames[0], atol=0.5 / 255 + 1e-6)
    stylize_video(tmp_path / "frames", [], tmp_path / "out", FAST, network=styliser, progress=False)
    assert len(list((tmp_path / "out").glob("frame_*.png"))) == 4
    (tmp_path / "frames" / "frame_000002.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"frame 2 \(frame_000002.png\)"):
        stylize_video(tmp_path / "frames", [], tmp_path / "out2", FAST, network=styliser, progress=False)
    assert len(list((tmp_path / "out2").glob("frame_*.png"))) == 2  # the frames before it are kept


def _interrupt_at(index):
    def on_frame(i, image, entry):
        if i == index:
            raise KeyboardInterrupt

    return on_frame


@pytest.mark.parametrize("method", ["fast", "gatys"])
def test_resuming_an_interrupted_run_gives_the_frames_of_an_uninterrupted_one(tmp_path, clip, styliser, vgg, method):
    write_video(clip.frames[:5], tmp_path / "in", clip.fps)
    config, network = (FAST.replace(temporal_blend=0.5), styliser) if method == "fast" else (GATYS, vgg)
    styles = [] if method == "fast" else ["sample:swirl"]
    whole = stylize_video(tmp_path / "in", styles, tmp_path / "whole", config, network=network, progress=False)
    assert not whole.interrupted
    cut = stylize_video(tmp_path / "in", styles, tmp_path / "cut", config, network=network, progress=False,
                        on_frame=_interrupt_at(2))
    assert cut.interrupted and cut.record["frames_done"] == 3
    with pytest.raises(ConfigError, match="--resume"):
        stylize_video(tmp_path / "in", styles, tmp_path / "cut", config, network=network, progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        stylize_video(tmp_path / "in", styles, tmp_path / "cut", config.replace(seed=1), network=network,
                      progress=False, resume=True)
    resumed = stylize_video(tmp_path / "in", styles, tmp_path / "cut", config, network=network, progress=False,
                            resume=True)
    assert resumed.record["frames_done"] == 5 and not resumed.interrupted
    assert _frames(tmp_path / "cut", 5) == _frames(tmp_path / "whole", 5)
    assert resumed.record["per_frame"][3] == {**whole.record["per_frame"][3], "seconds":
                                              resumed.record["per_frame"][3]["seconds"]}


def test_a_long_video_is_refused_before_any_work(tmp_path, clip):
    write_video(clip.frames[:3], tmp_path / "in", clip.fps)
    config = FAST.replace(max_video_megapixels=0.005)  # 3 frames of 36x64 = 0.0069 MP
    with pytest.raises(BudgetError, match="3 frames of 64x36 px make 0.006912 megapixels"):
        stylize_video(tmp_path / "in", [], tmp_path / "out", config, network=object(), progress=False)
    assert not (tmp_path / "out").exists()


def test_gatys_frames_share_one_compiled_step_and_record_the_temporal_term(tmp_path, clip, vgg):
    from explainer.optimize import loss_spec, make_stepper

    write_video(clip.frames[:4], tmp_path / "in", clip.fps)
    result = stylize_video(tmp_path / "in", ["sample:swirl"], tmp_path / "out", GATYS, network=vgg, progress=False)
    spec = loss_spec(GATYS, [temporal.temporal_term(clip.frames[0], np.ones((1, 1)), GATYS.temporal_weight)])
    stepper = make_stepper(vgg, spec, GATYS.optimizer, GATYS.learning_rate, GATYS.ema_decay)
    assert stepper.compiled_count() == 1  # four frames, new targets and masks each, one program
    frames = result.record["per_frame"]
    assert frames[0]["terms"]["temporal"] == 0.0  # no previous frame: the mask is all zeros
    assert all(entry["terms"]["temporal"] > 0 for entry in frames[1:])
    assert all(0.5 < entry["kept"] <= 1.0 for entry in frames[1:])


def test_temporal_blending_cuts_the_flicker_of_a_fast_network(tmp_path, clip, styliser):
    path = write_video(clip.frames, tmp_path / "in", clip.fps)
    alone = stylize_video(path, [], tmp_path / "alone", FAST, network=styliser, progress=False)
    steady = stylize_video(path, [], tmp_path / "steady", FAST.replace(temporal_blend=0.7), network=styliser,
                           progress=False)
    assert steady.record["flicker"]["relative"] < 2 / 3 * alone.record["flicker"]["relative"]


@pytest.mark.slow
def test_the_temporal_term_cuts_the_flicker_of_optimised_frames(tmp_path, clip, vgg):
    path = write_video(clip.frames[:5], tmp_path / "in", clip.fps)
    config = GATYS.replace(iterations=30, size=64)
    alone = stylize_video(path, ["sample:swirl"], tmp_path / "alone", config.replace(temporal_weight=0,
                          frame_init="content"), network=vgg, progress=False)
    steady = stylize_video(path, ["sample:swirl"], tmp_path / "steady", config, network=vgg, progress=False)
    assert steady.record["flicker"]["relative"] < 2 / 3 * alone.record["flicker"]["relative"]


def test_the_command_line_makes_a_video_and_refuses_a_bad_output(tmp_path, clip, styliser, monkeypatch, capsys):
    import backends
    from explainer.cli import main

    monkeypatch.setattr(backends, "get_styliser", lambda kind, **kwargs: styliser, raising=False)
    path = write_video(clip.frames[:3], tmp_path / "in.mp4", clip.fps)
    assert main(["video", str(path), "-o", str(tmp_path / "out.txt"), "--method", "fast"]) == 2
    assert "must end in .mp4" in capsys.readouterr().err
    code = main(["video", str(path), "-o", str(tmp_path / "out.mp4"), "--method", "fast", "--model", "multistyle:1",
                 "--size", "64", "--temporal-blend", "0.3", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert open_video(tmp_path / "out.mp4").count == 3
    assert "3 frames in" in capsys.readouterr().err
    save_image(clip.frames[0], tmp_path / "x.png")


def test_the_explorers_video_tab_stylises_the_sample_clip_within_its_limits(styliser):
    pytest.importorskip("gradio")
    from explainer.app.video_tab import MAX_FRAMES, stylise_clip

    path, figure, line = stylise_clip(None, "swirl", "multistyle:7", 0.6, 64, 4, styliser=styliser)
    assert open_video(path).count == 4 and figure is not None
    assert "4 frames in" in line and "flicker **" in line
    refused = stylise_clip(None, "swirl", "multistyle:7", 0.6, 64, MAX_FRAMES + 1, styliser=styliser)
    assert refused[:2] == (None, None) and refused[2].startswith("**Error:** the explorer stylises at most")


def test_the_temporal_term_is_recorded_with_its_share_and_gradient_map(clip, vgg):
    from explainer.record import RecordSpec
    from explainer.runner import stylize

    frame = clip.frames[3]
    warped = np.clip(clip.frames[2] + 0.05, 0, 1)  # the "previous result": only the temporal term wants it
    mask = np.ones(frame.shape[:2], np.float32)
    mask[:, :32] = 0.0  # the left half is left out
    config = GATYS.replace(size=64, iterations=2)
    result = stylize(frame, ["sample:swirl"], config, backend=vgg, progress=False, log=lambda m: None,
                     image_terms=[temporal.temporal_term(warped, mask, 1e3)],
                     record=RecordSpec(every=1, gradients_every=1))
    first = result.record["history"][0]
    expected = 1e3 * float(np.mean(mask[..., None] * np.square(255 * (frame - warped))))
    assert first["temporal"] == pytest.approx(expected, rel=1e-4)  # the step starts from the frame itself
    maps = result.trace.gradient_maps(result.trace.gradient_iterations[0])
    temporal_map = maps["temporal"]
    assert temporal_map[:, :32].max() == 0.0 and temporal_map[:, 32:].min() > 0.0  # it pulls only where c = 1


def _patch_results(monkeypatch, change):
    """The fast method's frames, each passed through `change(context, result)` (which may raise)."""
    from explainer import registry

    method = registry.get("fast")
    original = method.frames

    def frames(*args, **kwargs):
        maker = original(*args, **kwargs)
        inner = maker.results

        def results(contexts, previous, first):
            for context, result in inner(contexts, previous, first):
                change(context, result)
                yield context, result

        maker.results = results
        return maker

    monkeypatch.setattr(method, "frames", frames)


def test_a_loss_that_stops_being_finite_fails_the_video_in_one_line_and_keeps_the_frames(tmp_path, clip, styliser,
                                                                                          monkeypatch):
    from explainer.video import NonFiniteFrameError

    write_video(clip.frames[:4], tmp_path / "in", clip.fps)

    def nan_at_two(context, result):
        if context.index == 2:
            result.extra = {**result.extra, "loss": float("nan")}

    _patch_results(monkeypatch, nan_at_two)
    with pytest.raises(NonFiniteFrameError, match=r"frame 2: its loss became nan: .* the 2 frames before it are kept"):
        stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False)
    frames = tmp_path / "out.mp4.frames"
    assert sorted(p.name for p in frames.glob("frame_*.png")) == ["frame_000000.png", "frame_000001.png"]
    strict = lambda text: json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    assert len(strict((frames / "progress.json").read_text())["frames"]) == 2
    record = strict((tmp_path / "out.json").read_text())
    assert record["frames_done"] == 2 and record["failed"].startswith("frame 2: its loss became nan")
    assert not (tmp_path / "out.mp4").exists()


def test_an_encode_that_fails_says_ffmpegs_reason_and_keeps_the_frames(tmp_path, clip, styliser, monkeypatch):
    from explainer import video_io
    from explainer.video import VideoError

    write_video(clip.frames[:3], tmp_path / "in", clip.fps)
    with pytest.raises(ConfigError, match=r"^fps must be 0.01 to 1000, not 1e-09$"):  # the setting itself
        FAST.replace(fps=1e-9)
    assert not (tmp_path / "out.mp4.frames").exists()
    monkeypatch.setitem(video_io._CODECS, ".mp4", ("no_such_encoder", None))
    with pytest.raises(VideoError) as error:
        stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'out.mp4'}: ffmpeg could not write the video (") and "\n" not in message
    assert "ncoder not found" in message and "ffmpeg version" not in message
    assert not list(tmp_path.glob(".out.partial*")) and not (tmp_path / "out.mp4").exists()
    assert len(list((tmp_path / "out.mp4.frames").glob("frame_*.png"))) == 3
    monkeypatch.undo()
    resumed = stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False,
                            resume=True)  # encodes the kept frames
    assert open_video(resumed.output).count == 3


def test_a_video_ffmpeg_cannot_read_is_one_line_with_its_reason_not_its_banner(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 50)
    with pytest.raises(ImageError) as error:
        open_video(tmp_path / "bad.mp4")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'bad.mp4'}: not a video ffmpeg can read (") and "\n" not in message
    assert "Invalid data" in message and "ffmpeg version" not in message and "configuration" not in message


def test_resume_with_nothing_to_resume_says_so_instead_of_starting_over(tmp_path, clip, styliser):
    write_video(clip.frames[:2], tmp_path / "in", clip.fps)
    with pytest.raises(ConfigError, match=r"--resume: nothing to resume in .*out.mp4.frames"):
        stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False, resume=True)
    assert not (tmp_path / "out.mp4.frames").exists()


def test_a_video_interrupted_before_its_first_frame_keeps_the_folder_it_names(tmp_path, clip, styliser, monkeypatch):
    write_video(clip.frames[:3], tmp_path / "in", clip.fps)

    def interrupt(context, result):
        raise KeyboardInterrupt  # before the first frame is saved (the fast method makes frames in batches)

    _patch_results(monkeypatch, interrupt)
    cut = stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False)
    assert cut.interrupted and cut.record["frames_done"] == 0
    assert cut.frames.is_dir() and (cut.frames / "progress.json").is_file()  # what the message names exists
    monkeypatch.undo()
    resumed = stylize_video(tmp_path / "in", [], tmp_path / "out.mp4", FAST, network=styliser, progress=False,
                            resume=True)
    assert not resumed.interrupted and open_video(resumed.output).count == 3
