"""A recorded run, readable without Python: its figures as PNG files and one `index.html`.

`style-explainer stylize ... --record DIR` calls
[`write_report`][explainer.report.write_report] after saving the trace, so
`DIR` holds, beside `trace.json` and `arrays.npz`:

* `loss_curves.png`: every loss term at every step;
* `contribution_bars.png`: each term's share of the loss at the last snapshot;
* `gradient_maps.png`: where each term pushes the pixels, at the last snapshot with maps;
* `gram_L.png`: for each recorded style layer `L`, the Gram matrices of the
  content image, the style target and the result at the last snapshot;
* `progression.png`: the image at (up to eight of) the recorded steps;
* `index.html`: these figures with a few sentences on each, and the run's
  settings, network, weights, software and outcome. It is self-contained
  (no scripts, fonts or styles from elsewhere) and names only files in `DIR`,
  so the folder can be zipped, mailed or opened offline.

An interrupted or failed run gets the figures of what it recorded.

```python
from explainer import StyleConfig, stylize
from explainer.record import RecordSpec
from explainer.report import write_report

result = stylize("photo.jpg", "painting.png", StyleConfig(size=256), record=RecordSpec(every=20))
result.trace.save("trace")
write_report(result.trace, result.record, "trace")   # trace/index.html
```
"""

from __future__ import annotations

import html
import io
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from explainer import figures as _figures
from explainer.config import StyleConfig
from explainer.files import write_atomically
from explainer.record import Trace
from explainer.settings import settings_of

__all__ = ["PROGRESSION_PANELS", "write_report"]

#: At most this many steps in `progression.png` (the first, the last, evenly spaced between).
PROGRESSION_PANELS = 8
DPI = 100


class Panel(NamedTuple):
    """One figure of the report: its file, what it shows, how to draw it; the heading and text above it, if any."""

    file: str
    alt: str
    draw: Callable[[], Any]
    heading: str = ""
    text: str = ""


def write_report(trace: Trace | None, record: Mapping[str, Any] | None, directory: str | os.PathLike, *,
                 figures: bool = True) -> pathlib.Path:
    """Write the run's figures (PNG) and `index.html` into `directory`; return the page's path.

    Args:
        trace: the recorded snapshots (`Result.trace`), or `None`.
        record: the run record (`Result.record`, with the loss of every
            step), or `None` (the loss curves then come from the snapshots).
        directory: the folder (created); usually the trace's own.
        figures: `False` writes only `index.html`, with the settings and no figures.

    Returns:
        The path of `index.html`. Every file is written atomically.
    """
    directory = pathlib.Path(directory)
    panels = _panels(trace, record) if figures else []
    for panel in panels:
        _write_png(panel.draw(), directory / panel.file)
    page = _page(trace, record or {}, panels, directory, figures)
    return write_atomically(directory / "index.html", page.encode("utf-8"))


def _write_png(fig, path: pathlib.Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    write_atomically(path, buffer.getvalue())


# --------------------------------------------------------------------------- which figures


def _panels(trace: Trace | None, record: Mapping[str, Any] | None) -> list[Panel]:
    """The figures that this run's data can draw, in the order the page shows them."""
    panels = []
    history = record if record and record.get("history") else None
    scored = [s["iteration"] for s in trace.manifest["snapshots"] if "terms" in s] if trace else []
    if history or scored:
        panels.append(_loss_panel(history or trace))
    if scored:
        panels.append(_shares_panel(trace, scored[-1]))
    if trace and trace.gradient_iterations:
        panels.append(_gradient_panel(trace, trace.gradient_iterations[-1]))
    if scored:
        style = trace.losses(scored[-1])["terms"].get("style", {})
        layers = [layer for layer in trace.layers if layer in style]
        panels += [_gram_panel(trace, scored[-1], layer, first=i == 0) for i, layer in enumerate(layers)]
    if trace and trace.iterations:
        panels.append(_progression_panel(trace))
    return panels


def _loss_panel(source) -> Panel:
    return Panel("loss_curves.png", "Every loss term at every step", lambda: _figures.loss_curves(source, kind="all"),
                 "The loss, term by term",
                 "Each line is one term of the loss at every step, already multiplied by its weight (the legend "
                 "gives the weight); at each step they add up to the dashed total. The axis is logarithmic, so "
                 "terms that differ by orders of magnitude fit on one plot. Lesson 6 (Optimising the image).")


def _shares_panel(trace: Trace, step: int) -> Panel:
    return Panel("contribution_bars.png", f"Each term's share of the loss at step {step}",
                 lambda: _figures.contribution_bars(trace, step), f"Who carries the loss at step {step}",
                 "Each bar is one term's share of the total loss at the last snapshot. A large share is where the "
                 "loss has the most to gain; equal weights do not give equal shares, because layers' activations "
                 "differ in size. Lessons 6 and 7 (Choosing layers and weights).")


def _gradient_panel(trace: Trace, step: int) -> Panel:
    return Panel("gradient_maps.png", f"Gradient norm of each loss term at step {step}",
                 lambda: _figures.gradient_maps(trace, step), f"Where each term pushes the pixels at step {step}",
                 "Each map is the size of one term's gradient with respect to the image: bright where changing a "
                 "pixel would change that term most, dark where the term does not care. Every panel has its own "
                 "colour scale; its title gives the largest value. Lesson 6.")


def _gram_panel(trace: Trace, step: int, layer: str, first: bool) -> Panel:
    panel = Panel(f"gram_{layer}.png", f"Gram matrices of {layer} at step {step}",
                  lambda: _figures.gram_comparison(trace, step, layer))
    if not first:  # one explanation for every style layer
        return panel
    return panel._replace(
        heading=f"Style, layer by layer: Gram matrices at step {step}",
        text="A layer's Gram matrix says which of its channels fire together, wherever they are in the image: "
             "that is what this method calls style. Each figure shows it for the content photo, the style "
             "target and the result, on one colour scale, then the gap between result and target (red: too "
             "much of a channel pair, blue: too little), whose mean square is the layer's style loss before "
             "its weight. Shallow layers hold colours and fine texture, deep layers larger patterns. Lesson 4 "
             "(Style).")


def _progression_panel(trace: Trace) -> Panel:
    steps = _spread(trace.iterations, PROGRESSION_PANELS)
    return Panel("progression.png", "The image at recorded steps", lambda: _figures.progression(trace, steps),
                 "The image as it forms", f"The image at {len(steps)} of the {len(trace.iterations)} recorded steps, first to last, with "
                 "its loss. Lesson 6.")


def _spread(items: Sequence[int], most: int) -> list[int]:
    """At most `most` of `items`: the first, the last, and evenly spaced ones between."""
    if len(items) <= most:
        return list(items)
    return [items[i] for i in sorted({round(x) for x in np.linspace(0, len(items) - 1, most)})]


# --------------------------------------------------------------------------- the page

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #fafafa; color: #222; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.status { padding: 0.6em 0.9em; border-radius: 4px; background: #e7f4e4; }
.status.interrupted { background: #fff4d6; }
.status.failed { background: #fde2e1; }
figure { margin: 0.5em 0 1.5em; background: white; padding: 0.5em; border: 1px solid #e4e4e4; }
figure img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { text-align: left; vertical-align: top; padding: 0.25em 0.8em 0.25em 0; border-bottom: 1px solid #eee; }
th { white-space: nowrap; }
td.help { color: #666; }
code { font-size: 0.95em; }
td code { font-size: 1em; }
"""


def _page(trace: Trace | None, record: Mapping[str, Any], panels: list[Panel], directory: pathlib.Path,
          figures: bool) -> str:
    source = {**(trace.manifest if trace else {}), **record}
    styles = ", ".join(_name(s) for s in source.get("styles") or []) or "a style"
    title = f"{_name(source.get('content'))} in the style of {styles}"
    body = [f"<h1>{_e(title)}</h1>", _status(source), _summary(source)]
    for panel in panels:
        body.append(_figure(panel))
    if not panels:
        why = "no step was recorded before the run stopped." if figures else "this page was written without them."
        body.append(f"<p>No figures: {why}</p>")
    body += [_tables(source, trace), _files(directory)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _name(path: Any) -> str:
    return os.path.basename(str(path)) if path else "an image"


def _status(source: Mapping[str, Any]) -> str:
    done, wall = source.get("iterations_done"), source.get("wall_time_s")
    steps = f"{done} steps" if done is not None else "an unknown number of steps"
    time = f" in {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    if source.get("failed"):
        kind, text = "failed", f"Failed after {steps}{time}: {source['failed']}"
    elif source.get("interrupted"):
        kind, text = "interrupted", (f"Interrupted after {steps}{time} (Ctrl-C or SIGTERM): the figures show "
                                     "what was recorded until then.")
    else:
        kind, text = "finished", f"Finished {steps}{time}."
    return f'<p class="status {kind}">{_e(text)}</p>'


def _summary(source: Mapping[str, Any]) -> str:
    styles = ", ".join(_name(s) for s in source.get("styles") or []) or "unknown"
    return (f"<p>Content <code>{_e(source.get('content', 'unknown'))}</code>, style <code>{_e(styles)}</code>; "
            f"network and weights: <b>{_e(_figures._provenance(source))}</b>. The settings, the network and "
            f"the software are listed below the figures.{_untrained(source)}</p>")


def _untrained(source: Mapping[str, Any]) -> str:
    if (source.get("weights") or {}).get("name") != "random":
        return ""
    return (" <b>These weights are random</b> (untrained): the layers detect nothing in particular, so the "
            "result shows the mechanics of the method, not a painting's style.")


def _figure(panel: Panel) -> str:
    src = _e(panel.file)
    heading = f"<h2>{_e(panel.heading)}</h2>\n" if panel.heading else ""
    text = f"<p>{_e(panel.text)}</p>\n" if panel.text else ""
    return f'{heading}{text}<figure><a href="{src}"><img src="{src}" alt="{_e(panel.alt)}"></a></figure>'


def _tables(source: Mapping[str, Any], trace: Trace | None) -> str:
    parts = ["<h2>The run</h2>", _table(_run_rows(source, trace))]
    if source.get("config"):
        parts += ["<h2>Settings</h2>", _table(_config_rows(source["config"]), help_column=True)]
    parts += ["<h2>Network and weights</h2>", _table(_network_rows(source))]
    if source.get("software"):
        parts += ["<h2>Software</h2>", _table(list(source["software"].items()))]
    return "\n".join(parts)


def _run_rows(source: Mapping[str, Any], trace: Trace | None) -> list[tuple[str, Any]]:
    rows = [("content", source.get("content")), ("style", ", ".join(map(str, source.get("styles") or [])) or None),
            ("result size", "{1} x {0} px (width x height)".format(*source["size"]) if source.get("size") else None),
            ("steps done", source.get("iterations_done")), ("wall time", _seconds(source.get("wall_time_s"))),
            ("interrupted", source.get("interrupted")), ("failed", source.get("failed") or "no")]
    if trace is not None:
        rows += [("recorded layers", ", ".join(trace.layers)), ("recorded steps", _steps(trace.iterations)),
                 ("gradient maps at", _steps(trace.gradient_iterations) or "none")]
    return [(k, v) for k, v in rows if v is not None]


def _config_rows(config: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """`(flag, value with its unit, what the setting does)` for every entry of a config."""
    declared = {item.name: item for item in settings_of(StyleConfig)}
    rows = []
    for key, value in config.items():
        item = declared.get(key)
        unit = f" {item.unit}" if item and item.unit and value is not None else ""
        rows.append((item.cli_flag if item else key, _value(value) + unit, item.help if item else ""))
    return rows


def _network_rows(source: Mapping[str, Any]) -> list[tuple[str, Any]]:
    network, weights = source.get("network") or source.get("backend") or {}, source.get("weights") or {}
    rows = [("network", network.get("name")), ("pooling", network.get("pooling")),
            ("weights", weights.get("name")), ("what the weights are", weights.get("description")),
            ("seed", weights.get("seed")), ("weights file", weights.get("path")),
            ("checksum", weights.get("checksum"))]
    return [(k, v) for k, v in rows if v is not None]


def _table(rows: Sequence[tuple], help_column: bool = False) -> str:
    cells = []
    for row in rows:
        extra = f'<td class="help">{_e(row[2])}</td>' if help_column else ""
        cells.append(f"<tr><th>{_e(row[0])}</th><td><code>{_e(_value(row[1]))}</code></td>{extra}</tr>")
    return "<table>\n" + "\n".join(cells) + "\n</table>"


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str | None:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else None


def _steps(steps: Sequence[int]) -> str:
    return ", ".join(map(str, steps)) if len(steps) <= 12 else f"{len(steps)} steps, {steps[0]} to {steps[-1]}"


def _files(directory: pathlib.Path) -> str:
    present = [name for name in ("trace.json", "arrays.npz") if (directory / name).is_file()]
    if not present:
        return ""
    links = " and ".join(f'<a href="{_e(name)}">{_e(name)}</a>' for name in present)
    return (f"<h2>The data</h2>\n<p>The snapshots behind these figures are {links} in this folder (the "
            "lessons' reference, Trace format, describes them; <code>Trace.load(folder)</code> reads them back "
            "in Python). The loss of every step is also in the run record, the JSON file beside the result "
            "image.</p>")
