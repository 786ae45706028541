"""The optimisation engine: one jit-compiled step, Adam or L-BFGS, over scales, whole or in tiles.

Everything here is array-in, array-out. Loading files, printing, progress
bars and saving live in [`explainer.stylize`][explainer.stylize]; the
explorer consumes the same [`run`][explainer.optimize.run] generator.

The image being optimised is RGB in `[0, 1]`; the backend preprocesses it
inside the step (a cheap linear map), so the box constraint stays the
simple `clip(x, 0, 1)` and learning rates are in pixel units.

An image too large for memory runs through the same stepper with
`tile=`: only its objective differs, the windowed one of
[`explainer.tiling`][explainer.tiling] (the same loss and gradient).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from backends import Backend
from explainer import images as _images
from explainer import tiling
from explainer.color import keep_luminance_only, match_colors
from explainer.config import StyleConfig
from explainer.errors import ConfigError
from explainer.events import Event, SnapshotPlan, terms_to_floats
from explainer.losses import ImageTerm, LossSpec, Targets, blend_grams, gram_matrix, loss_terms, sum_terms


class StepState(NamedTuple):
    """What the optimiser carries from one step to the next (a pytree).

    Attributes:
        image: the current iterate, `(H, W, 3)`.
        opt_state: the optax state.
        ema: running sum for the exponential moving average (zeros if unused).
        count: steps taken at this scale.
    """

    image: jax.Array
    opt_state: Any
    ema: jax.Array
    count: jax.Array


def make_objective(backend: Backend, spec: LossSpec) -> Callable:
    """`objective(params, image, targets) -> (total, terms)`: pure, jit-able.

    `backend` is anything with `apply(params, image, layers)`: a backend or its `spec`.
    """

    def objective(params, image, targets):
        features = backend.apply(params, image, spec.layers)
        terms = loss_terms(spec, features, targets, image)
        return sum_terms(terms), terms

    return objective


def compute_targets(
    backend: Backend, spec: LossSpec, content: np.ndarray, styles: Sequence[np.ndarray], blend: Sequence[float]
) -> Targets:
    """Activations of the content image, the blended Gram matrices of the style images, and the weights."""
    return _targets_and_grams(backend, spec, content, styles, blend, ())[0]


def _targets_and_grams(
    backend: Backend,
    spec: LossSpec,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    blend: Sequence[float],
    gram_layers: tuple[str, ...],
) -> tuple[Targets, dict, list[dict]]:
    """The targets, plus the Gram matrices of the content and of each style image at `gram_layers`.

    One forward pass per image serves both (the recorder wants the Grams;
    a second pass would cost as much as an optimisation step).
    """
    content_layers = tuple(name for name, _ in spec.content)
    style_layers = tuple(name for name, _ in spec.style)
    features = lambda image, layers: backend.features(image, layers) if layers else {}
    content_features = features(content, tuple(dict.fromkeys(content_layers + gram_layers)))
    style_features = [features(style, tuple(dict.fromkeys(style_layers + gram_layers))) for style in styles]
    style_grams = [{name: gram_matrix(f[name]) for name in dict.fromkeys(style_layers + gram_layers)} for f in style_features]
    targets = Targets(
        content={name: content_features[name] for name in content_layers},
        style=blend_grams([{n: g[n] for n in style_layers} for g in style_grams], blend) if style_layers else {},
        weights=spec.weights(),
        extra=spec.image_targets(content),
    )
    content_grams = {name: gram_matrix(content_features[name]) for name in gram_layers}
    return targets, content_grams, [{name: g[name] for name in gram_layers} for g in style_grams]


@dataclasses.dataclass(frozen=True, eq=False)
class Stepper:
    """An optimiser bound to an objective: `init`, a jitted `step`, and `display`.

    Build one with [`make_stepper`][explainer.optimize.make_stepper]; it is
    cached, so the same backend, loss and optimiser settings reuse the
    compiled step.
    """

    init: Callable[[jax.Array], StepState]
    step: Callable[[Any, StepState, Targets], tuple[StepState, jax.Array, dict]]
    display: Callable[[StepState], jax.Array]
    carries_state_across_scales: bool
    _recorded: Callable = dataclasses.field(repr=False)
    _recorded_steps: dict = dataclasses.field(default_factory=dict, repr=False)

    def compiled_count(self) -> int:
        """How many programs this stepper has compiled so far (plain and recorded steps): for tests and benchmarks.

        One per image shape and kind of step; a change of loss weights or
        learning rate must not add one.
        """
        jitted = [self.step, *self._recorded_steps.values()]
        return sum(fn._cache_size() for fn in jitted)

    def recorded_step(self, snapshot_fn: Callable) -> Callable:
        """The jitted step that also takes a snapshot: `(params, state, targets) -> (state, loss, terms, arrays)`.

        `snapshot_fn` comes from
        [`make_snapshot_fn`][explainer.record.make_snapshot_fn]. With Adam
        the update uses the snapshot's own gradient, so a recorded step costs
        its snapshot plus an optimiser update, not a snapshot plus a step.
        """
        if snapshot_fn not in self._recorded_steps:
            self._recorded_steps[snapshot_fn] = self._recorded(snapshot_fn)
        return self._recorded_steps[snapshot_fn]


@functools.lru_cache(maxsize=16)
def make_stepper(
    backend: Backend,
    spec: LossSpec,
    optimizer: str = "adam",
    learning_rate: float = 0.02,
    ema_decay: float | None = None,
    window: tuple[int, int] | None = None,
) -> Stepper:
    """Compile-once step functions for one backend, loss and optimiser.

    The step reads the loss weights from its `targets` (see
    [`compute_targets`][explainer.optimize.compute_targets]) and Adam's
    learning rate from its state (`init` puts it there), so steppers that
    differ only in loss weights or learning rate share one compiled step.
    With `window` (the windows' `(height, width)`), the step takes
    [`tiling.tiled_targets`][explainer.tiling.tiled_targets] and evaluates
    the loss window by window; `None` is the untiled step.
    """
    shared = _make_stepper(backend.spec, spec.structure(), optimizer, ema_decay, window)
    # Same compiled functions (and cache of recorded steps); only `init` differs.
    return dataclasses.replace(shared, init=functools.partial(shared.init, learning_rate=learning_rate))


@functools.lru_cache(maxsize=16)
def _make_stepper(
    network: Hashable, spec: LossSpec, optimizer: str, ema_decay: float | None, window: tuple[int, int] | None = None
):
    """The stepper for a weightless `spec` (see `LossSpec.structure`), any learning rate; tiled with `window`.

    Adam updates are followed by `clip(x, 0, 1)`. L-BFGS (optax's, with a
    zoom line search satisfying the strong Wolfe conditions) moves an
    unconstrained iterate but evaluates the loss on its clipped image
    (clipped straight-through, so out-of-range pixels keep a gradient), so
    the reported loss is the loss of the image that is shown and saved.
    `lbfgs-fixed` is the same without the line search (unit steps, memory
    100, as `torch.optim.LBFGS` and neural-style run it): one evaluation per
    step.
    """
    objective = make_objective(network, spec) if window is None else tiling.windowed_objective(network, spec, window)
    decay = 0.0 if ema_decay is None else float(ema_decay)

    if optimizer == "adam":
        # The learning rate lives in the optimiser state (an array), not in the
        # compiled program: a new rate reuses the step.
        transform = optax.inject_hyperparams(optax.adam)(learning_rate=0.02)

        def descend(state: StepState, grad):
            updates, opt_state = transform.update(grad, state.opt_state, state.image)
            return jnp.clip(optax.apply_updates(state.image, updates), 0.0, 1.0), opt_state

        def update(params, state: StepState, targets):
            (loss, terms), grad = jax.value_and_grad(objective, argnums=1, has_aux=True)(params, state.image, targets)
            return *descend(state, grad), loss, terms

        def recorded(snapshot_fn, params, state: StepState, targets):
            _require_weights(targets)
            snapshot = snapshot_fn(params, state.image, targets)
            image, opt_state = descend(state, snapshot.gradient)
            return finish(state, image, opt_state), snapshot.loss, snapshot.terms, snapshot.arrays

    elif optimizer == "lbfgs":
        transform = optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20))

        def update(params, state: StepState, targets):
            # L-BFGS runs unconstrained (clipping between steps would break its
            # curvature pairs), so the loss is taken of the *clipped* image:
            # the loss it minimises and reports is that of the image you get.
            # The clip is straight-through: a pixel pushed out of range keeps
            # its gradient and can come back (a plain clip would freeze it).
            value_fn = lambda x: objective(params, _clip_straight_through(x), targets)[0]
            # The line search leaves the value and gradient at the accepted
            # point in the state: reuse them instead of recomputing.
            loss, grad = optax.value_and_grad_from_state(value_fn)(state.image, state=state.opt_state)
            updates, opt_state = transform.update(
                grad, state.opt_state, state.image, value=loss, grad=grad, value_fn=value_fn
            )
            # Per-layer terms for the report: one more forward pass, no gradient
            # (about a quarter of a step; optax's line search returns only the total).
            _, terms = objective(params, jnp.clip(state.image, 0.0, 1.0), targets)
            return optax.apply_updates(state.image, updates), opt_state, loss, terms

        def recorded(snapshot_fn, params, state: StepState, targets):
            # The line search needs its own evaluations: snapshot the image the
            # step evaluates (the clipped iterate), then take the plain step.
            arrays = snapshot_fn(params, jnp.clip(state.image, 0.0, 1.0), targets).arrays
            return *step(params, state, targets), arrays

    elif optimizer == "lbfgs-fixed":
        # L-BFGS as torch.optim.LBFGS and neural-style run it: no line search, a
        # unit step along the two-loop direction (optax scales the first one to
        # length at most 1, then by <s, y>/<y, y>), a memory of 100 pairs. One
        # evaluation per step, so the per-layer terms come with it.
        transform = optax.lbfgs(learning_rate=1.0, memory_size=100, linesearch=None)

        def move(state: StepState, grad):
            updates, opt_state = transform.update(grad, state.opt_state, state.image)
            return optax.apply_updates(state.image, updates), opt_state

        def update(params, state: StepState, targets):
            clipped = lambda x: objective(params, _clip_straight_through(x), targets)  # as "lbfgs" above
            (loss, terms), grad = jax.value_and_grad(clipped, has_aux=True)(state.image)
            return *move(state, grad), loss, terms

        def recorded(snapshot_fn, params, state: StepState, targets):
            _require_weights(targets)
            # The clip is straight-through: the gradient at the clipped image is the iterate's.
            snapshot = snapshot_fn(params, jnp.clip(state.image, 0.0, 1.0), targets)
            image, opt_state = move(state, snapshot.gradient)
            return finish(state, image, opt_state), snapshot.loss, snapshot.terms, snapshot.arrays

    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")

    def init(image: jax.Array, learning_rate: float = 0.02) -> StepState:
        image = jnp.asarray(image, jnp.float32)
        opt_state = transform.init(image)
        if optimizer == "adam":
            rate = jnp.asarray(learning_rate, jnp.float32)
            opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": rate})
        return StepState(image, opt_state, jnp.zeros_like(image), jnp.zeros((), jnp.int32))

    def finish(state: StepState, image: jax.Array, opt_state) -> StepState:
        ema = decay * state.ema + (1.0 - decay) * image
        return StepState(image, opt_state, ema, state.count + 1)

    def step(params, state: StepState, targets: Targets):
        _require_weights(targets)
        image, opt_state, loss, terms = update(params, state, targets)
        return finish(state, image, opt_state), loss, terms

    def display(state: StepState) -> jax.Array:
        if ema_decay is None:
            image = state.image
        else:  # bias-corrected, like Adam's moments
            image = state.ema / (1.0 - decay ** jnp.maximum(state.count, 1))
        return jnp.clip(image, 0.0, 1.0)

    # Donating the state lets XLA update the image in place. optax's L-BFGS
    # state holds aliased buffers, which cannot be donated twice.
    donate = (1,) if optimizer == "adam" else ()
    return Stepper(
        init=init,
        step=jax.jit(step, donate_argnums=donate),
        display=jax.jit(display),
        carries_state_across_scales=optimizer == "adam",
        _recorded=lambda snapshot_fn: jax.jit(functools.partial(recorded, snapshot_fn), donate_argnums=donate),
    )


def _require_weights(targets: Targets) -> None:
    if targets.weights is None:  # the step's spec has unit weights: refuse to guess
        raise ValueError("these targets carry no loss weights: build them with compute_targets(backend, spec, ...)")


def _clip_straight_through(x: jax.Array) -> jax.Array:
    """`clip(x, 0, 1)` in value, the identity in gradient."""
    return x + jax.lax.stop_gradient(jnp.clip(x, 0.0, 1.0) - x)


def loss_spec(config: StyleConfig, image_terms: Sequence[ImageTerm] = ()) -> LossSpec:
    """The loss a config describes, with any further terms on the image (a method's own)."""
    content, style = config.layer_weights()
    return LossSpec(content=content, style=style, tv_weight=float(config.tv_weight), image_terms=tuple(image_terms))


def initial_image(config: StyleConfig, content: np.ndarray, style: np.ndarray, init_image: np.ndarray | None) -> np.ndarray:
    """The starting point: the content image, seeded uniform noise, the style image, or a given image."""
    height, width = content.shape[:2]
    if init_image is not None:
        return _images.resize_to(init_image, height, width)
    if config.init == "content":
        return content
    if config.init == "style":
        return _images.resize_to(style, height, width)
    if config.init == "noise":
        return np.random.default_rng(config.seed).uniform(0.0, 1.0, content.shape).astype(np.float32)
    raise ValueError(f"init {config.init!r} needs an image: pass init_image")


def _resize_like(tree: Any, old_shape: tuple[int, ...], new_shape: tuple[int, ...]) -> Any:
    """Resize every leaf with the image's shape (Adam's moments) to the new scale."""

    def resize(leaf):
        if hasattr(leaf, "shape") and tuple(leaf.shape) == old_shape:
            return jax.image.resize(leaf, new_shape, "linear")
        return leaf

    return jax.tree.map(resize, tree)


def run(
    config: StyleConfig,
    backend: Backend,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    init_image: np.ndarray | None = None,
    snapshots: SnapshotPlan | None = None,
    image_terms: Sequence[ImageTerm] = (),
    regions: Any = None,
    tile: int | None = None,
) -> Iterator[Event]:
    """Optimise an image; yield an [`Event`][explainer.events.Event] after every step.

    Stop early by simply not asking for the next item (or `close()` the
    generator): the last event holds the latest image. With
    `config.colors == "keep"` every event's image already has the content's
    colours, so the last one is the result.

    Args:
        config: the run's settings (layers are checked against `backend`).
        backend: the network.
        content: `(H, W, 3)` RGB `[0, 1]`, any size (resized per scale).
        styles: one or more style images, any size.
        init_image: the starting image when `config.init` is a path.
        snapshots: selects the steps to record and what to record there
            (a [`Recorder`][explainer.record.Recorder]); those steps' events
            carry the snapshot's `arrays`, the others run at full speed.
        image_terms: further terms of the loss on the image (see
            [`ImageTerm`][explainer.losses.ImageTerm]), reported and recorded
            like the others.
        regions: matched region masks ([`Regions`][explainer.regions.Regions]):
            the style loss then compares each region's Gram matrices only
            with the same region's of the (one) style image. `None`: the
            whole image is one region.
        tile: the core tile's side ([`tiling.check_run`][explainer.tiling.check_run]):
            the same optimisation, its loss evaluated window by window (see
            [`explainer.tiling`][explainer.tiling]); `None`: untiled.

    Raises:
        ConfigError: `snapshots` with `tile` (a tiled run cannot be recorded).
    """
    if tile is not None and snapshots is not None:
        raise ConfigError("--record cannot record a tiled run (a large --size, or --tile-size): record a smaller --size")
    spec = loss_spec(config, image_terms)
    recorded_layers = snapshots.layers_for(spec) if snapshots is not None else ()
    backend.check_layers(config.content_layers + config.style_layers + recorded_layers)
    stepper = make_stepper(backend, spec, config.optimizer, config.learning_rate, config.ema_decay)
    blend = config.style_blend or (1.0,) * len(styles)
    if len(blend) != len(styles):
        raise ValueError(f"style_blend has {len(blend)} weights for {len(styles)} style images")

    state: StepState | None = None
    iteration = 0
    for scale, side in enumerate(config.scale_sizes()):
        scaled_content, scaled_styles = _scaled_images(config, spec, content, styles, side)
        if tile is None:
            targets = _scale_targets(backend, spec, scaled_content, scaled_styles, blend, regions, snapshots, scale)
        else:  # the same stepper, with the windowed objective for this scale's windows
            targets, window = tiling.tiled_targets(backend, spec, scaled_content, scaled_styles, blend, tile, regions)
            stepper = make_stepper(backend, spec, config.optimizer, config.learning_rate, config.ema_decay, window)
        state = _start_scale(stepper, state, config, scaled_content, scaled_styles[0], init_image)
        finish = _finisher(config, scaled_content)

        for step_at_scale in range(1, config.iterations + 1):
            arrays = None
            snapshot_fn = snapshots.snapshot_fn(step_at_scale, config.iterations) if snapshots is not None else None
            if snapshot_fn is not None:
                state, loss, terms, arrays = stepper.recorded_step(snapshot_fn)(backend.params, state, targets)
            else:
                state, loss, terms = stepper.step(backend.params, state, targets)
            iteration += 1
            # One transfer per step; the state itself is donated to the next
            # step, so nothing yielded may refer to it.
            loss, terms, image, arrays = jax.device_get((loss, terms, stepper.display(state), arrays))
            yield Event(iteration, scale, float(loss), terms_to_floats(terms), finish(image), arrays)


def _scale_targets(backend: Backend, spec: LossSpec, content, styles, blend, regions, snapshots, scale: int):
    """An untiled scale's targets (with `regions`' masks); hands the recorder its reference Gram matrices."""
    recorded_layers = snapshots.layers_for(spec) if snapshots is not None else ()
    targets, *grams = _targets_and_grams(backend, spec, content, styles, blend, recorded_layers)
    if regions is not None:
        targets = regions.targets(backend, spec, targets, content, styles[0])
    if snapshots is not None:
        snapshots.start_scale(scale, backend, spec, targets, *grams)
    return targets


def _scaled_images(config: StyleConfig, spec: LossSpec, content, styles, side: int):
    """The content at this scale's size, and the style images at theirs (recoloured with `colors="match"`)."""
    scaled_content = _images.resize_longest(content, side)
    _images.check_min_side(scaled_content, 2 ** max(_downsamplings(spec.layers)), name="content at this scale")
    style_side = max(16, round(side * config.style_scale))
    scaled_styles = [_images.resize_longest(s, style_side) for s in styles]
    if config.colors == "match":
        scaled_styles = [match_colors(s, scaled_content) for s in scaled_styles]
    return scaled_content, scaled_styles


def _start_scale(stepper: Stepper, state: StepState | None, config: StyleConfig, content, style, init_image):
    """The state a scale starts from: the initial image, or the previous scale's result upsampled."""
    if state is None:
        return stepper.init(initial_image(config, content, style, init_image))
    previous = stepper.display(state) if not stepper.carries_state_across_scales else state.image
    fresh = stepper.init(jax.image.resize(previous, content.shape, "linear"))
    if stepper.carries_state_across_scales:
        # crowsonkb/style-transfer-pytorch: keep Adam's moments, resized.
        fresh = fresh._replace(opt_state=_resize_like(state.opt_state, tuple(state.image.shape), content.shape))
    return fresh


def _finisher(config: StyleConfig, content: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """What turns an iterate into the image a user gets: colour post-processing (`colors="keep"`)."""
    if config.colors == "keep":
        return lambda image: keep_luminance_only(image, content)
    return lambda image: np.asarray(image, np.float32)


def finish_image(config: StyleConfig, image: np.ndarray, content: np.ndarray) -> np.ndarray:
    """`image` as the run returns it, for a content image of any size (used when no step was taken)."""
    return _finisher(config, _images.resize_to(content, *image.shape[:2]))(image)


def _downsamplings(layers: Sequence[str]) -> list[int]:
    from backends import downsampling

    return [downsampling(name) for name in layers] or [0]
