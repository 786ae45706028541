"""The Stylize tab's region masks: two uploads and a preview of the regions a run will match.

Masks are uploads only (a web user never names a file on the server): the
uploaded files' paths go into the run's `content_mask`/`style_mask`, and
the copy-as-CLI line names them by their own file names.
"""

from __future__ import annotations

import warnings
from typing import Any

import gradio as gr
import numpy as np

from explainer import regions
from explainer.app.messages import web_message
from explainer.app.uploads import display_name, image_upload, load_user_image
from explainer.config import StyleConfig
from explainer.errors import USER_ERRORS, Note, one_line

#: The preview's height: both masks side by side, each scaled to it.
PREVIEW_HEIGHT = 160


def with_masks(config: StyleConfig, content_mask: str | None, style_mask: str | None, *,
               names: bool = False) -> StyleConfig:
    """`config` with the uploaded masks (their file names only, with `names`, for a command line)."""
    if not content_mask and not style_mask:
        return config
    name = (lambda path, fallback: display_name(path, fallback) if path else None) if names else \
        (lambda path, fallback: path or None)
    return config.replace(content_mask=name(content_mask, "content-mask.png"),
                          style_mask=name(style_mask, "style-mask.png"))


def without_server_paths(record: dict) -> dict:
    """`record` (a run's record or trace manifest) with its masks named by their file names, as the command line
    names them: what a web user downloads never holds a path on the server."""
    config = record.get("config")
    if not config or not (config.get("content_mask") or config.get("style_mask")):
        return record
    names = {key: display_name(config[key], f"{key.replace('_', '-')}.png") if config.get(key) else None
             for key in ("content_mask", "style_mask")}
    return {**record, "config": {**config, **names}}


def check_uploads(content_mask: str | None, style_mask: str | None, content: np.ndarray, style: np.ndarray) -> None:
    """Refuse, before a run, masks that cannot be read or do not fit their images, naming them as the user did."""
    for path, image, what in ((content_mask, content, "content"), (style_mask, style, "style")):
        if path:
            mask = load_user_image(path, f"{what} mask", min_side=1)  # as the command line reads masks
            regions.check_aspect(mask, image, what, display_name(path, f"{what}-mask.png"))


def region_preview(content_mask: str | None, style_mask: str | None) -> tuple[Any, str]:
    """`(image, text)`: the two masks as the run will see them (matched regions in their colours, ignored pixels grey)."""
    if not content_mask and not style_mask:
        return None, "No masks: the whole image is one region."
    if not content_mask or not style_mask:
        return None, "Upload **both** masks: equal colours mark the regions that correspond."
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", Note)
            masks = [load_user_image(p, what, min_side=1)
                     for p, what in ((content_mask, "content mask"), (style_mask, "style mask"))]
            found = regions.match(*masks)
    except USER_ERRORS as error:
        return None, f"**Error:** {web_message(error)}"
    sides = [_to_height(regions.preview(m, found, which), PREVIEW_HEIGHT)
             for m, which in zip(masks, ("content", "style"))]
    gap = np.ones((PREVIEW_HEIGHT, 8, 3), np.float32)
    colours = ", ".join("#" + "".join(f"{int(v):02x}" for v in c) for c in found.colours)
    text = f"**{len(found.colours)} region(s)** matched by colour: {colours}."
    text += "".join(f" *{one_line(n.message)}*" for n in notes if issubclass(n.category, Note))
    return (np.concatenate([sides[0], gap, sides[1]], axis=1) * 255).astype(np.uint8), text


def _to_height(image: np.ndarray, height: int) -> np.ndarray:
    rows = np.linspace(0, image.shape[0] - 1, height).round().astype(int)
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    cols = np.linspace(0, image.shape[1] - 1, width).round().astype(int)
    return image[rows][:, cols]  # nearest neighbour: regions keep their flat colours


def build_mask_panel() -> tuple[Any, Any]:
    """An accordion with the two mask uploads and the regions' preview; returns the two upload components."""
    with gr.Accordion("Regions: masks for the style loss (optional)", open=False):
        gr.Markdown("Paint each image's regions in flat colours (sky blue, buildings red, ...); equal colours mark "
                    "regions that correspond. Each region's style is matched only to the same region of the style "
                    "image (Luan et al. 2017). Works with every method; a mask has its image's aspect ratio.")
        with gr.Row():
            content_mask = image_upload(label="Content mask", height=140, elem_id="content-mask")
            style_mask = image_upload(label="Style mask", height=140, elem_id="style-mask")
        preview = gr.Image(label="Regions as the run sees them (grey: ignored)", interactive=False, height=PREVIEW_HEIGHT,
                           elem_id="mask-preview")
        text = gr.Markdown("No masks: the whole image is one region.", elem_id="mask-status")
    gr.on([content_mask.change, style_mask.change], region_preview, [content_mask, style_mask], [preview, text],
          api_visibility="private", queue=False, show_progress="hidden")
    return content_mask, style_mask


def photorealism_lines(record: dict) -> list[str]:
    """The run's photorealism measures (a photo run, or any run with a post-process), for the status; else none."""
    lines = []
    for key, label in (("photorealism_before_post_process", "before the post-process"),
                       ("photorealism", "of the result")):
        if key in record:
            m = record[key]
            lines.append(f"Photorealism {label}: affine residual **{m['affine_residual']:.4f}** (0: a locally "
                         f"affine map of the photo), colour distance to the style **{m['colour_distance']:.2f}** "
                         "(1: the photo's colours, 0: the style's)")
    return lines
