"""What recording costs: wall time of a run with and without `--record`.

Runs the same stylization (sample content and style, HED VGG16 weights by
default) with no recording, with snapshots every N steps, and with snapshots
but no gradient maps; alternates the variants, repeats, and prints medians,
overheads and the extra time per snapshot. Compilation is excluded (one
warm-up run of each variant). On a 2-core machine run it when nothing else
runs: the differences measured are a few percent.

    python benchmarks/record_overhead.py                 # 256 px, 50 steps, every 10th
    python benchmarks/record_overhead.py --size 128 --iterations 30 --weights random
"""

from __future__ import annotations

import argparse
import statistics
import time

from explainer import StyleConfig, stylize
from explainer.record import RecordSpec
from explainer.samples import sample_content, sample_style


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default="hed")
    args = parser.parse_args()

    from backends import get_backend

    backend = get_backend("vgg16", weights=args.weights)
    config = StyleConfig(size=args.size, iterations=args.iterations, print_every=0, weights=args.weights)
    content, style = sample_content(), sample_style("swirl", 256)
    variants = {
        "no recording": None,
        f"record every {args.every}": RecordSpec(every=args.every),
        f"record every {args.every}, no gradients": RecordSpec(every=args.every, gradients=False),
    }
    print(f"network: {backend.describe()}")
    print(f"{args.size} px, {args.iterations} Adam steps, default layers; medians of {args.repeats} alternated runs")

    def timed(spec):
        start = time.perf_counter()
        stylize(content, style, config, backend=backend, progress=False, record=spec, log=lambda m: None)
        return time.perf_counter() - start

    for spec in variants.values():  # compile everything first
        timed(spec)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, spec in variants.items():
            times[name].append(timed(spec))
    base = statistics.median(times["no recording"])
    snapshots = sum(RecordSpec(every=args.every).wants(i, args.iterations) for i in range(1, args.iterations + 1))
    print(f"{snapshots} snapshots per run (step 1, every {args.every}th after it, the last)")
    for name, values in times.items():
        median = statistics.median(values)
        # The machine's speed drifts over minutes; a round's variants ran back to
        # back, so the median of per-round ratios is the steadier overhead.
        ratio = statistics.median(v / b for v, b in zip(values, times["no recording"]))
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<36} {median:7.2f} s   overhead {100 * (ratio - 1):+6.1f}% (median of per-round ratios)   "
              f"{(median - base) / snapshots:+.3f} s per snapshot; runs: {runs}")


if __name__ == "__main__":
    main()
