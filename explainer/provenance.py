"""Where a file came from: one function for every file the project writes.

Run records, trace manifests, inspection traces (and, later, model files)
all say which network and weights made them, with which settings, and with
which versions of the software, in the same words:

```python
provenance(backend, config)
# {"software": {...}, "config": {...}, "network": {...}, "weights": {...}}
```
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import platform
from typing import Any

from explainer.files import jsonable

#: The packages whose versions are written into every file.
PACKAGES: tuple[str, ...] = ("style-explainer", "jax", "jaxlib", "flax", "optax", "numpy")


@functools.lru_cache(maxsize=1)
def software() -> dict[str, str]:
    """`{"python": ..., package: version}` for the packages that compute a result."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(backend: Any = None, settings: Any = None, **extra: Any) -> dict[str, Any]:
    """The provenance block of a file: software versions, settings, network and weights.

    Args:
        backend: the network that computed the result (it describes itself:
            `backend.provenance()`), or `None`.
        settings: a settings dataclass (e.g. a `StyleConfig`), written as `config`.
        extra: more JSON-ready entries (e.g. `content`, `styles`).

    Returns:
        A JSON-ready dict: `software`, then `config`, `network`, `weights`
        where given, then `extra`.
    """
    out: dict[str, Any] = {"software": dict(software())}
    if settings is not None:
        out["config"] = settings.to_dict() if hasattr(settings, "to_dict") else jsonable(dataclasses.asdict(settings))
    if backend is not None:
        out.update(backend.provenance())
    out.update(extra)
    return out
