"""Figures of a recorded run, for the lessons and the web UI.

Every function here takes a [`Trace`][explainer.record.Trace] (or a run's
history) and returns a `matplotlib.figure.Figure`. Nothing touches pyplot's
global state, so figures can be made from several threads (a web server) and
never pop up a window; write them with [`save`][explainer.figures.save] or
`fig.savefig`.

Each figure names what it shows: the layers, the step, the loss weights, and
in its title the network and weights that produced the run, read from the
trace's manifest (a run with random weights looks nothing like one with
trained weights, and a figure should never hide which it was).

```python
from explainer import StyleConfig, stylize
from explainer.record import RecordSpec
from explainer import figures

result = stylize("photo.jpg", "painting.png", StyleConfig(size=256), record=RecordSpec(every=50))
figures.save(figures.gram_comparison(result.trace, 1, "relu3_1"), "gram.png")
figures.save(figures.loss_curves(result.record), "losses.png")
```

The figures live in three modules of one idea each, and every one is
importable from here (`from explainer.figures import loss_curves`):

* [`explainer.figures_loss`][explainer.figures_loss]: the loss, its terms and how they move the image
  (`loss_curves`, `contribution_bars`, `gradient_maps`, `progression`);
* [`explainer.figures_activations`][explainer.figures_activations]: what a layer sees (`feature_maps`,
  `channel_stats`, `gram_comparison`, `gram_heatmap`);
* [`explainer.figures_base`][explainer.figures_base]: what they share (`term_names`, `to_html`, `save`,
  the provenance line, the colour maps).
"""

from __future__ import annotations

from explainer.figures_activations import channel_stats, feature_maps, gram_comparison, gram_heatmap
from explainer.figures_base import (  # noqa: F401 -- the colour maps and the provenance line, importable from here
    DIVERGING,
    HEAT,
    KINDS,
    SEQUENTIAL,
    _provenance,
    provenance_line,
    save,
    term_names,
    to_html,
)
from explainer.figures_loss import contribution_bars, gradient_maps, loss_curves, progression

__all__ = [
    "channel_stats",
    "contribution_bars",
    "feature_maps",
    "gradient_maps",
    "gram_comparison",
    "gram_heatmap",
    "loss_curves",
    "progression",
    "save",
    "term_names",
    "to_html",
]
