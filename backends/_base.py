"""The Backend contract and a registry of named backends.

The explainer never imports a network directly; it asks the registry for a
backend by name and talks to it through this small protocol. A new network
(another VGG source, a ResNet...) only has to implement `Backend` and
register a factory.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol, runtime_checkable

import jax

from backends._vgg import ARCHITECTURES, POOLINGS, VGGBackend
from backends._weights import WeightsInfo, load_weights


@runtime_checkable
class Backend(Protocol):
    """What the explainer needs from a network.

    * `layer_names`: every layer in forward order.
    * `params`: a pytree; pass it to `apply` as an argument inside `jit`.
    * `apply(params, image, layers)`: pure; `image` is RGB in `[0, 1]`,
      `(H, W, 3)` or `(N, H, W, 3)`; returns `{layer: activation}` and
      computes nothing past the deepest requested layer. `layers` is static.
    * `preprocess` / `deprocess`: the network's input convention and back.
    * `weights`: what was loaded, printed by every run.
    * `spec`: the hashable, weightless part (architecture, options):
      compiled programs are cached on it, never on the backend object.
    * `provenance()`: `{"network": {...}, "weights": {...}}` for the files
      a run writes.
    """

    name: str
    params: Any
    weights: WeightsInfo

    @property
    def spec(self) -> Hashable: ...

    @property
    def layer_names(self) -> tuple[str, ...]: ...

    def apply(self, params: Any, image: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]: ...

    def features(self, image: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]: ...

    def preprocess(self, image: jax.Array) -> jax.Array: ...

    def deprocess(self, x: jax.Array) -> jax.Array: ...

    def check_layers(self, layers: Sequence[str]) -> None: ...

    def describe(self, with_path: bool = True) -> str: ...

    def provenance(self) -> dict: ...


BackendFactory = Callable[..., Backend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make `get_backend(name, ...)` call `factory(weights=..., pooling=..., **kwargs)`."""
    _REGISTRY[name] = factory


def available_backends() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_backend(
    name: str = "vgg19",
    *,
    weights: str = "auto",
    pooling: str = "max",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Backend:
    """A ready-to-use backend.

    Args:
        name: a registered backend (`"vgg19"`, `"vgg16"`).
        weights: `"auto"`, `"vgg19"`, `"vgg16"`, `"hed"`, `"random"` or
            a path (see [`load_weights`][backends.load_weights]).
        pooling: `"max"` or `"avg"`.
        seed: for random weights.
        log: where to report fallbacks (default: stderr).

    Returns:
        The backend. Its architecture follows the weights: asking for
        `vgg19` and getting HED weights gives a VGG16 (and says so).

    Raises:
        ValueError: unknown backend name or pooling.
        WeightsError: no weights could be loaded.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(_REGISTRY)}") from None
    return factory(weights=weights, pooling=pooling, seed=seed, log=log)


def _vgg_factory(arch: str) -> BackendFactory:
    def make(*, weights: str, pooling: str, seed: int = 0, log=None) -> VGGBackend:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        params, info = load_weights(weights, arch, seed=seed, log=log)
        if info.arch != arch and weights != "auto":  # auto says so itself
            (log or (lambda m: print(m, file=sys.stderr)))(
                f"note: {info.name} weights are {info.arch.upper()}, so the network is {info.arch}, not {arch}"
            )
        return VGGBackend(arch=info.arch, pooling=pooling, params=jax.tree.map(jax.numpy.asarray, params), weights=info)

    return make


for _arch in ARCHITECTURES:
    register_backend(_arch, _vgg_factory(_arch))
