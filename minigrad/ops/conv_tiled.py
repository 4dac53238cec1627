"""conv2d by register tiles on the channels-last image, for float32 layers with many channels on the CPU.

Nothing is lowered, not even padded: each block of output positions sums its KH*KW*C terms in
registers, read from the image where it lies (``backends/cpu/tiled_conv.py`` gives the
layout and the measurements). ``conv2d`` sends a layer here when the backend's plan says
``lowering == "tiled"`` (``backends/cpu/conv_plan.py``: ResNet's 32x32 and 16x16 layers,
strided ones included). Everything channels-last, ``xp`` the input as if zero-padded (the
kernels skip the zeros instead)::

    taps[kh]  = W[:, :, kh, :] as (KW*C, O)
    out[n, oh, ow]  = sum_kh xp[n, oh*sh + kh*dh, ow*sw : ow*sw + KW] (flat) @ taps[kh]
    dtaps[kh] = sum_{n, oh, ow} xp[n, oh*sh + kh*dh, ow*sw : ow*sw + KW]^T @ dY[n, oh, ow]   (xp's zeros skipped)
    dX (stride 1) = the same forward on dY "padded" by dh*(KH-1) - ph, (KW-1) - pw, with
                    taps'[kh, kw*O + o, c] = W[o, c, KH-1-kh, KW-1-kw]
    dX (strided)  = per phase (a, b) of the input, the stride-1 sum over the taps that reach it:
                    dX[n, sh*i + a, sw*j + b] = sum dY[n, i + e_kh, j + e_kw] @ W[:, :, kh, kw]
                    (``tiled_conv_transpose``; row2im's fold where C is not a multiple of 64)
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from .conv import _from_channels_last, _input_grad_by_folding, _weight_rows
from .conv_strips import save_input_and_weight, weight_and_taps, weight_from_taps

__all__ = ["TiledConv2d"]


def _phases(stride, pad, kernel, dilation, in_size, out_size):
    """The taps of each phase of a strided convolution's dX along one axis, for ``tiled_conv_transpose``.

    Input index ``stride*i + a`` is read by kernel index ``k`` at output index ``i + e`` where
    ``a + pad - k*dilation = e*stride``. Returns ``(taps, shifts, before, extent)``: (stride, T)
    arrays of the k of each phase (-1 past the last) and of ``e + before``, where ``before``
    zeros in front of dY make every ``i + e`` an index, and ``extent`` the padded length.
    """
    found = [[(k, (a + pad - k * dilation) // stride) for k in range(kernel) if (a + pad - k * dilation) % stride == 0]
             for a in range(stride)]
    shifts = [e for phase in found for _, e in phase]
    before = max(0, -min(shifts, default=0))
    last = (in_size - 1) // stride if in_size > 0 else 0
    extent = max(out_size + before, last + max(shifts, default=0) + before + 1)
    width = max(1, max(len(phase) for phase in found))
    taps = np.full((stride, width), -1, np.int64)
    offsets = np.zeros((stride, width), np.int64)
    for a, phase in enumerate(found):
        for t, (k, e) in enumerate(phase):
            taps[a, t], offsets[a, t] = k, e + before
    return taps, offsets, before, extent


class TiledConv2d(Function):
    """Single-group cross-correlation by register tiles (``flip``: true convolution)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, flip, plan):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        x_last = backend.channels_last(x)
        N, C = x.shape[:2]
        O = weight.shape[0]
        weight, taps = weight_and_taps(backend, weight, flip)
        out_last = backend.empty((N, OH, OW, O), x.dtype)
        backend.tiled_conv(out_last, x_last, taps, sh, sw, ph, pw, dh)
        del taps
        ctx.geometry, ctx.flip, ctx.plan = geometry, flip, plan
        save_input_and_weight(ctx, x_last, weight, x.shape[2:])  # dW reads the input unpadded
        return _from_channels_last(backend, out_last, bias, plan.output_channels_last)

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x_last, weight = ctx.saved_tensors
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = ctx.geometry
        plan = ctx.plan
        N, O = grad.shape[:2]
        H, W = ctx.input_hw
        dy_last = backend.channels_last(grad)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[1]:
            C = x_last.shape[3]
            # One partial sum per thread (two runs of images each, so that a thread slowed by
            # another process leaves part of its share to the other).
            runs = max(1, min(N, 2 * backend.get_num_threads()))
            partial = backend.empty((runs, KH, KW * C, O), grad.dtype)
            backend.tiled_weight_grad(partial, x_last, dy_last, sh, sw, ph, pw, dh)
            dtaps = backend.empty((KH, KW * C, O), grad.dtype)
            backend.sum_partials(dtaps, partial, False)
            del partial
            dweight = weight_from_taps(backend, dtaps, (O, C, KH, KW), ctx.flip)
        if ctx.needs_input_grad[0]:
            C = weight.shape[1]
            if plan.input_grad == "fold":
                dx = _input_grad_by_folding(backend, dy_last.reshape(N * OH * OW, O), _weight_rows(backend, weight, 1),
                                            ctx.geometry, (N, C, H, W), plan)
            else:
                adjoint = backend.empty((KH, KW * O, C), grad.dtype)
                backend.weight_to_taps(adjoint, weight, True)
                dx_last = backend.empty((N, H, W, C), grad.dtype)
                if plan.input_grad == "tiled":
                    backend.tiled_conv(dx_last, dy_last, adjoint, 1, 1, dh * (KH - 1) - ph, (KW - 1) - pw, dh)
                else:  # "phases"
                    rows_taps, rows_shift, top, rows = _phases(sh, ph, KH, dh, H, OH)
                    cols_taps, cols_shift, left, columns = _phases(sw, pw, KW, 1, W, OW)
                    dyp = backend.empty((N, rows, columns, O), grad.dtype)
                    backend.pad_images(dyp, dy_last, top, left)
                    backend.tiled_conv_transpose(dx_last, dyp, adjoint, sh, sw, rows_taps, rows_shift,
                                                 cols_taps, cols_shift)
                dx = _from_channels_last(backend, dx_last, None, plan.input_grad_channels_last)
        if ctx.needs_input_grad[2]:
            dbias = dy_last.reshape(-1, O).sum(axis=0)
        return dx, dweight, dbias, None, None, None
