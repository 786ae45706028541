"""Training a feed-forward network against the perceptual loss: one jitted step, one device or many.

Johnson et al. (2016): instead of optimising one image (minutes, Gatys et
al.), optimise the weights `W` of a network `f_W` so that for *every*
photo `x`, `f_W(x)` has a low loss against `x` (content) and the style
image (style). The loss is the optimisation method's own
([`make_objective`][explainer.optimize.make_objective] of
[`explainer.losses`][explainer.losses]): for a batch of photos, the content
targets are the photos' own activations and the style targets the style
image's Gram matrices, and the batch's loss is the mean of each image's
optimisation loss. Once trained, one forward pass stylises any photo.

The step (`make_train_step`) is one `jax.jit`: the loss network's pass over
the photos (content targets), the transformation network, the loss, its
gradient with respect to the network's weights and Adam's update. Loss
weights, the learning rate and the training's length (for the rate's
schedule) travel as arrays (changing them compiles nothing). Data
parallel: the batch is split over a `Mesh` of devices along its `"data"`
axis, the weights are replicated, and XLA inserts the all-reduce of the
gradients (and of batch norm's statistics), so the step computes the same
numbers on 1 device, 8, or 2 processes x 4.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from backends import TransformSpec
from explainer.config import TrainSettings
from explainer.events import Event
from explainer.losses import LossSpec, Targets, gram_matrix
from explainer.optimize import make_objective


class TrainState(NamedTuple):
    """What a training carries from step to step (a pytree, saved in checkpoints).

    Attributes:
        params: the network's weights.
        batch_stats: batch norm's running averages (`{}` with instance norm).
        opt_state: Adam's state (its learning rate inside, as an array).
        step: steps taken.
    """

    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array

    @property
    def variables(self) -> dict:
        return {"params": self.params, **({"batch_stats": self.batch_stats} if self.batch_stats else {})}


@dataclasses.dataclass(frozen=True)
class TrainEvent(Event):
    """A training step's [`Event`][explainer.events.Event], plus how fast it went.

    `image` is the first probe photo as the network painted it at the last
    preview; `previews` holds every probe's at the steps where they were
    made (else `None`).
    """

    images_per_second: float = 0.0
    previews: np.ndarray | None = None


def training_loss_spec(settings: TrainSettings, features: Callable[[np.ndarray, tuple], dict],
                       style: np.ndarray) -> LossSpec:
    """The loss a training optimises, with its effective per-layer weights (the optimisation method's is
    [`explainer.optimize.loss_spec`][explainer.optimize.loss_spec]).

    With `layer_balance="target"` each style layer's weight is divided by the
    mean square of the style's Gram matrix there, and each content layer's
    by the mean square of the style image's own activations (a stand-in for
    any photo's: only the scale matters), so every term starts near 1.
    `features(image, layers)` is the loss network's.
    """
    layers = tuple(dict.fromkeys(settings.content_layers + settings.style_layers))
    feats = features(style, layers)

    def balance(name: str, kind: str) -> float:
        if settings.layer_balance != "target":
            return 1.0
        value = gram_matrix(feats[name]) if kind == "style" else feats[name]
        return 1.0 / max(float(jnp.mean(jnp.square(value))), 1e-30)

    content = tuple((n, settings.content_weight * balance(n, "content")) for n in settings.content_layers)
    style_ = tuple((n, settings.style_weight * balance(n, "style")) for n in settings.style_layers)
    return LossSpec(content=content, style=style_, tv_weight=settings.tv_weight)


def style_targets(features: Callable[[np.ndarray, tuple], dict], spec: LossSpec, style: np.ndarray) -> dict:
    """`{layer: Gram matrix}` of the style image at the style layers."""
    layers = tuple(name for name, _ in spec.style)
    feats = features(style, layers)
    return {name: gram_matrix(feats[name]) for name in layers}


def optimizer() -> optax.GradientTransformation:
    """Adam, its learning rate an array in its state (set by the step from `rates`, see `learning_rate_at`)."""
    return optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)


def rates(settings: TrainSettings) -> dict:
    """The step's `rates`: the learning rate and the training's length, as arrays (no recompilation)."""
    return {"learning_rate": np.float32(settings.learning_rate), "steps": np.float32(settings.steps)}


def learning_rate_at(schedule: str, step: jax.Array, rates: Mapping) -> jax.Array:
    """Adam's rate at `step` (0 = the first): `rates["learning_rate"]` throughout (`constant`), or
    falling from it along a half cosine to 0 at `rates["steps"]` (`cosine`; Loshchilov & Hutter 2017)."""
    if schedule == "constant":
        return jnp.asarray(rates["learning_rate"], jnp.float32)
    progress = jnp.clip(step / rates["steps"], 0.0, 1.0)
    return rates["learning_rate"] * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))


def init_state(net: TransformSpec, seed: int) -> TrainState:
    """Fresh weights from `seed` (Flax's default initialisers) and a fresh Adam state."""
    variables = net.init(jax.random.key(seed))
    params = variables["params"]
    opt_state = optimizer().init(params)
    return TrainState(params, variables.get("batch_stats", {}), opt_state, jnp.zeros((), jnp.int32))


@functools.lru_cache(maxsize=8)
def make_train_step(net: TransformSpec, network: Any, structure: LossSpec, mesh: Mesh | None = None,
                    schedule: str = "constant") -> Callable:
    """The jitted step `(state, loss_params, batch, style_grams, weights, rates) -> (state, loss, terms)`.

    Args:
        net: the transformation network.
        network: the loss network's hashable spec (`backend.spec`), with `apply(params, image, layers)`.
        structure: the loss's layers and terms, weightless (`LossSpec.structure()`): the weights come in
            `weights` (`LossSpec.weights()`), as arrays.
        mesh: devices to split the batch over (axis `"data"`); `None`: the default device.
        schedule: the learning rate's course (`learning_rate_at`); its values come in `rates` (`rates()`).

    `loss` and `terms` are those of the network's output *before* the
    update, as in [`make_objective`][explainer.optimize.make_objective]: for
    a batch of one, exactly the optimisation method's loss of that output.
    """
    objective = make_objective(network, structure)
    content_layers = tuple(name for name, _ in structure.content)
    tx = optimizer()

    def step(state: TrainState, loss_params, batch, style_grams, weights, rates):
        content = network.apply(loss_params, batch, content_layers) if content_layers else {}
        targets = Targets(content=content, style=style_grams, weights=weights)

        def loss_of(params):
            out, stats = net.forward({"params": params, **({"batch_stats": state.batch_stats}
                                                            if state.batch_stats else {})}, batch, train=True)
            total, terms = objective(loss_params, out, targets)
            return total, (terms, stats)

        (loss, (terms, stats)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        rate = learning_rate_at(schedule, state.step, rates)
        opt_state = state.opt_state._replace(hyperparams={**state.opt_state.hyperparams, "learning_rate": rate})
        updates, opt_state = tx.update(grads, opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, stats if state.batch_stats else state.batch_stats, opt_state, state.step + 1), \
            loss, terms

    # The state is not donated: a step whose loss is not finite (or an interrupt) keeps the previous one.
    if mesh is None:
        return jax.jit(step)
    replicated, by_batch = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    return jax.jit(step, in_shardings=(replicated, replicated, by_batch, replicated, replicated, replicated),
                   out_shardings=replicated)


def data_mesh(devices: list | None = None) -> Mesh:
    """A one-axis mesh (`"data"`) over `devices` (default: every device of every process)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.array(devices), ("data",))


def devices_for(batch_size: int, devices: list | None = None) -> list:
    """The most of `devices` (default: every local device) that split `batch_size` evenly, in order."""
    devices = jax.local_devices() if devices is None else devices
    count = max(n for n in range(1, len(devices) + 1) if batch_size % n == 0)
    return devices[:count]


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Every leaf on every device of `mesh` (every process passes the same values); as is without a mesh."""
    if mesh is None:
        return jax.tree.map(jnp.asarray, tree)
    sharding = NamedSharding(mesh, P())

    def put(leaf):
        value = np.asarray(leaf)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(put, tree)


def shard_batch(local: np.ndarray, mesh: Mesh | None, global_batch: int) -> jax.Array:
    """This process's rows of a global batch, as one array split over the mesh's `"data"` axis."""
    if mesh is None:
        return jnp.asarray(local)
    sharding = NamedSharding(mesh, P("data"))
    return jax.make_array_from_process_local_data(sharding, local, (global_batch, *local.shape[1:]))


def to_host(tree: Any) -> Any:
    """NumPy copies of replicated (or local) arrays, in any process."""

    def get(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return np.asarray(leaf.addressable_data(0))
        return np.asarray(leaf)

    return jax.tree.map(get, tree)


@functools.lru_cache(maxsize=8)
def _preview_fn(net: TransformSpec):
    return jax.jit(net.apply)


def preview(net: TransformSpec, state: TrainState, probes: np.ndarray) -> np.ndarray:
    """The probe photos as the network paints them now (test-time mode), `(P, H, W, 3)` on the host."""
    variables = to_host(state.variables)
    return np.asarray(_preview_fn(net)(variables, jnp.asarray(probes)))

