"""How the CPU computes a conv2d: the decisions behind ``ops/conv.py``'s math, measured on this backend.

``plan_conv2d`` returns a ``ConvPlan`` (``backends/contract.py``); the CUDA twin is
``cuda/conv_plan.py``. The choices and why:

- **Direct kernels** (``direct_conv.py``, op ``ops/conv_direct.py``) for stride-1 single-group
  layers with fewer than ``mg.config.channels_last_min`` channels in and out (LeNet-5's): with a
  handful of channels im2col's copy and a skinny GEMM cost more than the arithmetic.
  ``mg.config.using(direct_conv=False)`` sends every layer through the lowering.
- **Tiles** (``tiled_conv.py``, op ``ops/conv_tiled.py``) for single-group float32 layers with
  ``mg.config.channels_last_min`` input channels or more, a multiple of 64 output channels and
  output rows of ``TILED_MIN_ROW`` positions or more (half as many for strided layers), where the CPU
  has AVX-512 (``register_tile.tiles_apply``): register tiles read the channels-last image where
  it lies, padding skipped, nothing lowered or copied. dX of a stride-1 layer is the same kernel on dY, of a strided one the
  same tiles per phase of the input (``tiled_conv_transpose``), both for C a multiple of 64;
  otherwise row2im's fold. ``mg.config.using(tiled_conv=False)`` sends them to the
  paths below.
- **Strips** (``strips.py``, op ``ops/conv_strips.py``) for stride-1 single-group layers with
  ``mg.config.channels_last_min`` input channels or more and a kernel taller than one row:
  only the kernel's width is unfolded, its rows become row offsets of accumulating GEMMs
  (OpenBLAS's CBLAS, ``cblas.py``; without it, im2row). ``mg.config.using(strip_conv=False)``
  sends them to im2row.
- **Shifts** (``shifts.py``, op ``ops/conv_shifts.py``) for the stride-1 single-group layers
  with wide inputs that are too small for strips (fewer than ``STRIP_MIN_POSITIONS`` output
  positions: ResNet's 8x8 and 4x4): one accumulating GEMM per kernel tap and output row on
  images stored (H, W, N, C), which skips the products with padding.
  ``mg.config.using(shift_conv=False)`` sends them to im2row.
- **Lowering**: im2row (channels-last rows: each kernel tap copies C contiguous floats); with
  one input channel per group (a grayscale input layer, a depthwise conv) im2col's columns
  instead, whose (c, kh, kw) order is then im2row's (kh, kw, c) and which copy whole image rows
  (LeNet-5's conv1, batch 64, one thread: 0.8 vs 2.8 ms); a 1x1 stride-1 unpadded layer needs
  no lowering at all.
- **Chunks**: row matrices of about ``mg.config.chunk_bytes`` (16 MiB, fits the 32 MiB L3 next
  to the chunk's output), so that a chunk's rows are still in cache when its GEMM reads them; the
  full row matrix of a ResNet layer (150 MB at batch 64) would stream through main memory.
  4 MiB chunks were slower on a loaded 2-core machine (more GEMM calls, each a thread
  synchronisation).
- **Saved rows**: kept for dW when they fit in one chunk (cheaper than a second im2row, and
  small) or under ``mg.config.save_columns``; CIFAR ResNet-18 at batch 64 peaks at 1962 MiB
  with saved rows and 678 MiB with recomputed, chunked ones (PyTorch: 589 MiB), for a step
  time within the load noise (2.9 vs 3.0 s; ``benchmarks/vs_torch.py``).
- **Memory format**: results of ``mg.config.channels_last_min`` (32) channels or more stay
  stored channels-last (``memory_format.py``), so the next convolution reads them as they are;
  with a handful of channels (LeNet-5's 6 and 16) the pooling after them wants NCHW, and a
  LeNet-5 step took 15 instead of 12 ms with channels-last results.
- **dX by correlation** (``correlation_applies``) where it pays, else dRows = dY @ W folded by
  row2im.
- **dW orientation**: with im2col's columns as rows, ``rows^T @ dY`` reads them in place;
  ``dY^T @ rows`` was 2x slower (LeNet-5's conv1: 1.2 vs 0.6 ms).
"""

from __future__ import annotations

import numpy as np

from ...configuration import config
from ..contract import ConvPlan
from ..lowering import lowering_for, pointwise
from . import cblas
from .register_tile import COLUMNS, tiles_apply

__all__ = ["plan_conv2d"]


def direct_applies(geometry, groups: int, channels: tuple[int, int], max_channels: int) -> bool:
    """Whether the direct kernels compute this convolution: stride 1, one group, few channels.

    Args:
        geometry: ``ops.geometry.conv_geometry``'s tuple ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``.
        groups: number of groups.
        channels: (C, O), input and output channels.
        max_channels: both C and O must be below this (``plan_conv2d`` passes
            ``config.channels_last_min``): layers with more channels have outputs wide enough for
            im2row's GEMM to run near the BLAS peak, and results stored channels-last, which
            the direct kernels do not produce.
    """
    sh, sw = geometry[2], geometry[3]
    return config.direct_conv and groups == 1 and sh == sw == 1 and max(channels) < max_channels


#: Output positions per image below which strips lose to im2row: the stacked GEMMs compute
#: (Hs - OH) garbage rows per image (``strips.py``), 25% more products on an 8x8 3x3 layer.
#: One layer's forward + backward, batch 64, 2 threads, strips / im2row time (alternating,
#: medians of 5): ResNet-18's 32x32 layers 0.95, 16x16 0.93, 8x8 1.09, 4x4 1.21.
STRIP_MIN_POSITIONS = 256


def strips_apply(geometry, groups: int, channels: tuple[int, int], dtype) -> bool:
    """Whether the strip kernels compute this convolution: stride 1, one group, many input channels.

    Args:
        geometry: ``conv_geometry``'s tuple.
        groups: number of groups.
        channels: (C, O), input and output channels.
        dtype: the arrays' dtype (float32 or float64: BLAS's ``sgemm``/``dgemm``).
    """
    KH, sh, sw, OH, OW = geometry[0], geometry[2], geometry[3], geometry[8], geometry[9]
    return (config.strip_conv and groups == 1 and sh == sw == 1 and KH > 1 and OH * OW >= STRIP_MIN_POSITIONS
            and channels[0] >= config.channels_last_min and cblas.available(dtype))


def shifts_apply(geometry, groups: int, channels: tuple[int, int], dtype) -> bool:
    """Whether the shift kernels compute this convolution: stride 1, one group, wide input, small image.

    Args:
        geometry: ``conv_geometry``'s tuple.
        groups: number of groups.
        channels: (C, O), input and output channels.
        dtype: the arrays' dtype (float32 or float64).
    """
    KH, KW, sh, sw, OH, OW = geometry[0], geometry[1], geometry[2], geometry[3], geometry[8], geometry[9]
    return (config.shift_conv and groups == 1 and sh == sw == 1 and KH * KW > 1 and OH * OW < STRIP_MIN_POSITIONS
            and channels[0] >= config.channels_last_min and cblas.available(dtype))


#: Output positions per row below which the tiles lose, for stride-1 layers; strided ones (whose
#: other path is im2row) take rows of half as many. dW's tiles sum over one output row, so short
#: rows make short sums. One layer's forward + backward, batch 64, 2 threads, tiled against the
#: other plan (ms, alternating, medians of 15): 8x8 3x3 stride 1, 256 channels 85.7 against the
#: shifts' 44.4; 16x16 -> 8x8 stride 2, 128 -> 256 channels, 22.8 against im2row's 24.9; 8x8 -> 4x4
#: stride 2, 256 -> 512, 78.2 against 22.7.
TILED_MIN_ROW = 16


def tiled_applies(geometry, groups: int, channels: tuple[int, int], dtype) -> bool:
    """Whether the register-tiled kernels compute this convolution (``tiled_conv.py``).

    Args:
        geometry: ``conv_geometry``'s tuple.
        groups: number of groups.
        channels: (C, O), input and output channels.
        dtype: the arrays' dtype (the tiles are float32).
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    C, O = channels
    min_row = TILED_MIN_ROW if sh == sw == 1 else TILED_MIN_ROW // 2
    return (config.tiled_conv and groups == 1 and dw == 1 and OW >= min_row and not pointwise(geometry)
            and C >= config.channels_last_min and tiles_apply(dtype, O))


def tiled_input_grad_applies(geometry, channels: tuple[int, int]) -> bool:
    """Whether dX of a tiled layer is the tiled kernel on dY: stride 1, C a multiple of 64, padding within the kernel's span."""
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    return sh == sw == 1 and channels[0] % COLUMNS == 0 and ph <= dh * (KH - 1) and pw <= KW - 1


def image_chunks(N: int, bytes_per_image: int, even: bool = False) -> tuple[tuple[int, int], ...]:
    """Split the batch into runs of images whose lowered matrices take about ``config.chunk_bytes``.

    With ``even``, the runs have one length where a divisor of N allows it (no shorter than half
    the plain length). Each run of a different length allocates its buffers in another size
    class of the caching allocator, and the strip convolution has several buffers per run:
    CIFAR ResNet-18's peak memory at batch 64 was 634 MiB with runs of 20, 20, 20 and 4 images
    on layer 1, 625 MiB with 4 runs of 16.

    Args:
        N: images in the batch.
        bytes_per_image: bytes of one image's lowered matrix.
        even: prefer runs of equal length.
    """
    step = max(1, min(N, config.chunk_bytes // max(1, bytes_per_image)))
    if even:
        divisor = max((d for d in range(1, step + 1) if N % d == 0), default=1)
        if 2 * divisor >= step:
            step = divisor
    return tuple((s, min(N, s + step)) for s in range(0, N, step))


def correlation_applies(geometry, groups: int, channels: tuple[int, int], input_hw: tuple[int, int]) -> bool:
    """Whether dX is computed as a cross-correlation of dY (``ops/conv.py``'s ``input_grad_by_correlation``).

    It needs stride 1, one group and padding no larger than the kernel's span, and it pays
    when the rows of dY (O*KH*KW wide, H*W per image) are no larger than those that
    row2im would fold (C*KH*KW wide, OH*OW per image): equal for ResNet's 'same' 3x3
    convolutions, 5x larger for LeNet-5's conv2 (6 -> 16 channels, padding 0), whose dX
    this path made 4x slower.

    Args:
        geometry: ``conv_geometry``'s tuple.
        groups: number of groups.
        channels: (C, O), input and output channels.
        input_hw: (H, W) of the input.
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    C, O = channels
    H, W = input_hw
    return (groups == 1 and sh == sw == 1 and ph <= dh * (KH - 1) and pw <= dw * (KW - 1)
            and O * H * W <= C * OH * OW and not pointwise(geometry))


def plan_conv2d(input_shape, weight_shape, geometry, groups, dtype, needs_weight_grad) -> ConvPlan:
    """The CPU's plan for one conv2d (the module docstring gives the reasons).

    Args:
        input_shape: (N, C, H, W).
        weight_shape: (O, C/groups, KH, KW).
        geometry: ``conv_geometry``'s tuple ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``.
        groups: number of groups.
        dtype: the arrays' dtype.
        needs_weight_grad: the backward will compute dW (a graph is recorded and the weight needs it).
    """
    N, C, H, W = input_shape
    O = weight_shape[0]
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    wide = config.channels_last_min
    if direct_applies(geometry, groups, (C, O), wide):
        return ConvPlan("direct")
    itemsize = np.dtype(dtype).itemsize
    if tiled_applies(geometry, groups, (C, O), dtype):
        if tiled_input_grad_applies(geometry, (C, O)):
            return ConvPlan("tiled", output_channels_last=O >= wide, input_grad="tiled", input_grad_channels_last=C >= wide)
        if C % COLUMNS == 0:
            return ConvPlan("tiled", output_channels_last=O >= wide, input_grad="phases", input_grad_channels_last=C >= wide)
        return ConvPlan("tiled", output_channels_last=O >= wide, input_grad="fold",
                        input_grad_chunks=image_chunks(N, C * KH * KW * OH * OW * itemsize),
                        input_grad_channels_last=C >= wide)
    if strips_apply(geometry, groups, (C, O), dtype):
        # A chunk's strips: (images, OH + dh*(KH-1), OW, KW*C); dX's: dY's, (H + dh*(KH-1), W, KW*O) each.
        # Counted twice, so that a chunk's strips take half of chunk_bytes: ResNet-18 steps with
        # 8 MiB of strips per chunk took 0.92x and 0.94x the time of 16 MiB ones (alternating in one
        # process), 4 MiB ones as long as 8; peak memory 625 -> 600-609 MiB.
        return ConvPlan("strips", image_chunks(N, 2 * (OH + dh * (KH - 1)) * OW * KW * C * itemsize, even=True),
                        output_channels_last=O >= wide, input_grad="strips",
                        input_grad_chunks=image_chunks(N, 2 * (H + dh * (KH - 1)) * W * KW * O * itemsize, even=True),
                        input_grad_channels_last=C >= wide)
    if shifts_apply(geometry, groups, (C, O), dtype):
        return ConvPlan("shifts", output_channels_last=O >= wide, input_grad="shifts",
                        input_grad_channels_last=C >= wide)
    lowering = lowering_for(C, groups, geometry)
    chunks = image_chunks(N, C * KH * KW * OH * OW * itemsize)
    # Saved rows must outlive the step, so they always come in one (pooled) piece.
    save_rows = needs_weight_grad and (config.save_columns or len(chunks) == 1)
    if save_rows:
        chunks = ((0, N),)
    if correlation_applies(geometry, groups, (C, O), (H, W)):
        input_grad, input_grad_chunks, input_grad_last = "correlation", image_chunks(N, O * KH * KW * H * W * itemsize), True
    else:
        input_grad = "gemm" if pointwise(geometry) and groups == 1 else "fold"
        input_grad_chunks, input_grad_last = chunks, C >= wide
    return ConvPlan(lowering, chunks, save_rows, O >= wide, input_grad, input_grad_chunks, input_grad_last,
                    weight_grad_by_columns=lowering == "columns")
