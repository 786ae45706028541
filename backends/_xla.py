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
* `--xla_cpu_experimental_ynn_fusion_type=` (empty: no YNNPACK fusions):
  jaxlib 0.10 hands some convolutions to YNNPACK, and for the shapes of
  Johnson et al.'s network (a reflection-padded "VALID" convolution, 9x9
  layers with 3 channels on one side) its kernels are 5-25x slower than
  XLA's own: the network's forward pass took 486 ms with them, 144 ms
  without (johnson, 128 px, batch 4), a training step 1.25 s vs 0.87 s,
  and an optimisation step 6% less time (0.364 -> 0.340 s, VGG19 256 px,
  `--ab-xla-flags`).

A flag the user already put in `XLA_FLAGS` wins. Set
`STYLE_EXPLAINER_XLA_FLAGS=0` to leave `XLA_FLAGS` untouched. The flags are
added only for the jaxlib versions they were measured with
(`TESTED_JAXLIB`): XLA stops the program at an unknown flag.

[`reuse_scratch_memory`][backends.reuse_scratch_memory] and
[`enable_compile_cache`][backends.enable_compile_cache] are the other
process-wide settings; the command line and the explorer call them, scripts
may.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
from collections.abc import MutableMapping

#: Flags added to `XLA_FLAGS` unless the user set them (or opted out).
XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",
                              "--xla_cpu_experimental_ynn_fusion_type=")
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


COMPILE_CACHE_OPT_OUT_ENV = "STYLE_EXPLAINER_COMPILE_CACHE"
#: Only programs that took at least this long to compile are written to disk.
COMPILE_CACHE_MIN_SECONDS = 0.5


def enable_compile_cache(
    directory: str | os.PathLike | None = None, environ: MutableMapping[str, str] = os.environ
) -> pathlib.Path | None:
    """Keep XLA's compiled programs on disk, so the next run starts without compiling.

    Compiling a step takes seconds (about 2 s for a plain VGG16 step at
    256 px, 3 s more for each kind of recorded step), once per process and
    image size. With this, JAX's persistent compilation cache keeps every
    program that took at least `COMPILE_CACHE_MIN_SECONDS` to compile, and a
    later process with the same network, layers, optimiser and image size
    loads it instead.

    Args:
        directory: where to keep them (default: the `jax` folder of the
            package's cache: `$STYLE_EXPLAINER_CACHE`, else
            `$XDG_CACHE_HOME/style-explainer`, else `~/.cache/style-explainer`).

    Returns:
        The folder in use: a folder already given to JAX (for example with
        `JAX_COMPILATION_CACHE_DIR`) wins. `None`, changing nothing, where
        `STYLE_EXPLAINER_COMPILE_CACHE=0` is set or the folder cannot be
        made. `style-explainer` and the explorer call it; call it early in
        a script to do the same.
    """
    if _opted_out(environ.get(COMPILE_CACHE_OPT_OUT_ENV, "1")):
        return None
    import jax

    from backends._fetch import cache_dir

    chosen = jax.config.jax_compilation_cache_dir
    if chosen and directory is None:
        return pathlib.Path(chosen)
    path = pathlib.Path(directory) if directory is not None else cache_dir() / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home, say: run as before, compiling every time
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", COMPILE_CACHE_MIN_SECONDS)
    return path
