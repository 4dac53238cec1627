"""How the GPU computes a conv2d: the CUDA twin of ``cpu/conv_plan.py`` (same function, same ``ConvPlan``).

Every layer is lowered and multiplied by the tiled GEMM (``gemm.py``), the whole batch at
once, with NCHW results (device arrays are always NCHW: ``memory_format.py``):

- No direct kernels: the CPU's ``direct_conv.py`` pays because a skinny GEMM runs far below
  the BLAS peak there. CUDA twins computing one output (or one weight element) per thread
  existed, correct under the simulator, but were never called and never timed on a GPU
  against im2row + the tiled GEMM (which reuses each loaded tile across a block), so they were
  removed; a GPU measurement is what would bring them back.
- The lowering is the CPU's rule (``backends/lowering.py``): one code path in ``ops/conv.py``.
- No chunks: the CPU's chunking is a cache-size choice; a GPU takes the batch in one launch.
- dX by ``dY @ W`` and row2im (no correlation path: its gain was measured on the CPU only),
  dW as ``dY^T @ rows`` (device arrays copy transposed views, so there is no in-place read to gain).
"""

from __future__ import annotations

from ..contract import ConvPlan
from ..lowering import lowering_for, pointwise

__all__ = ["plan_conv2d"]


def plan_conv2d(input_shape, weight_shape, geometry, groups, dtype, needs_weight_grad) -> ConvPlan:
    """The GPU's plan for one conv2d (the module docstring gives the reasons).

    Args:
        input_shape: (N, C, H, W).
        weight_shape: (O, C/groups, KH, KW).
        geometry: ``conv_geometry``'s tuple ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``.
        groups: number of groups.
        dtype: the arrays' dtype.
        needs_weight_grad: the backward will compute dW (a graph is recorded and the weight needs it).
    """
    N, C = input_shape[:2]
    lowering = lowering_for(C, groups, geometry)
    whole = ((0, N),)
    # The batch is one chunk, so the rows are kept whenever dW needs them (as on the CPU for one chunk).
    input_grad = "gemm" if pointwise(geometry) and groups == 1 else "fold"
    return ConvPlan(lowering, whole, needs_weight_grad, False, input_grad, whole, False, weight_grad_by_columns=False)
