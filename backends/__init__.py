"""The networks style-explainer explains: VGG16/VGG19 in Flax, their weights,
and a plain NumPy reference.

```python
from backends import get_backend

vgg = get_backend("vgg19", weights="auto")   # prints which weights it used
acts = vgg.features(image, ["relu1_1", "relu4_2"])
```
"""

from backends._xla import configure_xla, enable_compile_cache, reuse_scratch_memory

configure_xla()  # before anything creates a JAX backend (see backends/_xla.py)

from backends._base import Backend, available_backends, get_backend, register_backend
from backends._vgg import (
    ARCHITECTURES,
    IMAGENET_MEAN_BGR,
    POOLINGS,
    VGG,
    UnknownLayerError,
    VGGBackend,
    VGGSpec,
    caffe_deprocess,
    caffe_preprocess,
    conv_names,
    downsampling,
    layer_names,
    pool2x2,
)
from backends._weights import (
    CACHE_ENV,
    SOURCES,
    WeightsError,
    WeightsInfo,
    WeightSource,
    cache_dir,
    fetch,
    list_sources,
    load_weights,
    random_params,
    read_h5,
)

__all__ = [
    "ARCHITECTURES",
    "CACHE_ENV",
    "IMAGENET_MEAN_BGR",
    "POOLINGS",
    "SOURCES",
    "VGG",
    "Backend",
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
    "fetch",
    "get_backend",
    "layer_names",
    "list_sources",
    "load_weights",
    "pool2x2",
    "random_params",
    "read_h5",
    "register_backend",
    "reuse_scratch_memory",
]
