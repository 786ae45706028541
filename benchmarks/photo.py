"""Photorealistic transfer (--method photo): how photorealistic, and what the term costs.

Modes (see --help and benchmarks/README.md, "Photorealism"):

  --quality      for each pair of real photos (explainer.photos: taken from the
                 scikit-image and scikit-learn wheels) and each --sizes: a
                 painterly Gatys run, the same smoothed afterwards
                 (matting.smooth), a photo run from the content and a photo
                 run from the Gatys result (Luan et al.'s two stages), all
                 with --weights (default ImageNet VGG19), L-BFGS, --iterations; the
                 affine residual and the colour distance
                 (explainer.matting.photorealism) of each, and the wall
                 times. JSON lines, then a Markdown table.
  --term-cost    the cost of the photorealism term per step at --sizes
                 (default 512 and 1024): the jitted Adam step (one value and
                 gradient; an L-BFGS step makes a varying number of them in
                 its line search) with and without the term (random VGG16
                 weights: time does not depend on the values), alternated,
                 medians; the term alone (value and gradient); the guide
                 (once per scale); and the peak resident memory (max RSS) of
                 a few steps at the largest size, with and without the term,
                 each in a fresh subprocess.

Run from the repository root:  python benchmarks/photo.py --quality | --term-cost
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

#: (content, style, what it shows)
PAIRS = (("china", "rocket", "a day scene to a dusk scene"),
         ("coffee", "china", "a colour change: a cup on a wooden table in a daylit palace's colours"),
         ("chelsea", "flower", "a colour change: a cat in a dahlia's colours (misses the colour target: see the README)"))


def quality(args) -> None:
    import tempfile

    from backends import get_backend
    from explainer import StyleConfig, matting, photos
    from explainer.images import resize_to, save_image
    from explainer.runner import stylize

    backend = get_backend("vgg19", weights=args.weights, log=lambda m: None)  # hed: a VGG16
    folder = args.save or tempfile.mkdtemp(prefix="photo-bench-")
    rows = []
    for content_name, style_name, _ in [p for p in PAIRS[: args.pairs] if args.content in (None, p[0])]:
        for size in args.sizes:
            content, style = photos.photo(content_name, size), photos.photo(style_name, size)
            base = {"size": size, "iterations": args.iterations, "optimizer": "lbfgs", "print_every": 0,
                    "network": backend.arch, "weights": args.weights, "scales": args.scales}
            row = {"content": content_name, "style": style_name, "size": size, "iterations": args.iterations,
                   "scales": args.scales}
            stem = os.path.join(folder, f"{content_name}-{style_name}-{size}")
            for run in args.runs:
                method, _, start = run.partition("-from-")
                config = StyleConfig(method=method, **base, init=f"{stem}-gatys.png" if start else "content")
                began = time.perf_counter()
                earlier = _earlier_gatys(args, folder, content_name, style_name, size) if run == "gatys" else None
                image = earlier if earlier is not None else stylize(
                    content, style, config, backend=backend, progress=False, log=lambda m: None).image
                seconds = time.perf_counter() - began
                save_image(image, f"{stem}-{run}.png")
                here = resize_to(photos.photo(content_name, size), *image.shape[:2])  # an upsampled start may round
                row[run] = {**matting.photorealism(image, here, style), "seconds": round(seconds, 1)}
                if earlier is not None:
                    row[run]["from"] = "an earlier result: " + ("this size" if args.gatys_size in (None, size) else
                                                                 f"the {args.gatys_size} px one, upsampled")
                if run == "gatys":
                    began = time.perf_counter()
                    smoothed = matting.smooth(image, here)
                    row["gatys+smooth"] = {**matting.photorealism(smoothed, here, style),
                                           "seconds": round(time.perf_counter() - began, 1)}
                    save_image(smoothed, f"{stem}-gatys+smooth.png")
                print(json.dumps(row), flush=True)
            rows.append(row)
    print(f"\nimages in {folder}\n")
    runs = [r for r in ("gatys", "gatys+smooth", *args.runs[1:]) if r]
    print("| pair | px | " + " | ".join(f"{r}: residual / colour / s" for r in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for row in rows:
        cells = [f"{row[r]['affine_residual']:.4f} / {row[r]['colour_distance']:.2f} / {row[r]['seconds']:.0f}"
                 if r in row else "-" for r in runs]
        print(f"| {row['content']} -> {row['style']} | {row['size']} | " + " | ".join(cells) + " |")


def _earlier_gatys(args, folder, content_name, style_name, size):
    """With --reuse-gatys, the Gatys result already in the folder (at --gatys-size, resized to `size`), else None."""
    from explainer.images import load_image, resize_longest

    path = os.path.join(folder, f"{content_name}-{style_name}-{args.gatys_size or size}-gatys.png")
    if not args.reuse_gatys or not os.path.exists(path):
        return None
    return resize_longest(load_image(path), size)


def _steppers(size: int, names: tuple[str, ...] = ("without", "with")):
    """Jitted Adam steps with and without the term, their states and targets, at `size` px (square)."""
    import jax

    from backends import get_backend
    from explainer import StyleConfig, photo
    from explainer.optimize import compute_targets, loss_spec, make_stepper

    backend = get_backend("vgg16", weights="random")
    rng = np.random.default_rng(0)
    content = rng.random((size, size, 3)).astype(np.float32)
    style = rng.random((size, size, 3)).astype(np.float32)
    config = StyleConfig(size=size)
    out = {}
    for name, terms in (("without", ()), ("with", (photo.photo_term(),))):
        if name not in names:
            continue
        spec = loss_spec(config, terms)
        stepper = make_stepper(backend, spec, "adam")  # one gradient per step (L-BFGS's line search varies)
        targets = compute_targets(backend, spec, content, [style], (1.0,))
        out[name] = (stepper, stepper.init(content), targets)
    return backend, out, jax


def term_cost(args) -> None:
    from explainer import matting

    for size in args.sizes:
        backend, steppers, jax = _steppers(size)
        times = {"with": [], "without": []}
        states = {k: v[1] for k, v in steppers.items()}
        for name, (stepper, state, targets) in steppers.items():  # compile
            states[name] = jax.block_until_ready(stepper.step(backend.params, state, targets)[0])
        for _ in range(args.repeats):
            for name, (stepper, _, targets) in steppers.items():
                start = time.perf_counter()
                states[name] = jax.block_until_ready(stepper.step(backend.params, states[name], targets)[0])
                times[name].append(time.perf_counter() - start)
        guide = steppers["with"][2].extra["photo"]
        term = jax.jit(jax.value_and_grad(matting.photo_loss))
        image = jax.numpy.asarray(np.random.default_rng(1).random((size, size, 3)), jax.numpy.float32)  # states are donated
        jax.block_until_ready(term(image, guide))
        alone = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            jax.block_until_ready(term(image, guide))
            alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        matting.matting_guide(np.asarray(image))
        guide_s = time.perf_counter() - start
        w, wo, a = (statistics.median(times["with"]), statistics.median(times["without"]), statistics.median(alone))
        print(json.dumps({"size": size, "step_with_s": round(w, 3), "step_without_s": round(wo, 3),
                          "term_share": round((w - wo) / w, 4), "term_alone_s": round(a, 4),
                          "term_alone_share": round(a / w, 4), "guide_once_s": round(guide_s, 2),
                          "repeats": args.repeats}), flush=True)
    largest = max(args.sizes)
    for terms in ("without", "with"):
        peak = subprocess.run([sys.executable, __file__, "--memory-worker", str(largest), terms], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[-1]
        print(peak, flush=True)


def memory_worker(size: int, which: str) -> None:
    backend, steppers, jax = _steppers(size, (which,))
    stepper, state, targets = steppers[which]
    for _ in range(3):
        state = jax.block_until_ready(stepper.step(backend.params, state, targets)[0])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"size": size, "photo_term": which, "peak_rss_mb": round(peak_mb)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--term-cost", action="store_true")
    parser.add_argument("--sizes", type=lambda t: [int(v) for v in t.split(",")], default=None)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=2, help="--quality: the first N pairs of PAIRS")
    parser.add_argument("--content", choices=[p[0] for p in PAIRS], help="--quality: only the pair of this content")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default="vgg19", help="--quality: the loss network's weights (default vgg19: "
                        "ImageNet VGG19; hed: HED's VGG16, as before 2026-12-07)")
    parser.add_argument("--save", metavar="DIR", help="--quality: write the results here")
    parser.add_argument("--reuse-gatys", action="store_true", help="--quality: take the Gatys result already in "
                        "--save instead of running it again")
    parser.add_argument("--gatys-size", type=int, help="--quality, with --reuse-gatys: the size of the Gatys result "
                        "to reuse (upsampled): a painterly start at a smaller size, as coarse-to-fine")
    parser.add_argument("--scales", type=int, default=1, help="--quality: coarse-to-fine scales of every run")
    parser.add_argument("--runs", type=lambda t: t.split(","), default=["gatys", "photo", "photo-from-gatys"],
                        help="--quality: gatys first; photo (from the content), photo-from-gatys (Luan et al.'s "
                        "second stage, from the gatys result)")
    parser.add_argument("--memory-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        return memory_worker(int(args.memory_worker[0]), args.memory_worker[1])
    if args.quality:
        args.sizes = args.sizes or [256, 512]
        return quality(args)
    if args.term_cost:
        args.sizes = args.sizes or [512, 1024]
        return term_cost(args)
    parser.error("choose --quality or --term-cost")


if __name__ == "__main__":
    main()
