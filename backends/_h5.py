"""Reading VGG weights from Keras HDF5 files (Keras 2 `save_weights` and Keras 3 `.weights.h5` layouts).

Layers are matched by name, never by their order in the file; every shape
is checked against VGG16/VGG19 before a weight is used.
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np

from backends._fetch import one_line
from backends._layers import ARCHITECTURES, param_shapes
from backends._weights import Params, WeightsError

__all__ = ["read_h5"]


def _natural_key(name: str) -> tuple[int, ...]:
    # conv2d < conv2d_1 < conv2d_2 < conv2d_10
    numbers = re.findall(r"\d+", name)
    return tuple(int(n) for n in numbers) if numbers else (-1,)


def _read_keras2(f) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Keras 2 `save_weights`: groups `block{b}_conv{i}` listing `weight_names`."""
    blocks: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for raw in f.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        match = re.fullmatch(r"block(\d+)_conv(\d+)", name)
        if not match:
            continue  # pooling and input layers carry no weights
        group = f[name]
        weight_names = [w.decode() if isinstance(w, bytes) else str(w) for w in group.attrs["weight_names"]]
        kernel, bias = (np.asarray(group[w]) for w in weight_names[:2])
        blocks.setdefault(int(match[1]), {})[int(match[2])] = (kernel, bias)
    return [[convs[i] for i in sorted(convs)] for _, convs in sorted(blocks.items())]


def _read_keras3(f) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Keras 3 `.weights.h5` as in HED: `block{b}/layers/conv2d{,_1,...}/vars/{0,1}`."""
    blocks = []
    block_names = sorted((k for k in f if re.fullmatch(r"block\d+", k)), key=_natural_key)
    for block in block_names:
        layers = f[block]["layers"]
        convs = sorted((k for k in layers if k.startswith("conv2d")), key=_natural_key)
        blocks.append([(np.asarray(layers[c]["vars"]["0"]), np.asarray(layers[c]["vars"]["1"])) for c in convs])
    return blocks


#: The layouts `read_h5` understands, for messages.
_LAYOUTS = "a Keras VGG16/VGG19 .h5 file (Keras 2 'layer_names'/'block1_conv1' or Keras 3 'block1/layers/conv2d/vars')"
#: What h5py and NumPy raise on an HDF5 file of the wrong layout (a missing
#: group or attribute, a dataset where a group should be, text for numbers).
_LAYOUT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _read_blocks(f, path: pathlib.Path) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The (kernel, bias) pairs per block of an open HDF5 file, whichever Keras layout it has."""
    import h5py

    if "layer_names" in f.attrs:
        return _read_keras2(f)
    if isinstance(f.get("block1"), h5py.Group) and "layers" in f["block1"]:
        return _read_keras3(f)
    raise WeightsError(
        f"{path}: unknown HDF5 layout (expected Keras 2 'layer_names'/'block1_conv1' "
        "or Keras 3 'block1/layers/conv2d/vars')"
    )


def _to_params(path: pathlib.Path, blocks: list[list[tuple[np.ndarray, np.ndarray]]]) -> tuple[str, Params]:
    """Name the convolutions `conv{b}_{i}`, check every shape against VGG16/VGG19, convert to float32."""
    counts = tuple(len(b) for b in blocks)
    arch = next((a for a, c in ARCHITECTURES.items() if c == counts), None)
    if arch is None:
        raise WeightsError(f"{path}: {counts} convolutions per block fit neither VGG16 {ARCHITECTURES['vgg16']} "
                           f"nor VGG19 {ARCHITECTURES['vgg19']}")
    params: Params = {}
    shapes = param_shapes(arch)
    for b, convs in enumerate(blocks, start=1):
        for i, (kernel, bias) in enumerate(convs, start=1):
            name = f"conv{b}_{i}"
            if (kernel.shape, bias.shape) != shapes[name]:
                raise WeightsError(
                    f"{path}: {name} has kernel {kernel.shape} and bias {bias.shape}, "
                    f"expected {shapes[name][0]} and {shapes[name][1]} (HWIO)"
                )
            params[name] = {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
    return arch, params


def read_h5(path: os.PathLike | str) -> tuple[str, Params]:
    """Read VGG conv weights from a Keras 2 or Keras 3 HDF5 file.

    Layers are matched by name (`block3_conv2`, `block3/layers/conv2d_1`),
    not by their order in the file.

    Returns:
        `(arch, params)` where `arch` is inferred from the number of
        convolutions per block and every kernel's shape has been checked.

    Raises:
        WeightsError: a directory or a missing file, not HDF5, an unknown or
            malformed layout, or shapes that do not fit VGG16/VGG19.
    """
    import h5py

    path = pathlib.Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, not a weights file; expected {_LAYOUTS}")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with h5py.File(path, "r") as f:
            return _to_params(path, _read_blocks(f, path))
    except OSError as error:
        raise WeightsError(f"{path}: not a readable HDF5 file ({one_line(error)}); expected {_LAYOUTS}") from None
    except _LAYOUT_ERRORS as error:
        raise WeightsError(
            f"{path}: malformed weights file ({type(error).__name__}: {one_line(error)}); expected {_LAYOUTS}"
        ) from None
