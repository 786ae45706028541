"""`python benchmarks/step_time.py --target-loss`: time to a good image, JAX against PyTorch's L-BFGS.

The target is the loss JAX's Adam (lr 0.02) reaches after `--target-steps`
steps from the photo. Three runs then go for it from the same photo, each
measured on the clipped image (what would be saved):

* JAX Adam (the trajectory that defined the target);
* JAX L-BFGS (`optimizer="lbfgs"`: optax L-BFGS with a zoom line search,
  its loss evaluated on the clipped iterate);
* JAX L-BFGS, fixed steps (`optimizer="lbfgs-fixed"`: the same without the
  line search, unit steps, memory 100: torch.optim.LBFGS's algorithm, one
  evaluation per step);
* PyTorch `torch.optim.LBFGS` as neural-style-pt runs it (history 100,
  tolerances off, no line search) with the PyTorch tutorial's clamp of the
  image to [0, 1] inside the closure: the peer users would pick. Same
  network weights, preprocessing and losses (`_common.TorchStyle`).

It prints the wall time each needs to reach the target, the loss each has
after `--budget-s` seconds, saves the final images for a look, and ends
with `ratio: X.XX` = JAX fixed-step L-BFGS time / PyTorch L-BFGS time (the
same algorithm on both sides; goal <= 0.7); the line-search L-BFGS's ratio
is printed on the line before.
Runs are sequential (an L-BFGS run is one long chain), so run it on a quiet
machine; the load average is printed.
"""

from __future__ import annotations

import os
import time

import _common as C
import numpy as np


class _Reached(Exception):
    pass


def torch_lbfgs(peer, image: np.ndarray, target: float, max_evals: int, budget_s: float):
    """`torch.optim.LBFGS` from `image` until the clipped-image loss reaches `target` (or runs out).

    Returns `(losses, times, final image)`, one entry per function evaluation.
    """
    torch = peer.torch
    x = peer.to_nchw(image).contiguous().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], max_iter=max_evals, max_eval=max_evals, tolerance_change=-1,
                                  tolerance_grad=-1, history_size=100)
    losses, times = [], []
    start = time.perf_counter()

    def closure():
        with torch.no_grad():
            x.clamp_(0.0, 1.0)  # the PyTorch tutorial's way: the loss is that of the clipped image
        optimizer.zero_grad(set_to_none=True)
        loss = peer.objective(x)
        loss.backward()
        losses.append(loss.item())
        times.append(time.perf_counter() - start)
        if losses[-1] <= target or times[-1] > max(budget_s, 0) * 10:
            raise _Reached
        return loss

    try:
        optimizer.step(closure)
    except _Reached:
        pass
    with torch.no_grad():
        x.clamp_(0.0, 1.0)
    return losses, times, x.detach().numpy()[0].transpose(1, 2, 0)


def _jax_trajectory(stepper, params, targets, content, max_steps, target=None):
    state = stepper.init(content)
    C.block(state)
    losses, times = [], []
    start = time.perf_counter()
    for _ in range(max_steps):
        state, loss, _ = stepper.step(params, state, targets)
        losses.append(float(loss))
        times.append(time.perf_counter() - start)
        if target is not None and losses[-1] <= target:
            break
    return losses, times, np.clip(np.asarray(stepper.display(state)), 0.0, 1.0)


def _hit(losses, times, target):
    index = next((i for i, v in enumerate(losses) if v <= target), None)
    return None if index is None else (index + 1, times[index])


def _loss_at(losses, times, seconds):
    within = [v for v, t in zip(losses, times) if t <= seconds]
    return min(within) if within else None


def run_target_loss(args, env, torch) -> dict:
    from explainer.images import save_image
    from explainer.optimize import make_stepper

    case = C.make_case(args.arch, args.weights, args.size[0], args.pooling)
    print(f"== time to a good image: {case.label()}; target = JAX Adam (lr 0.02) loss after {args.target_steps} "
          f"steps; load average {os.getloadavg()[0]:.2f}", flush=True)
    params, targets = case.backend.params, case.targets
    adam = make_stepper(case.backend, case.spec, "adam", 0.02)
    lbfgs = make_stepper(case.backend, case.spec, "lbfgs")
    fixed = make_stepper(case.backend, case.spec, "lbfgs-fixed")
    for stepper in (adam, lbfgs, fixed):  # compile first (not counted)
        C.block(stepper.step(params, stepper.init(case.content), targets))
    runs = {}
    a_losses, a_times, a_image = _jax_trajectory(adam, params, targets, case.content, args.target_steps)
    target = a_losses[-1]
    runs["JAX Adam"] = (a_losses, a_times, a_image)
    runs["JAX L-BFGS"] = _jax_trajectory(lbfgs, params, targets, case.content, args.max_lbfgs_steps, target)
    runs["JAX L-BFGS fixed"] = _jax_trajectory(fixed, params, targets, case.content, args.max_lbfgs_steps * 2, target)
    if torch is not None:
        peer = C.TorchStyle(torch, case, 0.02, args.threads)
        warm = torch_lbfgs(peer, case.content, -1.0, 2, 1.0)  # warm-up: allocations, threads
        print(f"  loss check: first loss JAX {a_losses[0]:.6e}, PyTorch {warm[0][0]:.6e} "
              f"(rel diff {C.rel_diff(a_losses[0], warm[0][0]):.1e})", flush=True)
        runs["PyTorch L-BFGS"] = torch_lbfgs(peer, case.content, target, args.max_lbfgs_steps * 2, args.budget_s)
    else:
        print("  PyTorch not importable: no peer (pip install torch==2.13.0)")
    print(f"  target loss {target:.6e}")
    os.makedirs(args.save_images, exist_ok=True)
    result = {"arch": case.arch, "weights": case.weights, "size": case.size, "target": target,
              "load_average": os.getloadavg(), "runs": {}}
    for name, (losses, times, image) in runs.items():
        hit = _hit(losses, times, target)
        at_budget = _loss_at(losses, times, args.budget_s)
        reached = (f"reached it after {hit[1]:7.1f} s ({hit[0]} {'evaluations' if 'PyTorch' in name else 'steps'})"
                   if hit else f"did NOT reach it in {times[-1]:.1f} s (best {min(losses):.4e})")
        budget = "-" if at_budget is None else f"{at_budget:.4e}"
        print(f"  {name:16s} {reached}; loss within {args.budget_s:g} s: {budget}")
        path = os.path.join(args.save_images, name.lower().replace(" ", "_").replace("-", "") + ".png")
        save_image(image, path)
        result["runs"][name] = {"hit": hit, "loss_at_budget": at_budget, "losses": losses, "times": times,
                                "image": path}
    print(f"  final images in {args.save_images}/")
    torch_hit = _hit(*runs["PyTorch L-BFGS"][:2], target) if "PyTorch L-BFGS" in runs else None
    wolfe_hit, fixed_hit = (_hit(*runs[name][:2], target) for name in ("JAX L-BFGS", "JAX L-BFGS fixed"))
    if wolfe_hit and torch_hit:
        result["ratio_line_search"] = wolfe_hit[1] / torch_hit[1]
        print(f"  JAX L-BFGS with its line search / PyTorch L-BFGS: {result['ratio_line_search']:.2f}")
    if fixed_hit and torch_hit:
        result["ratio"] = fixed_hit[1] / torch_hit[1]
        print(f"ratio: {result['ratio']:.2f}")
    else:
        print("ratio: n/a (a run did not reach the target)")
    return result
