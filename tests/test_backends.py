"""The Flax VGG against the NumPy reference, layer names, preprocessing, the conv VJP."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends import (
    UnknownLayerError,
    available_backends,
    caffe_deprocess,
    caffe_preprocess,
    downsampling,
    get_backend,
    layer_names,
    random_params,
    reference,
)


def test_layer_names_follow_the_literature():
    names = layer_names("vgg19")
    assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert names[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert sum(n.startswith("conv") for n in names) == 16
    assert sum(n.startswith("conv") for n in layer_names("vgg16")) == 13
    assert "conv3_4" in names and "conv3_4" not in layer_names("vgg16")


@pytest.mark.parametrize(("layer", "halvings"), [("conv1_1", 0), ("pool1", 1), ("relu4_2", 3), ("pool5", 5)])
def test_downsampling(layer, halvings):
    assert downsampling(layer) == halvings


def test_registry_lists_both_networks():
    assert {"vgg16", "vgg19"} <= set(available_backends())
    with pytest.raises(ValueError, match="unknown backend 'vgg11'"):
        get_backend("vgg11", weights="random")


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_flax_matches_numpy_reference_at_every_layer(arch, pooling):
    # Odd sizes exercise the floor of pooling: 36x44 -> 18x22 -> 9x11 -> 4x5 -> 2x2 -> 1x1.
    image = np.random.default_rng(1).random((36, 44, 3)).astype(np.float32)
    backend = get_backend(arch, weights="random", pooling=pooling, seed=3)
    names = backend.layer_names
    ours = backend.features(image, names)
    numpy_params = jax.tree.map(np.asarray, backend.params)
    expected = reference.features(numpy_params, image, names, arch=arch, pooling=pooling)
    assert set(ours) == set(names)
    for name in names:
        scale = np.abs(expected[name]).max()
        error = np.abs(np.asarray(ours[name], np.float64) - expected[name]).max() / scale
        assert ours[name].shape == expected[name].shape, name
        assert error <= 1e-4, f"{arch}/{pooling} {name}: relative max error {error:.2e}"


def test_forward_stops_after_the_deepest_requested_layer():
    backend = get_backend("vgg19", weights="random")
    only_block1 = {k: v for k, v in backend.params.items() if k.startswith("conv1_")}
    image = jnp.full((16, 16, 3), 0.5)
    out = backend.apply(only_block1, image, ("relu1_2",))  # would fail if it touched conv2_1
    assert list(out) == ["relu1_2"] and out["relu1_2"].shape == (16, 16, 64)


def test_batched_and_single_images_agree():
    backend = get_backend("vgg16", weights="random")
    images = np.random.default_rng(0).random((2, 20, 24, 3)).astype(np.float32)
    batched = backend.features(images, ["relu2_1"])["relu2_1"]
    single = backend.features(images[1], ["relu2_1"])["relu2_1"]
    assert batched.shape == (2, 10, 12, 128)
    np.testing.assert_allclose(batched[1], single, rtol=1e-5, atol=1e-5)


def test_unknown_layer_is_a_one_line_error_listing_valid_names():
    backend = get_backend("vgg16", weights="random")
    with pytest.raises(UnknownLayerError) as error:
        backend.check_layers(["relu4_2", "relu5_4"])
    assert "vgg16 has no layer relu5_4" in str(error.value)
    assert "relu5_3" in str(error.value) and "\n" not in str(error.value)


def test_caffe_preprocessing_golden_values_and_inverse():
    white_red = jnp.array([[[1.0, 0.0, 0.0]]])  # pure red
    x = caffe_preprocess(white_red)
    # BGR order: blue 0, green 0, red 255; minus (103.939, 116.779, 123.68)
    np.testing.assert_allclose(x[0, 0], [-103.939, -116.779, 255 - 123.68], rtol=1e-6)
    image = jnp.asarray(np.random.default_rng(0).random((4, 5, 3)), jnp.float32)
    np.testing.assert_allclose(caffe_deprocess(caffe_preprocess(image)), image, atol=1e-5)
    np.testing.assert_allclose(reference.preprocess(np.asarray(image)), caffe_preprocess(image), atol=1e-3)


def test_random_weights_are_seeded_and_he_scaled():
    a, b, c = random_params("vgg16", 0), random_params("vgg16", 0), random_params("vgg16", 1)
    np.testing.assert_array_equal(a["conv3_2"]["kernel"], b["conv3_2"]["kernel"])
    assert not np.array_equal(a["conv3_2"]["kernel"], c["conv3_2"]["kernel"])
    std = a["conv3_2"]["kernel"].std()
    assert abs(std - np.sqrt(2 / (9 * 256))) / std < 0.02
    assert not a["conv1_1"]["bias"].any()


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_pooling_gradient_matches_flax_windowed_pooling(pooling):
    import flax.linen as nn

    from backends._vgg import _pool

    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 7, 9, 3)), jnp.float32)
    windowed = nn.max_pool if pooling == "max" else nn.avg_pool
    probe = jnp.asarray(np.random.default_rng(1).standard_normal((1, 3, 4, 3)), jnp.float32)
    ours = jax.grad(lambda v: jnp.sum(_pool(v, pooling) * probe))(x)
    theirs = jax.grad(lambda v: jnp.sum(windowed(v, (2, 2), strides=(2, 2), padding="VALID") * probe))(x)
    np.testing.assert_allclose(_pool(x, pooling), windowed(x, (2, 2), strides=(2, 2), padding="VALID"), rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_conv_with_precomputed_backward_kernel_has_jax_own_gradients():
    from jax import lax

    from backends._vgg import backward_kernel, conv3x3

    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((1, 6, 5, 4)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 4, 7)), jnp.float32)
    probe = jnp.asarray(rng.standard_normal((1, 6, 5, 7)), jnp.float32)

    def plain(x, k):  # JAX's own VJP of the same convolution
        y = lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(jnp.tanh(y) * probe)

    def ours(x, k):
        return jnp.sum(jnp.tanh(conv3x3(x, k, backward_kernel(k))) * probe)

    np.testing.assert_allclose(ours(x, kernel), plain(x, kernel), rtol=1e-6)
    for got, expected in zip(jax.grad(ours, (0, 1))(x, kernel), jax.grad(plain, (0, 1))(x, kernel)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the backward kernel is HWIO with in/out swapped and space flipped
    assert backward_kernel(kernel).shape == (3, 3, 7, 4)
    np.testing.assert_array_equal(backward_kernel(kernel)[0, 0], kernel[2, 2].T)


def test_backend_image_gradient_equals_the_plain_network_gradient():
    backend = get_backend("vgg16", weights="random", seed=0)
    assert set(backend.params["conv2_1"]) == {"kernel", "bias", "kernel_backward"}
    plain_params = {k: {"kernel": v["kernel"], "bias": v["bias"]} for k, v in backend.params.items()}
    image = jnp.asarray(np.random.default_rng(4).random((12, 10, 3)), jnp.float32)

    def loss(params, x):
        return jnp.sum(jnp.square(backend.apply(params, x, ("relu2_2",))["relu2_2"]))

    # without kernel_backward the module derives it in the step; with it, it reads it
    np.testing.assert_allclose(jax.grad(loss, 1)(backend.params, image), jax.grad(loss, 1)(plain_params, image),
                               rtol=1e-5, atol=1e-5 * float(jnp.abs(jax.grad(loss, 1)(plain_params, image)).max()))


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima():
    from backends._vgg import _pool

    # one 4x4 channel: windows [[1,1],[1,1]] (all tied), [[0,2],[2,1]], [[3,0],[0,3]], [[0,0],[0,5]]
    x = jnp.asarray([[1, 1, 0, 2], [1, 1, 2, 1], [3, 0, 0, 0], [0, 3, 0, 5]], jnp.float32)[None, :, :, None]
    weights = jnp.asarray([[10.0, 20.0], [30.0, 40.0]])[None, :, :, None]
    grad = jax.grad(lambda v: jnp.sum(_pool(v, "max") * weights))(x)[0, :, :, 0]
    expected = np.array([[10, 0, 0, 20], [0, 0, 0, 0], [30, 0, 0, 0], [0, 0, 0, 40]], np.float32)  # as Caffe/PyTorch
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(_pool(x, "max")[0, :, :, 0], [[1, 2], [3, 5]])


def test_gram_gradient_matches_autodiff_of_the_plain_product():
    from explainer.losses import gram_matrix

    rng = np.random.default_rng(5)
    features = jnp.asarray(rng.standard_normal((4, 3, 5)), jnp.float32)
    cotangent = jnp.asarray(rng.standard_normal((5, 5)), jnp.float32)  # not symmetric on purpose

    def plain(f):
        flat = f.reshape(-1, 5)
        return flat.T @ flat / f.size

    np.testing.assert_allclose(gram_matrix(features), plain(features), rtol=1e-5, atol=1e-6)
    ours = jax.grad(lambda f: jnp.sum(gram_matrix(f) * cotangent))(features)
    theirs = jax.grad(lambda f: jnp.sum(plain(f) * cotangent))(features)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_xla_flags_are_added_unless_set_or_opted_out():
    from backends._xla import XLA_FLAGS, configure_xla

    ours = " ".join(XLA_FLAGS)
    name = XLA_FLAGS[0].split("=")[0]
    assert configure_xla(env := {}, "0.10.2") == ours and env["XLA_FLAGS"] == ours
    assert configure_xla({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}, "0.10.2") == f"--xla_dump_to=/tmp/x {ours}"
    # the user's choice wins (the other flags are still added)
    assert configure_xla({"XLA_FLAGS": f"{name}=true"}, "0.10.2") == " ".join([f"{name}=true", *XLA_FLAGS[1:]])
    assert configure_xla(env := {"STYLE_EXPLAINER_XLA_FLAGS": "0"}, "0.10.2") == "" and "XLA_FLAGS" not in env
    # a jaxlib the flags were not measured with may not know them (fatal in XLA): nothing is added
    assert configure_xla(env := {}, "0.9.1") == "" and "XLA_FLAGS" not in env


@pytest.fixture
def jax_cache_config():
    """Restore JAX's compilation-cache settings after a test that changes them."""
    import jax

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    saved = {name: getattr(jax.config, name) for name in names}
    yield jax.config
    for name, value in saved.items():
        jax.config.update(name, value)


def test_compile_cache_goes_to_the_package_cache(jax_cache_config, tmp_path, monkeypatch):
    from backends import enable_compile_cache

    monkeypatch.setenv("STYLE_EXPLAINER_CACHE", str(tmp_path))
    jax_cache_config.update("jax_compilation_cache_dir", None)
    assert enable_compile_cache(environ={"STYLE_EXPLAINER_COMPILE_CACHE": "0"}) is None  # opted out
    assert jax_cache_config.jax_compilation_cache_dir is None
    assert enable_compile_cache(environ={}) == tmp_path / "jax" and (tmp_path / "jax").is_dir()
    assert jax_cache_config.jax_compilation_cache_dir == str(tmp_path / "jax")
    assert jax_cache_config.jax_persistent_cache_min_compile_time_secs == 0.5
    # a folder already given to JAX (JAX_COMPILATION_CACHE_DIR) wins over the default
    jax_cache_config.update("jax_compilation_cache_dir", str(tmp_path / "theirs"))
    assert enable_compile_cache(environ={}) == tmp_path / "theirs"
    assert enable_compile_cache(tmp_path / "mine", environ={}) == tmp_path / "mine"  # unless one is asked for
    (tmp_path / "a-file").write_text("")
    assert enable_compile_cache(tmp_path / "a-file" / "jax", environ={}) is None  # cannot be made: run without
    assert jax_cache_config.jax_compilation_cache_dir == str(tmp_path / "mine")


def test_reuse_scratch_memory_takes_effect_unless_opted_out():
    """In a fresh process (the settings are process-wide), watch where glibc puts a 64 MB block."""
    import ctypes
    import json
    import os
    import subprocess
    import sys
    import textwrap

    from backends import _xla

    try:
        reports_heap = hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33
    except OSError:
        reports_heap = False
    if not reports_heap:
        pytest.skip("needs glibc's mallinfo2")
    script = textwrap.dedent("""
        import ctypes, importlib.util, json, os, sys
        spec = importlib.util.spec_from_file_location("_xla", sys.argv[1])  # stdlib only: no JAX
        xla = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(xla)
        libc = ctypes.CDLL("libc.so.6")
        class Mallinfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc.mallinfo2.restype = Mallinfo2
        libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        def big_block():
            before = libc.mallinfo2()
            block = libc.malloc(64 << 20)
            during = libc.mallinfo2()
            libc.free(block)
            after = libc.mallinfo2()
            return {"mmapped": during.hblks - before.hblks, "from_heap": during.arena - before.arena,
                    "kept": after.arena - before.arena}
        environ, given = dict(os.environ), {}
        out = {"opted_out": xla.reuse_scratch_memory(), "environ_unchanged": dict(os.environ) == environ,
               "off": big_block(), "keep_1mb": xla.reuse_scratch_memory(1 << 20, environ=given),
               "after_keep_1mb": big_block(), "keep_default": xla.reuse_scratch_memory(environ=given),
               "after_keep_default": big_block(), "given_unchanged": given == {}}
        print(json.dumps(out))
    """)
    environ = {**os.environ, "STYLE_EXPLAINER_REUSE_SCRATCH": "0"}  # the default environ=os.environ opts out
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, _xla.__file__], env=environ, capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout)
    big = 64 << 20
    # opted out: False, nothing written to the environment, and glibc still mmaps a big block
    assert out["opted_out"] is False and out["environ_unchanged"]
    assert out["off"] == {"mmapped": 1, "from_heap": 0, "kept": 0}
    # on: the block comes from the one heap; freed, it is trimmed above keep_bytes and kept below it
    assert out["keep_1mb"] is True and out["keep_default"] is True and out["given_unchanged"]
    assert out["after_keep_1mb"]["mmapped"] == 0 and out["after_keep_1mb"]["from_heap"] >= big
    assert out["after_keep_1mb"]["kept"] < 1 << 20
    assert out["after_keep_default"]["mmapped"] == 0 and out["after_keep_default"]["kept"] >= big


def test_the_public_names_are_all_there_and_the_contracts_import_without_jax():
    """The explainer imports only `backends`' public names; the Styliser protocol and constants need no JAX."""
    import subprocess
    import sys

    import backends

    assert all(hasattr(backends, name) for name in backends.__all__)
    assert (backends.STYLISER_GRID, backends.STYLISER_HALO, backends.BLOCK_CHANNELS[0]) == (4, 64, 64)
    from backends import _tiled_norms

    assert (_tiled_norms.GRID, _tiled_norms.HALO) == (backends.STYLISER_GRID, backends.STYLISER_HALO)
    code = ("import sys; from backends import BLOCK_CHANNELS, STYLISER_GRID, STYLISER_HALO, Styliser; "
            "print('jax' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
