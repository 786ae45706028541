"""The methods: each a module with one class, registered by name (see [`Method`][explainer.methods.Method]).

| `--method` | module | what it does |
|---|---|---|
| `gatys` | [`explainer.methods.gatys`][explainer.methods.gatys] | optimise the image (Gatys et al.) |
| `fast` | [`explainer.methods.fast`][explainer.methods.fast] | one pass of a feed-forward network (Johnson et al.; Ghiasi et al.) |
| `photo` | [`explainer.methods.photo`][explainer.methods.photo] | gatys plus the photorealism term (Luan et al.) |

A new method is a module with a class like these (subclass
[`MethodBase`][explainer.methods.MethodBase] for the optional parts) and
one line, `explainer.registry.register(MyMethod())`; `stylize`, `--method`,
the explorer's method choice and the settings reference then offer it.
Importing this package registers the three above; `import explainer` does.
"""

from __future__ import annotations

from explainer.methods.base import Method, MethodBase, Request, Run
from explainer.methods.fast import Fast
from explainer.methods.gatys import Gatys, loss_network
from explainer.methods.photo import Photo
from explainer.registry import get, names, register

__all__ = ["Fast", "Gatys", "Method", "MethodBase", "Photo", "Request", "Run", "get", "loss_network", "names",
           "register"]

for _method in (Gatys(), Fast(), Photo()):  # the order of `--method`'s choices
    register(_method)
