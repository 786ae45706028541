"""What recording costs: wall time of a run with and without `--record`.

Two measurements, both of the package's own `run()` loop (what `stylize` and
the CLI run), on the sample content and style with HED VGG16 weights:

* **steady state** (default): the recorded and unrecorded runs advance side
  by side, one cycle of steps at a time (a cycle holds the same snapshots as
  any stretch of a long run: one every `--every` steps, gradient maps at
  every other one by default), in a rotating order, so the drift of this
  machine's speed over minutes falls on every variant alike. The overhead is
  the median over rounds of (recorded cycle time / unrecorded cycle time) - 1.
  This is what recording every N-th step costs a run of any length, apart
  from the fixed costs below.
  It then measures the fixed cost of a recorded run apart (the reference
  Gram matrices, building the trace), from paired one-step runs.
* **end to end** (`--end-to-end`): whole `stylize()` calls, alternated and
  repeated. Closest to what a user times, but a run lasts tens of seconds,
  over which this machine's speed drifts by up to 10%: read it with care.
* **per step** (`--per-step`): one compiled step at a time, plain and
  recorded with and without gradient maps, in units of a plain step: what a
  snapshot costs, without the loop around it.

Compilation is excluded (a warm-up cycle or run of each variant). On a 2-core
machine run it when nothing else runs: the differences are a few percent.

    python benchmarks/record_overhead.py                  # 256 px, every 10th step, 12 rounds
    python benchmarks/record_overhead.py --end-to-end --iterations 100 --repeats 3
    python benchmarks/record_overhead.py --per-step
    python benchmarks/record_overhead.py --size 128 --rounds 4 --weights random   # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import _common  # noqa: F401 -- sets up the process as `style-explainer` does (scratch memory reuse)

from explainer import StyleConfig, stylize
from explainer.optimize import run
from explainer.record import Recorder, RecordSpec
from explainer.samples import sample_content, sample_style


def variants(every: int) -> dict[str, RecordSpec | None]:
    return {
        "no recording": None,
        f"every {every}, maps every {2 * every} (default)": RecordSpec(every=every),
        f"every {every}, maps every {every}": RecordSpec(every=every, gradients_every=every),
        f"every {every}, no maps": RecordSpec(every=every, gradients=False),
    }


def steady_state(args, backend, content, style) -> dict[str, list[float]]:
    """Seconds per cycle of `2 * every` steps, per variant, one entry per round."""
    cycle = 2 * args.every
    config = StyleConfig(size=args.size, iterations=cycle * (args.rounds + 1) + 1, print_every=0, weights=args.weights,
                         network=args.arch)
    recorders = {name: Recorder(spec) if spec else None for name, spec in variants(args.every).items()}
    runs = {name: run(config, backend, content, [style], snapshots=recorder) for name, recorder in recorders.items()}

    def advance(name: str) -> float:
        recorder = recorders[name]
        start = time.perf_counter()
        for event in itertools.islice(runs[name], cycle):
            # each step's image and losses have reached the host when `run` yields;
            # the recorder keeps the snapshots, as `stylize` has it do
            if recorder is not None:
                recorder.observe(event)
        return time.perf_counter() - start

    for name in runs:  # compiles, and the targets' forward passes
        advance(name)
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for index in range(args.rounds):
        shift = index % len(names)  # rotate who goes first: switching costs the next cycle a little
        for name in names[shift:] + names[:shift]:
            times[name].append(advance(name))
    return times


def per_step(args, backend, content, style) -> dict[str, list[float]]:
    """Seconds of one compiled step: plain, recorded with gradient maps, recorded without; alternated."""
    import jax

    from explainer import images
    from explainer.optimize import compute_targets, loss_spec, make_stepper
    from explainer.record import make_snapshot_fn

    config = StyleConfig(size=args.size, weights=args.weights, network=args.arch)
    spec = loss_spec(config)
    content = images.resize_longest(content, args.size)
    targets = compute_targets(backend, spec, content, [images.resize_longest(style, args.size)], (1.0,))
    stepper = make_stepper(backend, spec, config.optimizer, config.learning_rate, config.ema_decay)
    steps = {
        "plain step": stepper.step,
        "recorded, with maps": stepper.recorded_step(make_snapshot_fn(backend, spec, spec.layers, 16, True)),
        "recorded, no maps": stepper.recorded_step(make_snapshot_fn(backend, spec, spec.layers, 16, False)),
    }
    state = stepper.init(content)

    def timed(step) -> float:
        nonlocal state
        start = time.perf_counter()
        state, *rest = step(backend.params, state, targets)
        jax.device_get(rest)  # what `run` takes to the host
        return time.perf_counter() - start

    for step in steps.values():
        timed(step), timed(step)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds * 2):
        for name, step in steps.items():
            times[name].append(timed(step))
    return times


def fixed_cost(args, backend, content, style, pairs: int = 8) -> list[float]:
    """Seconds a recorded run spends outside its steps, once per run, `pairs` paired measurements.

    One-step `stylize()` calls, recorded without gradient maps (a snapshot
    without maps costs next to nothing, see the steady state) against
    unrecorded: the difference is the reference Gram matrices, the recorder's
    set-up and building the trace.
    """
    config = StyleConfig(size=args.size, iterations=1, print_every=0, weights=args.weights,
                         network=args.arch)

    def timed(spec):
        start = time.perf_counter()
        stylize(content, style, config, backend=backend, progress=False, record=spec, log=lambda m: None)
        return time.perf_counter() - start

    spec = RecordSpec(every=args.every, gradients=False)
    timed(spec), timed(None)
    return [timed(spec) - timed(None) for _ in range(pairs)]


def end_to_end(args, backend, content, style) -> dict[str, list[float]]:
    """Seconds per whole `stylize()` call, per variant, one entry per repeat."""
    config = StyleConfig(size=args.size, iterations=args.iterations, print_every=0, weights=args.weights,
                         network=args.arch)

    def timed(spec):
        start = time.perf_counter()
        stylize(content, style, config, backend=backend, progress=False, record=spec, log=lambda m: None)
        return time.perf_counter() - start

    specs = variants(args.every)
    for spec in specs.values():  # compile everything first
        timed(spec)
    times: dict[str, list[float]] = {name: [] for name in specs}
    for _ in range(args.repeats):
        for name, spec in specs.items():
            times[name].append(timed(spec))
    return times


def report(times: dict[str, list[float]], unit: str, snapshots: dict[str, int]) -> None:
    plain = times["no recording"]
    for name, values in times.items():
        # The machine's speed drifts over minutes; a round's variants ran back to
        # back, so the median of per-round ratios is the steadier overhead.
        ratio = statistics.median(v / b for v, b in zip(values, plain))
        extra = statistics.median(v - b for v, b in zip(values, plain))
        per_snapshot = f"{extra / snapshots[name]:+.3f} s per snapshot" if snapshots[name] else ""
        print(f"{name:<32} {statistics.median(values):7.2f} s per {unit}   overhead {100 * (ratio - 1):+6.1f}%   "
              f"{per_snapshot:<24} (runs: {' '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--every", type=int, default=10, help="record every N steps (default: 10)")
    parser.add_argument("--rounds", type=int, default=12, help="steady state: measured cycles per variant")
    parser.add_argument("--end-to-end", action="store_true", help="time whole stylize() calls instead")
    parser.add_argument("--per-step", action="store_true", help="time single compiled steps: plain and recorded")
    parser.add_argument("--iterations", type=int, default=100, help="end to end: steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="end to end: runs per variant")
    parser.add_argument("--arch", default="vgg16", choices=("vgg16", "vgg19"),
                        help="network (default vgg16, for the real HED weights; time does not depend on the values)")
    parser.add_argument("--weights", default="hed", help="hed, random, ... (default: hed)")
    args = parser.parse_args()

    from backends import get_backend

    backend = get_backend(args.arch, weights=args.weights)
    content, style = sample_content(), sample_style("swirl", 256)
    print(f"network: {backend.describe()}")
    specs = variants(args.every)
    if args.per_step:
        print(f"{args.size} px, Adam, default layers; one compiled step at a time, alternated, {args.rounds * 2} rounds")
        times = per_step(args, backend, content, style)
        plain = statistics.median(times["plain step"])
        for name, values in times.items():
            print(f"{name:<22} {statistics.median(values):.3f} s  = {statistics.median(values) / plain:.2f} plain steps")
    elif args.end_to_end:
        print(f"{args.size} px, {args.iterations} Adam steps per run, default layers; "
              f"{args.repeats} alternated runs per variant")
        steps = range(1, args.iterations + 1)
        snapshots = {name: sum(spec.wants(i, args.iterations) for i in steps) if spec else 0
                     for name, spec in specs.items()}
        maps = {name: sum(spec.wants_gradients(i, args.iterations) for i in steps) if spec else 0
                for name, spec in specs.items()}
        print("snapshots per run (with maps): " + ", ".join(f"{n}: {snapshots[n]} ({maps[n]})" for n in specs if specs[n]))
        report(end_to_end(args, backend, content, style), "run", snapshots)
    else:
        cycle = 2 * args.every
        print(f"{args.size} px, Adam, default layers; cycles of {cycle} steps ({cycle // args.every} snapshots), "
              f"{args.rounds} rounds, variants interleaved")
        snapshots = {name: (cycle // args.every if spec else 0) for name, spec in specs.items()}
        report(steady_state(args, backend, content, style), "cycle", snapshots)
        extra = fixed_cost(args, backend, content, style)
        print(f"fixed cost of a recorded run (reference Grams, trace), median of {len(extra)} paired 1-step runs: "
              f"{statistics.median(extra):+.3f} s (runs: {' '.join(f'{v:+.3f}' for v in extra)})")


if __name__ == "__main__":
    main()
