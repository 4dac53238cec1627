"""Convolution ops: ``conv2d`` (cross-correlation, as every ConvNet), ``convolve2d`` (true
convolution) and ``conv_transpose2d`` (the U-Net up-convolution).

A convolution is a lowering + one GEMM. The course's lowering is im2col (``cols``, one row
per (c, kh, kw), one column per output position; ``minigrad.backends.cpu.conv``). The kernels
here use its transpose, computed channels-last: ``im2row`` (``backends/*/channels_last.py``)
unfolds an NHWC image into ``rows`` of shape (N*OH*OW, KH*KW*C), one per output position, and
the weight is taken channels-last too, ``W_rows`` of shape (O, KH*KW*C). Then::

    out  = rows @ W_rows^T    (positions, O): the output, channels-last
    dW   = dY^T @ rows        the kernel is shared by all positions and images, so its gradient
                              sums over them; (O, KH*KW*C), the weight channels-last
    dRows = dY @ W_rows       then row2im folds dRows back into dX (strided and grouped convs;
                              with stride 1, dX = im2row(dY) and a GEMM with the flipped kernel,
                              see ``_input_grad_by_correlation``)

Why channels-last: each kernel tap copies C contiguous floats, where im2col copies spans of
an image row (4-32 floats on CIFAR ResNet planes), and the GEMM writes channels-last output.
On the CPU a result of ``mg.config.channels_last_min`` channels or more is returned stored that way (a
transposed view, shape still (N, C, H, W); see ``minigrad.ops.layout``), so the next
convolution reads it without a transpose; batch norm and ReLU keep the format.

Stride-1 layers with few channels (LeNet-5's) skip the lowering: ``minigrad.ops.conv_direct``.

With groups, each group is its own GEMM on its own (positions, C/groups*KH*KW) matrix.
A layer with one input channel per group lowers with im2col's columns instead (see ``_rows_of``).

``mg.config.save_columns`` chooses what the forward keeps for the backward: the row matrix
(KH*KW times the input's size; backward skips one im2row) or only the input (backward
recomputes the rows). ``benchmarks/kernels.py`` measures both.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..configuration import config
from .conv_direct import DirectConv2d, direct_applies
from .geometry import as_batch, check_dtypes, conv_geometry, unbatch
from .layout import channels_last, channels_last_view
from .layout import contiguous as _contiguous

__all__ = ["conv2d", "convolve2d"]

# Two switches of ``mg.config`` (``minigrad/configuration.py``) steer this module:
# - ``save_columns`` (default off): keep the im2row matrix for the backward instead of the
#   input. CIFAR ResNet-18 at batch 64 peaks at 1962 MiB with saved columns and 678 MiB with
#   recomputed, chunked ones (PyTorch: 589 MiB), for a step time within the load noise
#   (2.9 vs 3.0 s); ``benchmarks/vs_torch.py`` measures it. Matrices of one chunk are always kept.
# - ``chunk_bytes`` (16 MiB): bytes of im2row rows per chunk of images (``_image_chunks``):
#   fits the 32 MiB L3 next to the chunk's output; 4 MiB chunks were slower on a loaded
#   2-core machine (more GEMM calls, each a thread synchronisation).


def _grouped_matmul(a, b, groups, out=None):
    """``a[g] @ b[g]`` for each group, into ``out`` (allocated when None); a 2-D GEMM when there is one group.

    On the CPU the backend runs small products on one BLAS thread (see its ``gemm.py``).
    """
    backend = get_backend("cpu" if isinstance(a, np.ndarray) else "cuda")
    if out is None:
        out = backend.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    if groups == 1:
        backend.gemm(out[0], a[0], b[0])
    else:
        backend.gemm(out, a, b)
    return out


# ------------------------------------------------------------------------ conv2d
def _image_chunks(N: int, column_bytes_per_image: int, device: str) -> list[tuple[int, int]]:
    """Split the batch into runs of images whose im2col columns take about ``config.chunk_bytes``.

    The columns of a chunk are still in cache when its GEMM (forward) or col2im (backward)
    reads them; the full column matrix of a ResNet layer (150 MB at batch 64) would make
    every pass stream through main memory. Other devices take the batch in one piece.
    """
    if device != "cpu":
        return [(0, N)]
    step = max(1, min(N, config.chunk_bytes // max(1, column_bytes_per_image)))
    return [(s, min(N, s + step)) for s in range(0, N, step)]


def _images(a, s, e, N):
    """``a[s:e]`` along the batch axis, without slicing when the chunk is the whole batch."""
    return a if (s, e) == (0, N) else a[s:e]


# ``config.channels_last_min`` (32): results with at least this many channels stay stored
# channels-last on the CPU. With a handful of channels (LeNet-5's 6 and 16) the pooling after
# them wants NCHW anyway, and a LeNet-5 step took 15 instead of 12 ms with channels-last results.
def _from_channels_last(backend, last, bias, device):
    """A channels-last (N, H, W, C) result as the (N, C, H, W) tensor array, plus a per-channel bias.

    On the CPU a result of ``config.channels_last_min`` channels or more stays stored channels-last
    (a transposed view, see ``layout``): the next convolution reads it as it is. Other
    results are transposed to NCHW.
    """
    if device == "cpu" and last.shape[3] >= config.channels_last_min:
        if bias is not None:
            last += bias
        return last.transpose(0, 3, 1, 2)
    N, H, W, C = last.shape
    out = backend.empty((N, C, H, W), last.dtype)
    backend.to_channels_first(out, last, bias if bias is not None else backend.zeros((C,), last.dtype))
    return out


def _pointwise(geometry) -> bool:
    """A 1x1, stride-1, unpadded convolution: im2row is the identity on channels-last input."""
    KH, KW, sh, sw, ph, pw = geometry[:6]
    return KH == KW == sh == sw == 1 and ph == pw == 0


def _channel_slice(image, g, groups):
    """Group ``g``'s channels of a channels-last image (a view on the CPU, a copy on a GPU)."""
    Cg = image.shape[3] // groups
    return image if groups == 1 else image[..., g * Cg:(g + 1) * Cg]


def _rows_of(backend, x, s, e, geometry, groups):
    """im2row of images ``s:e`` of ``x`` (NCHW), one (positions, C/groups*KH*KW) matrix per group.

    Returns:
        Shape (groups, (e-s)*OH*OW, C/groups*KH*KW), each row ordered (kh, kw, c).
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    C, L = x.shape[1], (e - s) * OH * OW
    if C == groups:
        # One channel per group (a grayscale input layer, a depthwise conv): im2row's (kh, kw, c)
        # order is im2col's (c, kh, kw), so the rows are im2col's columns transposed, taken from
        # the NCHW input directly, and im2col copies whole image rows where im2row would copy
        # one float per tap (LeNet-5's conv1, batch 64, one thread: 0.8 vs 2.8 ms).
        cols = backend.empty((C * KH * KW, L), x.dtype)
        backend.im2col(cols, _contiguous(_images(x, s, e, x.shape[0])), *geometry)
        return cols.reshape(groups, KH * KW, L).transpose(0, 2, 1)
    x_last = channels_last(_images(x, s, e, x.shape[0]))
    if _pointwise(geometry) and groups == 1:
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


def _matmul_into(target, a, b, groups):
    """``target[:, g*Og:(g+1)*Og] = a[g] @ b[g]`` for each group: the groups' outputs side by side."""
    if groups == 1:
        _grouped_matmul(a, b, 1, out=target.reshape(1, *target.shape))
    else:
        # Device arrays copy strided views, so a strided ``out`` would be lost: assign instead.
        target[...] = _grouped_matmul(a, b, groups).transpose(1, 0, 2).reshape(target.shape)


class Conv2d(Function):
    """Cross-correlation of a batch with a bank of kernels (``flip`` turns it into true convolution).

    The kernels run channels-last: each chunk of images is taken as NHWC (its own memory when
    the input is stored channels-last, else a transposed copy), unfolded by ``im2row``, and
    multiplied by the weight as ``(O, KH*KW*C)`` rows; the result, (positions, O), is NHWC and
    is returned as it is or transposed to NCHW (``_from_channels_last``), with the bias added.

    Row matrices larger than one chunk (``config.chunk_bytes``) are, unless ``config.save_columns``, computed
    in chunks of images (``_image_chunks``): im2row, then the GEMM of that chunk, so that the
    rows never leave the cache; the backward redoes them chunk by chunk from the saved input.
    Smaller row matrices are kept for the backward.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, groups, flip):
        backend = get_backend(ctx.device)
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        if channels_last_view(x) is None:
            x = _contiguous(x)
        N, C = x.shape[:2]
        O = weight.shape[0]
        K = (C // groups) * KH * KW
        P = OH * OW
        weight = _contiguous(weight[:, :, ::-1, ::-1] if flip else weight)
        # Weight rows in im2row's (kh, kw, c) order: the weight channels-last, one block of
        # O/groups rows per group.
        w = backend.empty((O, KH, KW, C // groups), x.dtype)
        backend.to_channels_last(w, weight)
        w = w.reshape(groups, O // groups, K)
        # Only dW needs the rows again; ctx.parents is empty when no graph is recorded.
        weight_grad = bool(ctx.parents) and ctx.needs_input_grad[1]
        chunks = _image_chunks(N, C * KH * KW * P * x.dtype.itemsize, ctx.device)
        # Rows that fit in one chunk are kept (cheaper than a second im2row, and small);
        # saved rows must outlive the step, so they always come in one (pooled) piece.
        save = weight_grad and (config.save_columns or len(chunks) == 1)
        if save:
            chunks = [(0, N)]
        out_last = backend.empty((N * P, O), x.dtype)
        saved_rows = None
        for s, e in chunks:
            rows = _rows_of(backend, x, s, e, geometry, groups)
            _matmul_into(out_last if len(chunks) == 1 else out_last[s * P:e * P], rows, w.transpose(0, 2, 1), groups)
            if save:
                saved_rows = rows
            # Release the chunk's buffers before the next allocation, so that the pool hands the
            # same (cache-warm) buffers to the next chunk instead of alternating between two.
            del rows
        ctx.geometry, ctx.groups, ctx.flip, ctx.input_hw, ctx.chunks = geometry, groups, flip, x.shape[2:], chunks
        ctx.save_for_backward(x if weight_grad and not save else None, saved_rows, w, weight)
        return _from_channels_last(backend, out_last.reshape(N, OH, OW, O), bias, ctx.device)

    @staticmethod
    def backward(ctx, grad):
        backend = get_backend(ctx.device)
        x, saved_rows, w, weight = ctx.saved_tensors
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = ctx.geometry
        groups, chunks = ctx.groups, ctx.chunks
        N, O = grad.shape[:2]
        G, Og, K = w.shape
        C = G * K // (KH * KW)
        P = OH * OW
        # dY channels-last, (positions, O): the GEMMs' operand for both dW and dX.
        dy_last = channels_last(grad).reshape(N * P, O)
        dx = dweight = dbias = None
        if ctx.needs_input_grad[1]:
            # dW = dY^T @ rows per group, summed over the chunks: the long positions axis is the
            # GEMM's inner dimension, and the result is the weight channels-last, (O, KH, KW, C/groups).
            dweight_last = None
            for s, e in chunks:
                rows = saved_rows if saved_rows is not None else _rows_of(backend, x, s, e, ctx.geometry, G)
                dy_c = dy_last if len(chunks) == 1 else dy_last[s * P:e * P]
                if isinstance(rows, np.ndarray) and rows.strides[-1] != rows.itemsize:
                    # im2col's columns seen transposed (one channel per group): rows^T @ dY reads
                    # them in place; dY^T @ rows was 2x slower (LeNet-5's conv1: 1.2 vs 0.6 ms).
                    part = _grouped_matmul(rows.transpose(0, 2, 1), _by_group(dy_c, G), G)
                    part = part.reshape(G, K, Og).transpose(0, 2, 1)
                else:
                    part = _grouped_matmul(_by_group(dy_c, G).transpose(0, 2, 1), rows, G).reshape(G, Og, K)
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
                dweight = _contiguous(dweight[:, :, ::-1, ::-1])
        if ctx.needs_input_grad[0]:
            H, W = ctx.input_hw
            if _correlation_applies(ctx.device, ctx.geometry, groups, (C, O), (H, W)):
                dx = _input_grad_by_correlation(dy_last.reshape(N, OH, OW, O), weight, ctx.geometry, (H, W))
            else:
                dx_last = backend.empty((N, H, W, C), w.dtype)
                for s, e in chunks:
                    L = (e - s) * P
                    dy_c = dy_last if len(chunks) == 1 else dy_last[s * P:e * P]
                    target = _images(dx_last, s, e, N)
                    # dRows = dY @ W_rows per group, then row2im folds them into dX (channels last).
                    if _pointwise(ctx.geometry) and G == 1:
                        _grouped_matmul(_by_group(dy_c, G), w, G, out=target.reshape(1, L, C))
                        continue
                    drows = backend.empty((G, L, K), w.dtype)
                    _grouped_matmul(_by_group(dy_c, G), w, G, out=drows)
                    if G == 1:
                        backend.row2im(target, drows[0], *ctx.geometry)
                    else:
                        part = backend.empty((e - s, H, W, C // G), w.dtype)
                        for g in range(G):
                            backend.row2im(part, drows[g], *ctx.geometry)
                            target[..., g * (C // G):(g + 1) * (C // G)] = part
                        del part
                    del drows  # the next chunk reuses this buffer
                dx = _from_channels_last(backend, dx_last, None, ctx.device)
        if ctx.needs_input_grad[2]:
            # Summed in the layout dY came in: NumPy's column sums of a narrow (positions, O) matrix
            # are slow (LeNet-5's 50176x6: 0.9 ms, 0.09 ms over NCHW planes).
            dbias = dy_last.sum(axis=0) if channels_last_view(grad) is not None else grad.sum(axis=(0, 2, 3))
        return dx, dweight, dbias, None, None, None


def _correlation_applies(device, geometry, groups, channels, input_hw) -> bool:
    """Whether ``_input_grad_by_correlation`` computes this convolution's dX (see there).

    It needs stride 1, one group and padding no larger than the kernel's span, and it pays
    when the rows of dY (O*KH*KW wide, H*W per image) are no larger than those that
    row2im would fold (C*KH*KW wide, OH*OW per image): equal for ResNet's 'same' 3x3
    convolutions, 5x larger for LeNet-5's conv2 (6 -> 16 channels, padding 0), whose dX
    this path made 4x slower.

    Args:
        device: the tensors' device.
        geometry: ``conv_geometry``'s tuple.
        groups: number of groups.
        channels: (C, O), input and output channels.
        input_hw: (H, W) of the input.
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    C, O = channels
    H, W = input_hw
    return (device == "cpu" and groups == 1 and sh == sw == 1 and ph <= dh * (KH - 1) and pw <= dw * (KW - 1)
            and O * H * W <= C * OH * OW and not _pointwise(geometry))


def _input_grad_by_correlation(dy_last, weight, geometry, input_hw):
    """dX of a stride-1, single-group convolution as a cross-correlation of dY (CPU).

    With stride 1, ``dX[n, c, i, j] = sum_{o, k, l} dY[n, o, i + ph - k*dh, j + pw - l*dw] * W[o, c, k, l]``;
    substituting ``k' = KH-1-k`` makes it a cross-correlation of dY, padded by
    ``dh*(KH-1) - ph``, with the flipped kernel ``W'[c, o, k', l'] = W[o, c, KH-1-k', KW-1-l']``
    (the transposed convolution written as a convolution). So dX is im2row of dY followed
    by a GEMM whose inner dimension is O*KH*KW, instead of ``dY @ W`` (inner dimension
    O: a memory-bound GEMM writing KH*KW times dX's size) followed by row2im's
    read-modify-write.

    Args:
        dy_last: dY channels-last, shape (N, OH, OW, O).
        weight: the forward's (possibly flipped) weight, (O, C, KH, KW).
        geometry: ``conv_geometry``'s tuple of the forward.
        input_hw: (H, W) of the forward's input.

    Returns:
        dX, shape (N, C, H, W), stored channels-last.
    """
    backend = get_backend("cpu")
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = input_hw
    N, O = dy_last.shape[0], dy_last.shape[3]
    C = weight.shape[1]
    K = O * KH * KW
    # W'[c, (k', l', o)] = W[o, c, KH-1-k', KW-1-l'], in im2row's (kh, kw, channel) order: a 2-D
    # transpose by the layout kernel, then the taps reversed (NumPy's 4-D transposing copy was 5x slower).
    w_t = backend.empty((1, C * KH * KW, 1, O), dy_last.dtype)
    backend.to_channels_last(w_t, weight.reshape(1, O, C * KH * KW, 1))
    w_flip = _contiguous(w_t.reshape(C, KH, KW, O)[:, ::-1, ::-1, :]).reshape(C, K)
    del w_t
    dx_last = np.empty((N, H, W, C), dtype=dy_last.dtype)
    for s, e in _image_chunks(N, K * H * W * dy_last.dtype.itemsize, "cpu"):
        L = (e - s) * H * W
        rows = backend.empty((L, K), dy_last.dtype)
        backend.im2row(rows, _images(dy_last, s, e, N), KH, KW, 1, 1, dh * (KH - 1) - ph, dw * (KW - 1) - pw, dh, dw, H, W)
        backend.gemm(_images(dx_last, s, e, N).reshape(L, C), rows, w_flip.T)
        del rows  # the next chunk reuses this (cache-warm) buffer
    return dx_last.transpose(0, 3, 1, 2)


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
    if direct_applies(input.device, geometry, groups, (input.shape[1], weight.shape[0]), config.channels_last_min):
        return unbatch(DirectConv2d.apply(input, weight, bias, geometry, flip), unbatched)
    return unbatch(Conv2d.apply(input, weight, bias, geometry, int(groups), flip), unbatched)


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
