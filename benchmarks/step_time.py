"""Time one style-transfer optimisation step: the package's JAX engine vs plain PyTorch CPU.

Modes (see --help and benchmarks/README.md):

  (default)      one Adam step (forward to relu5_1, gradient wrt the image,
                 Adam update, clip) in JAX (explainer.optimize.make_stepper)
                 and in a plain PyTorch version with the same weights,
                 preprocessing and losses, run alternately (A B A B ...).
                 With no arguments: VGG19 at 256 px; the last line is
                 `ratio: X.XX` (JAX median / PyTorch median).
  --breakdown    where the time goes: forward only, value_and_grad with the
                 package's pooling (crop + reshape + max/mean) and with the
                 old windowed flax pooling, and the full step, in JAX and
                 PyTorch, alternately; also checks the gradients agree.
  --target-loss  time to a good image: wall time for L-BFGS and Adam (JAX)
                 and for torch.optim.LBFGS (PyTorch, as neural-style-pt
                 and the PyTorch tutorial run it) to reach the loss JAX's
                 Adam reaches after --target-steps steps (VGG16, HED
                 weights, 256 px), all on clipped images; the loss each
                 reaches within --budget-s seconds; last line `ratio: X.XX`
                 (JAX L-BFGS time over PyTorch L-BFGS time). See
                 benchmarks/_target_loss.py.
  --memory SIZE  peak resident memory (max RSS) of a few steps at SIZE px,
                 each framework in its own subprocess.
  --ab-xla-flags FLAGS
                 experiment: the JAX step with and without XLA_FLAGS=FLAGS,
                 two worker processes stepping alternately.
  --windowed-maxpool
                 experiment on the JAX side (patched in this process only):
                 pool with flax.linen.max_pool/avg_pool (lax.reduce_window, 2x2
                 stride 2, VALID), as the package did before, instead of its
                 crop + reshape + max/mean.

Run from the repository root:  python benchmarks/step_time.py [options]
PyTorch is only a peer here (imported lazily, skipped if missing); install it
for yourself with `pip install torch==2.13.0`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

WEIGHT_NOTE = ("note: random (He-normal) weights -- step time does not depend on the weight values "
               "(--weights vgg19 for ImageNet's)")


# --------------------------------------------------------------------------- arguments


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python benchmarks/step_time.py",
        description=__doc__,
        epilog="Examples:\n"
               "  python benchmarks/step_time.py                      # VGG19 256 px, last line 'ratio: X.XX'\n"
               "  python benchmarks/step_time.py --arch all --size 256 512 --repeats 5\n"
               "  python benchmarks/step_time.py --breakdown\n"
               "  python benchmarks/step_time.py --target-loss\n"
               "  python benchmarks/step_time.py --memory 1024\n"
               "  python benchmarks/step_time.py --ab-xla-flags=--xla_cpu_use_xnnpack=true\n"
               "  python benchmarks/step_time.py --windowed-maxpool    # experiment: the old windowed pooling\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--arch", choices=("vgg16", "vgg19", "all"), default=None,
                   help="network(s) to time (default vgg19, but vgg16 for --target-loss; 'all' = vgg19 and vgg16)")
    p.add_argument("--size", type=int, nargs="+", default=[256],
                   help="longest side(s) in pixels of the content image (600x512 Grace Hopper); default 256")
    p.add_argument("--repeats", type=int, default=12,
                   help="alternation rounds after warm-up (each times --steps-per-round steps per framework); "
                        "default 12")
    p.add_argument("--steps-per-round", type=int, default=2, help="steps per framework per round (default 2)")
    p.add_argument("--weights", choices=("random", "vgg19", "hed"), default=None,
                   help="random (default; timing does not depend on values), vgg19 (ImageNet VGG19; the default for "
                        "--target-loss, where the loss values matter) or hed (VGG16 only)")
    p.add_argument("--pooling", choices=("max", "avg"), default="max",
                   help="VGG pooling, in both frameworks (default max, as trained)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam",
                   help="JAX optimiser; lbfgs times JAX only (no PyTorch peer)")
    p.add_argument("--windowed-maxpool", action="store_true",
                   help="experiment: JAX pools with flax.linen.max_pool (avg_pool with --pooling avg), 2x2 stride 2 "
                        "VALID, i.e. lax.reduce_window, whose max gradient is a select-and-scatter -- the package's "
                        "pooling before it became crop + reshape + max/mean; patched in this process only")
    p.add_argument("--no-torch", action="store_true", help="time JAX only")
    p.add_argument("--omp-wait-policy", choices=("passive", "active", "inherit"), default="passive",
                   help="OMP_WAIT_POLICY for PyTorch's OpenMP threads, set before torch is imported (default passive: "
                        "on a shared, busy 2-core machine libgomp's spin-waiting made PyTorch ~9x slower; "
                        "'inherit' leaves the environment alone)")
    p.add_argument("--threads", type=int, default=None,
                   help="PyTorch threads (default: all cores, as XLA:CPU uses)")
    p.add_argument("--breakdown", action="store_true",
                   help="mode: forward / value_and_grad (package pooling and windowed flax pooling) / full step, "
                        "JAX and PyTorch")
    p.add_argument("--target-loss", action="store_true",
                   help="mode: time for L-BFGS vs Adam (JAX) to reach Adam's loss after --target-steps steps "
                        "(ImageNet VGG19, 256 px unless --arch/--size/--weights say otherwise)")
    p.add_argument("--target-steps", type=int, default=200, help="Adam steps that define the target loss (default 200)")
    p.add_argument("--max-lbfgs-steps", type=int, default=300,
                   help="give up L-BFGS after this many steps (default 300)")
    p.add_argument("--budget-s", type=float, default=60.0,
                   help="for --target-loss: also report each method's loss after this many seconds (default 60)")
    p.add_argument("--save-images", metavar="DIR", default="benchmark-output",
                   help="for --target-loss: where both final images go (default benchmark-output/)")
    p.add_argument("--memory", type=int, metavar="SIZE", nargs="?", const=1024, default=None,
                   help="mode: peak memory (max RSS, each run in its own subprocess) of --memory-steps steps at "
                        "SIZE px (default 1024)")
    p.add_argument("--memory-steps", type=int, default=3, help="steps for --memory (default 3)")
    p.add_argument("--ab-xla-flags", metavar="FLAGS",
                   help="mode: A/B the JAX step with XLA_FLAGS='' against XLA_FLAGS=FLAGS (the package's own flags "
                        "switched off in both), two worker processes "
                        "stepping alternately (an experiment: it changes nothing in the package). Write it with "
                        "an equals sign: --ab-xla-flags=--xla_cpu_use_onednn=true")
    p.add_argument("--json", metavar="PATH", help="also write the environment and results as JSON")
    p.add_argument("--_memory-child", choices=("jax", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.target_loss:
        if args.arch == "all":
            p.error("--target-loss runs one network: --arch vgg16 or vgg19")
        args.arch = args.arch or "vgg19"
        args.weights = args.weights or ("vgg19" if args.arch == "vgg19" else "hed")
    args.arch = args.arch or "vgg19"
    args.weights = args.weights or "random"
    args.archs = ["vgg19", "vgg16"] if args.arch == "all" else [args.arch]
    if args.weights == "hed" and "vgg19" in args.archs:
        p.error("HED weights are VGG16: use --arch vgg16 with --weights hed")
    if args.weights == "vgg19" and "vgg16" in args.archs:
        p.error("--weights vgg19 is a VGG19: use --arch vgg19")
    if args.repeats < 1 or args.steps_per_round < 1:
        p.error("--repeats and --steps-per-round must be >= 1")
    return args


# --------------------------------------------------------------------------- comparison


def _jax_step_fn(case, optimizer: str):
    from explainer.optimize import make_stepper

    stepper = make_stepper(case.backend, case.spec, optimizer, 0.02)
    params, targets = case.backend.params, case.targets
    holder = {}

    def reset():
        holder["state"] = stepper.init(case.content)

    def step() -> float:
        state, loss, _ = stepper.step(params, holder["state"], targets)
        C.block(state)
        holder["state"] = state
        return float(loss)

    return reset, step


def compare(case, args, torch) -> dict:
    print(f"== {case.label()}  optimizer={args.optimizer}{_experiments(args)}", flush=True)
    C.use_windowed_maxpool(args.windowed_maxpool)
    jax_reset, jax_step = _jax_step_fn(case, args.optimizer)
    jax_reset()
    t0 = time.perf_counter()
    jax_losses = [jax_step()]
    compile_s = time.perf_counter() - t0
    jax_losses.append(jax_step())
    print(f"  JAX compile + first step: {compile_s:.1f} s", flush=True)

    result = {"arch": case.arch, "size": case.size, "shape": list(case.shape), "weights": case.weights,
              "pooling": case.backend.pooling,
              "optimizer": args.optimizer, "windowed_maxpool": args.windowed_maxpool,
              "jax_compile_s": compile_s}
    peer = None
    if torch is not None and args.optimizer == "adam" and not args.no_torch:
        peer = C.TorchStyle(torch, case, 0.02, args.threads)
        peer.init(case.content)
        torch_losses = [peer.step(), peer.step()]
        d0, d1 = C.rel_diff(jax_losses[0], torch_losses[0]), C.rel_diff(jax_losses[1], torch_losses[1])
        print(f"  loss check (same image, same weights): first step JAX {jax_losses[0]:.6e}  "
              f"PyTorch {torch_losses[0]:.6e}  rel diff {d0:.1e}; second step rel diff {d1:.1e}"
              f"{'  <-- MISMATCH' if d0 > 1e-3 else ''}", flush=True)
        result.update(jax_first_losses=jax_losses, torch_first_losses=torch_losses,
                      loss_rel_diff=d0, second_loss_rel_diff=d1)
    elif args.optimizer == "lbfgs":
        print("  (L-BFGS: JAX only, no PyTorch peer)")

    # warm-up done (compile + 2 steps each); now alternate A B A B ...
    jax_times, torch_times = [], []
    for r in range(args.repeats):
        rj = [C.time_call(jax_step) for _ in range(args.steps_per_round)]
        jax_times += rj
        line = f"  round {r + 1:2d}: JAX " + " ".join(f"{t:.3f}" for t in rj)
        if peer is not None:
            rt = [C.time_call(peer.step) for _ in range(args.steps_per_round)]
            torch_times += rt
            line += "   PyTorch " + " ".join(f"{t:.3f}" for t in rt)
        print(line, flush=True)
    jq = C.quartiles(jax_times)
    result.update(jax_times=jax_times, jax_median_s=C.median(jax_times), jax_iqr_s=list(jq))
    msg = f"  median s/step: JAX {C.median(jax_times):.3f} (IQR {jq[0]:.3f}-{jq[1]:.3f})"
    if peer is not None:
        tq = C.quartiles(torch_times)
        ratio = C.median(jax_times) / C.median(torch_times)
        result.update(torch_times=torch_times, torch_median_s=C.median(torch_times), torch_iqr_s=list(tq),
                      ratio=ratio)
        msg += f"   PyTorch {C.median(torch_times):.3f} (IQR {tq[0]:.3f}-{tq[1]:.3f})   JAX/PyTorch {ratio:.2f}"
    print(msg + "\n", flush=True)
    C.use_windowed_maxpool(False)
    return result


def _experiments(args) -> str:
    if args.windowed_maxpool:
        return "  [experiment: JAX pooling: windowed flax max_pool/avg_pool (the package's old pooling)]"
    return ""


def run_compare(args, torch, env) -> list[dict]:
    results = []
    for arch in args.archs:
        if args.weights == "random":
            print(WEIGHT_NOTE + f" ({arch})")
        for size in args.size:
            results.append(compare(C.make_case(arch, args.weights, size, args.pooling), args, torch))
    print("== summary (median seconds per step)")
    print(f"  {'network':8s} {'size':>5s} {'HxW':>9s} {'JAX':>7s} {'PyTorch':>8s} {'JAX/PyTorch':>11s} "
          f"{'loss rel diff':>13s}")
    for r in results:
        hw = f"{r['shape'][0]}x{r['shape'][1]}"
        t = f"{r['torch_median_s']:.3f}" if "torch_median_s" in r else "-"
        q = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        d = f"{r['loss_rel_diff']:.1e}" if "loss_rel_diff" in r else "-"
        print(f"  {r['arch']:8s} {r['size']:5d} {hw:>9s} {r['jax_median_s']:7.3f} {t:>8s} {q:>11s} {d:>13s}")
    print(f"  load average now: {os.getloadavg()}")
    ratios = [r["ratio"] for r in results if "ratio" in r]
    if len(ratios) == 1:
        print(f"ratio: {ratios[0]:.2f}")
    elif ratios:
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"ratio (geometric mean of {len(ratios)}): {gm:.2f}")
    return results


# --------------------------------------------------------------------------- breakdown


def run_breakdown(args, torch, env) -> list[dict]:
    """Forward only vs value_and_grad (package / windowed pooling) vs full step, alternating."""
    import jax
    import numpy as np

    from explainer.optimize import make_objective

    package_vg = "JAX value_and_grad (package: reshape pool)"
    windowed_vg = "JAX value_and_grad (windowed flax pool)"
    results = []
    for arch in args.archs:
        for size in args.size:
            case = C.make_case(arch, args.weights, size, args.pooling)
            if args.weights == "random":
                print(WEIGHT_NOTE)
            print(f"== breakdown: {case.label()}", flush=True)
            params, targets = case.backend.params, case.targets
            image = jax.numpy.asarray(case.content)

            # The windowed variant is traced (first call) while the patch is on;
            # everything traced after it sees the package's own pooling again.
            C.use_windowed_maxpool(True)
            objective_windowed = make_objective(case.backend, case.spec)
            vg_windowed = jax.jit(jax.value_and_grad(objective_windowed, argnums=1, has_aux=True))
            (loss_windowed, _), g_windowed = C.block(vg_windowed(params, image, targets))
            C.use_windowed_maxpool(False)

            objective = make_objective(case.backend, case.spec)
            fwd = jax.jit(lambda p, x, t: objective(p, x, t)[0])  # noqa: B023 -- used in this iteration only
            vg = jax.jit(jax.value_and_grad(objective, argnums=1, has_aux=True))
            (loss_package, _), g_package = C.block(vg(params, image, targets))
            C.block(fwd(params, image, targets))
            gdiff = float(jax.numpy.linalg.norm(g_package - g_windowed) / jax.numpy.linalg.norm(g_windowed))
            print(f"  package pooling (crop + reshape + {case.backend.pooling}) vs windowed flax "
                  f"{case.backend.pooling}_pool: loss rel diff {C.rel_diff(float(loss_package), float(loss_windowed)):.1e}, "
                  f"gradient rel L2 diff {gdiff:.1e}")
            jax_reset, jax_step = _jax_step_fn(case, "adam")
            jax_reset()
            jax_step(), jax_step()

            # The closures are timed in this iteration only, so late binding is harmless.
            fns = {
                "JAX forward": lambda: C.block(fwd(params, image, targets)),  # noqa: B023
                package_vg: lambda: C.block(vg(params, image, targets)),  # noqa: B023
                windowed_vg: lambda: C.block(vg_windowed(params, image, targets)),  # noqa: B023
                "JAX full Adam step": jax_step,
            }
            res = {"arch": arch, "size": size, "shape": list(case.shape), "pooling": case.backend.pooling,
                   "grad_rel_diff_package_vs_windowed": gdiff}
            if torch is not None and not args.no_torch:
                peer = C.TorchStyle(torch, case, 0.02, args.threads)
                peer.init(case.content)
                tx = peer.to_nchw(case.content).requires_grad_(True)
                # PyTorch's gradient wrt the same image, against JAX's (the package's)
                loss = peer.objective(tx)
                loss.backward()
                gt = tx.grad.numpy()[0].transpose(1, 2, 0)
                gj = jax.device_get(g_package)
                tdiff = float(np.linalg.norm(gj - gt) / np.linalg.norm(gt))
                print(f"  gradient JAX (package) vs PyTorch: rel L2 diff {tdiff:.1e}")
                res["grad_rel_diff_jax_vs_torch"] = tdiff
                peer.step(), peer.forward_only(), peer.value_and_grad()
                fns.update({
                    "PyTorch forward": peer.forward_only,
                    "PyTorch forward+backward": peer.value_and_grad,
                    "PyTorch full Adam step": peer.step,
                })
            times = {k: [] for k in fns}
            for _ in range(args.repeats):
                for k, fn in fns.items():
                    times[k].append(C.time_call(fn))
            print(f"  {'what':42s} {'median s':>9s} {'IQR':>13s}")
            for k, ts in times.items():
                q = C.quartiles(ts)
                res[k] = {"median_s": C.median(ts), "iqr_s": list(q), "times": ts}
                print(f"  {k:42s} {C.median(ts):9.3f} {q[0]:6.3f}-{q[1]:.3f}")
            jf = C.median(times["JAX forward"])
            jg = C.median(times[package_vg])
            jw = C.median(times[windowed_vg])
            res["windowed_over_package"] = jw / jg
            print(f"  JAX backward share (value_and_grad - forward): {jg - jf:.3f} s; "
                  f"windowed pool / package pool value_and_grad = {jw / jg:.2f}")
            if "PyTorch forward" in times:
                tf = C.median(times["PyTorch forward"])
                tg = C.median(times["PyTorch forward+backward"])
                print(f"  PyTorch backward share: {tg - tf:.3f} s;  forward JAX/PyTorch {jf / tf:.2f}, "
                      f"backward JAX/PyTorch {(jg - jf) / (tg - tf):.2f}")
            print(flush=True)
            results.append(res)
    return results


# --------------------------------------------------------------------------- memory


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory_child(args) -> None:
    """Runs in its own process: prints one JSON line with its own peak RSS."""
    fw, size, arch = args._memory_child, args.size[0], args.archs[0]
    marks = {}
    torch = None
    if fw == "torch":
        torch = C.load_torch()
        if torch is None:
            print(json.dumps({"framework": fw, "skipped": "torch not importable"}))
            return
    import jax  # noqa: F401

    marks["after_imports"] = _maxrss_mb()
    C.use_windowed_maxpool(args.windowed_maxpool)  # JAX side only; the PyTorch peer's pooling is its own
    case = C.make_case(arch, args.weights, size, args.pooling)
    marks["after_setup"] = _maxrss_mb()
    times = []
    if fw == "jax":
        reset, step = _jax_step_fn(case, "adam")
        reset()
        for _ in range(args.memory_steps):
            times.append(C.time_call(step))
    else:
        peer = C.TorchStyle(torch, case, 0.02, args.threads)
        marks["after_torch_setup"] = _maxrss_mb()
        peer.init(case.content)
        for _ in range(args.memory_steps):
            times.append(C.time_call(peer.step))
    marks["peak"] = _maxrss_mb()
    print(json.dumps({"framework": fw, "arch": arch, "size": size, "shape": list(case.shape), "maxrss_mb": marks,
                      "rss_end_mb": _rss_now_mb(), "step_times_s": times}))


def run_memory(args, torch) -> list[dict]:
    size = args.memory
    arch = args.archs[0]
    print(f"== peak memory: {arch} at {size} px, {args.memory_steps} Adam steps, each framework in a fresh process"
          f"{_experiments(args)}")
    if args.weights == "random":
        print(WEIGHT_NOTE)
    out = []
    fws = ["jax"] + ([] if args.no_torch or torch is None else ["torch"])
    for fw in fws:
        cmd = [sys.executable, os.path.abspath(__file__), "--_memory-child", fw, "--size", str(size),
               "--arch", arch, "--weights", args.weights, "--pooling", args.pooling,
               "--memory-steps", str(args.memory_steps),
               "--omp-wait-policy", args.omp_wait_policy]
        if args.windowed_maxpool:
            cmd.append("--windowed-maxpool")
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # reported below
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"  {fw}: child failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["wall_s"] = wall
        out.append(res)
        m = res["maxrss_mb"]
        print(f"  {fw:6s} {res['shape'][0]}x{res['shape'][1]}: max RSS after imports {m['after_imports']:.0f} MB, "
              f"after weights+targets {m['after_setup']:.0f} MB, peak {m['peak']:.0f} MB; "
              f"steps {' '.join(f'{t:.2f}' for t in res['step_times_s'])} s; process wall {wall:.0f} s", flush=True)
    return out


# --------------------------------------------------------------------------- XLA flag A/B


def _worker_args(args, size) -> list[str]:
    out = ["--arch", args.archs[0], "--size", str(size), "--weights", args.weights, "--pooling", args.pooling]
    return out + (["--windowed-maxpool"] if args.windowed_maxpool else [])


def worker(args) -> None:
    """A JAX step in its own process (its own XLA_FLAGS): 'N' on stdin -> N step times as JSON."""
    C.use_windowed_maxpool(args.windowed_maxpool)
    case = C.make_case(args.archs[0], args.weights, args.size[0], args.pooling)
    reset, step = _jax_step_fn(case, "adam")
    reset()
    t0 = time.perf_counter()
    first = step()
    compile_s = time.perf_counter() - t0
    step()
    print(json.dumps({"ready": True, "compile_s": compile_s, "first_loss": first}), flush=True)
    for line in sys.stdin:
        if not line.strip() or line.strip() == "quit":
            break
        print(json.dumps([C.time_call(step) for _ in range(int(line))]), flush=True)


def run_ab(args) -> list[dict]:
    results = []
    for size in args.size:
        variants = {"XLA_FLAGS=''": "", f"XLA_FLAGS='{args.ab_xla_flags}'": args.ab_xla_flags}
        print(f"== A/B of XLA flags: {args.archs[0]} {size}px, JAX Adam step, two processes stepping alternately"
              f"{_experiments(args)}", flush=True)
        procs, info = {}, {}
        for name, flags in variants.items():
            # Exactly these flags: the package's own XLA_FLAGS (backends/_xla.py) are switched off.
            env = dict(os.environ, XLA_FLAGS=flags, STYLE_EXPLAINER_XLA_FLAGS="0")
            procs[name] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--_worker",
                                            *_worker_args(args, size)],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            line = procs[name].stdout.readline()  # compiles one at a time
            if not line:
                raise SystemExit(f"worker {name} failed (see stderr above)")
            info[name] = json.loads(line)
            print(f"  {name}: compile + first step {info[name]['compile_s']:.1f} s, "
                  f"first loss {info[name]['first_loss']:.6e}", flush=True)
        times = {name: [] for name in procs}
        for _ in range(args.repeats):
            for name, proc in procs.items():
                proc.stdin.write(f"{args.steps_per_round}\n")
                proc.stdin.flush()
                times[name] += json.loads(proc.stdout.readline())
        for proc in procs.values():
            proc.stdin.write("quit\n")
            proc.stdin.close()
            proc.wait()
        (a, ta), (b, tb) = times.items()
        for name, ts in times.items():
            q = C.quartiles(ts)
            print(f"  {name:50s} median {C.median(ts):.3f} s/step (IQR {q[0]:.3f}-{q[1]:.3f})")
        print(f"  B/A = {C.median(tb) / C.median(ta):.3f}; first-loss rel diff "
              f"{C.rel_diff(info[a]['first_loss'], info[b]['first_loss']):.1e}\n", flush=True)
        results.append({"arch": args.archs[0], "size": size, "flags": args.ab_xla_flags,
                        "a_times": ta, "b_times": tb, "ratio_b_over_a": C.median(tb) / C.median(ta), "info": info})
    return results


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.omp_wait_policy != "inherit":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()  # read when torch loads libgomp
    if args._memory_child:
        memory_child(args)
        return
    if args._worker:
        worker(args)
        return
    torch = None if args.no_torch or args.ab_xla_flags else C.load_torch()
    if torch is not None:
        torch.set_num_threads(args.threads or C.cores())
    env = C.environment(torch)
    C.print_environment(env)
    if args.ab_xla_flags is not None:
        results = run_ab(args)
    elif args.target_loss:
        from _target_loss import run_target_loss

        results = run_target_loss(args, env, torch)
    elif args.memory is not None:
        results = run_memory(args, torch)
    elif args.breakdown:
        results = run_breakdown(args, torch, env)
    else:
        results = run_compare(args, torch, env)
    if args.json:
        env["load_average_end"] = os.getloadavg()
        with open(args.json, "w") as f:
            json.dump({"argv": sys.argv[1:], "environment": env, "results": results}, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
