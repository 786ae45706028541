"""style-explainer: neural style transfer you can see inside.

The public API:

```python
from explainer import StyleConfig, stylize

result = stylize("photo.jpg", "painting.png", StyleConfig(size=256, iterations=300))
result.save("out.png")
```

See the lessons for what each part does and why.
"""

from explainer.config import COLOR_MODES, INITS, OPTIMIZERS, ConfigError, StyleConfig
from explainer.images import ImageError, load_image, save_image
from explainer.losses import content_loss, gram_matrix, style_loss, total_variation
from explainer.stylize import Result, stylize

__version__ = "0.1.0"

__all__ = [
    "COLOR_MODES",
    "INITS",
    "OPTIMIZERS",
    "ConfigError",
    "ImageError",
    "Result",
    "StyleConfig",
    "content_loss",
    "gram_matrix",
    "load_image",
    "save_image",
    "style_loss",
    "stylize",
    "total_variation",
]
