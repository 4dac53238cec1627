"""Transposed convolution (the U-Net up-convolution): the adjoint of ``conv2d`` with respect to its input.

Forward is conv2d's input-gradient computation - one GEMM ``W^T @ x`` to columns, then col2im -
and the backward is conv2d's forward (im2col of the output gradient, then GEMMs).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from .geometry import as_batch, check_dtypes, pair, unbatch
from .linalg import grouped_gemm

__all__ = ["conv_transpose2d"]


class ConvTranspose2d(Function):
    """The adjoint of conv2d with respect to its input: a GEMM then col2im."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, groups):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        N, Cin, H, W = x.shape
        Cog = weight.shape[1]
        Cig = Cin // groups
        L = N * H * W
        # x as (groups, Cin/groups, N*H*W): the conv's output layout, one copy.
        x2 = backend.contiguous(x.reshape(N, Cin, H * W).transpose(1, 0, 2)).reshape(groups, Cig, L)
        w = backend.contiguous(weight).reshape(groups, Cig, Cog * KH * KW)
        cols = backend.empty((groups, Cog * KH * KW, L), x.dtype)
        grouped_gemm(backend, w.transpose(0, 2, 1), x2, groups, out=cols)
        out = backend.empty((N, Cog * groups, OH, OW), x.dtype)
        backend.col2im(out, cols.reshape(groups * Cog * KH * KW, L), KH, KW, sh, sw, ph, pw, dh, dw, H, W)
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        ctx.geometry, ctx.groups, ctx.input_shape = geometry, groups, x.shape
        ctx.save_for_backward(x2, w)
        return out

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x2, w = ctx.saved_tensors
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = ctx.geometry
        groups = ctx.groups
        N, Cin, H, W = ctx.input_shape
        G, Cig, K = w.shape
        L = N * H * W
        cols = backend.empty((G * K, L), w.dtype)
        backend.im2col(cols, backend.contiguous(grad), KH, KW, sh, sw, ph, pw, dh, dw, H, W)
        cols = cols.reshape(G, K, L)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[0]:
            dx2 = grouped_gemm(backend, w, cols, groups).reshape(Cin, N, H * W)
            dx = backend.contiguous(dx2.transpose(1, 0, 2)).reshape(N, Cin, H, W)
        if ctx.needs_input_grad[1]:
            dweight = grouped_gemm(backend, x2, cols.transpose(0, 2, 1), groups).reshape(Cin, K // (KH * KW), KH, KW)
        if ctx.needs_input_grad[2]:
            dbias = grad.sum(axis=(0, 2, 3))
        return dx, dweight, dbias, None, None


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution ("up-convolution"): the gradient of ``conv2d`` with respect to its input.

    Every input pixel scatters ``x[n, c, i, j] * W[c, o, k, l]`` to output position
    ``(i*S - P + k*D, j*S - P + l*D)``.

    Args:
        input: (N, Cin, H, W), or unbatched (Cin, H, W).
        weight: (Cin, Cout/groups, KH, KW).
        bias: (Cout,) or None.
        stride, padding, dilation: int or pair, as the conv2d this transposes.
        output_padding: int or pair added to the bottom/right of the output (< stride or < dilation).
        groups: number of independent channel groups.

    Returns:
        Tensor of shape (N, Cout, OH, OW).

    Shape:
        OH = (H - 1)*sh - 2*ph + dh*(KH - 1) + output_padding_h + 1, likewise OW.
    """
    from ..tensor import Tensor

    op = "conv_transpose2d"
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    input, unbatched = as_batch(op, input)
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight (Cin, Cout/groups, KH, KW), got shape {weight.shape}")
    check_dtypes(op, input.data, weight.data, None if bias is None else bias.data)
    N, Cin, H, W = input.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if weight.shape[0] != Cin or Cin % groups:
        raise ValueError(
            f"{op}: input {input.shape}, weight {weight.shape}, groups={groups}: weight.shape[0] must equal "
            f"in_channels {Cin}, divisible by groups"
        )
    KH, KW = weight.shape[2:]
    sh, sw = pair(stride, "stride", op, 1)
    ph, pw = pair(padding, "padding", op, 0)
    dh, dw = pair(dilation, "dilation", op, 1)
    oph, opw = pair(output_padding, "output_padding", op, 0)
    if (oph >= sh and oph >= dh) or (opw >= sw and opw >= dw):
        raise ValueError(
            f"{op}: output_padding {(oph, opw)} must be smaller than either stride {(sh, sw)} or dilation {(dh, dw)}"
        )
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    if OH <= 0 or OW <= 0:
        raise ValueError(
            f"{op}: input {input.shape}, weight {weight.shape}, stride {(sh, sw)}, padding {(ph, pw)}, "
            f"dilation {(dh, dw)}, output_padding {(oph, opw)}: output size "
            f"(H-1)*S - 2P + D(K-1) + OP + 1 = {(OH, OW)} is not positive"
        )
    Cout = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (Cout,):
        raise ValueError(f"{op}: bias must have shape ({Cout},) for weight {weight.shape}, got {bias.shape}")
    geometry = (KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)
    return unbatch(ConvTranspose2d.apply(input, weight, bias, geometry, int(groups)), unbatched)
