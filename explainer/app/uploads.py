"""Images from the browser: the upload widget and the loader behind it."""

from __future__ import annotations

import pathlib
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from explainer import images as _images
from explainer import samples
from explainer.app.options import MAX_IMAGE_SIDE
from explainer.errors import ImageError


def display_name(path: str | None, fallback: str) -> str:
    """How a command line names the file: `sample:NAME` for a bundled sample, else the file's own name
    (never the server path), else `fallback`."""
    return samples.name_of(path) or (pathlib.Path(path).name if path else fallback)


def load_user_image(path: str | None, what: str, max_side: int = MAX_IMAGE_SIDE,
                    min_side: int = _images.MIN_SIDE) -> np.ndarray:
    """Read an uploaded image, refusing huge ones; errors name the file, not the server path.

    `min_side` is the shortest side taken (a region mask, never seen by the network, may be 1 px).

    Raises:
        ImageError: no file, not an image, or a side longer than `max_side`.
    """
    if not path:
        raise ImageError(f"{what}: no image; upload one or pick a sample")
    name = f"{what} ({pathlib.Path(path).name})"
    try:
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except Exception:  # noqa: BLE001 -- not an image: load_image below says why, in one line
        width = height = 0
    if max(width, height) > max_side:
        raise ImageError(
            f"{name}: {width}x{height} pixels is larger than the explorer takes "
            f"({max_side} px on a side); scale it down first"
        )
    try:
        return _images.load_image(path, max_pixels=max_side * max_side, min_side=min_side)
    except ImageError as error:
        if _images.MAX_PIXELS_ENV_VAR in str(error) or "decompression-bomb" in str(error):
            # The library's advice (a server setting) is not the web user's to follow.
            raise ImageError(f"{name}: too many pixels for the explorer (at most {max_side} px on a side); "
                             "scale it down first") from None
        raise ImageError(str(error).replace(str(path), name)) from None


def image_upload(**kwargs: Any) -> gr.Image:
    """A `gr.Image` input that passes the uploaded file itself to the explorer's loader.

    With `image_mode=None` Gradio does not re-encode uploads, so 16-bit and
    EXIF-rotated files are read exactly as the CLI reads them; and a file
    Pillow cannot even open still reaches `load_user_image`, whose one-line
    message the page shows, instead of failing inside Gradio with a bare
    "Error". (The override is on the instance: the browser must see a plain Image.)
    """
    component = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], **kwargs)
    strict = component.preprocess

    def preprocess(payload):
        try:
            return strict(payload)
        except Exception:  # noqa: BLE001 -- not an image: load_user_image says so, in one line
            return str(payload.path) if payload is not None and payload.path else None

    component.preprocess = preprocess
    return component
