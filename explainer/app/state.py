"""What the explorer keeps between events: networks, stop flags, run folders, the warm-up.

Module state, guarded by locks: Gradio runs handlers in worker threads.
"""

from __future__ import annotations

import atexit
import functools
import pathlib
import shutil
import tempfile
import threading
from typing import Any

from explainer.app.options import RUNS_KEPT
from explainer.config import StyleConfig
from explainer.errors import USER_ERRORS

_STYLISER_LOCK = threading.Lock()
_RUNS_LOCK = threading.Lock()
_STOP_FLAGS: dict[str, threading.Event] = {}
_RUN_DIRS: list[pathlib.Path] = []
#: Networks trained in this explorer (the Train tab), oldest first: `(label, folder)`; `trained:N` names the Nth.
_TRAINED: list[tuple[str, str]] = []
#: How a page names a network trained in this explorer: `trained:1` is the first (never its folder).
TRAINED_PREFIX = "trained:"
#: The start-up warm-up: its thread, how long it took, and why it failed (if it did).
WARM_UP: dict[str, Any] = {"thread": None, "seconds": None, "error": None}


def cached_backend(config: StyleConfig):
    """One loss network per (architecture, weights, pooling[, seed]): loaded once, shared by every tab and run."""
    return cached_network(config.replace(method="gatys"))


@functools.lru_cache(maxsize=4)
def _cached_styliser(kind: str, weights: str):
    from backends import get_styliser

    return get_styliser(kind, weights=weights, log=lambda message: None)


def cached_styliser(kind: str, weights: str = "pretrained"):
    """One feed-forward styliser per (kind, weights): loaded once, shared by every session of the Real-time tab."""
    with _STYLISER_LOCK:
        return _cached_styliser(kind, weights)


_NETWORKS: dict[tuple, Any] = {}
_NETWORK_LOCK = threading.Lock()
#: Networks the Stylize tab keeps loaded (one per method's network key, the oldest dropped first).
NETWORKS_KEPT = 4


def cached_network(config: StyleConfig):
    """The network a run of `config`'s method uses, loaded once per its `network_key` and shared."""
    from explainer import registry

    method = registry.get(config.method)
    key = method.network_key(config)  # gatys and photo share their VGG
    with _NETWORK_LOCK:
        if key not in _NETWORKS:
            while len(_NETWORKS) >= NETWORKS_KEPT:
                _NETWORKS.pop(next(iter(_NETWORKS)))
            _NETWORKS[key] = method.load_network(config, log=lambda message: None)
        return _NETWORKS[key]


def resolved_network(network: str, weights: str):
    """The network that will actually run for a network/weights choice, loaded once; `None` if it cannot load.

    With `auto` only loading tells: ImageNet VGG19 when it can be had, else
    the HED VGG16. The explorer offers the layers of what this returns.
    """
    try:
        return cached_backend(StyleConfig(network=network, weights=weights))
    except USER_ERRORS:
        return None


def add_trained(label: str, folder: str) -> str:
    """Remember a network the Train tab made; returns the name pages choose it by (`trained:N`)."""
    with _RUNS_LOCK:
        _TRAINED.append((label, str(folder)))
        return f"{TRAINED_PREFIX}{len(_TRAINED)}"


def trained_networks() -> list[tuple[str, str, str]]:
    """`(name, label, folder)` of every network trained in this explorer, newest first."""
    with _RUNS_LOCK:
        return [(f"{TRAINED_PREFIX}{i}", label, folder) for i, (label, folder) in enumerate(_TRAINED, 1)][::-1]


def trained_folder(name: str) -> str | None:
    """The folder of the network trained in this explorer called `name` (`trained:N`); `None` for any other text."""
    return next((folder for known, _label, folder in trained_networks() if known == name), None)


def session_of(request: Any) -> str:
    """The Gradio session a request belongs to (`"local"` outside a server)."""
    return getattr(request, "session_hash", None) or "local"


def start_run(session: str) -> threading.Event:
    """Register a new run of `session`; the returned flag is set when it should stop."""
    flag = threading.Event()
    with _RUNS_LOCK:
        _STOP_FLAGS[session] = flag
    return flag


def end_run(session: str, flag: threading.Event) -> None:
    flag.set()
    with _RUNS_LOCK:
        if _STOP_FLAGS.get(session) is flag:
            del _STOP_FLAGS[session]


def request_stop(session: str = "local") -> bool:
    """Ask the session's running job to stop after its current step; `True` if one was running."""
    with _RUNS_LOCK:
        flag = _STOP_FLAGS.get(session)
    if flag is None:
        return False
    flag.set()
    return True


@atexit.register
def _remove_run_dirs() -> None:
    for path in _RUN_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def new_run_dir() -> pathlib.Path:
    """A fresh temporary folder for one run's files; only the newest `RUNS_KEPT` are kept."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="style-explainer-run-"))
    with _RUNS_LOCK:
        _RUN_DIRS.append(path)
        while len(_RUN_DIRS) > RUNS_KEPT:
            shutil.rmtree(_RUN_DIRS.pop(0), ignore_errors=True)
    return path


def wait_for_warm_up() -> None:
    thread = WARM_UP.get("thread")
    if thread is not None and thread is not threading.current_thread() and thread.is_alive():
        thread.join()


def warming_up() -> bool:
    thread = WARM_UP.get("thread")
    return thread is not None and thread.is_alive()
