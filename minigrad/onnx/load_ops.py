"""What the network ONNX nodes compute, in minigrad's ops (shape arithmetic is in ``load_shape``).

Each function takes the node, its inputs (Tensor, ndarray constant, or None for an omitted
optional input), its attributes as a dict and the model's opset, and returns the list of
outputs; ``node_table`` says which runs each node type. The layers with constant weights
(Conv, ConvTranspose, Gemm, BatchNormalization) are built as ``nn`` layers by ``loading``;
the functions here are their fallbacks (weights computed at run time) and the ops around them.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .errors import OnnxError

__all__ = ["NodeError", "tensor", "ints", "spatial_pads"]


class NodeError(OnnxError):
    """A node whose attributes or inputs the importer cannot run (the loader adds the node's position)."""


def tensor(v):
    """A constant array as a Tensor (float64 constants become float32, the model's dtype)."""
    if v is None or isinstance(v, Tensor):
        return v
    a = np.asarray(v)
    return Tensor(a.astype(np.float32) if a.dtype == np.float64 else a)


def ints(v):
    """An integer array (or list) as a list of Python ints."""
    return [int(i) for i in np.asarray(v).reshape(-1)]


def spatial_pads(node, attrs, in_hw, kernel, strides, dilations):
    """ONNX ``pads`` (begin..., end...) of a window op, resolving ``auto_pad`` against the input size."""
    k = len(kernel)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        return list(attrs.get("pads", [0] * (2 * k)))
    if auto == "VALID":
        return [0] * (2 * k)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise NodeError(f"auto_pad {auto!r} is not supported")
    begin, end = [], []
    for size, kk, s, d in zip(in_hw, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (kk - 1) + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


def as_2d(x, rank_needed: str):
    """1-D spatial inputs (N, C, L) run as (N, C, 1, L); 2-D as they are; others are not supported."""
    if x.ndim == 3:
        return F.unsqueeze(x, 2), True
    if x.ndim != 4:
        raise NodeError(f"{rank_needed} over {x.ndim - 2}-D inputs is not supported (only 1-D and 2-D)")
    return x, False


def _window(node, attrs, x):
    kernel = list(attrs["kernel_shape"])
    k = len(kernel)
    strides = list(attrs.get("strides", [1] * k))
    dilations = list(attrs.get("dilations", [1] * k))
    pads = spatial_pads(node, attrs, x.shape[2:], kernel, strides, dilations)
    if k == 1:
        kernel, strides, dilations, pads = [1] + kernel, [1] + strides, [1] + dilations, [0, pads[0], 0, pads[1]]
    return kernel, strides, dilations, pads


def _pad_spatial(x, pads, value=0.0):
    """Explicit padding of H and W (ONNX order top, left, bottom, right)."""
    if not any(pads):
        return x
    return F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=value)


def max_pool(node, inputs, attrs, opset):
    if len(node.output) > 1 and node.output[1]:
        raise NodeError("MaxPool's Indices output is not supported")
    x, squeeze = as_2d(tensor(inputs[0]), "MaxPool")
    kernel, strides, dilations, pads = _window(node, attrs, inputs[0])
    if attrs.get("storage_order", 0):
        raise NodeError("MaxPool storage_order=1 is not supported")
    symmetric = pads[:2] == pads[2:] and pads[0] <= kernel[0] // 2 and pads[1] <= kernel[1] // 2
    if not symmetric:
        x, pads = _pad_spatial(x, pads, value=-np.inf), [0, 0, 0, 0]
    out = F.max_pool2d(x, tuple(kernel), tuple(strides), tuple(pads[:2]), tuple(dilations),
                       ceil_mode=bool(attrs.get("ceil_mode", 0)))
    return [F.squeeze(out, 2) if squeeze else out]


def average_pool(node, inputs, attrs, opset):
    x, squeeze = as_2d(tensor(inputs[0]), "AveragePool")
    kernel, strides, dilations, pads = _window(node, attrs, inputs[0])
    if dilations != [1, 1]:
        raise NodeError("AveragePool with dilations is not supported")
    include = bool(attrs.get("count_include_pad", 0))
    symmetric = pads[:2] == pads[2:] and pads[0] <= kernel[0] // 2 and pads[1] <= kernel[1] // 2
    ceil = bool(attrs.get("ceil_mode", 0))
    if symmetric:
        out = F.avg_pool2d(x, tuple(kernel), tuple(strides), tuple(pads[:2]), ceil_mode=ceil, count_include_pad=include)
    else:
        padded = _pad_spatial(x, pads)
        out = F.avg_pool2d(padded, tuple(kernel), tuple(strides), 0, ceil_mode=ceil)
        if not include:
            # Divide by the number of real (unpadded) elements in each window instead of its size.
            real = _pad_spatial(Tensor(np.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)), pads)
            out = out / F.avg_pool2d(real, tuple(kernel), tuple(strides), 0, ceil_mode=ceil).data
    return [F.squeeze(out, 2) if squeeze else out]


def global_pool(kind):
    def run(node, inputs, attrs, opset):
        x, squeeze = as_2d(tensor(inputs[0]), kind)
        out = F.adaptive_avg_pool2d(x, 1) if kind == "GlobalAveragePool" else F.adaptive_max_pool2d(x, 1)
        return [F.squeeze(out, 2) if squeeze else out]
    return run


def conv(node, inputs, attrs, opset):
    """Conv with a weight computed at run time (constant weights become ``nn.Conv2d`` layers)."""
    x, weight, bias = tensor(inputs[0]), tensor(inputs[1]), tensor(inputs[2] if len(inputs) > 2 else None)
    attrs = dict(attrs, kernel_shape=attrs.get("kernel_shape", list(weight.shape[2:])))
    x, squeeze = as_2d(x, "Conv")
    kernel, strides, dilations, pads = _window(node, attrs, inputs[0])
    if squeeze:
        weight = F.unsqueeze(weight, 2)
    x = _pad_spatial(x, pads)
    out = F.conv2d(x, weight, bias, tuple(strides), 0, tuple(dilations), int(attrs.get("group", 1)))
    return [F.squeeze(out, 2) if squeeze else out]


def conv_transpose(node, inputs, attrs, opset):
    """ConvTranspose with a weight computed at run time (constant weights become ``nn.ConvTranspose2d``)."""
    x, weight, bias = tensor(inputs[0]), tensor(inputs[1]), tensor(inputs[2] if len(inputs) > 2 else None)
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if x.ndim != 4 or pads[:2] != pads[2:] or "output_shape" in attrs:
        raise NodeError(f"ConvTranspose over {x.ndim - 2}-D inputs, with asymmetric pads {pads} or output_shape "
                        f"is not supported")
    return [F.conv_transpose2d(x, weight, bias, tuple(attrs.get("strides", [1, 1])), tuple(pads[:2]),
                               tuple(attrs.get("output_padding", [0, 0])), int(attrs.get("group", 1)),
                               tuple(attrs.get("dilations", [1, 1])))]


def batch_norm(node, inputs, attrs, opset):
    x, scale, shift, mean, var = (tensor(v) for v in inputs[:5])
    return [F.batch_norm(x, mean, var, scale, shift, False, 0.0, float(attrs.get("epsilon", 1e-5)))]


def instance_norm(node, inputs, attrs, opset):
    x, scale, shift = (tensor(v) for v in inputs[:3])
    axes = tuple(range(2, x.ndim))
    mean = F.mean(x, dim=axes, keepdim=True)
    var = F.mean((x - mean) * (x - mean), dim=axes, keepdim=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    normed = (x - mean) / F.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return [normed * F.reshape(scale, shape) + F.reshape(shift, shape)]


def gemm(node, inputs, attrs, opset):
    a, b = tensor(inputs[0]), tensor(inputs[1])
    if attrs.get("transA", 0):
        a = F.transpose(a, 0, 1)
    if attrs.get("transB", 0):
        b = F.transpose(b, 0, 1)
    out = F.matmul(a, b)
    alpha = float(attrs.get("alpha", 1.0))
    if alpha != 1.0:
        out = out * alpha
    if len(inputs) > 2 and inputs[2] is not None:
        out = out + tensor(inputs[2]) * float(attrs.get("beta", 1.0))
    return [out]


def matmul(node, inputs, attrs, opset):
    return [F.matmul(tensor(inputs[0]), tensor(inputs[1]))]


def lrn(node, inputs, attrs, opset):
    return [F.local_response_norm(tensor(inputs[0]), int(attrs["size"]), float(attrs.get("alpha", 1e-4)),
                                  float(attrs.get("beta", 0.75)), float(attrs.get("bias", 1.0)))]


def _legacy_broadcast(a, b, attrs):
    """Opset < 7 ``broadcast=1, axis=k``: ``b``'s dimensions line up with ``a``'s from axis k."""
    if attrs.get("broadcast", 0) and "axis" in attrs and b is not None:
        ndim_a = len(a.shape)
        axis = attrs["axis"] % ndim_a if ndim_a else 0
        shape = tuple(b.shape) + (1,) * (ndim_a - axis - len(b.shape))
        b = F.reshape(b, shape) if isinstance(b, Tensor) else np.reshape(b, shape)
    return b


_BINARY = {"Add": (F.add, np.add), "Sub": (F.sub, np.subtract), "Mul": (F.mul, np.multiply),
           "Div": (F.div, None), "Pow": (F.pow, np.power)}


def binary(op_type):
    fn = _BINARY[op_type][0]

    def run(node, inputs, attrs, opset):
        a, b = inputs[0], _legacy_broadcast(inputs[0], inputs[1], attrs)
        return [fn(tensor(a), tensor(b))]
    return run


def binary_numpy(op_type):
    fn = _BINARY[op_type][1]

    def run(node, inputs, attrs, opset):
        a, b = inputs[0], _legacy_broadcast(inputs[0], inputs[1], attrs)
        if fn is None:  # Div: integer division truncates in ONNX
            out = a / b if np.asarray(a).dtype.kind == "f" else np.trunc(a / b).astype(np.asarray(a).dtype)
        else:
            out = fn(a, b)
        return [np.asarray(out, dtype=np.result_type(a, b) if op_type != "Div" else out.dtype)]
    return run


def variadic(fn):
    def run(node, inputs, attrs, opset):
        out = tensor(inputs[0])
        for v in inputs[1:]:
            out = fn(out, tensor(v))
        return [out]
    return run


def unary(fn):
    def run(node, inputs, attrs, opset):
        return [fn(tensor(inputs[0]))]
    return run


def leaky_relu(node, inputs, attrs, opset):
    return [F.leaky_relu(tensor(inputs[0]), float(attrs.get("alpha", 0.01)))]


def _elu(x, alpha):
    return F.where(x > 0, x, (F.exp(F.minimum(x, 0.0)) - 1.0) * alpha)


def elu(node, inputs, attrs, opset):
    return [_elu(tensor(inputs[0]), float(attrs.get("alpha", 1.0)))]


def selu(node, inputs, attrs, opset):
    alpha, gamma = float(attrs.get("alpha", 1.67326319217681884765625)), float(attrs.get("gamma", 1.05070102214813232421875))
    return [_elu(tensor(inputs[0]), alpha) * gamma]


def softplus(node, inputs, attrs, opset):
    x = tensor(inputs[0])
    return [F.maximum(x, 0.0) + F.log(F.exp(-F.abs(x)) + 1.0)]


def prelu(node, inputs, attrs, opset):
    x, slope = tensor(inputs[0]), tensor(inputs[1])
    if slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1] and slope.shape[0] != x.shape[-1]:
        slope = F.reshape(slope, (-1,) + (1,) * (x.ndim - 2))  # per channel (PyTorch's export)
    return [F.maximum(x, 0.0) + F.minimum(x, 0.0) * slope]


def hard_sigmoid(node, inputs, attrs, opset):
    x = tensor(inputs[0])
    return [F.clamp(x * float(attrs.get("alpha", 0.2)) + float(attrs.get("beta", 0.5)), 0.0, 1.0)]


def clip(node, inputs, attrs, opset):
    if opset < 11:
        lo, hi = attrs.get("min"), attrs.get("max")
    else:
        lo = None if len(inputs) < 2 or inputs[1] is None else float(np.asarray(inputs[1]))
        hi = None if len(inputs) < 3 or inputs[2] is None else float(np.asarray(inputs[2]))
    return [F.clamp(tensor(inputs[0]), lo, hi)]


def softmax(kind):
    fn = F.softmax if kind == "Softmax" else F.log_softmax

    def run(node, inputs, attrs, opset):
        x = tensor(inputs[0])
        if opset >= 13:
            return [fn(x, int(attrs.get("axis", -1)))]
        # Before opset 13 the input is coerced to 2-D at ``axis`` and normalized over the second part.
        axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return [F.reshape(fn(F.reshape(x, rows, -1), 1), x.shape)]
    return run


def reduce(kind):
    fn = F.mean if kind == "ReduceMean" else F.sum

    def run(node, inputs, attrs, opset):
        x = tensor(inputs[0])
        axes = attrs.get("axes")
        if len(inputs) > 1 and inputs[1] is not None:
            axes = ints(inputs[1])
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        return [fn(x, dim=tuple(a % x.ndim for a in axes), keepdim=bool(attrs.get("keepdims", 1)))]
    return run

def _resize_mode(attrs, default_transform):
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    transform = attrs.get("coordinate_transformation_mode", default_transform.encode())
    transform = transform.decode() if isinstance(transform, bytes) else transform
    nearest = attrs.get("nearest_mode", b"round_prefer_floor")
    nearest = nearest.decode() if isinstance(nearest, bytes) else nearest
    if mode == "nearest" and transform == "asymmetric" and nearest == "floor":
        return "nearest", None
    if mode in ("linear", "bilinear") and transform in ("half_pixel", "pytorch_half_pixel"):
        return "bilinear", False
    if mode in ("linear", "bilinear") and transform == "align_corners":
        return "bilinear", True
    raise NodeError(f"mode {mode!r} with coordinate_transformation_mode {transform!r}"
                    f"{' and nearest_mode ' + repr(nearest) if mode == 'nearest' else ''} is not supported "
                    f"(supported: nearest asymmetric/floor, linear half_pixel, pytorch_half_pixel, align_corners)")


def _interpolate(x, scales, sizes, mode, corners):
    if x.ndim != 4:
        raise NodeError(f"resizing a {x.ndim}-D input is not supported (only N, C, H, W)")
    if sizes is not None:
        sizes = ints(sizes)
        if sizes[:2] != list(x.shape[:2]):
            raise NodeError(f"resizing the batch or channel dimension (sizes {sizes}) is not supported")
        return F.interpolate(x, size=tuple(sizes[2:]), mode=mode, align_corners=corners)
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    if scales[:2] != [1.0, 1.0]:
        raise NodeError(f"resizing the batch or channel dimension (scales {scales}) is not supported")
    return F.interpolate(x, scale_factor=tuple(scales[2:]), mode=mode, align_corners=corners)


def resize(node, inputs, attrs, opset):
    x = tensor(inputs[0])
    mode, corners = _resize_mode(attrs, "half_pixel" if opset >= 11 else "asymmetric")
    if opset < 11:
        scales, sizes = inputs[1], None
    else:
        scales = inputs[2] if len(inputs) > 2 and inputs[2] is not None and np.size(inputs[2]) else None
        sizes = inputs[3] if len(inputs) > 3 and inputs[3] is not None and np.size(inputs[3]) else None
    return [_interpolate(x, scales, sizes, mode, corners)]


def upsample(node, inputs, attrs, opset):
    x = tensor(inputs[0])
    mode = attrs.get("mode", b"nearest")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "nearest":
        raise NodeError("Upsample (opset < 10) is supported in nearest mode only (its linear mode is not PyTorch's)")
    scales = attrs["scales"] if opset < 9 else inputs[1]
    return [_interpolate(x, scales, None, "nearest", None)]
