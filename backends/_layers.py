"""The names and shapes of VGG16/VGG19, in plain Python (no JAX).

What a setting, a command line or an error message needs to know about the
networks, importable without starting JAX: the architectures, their layer
names in forward order, their parameter shapes, and how far each layer has
downsampled the image.
"""

from __future__ import annotations

import re

POOLINGS: tuple[str, ...] = ("max", "avg")

#: Number of 3x3 convolutions in each of the five blocks.
ARCHITECTURES: dict[str, tuple[int, ...]] = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
#: Output channels of each block.
BLOCK_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)

#: Caffe's ImageNet mean in BGR order, as used by the Keras VGG weights.
IMAGENET_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)


class UnknownLayerError(ValueError):
    """A layer name the network does not have (one-line message listing the valid ones)."""


def layer_names(arch: str) -> tuple[str, ...]:
    """All layer names of `arch` in forward order, e.g. `("conv1_1", "relu1_1", ...)`."""
    names: list[str] = []
    for block, n_convs in enumerate(_blocks(arch), start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


def conv_names(arch: str) -> tuple[str, ...]:
    """The names under which `arch` stores parameters, in forward order."""
    return tuple(n for n in layer_names(arch) if n.startswith("conv"))


def param_shapes(arch: str) -> dict[str, tuple[tuple[int, ...], tuple[int]]]:
    """`{conv_name: (kernel_shape_HWIO, bias_shape)}` for `arch`."""
    shapes = {}
    c_in = 3
    for block, n_convs in enumerate(_blocks(arch), start=1):
        c_out = BLOCK_CHANNELS[block - 1]
        for i in range(1, n_convs + 1):
            shapes[f"conv{block}_{i}"] = ((3, 3, c_in, c_out), (c_out,))
            c_in = c_out
    return shapes


def downsampling(layer: str) -> int:
    """How many times the image has been halved when it reaches `layer`.

    The smallest image a layer can see is `2 ** downsampling(layer)` pixels
    on each side.
    """
    match = re.fullmatch(r"(?:conv|relu|pool)(\d)(?:_\d+)?", layer)
    if match is None:
        raise UnknownLayerError(f"{layer!r} is not a VGG layer name (conv1_1, relu1_1, pool1, ...)")
    block = int(match.group(1))
    return block if layer.startswith("pool") else block - 1


def _blocks(arch: str) -> tuple[int, ...]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None
