"""The Styliser contract: what the explainer needs from a feed-forward styliser (JAX-free to import).

Two kinds implement it: the pretrained Magenta networks
(`backends.get_styliser`, class `PretrainedStyliser`) and the networks
trained by `style-explainer train` (`explainer.models.TrainedStyliser`).
The explainer talks to either only through this protocol, so it never asks
which one it holds.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import jax

#: Pixels beyond a tile that a pretrained styliser's output depends on: 9x9 (4) + 3x3/2 (1) + 3x3/2 (2) at the
#: input's scale, ten 3x3 residual convolutions at a quarter (4 each), two 3x3 after upsampling (2, 1) and
#: 9x9 (4) = 54, rounded up to 64 (a multiple of the network's factor 4).
STYLISER_HALO = 64
#: A pretrained styliser's tiles and windows start on multiples of this (the network halves twice).
STYLISER_GRID = 4


@runtime_checkable
class Styliser(Protocol):
    """What the explainer needs from a feed-forward styliser (pretrained or trained here).

    * `kind`: `"arbitrary"`, `"multistyle"` or `"trained"`.
    * `spec`: the hashable, weightless part: compiled programs are keyed on it.
    * `params`: a pytree; pass it to `apply` as an argument inside `jit`.
    * `embedding_size`: the length of the vector it is conditioned on
      (100 arbitrary, 26 multistyle, 0 trained: conditioned on nothing).
    * `layer_names`: the layers `activations` can return, in order.
    * `apply(params, content, embedding)`: pure forward for your own `jax.jit`.
    * `stylise(content, embedding)`: content `(N, H, W, 3)` or `(H, W, 3)` in
      `[0, 1]` -> `(N, H, W, 3)`, compiled once per shape.
    * `embed(styles)`: style images -> embeddings `(N, embedding_size)`;
      `ValueError` where the network has no style predictor.
    * `activations(content, embedding, layers)`: `{layer: (N, h, w, C)}`.
    * `norm_params(embedding)`: `{norm layer: (scale (N, C), shift (N, C))}`.
    * `norm_statistics(content, embedding)`: `{norm layer: (mean (N, C),
      variance (N, C))}`, what each normalisation divided out for `content`.
    * `describe()`: one line naming the network and its weights.
    * `provenance()`: `{"network": {...}, "weights": {...}}` for the files a run writes.

    A network that ignores the embedding (`embedding_size == 0`) takes any
    value for it, `None` included.
    """

    params: Any

    @property
    def kind(self) -> str: ...

    @property
    def spec(self) -> Hashable: ...

    @property
    def embedding_size(self) -> int: ...

    @property
    def layer_names(self) -> tuple[str, ...]: ...

    def apply(self, params: Any, content: jax.Array, embedding: jax.Array) -> jax.Array: ...

    def stylise(self, content: Any, embedding: Any) -> jax.Array: ...

    def embed(self, styles: Any) -> jax.Array: ...

    def activations(self, content: Any, embedding: Any, layers: Sequence[str]) -> dict[str, jax.Array]: ...

    def norm_params(self, embedding: Any) -> dict[str, tuple[jax.Array, jax.Array]]: ...

    def norm_statistics(self, content: Any, embedding: Any) -> dict[str, tuple[jax.Array, jax.Array]]: ...

    def describe(self) -> str: ...

    def provenance(self) -> dict: ...
