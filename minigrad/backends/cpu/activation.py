"""ReLU forward and backward on the CPU: fused loops that beat NumPy on training-sized activations.

Measured on 64x6x28x28 float32 activations (LeNet's first layer), 2-core machine:
``np.maximum(x, 0)`` takes ~190-270 us because it checks every element for NaN through
the generic ufunc loop; the loop below takes ~20-30 us (vectorised by LLVM). ``grad * (y > 0)``
takes ~90-330 us (two passes and a temporary bool array); the fused loop ~25-120 us.

Arrays of ``mg.config.serial_below`` elements or more are split into runs of ``RUN`` elements
over the threads (``serial_when_small``), smaller ones stay on one thread, where waking the
pool costs more than the work. A CIFAR ResNet-18 step (activations of 0.5-4 M elements),
alternating in one process on the 2-core Intel machine: 928 ms with the parallel loops against
972 ms with serial ones (medians of 30 steps each). An earlier try on the AMD machine, before
OpenBLAS's idle threads were made to sleep soon (``minigrad/_blas_env.py``), had measured no gain.

Arrays must be C-contiguous (the kernels walk them as flat vectors).
"""

from numba import njit, prange

from .threads import serial_when_small

__all__ = ["relu_forward", "relu_backward"]

#: Elements per parallel run: 256 KB of float32, whole pages, and enough runs to share a busy machine.
RUN = 1 << 16


@serial_when_small
@njit(cache=True, parallel=True)
def relu_forward(out, x):
    """``out[i] = x[i] if x[i] > 0 else 0`` over the flattened arrays (NaN propagates, as in PyTorch).

    Args:
        out: C-contiguous output, same shape and dtype as ``x``.
        x: C-contiguous input.
    """
    src, dst = x.reshape(-1), out.reshape(-1)
    n = src.size
    for run in prange((n + RUN - 1) // RUN):
        for i in range(run * RUN, min(n, run * RUN + RUN)):
            # "<= 0" rather than "> 0" so that NaN takes the else branch and is kept.
            dst[i] = 0 if src[i] <= 0 else src[i]


@serial_when_small
@njit(cache=True, parallel=True)
def relu_backward(out, grad, y):
    """``out[i] = 0 if y[i] <= 0 else grad[i]``, where ``y`` is relu's output.

    Written as PyTorch's ``threshold_backward``: where the input was NaN (so ``y`` is NaN) the
    gradient passes, as it does in PyTorch.

    Args:
        out: C-contiguous output, same shape and dtype as ``grad``.
        grad: C-contiguous gradient of the loss with respect to relu's output.
        y: C-contiguous relu output (positive exactly where the input was).
    """
    g, mask, dst = grad.reshape(-1), y.reshape(-1), out.reshape(-1)
    n = g.size
    for run in prange((n + RUN - 1) // RUN):
        for i in range(run * RUN, min(n, run * RUN + RUN)):
            dst[i] = 0 if mask[i] <= 0 else g[i]
