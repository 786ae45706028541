"""One training step of Johnson et al.'s network: the package's JAX step vs the same network and loss in PyTorch.

The JAX side is what `style-explainer train` runs
(`explainer.trainer.make_train_step`: the loss network's pass over the
photos, the transformation network, the perceptual loss of
`explainer.losses`, its gradient and Adam, in one `jax.jit`). The PyTorch
side is the same computation written the usual way (pytorch/examples'
fast_neural_style): reflection padding, instance norm (affine), nearest
upsampling then a conv, VGG16 to relu4_3 with the same weights and Caffe
preprocessing, the same Gram normalisation and terms, `torch.optim.Adam`.
The two run alternately, `--reps` times each after a warm-up, so load from
other work affects both alike.

    python benchmarks/train_step.py                        # johnson, 128 px, batch 4
    python benchmarks/train_step.py --arch slim --size 256

Last line: `ratio: X.XX` (JAX median / PyTorch median; below 1: JAX faster).
Also:

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/train_step.py --no-torch
        # the data-parallel step over 2 CPU devices (images/s; compare with 1)
    python benchmarks/train_step.py --inference       # seconds per image at 256 and 512 px, both architectures
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # sets the package's XLA flags first
import jax
import jax.numpy as jnp
import numpy as np

from backends import get_backend
from backends._johnson import ARCHS, TransformSpec
from explainer import trainer
from explainer.config import TrainSettings

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def jax_side(args):
    backend = get_backend("vgg16", weights=args.weights, log=lambda m: None)
    net = TransformSpec(args.arch, "instance")
    rng = np.random.default_rng(0)
    style = rng.random((args.size, args.size, 3)).astype(np.float32)
    settings = TrainSettings(size=args.size, batch_size=args.batch, arch=args.arch)
    loss = trainer.training_loss_spec(settings, backend.features, style)
    mesh = trainer.data_mesh(trainer.devices_for(args.batch))
    step = trainer.make_train_step(net, backend.spec, loss.structure(), mesh)
    state = trainer.replicate(trainer.init_state(net, 0), mesh)
    vgg = trainer.replicate(backend.params, mesh)
    grams = trainer.replicate(trainer.style_targets(backend.features, loss, style), mesh)
    weights = trainer.replicate(loss.weights(), mesh)
    rates = trainer.replicate(trainer.rates(settings), mesh)
    batch = trainer.shard_batch(rng.random((args.batch, args.size, args.size, 3)).astype(np.float32), mesh,
                                args.batch)
    box = {"state": state}

    def run():
        box["state"], value, _ = step(box["state"], vgg, batch, grams, weights, rates)
        return float(value)

    return run, backend, loss, style, len(mesh.devices.flat)


def torch_side(torch, args, backend, loss, style):
    nn, F = torch.nn, torch.nn.functional
    torch.set_num_threads(C.cores())
    c1, c2, c3 = ARCHS[args.arch]

    def conv(i, o, k, s=1, bias=False):
        return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(i, o, k, s, bias=bias))

    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a, self.na = conv(c, c, 3), nn.InstanceNorm2d(c, affine=True)
            self.b, self.nb = conv(c, c, 3), nn.InstanceNorm2d(c, affine=True)

        def forward(self, x):
            return x + self.nb(self.b(F.relu(self.na(self.a(x)))))

    class Up(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.c, self.n = conv(i, o, 3), nn.InstanceNorm2d(o, affine=True)

        def forward(self, x):
            return F.relu(self.n(self.c(F.interpolate(x, scale_factor=2, mode="nearest"))))

    def block(i, o, k, s=1):
        return [conv(i, o, k, s), nn.InstanceNorm2d(o, affine=True), nn.ReLU()]

    net = nn.Sequential(*block(3, c1, 9), *block(c1, c2, 3, 2), *block(c2, c3, 3, 2),
                        *[Residual(c3) for _ in range(5)], Up(c3, c2), Up(c2, c1), conv(c1, 3, 9, bias=True))
    # VGG16 to relu4_3 with the JAX backend's weights (HWIO -> OIHW).
    layers, names = [], []
    for block_index, count in enumerate((2, 2, 3, 3), start=1):
        for i in range(1, count + 1):
            p = backend.params[f"conv{block_index}_{i}"]
            kernel = torch.from_numpy(np.asarray(p["kernel"]).transpose(3, 2, 0, 1).copy())
            layer = nn.Conv2d(kernel.shape[1], kernel.shape[0], 3, padding=1)
            layer.weight.data, layer.bias.data = kernel, torch.from_numpy(np.asarray(p["bias"]).copy())
            layers += [layer, nn.ReLU()]
            names += [f"conv{block_index}_{i}", f"relu{block_index}_{i}"]
        if block_index < 4:
            layers.append(nn.MaxPool2d(2))
            names.append(f"pool{block_index}")
    vgg = nn.Sequential(*layers).eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    mean = torch.tensor(backend.weights.mean_bgr, dtype=torch.float32).view(1, 3, 1, 1)
    wanted = set(STYLE_LAYERS) | {n for n, _ in loss.content}

    def features(x):
        x = x.flip(1) * 255.0 - mean
        out = {}
        for name, layer in zip(names, vgg):
            x = layer(x)
            if name in wanted:
                out[name] = x
        return out

    def gram(f):
        n, c, h, w = f.shape
        flat = f.reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)

    style_t = torch.from_numpy(style.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        targets = {n: gram(f)[0] for n, f in features(style_t).items() if n in STYLE_LAYERS}
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.random((args.batch, 3, args.size, args.size)).astype(np.float32))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def run():
        optimizer.zero_grad()
        with torch.no_grad():
            content = features(batch)
        out = net(batch)
        feats = features(out)
        total = sum(w * F.mse_loss(feats[n], content[n]) for n, w in loss.content)
        total = total + sum(w * ((gram(feats[n]) - targets[n]) ** 2).mean() for n, w in loss.style)
        pixels = out * 255.0
        tv = ((pixels[:, :, 1:] - pixels[:, :, :-1]) ** 2).mean() + ((pixels[..., 1:] - pixels[..., :-1]) ** 2).mean()
        total = total + loss.tv_weight * tv
        total.backward()
        optimizer.step()
        return float(total.detach())

    return run


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def inference(args) -> None:
    """Seconds per image of the test-time forward (one image, after compiling), each architecture and size."""
    C.print_environment(C.environment())
    rng = np.random.default_rng(0)
    for arch in ARCHS:
        net = TransformSpec(arch, "instance")
        variables = net.init(jax.random.key(0))
        forward = jax.jit(net.apply)
        for side in (256, 512):
            image = jnp.asarray(rng.random((1, side, side, 3)).astype(np.float32))
            forward(variables, image).block_until_ready()
            times = [timed(lambda: forward(variables, image).block_until_ready()) for _ in range(args.reps)]  # noqa: B023
            print(f"  {arch:8s} {side} px: {C.median(times):.3f} s per image (IQR {C.quartiles(times)[0]:.3f}-"
                  f"{C.quartiles(times)[1]:.3f})", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=tuple(ARCHS), default="johnson")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--weights", default="random", help="the VGG16's weights (random: no download; hed)")
    parser.add_argument("--no-torch", action="store_true", help="JAX only (e.g. over several devices)")
    parser.add_argument("--inference", action="store_true", help="time applying a network (256, 512 px) instead")
    args = parser.parse_args(argv)
    if args.inference:
        return inference(args)
    torch = None if args.no_torch else C.load_torch()
    C.print_environment(C.environment(torch))
    jax_run, backend, loss, style, devices = jax_side(args)
    print(f"== {args.arch} network, {args.size} px, batch {args.batch}, VGG16 ({args.weights} weights), "
          f"JAX on {devices} device(s)", flush=True)
    sides = {"jax": jax_run}
    if torch is not None:
        sides["torch"] = torch_side(torch, args, backend, loss, style)
    for name, fn in sides.items():
        warm = timed(fn)
        print(f"  {name:5s} first step (compile / warm-up) {warm:.2f} s", flush=True)
    times = {name: [] for name in sides}
    for _ in range(args.reps):
        for name, fn in sides.items():  # alternating
            times[name].append(timed(fn))
    for name, ts in times.items():
        q = C.quartiles(ts)
        print(f"  {name:5s} step {C.median(ts):.3f} s (IQR {q[0]:.3f}-{q[1]:.3f}), "
              f"{args.batch / C.median(ts):.2f} images/s")
    if "torch" in times:
        print(f"ratio: {C.median(times['jax']) / C.median(times['torch']):.2f}")


if __name__ == "__main__":
    main()
