"""style-explainer: neural style transfer you can see inside.

The public API:

```python
from explainer import StyleConfig, stylize

result = stylize("photo.jpg", "painting.png", StyleConfig(size=256, iterations=300))
result.save("out.png")
```

See the lessons for what each part does and why. Settings, errors and
images import at once; what computes (`stylize`, the losses) loads JAX on
first use, so the command line answers `--help` and refuses a bad request
without starting it.
"""

import importlib
from typing import TYPE_CHECKING

from explainer import methods as _methods  # noqa: F401 -- registers the built-in methods (light: no JAX)
from explainer.config import COLOR_MODES, INITS, OPTIMIZERS, StyleConfig
from explainer.errors import ConfigError, ImageError

if TYPE_CHECKING:
    from explainer.augment import augment
    from explainer.images import load_image, save_image
    from explainer.losses import content_loss, gram_matrix, style_loss, total_variation
    from explainer.runner import Result, stylize
    from explainer.training import TrainResult, train
    from explainer.video import stylize_video

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    **dict.fromkeys(("load_image", "save_image"), "explainer.images"),
    **dict.fromkeys(("content_loss", "gram_matrix", "style_loss", "total_variation"), "explainer.losses"),
    **dict.fromkeys(("Result", "stylize"), "explainer.runner"),
    **dict.fromkeys(("TrainResult", "train"), "explainer.training"),
    "augment": "explainer.augment",
    "stylize_video": "explainer.video",
}


def __getattr__(name: str):
    """What computes loads on first use (see the module docstring)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'explainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "COLOR_MODES",
    "INITS",
    "OPTIMIZERS",
    "ConfigError",
    "ImageError",
    "Result",
    "StyleConfig",
    "TrainResult",
    "augment",
    "content_loss",
    "gram_matrix",
    "load_image",
    "save_image",
    "style_loss",
    "stylize",
    "stylize_video",
    "total_variation",
    "train",
]
