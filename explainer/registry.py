"""The methods `stylize` can run, by name: one registry that the settings, the CLI and the explorer read.

A method is an object with the members [`explainer.methods.Method`][explainer.methods.Method]
describes; [`register`][explainer.registry.register] adds it under its
`name`. The `method` setting's choices *are* this registry (a live view),
so a method registered before the command line or the explorer is built
appears in `--method`, in the explorer's method choice, in `--help` and in
the settings reference, and `StyleConfig(method=...)` accepts it.

This module sits at the bottom of the import graph (the settings read it);
the built-in methods register themselves in [`explainer.methods`][explainer.methods].
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from explainer.errors import ConfigError

__all__ = ["METHOD_HELP", "METHOD_NAMES", "METHOD_PRESETS", "get", "names", "register", "unregister"]

_METHODS: dict[str, Any] = {}


class _Names:
    """The registered method names, in registration order: a live, read-only sequence (a setting's `choices`)."""

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_METHODS))

    def __len__(self) -> int:
        return len(_METHODS)

    def __contains__(self, name: object) -> bool:
        return name in _METHODS

    def __getitem__(self, index: int) -> str:
        return tuple(_METHODS)[index]

    def __repr__(self) -> str:
        return f"METHOD_NAMES{tuple(_METHODS)!r}"


class _Help:
    """The `method` setting's help: each registered method's name and one line (live; reads as a string)."""

    def __str__(self) -> str:
        return "; ".join(f"{name}: {method.summary}" for name, method in _METHODS.items())

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __eq__(self, other: object) -> bool:
        return str(self) == other

    def __hash__(self) -> int:
        return id(self)


class _Presets:
    """What choosing each method sets (`Setting.presets` of the `method` setting): `((name, ((setting, value), ...)), ...)`."""

    def __iter__(self) -> Iterator[tuple[str, tuple[tuple[str, Any], ...]]]:
        return iter(tuple((name, tuple(method.presets)) for name, method in _METHODS.items()))

    def __len__(self) -> int:
        return len(_METHODS)

    def __bool__(self) -> bool:
        return any(method.presets for method in _METHODS.values())


#: Every registered method's name (live: a method registered later is in it).
METHOD_NAMES = _Names()
#: The help line of the `method` setting, made from each method's `summary`.
METHOD_HELP = _Help()
#: What choosing a method sets (a method's `presets`, e.g. photo: `optimizer="lbfgs"`).
METHOD_PRESETS = _Presets()


def register(method: Any) -> Any:
    """Add `method` under `method.name` (refused if the name is taken by another method); returns it."""
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a method needs a `name` that is an identifier, not {name!r}")
    if _METHODS.get(name, method) is not method:
        raise ValueError(f"a method named {name!r} is already registered")
    _METHODS[name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (tests register toy methods and take them away)."""
    _METHODS.pop(name, None)


def get(name: str) -> Any:
    """The method registered as `name`; a one-line `ConfigError` naming the others if there is none."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(f"no method {name!r}; methods: {', '.join(_METHODS)}") from None


def names() -> tuple[str, ...]:
    """The registered names, in registration order."""
    return tuple(_METHODS)
