"""Figures: the right panels with the right labels (no pixel comparisons)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from backends import get_backend
from explainer import StyleConfig, figures, stylize
from explainer.record import RecordSpec, Trace

CONFIG = StyleConfig(
    weights="random", size=32, iterations=5, print_every=0,
    content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1"), style_layer_weights=(1.0, 0.5),
)
STYLE_LAYERS = ["relu1_1", "relu2_1"]
TERMS = ["content/relu3_1", "style/relu1_1", "style/relu2_1", "tv"]


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    content, style = rng.random((24, 32, 3)).astype(np.float32), rng.random((32, 32, 3)).astype(np.float32)
    return stylize(content, style, CONFIG, backend=get_backend("vgg16", weights="random"), progress=False,
                   log=lambda m: None, record=RecordSpec(every=2, top_k=4))


@pytest.fixture(scope="module")
def trace(result):
    return result.trace


def image_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.images]


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in image_axes(fig)]


def assert_provenance(fig: Figure):
    _, provenance = fig.get_suptitle().split("\n")  # the title, then one short line
    assert provenance == "vgg16 (max pooling) · random weights (seed 0)", fig.get_suptitle()


def test_trace_is_what_the_tests_assume(trace):
    assert trace.iterations == [1, 3, 5]
    assert trace.layers == ["relu3_1", "relu1_1", "relu2_1"]


def test_provenance_is_one_short_line(trace):
    assert figures._provenance(trace) == "vgg16 (max pooling) · random weights (seed 0)"
    # the weights' long description stays in the JSON files, out of the figures
    bare = {"network": {"name": "vgg19", "pooling": "avg"}, "weights": {"name": "hed", "description": "HED edges"}}
    assert figures._provenance(bare) == "vgg19 (avg pooling) · hed weights"
    assert figures._provenance({"config": CONFIG.to_dict()}) == "vgg19 (max pooling) · random weights"
    # records and traces before version 2 said "backend" where they now say "network"
    old = {"backend": {"name": "vgg16", "pooling": "avg"}, "weights": {"name": "hed", "description": "HED edges"}}
    assert figures._provenance(old) == "vgg16 (avg pooling) · hed weights"
    old_config = {k: v for k, v in CONFIG.to_dict().items() if k != "network"} | {"backend": "vgg16"}
    assert figures._provenance({"config": old_config}) == "vgg16 (max pooling) · random weights"


@pytest.mark.parametrize("max_channels, shown", [(16, 4), (3, 3)])
def test_feature_maps_one_panel_per_kept_channel(trace, max_channels, shown):
    fig = figures.feature_maps(trace, 3, "relu2_1", max_channels=max_channels)
    assert isinstance(fig, Figure)
    _, channels = trace.activations(3, "relu2_1")
    energy = trace.channel_stats(3, "relu2_1")["energy"]
    assert len(image_axes(fig)) == shown
    for title, ch in zip(titles(fig), channels[:shown]):
        assert title.startswith(f"ch {ch}\n")
        assert f"{energy[ch]:.3g}" in title
    assert fig.get_suptitle().startswith("relu2_1 activations at step 3")
    assert_provenance(fig)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"] == ["activation"]
    assert len(fig.axes) == shown + 1  # no empty grid cells left behind


def test_gram_comparison_panels_scales_and_loss(trace):
    fig = figures.gram_comparison(trace, 5, "relu1_1")
    axes = image_axes(fig)
    assert len(axes) == 4
    assert [t.split("\n")[0] for t in titles(fig)] == ["content image", "style target", "result at step 5",
                                                      "result - style target"]
    assert all("relu1_1" in t for t in titles(fig))
    norms = [ax.images[0].norm for ax in axes]
    assert len({(n.vmin, n.vmax) for n in norms[:3]}) == 1  # one shared scale
    assert norms[3].vmin == pytest.approx(-norms[3].vmax)  # centred at 0
    np.testing.assert_allclose(axes[3].images[0].get_array(),
                               trace.gram(5, "relu1_1") - trace.target_gram("relu1_1"), rtol=1e-6)
    loss = trace.losses(5)["terms"]["style"]["relu1_1"]
    assert f"weighted style loss {loss:.4g}" in fig.get_suptitle()
    assert "(weight 100)" in fig.get_suptitle()
    assert_provenance(fig)
    assert "(weight 50)" in figures.gram_comparison(trace, 5, "relu2_1").get_suptitle()


def test_gram_comparison_of_a_content_only_layer_names_the_style_layers(trace):
    with pytest.raises(ValueError, match=re.escape(str(STYLE_LAYERS))):
        figures.gram_comparison(trace, 5, "relu3_1")


@pytest.mark.parametrize("log", [True, False])
def test_loss_curves_legend_is_the_layers_with_weights(result, log):
    fig = figures.loss_curves(result.record["history"], kind="style", log=log, config=CONFIG)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["relu1_1 (x100)", "relu2_1 (x50)", "total style"]
    assert ax.get_yscale() == ("log" if log else "linear")
    total = ax.get_lines()[-1]
    history = result.record["history"]
    np.testing.assert_allclose(total.get_xdata(), [h["iteration"] for h in history])
    np.testing.assert_allclose(total.get_ydata(), [sum(h["style"].values()) for h in history], rtol=1e-6)
    assert "vgg19" in fig.get_suptitle()  # from the config: the history alone does not name the network


def test_loss_curves_all_terms_from_a_run_record(result):
    fig = figures.loss_curves(result.record, kind="all")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [label.split(" ")[0] for label in labels[:-1]] == TERMS
    assert labels[-1] == "total loss"
    np.testing.assert_allclose(ax.get_lines()[-1].get_ydata(), [h["loss"] for h in result.record["history"]])
    assert_provenance(fig)


def test_loss_curves_content_without_config_has_bare_layer_names(result, trace):
    fig = figures.loss_curves(result.record["history"], kind="content")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["relu3_1", "total content"]
    fig = figures.loss_curves(trace, kind="style")  # a trace: its recorded steps only
    np.testing.assert_array_equal(fig.axes[0].get_lines()[-1].get_xdata(), trace.iterations)


def test_loss_curves_bad_arguments(result):
    with pytest.raises(ValueError, match="style.*content.*all"):
        figures.loss_curves(result.record["history"], kind="gram")
    with pytest.raises(ValueError, match="empty"):
        figures.loss_curves([])


def test_contribution_bars_are_the_shares_of_the_total(trace):
    for iteration in trace.iterations:
        fig = figures.contribution_bars(trace, iteration)
        (ax,) = fig.axes
        assert [t.get_text() for t in ax.get_yticklabels()] == TERMS
        terms = trace.losses(iteration)["terms"]
        values = [terms["content"]["relu3_1"], terms["style"]["relu1_1"], terms["style"]["relu2_1"], terms["tv"]]
        expected = 100 * np.array(values) / sum(values)
        widths = [patch.get_width() for patch in ax.patches]
        np.testing.assert_allclose(widths, expected, rtol=1e-6)
        assert sum(widths) == pytest.approx(100)
        bar_texts = [t.get_text() for t in ax.texts]
        assert bar_texts[0].startswith(f"{expected[0]:.1f}%") and "weight 5" in bar_texts[0]
        assert f"step {iteration}" in fig.get_suptitle()
        assert_provenance(fig)


@pytest.mark.parametrize("shared", [False, True])
def test_gradient_maps_image_then_one_panel_per_term(trace, shared):
    fig = figures.gradient_maps(trace, 5, shared=shared)
    names = titles(fig)
    assert names[0] == "image at step 5"
    assert [t.split("\n")[0] for t in names[1:]] == TERMS
    assert ("one shared colour scale" if shared else "own colour scale") in fig.get_suptitle()
    assert len(fig.axes) == len(names) + len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"])
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == (1 if shared else len(TERMS))
    assert_provenance(fig)


def test_gradient_maps_of_a_trace_without_gradients(trace):
    bare = Trace(trace.manifest, {k: v for k, v in trace.arrays.items() if "/gradient/" not in k})
    with pytest.raises(ValueError, match="gradients=True"):
        figures.gradient_maps(bare, 5)


def test_gradient_maps_at_a_snapshot_without_them_name_the_steps_with_them(trace):
    # every=2 over 5 steps: snapshots 1, 3, 5; maps every 4th step and at the last
    with pytest.raises(ValueError, match=re.escape("no gradient maps at step 3; they were taken at steps 1, 5")):
        figures.gradient_maps(trace, 3)


def test_progression_strip_with_step_numbers(trace):
    fig = figures.progression(trace)
    assert [t.split("\n")[0] for t in titles(fig)] == ["step 1", "step 3", "step 5"]
    assert_provenance(fig)
    fig = figures.progression(trace, [5, 1])
    assert [t.split("\n")[0] for t in titles(fig)] == ["step 5", "step 1"]
    with pytest.raises(ValueError, match="recorded"):
        figures.progression(trace, [])


def test_channel_stats_two_panels(trace):
    fig = figures.channel_stats(trace, 1, "relu2_1")
    assert len(fig.axes) == 2
    assert all(ax.get_title().startswith("relu2_1") for ax in fig.axes)
    assert len(fig.axes[0].containers[0]) == len(trace.channel_stats(1, "relu2_1")["energy"])  # one bar each
    assert_provenance(fig)


def test_channel_stats_says_what_dead_means(trace):
    stats = trace.channel_stats(1, "relu2_1")
    dead = int(np.sum(stats["max"] <= 0))
    stats_with_dead = trace.arrays["iter1/stats/relu2_1"].copy()
    stats_with_dead[-3:] = 0.0  # three channels that never fire
    arrays = {**trace.arrays, "iter1/stats/relu2_1": stats_with_dead}
    for t, n in ((trace, dead), (Trace(trace.manifest, arrays), int(np.sum(stats_with_dead[:, 2] <= 0)))):
        fig = figures.channel_stats(t, 1, "relu2_1")
        assert f"{n} dead" in fig.axes[0].get_title()
        if n:
            legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
            assert legend == [f"{n} dead: never fire on this image (max activation <= 0)"]


def test_an_inspection_is_not_at_a_step(trace):
    manifest = {**trace.manifest, "kind": "inspect", "image": "/home/me/photos/portrait.jpg",
                "snapshots": [{"iteration": 1, "scale": 0, "gradients": False}]}
    inspected = Trace(manifest, trace.arrays)
    for fig in (figures.feature_maps(inspected, 1, "relu2_1"), figures.channel_stats(inspected, 1, "relu2_1"),
                figures.gram_heatmap(inspected, 1, "relu2_1")):
        title = fig.get_suptitle().split("\n")[0]
        assert "step" not in title and title.startswith("relu2_1 ") and "of portrait.jpg" in title, title
    unnamed = Trace({**manifest, "image": "array(32, 32, 3)"}, trace.arrays)
    assert "of the inspected image" in figures.feature_maps(unnamed, 1, "relu2_1").get_suptitle()


CALLS = {
    "feature_maps": lambda t, it, layer: figures.feature_maps(t, it, layer),
    "gram_comparison": lambda t, it, layer: figures.gram_comparison(t, it, layer),
    "channel_stats": lambda t, it, layer: figures.channel_stats(t, it, layer),
    "contribution_bars": lambda t, it, layer: figures.contribution_bars(t, it),
    "gradient_maps": lambda t, it, layer: figures.gradient_maps(t, it),
    "progression": lambda t, it, layer: figures.progression(t, [it]),
}


@pytest.mark.parametrize("name", CALLS)
def test_unrecorded_iteration_names_the_recorded_ones(trace, name):
    with pytest.raises(KeyError, match=re.escape("recorded iterations: [1, 3, 5]")):
        CALLS[name](trace, 2, "relu1_1")


@pytest.mark.parametrize("name", ["feature_maps", "gram_comparison", "channel_stats"])
def test_unknown_layer_names_the_recorded_ones(trace, name):
    with pytest.raises(KeyError, match=re.escape("['relu3_1', 'relu1_1', 'relu2_1']")):
        CALLS[name](trace, 1, "relu9_9")


def test_feature_maps_rejects_zero_channels(trace):
    with pytest.raises(ValueError, match="max_channels"):
        figures.feature_maps(trace, 1, "relu1_1", max_channels=0)


def test_save_writes_a_png_and_keeps_the_figure(trace, tmp_path):
    fig = figures.progression(trace)
    path = figures.save(fig, tmp_path / "nested" / "dir" / "strip.png", dpi=50)
    assert path == tmp_path / "nested" / "dir" / "strip.png"
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 0
    # no extension: PNG; and the figure is still usable after a save
    again = figures.save(fig, tmp_path / "again", dpi=50)
    assert again.suffix == ".png"
    with Image.open(again) as im:
        assert im.format == "PNG"


def test_figures_stay_out_of_pyplot_and_work_in_threads(trace):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    with ThreadPoolExecutor(4) as pool:
        figs = list(pool.map(lambda layer: figures.feature_maps(trace, 1, layer), trace.layers))
    assert [f.get_suptitle().split(" ")[0] for f in figs] == trace.layers
    assert plt.get_fignums() == before


def test_a_zero_gradient_map_says_so_rather_than_showing_a_flat_colour(backend, images):
    from explainer import StyleConfig, stylize
    from explainer.record import RecordSpec

    content, style = images
    config = StyleConfig(weights="random", size=32, iterations=2, content_layers=("relu2_1",),
                         style_layers=("relu1_1",), init="content", print_every=0)
    result = stylize(content, style, config, backend=backend, record=RecordSpec(every=1), progress=False,
                     log=lambda m: None)
    assert not result.trace.gradient_maps(1)["content/relu2_1"].any()  # at a content start the content term is 0
    figure = figures.gradient_maps(result.trace, 1)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert "no push here:\nthis term is zero\nat this step" in texts


def test_every_figure_is_importable_from_explainer_figures():
    """The figures live in modules of one idea each; `explainer.figures` still offers every one of them."""
    from explainer import figures_activations, figures_base, figures_loss

    assert set(figures_loss.__all__) | set(figures_activations.__all__) <= set(figures.__all__)
    for name in figures.__all__:
        home = next(m for m in (figures_loss, figures_activations, figures_base) if hasattr(m, name))
        assert getattr(figures, name) is getattr(home, name), name
    assert figures.provenance_line is figures._provenance is figures_base._provenance
    assert figures.SEQUENTIAL == figures_base.SEQUENTIAL
