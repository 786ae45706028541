"""`style-explainer train` and `explainer.train(...)`: a feed-forward network for one style, from files to a model.

```python
from explainer import train
from explainer.config import TrainSettings

result = train("painting.jpg", "models/painting", TrainSettings(size=128, steps=500, arch="slim"))
# models/painting/model.safetensors, model.json, previews/, checkpoints/
```

The driver checks the request before any work (the output folder, the
budget `size^2 x batch x steps`, the memory a step needs, the data), makes
the loss network (`weights="auto"`: ImageNet VGG19, else HED's VGG16), and
runs [`Training.events`][explainer.training.Training.events]: one jitted
step per batch ([`explainer.trainer`][explainer.trainer]), a checkpoint every
`checkpoint_every` steps (orbax, the last `keep_checkpoints` kept), the probe
photos painted every `preview_every` steps into `previews/`. Ctrl-C,
SIGTERM (in the command line) or the explorer's Stop end it with a
checkpoint and a usable model; `resume=True` continues from the latest
checkpoint exactly (same weights, Adam state and data order). A loss that
stops being finite ends the run with the last finite weights saved.

Several processes (machines) train one model together with
`coordinator`, `num_processes`, `process_id` (or `$STYLE_EXPLAINER_COORDINATOR`,
`$STYLE_EXPLAINER_NUM_PROCESSES`, `$STYLE_EXPLAINER_PROCESS_ID`): each reads
its share of every batch, and process 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from backends import RESIDUAL_BLOCKS, TransformSpec, parameter_count
from explainer import data as _data
from explainer import images as _images
from explainer import samples, trainer
from explainer.budget import FIXED_BYTES, MEMORY_SHARE, machine_memory
from explainer.checkpoints import Checkpoints
from explainer.config import TrainSettings
from explainer.errors import BudgetError, ConfigError
from explainer.events import terms_to_floats
from explainer.files import check_output_dir, jsonable
from explainer.models import save_model
from explainer.provenance import provenance

#: The loss network's architecture for `weights="auto"` and `"random"` (files and `hed` bring their own, VGG16):
#: the network Gatys et al. used. Johnson et al.'s layers (relu1_2, relu2_2, relu3_3, relu4_3) exist in both
#: VGGs (`explainer.config.TrainSettings` says how they differ).
LOSS_ARCH = "vgg19"
#: Peak bytes per training pixel (VGG16 to relu4_3 and Johnson's network, forward and backward, float32),
#: rounded up from `/usr/bin/time -v` of a 128 px batch-4 step here.
TRAIN_BYTES_PER_PIXEL = 12_000
#: At most this many entries of the loss history go into model.json (thinned evenly beyond).
HISTORY_IN_MANIFEST = 2000
PREVIEWS = "previews"
ENV = {"coordinator": "STYLE_EXPLAINER_COORDINATOR", "num_processes": "STYLE_EXPLAINER_NUM_PROCESSES",
       "process_id": "STYLE_EXPLAINER_PROCESS_ID"}


@dataclasses.dataclass
class TrainResult:
    """What a training produced: the model folder and its manifest (`model.json`'s content)."""

    model_dir: pathlib.Path
    manifest: dict

    @property
    def interrupted(self) -> bool:
        return bool(self.manifest.get("interrupted"))

    @property
    def failed(self) -> str | None:
        return self.manifest.get("failed")


def check_budget(settings: TrainSettings, processes: int = 1) -> None:
    """Refuse, in one line and before any work, a training over `max_work` or over this machine's memory."""
    if settings.max_work is not None and settings.work() > settings.max_work:
        raise BudgetError(
            f"--size {settings.size} x --batch-size {settings.batch_size} x --steps {settings.steps} is "
            f"{settings.work():,.0f} megapixel-steps, more than --max-work {settings.max_work:,.0f} allows; fewer "
            "steps, a smaller size or batch, or raise --max-work")
    memory = machine_memory()
    need = FIXED_BYTES + settings.size ** 2 * (settings.batch_size // processes) * TRAIN_BYTES_PER_PIXEL
    if memory and need > MEMORY_SHARE * memory:
        raise BudgetError(f"--size {settings.size} with --batch-size {settings.batch_size} needs about "
                          f"{need / 1e9:.1f} GB per process, more than this machine's memory allows "
                          f"({MEMORY_SHARE * memory / 1e9:.1f} GB); use a smaller --size or --batch-size")


def distributed(settings: TrainSettings, environ: Any = os.environ) -> tuple[str | None, int, int]:
    """`(coordinator, process count, process id)` from the settings, else the environment variables."""
    coordinator = settings.coordinator or environ.get(ENV["coordinator"]) or None
    try:
        count = settings.num_processes or int(environ.get(ENV["num_processes"], 1))
        index = settings.process_id if settings.process_id is not None else int(environ.get(ENV["process_id"], 0))
    except ValueError as error:
        raise ConfigError(f"${ENV['num_processes']} and ${ENV['process_id']} must be whole numbers ({error})") from None
    if count > 1 and not coordinator:
        raise ConfigError(f"--num-processes {count} needs --coordinator HOST:PORT (process 0's address)")
    if not 0 <= index < count:
        raise ConfigError(f"--process-id {index} must be between 0 and {count - 1} (--num-processes {count})")
    if settings.batch_size % count:
        raise ConfigError(f"--batch-size {settings.batch_size} does not split over {count} processes")
    return coordinator, count, index


def start_processes(coordinator: str | None, count: int, index: int) -> None:
    """Join the other processes (`jax.distributed`, CPU collectives over gloo); nothing for one process."""
    if count == 1 and coordinator is None:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes=count, process_id=index)


def style_checksum(image: np.ndarray) -> str:
    return "sha256:" + hashlib.sha256(_images.to_uint8(image).tobytes()).hexdigest()


class Training:
    """One training, set up and checked; `events()` runs it (see the module's description)."""

    def __init__(self, style: Any, model_dir: str | os.PathLike, settings: TrainSettings | None = None, *,
                 resume: bool = False, backend: Any = None, log: Callable[[str], None] | None = None):
        self.settings = settings = settings or TrainSettings()
        self.log = log or (lambda message: print(message, file=sys.stderr))
        coordinator, self.processes, index = distributed(settings)
        self.model_dir = check_output_dir(model_dir, what="model folder")
        check_budget(settings, self.processes)
        self.style_source = style if isinstance(style, str) else f"array{tuple(np.shape(style))}"
        self.style = _style_image(style, round(settings.size * settings.style_scale))
        self.source = _data.data_source(settings.data)
        _data.check_items(self.source.train)
        start_processes(coordinator, self.processes, index)
        self.is_writer = jax.process_index() == 0
        self.backend = backend or _loss_network(settings, self.log)
        self.backend.check_layers(settings.content_layers + settings.style_layers)
        self.net = TransformSpec(settings.arch, settings.norm)
        self.loss = trainer.training_loss_spec(settings, self.backend.features, self.style)
        self.mesh = trainer.data_mesh(self._devices())
        self.step_fn = trainer.make_train_step(self.net, self.backend.spec, self.loss.structure(), self.mesh,
                                              settings.lr_schedule)
        self.fingerprint = self._fingerprint()
        self.checkpoints = Checkpoints(self.model_dir, settings.keep_checkpoints)
        self._start(resume)

    def _devices(self) -> list:
        local_batch = self.settings.batch_size // self.processes
        if self.processes == 1:
            return trainer.devices_for(local_batch)
        if local_batch % jax.local_device_count():
            raise ConfigError(f"--batch-size {self.settings.batch_size} gives each of {self.processes} processes "
                              f"{local_batch} images, which do not split over its {jax.local_device_count()} devices")
        return jax.devices()

    def _fingerprint(self) -> dict:
        """What a resumed training must share with the checkpoint it resumes."""
        s = self.settings
        return {"style": style_checksum(self.style), "arch": s.arch, "norm": s.norm, "size": s.size,
                "batch_size": s.batch_size, "seed": s.seed, "data": self.source.describe()["list_sha256"],
                "loss": [list(map(list, self.loss.content)), list(map(list, self.loss.style)), self.loss.tv_weight],
                # A cosine rate is 0 at its last step: more steps would restart it high and undo the training
                # (measured: the loss went from 2 to 3e6 within 70 steps of such a resume).
                "schedule": [s.lr_schedule, s.steps] if s.lr_schedule == "cosine" else [s.lr_schedule]}

    def _start(self, resume: bool) -> None:
        fresh = trainer.init_state(self.net, self.settings.seed)
        self.history: list[dict] = []
        self.runs: list[dict] = []
        self.seconds = 0.0
        data_state = None
        if resume:
            step, meta = self.checkpoints.read_meta()
            _check_same(meta.get("fingerprint", {}), self.fingerprint, self.checkpoints.directory)
            if step > self.settings.steps:  # the loop would not run and the model would say "3 of 2 steps"
                raise ConfigError(f"--resume: the checkpoint in {self.checkpoints.directory} is at step {step}, past "
                                  f"--steps {self.settings.steps}; give --steps above {step} to train on (the model "
                                  f"in {self.model_dir} already holds step {step})")
            state, meta = self.checkpoints.restore(fresh, step)
            data_state, self.history, self.seconds = meta["data"], meta.get("history", []), meta.get("seconds", 0.0)
            self.runs = meta.get("runs") or [{"from_step": 0}]  # a checkpoint from before runs were recorded
            self.log(f"resuming from step {int(state.step)} ({self.checkpoints.directory})")
        elif self.checkpoints.latest_step() is not None:
            raise ConfigError(f"{self.model_dir} holds checkpoints of an earlier training: --resume to continue it, "
                              "or choose another folder")
        else:
            state = fresh
        # What may differ between a training and its resumptions: the rate and the length.
        self.runs.append({"from_step": int(state.step), "learning_rate": self.settings.learning_rate,
                          "lr_schedule": self.settings.lr_schedule, "steps": self.settings.steps})
        self.state = trainer.replicate(state, self.mesh)
        self.loss_params = trainer.replicate(self.backend.params, self.mesh)
        self.grams = trainer.replicate(trainer.style_targets(self.backend.features, self.loss, self.style), self.mesh)
        self.weights = trainer.replicate(self.loss.weights(), self.mesh)
        self.rates = trainer.replicate(trainer.rates(self.settings), self.mesh)
        dataset = _data.batches(self.source, self.settings.size, self.settings.batch_size, self.settings.seed,
                                process_index=jax.process_index(), process_count=self.processes)
        self.batches = _data.iterator(dataset, data_state)
        self.probes = _data.probe_images(self.source, self.settings.size)
        self.preview = None

    @property
    def step(self) -> int:
        return int(trainer.to_host(self.state.step))

    def events(self, stop: Callable[[], bool] | None = None) -> Iterator[trainer.TrainEvent]:
        """Train until `settings.steps` (or `stop()` says so, or the consumer stops asking); one event per step.

        However it ends (finished, stopped, closed, interrupted, failed), the
        latest finite state is checkpointed and written as the model before
        the generator returns; `self.result` then holds the manifest.
        """
        self.interrupted, self.failure = False, None
        try:
            while self.step < self.settings.steps and not (stop and stop()):
                event = self._one_step()
                if event is None:
                    break
                yield event
        finally:  # finished, stopped, closed (GeneratorExit), interrupted (KeyboardInterrupt) or failed
            self.interrupted = self.step < self.settings.steps and self.failure is None
            self.result = self.finish()

    def _one_step(self) -> trainer.TrainEvent | None:
        start = time.perf_counter()
        local = next(self.batches)
        batch = trainer.shard_batch(local, self.mesh, self.settings.batch_size)
        state, loss, terms = self.step_fn(self.state, self.loss_params, batch, self.grams, self.weights,
                                          self.rates)
        loss = float(trainer.to_host(loss))
        if not math.isfinite(loss):
            self.failure = (f"the loss became {loss} at step {self.step + 1}: lower --learning-rate or the weights; "
                            f"the model holds the last finite weights (step {self.step})")
            return None
        seconds = time.perf_counter() - start
        self.state, self.seconds = state, self.seconds + seconds
        terms = terms_to_floats(terms)
        step = self.step
        self.history.append({"step": step, "loss": loss, **terms})
        previews = None
        if self.preview is None or (self.settings.preview_every and step % self.settings.preview_every == 0):
            previews = self.save_preview()
        if self.settings.checkpoint_every and step % self.settings.checkpoint_every == 0:
            self.save_checkpoint()
        return trainer.TrainEvent(step, 0, loss, terms, self.preview[0], None,
                                  images_per_second=self.settings.batch_size / seconds, previews=previews)

    def save_preview(self) -> np.ndarray:
        self.preview = trainer.preview(self.net, self.state, self.probes)
        if self.is_writer:
            strip = np.concatenate(list(self.preview), axis=1)
            _images.save_image(strip, self.model_dir / PREVIEWS / f"step_{self.step:06d}.png")
        return self.preview

    def save_checkpoint(self) -> pathlib.Path:
        meta = {"data": self.batches.get_state(), "history": self.history, "seconds": self.seconds,
                "fingerprint": self.fingerprint, "runs": self.runs}
        return self.checkpoints.save(self.step, self.state, jsonable(meta))

    def finish(self) -> dict:
        """Checkpoint the latest state, write the model and the final previews; the manifest."""
        self.save_checkpoint()
        self.save_preview()
        manifest = self.manifest()
        if self.is_writer:
            manifest = save_model(self.model_dir, trainer.to_host(self.state.variables), manifest)
            _images.save_image(np.concatenate(list(self.probes), axis=1), self.model_dir / PREVIEWS / "probes.png")
        self.checkpoints.close()
        return manifest

    def manifest(self) -> dict:
        s, steps = self.settings, self.step
        history = self.history if len(self.history) <= HISTORY_IN_MANIFEST else [
            self.history[round(i)] for i in np.linspace(0, len(self.history) - 1, HISTORY_IN_MANIFEST)]
        net_provenance = self.backend.provenance()
        return jsonable({
            "architecture": {"arch": s.arch, "norm": s.norm, "channels": list(self.net.channels),
                             "residual_blocks": RESIDUAL_BLOCKS, "parameters": parameter_count(
                                 trainer.to_host(self.state.variables)),
                             "padding": "reflect", "upsampling": "nearest x2, then a 3x3 convolution",
                             "output": "linear, clipped to [0, 1] when applied"},
            "style": {"source": self.style_source, "checksum": self.fingerprint["style"],
                      "size": list(self.style.shape[:2])},
            "loss": {"content": self.loss.content, "style": self.loss.style, "tv": self.loss.tv_weight,
                     "layer_balance": s.layer_balance, "normalisation": "explainer.losses (the optimisation loss)",
                     **net_provenance},
            "data": self.source.describe(),
            "settings": s.to_dict(),
            "steps_done": steps, "steps_planned": s.steps, "runs": self.runs,
            "devices": len(self.mesh.devices.flat), "processes": self.processes,
            "device_kind": jax.devices()[0].device_kind,
            "train_seconds": round(self.seconds, 3),
            "images_per_second": round(steps * s.batch_size / self.seconds, 4) if self.seconds else None,
            "interrupted": self.interrupted, "failed": self.failure,
            "history_every": max(1, len(self.history) // HISTORY_IN_MANIFEST),
            "history": history,
            "software": provenance()["software"],
        })


def _style_image(style: Any, side: int) -> np.ndarray:
    image = np.asarray(style, np.float32) if isinstance(style, np.ndarray) else samples.load(style)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ConfigError(f"the style image must be (H, W, 3), not {image.shape}")
    return _images.resize_longest(image, max(16, side))


def _loss_network(settings: TrainSettings, log: Callable[[str], None]) -> Any:
    from backends import get_backend

    backend = get_backend(LOSS_ARCH, weights=settings.weights, log=log)  # a VGG16 file or hed: VGG16
    log(f"loss network: {backend.describe()}")
    return backend


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to 1e-5 relative (the loss weights come from the style's activations, whose last digits
    vary with the machine, the XLA version and its flags)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-5)
    return a == b


def _check_same(saved: dict, now: dict, where: pathlib.Path) -> None:
    if saved.get("schedule", ["constant"])[0] == "cosine" and saved["schedule"] != now["schedule"]:
        raise ConfigError(f"--resume: the checkpoint in {where} follows a cosine rate that ends at step "
                          f"{saved['schedule'][1]}; resume with --lr-schedule cosine --steps {saved['schedule'][1]}, "
                          "or train anew (a constant rate can be resumed with more --steps)")
    for key, value in now.items():
        if key in saved and not _same(saved[key], value):  # keys an older checkpoint lacks are not compared
            what = _CHECKSUMMED.get(key) or f"another {key} ({saved[key]!r} there, {value!r} now)"
            raise ConfigError(f"--resume: the checkpoint in {where} was trained with {what}; "
                              "use the same settings and style, or a new folder")


#: Fingerprint entries that are checksums: said in words (a hash means nothing to a user).
_CHECKSUMMED = {
    "style": "another style image (its pixels differ)",
    "data": "other training photos (another --data folder or its contents, or the default photos of "
            "another version of style-explainer)",
}


def train(style: Any, model_dir: str | os.PathLike, settings: TrainSettings | None = None, *, resume: bool = False,
          progress: bool = True, on_step: Callable[[trainer.TrainEvent], None] | None = None,
          log: Callable[[str], None] | None = None, backend: Any = None,
          stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a network for `style` into `model_dir`; see the module's description.

    Args:
        style: the style image (a path, `sample:NAME`, or an `(H, W, 3)` array in `[0, 1]`).
        model_dir: the model folder (created).
        settings: [`TrainSettings`][explainer.config.TrainSettings].
        resume: continue from the latest checkpoint in `model_dir`.
        progress: a progress bar with the loss terms and images/s (stderr).
        on_step: called with every [`TrainEvent`][explainer.trainer.TrainEvent].
        backend: a ready loss network (default: VGG19 with `settings.weights`).
        stop: polled before every step; True ends the training (with a model).

    Returns:
        A [`TrainResult`][explainer.training.TrainResult]; Ctrl-C ends early with a model
        (`result.interrupted`). A loss that became NaN or infinite: `result.failed` says so.
    """
    training = Training(style, model_dir, settings, resume=resume, backend=backend, log=log)
    from tqdm.auto import tqdm

    bar = tqdm(total=training.settings.steps, initial=training.step, desc="training", unit="step",
               file=sys.stderr, disable=not (progress and training.is_writer), dynamic_ncols=True)
    events = training.events(stop)
    try:
        for event in events:
            bar.update(1)
            bar.set_postfix_str(_postfix(event), refresh=False)
            if on_step is not None:
                on_step(event)
    except KeyboardInterrupt:
        pass
    finally:
        events.close()
        bar.close()
    return TrainResult(training.model_dir, training.result)


def _postfix(event: trainer.TrainEvent) -> str:
    from explainer.events import total_of_family

    parts = [f"loss {event.loss:.4g}"] + [f"{k} {total_of_family(v):.3g}" for k, v in event.terms.items()]
    return " ".join(parts) + f" {event.images_per_second:.2f} img/s"
