"""A trained network on disk, and loaded: `MODEL_DIR/model.safetensors` + `MODEL_DIR/model.json`.

`model.safetensors` holds the weights (and batch norm's running averages)
under names like `params/conv1/conv/kernel`; `model.json` says what they
are: the architecture and normalisation, the style image's checksum, the
loss it was trained against, the data, steps, devices, the loss history
and the software (strict JSON). It also holds the weights file's sha256, so
a file that was cut short, corrupted or swapped is refused, in one line,
before a pixel is computed.

[`load_model`][explainer.models.load_model] returns a
[`TrainedStyliser`][explainer.models.TrainedStyliser]: a
[`Styliser`][backends.Styliser] like the pretrained networks (`stylise`,
`activations`, `norm_params`, `norm_statistics`, `describe`, `provenance`),
so `stylize --method fast --model MODEL_DIR` and the explorer use it
unchanged. It is conditioned on nothing: its "embedding" has size 0 (any
value, `None` included, is ignored) and it has no style predictor (`embed`
raises `ValueError`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends import TransformSpec, UnknownLayerError
from explainer.errors import ConfigError
from explainer.files import write_atomically
from explainer.images import not_regular

MODEL_FORMAT = "style-explainer.model"
MODEL_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "model.json"


class ModelError(ConfigError):
    """A model folder that cannot be used: missing, corrupt, or not what its manifest says (one line)."""


def is_model_dir(path: str | os.PathLike) -> bool:
    """Whether `path` holds a `model.json` (a pipe or a device of that name too: `load_model` refuses it in words)."""
    manifest = pathlib.Path(path) / MANIFEST_FILE
    return manifest.exists() and not manifest.is_dir()


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """`{"params": {"conv1": {"conv": {"kernel": x}}}}` -> `{"params/conv1/conv/kernel": x}` (NumPy float32)."""
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = np.ascontiguousarray(np.asarray(value, np.float32))
    return out


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for name, value in flat.items():
        node = tree
        *parents, leaf = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def save_model(directory: str | os.PathLike, variables: dict, manifest: dict) -> dict:
    """Write `model.safetensors`, then `model.json` (with the weights' checksum), each atomically; returns the latter.

    `manifest` must hold `architecture: {"arch", "norm"}`; the format, version
    and `weights_file` entries are added. Written last, the manifest always
    names the weights beside it.
    """
    from safetensors.numpy import save

    directory = pathlib.Path(directory)
    data = save(flatten(variables), metadata={"format": MODEL_FORMAT})
    write_atomically(directory / WEIGHTS_FILE, data)
    full = {"format": MODEL_FORMAT, "version": MODEL_VERSION, **manifest,
            "weights_file": {"name": WEIGHTS_FILE, "bytes": len(data), "checksum": sha256_of(data)}}
    write_atomically(directory / MANIFEST_FILE, json.dumps(full, indent=1, allow_nan=False).encode())
    return full


def read_manifest(directory: str | os.PathLike) -> dict:
    """The model's `model.json`, checked for format and version (`ModelError` otherwise)."""
    path = pathlib.Path(directory) / MANIFEST_FILE
    _check_regular(path)
    try:
        manifest = json.loads(path.read_text(), parse_constant=_not_strict)
    except FileNotFoundError:
        raise ModelError(f"{directory}: no {MANIFEST_FILE} (not a folder written by 'style-explainer train')") from None
    except _NotStrictJSON as error:
        raise ModelError(f"{path}: holds {error}, which strict JSON (and 'style-explainer train') never writes: the file "
                         "was edited or damaged; restore it or train again") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelError(f"{path}: not readable as JSON ({' '.join(str(error).split())})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path}: not a style-explainer model (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if not isinstance(manifest.get("version", 0), int):
        raise ModelError(f"{path}: its version {manifest['version']!r:.40} is not a whole number; restore the file or "
                         "train again")
    if manifest.get("version", 0) > MODEL_VERSION:
        raise ModelError(f"{path}: model version {manifest['version']} is newer than this style-explainer reads "
                         f"({MODEL_VERSION}); upgrade style-explainer")
    return manifest


class _NotStrictJSON(ValueError):
    pass


def _not_strict(constant: str) -> Any:
    raise _NotStrictJSON(constant)


def _check_regular(path: pathlib.Path) -> None:
    """`ModelError` for a pipe, a device or a socket where a model file goes (reading one would block or never end)."""
    problem = not_regular(path)
    if problem:
        raise ModelError(f"{path}: {problem}; a model folder holds the files 'style-explainer train' wrote")


def load_variables(directory: str | os.PathLike) -> tuple[TransformSpec, dict, dict]:
    """`(spec, variables, manifest)` of a model folder, every check passed.

    Raises:
        ModelError: no manifest, a weights file missing, of the wrong size or
            checksum, unreadable, or whose arrays are not those of the
            architecture the manifest names.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    directory = pathlib.Path(directory)
    manifest = read_manifest(directory)
    try:
        arch = manifest["architecture"]
        spec = TransformSpec(arch["arch"], arch["norm"])
        expected = manifest["weights_file"]
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{directory / MANIFEST_FILE}: no usable architecture or weights entry ({error})") from None
    try:
        path = directory / pathlib.PurePath(expected.get("name", WEIGHTS_FILE)).name
    except (AttributeError, TypeError):
        raise ModelError(f"{directory / MANIFEST_FILE}: no usable weights entry ({expected!r:.60})") from None
    _check_regular(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(f"{path}: cannot read the weights ({error.strerror or error})") from None
    if len(data) != expected.get("bytes") or sha256_of(data) != expected.get("checksum"):
        raise ModelError(f"{path}: corrupt or replaced ({len(data):,} bytes, checksum does not match model.json's "
                         f"{expected.get('checksum', '?')[:19]}...); train again or restore the file")
    try:
        flat = load(data)
    except (SafetensorError, ValueError, OSError) as error:
        raise ModelError(f"{path}: not a safetensors file ({' '.join(str(error).split())})") from None
    _check_shapes(spec, flat, path)
    return spec, unflatten(flat), manifest


@functools.lru_cache(maxsize=8)
def expected_shapes(spec: TransformSpec) -> dict[str, tuple[int, ...]]:
    """`{name: shape}` of every array a model of `spec` holds (from an abstract initialisation: no compute)."""
    shapes = jax.eval_shape(lambda: spec.init(jax.random.key(0)))
    return {name: tuple(value.shape) for name, value in flatten_shapes(shapes).items()}


def flatten_shapes(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        out.update(flatten_shapes(value, name) if isinstance(value, dict) else {name: value})
    return out


def _check_shapes(spec: TransformSpec, flat: dict[str, np.ndarray], path: pathlib.Path) -> None:
    expected = expected_shapes(spec)
    missing = sorted(set(expected) - set(flat))
    extra = sorted(set(flat) - set(expected))
    wrong = sorted(n for n in set(expected) & set(flat) if tuple(flat[n].shape) != expected[n])
    if missing or extra or wrong:
        what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
                else f"{wrong[0]} is {tuple(flat[wrong[0]].shape)}, not {expected[wrong[0]]}")
        raise ModelError(f"{path}: not the weights of a {spec.arch} network with {spec.norm} norm ({what})")
    bad = [n for n, v in flat.items() if not np.all(np.isfinite(v))]
    if bad:
        raise ModelError(f"{path}: {bad[0]} holds NaN or infinite values")


@functools.lru_cache(maxsize=32)
def _compiled(spec: TransformSpec, what: str, layers: tuple[str, ...] = ()):
    if what == "activations":
        return jax.jit(functools.partial(spec.activations, layers=layers))
    return jax.jit(getattr(spec, what))


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedStyliser:
    """A network trained by `style-explainer train`: a [`Styliser`][backends.Styliser].

    Attributes:
        spec: the architecture and normalisation ([`TransformSpec`][backends.TransformSpec]).
        params: the variables (`{"params": ..., "batch_stats": ...}`).
        manifest: the model's `model.json`.
        path: the model folder.
    """

    spec: TransformSpec
    params: dict
    manifest: dict = dataclasses.field(default_factory=dict)
    path: str = ""

    kind = "trained"
    embedding_size = 0

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.spec.layer_names

    def apply(self, params: dict, content: jax.Array, embedding: jax.Array | None = None) -> jax.Array:
        """Pure, for your own `jax.jit`: `(N, H, W, 3)` in `[0, 1]` -> stylised, clipped (the embedding is ignored)."""
        return self.spec.apply(params, content)

    def stylise(self, content, embedding=None) -> jax.Array:
        """Content `(N, H, W, 3)` or `(H, W, 3)` in `[0, 1]` -> `(N, H, W, 3)`; compiled once per shape."""
        return _compiled(self.spec, "apply")(self.params, _batch(content))

    def embed(self, styles) -> jax.Array:
        """Always `ValueError`: the style is built into the weights (the network is conditioned on nothing)."""
        raise ValueError("a trained network has no style predictor: its one style is built into its weights "
                         "(its embedding has size 0)")

    def activations(self, content, embedding=None, layers: Sequence[str] = ()) -> dict[str, jax.Array]:
        """`{layer: (N, h, w, C)}` of the network for `content` (see `layer_names`)."""
        layers = tuple(layers) or self.layer_names
        unknown = [name for name in layers if name not in self.layer_names]
        if unknown:
            raise UnknownLayerError(f"the trained network has no layer {', '.join(unknown)}; its layers are "
                                    f"{', '.join(self.layer_names)}")
        return _compiled(self.spec, "activations", layers)(self.params, _batch(content))

    def norm_params(self, embedding=None) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{norm layer: (scale (1, C), shift (1, C))}`: the learnt affine part of each normalisation."""
        return {name: (scale[None], shift[None]) for name, (scale, shift) in self.spec.norm_params(self.params).items()}

    def norm_statistics(self, content, embedding=None) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{norm layer: (mean (N, C), variance (N, C))}` that each normalisation divided out for `content`
        (the embedding is ignored)."""
        return _compiled(self.spec, "norm_statistics")(self.params, _batch(content))

    def describe(self) -> str:
        """One line: the architecture, the steps and style it was trained on, the weights file and its checksum."""
        m = self.manifest
        steps = m.get("steps_done", "?")
        style = m.get("style", {}).get("source", "?")
        return (f"trained {self.spec.arch} network ({self.spec.norm} norm), {steps} steps on {style}, "
                f"from {self.path}/{WEIGHTS_FILE} ({m.get('weights_file', {}).get('checksum', '?')[:19]}...)")

    def provenance(self) -> dict:
        """What a file needs to say about the network that made it (JSON-ready), as the pretrained stylisers do."""
        m = self.manifest
        return {"network": {"name": f"trained-{self.spec.arch}", "arch": self.spec.arch, "norm": self.spec.norm,
                            "description": self.describe(), "path": self.path},
                "weights": {"name": "trained", "path": str(pathlib.Path(self.path) / WEIGHTS_FILE),
                            "checksum": m.get("weights_file", {}).get("checksum"), "style": m.get("style"),
                            "steps": m.get("steps_done")}}


def _batch(images: Any) -> jax.Array:
    x = jnp.asarray(images, jnp.float32)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) or (H, W, 3) RGB in [0, 1], not {tuple(np.shape(images))}")
    return x


def load_model(directory: str | os.PathLike) -> TrainedStyliser:
    """The trained network in `directory` (`ModelError`, one line, if it cannot be used)."""
    spec, variables, manifest = load_variables(directory)
    return TrainedStyliser(spec, jax.tree.map(jnp.asarray, variables), manifest, str(directory))
