"""Plain-NumPy references of the CNN operators, written from the course's formulas.

Nothing here is fast, and nothing here shares code with the kernels: convolution is an
``np.einsum`` over ``sliding_window_view`` (the course's Einstein notation), pooling and
unpooling are explicit loops over output positions. The test-suite checks every kernel
against these functions; ``minigrad bench`` uses them as the baseline.

All functions take and return NumPy arrays in NCHW layout.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv2d", "convolve2d", "conv_transpose2d", "max_pool2d", "min_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_unpool2d", "interpolate_nearest",
    "interpolate_bilinear", "bed_of_nails", "batch_norm", "local_response_norm", "output_size",
]


def _two(v):
    return (v, v) if isinstance(v, (int, float, np.integer, np.floating)) else tuple(v)


def output_size(size, kernel, stride=1, padding=0, dilation=1):
    """The course's formula: floor((W + 2P - D(K-1) - 1)/S) + 1."""
    return math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation, per group g::

        out[n, o, i, j] = b[o] + einsum_{c,k,l} W[o, c, k, l] * xpad[n, c, S*i + D*k, S*j + D*l]

    ``padding`` is an int, a pair, or a 4-tuple (top, bottom, left, right).
    """
    sh, sw = _two(stride)
    dh, dw = _two(dilation)
    pads = _two(padding)
    top, bottom, left, right = (pads[0], pads[0], pads[1], pads[1]) if len(pads) == 2 else pads
    O, Cg, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    # A dilated window spans D*(K-1)+1 pixels; keep every D-th of them, and every S-th window.
    win = sliding_window_view(xp, (dh * (KH - 1) + 1, dw * (KW - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]
    Og = O // groups
    outs = [
        np.einsum("nchwkl,ockl->nohw", win[:, g * Cg:(g + 1) * Cg], w[g * Og:(g + 1) * Og])
        for g in range(groups)
    ]
    out = np.concatenate(outs, axis=1)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def convolve2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """True convolution (signal-processing sign), written out as a loop over kernel taps::

        out[n, o, i, j] = b[o] + sum_{c,k,l} W[o, c, k, l] * xpad[n, c, S*i + D*(KH-1-k), S*j + D*(KW-1-l)]
    """
    sh, sw = _two(stride)
    dh, dw = _two(dilation)
    ph, pw = _two(padding)
    O, Cg, KH, KW = w.shape
    N, C, H, W = x.shape
    OH, OW = output_size(H, KH, sh, ph, dh), output_size(W, KW, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, O, OH, OW), dtype=np.result_type(x, w))
    Og = O // groups
    for g in range(groups):
        for k in range(KH):
            for l in range(KW):
                r0, c0 = dh * (KH - 1 - k), dw * (KW - 1 - l)
                patch = xp[:, g * Cg:(g + 1) * Cg, r0:r0 + sh * (OH - 1) + 1:sh, c0:c0 + sw * (OW - 1) + 1:sw]
                out[:, g * Og:(g + 1) * Og] += np.einsum("nchw,oc->nohw", patch, w[g * Og:(g + 1) * Og, :, k, l])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution as a scatter: every input pixel adds ``x[n, c, i, j] * W[c, o, k, l]``
    at ``(S*i + D*k - P, S*j + D*l - P)``; the full (uncropped) output is then cropped by P."""
    sh, sw = _two(stride)
    ph, pw = _two(padding)
    oph, opw = _two(output_padding)
    dh, dw = _two(dilation)
    N, Cin, H, W = x.shape
    _, Cog, KH, KW = w.shape
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    full = np.zeros((N, Cog * groups, OH + 2 * ph, OW + 2 * pw), dtype=np.result_type(x, w))
    Cig = Cin // groups
    for g in range(groups):
        xg = x[:, g * Cig:(g + 1) * Cig]
        for k in range(KH):
            for l in range(KW):
                contrib = np.einsum("nchw,co->nohw", xg, w[g * Cig:(g + 1) * Cig, :, k, l])
                full[:, g * Cog:(g + 1) * Cog, dh * k:dh * k + sh * (H - 1) + 1:sh, dw * l:dw * l + sw * (W - 1) + 1:sw] += contrib
    out = full[:, :, ph:ph + OH, pw:pw + OW]
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def _pool_size(size, k, s, p, d, ceil_mode):
    """Output size; under ceil_mode the last window must start inside the input or the left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else math.floor(span / s)) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _extreme_pool(x, kernel_size, stride, padding, dilation, ceil_mode, pick):
    KH, KW = _two(kernel_size)
    sh, sw = (KH, KW) if stride is None else _two(stride)
    ph, pw = _two(padding)
    dh, dw = _two(dilation)
    N, C, H, W = x.shape
    OH, OW = _pool_size(H, KH, sh, ph, dh, ceil_mode), _pool_size(W, KW, sw, pw, dw, ceil_mode)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for i in range(OH):
        for j in range(OW):
            rows = [i * sh - ph + dh * k for k in range(KH)]
            cols = [j * sw - pw + dw * l for l in range(KW)]
            flat = [r * W + c for r in rows for c in cols if 0 <= r < H and 0 <= c < W]
            if not flat:
                # A window entirely in the padding (tiny inputs with dilation): PyTorch gives
                # -inf (+inf for min) and the flat index of its first tap at or after row/column 0.
                first_r, first_c = min(r for r in rows if r >= 0), min(c for c in cols if c >= 0)
                out[:, :, i, j] = -np.inf if pick is np.argmax else np.inf
                idx[:, :, i, j] = first_r * W + first_c
                continue
            values = x.reshape(N, C, H * W)[:, :, flat]
            best = pick(values, axis=2)  # first occurrence on ties
            out[:, :, i, j] = np.take_along_axis(values, best[..., None], axis=2)[..., 0]
            idx[:, :, i, j] = np.asarray(flat)[best]
    return out, idx


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """``out[n, c, i, j] = max_{k,l} x[n, c, S*i - P + D*k, S*j - P + D*l]`` over positions inside the
    input; returns ``(out, indices)`` with indices ``h * W + w`` of the first maximum."""
    return _extreme_pool(x, kernel_size, stride, padding, dilation, ceil_mode, np.argmax)


def min_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Like ``max_pool2d`` with the minimum."""
    return _extreme_pool(x, kernel_size, stride, padding, dilation, ceil_mode, np.argmin)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Window means; the divisor counts padded zeros (``count_include_pad``) but never the part of
    a ceil-mode window that hangs past the padding."""
    KH, KW = _two(kernel_size)
    sh, sw = (KH, KW) if stride is None else _two(stride)
    ph, pw = _two(padding)
    N, C, H, W = x.shape
    OH, OW = _pool_size(H, KH, sh, ph, 1, ceil_mode), _pool_size(W, KW, sw, pw, 1, ceil_mode)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        for j in range(OW):
            r0, c0 = i * sh - ph, j * sw - pw
            r1, c1 = min(r0 + KH, H + ph), min(c0 + KW, W + pw)
            padded_area = (r1 - r0) * (c1 - c0)
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, H), min(c1, W)
            total = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3))
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = padded_area
            else:
                div = (r1 - r0) * (c1 - c0)
            out[:, :, i, j] = total / div
    return out


def _adaptive_bounds(i, size, out):
    return (i * size) // out, math.ceil((i + 1) * size / out)


def adaptive_avg_pool2d(x, output_size):
    """Mean over rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 and the matching columns."""
    OH, OW = _two(output_size)
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        r0, r1 = _adaptive_bounds(i, H, OH)
        for j in range(OW):
            c0, c1 = _adaptive_bounds(j, W, OW)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def adaptive_max_pool2d(x, output_size):
    """Max over the adaptive windows; returns ``(out, indices)`` (flat per plane)."""
    OH, OW = _two(output_size)
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for i in range(OH):
        r0, r1 = _adaptive_bounds(i, H, OH)
        for j in range(OW):
            c0, c1 = _adaptive_bounds(j, W, OW)
            window = x[:, :, r0:r1, c0:c1].reshape(N, C, -1)
            best = window.argmax(axis=2)
            out[:, :, i, j] = window.max(axis=2)
            idx[:, :, i, j] = (r0 + best // (c1 - c0)) * W + c0 + best % (c1 - c0)
    return out, idx


def max_unpool2d(x, indices, output_hw):
    """``out[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]``, zeros elsewhere."""
    N, C, H, W = x.shape
    OH, OW = output_hw
    out = np.zeros((N, C, OH * OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    out[n, c, indices[n, c, i, j]] = x[n, c, i, j]
    return out.reshape(N, C, OH, OW)


def interpolate_nearest(x, out_hw, scale_factor=None):
    """PyTorch's legacy nearest: ``src = min(floor(dst * scale), in - 1)`` in single precision, with
    ``scale = 1/scale_factor`` if a scale factor was given, else ``in/out``; PyTorch short-cuts
    ``out == in`` (identity) and ``out == 2*in`` (``dst // 2``) whatever the scale factor."""
    N, C, H, W = x.shape
    OH, OW = out_hw
    sf = _two(scale_factor) if scale_factor is not None else (None, None)

    def source(dst, size_in, size_out, factor):
        if size_out == size_in:
            return dst
        if size_out == 2 * size_in:
            return dst // 2
        scale = np.float32(1.0 / factor) if factor else np.float32(size_in) / np.float32(size_out)
        return min(int(np.floor(np.float32(dst) * scale)), size_in - 1)

    rows = [source(i, H, OH, sf[0]) for i in range(OH)]
    cols = [source(j, W, OW, sf[1]) for j in range(OW)]
    return x[:, :, rows][:, :, :, cols]


def interpolate_bilinear(x, out_hw, align_corners=False, scale_factor=None):
    """Bilinear interpolation, one output pixel at a time:

    align_corners: ``src = dst * (in-1)/(out-1)``; otherwise ``src = max((dst + 0.5) * scale - 0.5, 0)``
    with ``scale = 1/scale_factor`` or ``in/out``. The value mixes the 2x2 neighbours of ``src``.
    """
    N, C, H, W = x.shape
    OH, OW = out_hw
    sf = _two(scale_factor) if scale_factor is not None else (None, None)

    def source(dst, size_in, size_out, factor):
        if align_corners:
            return dst * (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        scale = 1.0 / factor if factor else size_in / size_out
        return max((dst + 0.5) * scale - 0.5, 0.0)

    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i in range(OH):
        sy = source(i, H, OH, sf[0])
        y0 = int(math.floor(sy))
        y1 = min(y0 + 1, H - 1)
        ty = sy - y0
        for j in range(OW):
            sx = source(j, W, OW, sf[1])
            x0 = int(math.floor(sx))
            x1 = min(x0 + 1, W - 1)
            tx = sx - x0
            out[:, :, i, j] = ((1 - ty) * ((1 - tx) * x[:, :, y0, x0] + tx * x[:, :, y0, x1])
                               + ty * ((1 - tx) * x[:, :, y1, x0] + tx * x[:, :, y1, x1]))
    return out


def bed_of_nails(x, scale):
    """Each value at the top-left corner of its s x s cell, zeros elsewhere."""
    sh, sw = _two(scale)
    N, C, H, W = x.shape
    out = np.zeros((N, C, H * sh, W * sw), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            out[:, :, i * sh, j * sw] = x[:, :, i, j]
    return out


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Returns ``(out, new_running_mean, new_running_var)``; the running estimate uses the unbiased variance."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        m = x.size // x.shape[1]
        new_mean = (1 - momentum) * running_mean + momentum * mean if running_mean is not None else None
        new_var = (1 - momentum) * running_var + momentum * var * m / (m - 1) if running_var is not None else None
    else:
        mean, var, new_mean, new_var = running_mean, running_var, running_mean, running_var
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out, new_mean, new_var


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """``b_c = a_c / (k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} a_c'^2)^beta``."""
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(c - size // 2, 0), min(c + (size - 1) // 2, C - 1)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * s) ** beta
    return out
