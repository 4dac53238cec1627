"""conv2d by shifts, for stride-1 layers with many channels on small images on the CPU (ResNet's 8x8 and 4x4 layers).

Each kernel tap is a shift of the image; with the batch stored inside each image row,
(H, W, N, C), a shift is a block of rows, and the convolution is one accumulating GEMM per
tap and output row (``backends/cpu/shifts.py`` gives the layout and the measurements).
``conv2d`` sends a layer here when the backend's plan says ``lowering == "shifts"``
(``backends/cpu/conv_plan.py``). With ``x``, ``dy`` stored (H*W*N, C) and ``(o, i, m)`` a
block of tap ``(kh, kw)``::

    out[o : o+m]    += x[i : i+m] @ W[:, :, kh, kw]^T
    dx[i : i+m]     += dy[o : o+m] @ W[:, :, kh, kw]
    dW[:, :, kh, kw] += (x[i : i+m]^T @ dy[o : o+m])^T

Padding contributes no block, so no product with it is computed.
"""

from __future__ import annotations

from ..autograd import Function
from ..backends import get_backend
from .conv import _from_channels_last
from .conv_strips import save_input_and_weight, weight_and_taps, weight_from_taps

__all__ = ["ShiftConv2d"]


def _batch_inside(backend, last):
    """A channels-last (N, H, W, C) array as its (H*W*N, C) rows, batch inside each image row (a copy)."""
    N, H, W, C = last.shape
    rows = backend.empty((H * W * N, C), last.dtype)
    backend.swap_leading_axes(rows.reshape(H * W, N, C), last.reshape(N, H * W, C))
    return rows


def _batch_outside(backend, rows, N, H, W):
    """Inverse of ``_batch_inside``: (H*W*N, C) rows as a C-contiguous (N, H, W, C) array."""
    C = rows.shape[1]
    last = backend.empty((N, H, W, C), rows.dtype)
    backend.swap_leading_axes(last.reshape(N, H * W, C), rows.reshape(H * W, N, C))
    return last


def _adjoint_taps(backend, weight):
    """``taps[kh, kw, o, c] = weight[o, c, kh, kw]``, shape (KH, KW, O, C): dX's taps.

    Tap ``(kh, kw)`` is ``weight[:, :, kh, kw]`` as stored (O, C) rows, so the input gradient
    reads it untransposed: ``weight_to_taps``'s adjoint layout (which also flips the kernel) is
    2x quicker to build than the forward's, and its flip is undone here.
    """
    O, C, KH, KW = weight.shape
    flipped = backend.empty((KH, KW, O, C), weight.dtype)
    backend.weight_to_taps(flipped.reshape(KH, KW * O, C), weight, True)
    return flipped[::-1, ::-1]


class ShiftConv2d(Function):
    """Stride-1, single-group cross-correlation by shifts (``flip``: true convolution)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, flip, plan):
        backend = get_backend(ctx.device)
        OH, OW = geometry[8], geometry[9]
        N, C, H, W = x.shape
        O = weight.shape[0]
        x_last = backend.channels_last(x)
        weight, taps = weight_and_taps(backend, weight, flip)
        blocks = backend.shift_blocks(geometry, (H, W), N)
        out_rows = backend.empty((OH * OW * N, O), x.dtype)
        backend.shift_conv(out_rows, _batch_inside(backend, x_last), taps.reshape(geometry[0], geometry[1], C, O), blocks,
                           False)
        out_last = _batch_outside(backend, out_rows, N, OH, OW)
        del out_rows
        ctx.geometry, ctx.flip, ctx.plan, ctx.blocks = geometry, flip, plan, blocks
        # The backward rebuilds the (H*W*N, C) input and the taps from what the graph already
        # holds (the input, the weight) rather than keeping copies of them through the step.
        save_input_and_weight(ctx, x_last, weight, (H, W))
        return _from_channels_last(backend, out_last, bias, plan.output_channels_last)

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x_last, weight = ctx.saved_tensors
        KH, KW = ctx.geometry[:2]
        N, O = grad.shape[:2]
        H, W = ctx.input_hw
        dy_last = backend.channels_last(grad)
        dy_rows = _batch_inside(backend, dy_last)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[1]:
            C = x_last.shape[3]
            dtaps = backend.empty((KH, KW, C, O), grad.dtype)
            backend.shift_weight_grad(dtaps, _batch_inside(backend, x_last), dy_rows, ctx.blocks)
            dweight = weight_from_taps(backend, dtaps.reshape(KH, KW * C, O), (O, C, KH, KW), ctx.flip)
        if ctx.needs_input_grad[0]:
            C = weight.shape[1]
            dx_rows = backend.empty((H * W * N, C), grad.dtype)
            backend.shift_conv(dx_rows, dy_rows, _adjoint_taps(backend, weight), ctx.blocks, True)
            dx = _from_channels_last(backend, _batch_outside(backend, dx_rows, N, H, W), None,
                                     ctx.plan.input_grad_channels_last)
        if ctx.needs_input_grad[2]:
            dbias = dy_rows.sum(axis=0)
        return dx, dweight, dbias, None, None, None
