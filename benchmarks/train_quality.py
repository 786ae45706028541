"""Quality of a trained network vs optimising the image (Gatys et al., 100 Adam steps), on a photo never trained on.

Both are scored by the same loss: the one the network was trained against
(`model.json`'s layers and weights, the same VGG16 weights), through the
optimisation method's own code (`explainer.optimize`). The network paints
the photo in one pass; Gatys's method starts from the photo and takes
`--steps` Adam steps (rate 0.02, clipped to [0, 1]) on that loss.

    python benchmarks/train_quality.py MODEL_DIR [--photo photo:chelsea ...] [--size 128] [--steps 100] [--save DIR] [--per-layer]

`--photo` may be repeated (default: the two probes of the default data,
chelsea and rocket). Prints the style, content and TV terms of the photo,
the network's painting and Gatys's result, their times, and per photo a
last line `PHOTO: style ratio X.XX, content ratio Y.YY` (network / Gatys:
the issue's criterion is a style ratio <= 1 with content of the same order).
"""

from __future__ import annotations

import argparse
import os
import pathlib
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


def _loss_spec(manifest: dict) -> LossSpec:
    loss = manifest["loss"]
    return LossSpec(content=tuple(map(tuple, loss["content"])), style=tuple(map(tuple, loss["style"])),
                    tv_weight=loss["tv"])


def score(model, backend, item: str, size: int, steps: int) -> dict:
    """The photo, the network's painting and Gatys's `steps` Adam steps from the photo, each with its loss terms."""
    m = model.manifest
    spec = _loss_spec(m)
    photo = center_square(load_item(item), size)
    style = _style_image(m["style"]["source"], round(size * m["settings"]["style_scale"]))
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
    for _ in range(steps - 1):
        state, *_ = stepper.step(backend.params, state, targets)
    gatys = np.asarray(stepper.display(state))
    gatys_s = time.perf_counter() - start

    rows = {}
    for name, image, seconds in (("photo", photo, 0.0), ("network", painted, network_s), ("gatys", gatys, gatys_s)):
        total, terms = jax.device_get(objective(backend.params, image, targets))
        rows[name] = {"image": image, "seconds": seconds, "loss": float(total), "terms": terms,
                      **{family: float(total_of_family(value)) for family, value in terms.items()}}
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--photo", action="append", help="never trained on (default: the default data's probes, "
                        "photo:chelsea and photo:rocket); repeat for several")
    parser.add_argument("--size", type=int, default=None, help="default: the training size")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="folder for each photo, the network's and Gatys's images (PHOTO-network.png)")
    parser.add_argument("--per-layer", action="store_true", help="also print each layer's share of each term")
    args = parser.parse_args(argv)
    C.print_environment(C.environment())
    model = load_model(args.model)
    m = model.manifest
    settings = m["settings"]
    size = args.size or settings["size"]
    trained_on = m["loss"]["weights"]  # the loss network the model was trained against (not settings' "auto")
    backend = get_backend(trained_on["arch"], weights=trained_on["name"], seed=trained_on.get("seed") or 0,
                          log=lambda message: None)
    print(f"loss network: {backend.describe(with_path=False)}")
    ratios = []
    for item in args.photo or ["photo:chelsea", "photo:rocket"]:
        rows = score(model, backend, item, size, args.steps)
        print(f"== {item} at {size} px; model {args.model}: {m['architecture']['arch']}, "
              f"{m['architecture']['norm']} norm, {m['steps_done']} steps of {settings['batch_size']} "
              f"({m['train_seconds']:.0f} s of training on {m['devices']} device(s))")
        for name, row in rows.items():
            label = f"gatys {args.steps} Adam" if name == "gatys" else name
            parts = "  ".join(f"{family} {row[family]:.4g}" for family in row["terms"])
            print(f"  {label:16s} loss {row['loss']:.4g}  {parts}  ({row['seconds']:.2f} s)")
            if args.per_layer:
                for family, value in row["terms"].items():
                    if isinstance(value, dict):
                        print(f"  {'':16s}   {family}: " + "  ".join(f"{k} {float(v):.4g}" for k, v in value.items()))
            if args.save:
                stem = pathlib.PurePath(item.split(":")[-1]).stem
                save_image(row["image"], os.path.join(args.save, f"{stem}-{name}.png"))
        net, gatys = rows["network"], rows["gatys"]
        ratios.append(f"{item}: style ratio {net['style'] / gatys['style']:.2f}, "
                      f"content ratio {net['content'] / gatys['content']:.2f}")
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
