"""ReLU forward and backward on the GPU, one thread per element (twins of the CPU kernels)."""

from __future__ import annotations

from numba import cuda

from .launch import dev, dev_out, launch

__all__ = ["relu_forward", "relu_backward"]


@cuda.jit(cache=True)
def _relu(out, x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        v = x[i]
        # "<= 0" rather than "> 0" so that NaN takes the else branch and is kept.
        out[i] = 0 if v <= 0 else v


@cuda.jit(cache=True)
def _relu_backward(out, grad, y):
    for i in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        # "<= 0" so that a NaN output (NaN input) passes the gradient, as PyTorch's threshold_backward.
        out[i] = 0 if y[i] <= 0 else grad[i]


def relu_forward(out, x):
    """``out[i] = x[i] if x[i] > 0 else 0`` over the flattened arrays (NaN propagates).

    Args:
        out: output, same shape and dtype as ``x``.
        x: input.
    """
    o, a = dev_out(out, "relu_forward"), dev(x)
    launch(_relu, a.size, o.reshape(o.size), a.reshape(a.size))


def relu_backward(out, grad, y):
    """``out[i] = 0 if y[i] <= 0 else grad[i]``, where ``y`` is relu's output (NaN passes).

    Args:
        out: output, same shape and dtype as ``grad``.
        grad: gradient of the loss with respect to relu's output.
        y: relu's output.
    """
    o, g = dev_out(out, "relu_backward"), dev(grad)
    launch(_relu_backward, g.size, o.reshape(o.size), g.reshape(g.size), dev(y).reshape(g.size))
