"""Image I/O: files on disk <-> float32 RGB arrays in `[0, 1]`.

Every image that enters the project comes through `load_image`, so this is the
one place that knows about file formats, colour modes, EXIF orientation and
the ways a user's file can be wrong. The rest of the code only ever sees
arrays of shape `(H, W, 3)`, dtype `float32`, values in `[0, 1]`.

User mistakes (a missing file, a text file called `.jpg`, a 1x1 icon, a
40 000 px panorama) raise `ImageError`, whose message is one line that names
the file and the problem, so a CLI can print it as is instead of a traceback.
"""

from __future__ import annotations

import io
import os
import pathlib
import re
import stat
import struct
import warnings
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explainer.errors import ImageError, Note
from explainer.files import write_atomically

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV_VAR",
    "MIN_SIDE",
    "ImageError",
    "check_min_side",
    "from_pil",
    "load_image",
    "not_regular",
    "resize_longest",
    "resize_to",
    "save_image",
    "to_uint8",
]

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest image `load_image` decodes: ~600 MB as float32 RGB, already far more
than style transfer can use. Override with `MAX_PIXELS_ENV_VAR`."""

MAX_PIXELS_ENV_VAR = "STYLE_EXPLAINER_MAX_PIXELS"

MIN_SIDE = 16
"""Smallest side VGG can take down to `relu5_x`: four 2x poolings leave 1 px."""

_WHITE = 1.0
_UINT16_MAX = 65535.0

# Everything Pillow's decoders are known to raise on damaged data. Image.open
# only parses the header; these surface later, when pixels are decoded.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)



def _image_error(source: object, problem: str) -> ImageError:
    # Library messages sometimes span lines; a CLI prints ours verbatim, so
    # collapse all whitespace to keep the one-line promise.
    return ImageError(" ".join(f"{source}: {problem}".split()))


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------


def to_uint8(image: Any) -> np.ndarray:
    """Quantise a float image to 8 bits.

    **Arguments:**

    - `image`: array-like (NumPy, JAX, ...) of floats nominally in `[0, 1]`.

    **Returns:**

    A `uint8` array of the same shape: values clipped to `[0, 1]`, scaled by
    255 and rounded to nearest. NaNs become 0, so a diverged optimisation can
    still be saved and looked at.
    """
    array = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
    return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def _float_mode_scale(values: np.ndarray) -> float:
    """Guess the white level of a float ('F' mode) image from its range.

    Float TIFFs come either normalised to `[0, 1]` or holding raw 8- or 16-bit
    counts; there is no header field that says which, so use the range.
    """
    peak = float(values.max(initial=0.0))
    if peak <= 1.0:
        return 1.0
    if peak <= 255.0:
        return 255.0
    if peak <= _UINT16_MAX:
        return _UINT16_MAX
    return peak


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    """`(H, W, 4)` float RGBA (straight alpha) -> `(H, W, 3)` RGB over white."""
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return rgb * alpha + _WHITE * (1.0 - alpha)


def from_pil(img: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to the project's array format.

    - 8-bit modes are divided by 255; 16-bit greyscale (`I;16*`) and 32-bit
      integer (`I`, which is how Pillow carries 16-bit data) by 65535, read
      straight from the pixel buffer so nothing is clipped to 8 bits first.
    - `F` (float) is scaled by a white level guessed from its range, see
      `_float_mode_scale`.
    - Anything with transparency (`RGBA`, `LA`, `PA`, `P` or `L`/`RGB` with a
      `transparency` entry, premultiplied `RGBa`/`La`) is composited over
      white, which is how a browser shows it on a default page.
    - Greyscale (`1`, `L`, `I`, `F`) is replicated to three channels;
      `CMYK`, `YCbCr`, `LAB`, `HSV` go through Pillow's RGB conversion.

    **Arguments:**

    - `img`: any Pillow image; it is read, not modified.

    **Returns:**

    A `float32` array of shape `(H, W, 3)` with values in `[0, 1]`.
    """
    mode = img.mode
    if mode.startswith(("I;16", "I;32")) or mode == "I":
        grey = np.asarray(img).astype(np.float32) / _UINT16_MAX
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        grey = values / _float_mode_scale(values)
    elif _has_transparency(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return np.clip(_composite_over_white(rgba), 0.0, 1.0).astype(np.float32)
    else:
        # "RGB" is a no-op; "1"/"L" replicate; CMYK etc. use Pillow's matrices.
        return np.asarray(img.convert("RGB"), dtype=np.float32) / np.float32(255.0)

    grey = np.clip(grey, 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)


def _has_transparency(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def check_min_side(image_or_shape: Any, min_side: int, name: str = "image") -> None:
    """Raise unless both spatial sides are at least `min_side` pixels.

    **Arguments:**

    - `image_or_shape`: an array `(H, W[, C])`, or its shape.
    - `min_side`: the smallest side allowed.
    - `name`: what to call the image in the message, usually its file name.

    **Raises:**

    `ImageError`: `"<name>: image is WxH pixels; the network needs at least
    N px on each side"`.
    """
    shape = image_or_shape.shape if hasattr(image_or_shape, "shape") else tuple(image_or_shape)
    height, width = int(shape[0]), int(shape[1])
    if min(height, width) < min_side:
        raise _image_error(
            name,
            f"image is {width}x{height} pixels; the network needs at least {min_side} px on each side",
        )


def not_regular(path: str | os.PathLike[str]) -> str | None:
    """Why `path` is no file to read, if it is something else that exists: `"is a named pipe, not a regular file"`.

    `None` for a regular file, a folder or a path that does not exist (each
    caller has its own words for those). Checked before opening: a named
    pipe would block the read forever, a device such as `/dev/zero` never ends.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    return f"is {kind}, not a regular file"


def _max_pixels_from_env() -> int:
    raw = os.environ.get(MAX_PIXELS_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        # float() so "1e8" and "100_000_000" both work.
        value = int(float(raw))
    except ValueError:
        value = 0
    if value <= 0:
        raise _image_error(MAX_PIXELS_ENV_VAR, f"must be a positive number of pixels, got {raw!r}")
    return value


def _megapixels(pixels: int) -> str:
    # One decimal suits real limits (50.0 MP); tiny test limits keep two
    # significant digits instead of all reading "0.0 MP".
    megapixels = pixels / 1e6
    return f"{megapixels:.1f} MP" if megapixels >= 0.1 else f"{megapixels:.2g} MP"


def _too_large(source: str, size: str, limit: int) -> ImageError:
    return _image_error(
        source,
        f"image is {size}, over the limit of {_megapixels(limit)}; raise it with {MAX_PIXELS_ENV_VAR} or max_pixels=",
    )


def _from_bomb_error(source: str, error: Image.DecompressionBombError, limit: int) -> ImageError:
    """Translate Pillow's own decompression-bomb refusal into our message.

    Pillow refuses inside `Image.open`, before we see the size, and its message
    has only the pixel count. Its hard limit, `2 * Image.MAX_IMAGE_PIXELS`, is
    one our `max_pixels` cannot lift: we do not mutate Pillow's globals.
    """
    digits = re.search(r"\((\d+) pixels\)", str(error))
    pixels = int(digits.group(1)) if digits else 0
    size = f"{_megapixels(pixels)} ({pixels} pixels)" if pixels else "too large"
    pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if limit < pillow_limit or not pillow_limit:
        return _too_large(source, size, limit)
    return _image_error(
        source,
        f"image is {size}, over Pillow's decompression-bomb limit of "
        f"{_megapixels(pillow_limit)}; raise PIL.Image.MAX_IMAGE_PIXELS as well",
    )


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def image_shape(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """`(height, width)` from the file's header, without decoding; `None` if it is not a readable image."""
    if not_regular(path):
        return None  # load_image says why
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return height, width


def load_image(
    path: str | os.PathLike[str],
    *,
    max_side: int | None = None,
    min_side: int = MIN_SIDE,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Read an image file as a float32 RGB array.

    Reads anything Pillow reads (JPEG, PNG, WebP, TIFF incl. 16-bit, ...),
    applies the EXIF orientation, and converts every colour mode as described
    in `from_pil`. The pixel count is checked from the header, before a single
    pixel is decoded, so a decompression bomb costs nothing.

    **Arguments:**

    - `path`: the file; `str(path)` is used in error messages.
    - `max_side`: if given, resize (down or up) so the longest side equals it.
    - `min_side`: the smallest side the final (resized) image may have.
    - `max_pixels`: largest `W * H` to decode; defaults to
      `$STYLE_EXPLAINER_MAX_PIXELS`, else `DEFAULT_MAX_PIXELS`.

    **Returns:**

    A `float32` array of shape `(H, W, 3)` with values in `[0, 1]`.

    **Raises:**

    `ImageError` for any problem with the file, with a one-line message.
    """
    source = str(path)
    limit = _max_pixels_from_env() if max_pixels is None else int(max_pixels)
    if limit <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")

    with _open_lazily(source, path, limit) as img:
        width, height = img.size
        if width * height > limit:
            raise _too_large(source, f"{width}x{height} pixels ({_megapixels(width * height)})", limit)
        frames = getattr(img, "n_frames", 1)
        if frames > 1:
            warnings.warn(f"{source}: an animation of {frames} frames; using the first", Note, stacklevel=2)
        image = _decode(source, img, limit)

    if max_side is not None:
        image = resize_longest(image, max_side)
    check_min_side(image, min_side, name=source)
    return image


def _open_lazily(source: str, path: str | os.PathLike[str], limit: int) -> Image.Image:
    """`Image.open` (header only), with OS and Pillow errors made one-liners; a pipe or a device is not opened."""
    if isinstance(path, (str, os.PathLike)):
        problem = not_regular(path)
        if problem:
            raise _image_error(source, f"{problem}; give an image file")
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS; our own limit, checked right
            # after this, is the policy, so the warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as error:
        raise _from_bomb_error(source, error, limit) from None
    except UnidentifiedImageError:
        raise _image_error(source, "not an image file (Pillow cannot identify it)") from None
    except FileNotFoundError:
        raise _image_error(source, "no such file") from None
    except IsADirectoryError:
        raise _image_error(source, "is a directory, not an image file") from None
    except PermissionError:
        # Windows reports opening a directory as a permission problem.
        if os.path.isdir(path):
            raise _image_error(source, "is a directory, not an image file") from None
        raise _image_error(source, "permission denied") from None
    except OSError as error:
        raise _image_error(source, f"cannot read file ({error.strerror or error})") from None


def _decode(source: str, img: Image.Image, limit: int) -> np.ndarray:
    """Decode pixels, apply EXIF orientation, convert to float RGB."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            # Phones store pixels unrotated plus an Orientation tag; without
            # this a portrait photo would be styled lying on its side.
            upright = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as error:
        # Some formats (GIF frames, ICO entries) only reveal sizes at load.
        raise _from_bomb_error(source, error, limit) from None
    except MemoryError:
        raise _image_error(source, "not enough memory to decode the image") from None
    except _DECODE_ERRORS as error:
        reason = str(error).strip() or type(error).__name__
        if len(reason) > 80:
            reason = reason[:77] + "..."
        raise _image_error(source, f"image data is truncated or corrupt ({reason})") from None
    return from_pil(upright)


# --------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------


def resize_to(image: Any, height: int, width: int) -> np.ndarray:
    """Resize to an exact size with a Lanczos filter, in float.

    Each channel goes through Pillow as a 32-bit float ('F') image, so there is
    no 8-bit quantisation on the way; Lanczos overshoot is clipped back.
    Pillow widens the kernel when shrinking, so downscaling is antialiased.

    **Arguments:**

    - `image`: array `(H, W, C)` with values in `[0, 1]`.
    - `height`, `width`: the output size, each at least 1.

    **Returns:**

    A `float32` array of shape `(height, width, C)` with values in `[0, 1]`.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W, C), got shape {array.shape}")
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1x1, got {width}x{height}")
    if array.shape[:2] == (height, width):
        return array.copy()

    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[..., c])).resize((width, height), Image.Resampling.LANCZOS),
            dtype=np.float32,
        )
        for c in range(array.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def resize_longest(image: Any, side: int) -> np.ndarray:
    """Resize, keeping the aspect ratio, so the longest side is `side` px.

    Works in both directions. The shorter side is rounded to the nearest
    pixel and never drops below 1.

    **Arguments:**

    - `image`: array `(H, W, C)` with values in `[0, 1]`.
    - `side`: the length of the longest output side, at least 1.

    **Returns:**

    A `float32` array `(H', W', C)` with `max(H', W') == side`.
    """
    if side < 1:
        raise ValueError(f"side must be at least 1, got {side}")
    height, width = np.shape(image)[:2]
    scale = side / max(height, width)
    new_height = side if height >= width else max(1, round(height * scale))
    new_width = side if width >= height else max(1, round(width * scale))
    return resize_to(image, new_height, new_width)


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------


def save_image(image: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write an image file atomically.

    The format follows the extension (`.png`, `.jpg`, `.webp`, `.tif`, ...);
    a path without one gets `.png`. The data goes to a temporary file next to
    the target and is moved over it with `os.replace`, so a reader (or a
    crash) never sees half a file.

    **Arguments:**

    - `image`: array `(H, W, 3)`, `(H, W, 1)` or `(H, W)`; floats in `[0, 1]`
      (clipped, rounded to 8 bits) or `uint8`.
    - `path`: where to write; missing parent folders are created.

    **Returns:**

    The path written, as a `pathlib.Path`.
    """
    target = pathlib.Path(path)
    if not target.suffix:
        target = target.with_suffix(".png")
    image_format = Image.registered_extensions().get(target.suffix.lower())
    if image_format is None:
        raise _image_error(target, f"unknown image format {target.suffix!r}; use .png or .jpg")

    array = np.asarray(image)
    pixels = array if array.dtype == np.uint8 else to_uint8(array)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[-1] == 3)):
        raise ValueError(f"expected an image of shape (H, W, 3) or (H, W), got shape {array.shape}")

    options = {"quality": 95} if image_format in ("JPEG", "WEBP") else {}
    encoded = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(encoded, format=image_format, **options)
    return write_atomically(target, encoded.getvalue())
