"""conv2d by strips, for stride-1 layers with many channels on the CPU (ResNet's 3x3 layers).

The image is unfolded along the kernel's width only (``backends/cpu/strips.py`` gives the
layout and the measurements); the kernel's rows are row offsets of KH accumulating GEMMs per
image. ``conv2d`` sends a layer here when the backend's plan says ``lowering == "strips"``
(``backends/cpu/conv_plan.py``). Forward and backward, everything channels-last::

    taps[kh] = W[:, :, kh, :] as (KW*C, O)
    out[n]   = sum_kh strips(x)[n, kh*dh : kh*dh + OH] @ taps[kh]
    dtaps[kh] = sum_n strips(x)[n, kh*dh : kh*dh + OH]^T @ dY[n]          then dW from dtaps
    dX[n]    = sum_kh strips(dY)[n, kh*dh : kh*dh + H] @ taps'[kh]
               dY padded by dh*(KH-1) - ph, taps'[kh, kw*O + o, c] = W[o, c, KH-1-kh, KW-1-kw]

The last line is the stride-1 identity of ``conv_direct.py``: the adjoint of a correlation is
the correlation with the flipped kernel and its in/out channels swapped.
"""

from __future__ import annotations

from ..autograd import Function
from ..backends import get_backend
from .conv import _from_channels_last, _images

__all__ = ["StripConv2d"]  # weight_and_taps, save_input_and_weight, weight_from_taps: imported by name (shifts, tiles)


def _convolve(backend, out_last, image_last, taps, KW, pad, dh, dw, chunks):
    """``out_last`` (N, OH, OW, O) = the stride-1 correlation of ``image_last`` (N, H, W, C) with ``taps``, chunk by chunk."""
    N, OH, OW = out_last.shape[:3]
    KH, K = taps.shape[0], taps.shape[1]
    for s, e in chunks:
        strips = backend.empty((e - s, OH + dh * (KH - 1), OW, K), out_last.dtype)
        backend.im2strip(strips, _images(image_last, s, e, N), KW, pad[0], pad[1], dw)
        backend.strip_conv(_images(out_last, s, e, N), strips, taps, dh)
        # Release the chunk's strips before the next allocation: the pool then hands the same
        # (cache-warm) buffer to the next chunk.
        del strips


def weight_and_taps(backend, weight, flip):
    """The weight as the forward uses it (flipped for a true convolution, contiguous) and its taps (KH, KW*C, O)."""
    weight = backend.contiguous(weight[:, :, ::-1, ::-1] if flip else weight)
    O, C, KH, KW = weight.shape
    taps = backend.empty((KH, KW * C, O), weight.dtype)
    backend.weight_to_taps(taps, weight, False)
    return weight, taps


def save_input_and_weight(ctx, x_last, weight, input_hw):
    """Keep what the backward of a taps-based convolution needs: the input only for dW, the weight only for dX.

    Shared by the strips, the shifts and the tiles (``conv_shifts.py``, ``conv_tiled.py``);
    ``ctx.parents`` is empty when no graph is recorded, and then nothing is kept.
    """
    recorded = bool(ctx.parents)
    ctx.save_for_backward(x_last if recorded and ctx.needs_input_grad[1] else None,
                          weight if recorded and ctx.needs_input_grad[0] else None)
    ctx.input_hw = tuple(input_hw)


def weight_from_taps(backend, dtaps, weight_shape, flip):
    """dW (O, C, KH, KW) from its taps (KH, KW*C, O), the kernel flipped back for a true convolution."""
    dweight = backend.empty(weight_shape, dtaps.dtype)
    backend.taps_to_weight(dweight, dtaps)
    return backend.contiguous(dweight[:, :, ::-1, ::-1]) if flip else dweight


class StripConv2d(Function):
    """Stride-1, single-group cross-correlation by strips (``flip``: true convolution)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, flip, plan):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        x_last = backend.channels_last(x)
        N, C = x.shape[:2]
        O = weight.shape[0]
        weight, taps = weight_and_taps(backend, weight, flip)
        out_last = backend.empty((N, OH, OW, O), x.dtype)
        _convolve(backend, out_last, x_last, taps, KW, (ph, pw), dh, dw, plan.chunks)
        ctx.geometry, ctx.flip, ctx.plan = geometry, flip, plan
        save_input_and_weight(ctx, x_last, weight, x.shape[2:])
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
            dtaps = backend.empty((KH, KW * C, O), grad.dtype)
            for i, (s, e) in enumerate(plan.chunks):
                strips = backend.empty((e - s, OH + dh * (KH - 1), OW, KW * C), grad.dtype)
                backend.im2strip(strips, _images(x_last, s, e, N), KW, ph, pw, dw)
                backend.strip_weight_grad(dtaps, strips, _images(dy_last, s, e, N), dh, i > 0)
                del strips  # the next chunk reuses this buffer
            if not plan.chunks:  # an empty batch: nothing contributes to dW
                dtaps[...] = 0
            dweight = weight_from_taps(backend, dtaps, (O, C, KH, KW), ctx.flip)
        if ctx.needs_input_grad[0]:
            C = weight.shape[1]
            adjoint = backend.empty((KH, KW * O, C), grad.dtype)
            backend.weight_to_taps(adjoint, weight, True)
            dx_last = backend.empty((N, H, W, C), grad.dtype)
            _convolve(backend, dx_last, dy_last, adjoint, KW, (dh * (KH - 1) - ph, dw * (KW - 1) - pw), dh, dw,
                      plan.input_grad_chunks)
            dx = _from_channels_last(backend, dx_last, None, plan.input_grad_channels_last)
        if ctx.needs_input_grad[2]:
            dbias = (dy_last.reshape(-1, O).sum(axis=0) if backend.channels_last_view(grad) is not None
                     else grad.sum(axis=(0, 2, 3)))
        return dx, dweight, dbias, None, None, None
