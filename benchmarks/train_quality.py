"""Quality of a trained network vs optimising the image (Gatys et al., 100 Adam steps), on a photo never trained on.

Both are scored by the same loss: the one the network was trained against
(`model.json`'s layers and weights, the same VGG16 weights), through the
optimisation method's own code (`explainer.optimize`). The network paints
the photo in one pass; Gatys's method starts from the photo and takes
`--steps` Adam steps (rate 0.02, clipped to [0, 1]) on that loss.

    python benchmarks/train_quality.py MODEL_DIR [--photo photo:chelsea] [--size 128] [--steps 100] [--save DIR] [--per-layer]

Prints the style, content and TV terms of both, and their times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # sets the package's XLA flags first
import jax
import numpy as np

from backends import get_backend
from explainer.data import center_square, load_item
from explainer.events import total_of_family
from explainer.images import save_image
from explainer.losses import LossSpec
from explainer.models import load_model
from explainer.optimize import compute_targets, make_objective, make_stepper
from explainer.training import _style_image


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--photo", default="photo:chelsea", help="never trained on (a probe of the default data)")
    parser.add_argument("--size", type=int, default=None, help="default: the training size")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="folder for the photo, the network's and Gatys's images")
    parser.add_argument("--per-layer", action="store_true", help="also print each layer's share of each term")
    args = parser.parse_args(argv)
    C.print_environment(C.environment())
    model = load_model(args.model)
    m = model.manifest
    settings = m["settings"]
    size = args.size or settings["size"]
    backend = get_backend("vgg16", weights=settings["weights"], log=lambda message: None)
    spec = LossSpec(content=tuple(map(tuple, m["loss"]["content"])), style=tuple(map(tuple, m["loss"]["style"])),
                    tv_weight=m["loss"]["tv"])
    photo = center_square(load_item(args.photo), size)
    style = _style_image(m["style"]["source"], round(size * settings["style_scale"]))
    targets = compute_targets(backend, spec, photo, [style], [1.0])
    objective = jax.jit(make_objective(backend.spec, spec))

    model.stylise(photo[None])  # compile
    start = time.perf_counter()
    painted = np.asarray(model.stylise(photo[None]))[0]
    network_s = time.perf_counter() - start

    stepper = make_stepper(backend, spec, "adam", 0.02)
    state = stepper.init(photo)
    state, *_ = stepper.step(backend.params, state, targets)  # compile (counted as a step)
    start = time.perf_counter()
    for _ in range(args.steps - 1):
        state, *_ = stepper.step(backend.params, state, targets)
    gatys = np.asarray(stepper.display(state))
    gatys_s = time.perf_counter() - start

    print(f"== {args.photo} at {size} px; model {args.model}: {m['architecture']['arch']}, "
          f"{m['architecture']['norm']} norm, {m['steps_done']} steps of {settings['batch_size']} "
          f"({m['train_seconds']:.0f} s of training on {m['devices']} device(s))")
    for name, image, seconds in (("photo", photo, 0.0), ("network", painted, network_s),
                                 (f"gatys {args.steps} Adam", gatys, gatys_s)):
        total, terms = objective(backend.params, image, targets)
        parts = "  ".join(f"{k} {total_of_family(v):.4g}" for k, v in jax.device_get(terms).items())
        print(f"  {name:16s} loss {float(total):.4g}  {parts}  ({seconds:.2f} s)")
        if args.per_layer:
            for family, value in jax.device_get(terms).items():
                if isinstance(value, dict):
                    print(f"  {'':16s}   {family}: " + "  ".join(f"{k} {float(v):.4g}" for k, v in value.items()))
    if args.save:
        for name, image in (("photo", photo), ("network", painted), ("gatys", gatys)):
            save_image(image, os.path.join(args.save, f"{name}.png"))


if __name__ == "__main__":
    main()
