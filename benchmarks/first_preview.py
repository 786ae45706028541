"""Time to the explorer's first preview image (issue: "within a few seconds at 256 px").

    python benchmarks/first_preview.py [WEIGHTS]      # default: hed

Calls the Stylize tab's handler (`explainer.app.stylize_stream`) directly,
exactly as the page does, after the start-up warm-up, on the bundled samples
at the explorer's default size (256 px); prints seconds to the first
streamed image for a few situations.
"""

import sys
import time

from explainer import app, samples

weights = sys.argv[1] if len(sys.argv) > 1 else "hed"
opts = app.AppOptions(weights_choices=(weights,), default_weights=weights)
t = time.perf_counter(); app.warm_up(opts, background=False); print(f"warm-up {time.perf_counter()-t:.1f} s")
c, s = str(samples.sample_path("grace_hopper")), str(samples.sample_path("swirl"))
def run(label, **changes):
    # the widgets' values, keyed as app.explorer_settings() says (weights on log sliders: log10)
    values = {**app.default_values(opts), "iterations": 6, **changes}
    start = time.perf_counter(); first = None
    for out in app.stylize_stream(c, s, values, options=opts):
        if first is None and hasattr(out[0], "shape"):
            first = time.perf_counter() - start
    print(f"{label:28s} first preview {first:.1f} s, 6 steps {time.perf_counter()-start:.1f} s")
run("after warm-up")
run("again")
run("no gradient maps", record_gradients=False)
run("no gradient maps, again", record_gradients=False)
run("style weight changed", style_weight=3)  # log10: 1000
run("learning rate changed", learning_rate=0.05)
