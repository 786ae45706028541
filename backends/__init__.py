"""The networks style-explainer explains: VGG16/VGG19 in Flax, their weights,
and a plain NumPy reference.

Layer names, weight sources and errors import without JAX; the networks
(`get_backend`, `VGGBackend`, ...) load JAX on first use.

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
from backends._layers import (
    ARCHITECTURES,
    IMAGENET_MEAN_BGR,
    POOLINGS,
    UnknownLayerError,
    conv_names,
    downsampling,
    layer_names,
)
from backends._weights import (
    SOURCES,
    WeightsError,
    WeightsInfo,
    WeightSource,
    fetch,
    list_sources,
    load_weights,
    random_params,
    read_h5,
)

if TYPE_CHECKING:  # imported on first use, so names, settings and errors work without starting JAX
    from backends._base import Backend, available_backends, get_backend, register_backend
    from backends._stylisers import STYLISERS, Styliser, StyliserSpec, get_styliser
    from backends._vgg import VGG, VGGBackend, VGGSpec, caffe_deprocess, caffe_preprocess, pool2x2

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Backend", "available_backends", "get_backend", "register_backend"), "backends._base"),
    **dict.fromkeys(("VGG", "VGGBackend", "VGGSpec", "caffe_deprocess", "caffe_preprocess", "pool2x2"), "backends._vgg"),
    **dict.fromkeys(("STYLISERS", "Styliser", "StyliserSpec", "get_styliser"), "backends._stylisers"),
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
    "CACHE_ENV",
    "IMAGENET_MEAN_BGR",
    "POOLINGS",
    "SOURCES",
    "STYLISERS",
    "VGG",
    "ArchiveMember",
    "Backend",
    "FetchError",
    "Styliser",
    "StyliserSpec",
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
    "pool2x2",
    "random_params",
    "read_h5",
    "register_backend",
    "reuse_scratch_memory",
]
