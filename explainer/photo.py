"""`--method photo`: Gatys et al.'s optimisation plus the photorealism term (Luan et al. 2017).

The method is the optimisation of [`explainer.optimize`][explainer.optimize]
with one more [`ImageTerm`][explainer.losses.ImageTerm], `"photo"`:
`photo_weight * sum_c V_c^T M V_c`, where `M` is the matting Laplacian of
the content photo ([`explainer.matting`][explainer.matting]). It is summed,
reported, recorded and gradient-mapped like content, style and TV, and its
weight travels as an array (a new weight does not compile anew).

**Luan et al.'s defaults in this project's units.** Their Lua code adds
`lambda * M V / 256` (lambda = 1e4) to the gradient with respect to the
Caffe-scaled image `x = 256 V` (V in `[0, 1]`), i.e. the gradient of
`(lambda / 2) V^T M V` per channel. Their content (5, relu4_2), style (100,
relu1_1..relu5_1) and TV (1e-3) losses are normalised as ours are (jcjohnson's
neural-style conventions; we scale pixels by 255, not 256: under 1%). The
same objective here is therefore `photo_weight = lambda / 2 = 5e3`, with
content 5, style 100, TV 1e-3; L-BFGS (theirs ran 1000 iterations, started
from a segmented Gatys result; we start from the content photo).

Regions (`--content-mask`, `--style-mask`) work for this method and for
gatys alike ([`explainer.regions`][explainer.regions]); so does the optional
post-process (`--post-process smooth|guided`), which makes any result more
photorealistic after the run. A photo run's record gets both photorealism
measures ([`photorealism`][explainer.matting.photorealism]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from explainer import images as _images
from explainer import matting, regions
from explainer.config import StyleConfig
from explainer.losses import ImageTerm

#: The term's name in the loss terms, the record and the trace.
TERM = "photo"
#: Luan et al.'s lambda (gradient units of their Caffe-scaled image) and its value here (see the module's text).
LUAN_LAMBDA = 1e4
PHOTO_WEIGHT = LUAN_LAMBDA / 2


def _guide(content: np.ndarray) -> dict:
    return matting.matting_guide(content)


def photo_term(weight: float = PHOTO_WEIGHT) -> ImageTerm:
    """The photorealism term: `weight * sum_c V_c^T M V_c`, `M` the matting Laplacian of the content at each scale."""
    return ImageTerm(TERM, matting.photo_loss, float(weight), _guide)


@dataclasses.dataclass
class PhotoPlan:
    """What an optimisation run needs beyond plain Gatys: the regions, and what to do with the result."""

    config: StyleConfig
    content: np.ndarray
    styles: Sequence[np.ndarray]
    regions: regions.Regions | None = None
    #: Measure the result's photorealism in the record (the photo method's runs; any run with a post-process).
    measure: bool = False

    def finish(self, image: np.ndarray) -> tuple[np.ndarray, dict]:
        """The post-processed result and what the record gets (`photorealism`, before and after a post-process)."""
        config = self.config
        if not self.measure and config.post_process == "none":
            return image, {}
        content = _images.resize_to(self.content, *image.shape[:2])
        measure = lambda result: matting.photorealism(result, content, self.styles[0])
        extra = {}
        if config.post_process != "none":
            extra["photorealism_before_post_process"] = measure(image)
            image = matting.post_process(image, content, config.post_process).astype(np.float32)
        extra["photorealism"] = measure(image)
        return image, extra


def prepare(config: StyleConfig, content: np.ndarray, styles: Sequence[np.ndarray], measure: bool = False) -> PhotoPlan:
    """Read the masks (if any) and plan the run; one-line errors for unreadable or mismatched masks."""
    masks = regions.from_files(config.content_mask, config.style_mask, content, styles)
    return PhotoPlan(config, content, styles, masks, measure)
