"""What does VGG see in a picture? Feature maps, Gram matrices and statistics, no optimisation.

    python examples/inspect_an_image.py [IMAGE] [OUT_DIR]

CLI equivalent: style-explainer inspect IMAGE -o OUT_DIR --layers relu1_1,relu3_1,relu5_1
"""

import pathlib
import sys

from explainer import figures
from explainer.inspection import inspect_image, stats_table
from explainer.samples import sample_path

image = sys.argv[1] if len(sys.argv) > 1 else str(sample_path("grace_hopper"))
out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "example-output/inspect")
trace = inspect_image(image, ["relu1_1", "relu3_1", "relu5_1"])
for layer in trace.layers:
    figures.save(figures.feature_maps(trace, 0, layer), out / f"{layer}_features.png")
    figures.save(figures.gram_heatmap(trace, 0, layer), out / f"{layer}_gram.png")
for row in stats_table(trace):
    print(row)
print(f"wrote {out}/")
