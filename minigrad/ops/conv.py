"""Convolution ops: ``conv2d`` (cross-correlation, as every ConvNet) and ``convolve2d`` (true
convolution); ``conv_transpose2d`` is in ``conv_transpose.py``.

A convolution is a lowering + one GEMM. The course's lowering is im2col (``cols``, one row
per (c, kh, kw), one column per output position; ``backends/*/conv.py``). The kernels here
mostly use its transpose, computed channels-last: ``im2row`` (``backends/*/channels_last.py``)
unfolds an NHWC image into ``rows`` of shape (N*OH*OW, KH*KW*C), one per output position, and
the weight is taken channels-last too, ``W_rows`` of shape (O, KH*KW*C). Then::

    out  = rows @ W_rows^T    (positions, O): the output, channels-last
    dW   = dY^T @ rows        the kernel is shared by all positions and images, so its gradient
                              sums over them; (O, KH*KW*C), the weight channels-last
    dRows = dY @ W_rows       then row2im folds dRows back into dX (strided and grouped convs;
                              with stride 1, dX = im2row(dY) and a GEMM with the flipped kernel,
                              see ``_input_grad_by_correlation``)

With groups, each group is its own GEMM on its own (positions, C/groups*KH*KW) matrix.

This module states that math. Which lowering a layer takes (im2row, im2col's columns, none
for a pointwise layer, or no lowering at all: ``conv_direct.py``), how the batch is chunked,
whether the forward keeps its rows for dW, how dX is computed and in which memory format the
results are returned is the backend's ``plan_conv2d`` (``backends/*/conv_plan.py``, which
gives the measurements behind each choice): ``conv2d`` asks for the plan once and the
Functions follow it.
"""

from __future__ import annotations

from ..autograd import Function, is_grad_enabled
from ..backends import get_backend
from .conv_direct import DirectConv2d
from .geometry import as_batch, check_dtypes, conv_geometry, unbatch
from .linalg import grouped_gemm

__all__ = ["conv2d", "convolve2d"]


def _images(a, s, e, N):
    """``a[s:e]`` along the batch axis, without slicing when the chunk is the whole batch."""
    return a if (s, e) == (0, N) else a[s:e]


def _from_channels_last(backend, last, bias, keep_channels_last):
    """A channels-last (N, H, W, C) result as the (N, C, H, W) tensor array, plus a per-channel bias.

    With ``keep_channels_last`` (the plan's choice) the result stays stored channels-last (a
    transposed view, see ``backends/cpu/memory_format.py``): the next convolution reads it as it
    is. Otherwise it is transposed to NCHW by the layout kernel, which adds the bias on the way.
    """
    if keep_channels_last:
        if bias is not None:
            last += bias
        return last.transpose(0, 3, 1, 2)
    N, H, W, C = last.shape
    out = backend.empty((N, C, H, W), last.dtype)
    backend.to_channels_first(out, last, bias if bias is not None else backend.zeros((C,), last.dtype))
    return out


def _channel_slice(image, g, groups):
    """Group ``g``'s channels of a channels-last image (a view on the CPU, a copy on a GPU)."""
    Cg = image.shape[3] // groups
    return image if groups == 1 else image[..., g * Cg:(g + 1) * Cg]


def _rows_of(backend, x, s, e, geometry, groups, lowering):
    """The row matrices of images ``s:e`` of ``x`` (NCHW) under ``lowering``, one per group.

    Returns:
        Shape (groups, (e-s)*OH*OW, C/groups*KH*KW), each row ordered (kh, kw, c).
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    C, L = x.shape[1], (e - s) * OH * OW
    if lowering == "columns":
        # One channel per group: im2row's (kh, kw, c) order is im2col's (c, kh, kw), so the rows
        # are im2col's columns transposed, taken from the NCHW input directly.
        cols = backend.empty((C * KH * KW, L), x.dtype)
        backend.im2col(cols, backend.contiguous(_images(x, s, e, x.shape[0])), *geometry)
        return cols.reshape(groups, KH * KW, L).transpose(0, 2, 1)
    x_last = backend.channels_last(_images(x, s, e, x.shape[0]))
    if lowering == "pointwise":
        return x_last.reshape(1, L, C)
    rows = backend.empty((groups, L, C // groups * KH * KW), x.dtype)
    for g in range(groups):
        backend.im2row(rows[g], _channel_slice(x_last, g, groups), *geometry)
    return rows


def _by_group(a, groups):
    """A (positions, groups*K) matrix as the (groups, positions, K) stack of its column blocks."""
    if groups == 1:
        return a.reshape(1, *a.shape)
    return a.reshape(a.shape[0], groups, a.shape[1] // groups).transpose(1, 0, 2)


def _matmul_into(backend, target, a, b, groups):
    """``target[:, g*Og:(g+1)*Og] = a[g] @ b[g]`` for each group: the groups' outputs side by side."""
    if groups == 1:
        grouped_gemm(backend, a, b, 1, out=target.reshape(1, *target.shape))
    else:
        # Device arrays copy strided views, so a strided ``out`` would be lost: assign instead.
        target[...] = grouped_gemm(backend, a, b, groups).transpose(1, 0, 2).reshape(target.shape)


def _weight_rows(backend, weight, groups):
    """The weight as im2row's (kh, kw, c)-ordered rows: channels-last, one block of O/groups rows per group.

    Returns:
        Shape (groups, O/groups, C/groups*KH*KW).
    """
    O, Cg, KH, KW = weight.shape
    w = backend.empty((O, KH, KW, Cg), weight.dtype)
    backend.to_channels_last(w, weight)
    return w.reshape(groups, O // groups, KH * KW * Cg)


class Conv2d(Function):
    """Cross-correlation of a batch with a bank of kernels (``flip`` turns it into true convolution).

    Each chunk of images of the plan is lowered to rows (``_rows_of``) and multiplied by the
    weight as ``(O, KH*KW*C)`` rows, the weight channels-last; the result, (positions, O), is
    NHWC and is returned as it is or transposed to NCHW (``_from_channels_last``), with the bias
    added. Lowering a chunk and multiplying it before the next keeps its rows in cache; unless
    the plan saves the rows, the backward redoes them chunk by chunk from the saved input.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, groups, flip, plan):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        if backend.channels_last_view(x) is None:
            x = backend.contiguous(x)
        N, C = x.shape[:2]
        O = weight.shape[0]
        P = OH * OW
        weight = backend.contiguous(weight[:, :, ::-1, ::-1] if flip else weight)
        w = _weight_rows(backend, weight, groups)
        # Only dW needs the rows again; ctx.parents is empty when no graph is recorded.
        weight_grad = bool(ctx.parents) and ctx.needs_input_grad[1]
        chunks = plan.chunks
        out_last = backend.empty((N * P, O), x.dtype)
        saved_rows = None
        for s, e in chunks:
            rows = _rows_of(backend, x, s, e, geometry, groups, plan.lowering)
            _matmul_into(backend, out_last if len(chunks) == 1 else out_last[s * P:e * P], rows, w.transpose(0, 2, 1),
                         groups)
            if plan.save_rows:
                saved_rows = rows
            # Release the chunk's buffers before the next allocation, so that the pool hands the
            # same (cache-warm) buffers to the next chunk instead of alternating between two.
            del rows
        ctx.geometry, ctx.groups, ctx.flip, ctx.input_hw, ctx.plan = geometry, groups, flip, x.shape[2:], plan
        ctx.save_for_backward(x if weight_grad and not plan.save_rows else None, saved_rows, w, weight)
        return _from_channels_last(backend, out_last.reshape(N, OH, OW, O), bias, plan.output_channels_last)

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x, saved_rows, w, weight = ctx.saved_tensors
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = ctx.geometry
        plan = ctx.plan
        chunks = plan.chunks
        N, O = grad.shape[:2]
        G, Og, K = w.shape
        C = G * K // (KH * KW)
        P = OH * OW
        # dY channels-last, (positions, O): the GEMMs' operand for both dW and dX.
        dy_last = backend.channels_last(grad).reshape(N * P, O)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[1]:
            # dW = dY^T @ rows per group, summed over the chunks: the long positions axis is the
            # GEMM's inner dimension, and the result is the weight channels-last, (O, KH, KW, C/groups).
            dweight_last = None
            for s, e in chunks:
                rows = saved_rows if saved_rows is not None else _rows_of(backend, x, s, e, ctx.geometry, G,
                                                                          plan.lowering)
                dy_c = dy_last if len(chunks) == 1 else dy_last[s * P:e * P]
                if plan.weight_grad_by_columns:
                    # im2col's columns seen transposed: rows^T @ dY reads them in place.
                    part = grouped_gemm(backend, rows.transpose(0, 2, 1), _by_group(dy_c, G), G)
                    part = part.reshape(G, K, Og).transpose(0, 2, 1)
                else:
                    part = grouped_gemm(backend, _by_group(dy_c, G).transpose(0, 2, 1), rows, G).reshape(G, Og, K)
                if dweight_last is None:
                    dweight_last = part
                else:
                    dweight_last += part
                del rows  # as in the forward: the next chunk reuses this buffer
            if dweight_last is None:  # an empty batch has no chunks: nothing contributes to dW
                dweight_last = backend.zeros((G, Og, K), w.dtype)
            dweight = backend.empty((O, C // G, KH, KW), w.dtype)
            backend.to_channels_first(dweight, dweight_last.reshape(O, KH, KW, C // G), backend.zeros((C // G,), w.dtype))
            if ctx.flip:
                dweight = backend.contiguous(dweight[:, :, ::-1, ::-1])
        if ctx.needs_input_grad[0]:
            H, W = ctx.input_hw
            if plan.input_grad == "correlation":
                dx_last = _input_grad_by_correlation(backend, dy_last.reshape(N, OH, OW, O), weight, ctx.geometry,
                                                     (H, W), plan.input_grad_chunks)
                dx = _from_channels_last(backend, dx_last, None, plan.input_grad_channels_last)
            else:
                dx = _input_grad_by_folding(backend, dy_last, w, ctx.geometry, (N, C, H, W), plan)
        if ctx.needs_input_grad[2]:
            # Summed in the layout dY came in: NumPy's column sums of a narrow (positions, O) matrix
            # are slow (LeNet-5's 50176x6: 0.9 ms, 0.09 ms over NCHW planes).
            dbias = dy_last.sum(axis=0) if backend.channels_last_view(grad) is not None else grad.sum(axis=(0, 2, 3))
        return dx, dweight, dbias, None, None, None


def _input_grad_by_folding(backend, dy_last, w, geometry, input_shape, plan):
    """dX = row2im(dY @ W_rows) per chunk and group (``dY @ W_rows`` itself for a pointwise layer).

    Args:
        backend: the tensors' backend.
        dy_last: dY channels-last, (N*OH*OW, O).
        w: the weight rows, (groups, O/groups, C/groups*KH*KW).
        geometry: ``conv_geometry``'s tuple of the forward.
        input_shape: (N, C, H, W) of the forward's input.
        plan: the forward's ``ConvPlan``.

    Returns:
        dX, shape (N, C, H, W), stored as the plan says.
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    N, C, H, W = input_shape
    G, Og, K = w.shape
    P = OH * OW
    chunks = plan.input_grad_chunks
    dx_last = backend.empty((N, H, W, C), w.dtype)
    for s, e in chunks:
        L = (e - s) * P
        dy_c = dy_last if len(chunks) == 1 else dy_last[s * P:e * P]
        target = _images(dx_last, s, e, N)
        if plan.input_grad == "gemm":
            grouped_gemm(backend, _by_group(dy_c, G), w, G, out=target.reshape(1, L, C))
            continue
        drows = backend.empty((G, L, K), w.dtype)
        grouped_gemm(backend, _by_group(dy_c, G), w, G, out=drows)
        if G == 1:
            backend.row2im(target, drows[0], *geometry)
        else:
            part = backend.empty((e - s, H, W, C // G), w.dtype)
            for g in range(G):
                backend.row2im(part, drows[g], *geometry)
                target[..., g * (C // G):(g + 1) * (C // G)] = part
            del part
        del drows  # the next chunk reuses this buffer
    return _from_channels_last(backend, dx_last, None, plan.input_grad_channels_last)


def _input_grad_by_correlation(backend, dy_last, weight, geometry, input_hw, chunks):
    """dX of a stride-1, single-group convolution as a cross-correlation of dY.

    With stride 1, ``dX[n, c, i, j] = sum_{o, k, l} dY[n, o, i + ph - k*dh, j + pw - l*dw] * W[o, c, k, l]``;
    substituting ``k' = KH-1-k`` makes it a cross-correlation of dY, padded by
    ``dh*(KH-1) - ph``, with the flipped kernel ``W'[c, o, k', l'] = W[o, c, KH-1-k', KW-1-l']``
    (the transposed convolution written as a convolution). So dX is im2row of dY followed
    by a GEMM whose inner dimension is O*KH*KW, instead of ``dY @ W`` (inner dimension
    O: a memory-bound GEMM writing KH*KW times dX's size) followed by row2im's
    read-modify-write.

    Args:
        backend: the tensors' backend.
        dy_last: dY channels-last, shape (N, OH, OW, O).
        weight: the forward's (possibly flipped) weight, (O, C, KH, KW).
        geometry: ``conv_geometry``'s tuple of the forward.
        input_hw: (H, W) of the forward's input.
        chunks: the plan's runs of images for this pass.

    Returns:
        dX channels-last, shape (N, H, W, C).
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = input_hw
    N, O = dy_last.shape[0], dy_last.shape[3]
    C = weight.shape[1]
    K = O * KH * KW
    # W'[c, (k', l', o)] = W[o, c, KH-1-k', KW-1-l'], in im2row's (kh, kw, channel) order: a 2-D
    # transpose by the layout kernel, then the taps reversed (NumPy's 4-D transposing copy was 5x slower).
    w_t = backend.empty((1, C * KH * KW, 1, O), dy_last.dtype)
    backend.to_channels_last(w_t, weight.reshape(1, O, C * KH * KW, 1))
    w_flip = backend.contiguous(w_t.reshape(C, KH, KW, O)[:, ::-1, ::-1, :]).reshape(C, K)
    del w_t
    dx_last = backend.empty((N, H, W, C), dy_last.dtype)
    for s, e in chunks:
        L = (e - s) * H * W
        rows = backend.empty((L, K), dy_last.dtype)
        backend.im2row(rows, _images(dy_last, s, e, N), KH, KW, 1, 1, dh * (KH - 1) - ph, dw * (KW - 1) - pw, dh, dw, H, W)
        backend.gemm(_images(dx_last, s, e, N).reshape(L, C), rows, w_flip.T)
        del rows  # the next chunk reuses this (cache-warm) buffer
    return dx_last


def _conv2d(op, input, weight, bias, stride, padding, dilation, groups, flip):
    from ..tensor import Tensor

    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    input, unbatched = as_batch(op, input)
    check_dtypes(op, input.data, weight.data, None if bias is None else bias.data)
    geometry = conv_geometry(op, input.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},) for weight {weight.shape}, got {bias.shape}")
    # Function.apply records a graph (and the backward computes dW) exactly when this holds.
    needs_weight_grad = weight.requires_grad and is_grad_enabled()
    plan = get_backend(input.device).plan_conv2d(tuple(input.shape), tuple(weight.shape), geometry, int(groups),
                                                 input.dtype, needs_weight_grad)
    if plan.lowering == "direct":
        return unbatch(DirectConv2d.apply(input, weight, bias, geometry, flip), unbatched)
    if plan.lowering == "tiled":
        from .conv_tiled import TiledConv2d  # it imports this module's layout helpers

        return unbatch(TiledConv2d.apply(input, weight, bias, geometry, flip, plan=plan), unbatched)
    if plan.lowering == "strips":
        from .conv_strips import StripConv2d  # it imports this module's layout helpers

        return unbatch(StripConv2d.apply(input, weight, bias, geometry, flip, plan=plan), unbatched)
    if plan.lowering == "shifts":
        from .conv_shifts import ShiftConv2d  # it imports this module's layout helpers

        return unbatch(ShiftConv2d.apply(input, weight, bias, geometry, flip, plan=plan), unbatched)
    return unbatch(Conv2d.apply(input, weight, bias, geometry, int(groups), flip, plan=plan), unbatched)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, what every ConvNet (and PyTorch) calls convolution.

    ``out[n, o, i, j] = b[o] + sum_{c, k, l} W[o, c, k, l] * x_pad[n, g*C/G + c, i*S + k*D, j*S + l*D]``
    where ``g`` is the group of output channel ``o``.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) (then the result is (O, OH, OW)).
        weight: (O, C/groups, KH, KW).
        bias: (O,) or None.
        stride: int or (sh, sw).
        padding: int, (ph, pw), "valid" (no padding) or "same" (output size = input size; stride 1).
        dilation: int or (dh, dw).
        groups: split channels into this many independent convolutions (groups = C: depthwise).

    Returns:
        Tensor of shape (N, O, OH, OW).

    Shape:
        OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1, likewise OW.
    """
    return _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups, False)


def convolve2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """True 2-D convolution: ``conv2d`` with the kernel flipped in both spatial axes.

    ConvNets compute cross-correlation, ``sum W[k, l] x[i + k, j + l]``; the convolution of
    signal processing is ``sum W[k, l] x[i - k, j - l]``, i.e. correlation with
    ``W[::-1, ::-1]``. For learned kernels the difference is only a relabelling of the
    weights, but for a fixed asymmetric kernel (e.g. a Sobel filter) the results differ.

    Args:
        input, weight, bias, stride, padding, dilation, groups: as ``conv2d``.

    Returns:
        Tensor of shape (N, O, OH, OW), sizes as ``conv2d``.
    """
    return _conv2d("convolve2d", input, weight, bias, stride, padding, dilation, groups, True)
