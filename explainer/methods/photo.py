"""`--method photo`: Gatys et al.'s optimisation plus the photorealism term (Luan et al. 2017).

The same run as [`gatys`][explainer.methods.gatys] with one more term of
the loss on the image, [`photo_term`][explainer.photo.photo_term] (the
matting Laplacian of the content), L-BFGS by default, and both
photorealism measures in the record (see [`explainer.photo`][explainer.photo]
for Luan et al.'s defaults in this project's units).
"""

from __future__ import annotations

from explainer.config import StyleConfig
from explainer.methods.base import MethodBase
from explainer.methods.gatys import Gatys

__all__ = ["Photo"]


class Photo(Gatys):
    """Gatys plus `photo_weight * sum_c V_c^T M V_c`: the result stays a locally affine colour map of the photo."""

    name = "photo"
    summary = "gatys plus the photorealism term (Luan et al.)"
    presets = (("optimizer", "lbfgs"),)
    measures_photorealism = True

    def image_terms(self, config: StyleConfig) -> tuple:
        from explainer.photo import photo_term

        return (photo_term(config.photo_weight),)

    #: Not yet: each frame would need its own matting Laplacian (use gatys or fast, and --post-process smooth).
    makes_video = False
    frames = MethodBase.frames
