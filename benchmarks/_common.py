"""Shared pieces of the benchmarks: the environment report, the problem
(images, loss, targets), and the PyTorch peer.

PyTorch is only a benchmark peer: it is imported lazily (`load_torch`) and is
never a dependency of the package. Everything JAX-side is the package's own
code (`explainer.optimize.make_stepper`), so the timings are of what users run.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# The package first, as in any program that uses it: importing it sets its
# XLA_FLAGS (backends/_xla.py), which XLA reads when JAX starts its backend.
import backends

# As `style-explainer` does before it starts (backends/_xla.py); both
# frameworks in this process share the setting.
SCRATCH_REUSED = backends.reuse_scratch_memory()

import numpy as np

# --------------------------------------------------------------------------- environment


def cores() -> int:
    """Cores this process may run on (what XLA:CPU sizes its thread pool by)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The vector extensions that matter for convolutions."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
                    return " ".join(w for w in wanted if w in have) or "none of avx2/avx512"
    except OSError:
        pass
    return "unknown"


def load_torch():
    """`torch`, or None (with the reason on stderr) when it is not importable."""
    try:
        import torch
    except Exception as error:  # noqa: BLE001 -- ImportError, or a broken install
        print(f"note: PyTorch is not importable ({error}); skipping the PyTorch side. "
              "Install it for yourself (never as a package dependency): pip install torch==2.13.0", file=sys.stderr)
        return None
    return torch


def environment(torch=None) -> dict[str, Any]:
    import jax
    import jaxlib

    env: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": cores(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_threads": f"XLA:CPU intra-op pool = {cores()} (one per schedulable core)",
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),  # including the package's (backends/_xla.py)
        "reuse_scratch_memory": SCRATCH_REUSED,  # glibc keeps freed memory (STYLE_EXPLAINER_REUSE_SCRATCH=0: off)
    }
    for var in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT"):
        if var in os.environ:
            env[var] = os.environ[var]
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["torch_interop_threads"] = torch.get_num_interop_threads()
        env["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    else:
        env["torch"] = None
    return env


def print_environment(env: dict[str, Any]) -> None:
    print("== environment")
    for key, value in env.items():
        print(f"  {key:22s} {value}")
    print(flush=True)


# --------------------------------------------------------------------------- statistics


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def quartiles(xs: Sequence[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


# --------------------------------------------------------------------------- the problem


@dataclasses.dataclass
class Case:
    """One benchmark problem: a backend, the default loss, the images and their targets."""

    arch: str
    weights: str
    size: int
    backend: Any
    spec: Any
    content: np.ndarray
    style: np.ndarray
    targets: Any

    @property
    def shape(self) -> tuple[int, int]:
        return self.content.shape[0], self.content.shape[1]

    def label(self) -> str:
        h, w = self.shape
        pool = "" if self.backend.pooling == "max" else f", {self.backend.pooling} pooling"
        return f"{self.arch} {self.size}px ({h}x{w}, {self.weights} weights{pool})"


def make_case(arch: str, weights: str, size: int, pooling: str = "max") -> Case:
    """The default run (jcjohnson layers and weights) on the sample images at `size` px."""
    from backends import get_backend
    from explainer import StyleConfig
    from explainer.images import resize_longest
    from explainer.optimize import compute_targets, loss_spec
    from explainer.samples import sample_content, sample_style

    backend = get_backend(arch, weights=weights, pooling=pooling, log=lambda m: print(m, file=sys.stderr))
    if backend.arch != arch:
        raise SystemExit(f"--weights {weights} gives a {backend.arch}, not a {arch}: use --arch {backend.arch}")
    spec = loss_spec(StyleConfig(network=arch, weights=weights))
    content = resize_longest(sample_content(), size).astype(np.float32)
    style = sample_style("swirl", size).astype(np.float32)
    targets = compute_targets(backend, spec, content, [style], [1.0])
    return Case(arch, weights, size, backend, spec, content, style, targets)


def block(tree):
    import jax

    return jax.block_until_ready(tree)


# --------------------------------------------------------------------------- windowed pooling (experiment)


def use_windowed_maxpool(enabled: bool) -> None:
    """Experiment switch: the package's pooling as it was before, windowed.

    The package (`backends._vgg._pool`) pools 2x2/stride 2 by crop + reshape +
    max (or mean). This switch puts back `flax.linen.max_pool` (or `avg_pool`
    for `pooling="avg"`), window 2x2, stride 2, VALID padding, i.e.
    `lax.reduce_window`, whose max gradient XLA:CPU lowers to a
    select-and-scatter. Same values (odd sides are floored by both); the max
    gradients differ only where a window holds tied maxima (select-and-scatter
    gives it all to one of them, the reshape max splits it).

    Patches the name the Flax module looks up at trace time, in this process
    only; steppers traced afterwards see it. Nothing in the package changes.
    """
    import backends._vgg as vgg_mod

    if not hasattr(vgg_mod, "_package_pool"):
        vgg_mod._package_pool = vgg_mod._pool
    if not enabled:
        vgg_mod._pool = vgg_mod._package_pool
        return

    import flax.linen as nn

    def windowed_pool(x, pooling):
        pool = nn.max_pool if pooling == "max" else nn.avg_pool
        return pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")

    vgg_mod._pool = windowed_pool


# --------------------------------------------------------------------------- the PyTorch peer


class TorchStyle:
    """The same problem written plainly in PyTorch: an `nn.Sequential` VGG of
    Conv2d/ReLU/MaxPool2d with the JAX weights copied in (HWIO -> OIHW), the
    same Caffe preprocessing and losses, `torch.optim.Adam(lr)` and a clamp
    to `[0, 1]`, NCHW float32 on the CPU.
    """

    def __init__(self, torch, case: Case, learning_rate: float = 0.02, threads: int | None = None):
        from backends import layer_names

        self.torch = torch
        nn = torch.nn
        torch.set_num_threads(threads or cores())
        self.spec = case.spec
        order = layer_names(case.arch)
        deepest = max(order.index(n) for n in case.spec.layers)
        self.names = order[: deepest + 1]
        self.wanted = set(case.spec.layers)
        layers = []
        params = case.backend.params
        for name in self.names:
            if name.startswith("conv"):
                kernel = np.asarray(params[name]["kernel"])  # (3, 3, in, out)
                conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
                    conv.bias.copy_(torch.from_numpy(np.array(params[name]["bias"])))
                layers.append(conv)
            elif name.startswith("relu"):
                layers.append(nn.ReLU(inplace=True))
            else:
                # 2x2 stride 2, floor mode, like the Flax VALID pooling
                layers.append(nn.MaxPool2d(2, 2) if case.backend.pooling == "max" else nn.AvgPool2d(2, 2))
        self.model = nn.Sequential(*layers).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.mean = torch.tensor(case.backend.weights.mean_bgr, dtype=torch.float32).view(1, 3, 1, 1)
        self.learning_rate = learning_rate
        with torch.no_grad():
            content_feats = self.features(self.to_nchw(case.content))
            style_feats = self.features(self.to_nchw(case.style))
        self.content_targets = {n: content_feats[n] for n, _ in self.spec.content}
        self.style_targets = {n: self.gram(style_feats[n]) for n, _ in self.spec.style}

    def to_nchw(self, image: np.ndarray):
        return self.torch.from_numpy(np.array(image.transpose(2, 0, 1)[None], np.float32))

    def features(self, x):
        h = x.flip(1) * 255.0 - self.mean  # RGB [0, 1] -> BGR, x255, minus mean
        out = {}
        for name, layer in zip(self.names, self.model):
            h = layer(h)
            if name in self.wanted:
                out[name] = h
        return out

    @staticmethod
    def gram(f):
        _, c, h, w = f.shape
        flat = f.reshape(c, h * w)
        return flat @ flat.t() / (h * w * c)

    def objective(self, x):
        feats = self.features(x)
        loss = x.new_zeros(())
        for name, w in self.spec.content:
            loss = loss + w * (feats[name] - self.content_targets[name]).square().mean()
        for name, w in self.spec.style:
            loss = loss + w * (self.gram(feats[name]) - self.style_targets[name]).square().mean()
        if self.spec.tv_weight:
            pixels = x * 255.0
            dy = pixels[:, :, 1:, :] - pixels[:, :, :-1, :]
            dx = pixels[:, :, :, 1:] - pixels[:, :, :, :-1]
            loss = loss + self.spec.tv_weight * (dy.square().mean() + dx.square().mean())
        return loss

    def init(self, image: np.ndarray):
        self.x = self.to_nchw(image).clone().requires_grad_(True)
        self.optimizer = self.torch.optim.Adam([self.x], lr=self.learning_rate)

    def step(self) -> float:
        """One Adam step; returns the loss before the update (as the JAX Stepper does)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.objective(self.x)
        loss.backward()
        self.optimizer.step()
        with self.torch.no_grad():
            self.x.clamp_(0.0, 1.0)
        return loss.item()

    def forward_only(self) -> float:
        with self.torch.no_grad():
            return float(self.objective(self.x))

    def value_and_grad(self) -> float:
        self.x.grad = None
        loss = self.objective(self.x)
        loss.backward()
        return loss.item()

    def image(self) -> np.ndarray:
        return self.x.detach().numpy()[0].transpose(1, 2, 0)


def time_call(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
