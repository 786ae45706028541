"""The command line: `style-explainer SUBCOMMAND ...` (same as `python -m explainer`).

Every run flag is generated from the settings declared in
[`explainer.config`][explainer.config] and [`RecordSpec`][explainer.record.RecordSpec]
(see [`explainer.settings`][explainer.settings]), so the CLI cannot offer a
setting the Python API lacks, or the other way round. The subcommands are
thin: they parse, check the outputs, call the library and report.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import pathlib
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence

from backends import SOURCES, enable_compile_cache, reuse_scratch_memory
from explainer import settings
from explainer.config import RECONSTRUCT_DEFAULTS, RecordSpec, StyleConfig
from explainer.errors import USER_ERRORS, ConfigError, Note, one_line
from explainer.files import check_output_dir, check_output_file

PROG = "style-explainer"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")

#: Smaller, quicker defaults for the exploratory subcommands (flags override them).
#: The demo's were chosen by eye on HED's VGG16 (the weights most machines fall back to): its deep
#: layers' Gram losses start ~1e5 times smaller than relu1_1's, so they get more pull; the style at
#: twice the size gives bigger strokes; TV 0.1 (a mean, in 255 units) smooths the speckle; "keep"
#: puts back the photo's colours (no greenish face). Adam, 200 steps: about 2 minutes on 2 cores.
DEMO_DEFAULTS = StyleConfig(size=256, iterations=200, print_every=0, style_layer_weights=(1, 1, 30, 1000, 10000),
                            tv_weight=0.1, style_scale=2.0, colors="keep")
INSPECT_DEFAULTS = StyleConfig(size=256)
COMPARE_DEFAULTS = StyleConfig(size=128, iterations=100, print_every=0)
#: `inspect` optimises nothing: it takes only these settings.
INSPECT_SETTINGS = ("network", "weights", "pooling", "seed", "size")


def _comma_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _comma_names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


# --------------------------------------------------------------------------- subcommands


def _cmd_stylize(args: argparse.Namespace) -> int:
    config = settings.from_args(args, StyleConfig())
    if config.method == "fast":
        return _stylize_fast(config, args)
    if not args.styles:
        raise ConfigError("give at least one style image after the content (or use --method fast --model "
                          "multistyle:K, whose styles are built in)")
    output = check_output_file(args.output, IMAGE_SUFFIXES)
    record = _record_spec(args)
    _check_budget_first(config, args.content, args.styles)
    return _run_and_save(config, args.content, args.styles, output, quiet=args.quiet, record=record,
                         record_dir=args.record, report=not args.no_figures)


def _stylize_fast(config: StyleConfig, args: argparse.Namespace) -> int:
    """`stylize --method fast`: one image, or every image of a folder (in batches) into a folder."""
    from explainer.fast import parse_model

    choice = parse_model(config.model)
    if choice.needs_style_images and not args.styles:
        raise ConfigError(f"--model {config.model} takes its style from style images: give at least one after the "
                          "content (or --model multistyle:K, whose styles are built in)")
    record = _record_spec(args)
    if pathlib.Path(args.content).is_dir():
        if record is not None:
            raise ConfigError("--record records one image: give an image file, not a folder")
        from explainer.augment import stylize_folder

        out = check_output_dir(args.output)
        enable_compile_cache()
        summary = stylize_folder(args.content, args.styles, config, out, progress=not args.quiet)
        print(summary.text(), file=sys.stderr)
        return 130 if summary.interrupted else 0
    output = check_output_file(args.output, IMAGE_SUFFIXES)
    from explainer.runner import stylize

    enable_compile_cache()
    result = stylize(args.content, args.styles, config, progress=not args.quiet, record=record)
    path = result.save(output)
    if result.trace is not None:
        where = result.trace.save(args.record)
        print(f"recorded the network's activations in {len(result.trace.layers)} layers, its norms' scale and shift "
              f"and the embedding in {where}/ (trace.json, arrays.npz)", file=sys.stderr)
    record = result.record
    print(f"finished in {record['wall_time_s']:.2f} s (the network {record['network_time_s'] * 1000:.0f} ms, "
          f"{record['size'][1]}x{record['size'][0]} px); wrote {path} and {path.with_suffix('.json')}",
          file=sys.stderr)
    return 0


def _check_budget_first(config: StyleConfig, content: str, styles: Sequence[str]) -> None:
    """Refuse an over-budget run from the files' headers, before JAX starts (the run checks again)."""
    from explainer import samples
    from explainer.images import image_shape
    from explainer.tiling import check_run  # budget.check_run, or a tiled run's own limits

    shapes = [image_shape(samples.resolve(path)) for path in (content, *styles)]
    if all(shapes):  # an unreadable file is reported, in one line, when it is loaded
        check_run(config, shapes[0], shapes[1:])


def _record_spec(args: argparse.Namespace):
    if not args.record:
        return None
    check_output_dir(args.record, what="--record folder")
    try:
        return settings.from_args(args, RecordSpec())
    except ValueError as error:
        raise ConfigError(one_line(error)) from None


def _run_and_save(config: StyleConfig, content, styles, output: pathlib.Path, *, quiet: bool,
                  record=None, record_dir: str | None = None, report: bool = True) -> int:
    from explainer.runner import NonFiniteLossError, stylize

    enable_compile_cache()  # the next run of the same shape starts without compiling
    failure = None
    try:
        result = stylize(content, styles, config, progress=not quiet, save_path=output, record=record)
    except NonFiniteLossError as error:
        failure, result = error, error.result
    path = result.save(output)
    if result.trace is not None:
        where = result.trace.save(record_dir)
        print(f"recorded {len(result.trace.iterations)} snapshots of {', '.join(result.trace.layers)} "
              f"in {where}/ (trace.json, arrays.npz)", file=sys.stderr)
        if report:
            from explainer.report import write_report

            try:  # a second Ctrl-C here loses only the report: the run is saved
                page = write_report(result.trace, result.record, where)
                print(f"report: {page} (the run's figures and settings; open it in a browser)", file=sys.stderr)
            except KeyboardInterrupt:
                print(f"{PROG}: interrupted: no report written", file=sys.stderr)
    record_ = result.record
    state = "failed after" if failure else "interrupted after" if record_["interrupted"] else "finished"
    print(f"{state} {record_['iterations_done']} steps in {record_['wall_time_s']:.1f} s; "
          f"wrote {path} and {path.with_suffix('.json')}", file=sys.stderr)
    if failure is not None:
        print(f"{PROG}: error: {failure}", file=sys.stderr)
        return 1
    return 130 if record_["interrupted"] else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from explainer import samples
    from explainer.images import save_image

    out = check_output_dir(args.output)
    defaults = DEMO_DEFAULTS
    if "style_layers" in vars(args) and "style_layer_weights" not in vars(args):
        # The demo's layer weights are for its own five style layers: other layers get 1 each.
        defaults = DEMO_DEFAULTS.replace(style_layer_weights=None)
    config = settings.from_args(args, defaults)
    content = samples.sample_content()
    style = samples.sample_style(args.style)
    save_image(content, out / "content.png")
    save_image(style, out / "style.png")
    print(f"content: {samples.describe_sample(samples.SAMPLE_CONTENT)}", file=sys.stderr)
    print(f"style:   {samples.describe_sample(args.style)}", file=sys.stderr)
    code = _run_and_save(config, content, [style], out / "stylized.png", quiet=args.quiet)
    print(f"demo output in {out.resolve()}/ (content.png, style.png, stylized.png, stylized.json)")
    return code


def _network(config: StyleConfig):
    from backends import get_backend

    enable_compile_cache()  # the next run of the same shape starts without compiling
    backend = get_backend(config.network, weights=config.weights, pooling=config.pooling, seed=config.seed)
    print(f"network: {backend.describe()}", file=sys.stderr)
    return backend


def _cmd_inspect(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.inspection import DEFAULT_INSPECT_LAYERS, inspect_image, stats_table

    config = settings.from_args(args, INSPECT_DEFAULTS)
    out = check_output_dir(args.output)
    if args.top_k < 0:
        raise ConfigError(f"--top-k must be 0 (all channels) or more, not {args.top_k}")
    trace = inspect_image(args.image, args.layers or DEFAULT_INSPECT_LAYERS, backend=_network(config),
                          config=config, top_k=args.top_k or None)
    for layer in trace.layers:
        figures.save(figures.feature_maps(trace, 0, layer), out / f"{layer}_features.png")
        figures.save(figures.gram_heatmap(trace, 0, layer), out / f"{layer}_gram.png")
        figures.save(figures.channel_stats(trace, 0, layer), out / f"{layer}_stats.png")
    rows = stats_table(trace)
    _write_csv(rows, out / "stats.csv")
    trace.save(out / "trace")
    print(f"{'layer':<9} {'size':>9} {'channels':>8} {'mean':>9} {'max':>9} {'dead':>5}")
    for row in rows:
        print(f"{row['layer']:<9} {row['height']:>4}x{row['width']:<4} {row['channels']:>8} {row['mean']:>9.3g} "
              f"{row['max']:>9.3g} {row['dead_channels']:>5}")
    print("dead: channels that never fire on this image (their largest activation is 0 after the ReLU)")
    print(f"wrote feature maps, Gram matrices and statistics of {len(rows)} layers to {out}/", file=sys.stderr)
    return 0


def _write_csv(rows: list[dict], path: pathlib.Path) -> None:
    import csv
    import io

    from explainer.files import write_atomically

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, text.getvalue().encode())


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.reconstruct import PAPER_LAYERS, reconstruct

    if args.content_only and args.style_only:
        raise ConfigError("--content-only and --style-only exclude each other: give one, or neither for both rows")
    config = settings.from_args(args, RECONSTRUCT_DEFAULTS)
    check_output_file(args.output, FIGURE_SUFFIXES)
    layers = args.layers or PAPER_LAYERS
    result = reconstruct(
        None if args.style_only else args.content, None if args.content_only else args.style, config,
        content_layers=layers, style_layers=layers, backend=_network(config),
        progress=lambda message: print(f"reconstructing {message}", file=sys.stderr), bars=not args.quiet,
    )
    path = figures.save(result.figure(), args.output)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from explainer.compare import DEFAULT_RATIOS, RATIO_SWEEP_DEFAULTS, compare, compare_ratio_sweep, quick

    # the sweep starts from its own preset (noise, avg pooling, L-BFGS); flags given still override
    defaults = RATIO_SWEEP_DEFAULTS if args.ratio_sweep else COMPARE_DEFAULTS
    config = settings.from_args(args, quick(defaults) if args.quick else defaults)
    check_output_file(args.output, (".png",))
    if not args.variant and not args.ratio_sweep:
        raise ConfigError("give at least one --variant \"FIELD=VALUE; ...\", or --ratio-sweep")
    if args.variant and args.ratio_sweep:
        raise ConfigError("--variant and --ratio-sweep exclude each other: the sweep makes its own variants")
    enable_compile_cache()  # the next run of the same shape starts without compiling
    if args.ratio_sweep:
        comparison = compare_ratio_sweep(args.content, args.styles, config, ratios=args.ratios or DEFAULT_RATIOS,
                                         progress=not args.quiet)
    else:
        comparison = compare(args.content, args.styles, args.variant, config, progress=not args.quiet)
    path = comparison.save(args.output)
    print(comparison.table_text(), end="")
    print(f"wrote {path}, {path.with_suffix('.csv')} and {path.with_suffix('.json')}", file=sys.stderr)
    return 0


def _cmd_augment(args: argparse.Namespace) -> int:
    from explainer.config import AugmentSettings

    config = settings.from_args(args, AugmentSettings())
    if not pathlib.Path(args.input).is_dir():
        raise ConfigError(f"{args.input}: not a folder (augment reads every image below IN_DIR)")
    out = check_output_dir(args.output)
    if out.resolve() == pathlib.Path(args.input).resolve():
        raise ConfigError("OUT_DIR must differ from IN_DIR: the originals are kept")
    from explainer.augment import augment

    enable_compile_cache()
    log = (lambda message: print(message, file=sys.stderr)) if not args.quiet else None
    summary = augment(args.input, out, config, styles=args.style or (), progress=not args.quiet, log=log)
    print(summary.text(), file=sys.stderr)
    return 130 if summary.interrupted else 0


def _cmd_video(args: argparse.Namespace) -> int:
    from explainer.video import VIDEO_DEFAULTS, VIDEO_SUFFIXES, is_video_path

    config = settings.from_args(args, VIDEO_DEFAULTS)
    if pathlib.Path(args.output).suffix and not is_video_path(args.output):
        raise ConfigError(f"output {args.output}: must end in {' or '.join(VIDEO_SUFFIXES)}, or be a folder for PNG frames")
    if is_video_path(args.output):
        check_output_file(args.output, VIDEO_SUFFIXES)
    else:
        check_output_dir(args.output)
    from explainer.video import stylize_video

    enable_compile_cache()
    result = stylize_video(args.input, args.styles, args.output, config,
                           resume=args.resume, progress=not args.quiet, keep_frames=args.keep_frames)
    record = result.record
    flicker = record["flicker"]["relative"]
    measured = f"; flicker {flicker:.2f}x the input's" if flicker is not None else ""
    if result.interrupted:
        print(f"interrupted: {record['frames_done']} of {record['frames']} frames kept in {result.frames}/; run the "
              "same command with --resume to continue", file=sys.stderr)
        return 130
    print(f"{record['frames']} frames in {record['wall_time_s']:.1f} s{measured}; wrote {result.output}", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from explainer.config import TrainSettings

    config = settings.from_args(args, TrainSettings())
    out = check_output_dir(args.output, what="model folder")
    from explainer.training import check_budget, train

    check_budget(config)  # before the weights, the data and the first compile (Training checks again)
    enable_compile_cache()
    result = train(args.style, out, config, resume=args.resume, progress=not args.quiet)
    m = result.manifest
    state = "failed after" if result.failed else "interrupted after" if result.interrupted else "finished"
    speed = f", {m['images_per_second']:.2f} images/s" if m.get("images_per_second") else ""
    print(f"{state} {m['steps_done']} of {m['steps_planned']} steps in {m['train_seconds']:.1f} s on {m['devices']} "
          f"device(s){speed}; wrote {out}/model.safetensors, model.json and previews/ (apply it with: {PROG} stylize "
          f"PHOTO -o OUT.png --method fast --model {out})", file=sys.stderr)
    if result.failed:
        print(f"{PROG}: error: {result.failed}", file=sys.stderr)
        return 1
    return 130 if result.interrupted else 0


def _cmd_samples(args: argparse.Namespace) -> int:
    from explainer import samples

    if args.output is None:
        for name in samples.SAMPLE_NAMES:
            print(f"{samples.SAMPLE_PREFIX}{name:<13} {samples.describe_sample(name)}")
        print(f"use a name wherever an image file goes, e.g. {PROG} stylize sample:grace_hopper sample:swirl -o out.png")
        return 0
    out = check_output_dir(args.output)
    for name, path in zip(samples.SAMPLE_NAMES, samples.write_samples(out)):
        print(f"{path}  {samples.describe_sample(name)}")
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    try:
        from explainer.app import launch
    except ImportError as error:
        raise ConfigError(f"the explorer needs Gradio: pip install 'style-explainer[ui]' ({error})") from None
    launch(host=args.host, port=args.port, share=args.share)
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from backends import _weights

    if args.action == "list":
        print(f"cache: {_weights.weights_dir()}  (set {_weights.CACHE_ENV} to move it)")
        for row in _weights.list_sources():
            print(f"  {row['name']:<6} {row['arch']:<6} {row['status']:<9} {row['description']}")
            print(f"         from {row['origin']}")
        print("  random        seeded He-normal initialisation (no file)")
        print("  PATH          any Keras VGG16/VGG19 .h5 file (Keras 2 or Keras 3 layout)")
        return 0
    if not args.name:
        raise ConfigError(f"weights fetch needs a NAME: one of {', '.join(SOURCES)}")
    for name in args.name:
        path = _weights.fetch(name, force=args.force)
        print(f"{name}: verified {path}")
    return 0


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
    p.set_defaults(func=_cmd_stylize)


def _add_demo(sub) -> None:
    from explainer.samples import SAMPLE_STYLES

    p = sub.add_parser("demo", help="stylize the bundled sample images (no files needed)",
                       description="Stylizes Grace Hopper's portrait (public domain, bundled with matplotlib) "
                       "in a style painted by style-explainer's own code: 256 px, 200 Adam steps, style layers "
                       "relu1_1..relu5_1 weighted 1,1,30,1000,10000 (HED's VGG16 needs the deep ones pulled "
                       "harder), the style at twice the size (bigger strokes), TV weight 0.1, the photo's colours "
                       "kept. About 2 minutes on a 2-core CPU. Every setting below can be changed.")
    p.add_argument("-o", "--output", default="demo-output", metavar="DIR", help="output folder (default: demo-output)")
    p.add_argument("--style", choices=SAMPLE_STYLES, default="swirl", help="which painted sample style (default: swirl)")
    _run_settings(p, DEMO_DEFAULTS)
    p.set_defaults(func=_cmd_demo)


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="activations, Gram matrices and statistics of one image",
                       description="Runs IMAGE through the network (no optimisation) and writes, per layer, a "
                       "feature-map grid, the Gram matrix and channel statistics, plus stats.csv and a trace/.")
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--layers", type=_comma_names, metavar="L1,L2", help="layers (default: relu1_1,relu2_1,...,relu5_1)")
    p.add_argument("--top-k", type=int, default=16, metavar="K", help="channels to keep per layer; 0: all (default: 16)")
    _run_settings(p, INSPECT_DEFAULTS, names=INSPECT_SETTINGS)
    p.set_defaults(func=_cmd_inspect)


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
    p.set_defaults(func=_cmd_reconstruct)


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
    p.set_defaults(func=_cmd_compare)


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
    p.set_defaults(func=_cmd_augment)


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
    p.set_defaults(func=_cmd_video)


def _add_train(sub) -> None:
    from explainer.config import TrainSettings

    p = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)",
                       description="Trains Johnson et al.'s transformation network (instance or batch norm) against "
                       "the perceptual loss of the optimisation method (VGG16: style relu1_2, relu2_2, relu3_3, "
                       "relu4_3; content relu2_2) on photos: --data DIR, or a few real photos from PyPI wheels. "
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
    p.set_defaults(func=_cmd_train)


def _add_samples(sub) -> None:
    p = sub.add_parser("samples", help="list the bundled sample images, or write them as files",
                       description="The bundled samples: a public-domain photo and styles painted by this project. "
                       "Their names (sample:grace_hopper, sample:swirl, ...) work wherever an image file does.")
    p.add_argument("-o", "--output", metavar="DIR", help="write the samples into DIR as NAME.png")
    p.set_defaults(func=_cmd_samples)


def _add_explore(sub) -> None:
    p = sub.add_parser("explore", help="open the explorer (a Gradio app) in your browser",
                       description="Stylize live, open every layer, compare layer choices. Bound to localhost "
                       "unless --host says otherwise; no public link unless --share.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    p.set_defaults(func=_cmd_explore)


def _add_weights(sub) -> None:
    p = sub.add_parser("weights", help="list or fetch network weights",
                       description="'weights list' shows the known sources, the cache and what is verified; "
                       "'weights fetch NAME' downloads and verifies one.")
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("name", nargs="*", help=f"for fetch: {', '.join(SOURCES)}")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=_cmd_weights)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    and its trace are saved (atomically), and the exit code is 130.
    """

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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

    def showwarning(message, category, *args, **kwargs):
        if issubclass(category, Note):
            print(f"{PROG}: note: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

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
