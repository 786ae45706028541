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
`STYLE_EXPLAINER_XLA_FLAGS=0` to leave `XLA_FLAGS` untouched. The flags are
added only for the jaxlib versions they were measured with
(`TESTED_JAXLIB`): XLA stops the program at an unknown flag.

[`reuse_scratch_memory`][backends.reuse_scratch_memory] is the other
process-wide setting; the command line and the explorer call it, scripts
may.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping

#: Flags added to `XLA_FLAGS` unless the user set them (or opted out).
XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)
#: jaxlib versions (major.minor) the flags were measured with.
TESTED_JAXLIB: tuple[str, ...] = ("0.10",)
OPT_OUT_ENV = "STYLE_EXPLAINER_XLA_FLAGS"


def configure_xla(environ: MutableMapping[str, str] = os.environ, jaxlib_version: str | None = None) -> str:
    """Add the package's `XLA_FLAGS` to `environ` (unless opted out or untested); return the resulting value."""
    current = environ.get("XLA_FLAGS", "")
    version = jaxlib_version if jaxlib_version is not None else _installed("jaxlib")
    if _opted_out(environ.get(OPT_OUT_ENV, "1")) or ".".join(version.split(".")[:2]) not in TESTED_JAXLIB:
        return current
    for flag in XLA_FLAGS:
        if flag.split("=")[0] not in current:
            current = f"{current} {flag}".strip()
    environ["XLA_FLAGS"] = current
    return current


def _installed(distribution: str) -> str:
    """The installed version of `distribution` without importing it ("" if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _opted_out(value: str) -> bool:
    return value.strip().lower() in ("0", "false", "no", "off")


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


REUSE_SCRATCH_OPT_OUT_ENV = "STYLE_EXPLAINER_REUSE_SCRATCH"


def reuse_scratch_memory(keep_bytes: int = 1 << 30, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Let XLA:CPU reuse its scratch memory from one step to the next (glibc only).

    Every run of a compiled step allocates one scratch buffer for all its
    intermediate arrays (73 MB for VGG19 at 256 px) from a worker thread.
    glibc serves an allocation that large with a fresh `mmap` and returns it
    with `munmap` when the step ends, so the next step touches every page of
    it anew: about 19,000 page faults, some 10% of a step on a 2-core
    machine, all of it in the forward pass. This asks glibc to keep one heap
    for all threads, to serve large blocks from it, and to keep up to
    `keep_bytes` of freed memory for reuse, so each step gets the pages the
    previous one faulted in.

    The cost: memory freed by the process stays reserved (up to
    `keep_bytes` at the top of the heap) instead of returning to the
    system. Call it before JAX starts (it applies to threads created after
    it); `style-explainer` and the explorer do. Returns False, changing
    nothing, where the C library is not glibc or where
    `STYLE_EXPLAINER_REUSE_SCRATCH=0` is set.
    """
    if _opted_out(environ.get(REUSE_SCRATCH_OPT_OUT_ENV, "1")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(
        mallopt(option, value) == 1
        for option, value in ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, int(keep_bytes)))
    )
