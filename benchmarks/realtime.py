"""Time the feed-forward stylisers: the package's JAX ports vs onnxruntime on the original ONNX files.

For each side (default 256, 512, 1024 px; square photo-like content) and
model (the arbitrary-style transformer, whose style embedding is computed
once beforehand as a real-time app does, and the 26-style network), one
image is stylised by the JAX port (`backends.get_styliser(...).stylise`,
float activations, compiled once per shape before timing) and by
onnxruntime (CPU provider, default graph optimisations, intra-op threads =
the cores this process may use), alternately (J O J O ...). Medians in
milliseconds per image. Then webcam-sized frames (320x240): frames per
second, both sides. The last line is `ratio: X.XX`: JAX's median over
onnxruntime's for the arbitrary transformer at 512 px (goal <= 1.0).

onnxruntime runs the original files; only the transformer's fixed input
shape (384x384) is made symbolic so other sizes can be fed (nothing else in
the graph changes). Its int8 arbitrary-style graph is run the way
onnxruntime runs it by default (quantized operators where it fuses them).

Run from the repository root:  python benchmarks/realtime.py [--sizes 256 512 1024] [--repeats 5]
onnxruntime is only the peer here (pip install onnxruntime; the package's test extra has it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C
import numpy as np

from backends import _styliser_weights as sw
from backends import get_styliser

MODELS = ("arbitrary", "multistyle")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/realtime.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square sides in px")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per side and framework (alternated)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--webcam-frames", type=int, default=20, help="frames timed at 320x240 per framework")
    return p.parse_args(argv)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(7 * x + 3 * y * y), 0.5 + 0.4 * np.cos(5 * y - 2 * x),
                    0.5 + 0.3 * np.sin(11 * x * y)], -1)
    return np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1)[None].astype(np.float32)


def ort_session(path, threads: int):
    """onnxruntime on the file at `path`, input sides made symbolic (the transformer is exported at 384)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value != 1:
            axes = (2, 3) if dims[1].dim_value == 3 or dims[1].dim_param else (1, 2)
            for axis in axes:
                dims[axis].dim_param = f"side{axis}"
    del model.graph.value_info[:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def runners(model: str, paths: dict, threads: int):
    """`(jax_fn(content), ort_fn(content))` for one model, style fixed."""
    if model == "arbitrary":
        s = get_styliser("arbitrary")
        embedding = np.asarray(s.embed(photo(256, 256, 5)))
        session = ort_session(paths["arbitrary_transform"], threads)
        names = [i.name for i in session.get_inputs()]
        return (lambda c: np.asarray(s.stylise(c, embedding)),
                lambda c: session.run(None, {names[0]: c, names[1]: embedding.reshape(1, 1, 1, 100)})[0])
    s = get_styliser("multistyle")
    weights = np.eye(26, dtype=np.float32)[7]
    session = ort_session(paths["multistyle26"], threads)
    return (lambda c: np.asarray(s.stylise(c, weights)),
            lambda c: session.run(None, {"image": c.transpose(0, 3, 1, 2), "style_weights": weights})[0])


def alternate(fns: dict, content: np.ndarray, repeats: int) -> dict[str, list[float]]:
    """Warm each up once (compiles JAX for this shape), then time them alternately."""
    for fn in fns.values():
        fn(content)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(content)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnxruntime

    env = C.environment()
    env["onnxruntime"] = f"{onnxruntime.__version__}, intra-op threads = {C.cores()}"
    C.print_environment(env)
    paths = sw.fetch_files(tuple(n for m in args.models for n in sw.FILES[m]))
    ratio = None
    for model in args.models:
        jax_fn, ort_fn = runners(model, paths, C.cores())
        print(f"== {model}: ms per image (median of {args.repeats}, alternated; [quartiles])")
        for side in args.sizes:
            t = alternate({"jax": jax_fn, "ort": ort_fn}, photo(side, side, 1), args.repeats)
            j, o = C.median(t["jax"]) * 1e3, C.median(t["ort"]) * 1e3
            jq, oq = (tuple(v * 1e3 for v in C.quartiles(t[k])) for k in ("jax", "ort"))
            print(f"  {side:5d} px  jax {j:8.1f} [{jq[0]:.1f}, {jq[1]:.1f}]   onnxruntime {o:8.1f} "
                  f"[{oq[0]:.1f}, {oq[1]:.1f}]   jax/ort {j / o:.2f}", flush=True)
            if model == "arbitrary" and side == 512:
                ratio = j / o
        t = alternate({"jax": jax_fn, "ort": ort_fn}, photo(240, 320, 2), args.webcam_frames)
        fps = {k: 1.0 / C.median(v) for k, v in t.items()}
        print(f"  webcam 320x240: jax {fps['jax']:.1f} frames/s, onnxruntime {fps['ort']:.1f} frames/s "
              f"(median of {args.webcam_frames} frames each)\n", flush=True)
    if ratio is not None:
        print(f"ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
