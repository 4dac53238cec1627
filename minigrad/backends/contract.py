"""The backend contract: what ``minigrad.backends.cpu`` and ``minigrad.backends.cuda`` both provide.

``Backend`` lists every kernel and array helper of the contract with its signature; the
two backend packages are its implementations (modules satisfy a ``typing.Protocol``
structurally), and ``get_backend`` returns one typed as ``Backend``. Ops and optimizers
call only these names through ``backend.<name>``, so one code path runs on either device.

Conventions:

- A kernel fills a preallocated output and returns None: ``kernel(out, inputs..., int
  params)``. Outputs come first; inputs are not modified unless a parameter says so.
- A kernel lives in the same file name on both sides (``cpu/pool.py`` and ``cuda/pool.py``);
  the first line of each docstring below names that file. Details (formulas, layouts,
  measured choices) are in the kernel files.
- Arrays are ``np.ndarray`` on the CPU and ``CudaArray`` on CUDA (NumPy duck arrays).
- Decisions that depend on the device are the backend's too, and return their answer
  instead of filling an output: the memory-format helpers (``memory_format.py``: which
  arrays are stored channels-last, and the copies between formats) and the convolution
  planner (``conv_plan.py``: ``plan_conv2d`` returns a ``ConvPlan``).

Not part of the contract, and reached only from device-specific code:

- ``CPU_ONLY`` and ``CUDA_ONLY`` below: names one package exports for its own device
  (thread counts; the CUDA allocator's statistics, the ``CudaArray`` class, the counter-based
  dropout mask, which CPU dropout does not use: it draws from ``mg.default_rng()``).
- Device plumbing: the CUDA launch, elementwise and reduction machinery behind ``CudaArray``
  (``cuda/launch.py``, ``cuda/elementwise.py``, ``cuda/reduce.py``), the CPU thread policy
  (``cpu/threads.py``) and the Numba cache probe (``cpu/cache.py``). Their modules export
  no names into the backend's namespace.

``tests/test_backend_contract.py`` checks both packages against this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Backend", "Array", "ConvPlan", "CPU_ONLY", "CUDA_ONLY"]


class Array(Protocol):
    """A backend's array: ``np.ndarray`` (CPU) or ``CudaArray`` (CUDA), both NumPy duck arrays."""

    shape: tuple[int, ...]
    dtype: Any
    size: int



@dataclass(frozen=True)
class ConvPlan:
    """How a backend computes one conv2d (``conv_plan.py``'s ``plan_conv2d``); ``ops/conv.py`` follows it.

    Attributes:
        lowering: ``"direct"`` (the ``direct_conv.py`` kernels, no lowering: ``ops/conv_direct.py``),
            ``"strips"`` (the CPU's ``strips.py``: the width unfolded, the kernel's rows as row offsets of
            accumulating GEMMs; ``ops/conv_strips.py``, which computes dX the same way), ``"shifts"`` (the
            CPU's ``shifts.py``: one accumulating GEMM per kernel tap on images stored (H, W, N, C);
            ``ops/conv_shifts.py``, dX likewise; no chunks), ``"tiled"`` (the CPU's ``tiled_conv.py``:
            register tiles on the zero-padded image, strided layers too; ``ops/conv_tiled.py``; no chunks),
            ``"im2row"`` (channels-last rows, ``channels_last.py``), ``"columns"`` (im2col's columns seen
            as rows: one input channel per group) or ``"pointwise"`` (a 1x1 stride-1 unpadded single-group
            layer: the channels-last input is its own row matrix).
        chunks: ``(start, end)`` runs of images lowered and multiplied one after the other (the forward
            and dW); one run is the whole batch.
        save_rows: the forward keeps its row matrix for dW (else dW recomputes it from the input).
        output_channels_last: the result is returned stored channels-last (else NCHW).
        input_grad: how dX is computed: ``"strips"`` (with the ``"strips"`` lowering: the same kernels on
            dY with the flipped kernel), ``"shifts"`` (with the ``"shifts"`` lowering), ``"tiled"`` (with the
            ``"tiled"`` lowering, stride 1: the tiled kernel on the padded dY), ``"correlation"`` (stride 1: im2row of dY and one GEMM with the
            flipped kernel), ``"gemm"`` (pointwise: ``dY @ W`` is dX) or ``"fold"`` (``dY @ W`` per chunk,
            then ``row2im``).
        input_grad_chunks: the runs of images of the dX pass.
        input_grad_channels_last: dX is returned stored channels-last (else NCHW).
        weight_grad_by_columns: dW as ``rows^T @ dY``, reading ``"columns"`` rows in place.
    """

    lowering: str
    chunks: tuple[tuple[int, int], ...] = ()
    save_rows: bool = False
    output_channels_last: bool = False
    input_grad: str = "fold"
    input_grad_chunks: tuple[tuple[int, int], ...] = ()
    input_grad_channels_last: bool = False
    weight_grad_by_columns: bool = False

#: Exported by ``minigrad.backends.cpu`` beyond the contract (``cpu/threads.py``).
CPU_ONLY = frozenset({
    "get_num_threads", "set_num_threads",  # cpu/threads.py
    # cpu/direct_conv.py: only the CPU planner sends layers to them (cuda/conv_plan.py says why)
    "conv2d_direct", "conv2d_direct_weight_grad",
    # cpu/strips.py: the strip convolution's kernels, which need BLAS's accumulating GEMM (cpu/cblas.py)
    "im2strip", "strip_conv", "strip_weight_grad", "sum_partials", "weight_to_taps", "taps_to_weight",
    # cpu/tiled_conv.py: the register-tiled convolution on padded images (AVX-512 register tiles)
    "pad_images", "tiled_conv", "tiled_weight_grad", "tiled_conv_transpose",
    # cpu/shifts.py: the shift convolution's kernels, likewise
    "swap_leading_axes", "shift_blocks", "shift_conv", "shift_weight_grad",
    # cpu/residual.py: a threaded a + b for arrays stored alike (NumPy's runs on one thread; CUDA's kernels already spread)
    "add_arrays",
})
#: Exported by ``minigrad.backends.cuda`` beyond the contract.
CUDA_ONLY = frozenset({
    "is_available", "require_gpu",  # cuda/__init__.py: is a GPU usable
    "CudaArray",  # cuda/array.py: the device array type
    "memory_allocated", "max_memory_allocated", "memory_stats",  # cuda/allocator.py
    "dropout_mask",  # cuda/fused.py: CPU dropout draws its mask from mg.default_rng()
})


class Backend(Protocol):
    """The kernels and array helpers of a backend package (one method per module-level function)."""

    # ------------------------------------------------------------- array.py
    def empty(self, shape: int | tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> Array:
        """``array.py``: an uninitialised array (from the caching allocator)."""

    def zeros(self, shape: int | tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> Array:
        """``array.py``: an array of zeros."""

    def full(self, shape: int | tuple[int, ...], value: float, dtype: npt.DTypeLike = np.float32) -> Array:
        """``array.py``: an array filled with ``value``."""

    def ones_like(self, array: Array) -> Array:
        """``array.py``: ones with ``array``'s shape and dtype."""

    def copy(self, array: Array) -> Array:
        """``array.py``: a copy of ``array`` on the same device."""

    def from_numpy(self, array: npt.ArrayLike) -> Array:
        """``array.py``: a host array on this device (the array itself where no copy is needed)."""

    def to_numpy(self, array: Array) -> npt.NDArray:
        """``array.py``: the array on the host (the array itself where no copy is needed)."""

    def synchronize(self) -> None:
        """``array.py``: wait until every kernel issued so far has finished."""

    # --------------------------------------------------------- allocator.py
    def empty_cache(self) -> None:
        """``allocator.py``: give the caching allocator's free blocks back (``torch.cuda.empty_cache``)."""

    def memory_reserved(self) -> int:
        """``allocator.py``: bytes the caching allocator holds, in use or free."""

    def sole_owner(self, array: Array) -> bool:
        """``allocator.py``: whether no other array shares ``array``'s memory (the engine may keep it, not copy it)."""

    # ---------------------------------------------------------- gemm.py
    def gemm(self, out: Array, a: Array, b: Array) -> None:
        """``gemm.py``: ``out[...] = a @ b``, 2-D or batched 3-D (a batch of one broadcasts); a, b may be transposed."""

    # ---------------------------------------------------- activation.py
    def relu_forward(self, out: Array, x: Array) -> None:
        """``activation.py``: ``out = x if x > 0 else 0`` elementwise (NaN propagates)."""

    def relu_backward(self, out: Array, grad: Array, y: Array) -> None:
        """``activation.py``: ``out = 0 if y <= 0 else grad``, ``y`` relu's output."""

    # --------------------------------------------------------- fused.py
    def sgd_momentum_update(self, param: Array, grad: Array, buf: Array, lr: float, momentum: float,
                            dampening: float, weight_decay: float, nesterov: bool, maximize: bool,
                            first: bool) -> None:
        """``fused.py``: one SGD step on ``param`` and ``buf`` in place, PyTorch's rule."""

    def adam_update(self, param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array, max_exp_avg_sq: Array,
                    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                    amsgrad: bool, maximize: bool, step: int) -> None:
        """``fused.py``: one Adam/AdamW step on ``param`` and the moments in place, PyTorch's rule."""

    # ---------------------------------------------------------- conv.py
    def im2col(self, cols: Array, x: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int, dh: int,
               dw: int, OH: int, OW: int) -> None:
        """``conv.py``: unfold the receptive fields of NCHW ``x`` into ``cols``, (C*KH*KW, N*OH*OW)."""

    def col2im(self, x: Array, cols: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int, dh: int,
               dw: int, OH: int, OW: int) -> None:
        """``conv.py``: fold ``cols`` back into ``x``, summing overlaps (adjoint of ``im2col``)."""

    # ------------------------------------------------- channels_last.py
    def im2row(self, rows: Array, x: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int, dh: int,
               dw: int, OH: int, OW: int) -> None:
        """``channels_last.py``: unfold the receptive fields of NHWC ``x`` into ``rows``, (N*OH*OW, KH*KW*C)."""

    def row2im(self, x: Array, rows: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int, dh: int,
               dw: int, OH: int, OW: int) -> None:
        """``channels_last.py``: fold ``rows`` back into NHWC ``x``, summing overlaps (adjoint of ``im2row``)."""

    def to_channels_last(self, out: Array, x: Array) -> None:
        """``channels_last.py``: ``out[n, h, w, c] = x[n, c, h, w]``."""

    def to_channels_first(self, out: Array, x: Array, bias: Array) -> None:
        """``channels_last.py``: ``out[n, c, h, w] = x[n, h, w, c] + bias[c]``."""

    # ------------------------------------------------- memory_format.py
    def channels_last_view(self, a: Array) -> Array | None:
        """``memory_format.py``: the C-contiguous (N, H, W, C) array behind a channels-last 4-D ``a``, else None."""

    def contiguous(self, a: Array) -> Array:
        """``memory_format.py``: ``a`` as a C-contiguous (NCHW) array, ``a`` itself when it is one."""

    def channels_last(self, a: Array) -> Array:
        """``memory_format.py``: ``a`` (N, C, H, W) as a C-contiguous (N, H, W, C) array, a copy unless stored so."""

    def stored(self, a: Array) -> Array:
        """``memory_format.py``: the C-contiguous array of ``a``'s elements in memory order."""

    def restore(self, array: Array, like: Array) -> Array:
        """``memory_format.py``: the inverse of ``stored``, ``array`` seen with ``like``'s (N, C, H, W) shape."""

    def in_layout_of(self, a: Array, ref: Array) -> Array:
        """``memory_format.py``: ``a`` stored in ``ref``'s memory format, copied only if it is not."""

    # ----------------------------------------------------- conv_plan.py
    def plan_conv2d(self, input_shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int],
                    geometry: tuple[int, ...], groups: int, dtype: npt.DTypeLike,
                    needs_weight_grad: bool) -> ConvPlan:
        """``conv_plan.py``: the lowering, chunks, saved rows and memory formats of one conv2d."""

    # ---------------------------------------------------------- norm.py
    def batch_norm_stats(self, mean: Array, var: Array, x: Array) -> None:
        """``norm.py``: per-channel mean and biased variance of NC(L) ``x``."""

    def batch_norm_normalize(self, out: Array, x: Array, mean: Array, invstd: Array, weight: Array,
                             bias: Array) -> None:
        """``norm.py``: ``out = (x - mean[c]) * invstd[c] * weight[c] + bias[c]``, channels on axis 1."""

    def batch_norm_backward(self, dx: Array, dweight: Array, dbias: Array, dy: Array, x: Array, mean: Array,
                            invstd: Array, weight: Array, batch_stats: bool) -> None:
        """``norm.py``: gradients of batch normalization, channels on axis 1."""

    def batch_norm_stats_last(self, mean: Array, var: Array, x: Array) -> None:
        """``norm.py``: per-channel mean and biased variance of channels-last rows (M, C)."""

    def batch_norm_normalize_last(self, out: Array, x: Array, mean: Array, invstd: Array, weight: Array,
                                  bias: Array) -> None:
        """``norm.py``: ``batch_norm_normalize`` on channels-last rows (M, C)."""

    def batch_norm_backward_last(self, dx: Array, dweight: Array, dbias: Array, dy: Array, x: Array, mean: Array,
                                 invstd: Array, weight: Array, batch_stats: bool) -> None:
        """``norm.py``: ``batch_norm_backward`` on channels-last rows (M, C)."""

    def lrn_forward(self, out: Array, scale: Array, x: Array, size: int, alpha: float, beta: float,
                    k: float) -> None:
        """``norm.py``: local response normalization across channels (PyTorch's formula); ``scale`` for the backward."""

    def lrn_backward(self, dx: Array, dy: Array, x: Array, scale: Array, size: int, alpha: float,
                     beta: float) -> None:
        """``norm.py``: the gradient of ``lrn_forward``."""

    # ---------------------------------------------------------- pool.py
    def max_pool2d_forward(self, out: Array, indices: Array, x: Array, KH: int, KW: int, sh: int, sw: int, ph: int,
                           pw: int, dh: int, dw: int) -> None:
        """``pool.py``: max over each dilated window and its flat index ``ih * W + iw``."""

    def avg_pool2d_forward(self, out: Array, x: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int,
                           count_include_pad: bool, divisor_override: int) -> None:
        """``pool.py``: mean over each window, PyTorch's divisor rule."""

    def avg_pool2d_backward(self, dx: Array, dy: Array, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int,
                            count_include_pad: bool, divisor_override: int) -> None:
        """``pool.py``: the adjoint of ``avg_pool2d_forward``."""

    def adaptive_avg_pool2d_forward(self, out: Array, x: Array) -> None:
        """``pool.py``: mean over PyTorch's adaptive windows."""

    def adaptive_avg_pool2d_backward(self, dx: Array, dy: Array) -> None:
        """``pool.py``: the adjoint of ``adaptive_avg_pool2d_forward``."""

    def adaptive_max_pool2d_forward(self, out: Array, indices: Array, x: Array) -> None:
        """``pool.py``: max over adaptive windows and its flat index ``ih * W + iw``."""

    def scatter_add_planes(self, out: Array, values: Array, indices: Array) -> None:
        """``pool.py``: ``out[p, indices[p, j]] += values[p, j]`` after zeroing ``out`` (max-pool backward)."""

    def scatter_planes(self, out: Array, values: Array, indices: Array) -> None:
        """``pool.py``: ``out[p, indices[p, j]] = values[p, j]`` after zeroing ``out`` (max-unpool forward)."""

    def gather_planes(self, out: Array, values: Array, indices: Array) -> None:
        """``pool.py``: ``out[p, j] = values[p, indices[p, j]]`` (max-unpool backward)."""

    # ------------------------------------------------------ upsample.py
    def nearest_forward(self, out: Array, x: Array, src_h: Array, src_w: Array) -> None:
        """``upsample.py``: ``out[p, i, j] = x[p, src_h[i], src_w[j]]``."""

    def nearest_backward(self, dx: Array, dy: Array, src_h: Array, src_w: Array) -> None:
        """``upsample.py``: ``dx[p, src_h[i], src_w[j]] += dy[p, i, j]`` after zeroing ``dx``."""

    def bilinear_forward(self, out: Array, x: Array, h0: Array, h1: Array, lh: Array, w0: Array, w1: Array,
                         lw: Array) -> None:
        """``upsample.py``: bilinear interpolation from two source rows and columns per output pixel."""

    def bilinear_backward(self, dx: Array, dy: Array, h0: Array, h1: Array, lh: Array, w0: Array, w1: Array,
                          lw: Array) -> None:
        """``upsample.py``: the adjoint of ``bilinear_forward``."""
