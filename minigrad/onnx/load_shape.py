"""The ONNX nodes of shape arithmetic, constants and data movement, in minigrad's ops and in NumPy.

Each works on tensors (recording the autograd graph) and on ``np.ndarray`` constants, which is
how ``Shape(x) -> Gather -> Unsqueeze -> Concat -> Reshape`` chains are evaluated as constants.
The signature is ``load_ops``'s: ``(node, inputs, attrs, opset) -> outputs``.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .load_ops import NodeError, ints, tensor

def flatten(node, inputs, attrs, opset):
    x = inputs[0]
    axis = int(attrs.get("axis", 1)) % (len(x.shape) + 1) if len(x.shape) else 0
    shape = (int(np.prod(x.shape[:axis], dtype=np.int64)), int(np.prod(x.shape[axis:], dtype=np.int64)))
    return [F.reshape(tensor(x), shape) if isinstance(x, Tensor) else np.reshape(x, shape)]


def _reshape_target(x_shape, shape, allowzero):
    shape = ints(shape)
    return tuple(x_shape[i] if s == 0 and not allowzero else s for i, s in enumerate(shape))


def reshape(node, inputs, attrs, opset):
    x = inputs[0]
    if opset < 5:
        target = _reshape_target(x.shape, attrs["shape"], 0)
    else:
        if isinstance(inputs[1], Tensor):
            raise NodeError("Reshape to a shape computed from tensor values is not supported")
        target = _reshape_target(x.shape, inputs[1], attrs.get("allowzero", 0))
    return [F.reshape(x, target) if isinstance(x, Tensor) else np.reshape(x, target)]


def transpose(node, inputs, attrs, opset):
    x = inputs[0]
    perm = attrs.get("perm") or list(range(len(x.shape)))[::-1]
    return [F.permute(x, *perm) if isinstance(x, Tensor) else np.transpose(x, perm)]


def concat(node, inputs, attrs, opset):
    parts = [v for v in inputs if v is not None]
    if all(isinstance(v, np.ndarray) for v in parts):
        return [np.concatenate(parts, axis=int(attrs["axis"]))]
    parts = [tensor(v) for v in parts]
    return [F.cat(parts, int(attrs["axis"]) % parts[0].ndim)]


def _axes(inputs, attrs, rank):
    axes = attrs.get("axes")
    if len(inputs) > 1 and inputs[1] is not None:  # an input since opset 13
        axes = ints(inputs[1])
    return None if axes is None else [a % rank for a in axes]


def unsqueeze(node, inputs, attrs, opset):
    x = inputs[0]
    count = len(attrs["axes"]) if "axes" in attrs else np.size(inputs[1])
    for a in sorted(_axes(inputs, attrs, len(x.shape) + count)):
        x = F.unsqueeze(x, a) if isinstance(x, Tensor) else np.expand_dims(x, a)
    return [x]


def squeeze(node, inputs, attrs, opset):
    x = inputs[0]
    axes = _axes(inputs, attrs, len(x.shape))
    if axes is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return [F.reshape(x, shape) if isinstance(x, Tensor) else np.reshape(x, shape)]


def shape_of(node, inputs, attrs, opset):
    dims = np.asarray(inputs[0].shape, dtype=np.int64)
    start, end = attrs.get("start", 0), attrs.get("end")
    return [dims[start:end]]


def gather(node, inputs, attrs, opset):
    x, index = inputs[0], np.asarray(inputs[1]).astype(np.int64)
    axis = int(attrs.get("axis", 0)) % len(x.shape)
    index = np.where(index < 0, index + x.shape[axis], index)
    if isinstance(x, np.ndarray):
        return [np.take(x, index, axis=axis)]
    return [x[(slice(None),) * axis + (index,)]]


def slice_(node, inputs, attrs, opset):
    x = inputs[0]
    if opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = ints(inputs[1]), ints(inputs[2])
        axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
        steps = ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else None
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index = [slice(None)] * len(x.shape)
    big = 2 ** 62
    for a, s, e, st in zip(axes, starts, ends, steps):
        e = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        index[a % len(x.shape)] = slice(s, e, st)
    return [x[tuple(index)]]


def split(node, inputs, attrs, opset):
    x = inputs[0]
    axis = int(attrs.get("axis", 0)) % len(x.shape)
    sizes = attrs.get("split")
    if len(inputs) > 1 and inputs[1] is not None:
        sizes = ints(inputs[1])
    n = len(node.output)
    if not sizes:
        size = -(-x.shape[axis] // n)
        sizes = [min(size, x.shape[axis] - i * size) for i in range(n)]
    out, start = [], 0
    for s in sizes:
        out.append(x[(slice(None),) * axis + (slice(start, start + s),)])
        start += s
    return out


def tile(node, inputs, attrs, opset):
    x, repeats = inputs[0], ints(inputs[1])
    if isinstance(x, np.ndarray):
        return [np.tile(x, repeats)]
    for axis, r in enumerate(repeats):
        if r != 1:
            x = F.cat([x] * r, axis)
    return [x]


def pad(node, inputs, attrs, opset):
    x = tensor(inputs[0])
    if opset < 11:
        pads, value = list(attrs["pads"]), float(attrs.get("value", 0.0))
    else:
        pads = ints(inputs[1])
        value = float(np.asarray(inputs[2])) if len(inputs) > 2 and inputs[2] is not None else 0.0
        if len(inputs) > 3 and inputs[3] is not None:
            raise NodeError("Pad with an axes input is not supported")
    mode = attrs.get("mode", b"constant")
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(
        mode.decode() if isinstance(mode, bytes) else mode)
    if mode is None or min(pads) < 0:
        raise NodeError(f"Pad mode {attrs.get('mode')!r} with pads {pads} is not supported")
    n = x.ndim
    widths = []
    for axis in range(n - 1, -1, -1):  # minigrad's pad (PyTorch's) lists the last dimension first
        widths += [pads[axis], pads[axis + n]]
    while len(widths) > 2 and widths[-1] == widths[-2] == 0:
        widths = widths[:-2]
    return [F.pad(x, tuple(widths), mode=mode, value=value)]


def dropout(node, inputs, attrs, opset):
    """Identity at inference; the mask output (if asked for) keeps every element."""
    return [inputs[0], np.ones(inputs[0].shape, dtype=bool)]


def identity(node, inputs, attrs, opset):
    return [inputs[0]]


def cast(node, inputs, attrs, opset):
    from onnx import helper

    dtype = helper.tensor_dtype_to_np_dtype(int(attrs["to"]))
    x = inputs[0]
    return [x.astype(dtype) if isinstance(x, np.ndarray) else F.cast(x, dtype)]


def constant(node, inputs, attrs, opset):
    from onnx import numpy_helper

    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dtype)]
    raise NodeError(f"Constant with attributes {sorted(attrs)} is not supported")


def constant_of_shape(node, inputs, attrs, opset):
    from onnx import numpy_helper

    value = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
    return [np.full(tuple(ints(inputs[0])), value.reshape(-1)[0], dtype=value.dtype)]


def numpy_unary(fn):
    def run(node, inputs, attrs, opset):
        return [np.asarray(fn(inputs[0]))]
    return run
