"""Compare layer choices side by side, and sweep the content/style ratio (Gatys et al. 2015, Fig. 3).

    python examples/compare_layers.py [CONTENT] [STYLE] [OUT_DIR]

CLI equivalent:
    style-explainer compare CONTENT STYLE -o shallow-vs-deep.png \\
        --variant "style_layers=relu1_1,relu2_1" --variant "style_layers=relu3_1,relu4_1,relu5_1"
    style-explainer compare CONTENT STYLE -o fig3.png --ratio-sweep
"""

import pathlib
import sys

from explainer import StyleConfig
from explainer.compare import compare, compare_ratio_sweep
from explainer.samples import sample_path

content = sys.argv[1] if len(sys.argv) > 1 else str(sample_path("grace_hopper"))
style = sys.argv[2] if len(sys.argv) > 2 else str(sample_path("swirl"))
out = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "example-output/compare")
base = StyleConfig(size=96, iterations=80, print_every=0)

variants = [
    {"style_layers": ("relu1_1", "relu2_1")},
    {"style_layers": ("relu3_1", "relu4_1", "relu5_1")},
    {"style_layer_weights": (4.0, 2.0, 1.0, 0.5, 0.25)},  # crowsonkb-style: weights fall with depth
]
comparison = compare(content, style, variants, base)
for row in comparison.rows:
    print(row["label"], "loss", round(row["loss"], 2), "time", row["time_s"], "s")
comparison.save(out / "layers.png")

sweep = compare_ratio_sweep(content, style, base.replace(size=64, iterations=60), ratios=(0.01, 0.1, 1.0))
sweep.save(out / "fig3.png")
print(f"wrote {out}/")
