"""One script for a GPU machine: what a user feels, on whatever device JAX finds.

    python benchmarks/gpu.py              # the full set (meant for a GPU: minutes there, far longer on a CPU)
    python benchmarks/gpu.py --small      # tiny sizes: a smoke test that runs on any CPU in seconds

Install JAX's CUDA build first on an NVIDIA machine: `pip install -e ".[cuda]"`
(the `cuda` extra pulls `jax[cuda12]`). It prints, in order:

1. the device JAX runs on (platform, kind, count);
2. Gatys optimisation: 512 px x 500 Adam steps (VGG19, random weights --
   the time does not depend on the values), compile time apart, s/step and
   the total (goal: under 5 s on a current data-centre GPU;
   jcjohnson/neural-style took 22-43 s on a Pascal Titan X);
3. the explorer's first preview: seconds from the request to the first
   streamed image at 256 px, compilation included, as the Stylize tab runs it
   (`explainer.stylize` with a callback), from a cold and from a warm cache;
4. feed-forward frames per second at 1080p (1920x1080) for the arbitrary-style
   network (random weights unless the pretrained ones are cached);
5. training images per second: n/a until `style-explainer train` exists.

Every step leaves the device only where the number needs it (a
`block_until_ready` at the end of a timed stretch); nothing is copied to the
host inside the loop.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="tiny sizes, few steps, random weights (a CPU smoke test)")
    p.add_argument("--size", type=int, default=512, help="Gatys size in px (default 512)")
    p.add_argument("--steps", type=int, default=500, help="Gatys Adam steps (default 500)")
    p.add_argument("--frame", default="1920x1080", help="feed-forward frame WxH (default 1920x1080)")
    p.add_argument("--frames", type=int, default=20, help="feed-forward frames to time (default 20)")
    args = p.parse_args(argv)
    if args.small:
        args.size, args.steps, args.frame, args.frames = 64, 5, "96x64", 3
    return args


def device_line() -> str:
    import jax

    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return f"device: {jax.default_backend()} x{len(devices)} ({', '.join(kinds)}); jax {jax.__version__}"


def gatys(size: int, steps: int) -> dict:
    """Compile once, then `steps` Adam steps at `size` px, timed with one sync at the end."""
    import jax

    from backends import get_backend
    from explainer import StyleConfig, samples
    from explainer.images import resize_longest
    from explainer.optimize import compute_targets, loss_spec, make_stepper

    backend = get_backend("vgg19", weights="random", log=lambda m: None)
    spec = loss_spec(StyleConfig())
    content = resize_longest(samples.sample_content(), size)
    targets = compute_targets(backend, spec, content, [samples.sample_style("swirl", size)], [1.0])
    stepper = make_stepper(backend, spec, "adam", 0.02)
    state = stepper.init(content)
    start = time.perf_counter()
    state, loss, _ = stepper.step(backend.params, state, targets)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        state, loss, _ = stepper.step(backend.params, state, targets)
    jax.block_until_ready(state)
    total = time.perf_counter() - start
    return {"shape": content.shape[:2], "compile_s": compile_s, "total_s": total, "s_per_step": total / steps,
            "finite": bool(np.isfinite(float(loss)))}


def first_preview(size: int) -> dict:
    """Seconds to the first event of a run, as the explorer's Stylize tab gets it; twice (cold, then warm)."""
    from backends import get_backend
    from explainer import StyleConfig, samples, stylize

    backend = get_backend("vgg19", weights="random", log=lambda m: None)
    config = StyleConfig(size=size, iterations=2, print_every=0, weights="random")
    out = {}
    for label in ("cold", "warm"):
        start, seen = time.perf_counter(), []

        def on_step(event, seen=seen, start=start):
            if not seen:
                seen.append(time.perf_counter() - start)

        stylize(samples.sample_content(), [samples.sample_style("swirl", size)], config, backend=backend,
                on_step=on_step, progress=False, log=lambda m: None)
        out[label] = seen[0]
    return out


def feed_forward(frame: str, frames: int, pretrained: bool = True) -> dict:
    """Frames per second of the arbitrary-style network on `frame`-sized images (one embedding, batch 1)."""
    import jax

    from backends import get_styliser

    width, height = (int(v) for v in frame.lower().split("x"))
    styliser, weights = None, "random"
    if pretrained:
        try:
            styliser, weights = get_styliser("arbitrary", log=lambda m: None), "pretrained"
        except Exception as error:  # noqa: BLE001 -- timing does not depend on the values: random weights will do
            print(f"note: pretrained weights unavailable ({error}); timing random ones", file=sys.stderr)
    styliser = styliser or get_styliser("arbitrary", weights="random")
    image = np.random.default_rng(0).uniform(size=(1, height, width, 3)).astype(np.float32)
    embedding = np.zeros((1, styliser.embedding_size), np.float32)
    jax.block_until_ready(styliser.stylise(image, embedding))  # compile
    start = time.perf_counter()
    for _ in range(frames):
        out = styliser.stylise(image, embedding)
    jax.block_until_ready(out)
    seconds = (time.perf_counter() - start) / frames
    return {"frame": f"{width}x{height}", "weights": weights, "ms_per_frame": 1000 * seconds, "fps": 1 / seconds}


def main(argv=None) -> None:
    args = _args(argv)
    print(device_line(), flush=True)
    g = gatys(args.size, args.steps)
    print(f"gatys: {args.size} px ({g['shape'][1]}x{g['shape'][0]}) x {args.steps} Adam steps: {g['total_s']:.2f} s "
          f"({g['s_per_step'] * 1000:.1f} ms/step; compile {g['compile_s']:.1f} s apart)", flush=True)
    preview_size = 64 if args.small else 256
    p = first_preview(preview_size)
    print(f"first preview at {preview_size} px: {p['cold']:.2f} s cold (compiling), {p['warm']:.2f} s warm", flush=True)
    f = feed_forward(args.frame, args.frames, pretrained=not args.small)
    print(f"feed-forward {f['frame']} ({f['weights']} weights): {f['ms_per_frame']:.1f} ms/frame, "
          f"{f['fps']:.1f} frames/s", flush=True)
    print("training: n/a (no 'style-explainer train' in this version)")


if __name__ == "__main__":
    sys.exit(main())
