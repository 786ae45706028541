"""Training photographs: where they come from, how they are cropped, in which order.

A network learns a style from many photos: Johnson et al. (2016) used the
~80,000 images of COCO 2014 train (`--data DIR` takes any folder such as
that one). Without `--data`, training uses the few real photographs that
PyPI packages ship and that we may use ([`explainer.photos`][explainer.photos]:
nine: scikit-image's, scikit-learn's, sporco's and matplotlib's portrait of
Grace Hopper), which is enough to watch a network learn, not to make a good one
(users report disappointing networks below ~1,000 images; random crops,
flips and scales help).

The pipeline is [grain](https://github.com/google/grain)'s: a `MapDataset`
(random access, so the `k`-th element is the same on every machine and in
every run) that shuffles the photos anew every epoch, repeats them forever,
loads each, and augments it with a random scale, crop and flip drawn from
the element's own seed, then cuts the stream into batches. Process `p` of
`P` reads sub-batches `p, p + P, ...`: its slice of every global batch. The
iterator's state (the next batch's number) is saved with every checkpoint,
so a resumed training sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib
from collections.abc import Callable, Sequence

import grain
import numpy as np

from explainer import images as _images
from explainer import photos, samples
from explainer.errors import ConfigError

#: Files read as images in a `--data` folder (and by `augment`; others are ignored).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: The default training photos (the photo names of `explainer.photos`, and a bundled sample).
TRAIN_PHOTOS: tuple[str, ...] = ("photo:astronaut", "photo:coffee", "photo:china", "photo:flower",
                                 "sample:grace_hopper", "photo:kodim23", "photo:monarch", "photo:sail",
                                 "photo:tulips")
#: Never trained on: shown every `preview_every` steps, and used to measure quality. "low contrast:"
#: is the same photo with a third of its contrast (instance norm should not care; batch norm does).
PROBE_PHOTOS: tuple[str, ...] = ("photo:chelsea", "photo:rocket", "low contrast:photo:chelsea")
#: With `--data DIR`, this many images of the folder are held out as probes.
FOLDER_PROBES = 2
#: The largest scale of the random crops: the photo's short side is resized to between `size` and
#: `MAX_ZOOM * size` (at most its own), then a `size x size` square is cut from it.
MAX_ZOOM = 2.0
LOW_CONTRAST = 1.0 / 3.0


@dataclasses.dataclass(frozen=True)
class DataSource:
    """What a training reads.

    Attributes:
        name: `"photos"` (the default set) or the folder's path.
        train: the items trained on: file paths, `photo:NAME` or `sample:NAME`.
        probes: items never trained on, for previews.
        credits: one line per default photo (source and licence); empty for a folder.
    """

    name: str
    train: tuple[str, ...]
    probes: tuple[str, ...]
    credits: tuple[str, ...] = ()

    def describe(self) -> dict:
        """JSON-ready, for `model.json`: what was trained on (a folder by its file list's checksum)."""
        listing = hashlib.sha256("\n".join(self.train).encode()).hexdigest()
        return {"source": self.name, "images": len(self.train), "list_sha256": listing,
                "probes": list(self.probes), "credits": list(self.credits)}


def find_images(root: str | os.PathLike, *, relative: bool = False) -> list[str]:
    """Every image file below `root` (`IMAGE_SUFFIXES`, hidden files skipped), sorted.

    Args:
        relative: give POSIX paths relative to `root` (`"sub/a.png"`) instead
            of paths that start with `root`. Either way in the same order.

    Raises:
        ConfigError: `root` is not a folder.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    found = (p for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    return sorted(p.relative_to(root).as_posix() if relative else str(p) for p in found)


def data_source(folder: str | os.PathLike | None) -> DataSource:
    """The default photos (`None`) or every image below `folder`, the first `FOLDER_PROBES` held out as probes.

    Raises:
        ConfigError: the folder is missing or has too few images.
    """
    if folder is None:
        credits = tuple(f"{item}: {_credit(item)}" for item in (*TRAIN_PHOTOS, *PROBE_PHOTOS[:2]))
        return DataSource("photos", TRAIN_PHOTOS, PROBE_PHOTOS, credits)
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise ConfigError(f"--data {folder}: not a folder")
    found = find_images(root)
    if len(found) < FOLDER_PROBES + 1:
        raise ConfigError(f"--data {folder}: {len(found)} images; training needs at least {FOLDER_PROBES + 1} "
                          f"({FOLDER_PROBES} are held out as probes, never trained on)")
    return DataSource(str(root), tuple(found[FOLDER_PROBES:]), tuple(found[:FOLDER_PROBES]))


def _credit(item: str) -> str:
    if item.startswith("photo:"):
        return photos.credit(item.removeprefix("photo:"))
    return samples.describe_sample(item.removeprefix("sample:"))


def load_item(item: str, max_side: int | None = None) -> np.ndarray:
    """An item of a `DataSource` as `(H, W, 3)` float32 in `[0, 1]`, its longest side at most `max_side`."""
    if item.startswith("low contrast:"):
        image = load_item(item.removeprefix("low contrast:"), max_side)
        return (0.5 + LOW_CONTRAST * (image - 0.5)).astype(np.float32)
    if item.startswith("photo:"):
        image = photos.photo(item.removeprefix("photo:"))
    else:
        image = samples.load(item, min_side=1)
    if max_side is not None and max(image.shape[:2]) > max_side:
        image = _images.resize_longest(image, max_side)
    return image


def probe_images(source: DataSource, size: int) -> np.ndarray:
    """The probes as one batch `(P, size, size, 3)`: each resized so its short side is `size`, centre square."""
    return np.stack([center_square(load_item(item), size) for item in source.probes])


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / min(h, w)
    resized = _images.resize_to(image, max(size, round(h * scale)), max(size, round(w * scale)))
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return resized[top:top + size, left:left + size]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random scale (short side between `size` and `MAX_ZOOM * size`, at most the photo's own), a random
    `size x size` crop, and a horizontal flip half the time."""
    h, w = image.shape[:2]
    short = min(h, w)
    high = max(float(size), min(float(short), MAX_ZOOM * size))
    target = float(np.exp(rng.uniform(np.log(size), np.log(high)))) if high > size else float(size)
    scale = target / short
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    resized = image if (new_h, new_w) == (h, w) else _images.resize_to(image, new_h, new_w)
    top = int(rng.integers(0, new_h - size + 1))
    left = int(rng.integers(0, new_w - size + 1))
    crop = resized[top:top + size, left:left + size]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


class _Augment(grain.transforms.RandomMap):
    """Load an item and cut a random crop from it (grain gives each element its own generator)."""

    def __init__(self, size: int, load: Callable[[str], np.ndarray]):
        self.size, self.load = size, load

    def random_map(self, item: str, rng: np.random.Generator) -> np.ndarray:
        return random_crop(self.load(item), self.size, rng)


def batches(source: DataSource, size: int, batch_size: int, seed: int, *, process_index: int = 0,
            process_count: int = 1) -> grain.MapDataset:
    """This process's batches as a grain `MapDataset`: element `k` is its share of global batch `k`.

    Global batch `k` is the same whatever the number of processes: elements
    `k * batch_size ... (k + 1) * batch_size - 1` of the shuffled, repeated,
    augmented stream; process `p` of `P` gets the `p`-th contiguous
    `batch_size / P` of them, `(batch_size / P, size, size, 3)` float32.
    """
    if batch_size % process_count:
        raise ConfigError(f"--batch-size {batch_size} does not split over {process_count} processes")
    # Decode each photo once: the default set is small. A big folder is read as it goes.
    load = functools.lru_cache(maxsize=64)(_loader(size)) if len(source.train) <= 64 else _loader(size)
    stream = (grain.MapDataset.source(list(source.train)).seed(seed).shuffle().repeat()
              .random_map(_Augment(size, load)))
    local = stream.batch(batch_size // process_count, drop_remainder=True)
    return local[process_index::process_count] if process_count > 1 else local


def _loader(size: int) -> Callable[[str], np.ndarray]:
    # Photos far larger than the crops are shrunk once on reading (the zoom never needs more).
    limit = int(np.ceil(MAX_ZOOM * size * 2))
    return lambda item: load_item(item, max_side=limit)


def iterator(dataset: grain.MapDataset, state: dict | None = None) -> grain.DatasetIterator:
    """A checkpointable iterator over `dataset` (two threads read ahead); `state` from `get_state()` resumes it."""
    it = iter(dataset.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=2)))
    if state is not None:
        it.set_state(state)
    return it


def check_items(items: Sequence[str]) -> None:
    """Fail in one line now, not after an hour, if an item cannot be read (checks the first few)."""
    for item in list(items)[:4]:
        load_item(item, max_side=64)
