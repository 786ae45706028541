"""What each subcommand of `style-explainer` does, once `explainer.cli` has parsed its flags.

Each `cmd_NAME(args)` is thin: it turns the parsed flags into the
settings declared in `explainer.config`, checks the
outputs are writable before any work, calls the library, reports in a few
lines, and returns the exit code. User mistakes are raised as the
exceptions in `explainer.errors.USER_ERRORS`; `cli.main` prints them in one
line.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from backends import SOURCES, enable_compile_cache
from explainer import registry, settings
from explainer.config import RECONSTRUCT_DEFAULTS, RecordSpec, StyleConfig
from explainer.errors import ConfigError
from explainer.files import check_output_dir, check_output_file

PROG = "style-explainer"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")

#: Smaller, quicker defaults for the exploratory subcommands (flags override them).
#: The demo's were chosen on ImageNet VGG19 by looking and by one yardstick (`benchmarks/defaults.py`,
#: `benchmarks/README.md`): the default layers and weights (neural-style's), the style at twice the size (bigger
#: strokes), TV 0.1, and "keep", which puts back the photo's colours (no yellow-green face). The layer weights
#: 1,1,30,1000,10000 chosen for HED's VGG16 left the result further from the photo on VGG19 with no more style.
#: Adam, 200 steps: about 1.5 minutes on 2 cores.
DEMO_DEFAULTS = StyleConfig(size=256, iterations=200, print_every=0, tv_weight=0.1, style_scale=2.0, colors="keep")
INSPECT_DEFAULTS = StyleConfig(size=256)
COMPARE_DEFAULTS = StyleConfig(size=128, iterations=100, print_every=0)
#: `inspect` optimises nothing: it takes only these settings.
INSPECT_SETTINGS = ("network", "weights", "pooling", "seed", "size")


def cmd_stylize(args: argparse.Namespace) -> int:
    config = settings.from_args(args, StyleConfig())
    method = registry.get(config.method)
    if method.uses_styles(config) and not args.styles:
        raise ConfigError(method.missing_styles(config))
    record = _record_spec(args)
    if pathlib.Path(args.content).is_dir():
        if record is not None:
            raise ConfigError("--record records one image: give an image file, not a folder")
        if pathlib.Path(args.output).suffix.lower() in IMAGE_SUFFIXES:
            raise ConfigError(f"{args.content} is a folder, so -o names a folder for its images, not an image file "
                              f"like {args.output}; give a folder name")
        _check_apart(args.content, args.output, "the content folder", "-o")
        out = check_output_dir(args.output)
        enable_compile_cache()
        summary = method.stylize_folder(args.content, args.styles, config, out, progress=not args.quiet)
        print(summary.text(), file=sys.stderr)
        return 130 if summary.interrupted else 0
    output = check_output_file(args.output, IMAGE_SUFFIXES)
    _check_budget_first(method, config, args.content, args.styles if method.uses_styles(config) else [])
    return _run_and_save(config, args.content, args.styles, output, quiet=args.quiet, record=record,
                         record_dir=args.record, report=not args.no_figures)


def _check_apart(source: str, output: str, what: str, flag: str) -> None:
    """Refuse an output folder that is, or lies inside or above, the folder read (a later run would read its outputs)."""
    source_, output_ = pathlib.Path(source).resolve(), pathlib.Path(output).resolve()
    if output_ == source_:
        raise ConfigError(f"{flag} {output} is {what} itself: give another folder (the originals are kept)")
    if source_ in output_.parents:
        raise ConfigError(f"{flag} {output} lies inside {what} {source}: a later run would read its own outputs; "
                          "give a folder outside it")
    if output_ in source_.parents:
        raise ConfigError(f"{what} {source} lies inside {flag} {output}: the outputs could land among the inputs; "
                          "give a folder outside it")


def _check_budget_first(method, config: StyleConfig, content: str, styles: Sequence[str]) -> None:
    """Refuse an over-budget run from the files' headers, before JAX starts (the run checks again)."""
    from explainer import samples
    from explainer.images import image_shape

    shapes = [image_shape(samples.resolve(path)) for path in (content, *styles)]
    if all(shapes):  # an unreadable file is reported, in one line, when it is loaded
        method.check(config, shapes[0], shapes[1:], content)


def _record_spec(args: argparse.Namespace):
    if not args.record:
        return None
    check_output_dir(args.record, what="--record folder")
    return settings.from_args(args, RecordSpec())


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
    iterative = registry.get(config.method).iterative
    if result.trace is not None and not iterative:
        where = result.trace.save(record_dir)
        print(f"recorded the network's activations in {len(result.trace.layers)} layers, its norms' scale and shift "
              f"and the embedding in {where}/ (trace.json, arrays.npz)", file=sys.stderr)
    elif result.trace is not None:
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
    if not iterative:  # one pass of a network: no steps
        print(f"finished in {record_['wall_time_s']:.2f} s (the network {record_['network_time_s'] * 1000:.0f} ms, "
              f"{record_['size'][1]}x{record_['size'][0]} px); wrote {path} and {path.with_suffix('.json')}",
              file=sys.stderr)
    else:
        print(f"{state} {record_['iterations_done']} steps in {record_['wall_time_s']:.1f} s; "
              f"wrote {path} and {path.with_suffix('.json')}", file=sys.stderr)
    if failure is not None:
        print(f"{PROG}: error: {failure}", file=sys.stderr)
        return 1
    return 130 if record_["interrupted"] else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from explainer import samples
    from explainer.images import save_image

    out = check_output_dir(args.output)
    config = settings.from_args(args, DEMO_DEFAULTS)
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
    from explainer.methods import loss_network

    enable_compile_cache()  # the next run of the same shape starts without compiling
    backend = loss_network(config)
    print(f"network: {backend.describe()}", file=sys.stderr)
    return backend


def cmd_inspect(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.inspection import DEFAULT_INSPECT_LAYERS, check_budget, inspect_image, stats_table

    config = settings.from_args(args, INSPECT_DEFAULTS)
    out = check_output_dir(args.output)
    if args.top_k < 0:
        raise ConfigError(f"--top-k must be 0 (all channels) or more, not {args.top_k}")
    check_budget(args.image, config)  # before the network starts
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


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.reconstruct import PAPER_LAYERS, check_budget, reconstruct

    if args.content_only and args.style_only:
        raise ConfigError("--content-only and --style-only exclude each other: give one, or neither for both rows")
    config = settings.from_args(args, RECONSTRUCT_DEFAULTS)
    check_output_file(args.output, FIGURE_SUFFIXES)
    layers = args.layers or PAPER_LAYERS
    content, style = None if args.style_only else args.content, None if args.content_only else args.style
    check_budget(content, style, config)  # before the network starts (reconstruct checks again)
    result = reconstruct(
        content, style, config,
        content_layers=layers, style_layers=layers, backend=_network(config),
        progress=lambda message: print(f"reconstructing {message}", file=sys.stderr), bars=not args.quiet,
    )
    path = figures.save(result.figure(), args.output)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
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


def cmd_augment(args: argparse.Namespace) -> int:
    from explainer.config import AugmentSettings

    config = settings.from_args(args, AugmentSettings())
    if not pathlib.Path(args.input).is_dir():
        raise ConfigError(f"{args.input}: not a folder (augment reads every image below IN_DIR)")
    _check_apart(args.input, args.output, "IN_DIR", "OUT_DIR")
    out = check_output_dir(args.output)
    from explainer.augment import augment

    enable_compile_cache()
    log = (lambda message: print(message, file=sys.stderr)) if not args.quiet else None
    summary = augment(args.input, out, config, styles=args.style or (), progress=not args.quiet, log=log)
    print(summary.text(), file=sys.stderr)
    return 130 if summary.interrupted else 0


def cmd_video(args: argparse.Namespace) -> int:
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


def cmd_train(args: argparse.Namespace) -> int:
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


def cmd_samples(args: argparse.Namespace) -> int:
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


def cmd_explore(args: argparse.Namespace) -> int:
    try:
        from explainer.app import launch
    except ImportError as error:
        raise ConfigError(f"the explorer needs Gradio: pip install 'style-explainer[ui]' ({error})") from None
    launch(host=args.host, port=args.port, share=args.share)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from backends import CACHE_ENV, _weights

    if args.action == "list":
        print(f"cache: {_weights.weights_dir()}  (set {CACHE_ENV} to move it)")
        for row in _weights.list_sources():
            print(f"  {row['name']:<6} {row['arch']:<6} {row['status']:<9} {row['description']}")
            for i, origin in enumerate(row["origins"]):  # tried in this order
                print(f"         {'or  ' if i else 'from'} {origin}")
        print("  random        seeded He-normal initialisation (no file)")
        print("  PATH          any Keras VGG16/VGG19 .h5 file (Keras 2 or Keras 3 layout)")
        return 0
    if not args.name:
        raise ConfigError(f"weights fetch needs a NAME: one of {', '.join(SOURCES)}")
    for name in args.name:
        path = _weights.fetch(name, force=args.force)
        print(f"{name}: verified {path}")
    return 0
