"""What a web user sends is an allow-list: no value names a server path, refusals read the same whether or not
the thing exists and name no path, and Gradio's own refusals reach the page as one readable line."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the explorer needs the ui extra: pip install 'style-explainer[ui]'")

from explainer import samples
from explainer.app import compare_tab, messages, widgets
from explainer.app.options import AppOptions
from explainer.config import ConfigError
from explainer.images import save_image

FAST = {"weights": "random", "content_layers": ["relu2_1"], "style_layers": ["relu1_1", "relu2_1"],
        "style_layer_weights": "1, 1"}
#: Every path-valued or choice-valued setting a variant could try to point at a server file.
PATH_SETTINGS = ["model", "method=fast; model", "weights", "init", "content_mask", "style_mask", "preset", "pooling"]


@pytest.fixture()
def server(tmp_path):
    """A file and a folder that exist on the server, and a path that does not."""
    folder = tmp_path / "secret-models"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    image = save_image(np.full((40, 40, 3), 0.5, np.float32), tmp_path / "secret.png")
    return {"folder": str(folder), "file": str(image), "missing": str(tmp_path / "no-such-thing")}


def _compare_status(spec: str) -> str:
    pair = str(samples.sample_path("grace_hopper")), str(samples.sample_path("swirl"))
    with pytest.warns(UserWarning):  # gr.Warning, outside a Gradio event
        figure, table, status = compare_tab.compare_view(*pair, f"a: {spec}\nb: style_weight=1", 32, 2, FAST)
    assert figure is None and table["data"] == []
    return status


@pytest.mark.parametrize("setting", PATH_SETTINGS)
def test_a_variant_naming_a_server_path_is_refused_the_same_whether_it_exists_or_not(setting, server):
    said = {kind: _compare_status(f"{setting}={server[kind]}") for kind in ("folder", "file", "missing")}
    assert len(set(said.values())) == 1, said  # nothing to learn about the server
    status = said["folder"]
    assert status.startswith("**Error:** variant 1: ")
    assert "/" not in status.removeprefix("**Error:** ") and "secret" not in status and "no-such" not in status


@pytest.mark.parametrize("value", ["folder", "file", "missing", "trained:1", "trained:99"])
def test_the_stylize_settings_take_no_model_path_nor_an_unknown_trained_name(value, server, monkeypatch):
    from explainer.app import state

    monkeypatch.setattr(state, "_TRAINED", [])  # none trained in this explorer
    with pytest.raises(ConfigError) as refused:
        widgets.settings_from_values({**FAST, "method": "fast", "model": server.get(value, value)})
    assert str(refused.value) == widgets.MODEL_REFUSAL


def test_only_built_in_models_and_networks_trained_here_are_choices(server, monkeypatch):
    from explainer.app import state

    monkeypatch.setattr(state, "_TRAINED", [("swirl", server["folder"])])
    assert widgets.model_folder("trained:1") == server["folder"]  # the page's name, the run's folder
    assert widgets.model_folder("multistyle:3=0.5,12=0.5") == "multistyle:3=0.5,12=0.5"
    for sent in (server["folder"], "trained:2", "multistyle:/etc", "../x"):  # its folder too: never a path
        with pytest.raises(ConfigError, match="^model must be"):
            widgets.model_folder(sent)
    assert compare_tab.parse_variants("a: method=fast; model=trained:1\nb: seed=1")[0].overrides["model"] == \
        server["folder"]
    # The trained folder passes the limits once named; a mask path never does.
    config = widgets.settings_from_values({**FAST, "method": "fast", "model": "trained:1"})[0]
    assert widgets.check_limits(config, AppOptions()).model == server["folder"]
    with pytest.raises(ConfigError, match="content_mask is set by uploading"):
        widgets.check_limits(config.replace(content_mask=server["file"]), AppOptions())


@pytest.mark.parametrize("name", ["holiday.mp4", "missing.mp4"])
def test_the_video_tabs_errors_name_the_upload_not_its_server_path(name, tmp_path):
    from backends import get_styliser
    from explainer.app.video_tab import stylise_clip

    upload = tmp_path / "gradio" / "3f2a9c" / name  # where Gradio keeps an upload
    upload.parent.mkdir(parents=True)
    if name == "holiday.mp4":
        upload.write_text("not a video")
    styliser = get_styliser("multistyle", weights="random")
    path, figure, line = stylise_clip(str(upload), "swirl", "multistyle:7", 0.6, 64, 4, styliser=styliser)
    assert (path, figure) == (None, None) and line.startswith(f"**Error:** {name}: ")
    assert str(tmp_path) not in line and "gradio" not in line


@pytest.mark.parametrize("model, style", [("/tmp", "swirl"), ("arbitrary", "/etc/passwd"), ("arbitrary", "../swirl")])
def test_the_video_tab_takes_only_its_choices(model, style):
    from explainer.app.video_tab import stylise_clip

    line = stylise_clip(None, style, model, 0.6, 64, 4)[2]
    assert line.startswith("**Error:** choose a network the tab offers") and "/etc" not in line


@pytest.mark.parametrize("text, shown", [
    ("no image at /tmp/gradio/3f2a/holiday.png", "no image at holiday.png"),
    ("cannot read '/srv/data/x/model.json': bad", "cannot read 'model.json': bad"),
    ("see https://example.org/a/b and 1/255, 12 images/s", "see https://example.org/a/b and 1/255, 12 images/s"),
    ("~/secret/key.pem", "key.pem"),
])
def test_messages_to_web_users_hide_server_paths(text, shown):
    assert messages.web_message(ConfigError(text)) == shown


def _guarded_demo():
    from explainer.errors import ImageError

    def echo(choice, number):
        if choice == "user error":
            raise ImageError("content (/srv/uploads/abc/photo.png): not an image")
        if choice == "bug":
            raise RuntimeError("/srv/app/secret.py line 3")
        return f"{choice} {number}"

    with gr.Blocks() as demo:
        choice = gr.Dropdown(["fine", "user error", "bug"], value="fine")
        number = gr.Number(1)
        out = gr.Textbox()
        choice.change(echo, [choice, number], out)
    return messages.guard_requests(demo)


@pytest.mark.parametrize("inputs, expected", [
    (["fine", 2], None),
    (["/etc/passwd", 2], "not in the list of choices"),  # a value Gradio refuses
    (["fine"], "the request was refused"),  # too few values: Gradio's request validation
    (["user error", 2], "content (photo.png): not an image"),  # a user error a handler let through
    (["bug", 2], "the explorer failed (RuntimeError)"),  # a bug: a readable line, the details in the log
])
def test_gradio_level_refusals_reach_the_page_as_one_readable_line(inputs, expected):
    from gradio.state_holder import SessionState
    from gradio.utils import error_payload

    demo = _guarded_demo()
    block_fn = next(iter(demo.fns.values()))
    run = demo.process_api(block_fn, inputs, state=SessionState(demo))
    if expected is None:
        assert asyncio.run(run)["data"] == ["fine 2"]
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(gr.Error) as refused:
            asyncio.run(run)
    shown = error_payload(refused.value, show_error=False)["error"]  # what the page gets with show_error=False
    assert shown and expected in shown and "\n" not in shown, shown
    assert "/etc" not in shown and "/srv" not in shown and "secret" not in shown


def test_the_explorer_guards_every_event():
    from explainer import app

    demo = app.build_app(weights_choices=("random",), default_weights="random", styliser_weights="random")
    assert demo._explorer_guarded and demo.preprocess_data.__name__ == "preprocess_data"
