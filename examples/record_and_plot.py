"""Stylize the bundled samples while recording, then draw what each layer did.

    python examples/record_and_plot.py [OUT_DIR]

Writes the result, its trace, and figures: per-layer loss curves, each term's
share of the loss, where each layer pushes the pixels, and a Gram comparison.
"""

import pathlib
import sys

from explainer import StyleConfig, figures, stylize
from explainer.record import RecordSpec
from explainer.samples import sample_content, sample_style

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "example-output/record")
config = StyleConfig(size=128, iterations=100, print_every=0)
result = stylize(sample_content(), sample_style("swirl", 256), config, record=RecordSpec(every=25))
result.save(out / "stylized.png")
trace = result.trace
trace.save(out / "trace")

last = trace.iterations[-1]
figures.save(figures.loss_curves(result.record, kind="all"), out / "loss_curves.png")
figures.save(figures.contribution_bars(trace, last), out / "contributions.png")
figures.save(figures.gradient_maps(trace, last), out / "gradient_maps.png")
figures.save(figures.gram_comparison(trace, last, "relu2_1"), out / "gram_relu2_1.png")
figures.save(figures.progression(trace), out / "progression.png")
print(f"wrote {out}/")
