"""The `paper` preset and the style layer balance: a setting whose value fills other settings' defaults."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from explainer import settings
from explainer.cli import build_parser
from explainer.compare import DEFAULT_RATIOS, RATIO_SWEEP_DEFAULTS, paper_alpha_beta, ratio_sweep
from explainer.config import (
    PAPER_SETTINGS,
    RECONSTRUCT_DEFAULTS,
    ConfigError,
    StyleConfig,
    balanced_weights,
    layer_channels,
)


def test_the_paper_preset_sets_the_papers_set_up():
    config = StyleConfig(preset="paper")
    assert (config.pooling, config.init, config.optimizer) == ("avg", "noise", "lbfgs")
    assert config.style_layer_balance == "paper" and config.style_layer_weights is None
    # the paper's w_l = 1/5 in its normalisation is N_l^2 / 20 in ours (lesson 4: ours = paper * 4 / N_l^2)
    _, style = config.layer_weights()
    assert [w for _, w in style] == pytest.approx([w * config.style_weight for w in (204.8, 819.2, 3276.8, 13107.2,
                                                                                      13107.2)])
    assert all(getattr(config, name) == value for name, value in PAPER_SETTINGS)


def test_settings_given_with_the_preset_win_everywhere():
    direct = StyleConfig(preset="paper", optimizer="adam", size=256)
    replaced = StyleConfig(size=256).replace(preset="paper", optimizer="adam")
    assert direct == replaced and direct.optimizer == "adam" and direct.pooling == "avg"
    # a setting given equal to the plain default still wins over the preset
    assert StyleConfig(preset="paper", init="content").init == "content"
    # replace() of a preset config keeps what was set, without filling again
    assert dataclasses.replace(direct, size=128).optimizer == "adam"
    assert direct.replace(iterations=5).optimizer == "adam"
    # "none" fills nothing; the record reads back as it was
    assert StyleConfig(preset="none") == StyleConfig()
    assert StyleConfig.from_dict(direct.to_dict()) == direct


def test_the_command_line_preset_then_the_flags_given():
    parser = build_parser()
    args = parser.parse_args(["stylize", "c.png", "s.png", "-o", "o.png", "--preset", "paper", "--pooling", "max"])
    config = settings.from_args(args, StyleConfig())
    assert config == StyleConfig(preset="paper", pooling="max")
    assert settings.to_flags(config) == ["--preset", "paper", "--pooling", "max"]  # copy-as-CLI: preset first
    assert settings.to_flags(StyleConfig(preset="paper")) == ["--preset", "paper"]


def test_help_and_reference_say_what_the_preset_sets():
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, StyleConfig)
    text = "".join(parser.format_help().split())  # argparse wraps lines, also inside flags
    assert "papersets--poolingavg--initnoise--optimizerlbfgs--style-layer-balancepaper" in text
    table = settings.markdown_table(StyleConfig)
    assert "`paper` sets `--pooling avg --init noise --optimizer lbfgs --style-layer-balance paper" in table


def test_balance_rule_per_layer_set():
    assert balanced_weights(("relu1_1", "relu2_1"), "equal") == (1.0, 1.0)
    assert balanced_weights(("relu1_1", "relu5_1"), "paper") == (64**2 / 8, 512**2 / 8)
    assert [layer_channels(n) for n in ("conv1_2", "relu3_1", "pool4", "relu5_1")] == [64, 256, 512, 512]
    with pytest.raises(ConfigError, match="not a VGG layer"):
        layer_channels("fc7x")
    # any style layers work with the preset: the balance is a rule, not five numbers
    config = StyleConfig(preset="paper", style_layers=("relu1_1", "relu3_1"))
    assert config.layer_weights()[1] == (("relu1_1", 64**2 / 8), ("relu3_1", 256**2 / 8))


def test_reconstruct_and_the_ratio_sweep_start_from_the_preset():
    for defaults in (RECONSTRUCT_DEFAULTS, RATIO_SWEEP_DEFAULTS):
        assert defaults.preset == "paper" and defaults.pooling == "avg" and defaults.style_layer_balance == "paper"
    variants, layout, rows, _ = ratio_sweep(DEFAULT_RATIOS, [("relu1_1",), ("relu1_1", "relu2_1")], 1.0,
                                                  balance="paper")
    assert layout == (2, len(DEFAULT_RATIOS))
    assert all(v.overrides["style_layer_weights"] is None for v in variants)  # the rule weighs each row 1/n
    assert rows[1].endswith("w_l = 1/2")


def test_paper_alpha_beta_at_the_sweeps_size():
    # the bundled photo at 128 px is 128 x 109; relu4_2 is 16 x 13 x 512
    assert paper_alpha_beta(1.0, (128, 109), "relu4_2") == pytest.approx(2 / (16 * 13 * 512))
    assert [paper_alpha_beta(r, (128, 109)) for r in DEFAULT_RATIOS] == pytest.approx(
        [9.39e-5, 9.39e-4, 9.39e-3, 9.39e-2], rel=2e-3)


def test_the_explorers_preset_sets_its_widgets():
    pytest.importorskip("gradio")
    from explainer.app.stylize_tab import PRESET_FILLED, preset_values

    values = dict(zip(PRESET_FILLED, preset_values("paper")))
    assert (values["pooling"], values["init"], values["optimizer"]) == ("avg", "noise", "lbfgs")
    assert values["style_layer_balance"] == "paper" and values["tv_weight"] == -7.0  # the log slider's "off"
    assert values["content_weight"] == pytest.approx(2.947, abs=1e-3)  # log10(885)
    assert all(not isinstance(v, str) for v in preset_values("none"))  # none leaves every widget alone
