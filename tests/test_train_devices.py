"""Data-parallel training gives the same network on 1 device, 8 devices, and 2 processes x 2 devices.

Each configuration runs in its own process (the device count is fixed when
JAX starts): `XLA_FLAGS=--xla_force_host_platform_device_count=N` for N
CPU devices, and two processes joined by `jax.distributed` with gloo CPU
collectives on 127.0.0.1. The same seed and global batch (8 smooth
photo-like images of 24 px, 3 Adam steps of 5e-4, a slim network, an
untrained VGG16, a smooth style) must give the same network: only the order
of float32 sums differs (the gradient's all-reduce). Measured here: 8
devices vs 1, losses within 4e-7 (relative), weights within 3e-7 (a step
moves them by 5e-4), the painted probes within 1e-5; 2 processes x 2
devices vs 1 device, losses 1.3e-7, weights 3.2e-6, probes 2.1e-4 (a
twentieth of an 8-bit level). Tolerances: losses `RTOL` (relative), every
weight `ATOL` (4% of a step), the painted probes `PIXELS`.

(In a chaotic regime, e.g. a noise style with a rate at which the loss
oscillates, Adam amplifies rounding: it moves a weight by about the rate
times the sign of its gradient, and rounding decides the sign of a
near-zero gradient; after 3 such steps the weights of 1 and 8 devices
differed by up to 3e-3. That is Adam on an unstable problem, not the
data-parallel step: its first step agreed to one weight.)
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from explainer.images import save_image

WORKER = pathlib.Path(__file__).with_name("_train_worker.py")
STEPS, BATCH = 3, 8
RTOL, ATOL, PIXELS = 1e-5, 2e-5, 1e-3


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six smooth, photo-like images (the first two are held out as probes)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(6):
        h, w = 28 + 2 * i, 30
        y, x = np.mgrid[0:h, 0:w] / 15.0
        image = np.stack([0.5 + 0.4 * np.sin(3 * x + i), 0.5 + 0.4 * np.cos(2 * y - i), 0.5 + 0.2 * np.sin(x * y)], -1)
        save_image(np.clip(image + 0.03 * rng.standard_normal(image.shape), 0, 1), folder / f"p{i}.png")
    return str(folder)


def _env(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(WORKER.parent.parent), env.get("PYTHONPATH", "")])
    return env


def _start(out, photos, devices, *extra):
    return subprocess.Popen([sys.executable, str(WORKER), str(out), photos, str(STEPS), str(BATCH), *map(str, extra)],
                            env=_env(devices), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, photos):
    out = tmp_path_factory.mktemp("one") / "weights.npz"
    _finish(_start(out, photos, 1))
    return dict(np.load(out))


def _same_network(got: dict, reference: dict) -> None:
    names = [name for name in reference if name.startswith(("params/", "batch_stats/"))]
    assert names and set(names) == {name for name in got if name.startswith(("params/", "batch_stats/"))}
    weights = max(float(np.abs(got[name] - reference[name]).max()) for name in names)
    losses = float(np.abs(got["losses"] / reference["losses"] - 1).max())
    probes = float(np.abs(got["painted"] - reference["painted"]).max())
    print(f"losses {losses:.2g} (relative), weights {weights:.2g}, probes {probes:.2g}")
    assert losses <= RTOL
    assert weights <= ATOL
    assert probes <= PIXELS
    assert reference["losses"][-1] < reference["losses"][0]  # it trained


@pytest.mark.slow
def test_eight_devices_train_the_same_network_as_one(tmp_path, photos, one_device):
    out = tmp_path / "weights.npz"
    _finish(_start(out, photos, 8))
    got = dict(np.load(out))
    assert int(got["devices"]) == 8 and int(one_device["devices"]) == 1
    _same_network(got, one_device)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_the_same_network_as_one_device(tmp_path, photos, one_device):
    coordinator = f"127.0.0.1:{_free_port()}"
    out = tmp_path / "weights.npz"
    workers = [_start(out, photos, 2, coordinator, 2, index) for index in (0, 1)]
    for worker in workers:
        _finish(worker)
    got = dict(np.load(out))
    assert int(got["devices"]) == 4  # 2 processes x 2 devices
    _same_network(got, one_device)
