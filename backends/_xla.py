"""XLA:CPU settings the package makes before JAX starts its CPU backend.

XLA reads `XLA_FLAGS` once, when JAX first creates a backend, so these are
set when `backends` is imported (importing `explainer` imports it). If JAX
has already run something in this process, they come too late and nothing
changes.

* `--xla_cpu_enable_concurrency_optimized_scheduler=false`: by default
  XLA:CPU orders a program so that independent operations run side by side.
  In a VGG step the big convolutions already use every core, so running a
  Gram matrix or a loss next to one only makes them compete: with it off, an
  optimisation step took 7% less time on a 2-core machine
  (`python benchmarks/step_time.py --ab-xla-flags=...`, see
  `benchmarks/README.md`).

A flag the user already put in `XLA_FLAGS` wins. Set
`STYLE_EXPLAINER_XLA_FLAGS=0` to leave `XLA_FLAGS` untouched.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: Flags added to `XLA_FLAGS` unless the user set them (or opted out).
XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)
OPT_OUT_ENV = "STYLE_EXPLAINER_XLA_FLAGS"


def configure_xla(environ: MutableMapping[str, str] = os.environ) -> str:
    """Add the package's `XLA_FLAGS` to `environ` (unless opted out); return the resulting value."""
    current = environ.get("XLA_FLAGS", "")
    if environ.get(OPT_OUT_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return current
    for flag in XLA_FLAGS:
        if flag.split("=")[0] not in current:
            current = f"{current} {flag}".strip()
    environ["XLA_FLAGS"] = current
    return current
