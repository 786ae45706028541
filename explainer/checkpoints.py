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
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax

from explainer.errors import ConfigError

CHECKPOINTS = "checkpoints"


class Checkpoints:
    """The checkpoints of one model folder (`MODEL_DIR/checkpoints`)."""

    def __init__(self, model_dir: str | os.PathLike, keep: int = 3):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(model_dir).absolute() / CHECKPOINTS
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    def latest_step(self) -> int | None:
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
        return step, self._manager.restore(step, args=self._ocp.args.Composite(meta=self._ocp.args.JsonRestore()))["meta"]

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
        restored = self._manager.restore(step, args=args)
        return restored["state"], restored["meta"]

    def close(self) -> None:
        self._manager.close()
