"""Direct stride-1 convolution on the GPU (same signatures and results as the CPU kernels).

The CPU kernels compute "wide rows" over a padded copy of each image, for SIMD. A GPU
thread needs no such trick. Each thread computes one output element as the plain sum
over the taps that fall inside the image, or one weight element as the sum over the
batch and positions.
"""

from __future__ import annotations

from numba import cuda

from ..index import cuda_functions
from .launch import dev, dev_out, launch

__all__ = ["conv2d_direct", "conv2d_direct_weight_grad"]

input_index = cuda_functions().input_index


@cuda.jit(cache=True)
def _conv2d_direct(out, x, weight, bias, ph, pw, dh, dw):
    N, O, OH, OW = out.shape
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = weight.shape[2], weight.shape[3]
    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n = k // (O * OH * OW)
        o = (k // (OH * OW)) % O
        i = (k // OW) % OH
        j = k % OW
        acc = bias[o]
        for c in range(C):
            for kh in range(KH):
                ih = input_index(i, kh, 1, ph, dh)
                if 0 <= ih < H:
                    for kw in range(KW):
                        iw = input_index(j, kw, 1, pw, dw)
                        if 0 <= iw < W:
                            acc += weight[o, c, kh, kw] * x[n, c, ih, iw]
        out[n, o, i, j] = acc


@cuda.jit(cache=True)
def _conv2d_direct_weight_grad(dweight, x, grad, ph, pw, dh, dw):
    O, C, KH, KW = dweight.shape
    N, H, W = x.shape[0], x.shape[2], x.shape[3]
    OH, OW = grad.shape[2], grad.shape[3]
    for k in range(cuda.grid(1), dweight.size, cuda.gridsize(1)):
        o = k // (C * KH * KW)
        c = (k // (KH * KW)) % C
        kh = (k // KW) % KH
        kw = k % KW
        # A zero of the array's own type (a literal 0.0 would make acc float64).
        dweight[o, c, kh, kw] = 0
        acc = dweight[o, c, kh, kw]
        for n in range(N):
            for i in range(OH):
                ih = input_index(i, kh, 1, ph, dh)
                if 0 <= ih < H:
                    for j in range(OW):
                        iw = input_index(j, kw, 1, pw, dw)
                        if 0 <= iw < W:
                            acc += grad[n, o, i, j] * x[n, c, ih, iw]
        dweight[o, c, kh, kw] = acc


def conv2d_direct(out, x, weight, bias, ph, pw, dh, dw):
    """Stride-1 cross-correlation; arguments as the CPU kernel.

    Args:
        out: output, shape (N, O, OH, OW).
        x: input, shape (N, C, H, W).
        weight: shape (O, C, KH, KW).
        bias: shape (O,) (zeros for none).
        ph, pw: top and left padding (negative crops).
        dh, dw: dilation.
    """
    d = dev_out(out, "conv2d_direct")
    launch(_conv2d_direct, d.size, d, dev(x), dev(weight), dev(bias), ph, pw, dh, dw)


def conv2d_direct_weight_grad(dweight, x, grad, ph, pw, dh, dw):
    """Weight gradient of ``conv2d_direct``; arguments as the CPU kernel.

    Args:
        dweight: output, shape (O, C, KH, KW); overwritten.
        x: the forward's input, shape (N, C, H, W).
        grad: gradient of the output, shape (N, O, OH, OW).
        ph, pw: top and left padding.
        dh, dw: dilation.
    """
    d = dev_out(dweight, "conv2d_direct_weight_grad")
    launch(_conv2d_direct_weight_grad, d.size, d, dev(x), dev(grad), ph, pw, dh, dw)
