"""The explorer: a Gradio app to stylize live, look inside the network, and compare layer choices.

```bash
pip install "style-explainer[ui]"
style-explainer explore            # http://127.0.0.1:7860, this machine only
```

Six tabs, each linking to the lesson that explains it (`LESSON_LINKS`):

* **Stylize** (`stylize_tab`): content and style images (uploads or the
  bundled samples), a widget for every setting the explorer offers
  (generated from the settings' declarations, see
  [`explainer.settings`][explainer.settings]), a live preview and a live
  per-layer loss plot while the run streams, a Stop button that keeps the
  latest image, downloads of the result, its record and its trace, and the
  equivalent `style-explainer stylize ...` command.
* **Inspect** (`inspect_tab`): what one image looks like inside the network
  (per-channel feature maps, the Gram matrix, channel statistics), and,
  after a run, each term's share of the loss and its gradient map at any
  recorded step.
* **Compare** (`compare_tab`): two to four variants run side by side, with
  their final losses.
* **Real-time** (`realtime_tab`): webcam frames or a photo through a
  feed-forward network (any style from an image, or a built-in one).
* **Video** (`video_tab`): a short clip through the fast network, with its
  flicker curve.
* **Train** (`train_tab`): train a small real-time network on a style.

The handlers (`stylize_stream`, `inspect_view`, `trace_view`,
`compare_view`, ...) are functions of plain values (images as files, the
settings as one dict keyed like the flags), testable without a browser;
the `build_*_tab` functions only make widgets and wire them.

Limits (`AppOptions`, `widgets.check_limits`): uploads up to `MAX_UPLOAD`
(checked by Gradio) and `max_image_side` pixels a side, size, iterations
and scales bounded for every path into the engine (Compare variants
included), no setting that names a server file, one run at a time by
default and at most `max_queue` waiting; user mistakes become a one-line
message, never a stack trace.
"""

from explainer.app.compare_tab import DEFAULT_VARIANTS, compare_stream, compare_view, parse_variants, variant_settings
from explainer.app.inspect_tab import channel_images, inspect_view, trace_steps, trace_view
from explainer.app.layout import build_app, launch, launch_kwargs, warm_up
from explainer.app.options import LESSON_LINKS, MAX_QUEUE, MAX_UPLOAD, AppOptions
from explainer.app.state import request_stop
from explainer.app.stylize_tab import cli_command, layer_choices, stylize_stream, sync_layer_weights
from explainer.app.uploads import load_user_image
from explainer.app.widgets import (
    LiveSettings,
    default_values,
    explorer_settings,
    network_arch,
    settings_from_values,
)

__all__ = [
    "DEFAULT_VARIANTS",
    "LESSON_LINKS",
    "MAX_QUEUE",
    "MAX_UPLOAD",
    "AppOptions",
    "LiveSettings",
    "build_app",
    "channel_images",
    "cli_command",
    "compare_stream",
    "compare_view",
    "default_values",
    "explorer_settings",
    "inspect_view",
    "launch",
    "launch_kwargs",
    "layer_choices",
    "load_user_image",
    "network_arch",
    "parse_variants",
    "request_stop",
    "settings_from_values",
    "stylize_stream",
    "sync_layer_weights",
    "trace_steps",
    "trace_view",
    "variant_settings",
    "warm_up",
]
