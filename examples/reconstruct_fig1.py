"""Gatys et al. 2015, Fig. 1: what survives at each layer, reconstructed from noise.

    python examples/reconstruct_fig1.py [CONTENT] [STYLE] [OUT.png]

CLI equivalent: style-explainer reconstruct CONTENT STYLE -o fig1.png
"""

import sys

from explainer import figures
from explainer.reconstruct import RECONSTRUCT_DEFAULTS, reconstruct
from explainer.samples import sample_path

content = sys.argv[1] if len(sys.argv) > 1 else str(sample_path("grace_hopper"))
style = sys.argv[2] if len(sys.argv) > 2 else str(sample_path("swirl"))
out = sys.argv[3] if len(sys.argv) > 3 else "example-output/fig1.png"
result = reconstruct(content, style, RECONSTRUCT_DEFAULTS.replace(size=96), progress=print)
print(f"wrote {figures.save(result.figure(), out)}")
