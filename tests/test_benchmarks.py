"""The benchmark scripts that the tests can afford to run: their smoke modes, on the CPU."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_script_runs_small_on_the_cpu():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--small"], capture_output=True,
                         text=True, timeout=600, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("device: cpu x")
    assert re.match(r"gatys: 64 px \(\d+x64\) x 5 Adam steps: [\d.]+ s \([\d.]+ ms/step", lines[1])
    cold, warm = map(float, re.match(r"first preview at 64 px: ([\d.]+) s cold \(compiling\), ([\d.]+) s warm",
                                     lines[2]).groups())
    assert warm < cold  # the second run reuses the compiled step
    assert re.match(r"feed-forward 96x64 \(random weights\): [\d.]+ ms/frame, [\d.]+ frames/s", lines[3])


def test_scaling_script_prints_a_row_per_size():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scaling.py"), "--sizes", "48,64", "--steps", "1"],
                         capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split(" | ") for line in out.stdout.splitlines() if re.match(r"\| (48|64) \|", line)]
    assert [row[1] for row in rows] == ["48 x 41", "64 x 55"]  # the 600x512 sample photo, longest side = size
    assert all(row[-1] == "untiled |" for row in rows)
    assert all(float(row[3]) > 0 and row[5].endswith(" MB") for row in rows)


def test_conv_algorithms_agree_with_xla_and_print_a_row_per_layer():
    """The script exits non-zero if im2col, 3 dots or Winograd differ from XLA's convolution by more than 1e-5."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "conv_algorithms.py"), "--size", "24", "--reps",
                          "1"], capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split(" | ") for line in out.stdout.splitlines() if re.match(r"\| \d+x\d+, ", line)]
    assert [row[0] for row in rows] == ["| 20x24, 64->64", "| 10x12, 64->128", "| 10x12, 128->128", "| 5x6, 128->256",
                                        "| 5x6, 256->256", "| 2x3, 256->512", "| 2x3, 512->512", "| 1x1, 512->512"]


def test_train_quality_scores_a_network_against_gatys_on_each_photo(tmp_path):
    """A tiny network (random VGG weights, 2 steps) scored on two photos: a ratio line each, the images saved."""
    from explainer.config import TrainSettings
    from explainer.images import save_image
    from explainer.training import train

    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    for i in range(3):
        save_image(rng.random((30, 34, 3)), folder / f"p{i}.png")
    settings = TrainSettings(size=24, steps=2, batch_size=1, arch="slim", data=str(folder), weights="random",
                             preview_every=0, checkpoint_every=0)
    train("sample:swirl", tmp_path / "model", settings, progress=False, log=lambda message: None)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_quality.py"), str(tmp_path / "model"),
                          "--photo", "sample:grace_hopper", "--photo", str(folder / "p0.png"), "--steps", "2",
                          "--save", str(tmp_path / "q")], capture_output=True, text=True, timeout=600, check=False,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    # scored on the network it was trained against (random VGG19 here), not on settings' "auto" as a VGG16
    assert "loss network: vgg19 (max pooling), weights: random" in out.stdout
    lines = out.stdout.splitlines()
    assert re.match(r"sample:grace_hopper: style ratio [\d.]+, content ratio [\d.]+$", lines[-2])
    assert re.match(rf"{re.escape(str(folder / 'p0.png'))}: style ratio [\d.]+, content ratio [\d.]+$", lines[-1])
    photo_rows = [line for line in lines if line.lstrip().startswith("photo ")]
    assert len(photo_rows) == 2 and all(" content 0 " in row for row in photo_rows)  # the photo is its own content
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == sorted(
        f"{stem}-{name}.png" for stem in ("grace_hopper", "p0") for name in ("photo", "network", "gatys"))
