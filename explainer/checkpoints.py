"""Training checkpoints with orbax-checkpoint: periodic, the last K kept, written atomically.

A checkpoint is a folder `MODEL_DIR/checkpoints/<step>/` with two items:

* `state`: the [`TrainState`][explainer.trainer.TrainState] (weights, batch
  norm's averages, Adam's moments and learning rate, the step), as orbax's
  standard pytree format;
* `meta`: JSON: the data iterator's state (the next batch's number: a
  resumed training reads exactly the batches an uninterrupted one would),
  the loss history so far, and what must not change on `--resume` (the
  style image's checksum, the architecture, the loss, the data).

orbax writes each checkpoint into a temporary folder and renames it when
complete, so a crash or a second Ctrl-C leaves the previous checkpoints
intact. Saving is synchronous: the step waits for it (well under a second
for Johnson's 1.7 M weights).

A checkpoint damaged afterwards (a file overwritten, cut short or deleted)
is refused in one line that names it and says what to do
([`CheckpointError`][explainer.checkpoints.CheckpointError]), never with
orbax's or tensorstore's traceback.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import pathlib
import re
import sys
from typing import Any

import jax

from explainer.errors import ConfigError, one_line

CHECKPOINTS = "checkpoints"
#: Loggers that print tracebacks or errors while orbax reads a damaged checkpoint (the one line replaces them).
_NOISY = ("asyncio", "absl")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be read (damaged, cut short, not orbax's): one line naming it and what to do."""


class Checkpoints:
    """The checkpoints of one model folder (`MODEL_DIR/checkpoints`)."""

    def __init__(self, model_dir: str | os.PathLike, keep: int = 3):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(model_dir).absolute() / CHECKPOINTS
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
        try:
            with _quiet():
                self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))
        except (OSError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"{self.directory}: cannot be used for checkpoints ({_reason(error)}); move it "
                                  "away or choose another model folder") from None

    def latest_step(self) -> int | None:
        with _quiet():
            return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: dict) -> pathlib.Path:
        """Save `state` and `meta` as checkpoint `step` (replacing one of the same step), dropping the oldest."""
        ocp = self._ocp
        if step in self._manager.all_steps():
            return self.directory / str(step)
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()
        return self.directory / str(step)

    def read_meta(self, step: int | None = None) -> tuple[int, dict]:
        """`(step, meta)` of checkpoint `step` (default: the latest), without reading the state.

        Raises:
            ConfigError: there is no checkpoint to resume from.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise ConfigError(f"--resume: no checkpoint in {self.directory} (nothing to resume; drop --resume to "
                              "start afresh)")
        with self._damage(step):
            meta = self._manager.restore(step, args=self._ocp.args.Composite(meta=self._ocp.args.JsonRestore()))["meta"]
            if not isinstance(meta, dict) or "data" not in meta:
                raise ValueError("its meta item is not the data state and history this program writes")
        return step, meta

    def restore(self, like: Any, step: int | None = None) -> tuple[Any, dict]:
        """`(state, meta)` of checkpoint `step` (default: the latest), shaped and placed like `like`.

        Raises:
            ConfigError: there is no checkpoint to resume from.
        """
        ocp = self._ocp
        step = self.latest_step() if step is None else step
        if step is None:
            raise ConfigError(f"--resume: no checkpoint in {self.directory} (nothing to resume; drop --resume to "
                              "start afresh)")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        with self._damage(step):
            restored = self._manager.restore(step, args=args)
            if not isinstance(restored["meta"], dict) or "data" not in restored["meta"]:
                raise ValueError("its meta item is not the data state and history this program writes")
        return restored["state"], restored["meta"]

    @contextlib.contextmanager
    def _damage(self, step: int):
        """Any failure to read checkpoint `step` as a `CheckpointError` naming the damaged file and what to do.

        orbax reads with tensorstore on an asyncio loop whose failed tasks log
        their tracebacks, and logs what it tolerates through absl; those are
        silenced here (the one line says it all).
        """
        with _quiet():
            try:
                _check_json(self.directory / str(step))  # before orbax: its failures on these leave tracebacks in threads
                yield
            except Exception as error:  # noqa: BLE001 -- orbax, tensorstore, json, a tree of another shape: one line
                gc.collect()  # orbax's abandoned reads complain as they are collected: here, while quiet
                folder = self.directory / str(step)
                where = _damaged_file(folder, error) or folder
                earlier = [s for s in self._manager.all_steps() if s < step]
                todo = (f"delete {folder} to resume from the checkpoint before it (step {max(earlier)})" if earlier
                        else "train anew in another folder (or delete the checkpoints folder)")
                raise CheckpointError(f"{where}: checkpoint of step {step} is damaged ({_reason(error)}); {todo}") from None

    def close(self) -> None:
        self._manager.close()


@contextlib.contextmanager
def _quiet():
    """orbax's and asyncio's logs, and exceptions ignored in its coroutines, silenced (a one-line error says it all)."""
    loggers = [logging.getLogger(name) for name in _NOISY]
    levels = [logger.level for logger in loggers]
    hook = sys.unraisablehook
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _json_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """A checkpoint's JSON files (orbax's layout): the meta item, the state's metadata, its arrays' metadata."""
    return [folder / "meta" / "metadata", folder / "state" / "_METADATA",
            *sorted((folder / "state" / "array_metadatas").glob("*"))]


def _check_json(folder: pathlib.Path) -> None:
    """Raise the error of the first of a checkpoint's JSON files that is missing or does not parse."""
    for path in _json_files(folder):
        json.loads(path.read_text())


def _damaged_file(folder: pathlib.Path, error: BaseException) -> pathlib.Path | None:
    """The file of checkpoint `folder` that failed: the first JSON file that is missing or does not parse, else the
    file tensorstore names (None if neither says)."""
    for path in _json_files(folder):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):
            return path
    named = re.findall(r'local file "([^"]+)"', str(error))
    return pathlib.Path(named[-1]) if named else None


def _reason(error: BaseException, limit: int = 160) -> str:
    """The error in a few words: tensorstore's JSON specs cut off, at most `limit` characters."""
    text = one_line(error).split(" [tensorstore_spec")[0]
    if isinstance(error, UnicodeDecodeError):
        text = "not text: binary data where JSON belongs"
    return text if len(text) <= limit else text[: limit - 3] + "..."
