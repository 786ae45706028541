"""Look at one image through the network, without optimising anything.

```python
from explainer.inspection import inspect_image
from explainer import figures

trace = inspect_image("photo.jpg", ["relu1_1", "relu3_1"])
figures.feature_maps(trace, 0, "relu3_1")
```

The result is a [`Trace`][explainer.record.Trace] with a single snapshot at
iteration 0 (activations, channel statistics, Gram matrices; no losses), so
every figure that reads a trace works on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backends import Backend
from explainer import images as _images
from explainer import samples
from explainer.budget import check_pixels
from explainer.config import StyleConfig
from explainer.losses import gram_matrix
from explainer.methods import loss_network
from explainer.provenance import provenance
from explainer.record import CHANNEL_STATS, TRACE_FORMAT, TRACE_VERSION, Trace, channel_summary

DEFAULT_INSPECT_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def check_budget(image: str | np.ndarray, config: StyleConfig) -> None:
    """Refuse, in one line and before the network or the image is loaded, an image over the budget at `config.size`."""
    shape = np.shape(image) if isinstance(image, np.ndarray) else _images.image_shape(samples.resolve(image))
    if shape is not None:  # a file without a header is reported when it is loaded
        check_pixels(shape, config.size, config.max_megapixels, what="the inspected image")


def inspect_image(
    image: str | np.ndarray,
    layers: Sequence[str] = DEFAULT_INSPECT_LAYERS,
    *,
    backend: Backend | None = None,
    config: StyleConfig | None = None,
    top_k: int | None = 16,
) -> Trace:
    """Activations, channel statistics and Gram matrices of one image.

    Args:
        image: a path or an `(H, W, 3)` array in `[0, 1]`; resized so its
            longest side is `config.size`.
        layers: the layers to look at.
        backend: the network (default: from `config`).
        config: supplies `size`, `network`, `weights`, `pooling`, `seed`.
        top_k: keep the `top_k` most energetic channels (`None`: all).

    Returns:
        A one-snapshot [`Trace`][explainer.record.Trace] (iteration 0).
    """
    config = config or StyleConfig()
    layers = tuple(layers)
    source = image if isinstance(image, str) else f"array{tuple(np.shape(image))}"
    pixels = samples.load(image) if not isinstance(image, np.ndarray) else image.astype(np.float32)
    check_pixels(pixels.shape, config.size, config.max_megapixels, what="the inspected image")
    pixels = _images.resize_longest(pixels, config.size)
    backend = backend or loss_network(config)
    backend.check_layers(layers)
    features = backend.features(pixels, layers)
    arrays: dict[str, np.ndarray] = {"iter0/image": pixels}
    for name in layers:
        values = np.asarray(features[name])
        stats, channels, kept = channel_summary(values, top_k)
        arrays[f"iter0/activations/{name}"] = np.asarray(kept)
        arrays[f"iter0/channels/{name}"] = np.asarray(channels)
        arrays[f"iter0/stats/{name}"] = np.asarray(stats)
        arrays[f"iter0/gram/{name}"] = np.asarray(gram_matrix(features[name]))
    manifest = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "kind": "inspect",
        "image": str(source),
        "layers": list(layers),
        "top_k": top_k,
        "channel_stats": list(CHANNEL_STATS),
        "gradients_every": None,
        "snapshots": [{"iteration": 0, "scale": 0, "gradients": False}],
        **provenance(backend, config),
    }
    return Trace(manifest, arrays)


def stats_table(trace: Trace, iteration: int = 0) -> list[dict]:
    """One row per layer: shape, channels, and summary statistics of its activations."""
    rows = []
    for layer in trace.layers:
        stats = trace.channel_stats(iteration, layer)
        activations, _ = trace.activations(iteration, layer)
        rows.append({
            "layer": layer,
            "height": activations.shape[0],
            "width": activations.shape[1],
            "channels": len(stats["mean"]),
            "mean": float(stats["mean"].mean()),
            "max": float(stats["max"].max()),
            "dead_channels": int(np.sum(stats["max"] <= 0)),
            "top_channel": int(np.argmax(stats["energy"])),
        })
    return rows
