"""What every method reports: one kind of event per step.

A method (optimising an image, training a network, ...) yields an
[`Event`][explainer.events.Event] after each step. Everything that watches a
run consumes the same stream: the progress bar and the run record
([`explainer.stylize`][explainer.stylize]), the recorder
([`explainer.record`][explainer.record]), the figures, and the explorer's live
preview. The image an event carries is what the user would get if the run
stopped there (colour post-processing included), so the last preview is
the saved result.

A method that can be recorded also accepts a
[`SnapshotPlan`][explainer.events.SnapshotPlan]: at the steps the plan selects
it runs the plan's snapshot function inside its compiled step and puts the
small arrays it returns into the event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Event:
    """One step of a run, as reported to whoever watches it.

    Attributes:
        iteration: 1-based step count over the whole run (all scales).
        scale: 0-based scale index (coarse-to-fine runs).
        loss: total loss *before* this step's update.
        terms: every weighted term of the loss, `{family: value}` or
            `{family: {layer: value}}` (e.g. `{"content": {"relu4_2": 1.2},
            "style": {...}, "tv": 0.3}`); they add up to `loss`.
        image: what the run would return if it stopped here, `(H, W, 3)`
            NumPy RGB in `[0, 1]` (colour post-processing applied).
        arrays: at recorded steps, the snapshot's arrays (on the host);
            else `None`.
    """

    iteration: int
    scale: int
    loss: float
    terms: dict
    image: np.ndarray
    arrays: dict | None = None

    def history_entry(self) -> dict:
        """The JSON-ready line of the run record's `history` for this step."""
        return {"iteration": self.iteration, "scale": self.scale, "loss": self.loss, **self.terms}


def terms_to_floats(terms: Any) -> Any:
    """A (nested) dict of scalar arrays as Python floats, same structure.

    Arrays replicated over several processes' devices (a multi-process
    training's) are read from this process's copy.
    """
    return jax.tree.map(_to_float, terms)


def _to_float(value: Any) -> float:
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        value = value.addressable_data(0)
    return float(value)


def total_of_family(value: float | dict) -> float:
    """A term family's value: the number itself, or the sum over its layers."""
    return float(sum(value.values())) if isinstance(value, dict) else float(value)


class SnapshotPlan(Protocol):
    """What a recordable method asks of a recorder (implemented by `explainer.record.Recorder`).

    The method calls `layers_for(loss)` once, `start_scale` at each scale
    with its targets and reference Gram matrices, and `snapshot_fn(step,
    last)` before each step: a returned function is compiled into that step.
    """

    def layers_for(self, loss: Any) -> tuple[str, ...]: ...

    def start_scale(self, scale: int, backend: Any, loss: Any, targets: Any, content_grams: dict,
                    style_grams: list[dict]) -> None: ...

    def snapshot_fn(self, step: int, last: int) -> Callable | None: ...
