"""Recording a run: what each layer sees and how much of the loss it carries.

A [`Recorder`][explainer.record.Recorder] is handed to
[`run`][explainer.optimize.run]; at the iterations it selects it takes a
*snapshot* of the image being optimised: for each chosen layer the
activations (the `top_k` channels with the most energy, plus statistics of
every channel), the Gram matrix, and the gradient of each loss term with
respect to the image (where that layer pushes the pixels). It never changes
what is optimised, and iterations it does not select run at full speed.

The snapshots, the Gram matrices of the content and style images, and the
per-step losses make a [`Trace`][explainer.record.Trace], saved as a folder:

* `trace.json`: the manifest (format name and version, config, network,
  weights, layers, the recorded iterations with their per-layer losses);
* `arrays.npz`: every array, under the keys listed in `Trace.KEYS`.

The format is documented in the lessons' reference ("Trace format").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends import Backend
from explainer.losses import LossSpec, Targets, gram_matrix, loss_terms

TRACE_FORMAT = "style-explainer.trace"
TRACE_VERSION = 1
#: Statistics stored for every channel, in this order.
CHANNEL_STATS: tuple[str, ...] = ("mean", "std", "max", "energy")


@dataclasses.dataclass(frozen=True)
class RecordSpec:
    """What to record, and how often.

    Attributes:
        every: snapshot the first step, then every `every`-th step, and the last.
        layers: layers to record (default: every layer the loss uses).
        top_k: keep the activations of the `top_k` most energetic channels
            (mean square activation); `None` keeps all channels.
        gradients: also record each loss term's gradient map over the image
            (one backward pass per term: the costly part of a snapshot).
    """

    every: int = 10
    layers: tuple[str, ...] = ()
    top_k: int | None = 16
    gradients: bool = True

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"record every must be an integer >= 1, not {self.every!r}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, not {self.top_k!r}")
        object.__setattr__(self, "layers", tuple(self.layers))

    def wants(self, iteration: int, last: int) -> bool:
        """True for 1-based step `iteration` out of `last` steps at this scale."""
        return (iteration - 1) % self.every == 0 or iteration == last


@functools.lru_cache(maxsize=16)
def make_probe(backend: Backend, spec: LossSpec, layers: tuple[str, ...], gradients: bool):
    """A jitted `probe(params, image, targets) -> dict` for one snapshot.

    Returns `{"features": {layer: F}, "grams": {layer: G}, "gradients":
    {"content/<layer>" | "style/<layer>" | "tv": (H, W) map}}`. Each map is
    the Euclidean norm over RGB of that term's gradient with respect to the
    image.
    """
    needed = tuple(dict.fromkeys(layers + spec.layers))

    def terms_of(params, image, targets):
        return loss_terms(spec, backend.apply(params, image, needed), targets, image)

    def probe(params, image, targets):
        features = backend.apply(params, image, needed)
        out = {
            "features": {name: features[name] for name in layers},
            "grams": {name: gram_matrix(features[name]) for name in layers},
            "gradients": {},
        }
        if gradients:
            names = [("content", n) for n, _ in spec.content] + [("style", n) for n, _ in spec.style]
            if spec.tv_weight:
                names.append(("tv", None))
            for kind, name in names:
                # One backward pass per term; each only goes back from its own
                # layer, and XLA shares the forward pass between them.
                def term(x, kind=kind, name=name):
                    terms = terms_of(params, x, targets)
                    return terms[kind] if name is None else terms[kind][name]

                grad = jax.grad(term)(image)
                key = kind if name is None else f"{kind}/{name}"
                out["gradients"][key] = jnp.sqrt(jnp.sum(jnp.square(grad), axis=-1))
        return out

    return jax.jit(probe)


def channel_summary(features: np.ndarray, top_k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(stats (C, 4), top channel indices (k,), their activations (h, w, k))`.

    Channels are ranked by energy (mean square activation), highest first.
    """
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    energy = np.mean(flat**2, axis=0)
    stats = np.stack([flat.mean(0), flat.std(0), flat.max(0), energy], axis=1).astype(np.float32)
    order = np.argsort(-energy, kind="stable")
    keep = order if top_k is None else order[:top_k]
    return stats, keep.astype(np.int32), features[..., keep]


class Recorder:
    """Collects snapshots during a run; `trace()` turns them into a [`Trace`][explainer.record.Trace]."""

    def __init__(self, spec: RecordSpec | None = None):
        self.spec = spec or RecordSpec()
        self.arrays: dict[str, np.ndarray] = {}
        self.snapshots: list[dict[str, Any]] = []
        self.layers: tuple[str, ...] = ()

    # Called by explainer.optimize.run -------------------------------------------------

    def start_scale(self, scale: int, backend: Backend, loss: LossSpec, targets: Targets, content_grams, style_grams):
        self.layers = self.spec.layers or loss.layers
        backend.check_layers(self.layers)
        self._probe = make_probe(backend, loss, self.layers, self.spec.gradients)
        for name, gram in content_grams.items():
            self.arrays[f"scale{scale}/content_gram/{name}"] = np.asarray(gram)
        for index, grams in enumerate(style_grams):
            for name, gram in grams.items():
                self.arrays[f"scale{scale}/style_gram/{index}/{name}"] = np.asarray(gram)
        for name, gram in targets.style.items():
            self.arrays[f"scale{scale}/target_gram/{name}"] = np.asarray(gram)

    def snapshot(self, iteration: int, scale: int, params, image: jax.Array, targets: Targets) -> None:
        out = jax.device_get(self._probe(params, image, targets))
        prefix = f"iter{iteration}"
        self.arrays[f"{prefix}/image"] = np.asarray(image)
        for name in self.layers:
            stats, channels, kept = channel_summary(np.asarray(out["features"][name]), self.spec.top_k)
            self.arrays[f"{prefix}/activations/{name}"] = kept
            self.arrays[f"{prefix}/channels/{name}"] = channels
            self.arrays[f"{prefix}/stats/{name}"] = stats
            self.arrays[f"{prefix}/gram/{name}"] = np.asarray(out["grams"][name])
        for key, grad_map in out["gradients"].items():
            self.arrays[f"{prefix}/gradient/{key}"] = np.asarray(grad_map)
        self.snapshots.append({"iteration": iteration, "scale": scale})

    def add_losses(self, iteration: int, loss: float, terms: dict) -> None:
        """Attach the step's losses (computed by the step itself) to its snapshot."""
        if self.snapshots and self.snapshots[-1]["iteration"] == iteration:
            self.snapshots[-1].update(loss=loss, terms=terms)

    def trace(self, **manifest: Any) -> Trace:
        full = {
            "format": TRACE_FORMAT,
            "version": TRACE_VERSION,
            "layers": list(self.layers),
            "top_k": self.spec.top_k,
            "record_every": self.spec.every,
            "channel_stats": list(CHANNEL_STATS),
            "snapshots": self.snapshots,
            **manifest,
        }
        return Trace(full, dict(self.arrays))


class Trace:
    """A recorded run: a JSON manifest plus named arrays.

    Keys of `arrays` (`N` is a 1-based step, `S` a scale, `L` a layer):

    * `iterN/image`: the image that step `N` evaluated, `(H, W, 3)`;
    * `iterN/activations/L`: the kept channels, `(h, w, k)`;
      `iterN/channels/L`: their indices `(k,)`; `iterN/stats/L`: `(C, 4)`
      mean, std, max, energy of every channel;
    * `iterN/gram/L`: the image's Gram matrix `(C, C)`;
    * `iterN/gradient/content/L`, `iterN/gradient/style/L`, `iterN/gradient/tv`:
      gradient-norm maps `(H, W)`;
    * `scaleS/content_gram/L`, `scaleS/style_gram/I/L` (style image `I`),
      `scaleS/target_gram/L` (the blended style target).

    `manifest["snapshots"]` lists `{"iteration", "scale", "loss", "terms"}`
    for every recorded step, `terms` split per layer exactly as the loss was.
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
        """`{"content/L" | "style/L" | "tv": (H, W)}` for a recorded step (empty if not recorded)."""
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
        """Write `trace.json` and `arrays.npz` into `directory` (created; files replaced atomically)."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp_arrays = directory / ".arrays.npz.partial"
        with open(tmp_arrays, "wb") as f:
            np.savez_compressed(f, **self.arrays)
        os.replace(tmp_arrays, directory / "arrays.npz")
        tmp_manifest = directory / ".trace.json.partial"
        tmp_manifest.write_text(json.dumps(self.manifest, indent=1))
        os.replace(tmp_manifest, directory / "trace.json")
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
