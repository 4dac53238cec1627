"""conv2d without lowering, for stride-1 layers with few channels (LeNet-5's).

With a handful of channels, im2col's copy and a skinny GEMM cost more than the arithmetic
(``backends/cpu/direct_conv.py`` explains the kernels). ``conv2d`` sends a layer here when
the backend's plan says ``lowering == "direct"`` (``backends/*/conv_plan.py``: the CPU does
for stride-1 single-group layers below ``mg.config.channels_last_min`` channels); everything
else goes through ``minigrad.ops.conv``'s lowering + GEMM.

Forward and backward are the same two kernels::

    out = conv2d_direct(x, W)                         b added in the same pass
    dW  = conv2d_direct_weight_grad(x, dY)            per tap, dY . (the shifted input)
    dX  = conv2d_direct(dY, W')  padded by dh*(KH-1) - ph
          with W'[c, o, k, l] = W[o, c, KH-1-k, KW-1-l]

The last line is the stride-1 identity: the adjoint of a correlation is the correlation
with the flipped kernel and its in/out channels swapped (the transposed convolution).
"""

from __future__ import annotations

from ..autograd import Function
from ..backends import get_backend

__all__ = ["DirectConv2d"]


class DirectConv2d(Function):
    """Stride-1, single-group cross-correlation computed directly (``flip``: true convolution)."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, flip):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        x = backend.contiguous(x)
        weight = backend.contiguous(weight[:, :, ::-1, ::-1] if flip else weight)
        N, O = x.shape[0], weight.shape[0]
        out = backend.empty((N, O, OH, OW), x.dtype)
        backend.conv2d_direct(out, x, weight, bias if bias is not None else backend.zeros((O,), x.dtype),
                              ph, pw, dh, dw)
        ctx.geometry, ctx.flip = geometry, flip
        # x is needed only for dW, the weight only for dX.
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight if ctx.needs_input_grad[0] else None)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x, weight = ctx.saved_tensors
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = ctx.geometry
        grad = backend.contiguous(grad)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[0]:
            C = weight.shape[1]
            flipped = backend.contiguous(weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
            dx = backend.empty(ctx.input_shape, grad.dtype)
            backend.conv2d_direct(dx, grad, flipped, backend.zeros((C,), grad.dtype),
                                  dh * (KH - 1) - ph, dw * (KW - 1) - pw, dh, dw)
        if ctx.needs_input_grad[1]:
            if x.shape[0] == 0:  # the kernel sums over images; with none it would write nothing
                dweight = backend.zeros((grad.shape[1], x.shape[1], KH, KW), grad.dtype)
            else:
                dweight = backend.empty((grad.shape[1], x.shape[1], KH, KW), grad.dtype)
                backend.conv2d_direct_weight_grad(dweight, x, grad, ph, pw, dh, dw)
            if ctx.flip:
                dweight = backend.contiguous(dweight[:, :, ::-1, ::-1])
        if ctx.needs_input_grad[2]:
            # Over the batch first, then each plane: a reduction over contiguous axes (64x6x28x28
            # float32: 24 us, against 53 us for sum(axis=(0, 2, 3)); 64x16x10x10: 9 against 34 us).
            dbias = grad.sum(axis=0).reshape(grad.shape[1], -1).sum(axis=1)
        return dx, dweight, dbias, None, None
