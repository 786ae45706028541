"""A few training steps in a fresh process (device count, process id from the command line); writes the weights.

Used by tests/test_train_devices.py: `python tests/_train_worker.py OUT.npz DATA STEPS BATCH [COORD NPROC PID]`,
run with `XLA_FLAGS=--xla_force_host_platform_device_count=N` set by the caller.
"""

import sys

import numpy as np

from explainer import training as _training
from explainer.config import TrainSettings
from explainer.models import flatten
from explainer.training import Training

# The tolerances of tests/test_train_devices.py were measured with an untrained VGG16 as the loss network
# (weights="random" now makes a VGG19, whose longer sums round further apart: 2.06e-5 against 2e-5).
_training.LOSS_ARCH = "vgg16"


def main(out, data, steps, batch, coordinator=None, processes=None, index=None):
    settings = TrainSettings(size=24, steps=int(steps), batch_size=int(batch), arch="slim", data=data,
                             preview_every=0, checkpoint_every=0, learning_rate=5e-4, tv_weight=1e-4, weights="random",
                             coordinator=coordinator, num_processes=int(processes) if processes else None,
                             process_id=int(index) if index else None)
    y, x = np.mgrid[0:28, 0:28] / 28.0  # a smooth, stripy style: a gentle loss (noise makes a chaotic one)
    style = np.stack([0.5 + 0.4 * np.sin(12 * x + 4 * y), 0.5 + 0.4 * np.sin(9 * y), 0.5 + 0.3 * np.cos(7 * x)], -1)
    style = style.astype(np.float32)
    # The loss network is made inside: jax.distributed must start before JAX does.
    training = Training(style, out + ".model", settings, log=lambda message: None)
    losses = [event.loss for event in training.events()]
    if training.is_writer:
        from explainer.trainer import to_host

        arrays = flatten(to_host(training.state.variables))
        from explainer.trainer import preview

        painted = preview(training.net, training.state, training.probes)  # the held-out photos, test-time mode
        np.savez(out, losses=np.array(losses), devices=len(training.mesh.devices.flat), painted=painted, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
