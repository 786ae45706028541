"""The explorer's handlers (plain functions, no browser) and one end-to-end run through gradio_client."""

from __future__ import annotations

import itertools
import json
import logging
import pathlib
import re
import socket
import threading
import warnings
import zipfile

import jax
import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the explorer needs the ui extra: pip install 'style-explainer[ui]'")

from explainer import app, samples
from explainer.app import state, widgets
from explainer.config import ConfigError, StyleConfig
from explainer.images import load_image, save_image
from explainer.optimize import loss_spec, make_stepper
from explainer.runner import stylize_command
from explainer.settings import setting

# Random weights, tiny images and shallow layers: every run here compiles fast
# and they all share one backend and one compiled step.
FAST = {
    "weights": "random", "content_layers": ["relu2_1"], "style_layers": ["relu1_1", "relu2_1"], "style_layer_weights": "1, 1",
    "size": 32, "iterations": 7, "preview_every": 3, "record_every": 3,
}


@pytest.fixture()
def pair():
    return str(samples.sample_path("grace_hopper")), str(samples.sample_path("swirl"))


def run_all(content, style, values, **kwargs) -> list[tuple]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a gr.Warning outside Gradio is a UserWarning: none expected here
        return list(app.stylize_stream(content, style, values, **kwargs))


def previews(outputs: list[tuple]) -> list[tuple]:
    return [o for o in outputs if isinstance(o[0], np.ndarray)]


def as_saved(shown: np.ndarray, saved: np.ndarray) -> np.ndarray:
    """A preview the page enlarged by whole pixels, back at the saved file's size, in [0, 1]."""
    factor = shown.shape[0] // saved.shape[0]
    assert shown.shape[:2] == (saved.shape[0] * factor, saved.shape[1] * factor)
    return shown[::factor, ::factor] / np.float32(255.0)


def plotted_steps(figure) -> int:
    return len(figure.axes[0].lines[0].get_xdata())


def setting_named(name: str):
    return next(item for item in app.explorer_settings() if item.name == name)


# ----------------------------------------------------------------------------- settings


def test_widget_values_become_settings():
    config, record, live = app.settings_from_values({
        "weights": "random", "content_layers": ["relu4_2"], "style_layers": ["relu3_1", "relu1_1"],
        "style_layer_weights": "2, 0.5", "content_weight": 1, "style_weight": 3, "tv_weight": -2, "size": 64,
        "iterations": 10, "seed": 3, "record_every": 5, "record_gradients": False, "preview_every": 2,
    })
    assert config.style_layers == ("relu1_1", "relu3_1")  # network order, whatever the click order
    assert config.style_layer_weights == (2.0, 0.5)
    assert (config.content_weight, config.style_weight, config.tv_weight) == (10.0, 1000.0, 0.01)
    assert (config.size, config.iterations, config.seed) == (64, 10, 3)
    assert (record.every, record.gradients, live.preview_every) == (5, False, 2)
    # The widgets' defaults are the library's defaults: the command line says nothing extra.
    default = app.settings_from_values({"weights": "random"})[0]
    assert default == StyleConfig(weights="random", size=256, iterations=200)
    assert app.settings_from_values({"tv_weight": -7.0})[0].tv_weight == 0.0
    assert widgets.weight_label(setting_named("style_weight"), 2) == "style weight = 100  (log scale)"
    assert widgets.weight_label(setting_named("tv_weight"), -7.0).startswith("tv weight = off")
    # Every value a widget starts from round-trips to the setting it came from.
    start = app.default_values(app.AppOptions())
    for item in app.explorer_settings():
        value = widgets.to_setting_value(item, start[widgets.key(item)])
        assert widgets.to_widget_value(item, value) == start[widgets.key(item)], item.name


@pytest.mark.parametrize("changes, message", [
    ({"style_layer_weights": "-1, 1, 1, 1, 1"}, "style_layer_weights must be >= 0, not -1"),
    ({"style_layer_weights": "one, two"}, "style_layer_weights: 'one, two' is not numbers separated by commas"),
    ({"style_layer_weights": "1, 1"}, "has 2 values for 5 layers"),
    ({"content_layers": [], "style_layers": []}, "at least one content or style layer"),
    ({"seed": 1.5}, "seed: '1.5' is not a whole number"),
    ({"size": 4096}, "size 4096 is more than the explorer runs (1024)"),
    ({"weights": "/etc/hosts"}, "weights must be one of auto, vgg19, vgg16, hed, random here"),
])
def test_bad_settings_are_config_errors(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        app.settings_from_values(changes)


def test_cli_command_is_the_stylize_command_line(pair):
    content, style = pair
    options = app.AppOptions(default_weights="random")
    values = app.default_values(options)
    line = app.cli_command(content, style, values, options)
    config = app.settings_from_values(values, options)[0]
    assert line == stylize_command(config, "sample:grace_hopper", ["sample:swirl"], "stylized.png")
    assert line == ("style-explainer stylize sample:grace_hopper sample:swirl -o stylized.png --weights random "
                    "--size 256 --iterations 200")
    assert app.cli_command(content, style, {**values, "style_layer_weights": "-3, 1, 1, 1, 1"}).startswith(
        "# style_layer_weights must be >= 0")


def test_a_new_setting_is_one_edit(pair):
    """A field declared on a config class shows up in --help, the explorer's widgets, copy-as-CLI and variants."""
    import argparse
    import dataclasses

    from explainer import settings

    @dataclasses.dataclass(frozen=True)
    class Blurred(StyleConfig):
        blur: float = setting(0.0, group="output", kind="float", minimum=0, unit="px", metavar="PX",
                              help="blur the result by this radius", widget="number")

    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, Blurred)
    assert "--blur PX" in parser.format_help() and "blur the result by this radius" in parser.format_help()
    assert settings.from_args(parser.parse_args(["--blur", "1.5"]), Blurred()).blur == 1.5
    assert "blur" in [item.name for item in app.explorer_settings(Blurred)]
    chosen = {"weights_choices": ("random",), "default_weights": "random", "defaults": Blurred(size=64)}
    options = app.AppOptions(**chosen)
    demo = app.build_app(**chosen)
    labels = [getattr(block, "label", None) for block in demo.blocks.values()]
    assert "Blur (px)" in labels
    assert "Iterations (steps)" in labels and "Steps" in labels  # the Train tab's: no "Steps (steps)"
    assert not [label for label in labels if label and "(steps)" in label and label.startswith("Steps")]
    assert app.settings_from_values({"blur": 2}, options)[0].blur == 2.0
    assert "--blur 2" in app.cli_command(*pair, {"blur": 2}, options)
    assert "blur" in app.variant_settings(options)
    assert settings.parse_assignments("blur=3", Blurred) == {"blur": 3.0}


def test_layer_pickers_follow_the_network():
    content, style, inspect_layer = app.layer_choices("vgg16", "random", False, ["relu4_2"], ["relu1_1", "relu3_4"])
    assert "relu3_4" not in content["choices"] and all(n.startswith("relu") for n in content["choices"])
    assert style["value"] == ["relu1_1"]  # vgg16 has no relu3_4
    assert inspect_layer["value"] == "relu3_1"
    # HED weights are a VGG16 whatever the network dropdown says.
    assert app.network_arch("vgg19", "hed") == "vgg16"
    every, _, _ = app.layer_choices("vgg19", "random", True, [], [])
    assert "conv1_1" in every["choices"] and "pool5" in every["choices"]
    update = app.sync_layer_weights(["relu2_1", "relu1_1"], "2, 3, 4", "vgg19", "random")
    assert update["value"] == "" and update["label"].startswith("Style layer weights, in order: relu1_1, relu2_1")
    assert app.sync_layer_weights(["relu1_1", "relu2_1"], "2, 3", "vgg19", "random")["value"] == "2, 3"


def test_parse_variants():
    variants = app.parse_variants("# comment\nshallow: style_layers=relu1_1,relu2_1\n\nstyle_weight=1000")
    assert [v.label for v in variants] == ["shallow", "style_weight=1000"]
    assert variants[0].overrides == {"style_layers": ("relu1_1", "relu2_1")}
    assert variants[1].overrides == {"style_weight": 1000.0}
    with pytest.raises(ConfigError, match="2 to 4 variants"):
        app.parse_variants("style_weight=1")
    with pytest.raises(ConfigError, match="variant 1: give setting=value pairs .* the settings among method, "):
        app.parse_variants("a: colour=keep\nb: style_weight=1")
    # Settings the explorer does not show (files, outputs) are not variants either.
    with pytest.raises(ConfigError, match="variant 2: give setting=value pairs"):
        app.parse_variants("a: style_weight=1\nb: save_every=1")
    with pytest.raises(ConfigError, match="variant 1: colors must be one of none, keep, match here"):
        app.parse_variants("a: colors=blue\nb: style_weight=1")
    with pytest.raises(ConfigError, match="variant 2: seed: 'x' is not a whole number"):
        app.parse_variants("a: style_weight=1\nb: seed=x")


def test_compare_never_reads_a_server_file_nor_runs_beyond_the_limits(pair, tmp_path):
    secret = save_image(np.full((40, 40, 3), 0.5, np.float32), tmp_path / "secret.png")
    for text, message in [
        (f"a: init={secret}\nb: style_weight=1", "init must be one of content, noise, style here"),
        (f"a: weights={tmp_path / 'vgg.h5'}\nb: style_weight=1", "weights must be one of"),
        ("a: size=100000\nb: style_weight=1", "size 100000 is more than the explorer runs (1024)"),
        ("a: iterations=1000000\nb: style_weight=1", "iterations 1000000 is more than the explorer runs (2000)"),
        ("a: scales=8\nb: style_weight=1", "scales 8 is more than the explorer runs (4)"),
    ]:
        with pytest.warns(UserWarning):
            figure, table, status = app.compare_view(*pair, text, 32, 2, FAST)
        assert figure is None and table["data"] == [] and message in status, status
        assert str(tmp_path) not in status, "the message names the server path"


# ----------------------------------------------------------------------------- stylize


def test_stream_previews_growing_history_then_result_and_trace(pair):
    outputs = run_all(*pair, FAST)
    # Status lines first (loading, compiling), with the command line already there.
    assert not isinstance(outputs[0][0], np.ndarray) and outputs[0][2].startswith("Loading vgg19 with random weights")
    assert all(o[3].startswith("style-explainer stylize sample:grace_hopper sample:swirl") for o in outputs)
    live, final = previews(outputs)[:-1], outputs[-1]
    assert live, "no preview before the end"
    steps = [plotted_steps(o[1]) for o in live]
    assert steps[0] == 1 and steps == sorted(steps) and len(set(steps)) == len(steps)
    # A preview comes at the first step, whenever a multiple of preview_every has passed, and at the last.
    assert steps[-1] == 7
    for before, after in itertools.pairwise(steps[:-1]):
        assert after // FAST["preview_every"] > before // FAST["preview_every"]
    for image, figure, status, *_ in live:
        # The page enlarges small previews by whole pixels (nearest neighbour): 32x27 is shown 12 times larger.
        assert image.dtype == np.uint8 and image.shape == (384, 324, 3)
        assert f"Step {plotted_steps(figure)} of 7" in status
        assert "first preview after" in status
    assert all(o[4] is None for o in outputs[:-1])

    image, figure, status, _, files, trace_dir = final
    assert "**Finished** 7 of 7 steps" in status and plotted_steps(figure) == 7
    png, record_path, archive = map(pathlib.Path, files)
    assert np.array_equal(load_image(png), as_saved(image, load_image(png)))
    record = json.loads(record_path.read_text())
    assert record["iterations_done"] == 7 and not record["interrupted"]
    assert record["config"]["style_layers"] == ["relu1_1", "relu2_1"] and record["weights"]["name"] == "random"
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["stylized.json", "trace/arrays.npz", "trace/trace.json"]
    trace = json.loads((pathlib.Path(trace_dir) / "trace.json").read_text())
    assert [s["iteration"] for s in trace["snapshots"]] == [1, 4, 7]

    # ... which the Inspect tab reads back at any recorded step.
    slider = app.trace_steps(trace_dir)
    assert (slider["minimum"], slider["maximum"], slider["value"]) == (1, 7, 7)
    bars, gradients, gram, note = app.trace_view(trace_dir, 5, "relu2_1")
    assert note.startswith("Step **4**")
    # maps are taken at every other snapshot (1 and 7 here): the nearest is shown, and said
    assert "gradient maps are from step **1** (taken at 1, 7)" in note
    assert "gradient maps are from" not in app.trace_view(trace_dir, 7, "relu2_1")[3]
    assert bars is not None and gradients is not None and gram is not None
    assert app.trace_view(trace_dir, 1, "relu4_2")[2] is None
    assert app.trace_view(None, 1, "relu2_1") == (None, None, None, "Run a stylization first: its trace shows up here.")


def test_stop_ends_the_run_early_and_keeps_the_latest_image(pair):
    outputs, shown = [], 0
    stream = app.stylize_stream(*pair, {**FAST, "iterations": 2000, "preview_every": 1}, session="stop-test")
    for out in stream:
        outputs.append(out)
        if isinstance(out[0], np.ndarray):
            shown += 1
            if shown == 3:
                assert app.request_stop("stop-test")
    image, _, status, _, files, trace_dir = outputs[-1]
    assert status.count("**Stopped** after") == 1
    record = json.loads(pathlib.Path(files[1]).read_text())
    assert record["interrupted"] and 3 <= record["iterations_done"] < 100
    assert np.array_equal(load_image(files[0]), as_saved(image, load_image(files[0])))
    assert not np.array_equal(image, previews(outputs)[0][0])  # it did move on from the first step
    assert not app.request_stop("stop-test"), "the finished run still has a stop flag"
    assert trace_dir and files[2].endswith(".zip")


def test_closing_the_stream_stops_its_run(pair):
    stream = app.stylize_stream(*pair, {**FAST, "iterations": 2000, "preview_every": 1}, session="close-test")
    while not isinstance(next(stream)[0], np.ndarray):
        pass
    stream.close()  # what Gradio does when the page goes away
    assert not [t for t in threading.enumerate() if t.name == "style-explainer-run-close-test"]


def test_user_errors_become_messages_not_exceptions(pair, tmp_path):
    content, style = pair
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    cases = [
        ({"content": str(not_an_image)}, "content (notes.png)"),
        ({"content": None}, "content: no image"),
        ({"style_layer_weights": "-1, 1"}, "style_layer_weights must be >= 0"),
        ({"style_layers": ["relu1_1", "relu9_9"]}, "vgg19 has no layer relu9_9"),
        ({"weights": str(tmp_path / "missing.h5")}, "weights must be one of"),
        ({"max_side": 100}, "larger than the explorer takes (100 px on a side)"),
    ]
    for change, message in cases:
        args = {**FAST, "content": content, "style": style, **change}
        paths = args.pop("content"), args.pop("style")
        extra = {"max_side": args.pop("max_side")} if "max_side" in args else {}
        with pytest.warns(UserWarning) as shown:  # gr.Warning, outside a Gradio event
            outputs = list(app.stylize_stream(*paths, args, **extra))
        status = outputs[-1][2]
        assert status.startswith("**Error:**") and message in status, (change, status)
        assert message in str(shown[-1].message)
        assert str(tmp_path) not in status, "server paths leak"
        assert all(not isinstance(o[0], np.ndarray) for o in outputs)


def test_the_last_preview_is_the_saved_result_with_kept_colours(pair):
    outputs = run_all(*pair, {**FAST, "colors": "keep", "iterations": 3, "preview_every": 1})
    last_preview, final = previews(outputs)[-2], outputs[-1]
    assert "Step 3 of 3" in last_preview[2]
    assert np.array_equal(last_preview[0], final[0])
    assert np.array_equal(load_image(final[4][0]), as_saved(last_preview[0], load_image(final[4][0])))


def test_warm_up_compiles_what_the_first_run_needs(pair, caplog):
    options = app.AppOptions(
        weights_choices=("random",), default_weights="random",
        defaults=StyleConfig(weights="random", content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                             size=32, iterations=4),
    )
    app.warm_up(options, background=False)
    assert state.WARM_UP["error"] is None and state.WARM_UP["seconds"] is not None
    backend = state.cached_backend(options.defaults)
    stepper = make_stepper(backend, loss_spec(options.defaults))
    compiled = stepper.compiled_count()
    assert compiled == 3, "the warm-up compiles the plain step and both recorded steps"
    values = app.default_values(options)
    # Every step recorded, maps at every other one: both snapshot programs are
    # needed. The run happens in a worker thread, where jax.log_compiles()
    # (thread-local) would not reach: switch the flag process-wide.
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            outputs = run_all(samples.sample_path("grace_hopper"), samples.sample_path("swirl"),
                              {**values, "iterations": 5, "record_every": 1}, options=options)
    finally:
        jax.config.update("jax_log_compiles", False)
    assert "**Finished** 5 of 5" in outputs[-1][2]
    assert stepper.compiled_count() == compiled, "the run compiled its step again"
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling")]
    assert not messages, messages


# ----------------------------------------------------------------------------- inspect


def test_inspect_view_shows_channels_gram_and_stats(pair):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gallery, gram, stats, rows, status = app.inspect_view(pair[1], "relu2_1", {"weights": "random", "size": 32})
    assert len(gallery) == 16
    picture, caption = gallery[0]
    assert picture.dtype == np.uint8 and picture.shape[2] == 3 and min(picture.shape[:2]) >= 160
    assert caption.startswith("channel ") and "energy" in caption
    assert gram is not None and stats is not None
    assert [r[0] for r in rows][:3] == ["relu1_1", "relu1_2", "relu2_1"]
    assert "relu2_1: 16x16 px, 128 channels" in status and "random" in status


def test_inspect_errors_are_messages(pair, tmp_path):
    big = save_image(np.zeros((40, 300, 3), np.float32), tmp_path / "wide.png")
    for args, message in [
        ((None, "relu2_1"), "no image to inspect"),
        ((pair[0], "relu9_9"), "has no layer 'relu9_9'"),
        ((str(big), "relu2_1"), "wide.png"),
    ]:
        with pytest.warns(UserWarning):
            gallery, gram, _, _, status = app.inspect_view(*args, {"weights": "random", "size": 32}, max_side=200)
        assert gallery == [] and gram is None and status.startswith("**Error:**") and message in status


# ----------------------------------------------------------------------------- app


def test_build_app_builds_with_options():
    demo = app.build_app(weights_choices=("random", "hed"), default_weights="random", max_size=512)
    assert isinstance(demo, gr.Blocks)
    endpoints = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"stylize", "stop", "inspect", "compare"} <= endpoints
    assert demo._queue.max_size == app.MAX_QUEUE
    with pytest.raises(ValueError, match="default_weights"):
        app.build_app(weights_choices=("hed",), default_weights="random")


def test_every_tabs_sliders_are_their_declared_settings():
    """The Video and Compare tabs' sliders are made from the settings' declarations: a range the tab does not
    narrow on purpose (`TAB_SETTINGS`) is the declared one, and none is wider than the command line allows."""
    from explainer.app import compare_tab, video_tab
    from explainer.config import OptimisationSettings, VideoSettings
    from explainer.settings import settings_of

    budget = {"size": 512, "iterations": 300}
    demo = app.build_app(weights_choices=("random",), default_weights="random", max_size=budget["size"],
                         max_iterations=budget["iterations"])
    sliders = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Slider) and b.elem_id}
    declared = {item.name: item for cls in (VideoSettings, OptimisationSettings) for item in settings_of(cls)}

    blend = sliders["video-temporal-blend"]  # once a hand-made slider that stopped at 0.9
    assert (blend.minimum, blend.maximum) == (declared["temporal_blend"].minimum, declared["temporal_blend"].maximum)
    assert blend.maximum == 0.95 and blend.value == video_tab.TAB_DEFAULTS["temporal_blend"]
    frames, size = sliders["video-max-frames"], sliders["video-size"]
    assert (frames.minimum, frames.maximum) == (2, video_tab.MAX_FRAMES) and frames.minimum >= declared["max_frames"].minimum
    assert (size.minimum, size.maximum, size.step) == (64, video_tab.MAX_SIDE, declared["size"].options["step"])
    model = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "video-model")
    assert [c[1] for c in model.choices] == list(settings_of(StyleConfig, names=["model"])[0].options["choices"])

    # Compare: the declared size and iterations, up to the explorer's budget like the Stylize tab's.
    for name in ("size", "iterations"):
        slider, item = sliders[f"compare-{name}"], declared[name]
        assert (slider.minimum, slider.maximum, slider.step) == (item.options["min"], budget[name], item.options["step"])
        assert slider.maximum == sliders[name].maximum  # the Stylize tab's own slider
        assert slider.value == compare_tab.TAB_DEFAULTS[name]

    # Every slider a tab narrows stays within its declaration.
    for prefix, tab in (("video-", video_tab), ("compare-", compare_tab)):
        for name, item in tab.TAB_SETTINGS.items():
            slider = sliders.get(prefix + name.replace("_", "-"))
            if slider is None:
                continue
            low, high = declared[name].minimum, declared[name].maximum
            assert low is None or slider.minimum >= low, name
            assert high is None or slider.maximum <= high, name


def test_a_tab_may_narrow_a_setting_never_widen_it():
    from explainer.config import FastSettings, OptimisationSettings, VideoSettings

    narrowed = widgets.tab_setting(VideoSettings, "max_frames", widget="slider", min=2, max=48)
    assert widgets.widget_range(narrowed) == (2, 48) and narrowed.widget == "slider"
    assert widgets.widget_range(widgets.tab_setting(VideoSettings, "temporal_blend", widget="slider")) == (0, 0.95)
    with pytest.raises(ValueError, match="above the declared 0.95"):
        widgets.tab_setting(VideoSettings, "temporal_blend", widget="slider", max=0.99)
    with pytest.raises(ValueError, match="below the declared 16"):
        widgets.tab_setting(OptimisationSettings, "size", min=8)
    with pytest.raises(ValueError, match="without a widget"):
        widgets.tab_setting(VideoSettings, "max_frames")
    with pytest.raises(ValueError, match="not declared"):
        widgets.tab_setting(FastSettings, "model", choices=("arbitrary", "multistyle:99"))
    with pytest.raises(ValueError, match="may change only"):
        widgets.tab_setting(FastSettings, "style_strength", default=0.5)


def test_launch_settings_bind_locally_with_limits():
    kwargs = app.launch_kwargs()
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False
    assert kwargs["max_file_size"] == app.MAX_UPLOAD and kwargs["show_error"] is False
    assert kwargs["allowed_paths"] == [str(samples.sample_path("swirl").parent)]
    assert app.launch_kwargs("0.0.0.0", 8000, True)["share"] is True
    lessons = pathlib.Path(__file__).parents[1] / "lessons"
    for key, link in app.LESSON_LINKS.items():  # every "Learn" link names a page of the lessons site
        assert (lessons / f"{link.rstrip('/')}.md").is_file(), (key, link)


def widget_values(**changes) -> list:
    """The Stylize widgets' values in the order the /stylize endpoint takes them."""
    values = {**app.default_values(app.AppOptions(default_weights="random")), **FAST, **changes}
    from explainer.settings import GROUPS

    items = app.explorer_settings()
    ordered = [item for group in GROUPS for item in items if item.group == group]  # the page's order: by group
    return [values[widgets.key(item)] for item in ordered] + [None, None]  # then the two region-mask uploads


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def served():
    demo = app.build_app(weights_choices=("random",), default_weights="random")
    port = free_port()
    demo.launch(**app.launch_kwargs("127.0.0.1", port), prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.mark.slow
def test_end_to_end_through_gradio_client(served, pair, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(served, verbose=False)
    values = widget_values(iterations=4)
    job = client.submit(handle_file(pair[0]), handle_file(pair[1]), *values, api_name="/stylize")
    image, plot, status, command, files = job.result(timeout=240)
    assert "**Finished** 4 of 4" in status and plot["type"] == "matplotlib"
    assert load_image(image).shape == (384, 324, 3)  # the preview, enlarged by whole pixels for the page
    assert command.startswith("style-explainer stylize sample:grace_hopper sample:swirl -o stylized.png")
    archive = next(f for f in files if f.endswith(".zip"))
    with zipfile.ZipFile(archive) as bundle:
        manifest = json.loads(bundle.read("trace/trace.json"))
    assert manifest["weights"]["name"] == "random" and manifest["snapshots"][-1]["iteration"] == 4
    assert len(job.outputs()) >= 3  # the stream: status lines, previews, the result

    # User errors come back as messages, not as app errors.
    bad = widget_values(iterations=4, style_layer_weights="-1, 1")
    result = client.predict(handle_file(pair[0]), handle_file(pair[1]), *bad, api_name="/stylize")
    assert result[2].startswith("**Error:** style_layer_weights must be >= 0")
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    result = client.predict(handle_file(str(broken)), handle_file(pair[1]), *values, api_name="/stylize")
    assert result[2] == "**Error:** content (broken.png): not an image file (Pillow cannot identify it)"
    # Only the offered weights: no reading a file the server happens to have.
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(handle_file(pair[0]), handle_file(pair[1]), *widget_values(weights="/etc/hosts"),
                       api_name="/stylize")

    gallery, *_, status = client.predict(handle_file(pair[1]), "relu1_1", "vgg19", "random", "max", 32, 0,
                                         api_name="/inspect")
    assert len(gallery) == 16 and "relu1_1" in status
    client.predict(api_name="/stop")  # nothing running: a no-op


@pytest.mark.slow
def test_stop_button_stops_a_queued_run_through_the_server(served, pair):
    import time

    from gradio_client import Client, handle_file

    client = Client(served, verbose=False)
    job = client.submit(handle_file(pair[0]), handle_file(pair[1]), *widget_values(iterations=2000, preview_every=1),
                        api_name="/stylize")
    deadline = time.monotonic() + 180
    while not any(isinstance(o, tuple) and "Step " in o[2] for o in job.outputs()):
        assert time.monotonic() < deadline and not job.done(), "no preview came"
        time.sleep(0.1)
    client.predict(api_name="/stop")  # the same session: it stops this run, though the run holds the queue
    image, _, status, _, files = job.result(timeout=60)
    assert "**Stopped** after" in status and load_image(image).shape == (384, 324, 3)
    record = json.loads(pathlib.Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert record["interrupted"] and record["iterations_done"] < 2000


def test_a_cancelled_compare_stops_computing(pair):
    import time

    text = "a: style_layers=relu1_1\nb: style_layers=relu2_1"
    stream = app.compare_stream(*pair, text, 32, 2000, FAST, session="compare-close")
    steps = [status for _, _, status in itertools.islice(stream, 3)]
    assert steps[-1].startswith("Variant 1 of 2 (a) · step 3 of 2000"), steps
    start = time.monotonic()
    stream.close()  # what Gradio does when the job is cancelled or the page goes away
    assert time.monotonic() - start < 10, "closing waited for the run instead of stopping it"
    assert not [t for t in threading.enumerate() if t.name == "style-explainer-compare-compare-close"]
    # Stop does the same, and says so.
    stream = app.compare_stream(*pair, text, 32, 2000, FAST, session="compare-stop")
    next(stream)
    assert app.request_stop("compare-stop")
    figure, table, status = list(stream)[-1]
    assert figure is None and table["data"] == [] and status == "**Stopped** before the variants finished."


@pytest.mark.slow
def test_compare_view_runs_variants_side_by_side(pair):
    figure, table, status = app.compare_view(
        *pair, "shallow: style_layers=relu1_1\ndeeper: style_layers=relu2_1; style_weight=1000", 32, 3, FAST
    )
    assert [row[0] for row in table["data"]] == ["shallow", "deeper"]
    assert table["headers"][:6] == ["label", "overrides", "loss", "content", "style", "tv"]
    assert table["headers"][-1] == "time_s"
    assert len(figure.axes) == 2 and "2 variants, 32 px, 3 steps each" in status
    with pytest.warns(UserWarning):
        _, empty, message = app.compare_view(*pair, "only one: style_weight=1", 32, 3, FAST)
    assert empty["data"] == [] and "2 to 4 variants" in message


def test_with_auto_weights_the_page_offers_the_network_that_runs(pair, monkeypatch, backend):
    """Where ImageNet VGG19 cannot be had, `auto` runs HED's VGG16: the page shows and offers that network."""
    loaded = []

    def resolved(config):  # auto -> a VGG16 (random weights here: HED's layout without the download)
        loaded.append(config.weights)
        return backend if config.weights in ("auto", "random") else state._cached_backend(
            config.network, config.weights, config.pooling, 0)

    monkeypatch.setattr(state, "cached_backend", resolved)
    demo = app.build_app(weights_choices=("auto", "random"), default_weights="auto")
    pickers = [block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "style-layers"]
    offered = [choice[0] if isinstance(choice, tuple) else choice for choice in pickers[0].choices]
    assert offered == list(widgets.relu_layers("vgg16"))
    network = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "network")
    assert network.value == "vgg16" and "auto" in loaded
    status = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "network-status")
    assert status.value.startswith("**Runs:** vgg16 (max pooling), weights: random")
    # Inspect with the page's defaults works on that network.
    values = app.default_values(app.AppOptions(weights_choices=("auto", "random"), default_weights="auto"),
                                resolve=True)
    gallery, *_, message = app.inspect_view(pair[1], "relu3_1", {**values, "size": 32},
                                                  options=app.AppOptions(weights_choices=("auto", "random"),
                                                                         default_weights="auto"))
    assert len(gallery) == 16 and "vgg16" in message, message
    # Choosing another network re-offers its layers.
    _, style, _ = app.layer_choices("vgg19", "auto", False, ["relu4_2"], ["relu3_4"])
    assert style["value"] == [] and "relu3_4" not in style["choices"]


def test_the_explorer_serves_the_built_lessons(tmp_path, monkeypatch):
    import urllib.request

    site = tmp_path / "site"
    (site / "04-style").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Lessons home</h1>")
    (site / "04-style" / "index.html").write_text("<h1>Style</h1>")
    monkeypatch.setenv("STYLE_EXPLAINER_LESSONS_DIR", str(site))
    from explainer.app import layout, options

    assert options.built_lessons() == site
    demo = app.build_app(weights_choices=("random",), default_weights="random", lessons_url=options.LESSONS_ROUTE)
    port = free_port()
    demo.launch(**app.launch_kwargs("127.0.0.1", port), prevent_thread_lock=True, quiet=True)
    try:
        layout.serve_lessons(demo, site)
        read = lambda path: urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read().decode()
        assert "Lessons home" in read("/lessons/")
        assert "Style" in read("/lessons/04-style/")  # where the Inspect tab's "Gram matrices" link points
        assert "style-explainer explorer" in read("/")
    finally:
        demo.close()
    monkeypatch.setenv("STYLE_EXPLAINER_LESSONS_DIR", str(tmp_path / "nothing"))
    assert options.built_lessons() is None


def test_the_stylize_tab_runs_the_fast_method_with_its_model_choice(pair, monkeypatch):
    from backends import get_styliser

    made = {kind: get_styliser(kind, weights="random") for kind in ("arbitrary", "multistyle")}
    monkeypatch.setattr(state, "cached_styliser", lambda kind, weights="pretrained": made[kind])
    outputs = run_all(*pair, {"method": "fast", "model": "multistyle:4", "size": 48})
    image, plot, status, command, files, trace_dir = outputs[-1]
    assert "**Finished** in" in status and "multistyle network" in status
    assert ".onnx" not in status and "cache" not in status  # no server paths on the page
    assert plot is None and trace_dir is None and len(files) == 2
    saved = load_image(files[0])
    np.testing.assert_allclose(as_saved(image, saved), saved, atol=1 / 255)
    record = json.loads(pathlib.Path(files[1]).read_text())
    assert record["config"]["model"] == "multistyle:4" and record["embedding"][4] == 1.0
    assert "--method fast" in command and "--model multistyle:4" in command


def test_a_network_trained_in_the_explorer_becomes_a_model_choice_of_stylize(pair, monkeypatch):
    from explainer.app import layout, state, train_tab

    folder = str(pathlib.Path(__file__).resolve().parents[1] / "lessons/assets/models/swirl-slim-128")
    monkeypatch.setattr(state, "_TRAINED", [("swirl, 96 px, 100 steps", folder)])
    assert train_tab.trained_models() == [("swirl, 96 px, 100 steps", folder)]
    update = layout.model_choices("arbitrary")  # the page names it, never by its folder
    assert update["choices"][0] == ("trained: swirl, 96 px, 100 steps", "trained:1") and update["value"] == "trained:1"
    assert "multistyle:25" in update["choices"] and folder not in str(update)
    *_, status, _command, files, _trace = run_all(*pair, {"method": "fast", "model": "trained:1", "size": 48})[-1]
    assert "**Finished** in" in status and "a network trained in this explorer" in status and folder not in status
    assert json.loads(pathlib.Path(files[1]).read_text())["config"]["model"] == folder
    # Its folder itself, sent by a page, is refused like any path.
    with pytest.warns(UserWarning):  # gr.Warning, outside a Gradio event
        *_, status, _command, _files, _trace = list(app.stylize_stream(*pair, {"method": "fast", "model": folder}))[-1]
    assert status.startswith("**Error:** model must be") and folder not in status


def test_every_handler_gets_the_request_gradio_fills_in():
    """Gradio passes a `gr.Request` only to a parameter annotated with it *before* any `*args` (the Train tab's
    Start once had it keyword-only after `*values`: a TypeError on the first click)."""
    import inspect

    import gradio as gr
    from gradio import utils

    demo = app.build_app(weights_choices=("random",), default_weights="random", styliser_weights="random")
    checked = 0
    for block_fn in demo.fns.values():
        if block_fn.fn is None:
            continue
        hints = utils.get_type_hints(block_fn.fn)
        positional = True
        for parameter in inspect.signature(block_fn.fn).parameters.values():
            positional &= parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            if hints.get(parameter.name) is gr.Request:
                assert positional, f"{block_fn.fn.__qualname__}: its gr.Request would never be filled in"
                checked += 1
    assert checked >= 5  # stylize, stop, compare, its stop, train, its stop, ...


def test_choosing_a_method_sets_what_it_presets_as_one_value_per_widget():
    """Found in Chromium: with one filled widget the handler returned a list, which Gradio took as the value."""
    from explainer.app.stylize_tab import method_values

    assert method_values("photo", ["optimizer"]) == "lbfgs"
    skip = method_values("gatys", ["optimizer"])
    assert isinstance(skip, dict) and skip.get("__type__") == "update"  # left alone
    assert method_values("photo", ["optimizer", "optimizer"]) == ["lbfgs", "lbfgs"]
