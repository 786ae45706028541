"""Recording a run: what each layer sees and how much of the loss it carries.

A [`Recorder`][explainer.record.Recorder] is handed to a method such as
[`run`][explainer.optimize.run] as its snapshot plan, and observes the events
the method yields; at the iterations it selects the method takes a
*snapshot* of the image being optimised: for each chosen layer the
activations (the `top_k` channels with the most energy, plus statistics of
every channel), the Gram matrix, and the gradient of each loss term with
respect to the image (where that layer pushes the pixels; these maps cost
about one step each, so by default they are taken at every other snapshot,
see `RecordSpec.gradients_every`). Iterations it
does not select run the ordinary compiled step, at full speed; a selected
iteration runs one jitted step that also takes the snapshot, sharing the
forward pass and summarising activations on the device, so only small arrays
reach the host. It does not change what is optimised, except by float
rounding: with gradient maps, the step's gradient is the sum of the per-term
gradients (which saves the step its own backward pass).

The snapshots, the Gram matrices of the content and style images, and the
per-step losses make a [`Trace`][explainer.record.Trace], saved as a folder:

* `trace.json`: the manifest (format name and version, config, network,
  weights, layers, the recorded iterations with their per-layer losses);
* `arrays.npz`: every array, under the keys listed in `Trace.KEYS`.

The format is documented in the lessons' reference ("Trace format").
"""

from __future__ import annotations

import functools
import io
import json
import os
import pathlib
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from backends import Backend
from explainer.config import RecordSpec
from explainer.events import Event
from explainer.files import write_atomically
from explainer.losses import LossSpec, Targets, gram_matrix, loss_terms, sum_terms

TRACE_FORMAT = "style-explainer.trace"
#: 2: snapshots may lack gradient maps (`RecordSpec.gradients_every`); the
#: manifest says which have them. Version 1 traces load unchanged.
TRACE_VERSION = 2
#: Statistics stored for every channel, in this order.
CHANNEL_STATS: tuple[str, ...] = ("mean", "std", "max", "energy")


class Snapshot(NamedTuple):
    """What one recorded step computed, as returned by a snapshot function (a pytree).

    Attributes:
        loss: total loss of `image`.
        terms: per-layer weighted terms (see [`loss_terms`][explainer.losses.loss_terms]).
        gradient: gradient of the total loss with respect to `image`; with
            gradient maps on, the sum of the per-term gradients.
        arrays: `{"image", "stats/L", "channels/L", "activations/L", "gram/L",
            "gradient/<term>"}`: small arrays, summarised on the device.
    """

    loss: jax.Array
    terms: dict
    gradient: jax.Array
    arrays: dict


def make_snapshot_fn(
    backend: Backend, spec: LossSpec, layers: tuple[str, ...], top_k: int | None, gradients: bool
) -> Callable[[Any, jax.Array, Targets], Snapshot]:
    """A pure `snapshot(params, image, targets) -> Snapshot` for one recorded step.

    Like the step, it takes the loss weights from `targets.weights`, and one
    function (cached) serves every weighting of the same layers.

    It evaluates the loss and its gradient *and* everything a snapshot
    keeps, so a recorded optimisation step is this plus the optimiser's
    update ([`Stepper.recorded_step`][explainer.optimize.Stepper]): the
    forward pass is shared, and only small arrays leave the device
    (per-channel statistics, the `top_k` channels, Gram matrices, maps).

    With `gradients`, each term's gradient is its own backward pass, from its
    own layer down (about three full backward passes for the default five
    style layers); the step's gradient is their sum, which saves the step's
    own backward pass. Without, it is one `value_and_grad`.
    """
    return _make_snapshot_fn(backend.spec, spec.structure(), tuple(layers), top_k, gradients)


@functools.lru_cache(maxsize=16)
def _make_snapshot_fn(network: Hashable, spec: LossSpec, layers: tuple[str, ...], top_k: int | None, gradients: bool):
    needed = tuple(dict.fromkeys(layers + spec.layers))

    def objective(params, image, targets):
        features = network.apply(params, image, needed)
        terms = loss_terms(spec, features, targets, image)
        return sum_terms(terms), (terms, features)

    def snapshot(params, image, targets) -> Snapshot:
        if targets.weights is None:  # `spec` has unit weights here: refuse to guess
            raise ValueError("these targets carry no loss weights: build them with compute_targets(backend, spec, ...)")
        if gradients:
            loss, (terms, features) = objective(params, image, targets)
        else:
            grad_fn = jax.value_and_grad(objective, argnums=1, has_aux=True)
            (loss, (terms, features)), gradient = grad_fn(params, image, targets)
        arrays: dict[str, jax.Array] = {"image": image}
        for name in layers:
            stats, channels, kept = channel_summary(features[name], top_k)
            arrays[f"stats/{name}"] = stats
            arrays[f"channels/{name}"] = channels
            arrays[f"activations/{name}"] = kept
            arrays[f"gram/{name}"] = gram_matrix(features[name])
        if gradients:
            per_term = []
            for kind, name in spec.term_keys():
                # Each term differentiated on its own, stopping at its own layer;
                # XLA shares the forward pass between them and `objective`.
                def term(x, kind=kind, name=name):
                    if name is None:  # a term on the image itself (TV, ...)
                        return loss_terms(spec.only(kind), {}, targets, x)[kind]
                    own = network.apply(params, x, (name,))
                    return loss_terms(spec.only(kind, name), own, targets, x)[kind][name]

                grad = jax.grad(term)(image)
                per_term.append(grad)
                key = kind if name is None else f"{kind}/{name}"
                arrays[f"gradient/{key}"] = jnp.sqrt(jnp.sum(jnp.square(grad), axis=-1))
            gradient = sum(per_term[1:], per_term[0]) if per_term else jnp.zeros_like(image)
        return Snapshot(loss, terms, gradient, arrays)

    return snapshot


def channel_summary(features, top_k: int | None):
    """`(stats (C, 4), top channel indices (k,), their activations (h, w, k))`.

    Works on NumPy and on traced JAX arrays alike (it runs inside the jitted
    snapshot). Channels are ranked by energy (mean square activation),
    highest first; ties keep the lower index first. Statistics are
    `CHANNEL_STATS`: mean, standard deviation, max and energy per channel.
    """
    features = jnp.asarray(features, jnp.float32)
    flat = features.reshape(-1, features.shape[-1])
    energy = jnp.mean(jnp.square(flat), axis=0)
    stats = jnp.stack([flat.mean(0), flat.std(0), flat.max(0), energy], axis=1)
    k = flat.shape[-1] if top_k is None else min(top_k, flat.shape[-1])
    _, keep = jax.lax.top_k(energy, k)
    return stats, keep.astype(jnp.int32), jnp.take(features, keep, axis=-1)


class Recorder:
    """Chooses the steps to snapshot, keeps what they recorded; `trace()` turns it into a [`Trace`][explainer.record.Trace].

    Hand it to a method as its `snapshots` plan (a
    [`SnapshotPlan`][explainer.events.SnapshotPlan]), and give it every event
    the method yields (`observe`).
    """

    def __init__(self, spec: RecordSpec | None = None):
        self.spec = spec or RecordSpec()
        self.arrays: dict[str, np.ndarray] = {}
        self.snapshots: list[dict[str, Any]] = []
        self.layers: tuple[str, ...] = ()

    # The SnapshotPlan a method calls ---------------------------------------------------

    def layers_for(self, loss: LossSpec) -> tuple[str, ...]:
        """The layers this recorder records for a run with `loss`: its own, else the loss's."""
        return self.spec.layers or loss.layers

    def start_scale(self, scale: int, backend: Backend, loss: LossSpec, targets: Targets, content_grams, style_grams):
        """Prepare for a scale: choose the snapshot function, keep the reference Grams."""
        self.layers = self.layers_for(loss)
        backend.check_layers(self.layers)
        # Two compiled snapshots: with the (costly) gradient maps and without.
        self._snapshot_fns = {
            maps: make_snapshot_fn(backend, loss, self.layers, self.spec.top_k, maps)
            for maps in ({True, False} if self.spec.gradients else {False})
        }
        for name, gram in content_grams.items():
            self.arrays[f"scale{scale}/content_gram/{name}"] = np.asarray(gram)
        for index, grams in enumerate(style_grams):
            for name, gram in grams.items():
                self.arrays[f"scale{scale}/style_gram/{index}/{name}"] = np.asarray(gram)
        for name, gram in targets.style.items():
            self.arrays[f"scale{scale}/target_gram/{name}"] = np.asarray(gram)

    def snapshot_fn(self, step: int, last: int) -> Callable | None:
        """The snapshot function for 1-based `step` of `last` at this scale, or `None` where none is wanted."""
        if not self.spec.wants(step, last):
            return None
        return self._snapshot_fns[self.spec.wants_gradients(step, last)]

    # The event stream --------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Keep the snapshot an event carries (events without `arrays` are not recorded steps)."""
        if event.arrays is None:
            return
        for key, value in event.arrays.items():
            self.arrays[f"iter{event.iteration}/{key}"] = np.asarray(value)
        gradients = any(key.startswith("gradient/") for key in event.arrays)
        self.snapshots.append({"iteration": event.iteration, "scale": event.scale, "loss": event.loss,
                               "terms": event.terms, "gradients": gradients})

    def trace(self, **manifest: Any) -> Trace:
        full = {
            "format": TRACE_FORMAT,
            "version": TRACE_VERSION,
            "layers": list(self.layers),
            "top_k": self.spec.top_k,
            "record_every": self.spec.every,
            "gradients_every": self.spec.gradient_period if self.spec.gradients else None,
            "channel_stats": list(CHANNEL_STATS),
            "snapshots": self.snapshots,
            **manifest,
        }
        return Trace(full, dict(self.arrays))


def network_trace(image: np.ndarray, activations: dict, norm_params: dict, embedding: np.ndarray,
                  spec: RecordSpec, **manifest: Any) -> Trace:
    """The trace of a feed-forward run (`method="fast"`): one snapshot, of the network that painted the image.

    Besides the usual `iter1/image`, `iter1/activations/L`, `iter1/channels/L`
    and `iter1/stats/L` (the network's own layers), it keeps the vector the
    network was conditioned on (`embedding`) and each conditional instance
    norm's `norm/L/scale` and `norm/L/shift` `(C,)`: for these networks the
    style *is* those numbers. There is no loss, so no terms and no gradient maps.
    """
    arrays = {"iter1/image": np.asarray(image, np.float32), "embedding": np.asarray(embedding, np.float32)}
    for name, features in activations.items():
        stats, channels, kept = channel_summary(np.asarray(features)[0], spec.top_k)
        arrays[f"iter1/activations/{name}"] = np.asarray(kept)
        arrays[f"iter1/channels/{name}"] = np.asarray(channels)
        arrays[f"iter1/stats/{name}"] = np.asarray(stats)
    for name, (scale, shift) in norm_params.items():
        arrays[f"norm/{name}/scale"] = np.asarray(scale)[0]
        arrays[f"norm/{name}/shift"] = np.asarray(shift)[0]
    full = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "method": "fast",
        "layers": list(activations),
        "norm_layers": list(norm_params),
        "top_k": spec.top_k,
        "channel_stats": list(CHANNEL_STATS),
        "snapshots": [{"iteration": 1, "scale": 0, "loss": 0.0, "terms": {}, "gradients": False}],
        **manifest,
    }
    return Trace(full, arrays)


class Trace:
    """A recorded run: a JSON manifest plus named arrays.

    Keys of `arrays` (`N` is a 1-based step, `S` a scale, `L` a layer):

    * `iterN/image`: the image that step `N` evaluated, `(H, W, 3)`;
    * `iterN/activations/L`: the kept channels, `(h, w, k)`;
      `iterN/channels/L`: their indices `(k,)`; `iterN/stats/L`: `(C, 4)`
      mean, std, max, energy of every channel;
    * `iterN/gram/L`: the image's Gram matrix `(C, C)`;
    * `iterN/gradient/content/L`, `iterN/gradient/style/L`, `iterN/gradient/tv`:
      gradient-norm maps `(H, W)`, at the steps in `gradient_iterations` only;
    * `scaleS/content_gram/L`, `scaleS/style_gram/I/L` (style image `I`),
      `scaleS/target_gram/L` (the blended style target).

    `manifest["snapshots"]` lists `{"iteration", "scale", "loss", "terms",
    "gradients"}` for every recorded step, `terms` split per layer exactly as
    the loss was, `gradients` true where the step's gradient maps were taken.
    """

    def __init__(self, manifest: dict[str, Any], arrays: dict[str, np.ndarray]):
        if manifest.get("format") != TRACE_FORMAT:
            raise ValueError(f"not a style-explainer trace (format {manifest.get('format')!r})")
        if manifest.get("version", 0) > TRACE_VERSION:
            raise ValueError(f"trace version {manifest['version']} is newer than this style-explainer reads ({TRACE_VERSION})")
        self.manifest = manifest
        self.arrays = arrays

    # ------------------------------------------------------------------ access

    @property
    def iterations(self) -> list[int]:
        return [s["iteration"] for s in self.manifest["snapshots"]]

    @property
    def gradient_iterations(self) -> list[int]:
        """The recorded steps that carry gradient maps (see `RecordSpec.gradients_every`)."""
        with_maps = {key.split("/", 1)[0] for key in self.arrays if "/gradient/" in key}
        return [it for it in self.iterations if f"iter{it}" in with_maps]

    @property
    def layers(self) -> list[str]:
        return list(self.manifest["layers"])

    def snapshot(self, iteration: int) -> dict[str, Any]:
        for snap in self.manifest["snapshots"]:
            if snap["iteration"] == iteration:
                return snap
        raise KeyError(f"iteration {iteration} was not recorded; recorded: {self.iterations}")

    def _get(self, key: str) -> np.ndarray:
        try:
            return self.arrays[key]
        except KeyError:
            raise KeyError(f"trace has no {key!r}") from None

    def image(self, iteration: int) -> np.ndarray:
        return self._get(f"iter{iteration}/image")

    def activations(self, iteration: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """`(activations (h, w, k), channel indices (k,))` of the kept channels."""
        return self._get(f"iter{iteration}/activations/{layer}"), self._get(f"iter{iteration}/channels/{layer}")

    def channel_stats(self, iteration: int, layer: str) -> dict[str, np.ndarray]:
        stats = self._get(f"iter{iteration}/stats/{layer}")
        return {name: stats[:, i] for i, name in enumerate(CHANNEL_STATS)}

    def gram(self, iteration: int, layer: str) -> np.ndarray:
        return self._get(f"iter{iteration}/gram/{layer}")

    def target_gram(self, layer: str, scale: int | None = None) -> np.ndarray:
        return self._get(f"scale{self._scale(scale)}/target_gram/{layer}")

    def content_gram(self, layer: str, scale: int | None = None) -> np.ndarray:
        return self._get(f"scale{self._scale(scale)}/content_gram/{layer}")

    def style_gram(self, layer: str, index: int = 0, scale: int | None = None) -> np.ndarray:
        return self._get(f"scale{self._scale(scale)}/style_gram/{index}/{layer}")

    def gradient_maps(self, iteration: int) -> dict[str, np.ndarray]:
        """`{"content/L" | "style/L" | "tv": (H, W)}` at step `iteration`; empty where none were taken
        (see [`gradient_iterations`][explainer.record.Trace.gradient_iterations])."""
        prefix = f"iter{iteration}/gradient/"
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}

    def losses(self, iteration: int) -> dict[str, Any]:
        """`{"loss": total, "terms": {...}}` of a recorded step."""
        snap = self.snapshot(iteration)
        return {"loss": snap["loss"], "terms": snap["terms"]}

    def _scale(self, scale: int | None) -> int:
        return max(s["scale"] for s in self.manifest["snapshots"]) if scale is None else scale

    # ------------------------------------------------------------------ files

    def save(self, directory: str | os.PathLike) -> pathlib.Path:
        """Write `arrays.npz` then `trace.json` into `directory` (created), each atomically.

        The manifest is strict JSON and written last, so a folder with a
        `trace.json` always has the arrays it names.
        """
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = io.BytesIO()
        np.savez_compressed(arrays, **self.arrays)
        write_atomically(directory / "arrays.npz", arrays.getvalue())
        write_atomically(directory / "trace.json", json.dumps(self.manifest, indent=1, allow_nan=False).encode())
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Trace:
        """Read a trace written by [`save`][explainer.record.Trace.save]."""
        directory = pathlib.Path(directory)
        manifest_path = directory / "trace.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{directory}: no trace.json (not a trace folder)")
        manifest = json.loads(manifest_path.read_text())
        with np.load(directory / "arrays.npz") as data:
            arrays = {key: data[key] for key in data.files}
        return cls(manifest, arrays)
