"""The method interface: a method is one module and one registration; every front door finds it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from explainer import registry, settings
from explainer.cli import build_parser, main
from explainer.config import StyleConfig
from explainer.errors import ConfigError
from explainer.methods import Method, MethodBase, Request, Run


class _Inverting(MethodBase):
    """A toy method: each step moves the image halfway to the content's negative."""

    name = "toy"
    summary = "move halfway to the negative, each step (a test's toy)"
    presets = (("iterations", 3),)

    def check(self, config, content_shape, style_shapes, name="the content image"):
        if config.size > 64:
            raise ConfigError(f"--method toy: --size {config.size} is over this toy's 64 px")

    def network_key(self, config):
        return ("none",)

    def load_network(self, config, log):
        return _NoNetwork()

    def network_name(self, network):
        return "no network"

    def prepare(self, request: Request) -> Run:
        return _ToyRun(request, self.load_network(request.config, request.log))


class _NoNetwork:
    def provenance(self) -> dict:
        return {"network": {"name": "none"}, "weights": {"source": "none"}}

    def describe(self, with_path: bool = True) -> str:
        return "no network"


@dataclasses.dataclass
class _ToyRun:
    request: Request
    network: object

    @property
    def steps(self) -> int:
        return self.request.config.iterations

    def events(self):
        from explainer.events import Event

        image, target = self.request.content, 1.0 - self.request.content
        for step in range(1, self.steps + 1):
            image = (image + target) / 2
            yield Event(iteration=step, scale=0, loss=float(np.abs(image - target).mean()), terms={}, image=image)

    def finish(self, latest):
        return (latest.image if latest is not None else self.request.content), {"toy": True}

    def trace(self, header):
        return None


@pytest.fixture
def toy():
    method = registry.register(_Inverting())
    yield method
    registry.unregister(method.name)


def test_the_built_in_methods_are_registered_in_order_and_satisfy_the_protocol():
    assert registry.names()[:3] == ("gatys", "fast", "photo")
    for name in ("gatys", "fast", "photo"):
        assert isinstance(registry.get(name), Method)


def test_an_unknown_method_is_refused_in_one_line_naming_the_others():
    with pytest.raises(ConfigError, match=r"method must be one of gatys, fast, photo, not 'nope'"):
        StyleConfig(method="nope")
    with pytest.raises(ConfigError, match=r"^no method 'nope'; methods: gatys, fast, photo$"):
        registry.get("nope")


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(type("Other", (MethodBase,), {"name": "gatys", "summary": "x"})())


def test_a_registered_method_is_a_setting_value_with_its_presets(toy):
    config = StyleConfig(method="toy")
    assert config.iterations == 3  # what choosing it sets
    assert StyleConfig(method="toy", iterations=5).iterations == 5  # a setting given with it wins
    assert StyleConfig(method="photo").optimizer == "lbfgs"


def test_a_registered_method_is_in_the_command_line_and_its_help(toy, capsys):
    parser = build_parser()
    args = parser.parse_args(["stylize", "c.png", "s.png", "-o", "o.png", "--method", "toy"])
    assert settings.from_args(args, StyleConfig()).method == "toy"
    with pytest.raises(SystemExit):
        parser.parse_args(["stylize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "toy: move halfway to the negative, each step (a test's toy)" in text
    assert "gatys: optimise the image" in text


def test_a_registered_method_is_in_the_settings_reference(toy):
    table = settings.markdown_table(StyleConfig, ["method"])
    assert "`toy`" in table and "move halfway to the negative" in table


def test_a_registered_method_is_in_the_explorers_method_choice(toy):
    pytest.importorskip("gradio")
    from explainer.app.options import AppOptions
    from explainer.app.widgets import make_widget

    item = settings.settings_of(StyleConfig, names=["method"])[0]
    widget = make_widget(item, "gatys", AppOptions())
    assert [choice[1] if isinstance(choice, tuple) else choice for choice in widget.choices] == list(registry.names())
    assert "toy" in registry.names()


def test_stylize_runs_a_registered_method_through_the_one_loop(toy):
    from explainer import stylize

    content = np.full((8, 8, 3), 0.25, np.float32)
    events = []
    result = stylize(content, [content], StyleConfig(method="toy", size=16), progress=False, on_step=events.append,
                     log=lambda message: None)
    # three halvings of the distance to 0.75: 0.25 -> 0.5 -> 0.625 -> 0.6875
    np.testing.assert_allclose(result.image, 0.6875)
    assert [e.iteration for e in events] == [1, 2, 3]
    assert result.record["iterations_done"] == 3 and result.record["toy"] is True
    assert result.record["network"] == {"name": "none"}
    assert [round(h["loss"], 4) for h in result.record["history"]] == [0.25, 0.125, 0.0625]


def test_a_method_refuses_over_budget_before_any_work(toy, capsys, tmp_path):
    from explainer.images import save_image

    save_image(np.zeros((8, 8, 3), np.float32), tmp_path / "c.png")
    code = main(["stylize", str(tmp_path / "c.png"), str(tmp_path / "c.png"), "-o", str(tmp_path / "o.png"),
                 "--method", "toy", "--size", "128"])
    assert code != 0
    err = capsys.readouterr().err
    assert "--method toy: --size 128 is over this toy's 64 px" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_a_method_without_video_or_folders_refuses_them_in_one_line(toy, tmp_path):
    from explainer.video import VideoConfig, stylize_video

    (tmp_path / "frames").mkdir()
    with pytest.raises(ConfigError, match=r"video --method toy: this method makes no video \(methods that do: "
                                          r"gatys, fast\)"):
        registry.get("toy").frames(VideoConfig(method="toy"), [], None, print)
    with pytest.raises(ConfigError, match=r"--method toy stylises one image: give an image file, not a folder "
                                          r"\(methods that take folders: fast\)"):
        registry.get("toy").stylize_folder(str(tmp_path / "frames"), [], StyleConfig(method="toy"), tmp_path, False)
    assert callable(stylize_video)


def test_a_run_stops_when_asked_and_keeps_the_latest_image(toy):
    from explainer import stylize

    content = np.full((16, 16, 3), 0.25, np.float32)
    events = []
    result = stylize(content, [content], StyleConfig(method="toy", size=16, iterations=5), progress=False,
                     on_step=events.append, stop=lambda: len(events) >= 2, log=lambda message: None)
    assert result.record["interrupted"] is True and result.record["iterations_done"] == 2
    np.testing.assert_allclose(result.image, 0.625)  # the second step's image: 0.25 -> 0.5 -> 0.625
