"""Whole folders through a feed-forward network: `stylize DIR --method fast` and style augmentation.

Style augmentation (Jackson et al. 2019, "Style Augmentation: Data
Augmentation via Style Randomization") makes a classifier's training data
robust to texture: every image is repainted in random styles while its
shapes stay. Jackson et al. draw each style embedding of Ghiasi et al.'s
network from a normal distribution fitted to the embeddings of ~79,000
paintings; here the distribution is fitted to the embeddings of the style
images given (by default the project's painted samples), so it is narrower:
bring many paintings for a wide one.

Both drivers keep the folder tree, skip unreadable files (listed, never the
end of the run), run images of one size in batches spread over every local
device, and show images/s. `augment` also writes `manifest.csv` (input,
output, status, style, seed, strength) and resumes: a file listed as done
whose output exists is not redone, and every output depends only on the
seed, the file's path and its variant number, so an interrupted run that is
restarted writes exactly the files of an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import pathlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from backends import Styliser
from explainer import fast, samples
from explainer import images as _images
from explainer.config import AugmentSettings, StyleConfig
from explainer.data import IMAGE_SUFFIXES, find_images
from explainer.errors import USER_ERRORS, ConfigError, one_line
from explainer.files import write_atomically

MANIFEST = "manifest.csv"
MANIFEST_FIELDS: tuple[str, ...] = ("input", "output", "status", "style", "seed", "strength")
#: With fewer style images than this, the fitted covariance is widened (see `embedding_distribution`).
_SHRINK = 0.1


@dataclasses.dataclass(frozen=True)
class Job:
    """One output image: which input, where it goes, and how it is styled."""

    input: str
    output: str
    style: str = ""       # a style image's name, "builtin:K", "random" or "" (the run's one style)
    seed: int = 0          # the random embedding's seed (source "random")
    strength: float = 1.0

    def row(self, status: str) -> dict[str, str]:
        return {"input": self.input, "output": self.output, "status": status, "style": self.style,
                "seed": str(self.seed), "strength": f"{self.strength:.4f}"}


def _path_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def plan_augment(inputs: Sequence[str], settings: AugmentSettings, style_names: Sequence[str]) -> list[Job]:
    """The jobs of an augmentation: `settings.variants` per input, each drawn from its own random stream.

    A job depends only on `settings.seed`, the input's path and the variant
    number, never on the order of the files or on what ran before.
    """
    if settings.source == "images" and not style_names:
        raise ConfigError("--source images needs style images (--style FILE ...)")
    jobs = []
    for path in inputs:
        stem = pathlib.PurePosixPath(path).with_suffix("")
        for variant in range(settings.variants):
            rng = np.random.default_rng([settings.seed, _path_hash(path), variant])
            strength = float(rng.uniform(settings.strength_min, settings.strength_max))
            seed = int(rng.integers(2**31))
            if settings.source == "images":
                style = style_names[int(rng.integers(len(style_names)))]
            elif settings.source == "builtin":
                style, strength = f"builtin:{int(rng.integers(fast.MULTISTYLE_COUNT))}", 1.0
            else:
                style = "random"
            jobs.append(Job(path, f"{stem}_style{variant}.png", style, seed, round(strength, 4)))
    return jobs


@dataclasses.dataclass(frozen=True)
class EmbeddingDistribution:
    """A normal distribution of style embeddings: `mean + factor @ z` with `z` standard normal."""

    mean: np.ndarray
    factor: np.ndarray

    def sample(self, seed: int) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal(self.factor.shape[1])
        return (self.mean + self.factor @ z).astype(np.float32)


def embedding_distribution(embeddings: np.ndarray) -> EmbeddingDistribution:
    """The normal distribution fitted to `(n, D)` embeddings, its covariance widened when `n` is small.

    Covariance `C = S + 0.1 * mean(diag(S)) * I` (`S` the sample covariance;
    with one image, `S = 0.1 * mean(e^2) * I`): a few images span only a
    few directions of the 100, and the isotropic part lets samples leave
    that subspace a little.
    """
    embeddings = np.asarray(embeddings, np.float64)
    mean = embeddings.mean(axis=0)
    dim = embeddings.shape[1]
    if len(embeddings) > 1:
        sample = np.cov(embeddings, rowvar=False)
        cov = sample + _SHRINK * np.mean(np.diag(sample)) * np.eye(dim)
    else:
        cov = _SHRINK * np.mean(np.square(mean)) * np.eye(dim)
    return EmbeddingDistribution(mean=mean, factor=np.linalg.cholesky(cov + 1e-9 * np.eye(dim)))


# --------------------------------------------------------------------------- manifest


def read_manifest(path: pathlib.Path) -> dict[str, dict[str, str]]:
    """Rows of an existing manifest by output path (a torn last line, from a crash, is ignored)."""
    if not path.exists():
        return {}
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") and row.get("output") is not None and None not in row.values():
                rows[row["output"]] = row
    return rows


def write_manifest(path: pathlib.Path, rows: Iterable[dict[str, str]]) -> None:
    """Write the manifest atomically, sorted by input then output (the same rows give the same bytes)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["input"], r["output"])))
    write_atomically(path, text.getvalue().encode())


class _ManifestLog:
    """Appends one line per finished job (flushed), so a killed run loses at most the line being written."""

    def __init__(self, path: pathlib.Path, rows: dict[str, dict[str, str]]):
        self.path, self.rows = path, rows
        write_manifest(path, rows.values())
        self._file = open(path, "a", newline="")  # noqa: SIM115 (open for the whole run; closed by close())
        self._writer = csv.DictWriter(self._file, fieldnames=MANIFEST_FIELDS, lineterminator="\n")

    def add(self, row: dict[str, str]) -> None:
        self.rows[row["output"]] = row
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        write_manifest(self.path, self.rows.values())


# --------------------------------------------------------------------------- running


@dataclasses.dataclass
class Summary:
    """How a folder run went."""

    done: int = 0
    already_done: int = 0
    unreadable: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    out_dir: str = ""

    def text(self) -> str:
        rate = f" ({self.done / self.seconds:.2f} images/s)" if self.done and self.seconds else ""
        state = "interrupted after" if self.interrupted else "wrote"
        parts = [f"{state} {self.done} images in {self.seconds:.1f} s{rate} to {self.out_dir}/"]
        if self.already_done:
            parts.append(f"{self.already_done} were already done")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable, skipped (listed in {MANIFEST}): "
                         + ", ".join(self.unreadable[:3]) + (" ..." if len(self.unreadable) > 3 else ""))
        return "; ".join(parts)


class _Conditions:
    """Turns jobs into the vector each network is conditioned on (embeddings computed once, reused)."""

    def __init__(self, stylisers: Callable[[str], Styliser], style_images: dict[str, np.ndarray], *,
                 fixed: fast.ModelChoice | None = None, blend: Sequence[float] | None = None,
                 distribution: Callable[[], EmbeddingDistribution] | None = None):
        self.network, self._fixed, self._blend, self._distribution = stylisers, fixed, blend, distribution
        self._style_images = style_images
        self._embedded: dict[str, np.ndarray] = {}

    def kind(self, job: Job) -> str:
        if self._fixed is not None and self._fixed.kind in ("multistyle", "trained"):
            return self._fixed.kind
        return "multistyle" if job.style.startswith("builtin:") else "arbitrary"

    def vectors(self, jobs: Sequence[Job], contents: np.ndarray) -> np.ndarray:
        """One conditioning vector per job (all of one kind), `(N, D)`."""
        if self.kind(jobs[0]) == "trained":  # a network trained on one style: nothing to condition on
            return np.zeros((len(jobs), 0), np.float32)
        if self.kind(jobs[0]) == "multistyle":
            choices = [self._fixed if job.style == "" else fast.parse_model(f"multistyle:{job.style.split(':')[1]}")
                       for job in jobs]
            return np.stack([fast.multistyle_vector(choice) for choice in choices])
        styles = np.stack([self._style_of(job) for job in jobs])
        strengths = np.array([job.strength for job in jobs], np.float32)[:, None]
        if np.all(strengths >= 1.0):
            return styles
        own = np.asarray(self.network("arbitrary").embed(np.stack([fast.style_square(c) for c in contents])))
        return (strengths * styles + (1.0 - strengths) * own).astype(np.float32)

    def _style_of(self, job: Job) -> np.ndarray:
        if job.style == "random" and self._distribution is not None:
            return self._distribution().sample(job.seed)
        name = job.style or "*"
        if name not in self._embedded:
            self._embedded[name] = self._embed_styles(job.style)
        return self._embedded[name]

    def _embed_styles(self, name: str) -> np.ndarray:
        network = self.network("arbitrary")
        if name:  # one style image of an augmentation
            return np.asarray(network.embed(fast.style_square(self._style_images[name])[None]))[0]
        names = list(self._style_images)  # the run's styles, blended
        squares = np.stack([fast.style_square(self._style_images[n]) for n in names])
        weights = fast.blend_weights(len(names), self._blend)
        return (weights @ np.asarray(network.embed(squares))).astype(np.float32)


def _groups(root: pathlib.Path, jobs: Sequence[Job], size: int | None) -> tuple[dict, list[Job]]:
    """Jobs grouped by the shape their input is worked at; jobs whose input has no readable header apart."""
    groups: dict[tuple[int, int], list[Job]] = defaultdict(list)
    unreadable = []
    for job in jobs:
        shape = _images.image_shape(root / job.input)
        if shape is None:
            unreadable.append(job)
            continue
        groups[shape if size is None else _images_shape_at(shape, size)].append(job)
    return groups, unreadable


def _images_shape_at(shape: tuple[int, int], size: int) -> tuple[int, int]:
    from explainer.budget import working_shape

    return working_shape(shape, size)


def _load(root: pathlib.Path, job: Job, shape: tuple[int, int]) -> np.ndarray | str:
    """The input at `shape`, or the one-line reason it cannot be read."""
    try:
        image = _images.load_image(root / job.input, min_side=1)
    except USER_ERRORS as error:
        return one_line(error)
    return image if image.shape[:2] == shape else _images.resize_to(image, *shape)


def run_jobs(root: pathlib.Path, out: pathlib.Path, jobs: Sequence[Job], conditions: _Conditions, *,
             batch_size: int, size: int | None, finish: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
             progress: bool = True) -> Summary:
    """Run `jobs` in batches of one shape and kind; record each in `out/manifest.csv`; skip what is done."""
    from tqdm.auto import tqdm

    manifest = _ManifestLog(out / MANIFEST, read_manifest(out / MANIFEST))
    summary = Summary(out_dir=str(out))
    todo = []
    for job in jobs:
        row = manifest.rows.get(job.output)
        if row is not None and row == job.row(row["status"]) and (row["status"] != "done" or (out / job.output).exists()):
            summary.already_done += 1
        else:
            todo.append(job)
    groups, unreadable = _groups(root, todo, size)
    for job in unreadable:
        manifest.add(job.row("unreadable: not an image file Pillow can read"))
        summary.unreadable.append(job.input)
    bar = tqdm(total=sum(len(g) for g in groups.values()), desc="stylizing", unit="image", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for shape, group in groups.items():
            by_kind: dict[str, list[Job]] = defaultdict(list)
            for job in group:
                by_kind[conditions.kind(job)].append(job)
            for kind, kind_jobs in by_kind.items():
                for first in range(0, len(kind_jobs), batch_size):
                    batch = kind_jobs[first:first + batch_size]
                    _run_batch(root, out, batch, shape, kind, conditions, manifest, summary, finish)
                    bar.update(len(batch))
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        manifest.close()
        summary.seconds = time.perf_counter() - start
    return summary


def _run_batch(root, out, batch, shape, kind, conditions, manifest, summary, finish) -> None:
    loaded = [(job, _load(root, job, shape)) for job in batch]
    for job, image in loaded:
        if isinstance(image, str):
            manifest.add(job.row(f"unreadable: {image}"))
            summary.unreadable.append(job.input)
    ready = [(job, image) for job, image in loaded if not isinstance(image, str)]
    if not ready:
        return
    jobs = [job for job, _ in ready]
    contents = np.stack([image for _, image in ready])
    vectors = conditions.vectors(jobs, contents)
    outputs, _ = fast.apply_network(conditions.network(kind), contents, vectors)
    for job, content, image in zip(jobs, contents, outputs):
        _images.save_image(finish(image, content) if finish else image, out / job.output)
        manifest.add(job.row("done"))
        summary.done += 1


def _style_images(styles: Sequence[Any]) -> dict[str, np.ndarray]:
    """Style images by a short unique name (the file's name, or its sample name)."""
    named: dict[str, np.ndarray] = {}
    for index, source in enumerate(styles):
        if isinstance(source, np.ndarray):
            name, image = f"style{index + 1}", np.asarray(source, np.float32)
        else:
            text = str(source)
            name = text if text.startswith(samples.SAMPLE_PREFIX) else pathlib.Path(text).name
            image = samples.load(source)
        while name in named:
            name = f"{name}+"
        named[name] = image
    return named


def check_folder(root: pathlib.Path, inputs: Sequence[str], size: int | None, max_megapixels: float | None) -> None:
    """Refuse, in one line and before any work, an empty folder or an image over the budget at `size`.

    Reads only the files' headers; files without one are listed as unreadable by the run.
    """
    from explainer.budget import check_images

    if not inputs:
        raise ConfigError(f"{root}: no images in it or below it (looked for {', '.join(IMAGE_SUFFIXES)})")
    shapes = [(shape, str(root / path)) for path in inputs if (shape := _images.image_shape(root / path)) is not None]
    check_images(shapes, size, max_megapixels)


def _stylisers(log: Callable[[str], None] | None) -> Callable[[str], Styliser]:
    from backends import get_styliser

    made: dict[str, Styliser] = {}

    def get(kind: str) -> Styliser:
        if kind not in made:
            made[kind] = get_styliser(kind, log=log)
            if log:
                log(f"network: {made[kind].describe()}")
        return made[kind]

    return get


def augment(in_dir: str | os.PathLike, out_dir: str | os.PathLike, settings: AugmentSettings | None = None, *,
            styles: Sequence[Any] = (), progress: bool = True, stylisers: Callable[[str], Styliser] | None = None,
            log: Callable[[str], None] | None = None) -> Summary:
    """Style augmentation of every image below `in_dir` into `out_dir` (same tree, `NAME_styleV.png`).

    Args:
        settings: variants, source of styles, strength range, batch size,
            size and seed ([`AugmentSettings`][explainer.config.AugmentSettings]).
        styles: style images (paths, `sample:NAME` or arrays) for
            `source="images"` and to fit `source="random"`'s distribution;
            default: the project's painted samples.
        stylisers: `kind -> styliser` (default: `backends.get_styliser`).
    """
    settings = settings or AugmentSettings()
    root, out = pathlib.Path(in_dir), pathlib.Path(out_dir)
    inputs = find_images(root, relative=True)
    check_folder(root, inputs, settings.size, settings.max_megapixels)
    named = _style_images(styles or [f"{samples.SAMPLE_PREFIX}{n}" for n in samples.SAMPLE_STYLES])
    jobs = plan_augment(inputs, settings, list(named))
    get = stylisers or _stylisers(log)
    fitted: list[EmbeddingDistribution] = []

    def distribution() -> EmbeddingDistribution:
        if not fitted:
            squares = np.stack([fast.style_square(image) for image in named.values()])
            fitted.append(embedding_distribution(np.asarray(get("arbitrary").embed(squares))))
        return fitted[0]

    conditions = _Conditions(get, named, distribution=distribution)
    return run_jobs(root, out, jobs, conditions, batch_size=settings.batch_size, size=settings.size, progress=progress)


def stylize_folder(in_dir: str | os.PathLike, styles: Sequence[Any], config: StyleConfig,
                   out_dir: str | os.PathLike, *, batch_size: int = 8, progress: bool = True,
                   stylisers: Callable[[str], Styliser] | None = None, log: Callable[[str], None] | None = None) -> Summary:
    """`stylize --method fast` over a folder: every image in the same style, at `config.size`, same tree."""
    root, out = pathlib.Path(in_dir), pathlib.Path(out_dir)
    choice = fast.parse_model(config.model)
    inputs = find_images(root, relative=True)
    check_folder(root, inputs, config.size, config.max_megapixels)
    named = _style_images(styles) if choice.needs_style_images else {}
    jobs = [Job(path, str(pathlib.PurePosixPath(path).with_suffix(".png")), "", 0, config.style_strength)
            for path in inputs]
    if stylisers is None and choice.kind == "trained":
        from explainer.models import load_model

        trained = load_model(choice.path)
        if log:
            log(f"network: {trained.describe()}")
        stylisers = lambda kind: trained
    conditions = _Conditions(stylisers or _stylisers(log), named, fixed=choice, blend=config.style_blend)
    return run_jobs(root, out, jobs, conditions, batch_size=batch_size, size=config.size, progress=progress,
                    finish=lambda image, content: fast.finish_colors(image, content, config.colors))
