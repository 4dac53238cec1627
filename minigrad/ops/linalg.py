"""Linear algebra: ``matmul`` (torch.matmul semantics), ``linear`` and ``einsum``.

The GEMMs themselves are NumPy's BLAS calls; these Functions only arrange the operands.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..tensor import Tensor
from .elementwise import lift, unbroadcast
from .shape import as_tensor, expand

__all__ = ["matmul", "mm", "linear", "einsum"]


# ------------------------------------------------------------------- matmul
def _gemm(a, b):
    """``np.matmul(a, b)``; on the CPU by the backend's ``gemm``, which runs small products on one thread."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        backend = get_backend("cpu")
        out = backend.empty(_product_shape(a.shape, b.shape), np.result_type(a.dtype, b.dtype))
        backend.gemm(out, a, b)
        return out
    return np.matmul(a, b)


def grouped_gemm(backend, a, b, groups, out=None):
    """``a[g] @ b[g]`` for each group of a (groups, M, K) and a (groups, K, N) stack, into ``out``.

    ``out`` (groups, M, N) is allocated when None; one group is a single 2-D GEMM. The
    convolutions (``conv.py``, ``conv_transpose.py``) multiply their lowered matrices this way.

    Returns:
        ``out``.
    """
    if out is None:
        out = backend.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    if groups == 1:
        backend.gemm(out[0], a[0], b[0])
    else:
        backend.gemm(out, a, b)
    return out


def _product_shape(a_shape, b_shape):
    """The shape of ``np.matmul``'s result: broadcast batch axes, a 1-D operand's axis dropped."""
    rows = a_shape[-2:-1]  # () for a 1-D a
    cols = b_shape[-1:] if len(b_shape) > 1 else ()
    return np.broadcast_shapes(a_shape[:-2], b_shape[:-2]) + rows + cols


def _swap(a):
    return np.swapaxes(a, -1, -2)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _gemm(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # Work on the 2-D (or batched) forms: a vector a is a 1 x k row, a vector b a k x 1 column.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(_gemm(g, _swap(b2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(_gemm(_swap(a2), g), b2.shape).reshape(b.shape)
        return ga, gb


def _matmul_operands(a, b):
    """Both operands as tensors; an array next to a tensor takes the tensor's dtype."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        b = Tensor(lift(b, a.dtype, "matmul"))
    elif isinstance(b, Tensor) and not isinstance(a, Tensor):
        a = Tensor(lift(a, b.dtype, "matmul"))
    return as_tensor(a), as_tensor(b)


def matmul(a, b):
    """Matrix product with torch.matmul's rules.

    1-D x 1-D is a dot product; a 1-D operand is treated as a row (left) or column (right)
    vector and that dimension is removed from the result; leading (batch) dimensions broadcast.

    Shape:
        (*B1, n, k) @ (*B2, k, m) -> (broadcast(B1, B2), n, m)
    """
    a, b = _matmul_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: both operands need at least one dimension")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {ka} and {kb} differ")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: batch dimensions cannot be broadcast") from None
    if a.dtype != b.dtype and (a.dtype.kind == "f") != (b.dtype.kind == "f"):
        like = a.dtype if a.dtype.kind == "f" else b.dtype
        a, b = a.to(dtype=like), b.to(dtype=like)
    return MatMul.apply(a, b)


def mm(a, b):
    """2-D matrix product (``matmul`` restricted to matrices)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: {a.shape} @ {b.shape}: both operands must be 2-D")
    return matmul(a, b)


# ------------------------------------------------------------------- linear
class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        out = _gemm(x, weight.T)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        gx = _gemm(grad, weight) if ctx.needs_input_grad[0] else None
        gw = gb = None
        # Rows spelled out: -1 cannot be inferred when in_features or out_features is 0.
        rows = int(np.prod(grad.shape[:-1], dtype=np.int64))
        g2 = grad.reshape(rows, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            gw = _gemm(g2.T, x.reshape(rows, x.shape[-1]))
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(x, weight, bias=None):
    """Affine map ``y = x W^T + b`` over the last dimension.

    Args:
        x: input of shape (*, in_features).
        weight: (out_features, in_features).
        bias: (out_features,) or None.

    Shape:
        (*, in_features) -> (*, out_features)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input {x.shape} and weight {weight.shape}: in_features "
            f"{x.shape[-1] if x.ndim else None} and {weight.shape[1]} differ"
        )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias shape {bias.shape} does not match out_features {weight.shape[0]}")
    if x.dtype != weight.dtype:
        x = x.to(dtype=weight.dtype) if weight.dtype.kind == "f" else x
    if x.ndim == 1:
        return Linear.apply(x.reshape(1, -1), weight, bias).reshape(-1)
    return Linear.apply(x, weight, bias)


# ------------------------------------------------------------------- einsum
def _parse_einsum(subscripts, shapes):
    """Split ``subscripts`` into per-operand letter strings and the output; check sizes.

    Returns:
        (inputs, output, sizes): the operands' subscripts, the output's, and a letter -> size map.
    """
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum: a '.' that is not part of an ellipsis '...' in {subscripts!r}")
    lhs, arrow, rhs = spec.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(inputs)} operands but {len(shapes)} were given"
        )
    for term in inputs + [rhs]:
        if not all(c.isalpha() for c in term):
            raise ValueError(f"einsum: subscripts {subscripts!r} may contain only letters, ',' and '->'")
    sizes = {}
    for i, (term, shape) in enumerate(zip(inputs, shapes)):
        if len(term) != len(shape):
            raise ValueError(
                f"einsum: operand {i} has shape {shape} ({len(shape)} dims) but subscript {term!r} names {len(term)}"
            )
        for c, n in zip(term, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: index {c!r} has size {sizes[c]} and {n} in {subscripts!r} (operand {i})")
    if arrow:
        for c in rhs:
            if c not in sizes:
                raise ValueError(f"einsum: output index {c!r} of {subscripts!r} appears in no operand")
        if len(set(rhs)) != len(rhs):
            raise ValueError(f"einsum: output {rhs!r} repeats an index")
        output = rhs
    else:
        # Implicit output: the letters that appear exactly once, in alphabetical order (NumPy's rule).
        letters = "".join(inputs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return inputs, output, sizes


def _expand_ellipsis(subscripts, shapes):
    """Rewrite ``...`` as explicit letters (PyTorch's and NumPy's rules).

    Each operand's ``...`` covers its dimensions that no letter names; they broadcast against
    each other right-aligned. The output keeps them first in implicit mode (``"...ij"`` ->
    ``"...ij"``) and sums them when an explicit output leaves ``...`` out.

    Returns:
        (subscripts, shapes to broadcast each operand to) - the shapes are None where no
        broadcasting is needed.
    """
    spec = subscripts.replace(" ", "")
    if "..." not in spec:
        return subscripts, [None] * len(shapes)
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands but {len(shapes)} were given")
    ranks = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        rank = len(shape) - named if "..." in term else 0
        if rank < 0 or term.count("...") > 1:
            raise ValueError(f"einsum: operand {i} of shape {tuple(shape)} does not fit subscript {term!r}")
        ranks.append(rank)
    width = max(ranks)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in spec]
    ell = "".join(free[:width])
    sizes = {}
    for term, shape, rank in zip(terms, shapes, ranks):
        if "..." in term:
            start = term.index("...")
            for c, n in zip(ell[width - rank:], shape[start:start + rank]):
                if sizes.get(c, 1) not in (1, n) and n != 1:
                    raise ValueError(f"einsum: the '...' dimensions of {subscripts!r} cannot be broadcast ({tuple(shape)})")
                sizes[c] = max(sizes.get(c, 1), n)
    new_terms, targets = [], []
    for term, shape, rank in zip(terms, shapes, ranks):
        mine = ell[width - rank:]
        new_terms.append(term.replace("...", mine))
        if "..." in term:
            start = term.index("...")
            target = tuple(shape[:start]) + tuple(sizes[c] for c in mine) + tuple(shape[start + rank:])
            targets.append(target if target != tuple(shape) else None)
        else:
            targets.append(None)
    if arrow:
        output = rhs.replace("...", ell)
    else:
        letters = "".join(new_terms)
        output = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return ",".join(new_terms) + "->" + output, targets


def _on_host(device, arrays):
    """einsum has no GPU kernel: device operands are copied to the host explicitly (and back)."""
    if device == "cpu":
        return arrays
    backend = get_backend(device)
    return [backend.to_numpy(a) for a in arrays]


def _to_device(device, array):
    # np.asarray(order="C"), not np.ascontiguousarray, which turns a 0-d result into shape (1,).
    return array if device == "cpu" else get_backend(device).from_numpy(np.asarray(array, order="C"))


class Einsum(Function):
    @staticmethod
    def forward(ctx, *arrays, inputs, output, sizes):
        arrays = _on_host(ctx.device, arrays)
        ctx.save_for_backward(*arrays)
        ctx.spec = (inputs, output, sizes)
        out = np.asarray(np.einsum(",".join(inputs) + "->" + output, *arrays, optimize=len(arrays) > 2))
        return _to_device(ctx.device, out)

    @staticmethod
    def backward(ctx, grad):
        grads = Einsum._host_backward(ctx, _on_host(ctx.device, [grad])[0])
        return tuple(None if g is None else _to_device(ctx.device, g) for g in grads)

    @staticmethod
    def _host_backward(ctx, grad):
        arrays = ctx.saved_tensors
        inputs, output, sizes = ctx.spec
        grads = []
        for i, term in enumerate(inputs):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            # d out / d operand_i is the einsum of the output gradient with every other operand,
            # landing on operand i's distinct letters.
            unique = "".join(dict.fromkeys(term))
            others = [t for j, t in enumerate(inputs) if j != i]
            reachable = set(output).union(*others) if others else set(output)
            target = "".join(c for c in unique if c in reachable)
            spec = ",".join([output] + others) + "->" + target
            g = np.einsum(spec, grad, *[a for j, a in enumerate(arrays) if j != i], optimize=len(arrays) > 2)
            # Letters summed only inside this operand receive the same gradient everywhere.
            g = g.reshape([sizes[c] if c in target else 1 for c in unique])
            g = np.broadcast_to(g, [sizes[c] for c in unique])
            if len(unique) != len(term):
                # Repeated letters (a diagonal): scatter onto the diagonal, zeros elsewhere.
                full = np.zeros(arrays[i].shape, dtype=grad.dtype)
                grid = np.indices(g.shape, sparse=True)
                full[tuple(grid[unique.index(c)] for c in term)] = g
                g = full
            grads.append(np.ascontiguousarray(g, dtype=grad.dtype))
        return grads


def einsum(subscripts: str, *operands_):
    """Einstein summation, e.g. ``einsum("nchw,oc->nohw", x, w)``.

    Supports explicit ``->`` outputs and NumPy's implicit output (letters that occur once,
    sorted), ``...`` for unnamed (broadcast) leading or trailing dimensions, sums over repeated
    letters across operands, and repeated letters within one operand (diagonals). Each operand's gradient is itself an einsum.

    Args:
        subscripts: comma-separated operand subscripts, optionally ``-> output``.
        *operands_: tensors (or arrays); may also be passed as one list.
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    if len(operands_) == 1 and isinstance(operands_[0], (list, tuple)):
        operands_ = tuple(operands_[0])
    tensors = [as_tensor(t) for t in operands_]
    subscripts, targets = _expand_ellipsis(subscripts, [t.shape for t in tensors])
    tensors = [t if target is None else expand(t, *target) for t, target in zip(tensors, targets)]
    inputs, output, sizes = _parse_einsum(subscripts, [t.shape for t in tensors])
    floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
    if floats:
        like = np.result_type(*floats)
        tensors = [t if t.dtype == like else t.to(dtype=like) for t in tensors]
    return Einsum.apply(*tensors, inputs=inputs, output=output, sizes=sizes)
