"""Argument checking and output sizes shared by the windowed ops (conv, pooling, upsampling).

``conv_geometry`` validates a convolution's arguments and returns the tuple every conv
kernel takes, ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``; pooling builds the same tuple
(``minigrad.ops.pooling``). Both compute the output size with ``conv_output_size``, the one
place of the course's formula ``floor((W + 2P - D(K-1) - 1)/S) + 1``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pair", "as_batch", "unbatch", "check_dtypes", "conv_output_size", "check_output_size", "conv_geometry"]


def pair(value, name: str, op: str, minimum: int = 0) -> tuple[int, int]:
    """An int, a one-element sequence or a pair of ints as ``(h, w)``, each at least ``minimum``.

    Raises:
        TypeError: ``value`` is none of these.
        ValueError: an entry is below ``minimum``.
    """
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]  # PyTorch expands (k,) to (k, k)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(result) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return result


def as_batch(op: str, x):
    """``(x, unbatched)``: a (C, H, W) input as a batch of one (PyTorch accepts both), else ``x`` itself.

    Raises:
        ValueError: ``x`` is neither 3-D nor 4-D.
    """
    if x.ndim == 3:
        return x.reshape((1,) + tuple(x.shape)), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(x.shape)}")
    return x, False


def unbatch(out, unbatched: bool):
    """Undo ``as_batch`` on an op's result (or on each tensor of a tuple of results)."""
    if not unbatched:
        return out
    if isinstance(out, tuple):
        return tuple(o.reshape(tuple(o.shape[1:])) for o in out)
    return out.reshape(tuple(out.shape[1:]))


def check_dtypes(op: str, *arrays) -> None:
    """Raise ``TypeError`` unless the arrays (None skipped) share one floating-point dtype."""
    kinds = {np.dtype(a.dtype) for a in arrays if a is not None}
    if len(kinds) > 1:
        raise TypeError(f"{op}: all inputs must have the same dtype, got {sorted(str(k) for k in kinds)}")
    if any(k.kind != "f" for k in kinds):
        raise TypeError(f"{op}: expected floating-point inputs, got {sorted(str(k) for k in kinds)}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """floor((W + 2P - D(K-1) - 1)/S) + 1, the course's output-size formula (``padding`` per side).

    With ``ceil_mode`` (pooling) the division rounds up, and, as in PyTorch, a last window
    that would start in the right padding is dropped: it must start inside the input or
    the left padding.
    """
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_geometry(op, x_shape, w_shape, stride, padding, dilation, groups):
    """Validate conv2d's arguments; return (KH, KW, sh, sw, ph, pw, dh, dw, OH, OW).

    ``ph, pw`` are the top/left padding; with ``padding='same'`` and an even kernel span
    PyTorch pads one more row/column at the bottom/right, which the output size accounts for.

    Raises:
        ValueError: inconsistent shapes, groups, paddings, or a non-positive output size.
    """
    if len(w_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D weight (O, C/groups, KH, KW), got shape {tuple(w_shape)}")
    N, C, H, W = x_shape
    O, Cg, KH, KW = w_shape
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if C % groups or O % groups:
        raise ValueError(
            f"{op}: input {tuple(x_shape)}, weight {tuple(w_shape)}, groups={groups}: "
            f"in_channels {C} and out_channels {O} must both be divisible by groups"
        )
    if Cg * groups != C:
        raise ValueError(
            f"{op}: input {tuple(x_shape)} has {C} channels but weight {tuple(w_shape)} with groups={groups} "
            f"expects {Cg * groups}"
        )
    if min(KH, KW) < 1:
        raise ValueError(f"{op}: kernel size must be positive, got weight {tuple(w_shape)}")
    sh, sw = pair(stride, "stride", op, 1)
    dh, dw = pair(dilation, "dilation", op, 1)
    if isinstance(padding, str):
        if padding == "valid":
            ph = pw = 0
            OH, OW = conv_output_size(H, KH, sh, 0, dh), conv_output_size(W, KW, sw, 0, dw)
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {(sh, sw)})")
            # PyTorch puts the odd extra row/column of padding at the bottom/right; the total
            # padding is the kernel's span D(K-1), so the formula gives the input size back.
            ph, pw = dh * (KH - 1) // 2, dw * (KW - 1) // 2
            OH, OW = H, W
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    else:
        ph, pw = pair(padding, "padding", op, 0)
        OH, OW = conv_output_size(H, KH, sh, ph, dh), conv_output_size(W, KW, sw, pw, dw)
    check_output_size(op, f"input {tuple(x_shape)}, weight {tuple(w_shape)}, stride {(sh, sw)}, padding {padding!r}, "
                          f"dilation {(dh, dw)}", (OH, OW))
    return KH, KW, sh, sw, ph, pw, dh, dw, OH, OW


def check_output_size(op: str, arguments: str, output_hw: tuple[int, int]) -> None:
    """Raise ``ValueError`` naming ``op`` and its ``arguments`` when a window sweep has no output.

    Args:
        op: the operation's name.
        arguments: the input shape and window arguments, as they should appear in the message.
        output_hw: (OH, OW) from ``conv_output_size``.
    """
    if min(output_hw) <= 0:
        raise ValueError(
            f"{op}: {arguments}: output size floor((W + 2P - D(K-1) - 1)/S) + 1 = {tuple(output_hw)} is not positive "
            f"(kernel larger than the padded input)"
        )
