"""One exporter per ``Function``: the ONNX nodes that compute what the op computed.

An exporter gets the graph builder, the arguments ``Function.apply`` received and the traced
output tensor, appends nodes, and binds the output to the last node's output name. The
geometry tuples of conv and pooling are ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``; the
bottom/right padding and ``ceil_mode``, which they do not store, follow from the input and
output sizes.
"""

from __future__ import annotations

import numpy as np

from ..ops import (activation, clamp, conv, conv_direct, conv_shifts, conv_strips, conv_tiled, conv_transpose, device,
                   elementwise, linalg)
from ..ops import normalization, pooling, reduce, shape, upsample
from ..ops.geometry import conv_output_size
from .errors import OnnxError

__all__ = ["EXPORTERS"]


def _end_pad(size, out, kernel, stride, begin, dilation):
    """The end padding that gives ``out`` positions, ``begin`` itself when symmetric padding does."""
    if conv_output_size(size, kernel, stride, begin, dilation) == out:
        return begin
    return max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size - begin)


def _conv_attrs(x, geometry, groups):
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = x.shape[2:]
    pads = [ph, pw, _end_pad(H, OH, KH, sh, ph, dh), _end_pad(W, OW, KW, sw, pw, dw)]
    return dict(kernel_shape=[KH, KW], strides=[sh, sw], pads=pads, dilations=[dh, dw], group=groups)


def _conv(g, args, kwargs, out):
    x, weight, bias, geometry, groups, flip = args
    w = g.name(weight, "weight")
    if flip:  # convolve2d: a true convolution is the correlation with the flipped kernel
        w = g.const(np.ascontiguousarray(weight.numpy()[:, :, ::-1, ::-1]), "flipped_weight")
    inputs = [g.name(x), w] + ([g.name(bias, "bias")] if bias is not None else [])
    g.emit("Conv", inputs, out, **_conv_attrs(x, geometry, groups))


def _direct_conv(g, args, kwargs, out):
    """The CPU's ungrouped conv Functions (``DirectConv2d``, ``StripConv2d``, ``ShiftConv2d``, ``TiledConv2d``): a Conv with one group."""
    x, weight, bias, geometry, flip = args
    _conv(g, (x, weight, bias, geometry, 1, flip), kwargs, out)


def _conv_transpose(g, args, kwargs, out):
    x, weight, bias, geometry, groups = args
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = x.shape[2:]
    extra = [OH - ((H - 1) * sh - 2 * ph + dh * (KH - 1) + 1), OW - ((W - 1) * sw - 2 * pw + dw * (KW - 1) + 1)]
    inputs = [g.name(x), g.name(weight, "weight")] + ([g.name(bias, "bias")] if bias is not None else [])
    g.emit("ConvTranspose", inputs, out, kernel_shape=[KH, KW], strides=[sh, sw], pads=[ph, pw, ph, pw],
           dilations=[dh, dw], group=groups, output_padding=extra if any(extra) else None)


def _pool_attrs(x, geometry, dilated=True):
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = x.shape[2:]
    floor = (conv_output_size(H, KH, sh, ph, dh), conv_output_size(W, KW, sw, pw, dw))
    attrs = dict(kernel_shape=[KH, KW], strides=[sh, sw], pads=[ph, pw, ph, pw],
                 ceil_mode=int(floor != (OH, OW)))
    if dilated and (dh, dw) != (1, 1):
        attrs["dilations"] = [dh, dw]
    return attrs


def _max_pool(g, args, kwargs, out):
    x, geometry, negate = args
    if negate:  # min pooling: -max(-x)
        (flipped,) = g.node("Neg", [g.name(x)])
        (pooled,) = g.node("MaxPool", [flipped], **_pool_attrs(x, geometry))
        g.emit("Neg", [pooled], out)
    else:
        g.emit("MaxPool", [g.name(x)], out, **_pool_attrs(x, geometry))


def _avg_pool(g, args, kwargs, out):
    x, geometry, count_include_pad, divisor = args
    KH, KW = geometry[:2]
    if divisor and not (divisor == KH * KW and (count_include_pad or geometry[4:6] == (0, 0))):
        raise OnnxError(f"onnx export: op AvgPool2d with divisor_override={divisor} (in layer '{g.layer}') "
                        f"has no ONNX mapping (AveragePool divides by the window size)")
    g.emit("AveragePool", [g.name(x)], out, count_include_pad=int(count_include_pad),
           **_pool_attrs(x, geometry, dilated=False))


def _adaptive_matrix(n_in, n_out):
    """(n_out, n_in) averaging weights of adaptive pooling along one axis (PyTorch's windows)."""
    m = np.zeros((n_out, n_in), dtype=np.float32)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_avg_pool(g, args, kwargs, out):
    x, OH, OW = args
    H, W = x.shape[2:]
    if (OH, OW) == (1, 1):
        g.emit("GlobalAveragePool", [g.name(x)], out)
    elif H % OH == 0 and W % OW == 0:
        kh, kw = H // OH, W // OW
        g.emit("AveragePool", [g.name(x)], out, kernel_shape=[kh, kw], strides=[kh, kw])
    else:
        # Windows of unequal size (or an output larger than the input): the pool is linear and
        # separable, rows then columns, so two MatMuls with the averaging matrices compute it.
        rows = g.const(_adaptive_matrix(H, OH).astype(x.dtype), "rows")
        cols = g.const(_adaptive_matrix(W, OW).T.astype(x.dtype), "cols")
        (tall,) = g.node("MatMul", [rows, g.name(x)])
        g.emit("MatMul", [tall, cols], out)


def _batch_norm(g, args, kwargs, out):
    x, mean, var, weight, bias, training, momentum, eps = args
    if training:
        raise OnnxError(f"onnx export: batch_norm with batch statistics (in layer '{g.layer}') has no ONNX "
                        f"mapping; BatchNormalization exports the inference form")
    C = x.shape[1]
    scale = g.name(weight, "weight") if weight is not None else g.const(np.ones(C, x.dtype), "weight")
    shift = g.name(bias, "bias") if bias is not None else g.const(np.zeros(C, x.dtype), "bias")
    g.emit("BatchNormalization", [g.name(x), scale, shift, g.name(mean, "running_mean"), g.name(var, "running_var")],
           out, epsilon=float(eps))


def _lrn(g, args, kwargs, out):
    x, size, alpha, beta, k = args
    g.emit("LRN", [g.name(x)], out, size=int(size), alpha=float(alpha), beta=float(beta), bias=float(k))


def _unary(op_type):
    def exporter(g, args, kwargs, out):
        g.emit(op_type, [g.name(args[0])], out)
    return exporter


def _binary(op_type):
    def exporter(g, args, kwargs, out):
        g.emit(op_type, [g.name(args[0]), g.name(args[1])], out)
    return exporter


def _leaky_relu(g, args, kwargs, out):
    g.emit("LeakyRelu", [g.name(args[0])], out, alpha=float(args[1]))


def _clamp(g, args, kwargs, out):
    x, lo, hi = args
    dtype = x.dtype
    bounds = [g.const(np.asarray(v, dtype=dtype), what) if v is not None else ""
              for v, what in ((lo, "min"), (hi, "max"))]
    g.emit("Clip", [g.name(x)] + bounds, out)


def _softmax(op_type):
    def exporter(g, args, kwargs, out):
        g.emit(op_type, [g.name(args[0])], out, axis=int(args[1]))
    return exporter


def _cat(g, args, kwargs, out):
    g.emit("Concat", [g.name(a) for a in args], out, axis=int(kwargs["dim"]))


def _reshape(g, args, kwargs, out):
    x, new = args
    if x.ndim >= 2 and len(new) == 2 and new[0] == x.shape[0]:
        g.emit("Flatten", [g.name(x)], out, axis=1)
        return
    # Keep the batch dimension symbolic: copy it (0) when it is kept, infer it (-1) otherwise.
    target = list(new)
    if x.ndim and target and target[0] == x.shape[0]:
        target[0] = 0
    g.emit("Reshape", [g.name(x), g.ints(target, "shape")], out)


def _permute(g, args, kwargs, out):
    g.emit("Transpose", [g.name(args[0])], out, perm=[int(d) for d in args[1]])


def _linear(g, args, kwargs, out):
    x, weight, bias = args
    if x.ndim == 2:
        inputs = [g.name(x), g.name(weight, "weight")] + ([g.name(bias, "bias")] if bias is not None else [])
        g.emit("Gemm", inputs, out, transB=1)
        return
    wt = g.const(np.ascontiguousarray(weight.numpy().T), "weight_t")
    if bias is None:
        g.emit("MatMul", [g.name(x), wt], out)
    else:
        (product,) = g.node("MatMul", [g.name(x), wt])
        g.emit("Add", [product, g.name(bias, "bias")], out)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(g, args, kwargs, out):
    x, widths, mode, value = args
    if mode == "circular" and g.opset < 19:
        raise OnnxError(f"onnx export: circular padding (in layer '{g.layer}') needs opset 19 or later "
                        f"(Pad mode 'wrap'), not {g.opset}")
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    inputs = [g.name(x), g.ints(pads, "pads")]
    if mode == "constant":
        inputs.append(g.const(np.asarray(value, dtype=x.dtype), "value"))
    g.emit("Pad", inputs, out, mode=_PAD_MODES[mode])


def _upsample(g, args, kwargs, out):
    x, mode, tables, OH, OW = args
    H, W = x.shape[2:]
    tables = [np.asarray(t) for t in tables]
    if mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        # ONNX maps with in/out; PyTorch with 1/scale_factor when it was given: equal unless that differs.
        exact = all(np.array_equal(t, upsample._nearest_table(n, m, None)) for t, n, m in zip(tables, (H, W), (OH, OW)))
    else:
        dtype = x.dtype
        corners = [np.array_equal(tables[0], upsample._linear_table(H, OH, None, c, dtype)[0]) and
                   np.allclose(tables[2], upsample._linear_table(H, OH, None, c, dtype)[2]) and
                   np.array_equal(tables[3], upsample._linear_table(W, OW, None, c, dtype)[0]) and
                   np.allclose(tables[5], upsample._linear_table(W, OW, None, c, dtype)[2]) for c in (False, True)]
        exact = any(corners)
        transform = "align_corners" if corners[1] and not corners[0] else "pytorch_half_pixel"
        attrs = dict(mode="linear", coordinate_transformation_mode=transform)
    if not exact:
        raise OnnxError(f"onnx export: interpolate with a scale_factor whose coordinates differ from "
                        f"output/input size (in layer '{g.layer}', {H}x{W} -> {OH}x{OW}) has no exact ONNX Resize "
                        f"mapping; pass size= or recompute_scale_factor=True")
    # The batch and channel sizes come from the input at run time, so that the batch stays symbolic.
    (shape_,) = g.node("Shape", [g.name(x)])
    (lead,) = g.node("Slice", [shape_, g.ints([0], "starts"), g.ints([2], "ends")])
    (full,) = g.node("Concat", [lead, g.ints([OH, OW], "size")], axis=0)
    g.emit("Resize", [g.name(x), "", "", full], out, **attrs)


def _identity(g, args, kwargs, out):
    g.emit("Identity", [g.name(args[0])], out)


def _cast(g, args, kwargs, out):
    to = g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(out.dtype))
    g.emit("Cast", [g.name(args[0])], out, to=to)


EXPORTERS = {
    conv.Conv2d: _conv,
    conv_direct.DirectConv2d: _direct_conv,
    conv_strips.StripConv2d: _direct_conv,
    conv_shifts.ShiftConv2d: _direct_conv,
    conv_tiled.TiledConv2d: _direct_conv,
    conv_transpose.ConvTranspose2d: _conv_transpose,
    pooling.MaxPool2d: _max_pool,
    pooling.AvgPool2d: _avg_pool,
    pooling.AdaptiveAvgPool2d: _adaptive_avg_pool,
    normalization.BatchNorm: _batch_norm,
    normalization.LocalResponseNorm: _lrn,
    activation.Relu: _unary("Relu"),
    activation.Sigmoid: _unary("Sigmoid"),
    activation.Tanh: _unary("Tanh"),
    activation.LeakyRelu: _leaky_relu,
    elementwise.Add: _binary("Add"),
    elementwise.Sub: _binary("Sub"),
    elementwise.Mul: _binary("Mul"),
    elementwise.Div: _binary("Div"),
    elementwise.Pow: _binary("Pow"),
    elementwise.Neg: _unary("Neg"),
    elementwise.Abs: _unary("Abs"),
    elementwise.Exp: _unary("Exp"),
    elementwise.Log: _unary("Log"),
    elementwise.Sqrt: _unary("Sqrt"),
    clamp.Clamp: _clamp,
    reduce.Softmax: _softmax("Softmax"),
    reduce.LogSoftmax: _softmax("LogSoftmax"),
    shape.Cat: _cat,
    shape.Reshape: _reshape,
    shape.Permute: _permute,
    shape.Pad: _pad,
    linalg.Linear: _linear,
    linalg.MatMul: _binary("MatMul"),
    upsample._Upsample: _upsample,
    device.Clone: _identity,
    device.ToDevice: _identity,
    device.Cast: _cast,
}
