"""Tests for `explainer.images`: every bad input, every colour mode, round trips."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from explainer.images import (
    MIN_SIDE,
    ImageError,
    check_min_side,
    from_pil,
    load_image,
    resize_longest,
    resize_to,
    save_image,
    to_uint8,
)

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _message(error: pytest.ExceptionInfo[ImageError]) -> str:
    message = str(error.value)
    assert "\n" not in message, f"message is not one line: {message!r}"
    return message


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _write_png(path, width: int, height: int, *, bit_depth: int, colour_type: int, row: bytes) -> None:
    """Write a valid PNG by hand, every row the same: big images stay tiny.

    Pillow itself would need the whole (huge) image in memory to write one.
    """
    compressor = zlib.compressobj(9)
    scanline = b"\x00" + row  # filter type 0 (none)
    idat = b"".join(compressor.compress(scanline) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )


def _write_blank_bilevel_png(path, width: int, height: int) -> None:
    _write_png(path, width, height, bit_depth=1, colour_type=0, row=bytes((width + 7) // 8))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path, so messages can be compared with bare file names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STYLE_EXPLAINER_MAX_PIXELS", raising=False)
    return tmp_path


def _solid(mode: str, colour, size=(MIN_SIDE, MIN_SIDE)) -> Image.Image:
    return Image.new(mode, size, colour)


# --------------------------------------------------------------------------
# Bad input: one-line messages that name the file
# --------------------------------------------------------------------------


def test_missing_file(in_tmp):
    with pytest.raises(ImageError) as error:
        load_image("photo.jpg")
    assert _message(error) == "photo.jpg: no such file"


def test_directory(in_tmp):
    (in_tmp / "album").mkdir()
    with pytest.raises(ImageError) as error:
        load_image("album")
    assert _message(error) == "album: is a directory, not an image file"


def test_not_an_image(in_tmp):
    (in_tmp / "notes.jpg").write_text("shopping list: eggs, milk\n")
    with pytest.raises(ImageError) as error:
        load_image("notes.jpg")
    assert _message(error) == "notes.jpg: not an image file (Pillow cannot identify it)"


@pytest.mark.parametrize("name, image_format", [("broken.jpg", "JPEG"), ("broken.png", "PNG")])
def test_truncated(in_tmp, name, image_format):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(name, format=image_format)
    data = (in_tmp / name).read_bytes()
    (in_tmp / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as error:
        load_image(name)
    message = _message(error)
    assert message.startswith(f"{name}: image data is truncated or corrupt (")
    assert message.endswith(")")


def test_too_small(in_tmp):
    _solid("RGB", (1, 2, 3), size=(1, 1)).save("tiny.png")
    with pytest.raises(ImageError) as error:
        load_image("tiny.png")
    assert _message(error) == "tiny.png: image is 1x1 pixels; the network needs at least 16 px on each side"


def test_min_side_is_checked_after_resizing(in_tmp):
    _solid("RGB", (1, 2, 3), size=(64, 64)).save("small.png")
    with pytest.raises(ImageError) as error:
        load_image("small.png", max_side=8)
    assert _message(error) == "small.png: image is 8x8 pixels; the network needs at least 16 px on each side"
    # ...and an image too small on disk passes once upscaled.
    _solid("RGB", (1, 2, 3), size=(8, 4)).save("icon.png")
    assert load_image("icon.png", max_side=64).shape == (32, 64, 3)


def test_custom_min_side_names_width_then_height(in_tmp):
    _solid("RGB", (1, 2, 3), size=(40, 20)).save("wide.png")
    with pytest.raises(ImageError) as error:
        load_image("wide.png", min_side=32)
    assert _message(error) == "wide.png: image is 40x20 pixels; the network needs at least 32 px on each side"


def test_too_large_is_refused_from_the_header(in_tmp, monkeypatch):
    # 64 MP, over our 50 MP default but under Pillow's own bomb limits.
    _write_blank_bilevel_png(in_tmp / "big.png", 8000, 8000)
    assert (in_tmp / "big.png").stat().st_size < 100_000

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(ImageError) as error:
        load_image("big.png")
    assert _message(error) == (
        "big.png: image is 8000x8000 pixels (64.0 MP), over the limit of 50.0 MP; "
        "raise it with STYLE_EXPLAINER_MAX_PIXELS or max_pixels="
    )


def test_decompression_bomb_becomes_our_error(in_tmp):
    # 400 MP, far over Pillow's own limit: Image.open itself refuses, and
    # that refusal must come out as our message, not Pillow's exception.
    _write_blank_bilevel_png(in_tmp / "huge.png", 20000, 20000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail the test
        with pytest.raises(ImageError) as error:
            load_image("huge.png")
    message = _message(error)
    assert message.startswith("huge.png: image is 400.0 MP")
    assert "over the limit of 50.0 MP" in message
    assert message.endswith("raise it with STYLE_EXPLAINER_MAX_PIXELS or max_pixels=")


def test_pillow_bomb_limit_is_named_when_ours_is_higher(in_tmp, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    _solid("RGB", (1, 2, 3), size=(50, 50)).save("big.png")  # 2500 > 2 * 1000
    with pytest.raises(ImageError) as error:
        load_image("big.png")
    message = _message(error)
    assert message.startswith("big.png: image is 0.0025 MP (2500 pixels), over Pillow's")
    assert "MAX_IMAGE_PIXELS" in message


def test_pillow_bomb_warning_is_silenced(in_tmp, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    _solid("RGB", (1, 2, 3), size=(40, 40)).save("medium.png")  # 1600: Pillow warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load_image("medium.png")
    assert image.shape == (40, 40, 3)
    assert caught == []


def test_pixel_limit_from_env_and_argument(in_tmp, monkeypatch):
    _solid("RGB", (1, 2, 3), size=(40, 40)).save("photo.png")
    monkeypatch.setenv("STYLE_EXPLAINER_MAX_PIXELS", "1000")
    with pytest.raises(ImageError) as error:
        load_image("photo.png")
    assert _message(error) == (
        "photo.png: image is 40x40 pixels (0.0016 MP), over the limit of 0.001 MP; "
        "raise it with STYLE_EXPLAINER_MAX_PIXELS or max_pixels="
    )
    assert load_image("photo.png", max_pixels=1600).shape == (40, 40, 3)
    monkeypatch.setenv("STYLE_EXPLAINER_MAX_PIXELS", "1e4")
    assert load_image("photo.png").shape == (40, 40, 3)


def test_bad_pixel_limit_env_var(in_tmp, monkeypatch):
    _solid("RGB", (1, 2, 3), size=(16, 16)).save("photo.png")
    monkeypatch.setenv("STYLE_EXPLAINER_MAX_PIXELS", "lots")
    with pytest.raises(ImageError) as error:
        load_image("photo.png")
    assert _message(error).startswith("STYLE_EXPLAINER_MAX_PIXELS: must be a positive number")


class _Decoding(Exception):
    """Raised instead of decoding pixels: the image got past every header check."""


@pytest.mark.parametrize(
    "width, height, refused",
    [(14041, 3561, True), (10000, 5000, False), (7070, 7070, False)],  # 50,000,001; exactly 50 MP; just under
)
def test_default_limit(in_tmp, monkeypatch, width, height, refused):
    # Blank 1-bit PNGs of a few kB; decoding is replaced, so no 600 MB array is ever made.
    _write_blank_bilevel_png(in_tmp / "big.png", width, height)

    def decoding(self, *args, **kwargs):
        raise _Decoding

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoding)
    monkeypatch.setattr(Image.Image, "load", decoding)
    if not refused:
        with pytest.raises(_Decoding):
            load_image("big.png")
        return
    with pytest.raises(ImageError) as error:
        load_image("big.png")
    assert _message(error) == (
        "big.png: image is 14041x3561 pixels (50.0 MP), over the limit of 50.0 MP; "
        "raise it with STYLE_EXPLAINER_MAX_PIXELS or max_pixels="
    )


def test_check_min_side_accepts_shapes():
    check_min_side((16, 16, 3), 16)
    with pytest.raises(ImageError) as error:
        check_min_side((15, 300), 16, name="style")
    assert _message(error) == "style: image is 300x15 pixels; the network needs at least 16 px on each side"
    with pytest.raises(ImageError):
        check_min_side(np.zeros((20, 10, 3)), 16)


# --------------------------------------------------------------------------
# Round trips and saving
# --------------------------------------------------------------------------


def test_png_round_trip_is_exact(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    path = save_image(pixels.astype(np.float32) / 255.0, tmp_path / "out.png")
    assert path == tmp_path / "out.png"
    loaded = load_image(path, min_side=1)
    assert loaded.dtype == np.float32 and loaded.shape == (17, 23, 3)
    np.testing.assert_array_equal(to_uint8(loaded), pixels)


def test_webp_lossless_and_tiff_round_trips(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.webp", lossless=True)
    Image.fromarray(pixels).save(tmp_path / "a.tif")
    for name in ("a.webp", "a.tif"):
        np.testing.assert_array_equal(to_uint8(load_image(tmp_path / name)), pixels)


def test_save_clips_rounds_and_picks_format_by_extension(tmp_path):
    image = np.array([[[-0.5, 0.5, 1.5], [0.2 / 255, 0.6 / 255, np.nan]]], np.float32)
    path = save_image(image, tmp_path / "nested" / "dir" / "out")  # no suffix: PNG
    assert path == tmp_path / "nested" / "dir" / "out.png"
    with Image.open(path) as saved:
        assert saved.format == "PNG"
        np.testing.assert_array_equal(np.asarray(saved), [[[0, 128, 255], [0, 1, 0]]])

    jpeg = save_image(np.full((16, 16, 3), 0.5), tmp_path / "out.jpg")
    with Image.open(jpeg) as saved:
        assert saved.format == "JPEG"


def test_save_is_atomic_and_overwrites(tmp_path):
    save_image(np.zeros((16, 16, 3)), tmp_path / "out.png")
    save_image(np.ones((16, 16, 3)), tmp_path / "out.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp files left
    assert load_image(tmp_path / "out.png").min() == 1.0


def test_save_unknown_extension(tmp_path):
    with pytest.raises(ImageError) as error:
        save_image(np.zeros((16, 16, 3)), tmp_path / "out.xyz")
    assert "unknown image format '.xyz'" in _message(error)
    assert not list(tmp_path.iterdir())


def test_to_uint8():
    values = np.array([-1.0, 0.0, 0.499 / 255, 0.501 / 255, 1.0, 2.0, np.nan], np.float32)
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 0, 1, 255, 255, 0])
    assert to_uint8(values).dtype == np.uint8


# --------------------------------------------------------------------------
# Colour modes: expected values worked out by hand, not by Pillow
# --------------------------------------------------------------------------


def _load_saved(tmp_path, image: Image.Image, name: str, **save_options) -> np.ndarray:
    image.save(tmp_path / name, **save_options)
    loaded = load_image(tmp_path / name)
    assert loaded.dtype == np.float32 and loaded.shape[-1] == 3
    assert 0.0 <= loaded.min() and loaded.max() <= 1.0
    return loaded


def test_rgba_is_composited_over_white(tmp_path):
    loaded = _load_saved(tmp_path, _solid("RGBA", (255, 0, 0, 128)), "a.png")
    alpha = 128 / 255
    expected = [1.0, 1.0 - alpha, 1.0 - alpha]  # 0 * a + 1 * (1 - a) = 127/255
    np.testing.assert_allclose(loaded[0, 0], expected, atol=1e-6)
    assert tuple(to_uint8(loaded[0, 0])) == (255, 127, 127)


def test_greyscale_with_alpha(tmp_path):
    loaded = _load_saved(tmp_path, _solid("LA", (0, 0)), "clear.png")
    np.testing.assert_allclose(loaded, 1.0)  # fully transparent -> white
    loaded = _load_saved(tmp_path, _solid("LA", (100, 255)), "opaque.png")
    np.testing.assert_allclose(loaded, 100 / 255, atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.paste(1, (0, 0, 8, 16))  # left half index 1, right half index 0
    plain = _load_saved(tmp_path, image, "plain.png")
    np.testing.assert_allclose(plain[0, 0], np.array([200, 100, 50]) / 255, atol=1e-6)
    np.testing.assert_allclose(plain[0, 15], np.array([10, 20, 30]) / 255, atol=1e-6)

    clear = _load_saved(tmp_path, image, "clear.png", transparency=0)
    np.testing.assert_allclose(clear[0, 0], np.array([200, 100, 50]) / 255, atol=1e-6)
    np.testing.assert_allclose(clear[0, 15], 1.0)  # index 0 is transparent


def test_rgba_gif_style_palette_transparency(tmp_path):
    image = Image.new("P", (16, 16), 3)
    image.putpalette([0, 0, 0] * 3 + [0, 255, 0] + [0] * 756)
    loaded = _load_saved(tmp_path, image, "a.gif", transparency=3)
    np.testing.assert_allclose(loaded, 1.0)


@pytest.mark.parametrize("mode, value, expected", [("L", 51, 0.2), ("1", 1, 1.0), ("1", 0, 0.0)])
def test_greyscale_is_replicated(tmp_path, mode, value, expected):
    loaded = _load_saved(tmp_path, _solid(mode, value), "grey.png")
    np.testing.assert_allclose(loaded, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["grey16.png", "grey16.tif"])
def test_16_bit_greyscale_keeps_its_precision(tmp_path, name):
    values = np.full((16, 16), 16384, np.uint16)  # 65535 * 0.25, rounded
    values[0, 0] = 1000  # < 1 in 8 bits: survives only if not clipped to 8 bits
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    loaded = _load_saved(tmp_path, image, name)
    np.testing.assert_allclose(loaded[1, 1], 0.25, atol=1e-4)
    np.testing.assert_allclose(loaded[0, 0], 1000 / 65535, atol=1e-6)


def test_32_bit_integer_is_read_as_16_bit_data(tmp_path):
    image = Image.fromarray(np.full((16, 16), 32768, np.int32))
    assert image.mode == "I"
    np.testing.assert_allclose(_load_saved(tmp_path, image, "int.tif"), 32768 / 65535, atol=1e-6)


def test_16_bit_colour_png_loads(tmp_path):
    # Pillow decodes 16-bit RGB PNG to 8 bits per channel; we get those.
    _write_png(
        tmp_path / "rgb16.png", 16, 16, bit_depth=16, colour_type=2, row=bytes([0x80, 0x80, 0, 0, 0xFF, 0xFF] * 16)
    )
    loaded = load_image(tmp_path / "rgb16.png")
    np.testing.assert_allclose(loaded[0, 0], [128 / 255, 0.0, 1.0], atol=1 / 255)


@pytest.mark.parametrize("peak, scale", [(0.75, 1.0), (200.0, 255.0), (30000.0, 65535.0)])
def test_float_mode_white_level(tmp_path, peak, scale):
    values = np.zeros((16, 16), np.float32)
    values[0, 0] = peak
    loaded = _load_saved(tmp_path, Image.fromarray(values), "float.tif")
    np.testing.assert_allclose(loaded[0, 0], peak / scale, atol=1e-6)
    np.testing.assert_allclose(loaded[1, 1], 0.0)


def test_cmyk_cyan(tmp_path):
    loaded = _load_saved(tmp_path, _solid("CMYK", (255, 0, 0, 0)), "cyan.tif")
    np.testing.assert_allclose(loaded[0, 0], [0.0, 1.0, 1.0], atol=1e-6)


def test_from_pil_leaves_rgb_alone():
    pixels = np.random.default_rng(2).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_allclose(from_pil(Image.fromarray(pixels)), pixels / 255, atol=1e-7)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((40, 20, 3), np.uint8)  # portrait on disk: 20 wide, 40 tall
    pixels[:5] = 255  # a white band along the top edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "phone.jpg")
    assert loaded.shape == (20, 40, 3)
    # The top band of the stored image ends up on the right when upright.
    assert loaded[:, -3:].mean() > 0.9 and loaded[:, :30].mean() < 0.1


# --------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, side, expected",
    [
        ((30, 60, 3), 100, (50, 100, 3)),  # up
        ((60, 30, 3), 20, (20, 10, 3)),  # down, portrait
        ((50, 50, 3), 17, (17, 17, 3)),
        ((1, 1000, 3), 10, (1, 10, 3)),  # the short side never reaches 0
        ((333, 500, 3), 512, (341, 512, 3)),
    ],
)
def test_resize_longest(shape, side, expected):
    resized = resize_longest(np.full(shape, 0.3, np.float32), side)
    assert resized.shape == expected and resized.dtype == np.float32
    np.testing.assert_allclose(resized, 0.3, atol=1e-5)  # a flat image stays flat


def test_resize_keeps_range_and_detail():
    checker = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.float32)
    image = np.repeat(checker[..., None], 3, axis=-1)
    up = resize_to(image, 70, 50)
    assert up.shape == (70, 50, 3)
    assert up.min() >= 0.0 and up.max() <= 1.0  # Lanczos overshoot clipped
    down = resize_longest(image, 8)
    np.testing.assert_allclose(down.mean(), 0.5, atol=0.05)  # antialiased, not aliased


def test_load_with_max_side(tmp_path):
    Image.new("RGB", (80, 40), (0, 0, 255)).save(tmp_path / "wide.png")
    loaded = load_image(tmp_path / "wide.png", max_side=32)
    assert loaded.shape == (16, 32, 3)
    np.testing.assert_allclose(loaded[8, 16], [0, 0, 1], atol=1e-5)
