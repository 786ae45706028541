"""How a Gatys step's time and memory grow with the image: 128 to 2048 px, and where tiling takes over.

For each size, a fresh subprocess (so its peak memory is its own) builds the
default run (VGG19, random weights: time does not depend on the values; the
jcjohnson layers; the sample photo, a 600x512 portrait, at SIZE px on its
longest side), compiles the Adam step, takes `--steps` more and reports the
median step time and the peak resident memory (max RSS). Printed per size:
pixels, seconds per step, microseconds per pixel (flat if time grows
linearly), peak memory, the memory model's estimate (`explainer.budget`),
and the core tile side `explainer.tiling` would choose with the default
6 GiB `--memory-budget` ("untiled" below it).

With `--tiled SIZE`, also the tiled run at SIZE (what `stylize` does there by
default): wall time of its second step and its peak memory.

    python benchmarks/scaling.py [--sizes 128,256,512,768,1024,1536,2048] [--steps 3] [--tiled 2048]

Ends with a Markdown table for benchmarks/README.md. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # sets the package's XLA flags first

SIZES = (128, 256, 512, 768, 1024, 1536, 2048)


def step_worker(size: int, steps: int) -> dict:
    """One size's median Adam step and peak memory (run in its own process)."""
    from explainer import StyleConfig, budget, tiling
    from explainer.optimize import make_stepper

    case = C.make_case("vgg19", "random", size)
    stepper = make_stepper(case.backend, case.spec, "adam", 0.02)
    state = stepper.init(case.content)
    state = C.block(stepper.step(case.backend.params, state, case.targets)[0])  # compile
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state = C.block(stepper.step(case.backend.params, state, case.targets)[0])
        times.append(time.perf_counter() - start)
    h, w = case.shape
    config = StyleConfig(size=size)
    return {"size": size, "shape": [h, w], "pixels": h * w, "step_s": round(C.median(times), 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "model_mb": round((budget.FIXED_BYTES + h * w * budget.BYTES_PER_PIXEL) / 2**20),
            "tile": tiling.tile_side(config, case.content.shape)}


def tiled_worker(size: int) -> dict:
    """The tiled run `stylize` makes at `size` by default: two Adam steps, the second one timed."""
    from explainer import StyleConfig, samples, stylize

    stamps = []
    config = StyleConfig(size=size, iterations=2, weights="random", print_every=0)
    result = stylize(samples.sample_content(), samples.sample_path("swirl"), config, progress=False,
                     log=lambda m: print(m, file=sys.stderr), on_step=lambda event: stamps.append(time.perf_counter()))
    return {"size": size, "shape": list(result.image.shape[:2]), "tiled_second_step_s": round(stamps[1] - stamps[0], 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _in_subprocess(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda t: [int(v) for v in t.split(",")], default=list(SIZES))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per size, after the compiling one")
    parser.add_argument("--tiled", type=int, metavar="SIZE", help="also time the default (tiled) run at SIZE")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, size = args.worker
        result = step_worker(int(size), args.steps) if kind == "step" else tiled_worker(int(size))
        print(json.dumps(result))
        return
    C.print_environment(C.environment())
    rows = []
    for size in args.sizes:
        row = {"size": size, **_in_subprocess("--worker", "step", str(size), "--steps", str(args.steps))}
        print(json.dumps(row), flush=True)
        rows.append(row)
    tiled = _in_subprocess("--worker", "tiled", str(args.tiled)) if args.tiled else None
    if tiled:
        print(json.dumps({"tiled": tiled}), flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}\n")
    print("| px | H x W | megapixels | s/step | us/pixel | peak RSS | memory model | default run |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['size']} | - | - | - | - | - | - | failed: {row['error']} |")
            continue
        h, w = row["shape"]
        mode = "untiled" if row["tile"] is None else f"tiled, {row['tile']} px tiles"
        print(f"| {row['size']} | {h} x {w} | {row['pixels'] / 1e6:.2f} | {row['step_s']:.3f} | "
              f"{1e6 * row['step_s'] / row['pixels']:.2f} | {row['peak_rss_mb']} MB | {row['model_mb']} MB | {mode} |")
    if tiled and "error" not in tiled:
        print(f"\ntiled at {args.tiled} px: second step {tiled['tiled_second_step_s']} s, "
              f"peak RSS {tiled['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
