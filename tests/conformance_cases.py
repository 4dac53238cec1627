"""The call forms of minigrad's ops that the PyTorch conformance tests run (shared by the CPU and CUDA tests).

Each case is one call written once for both libraries: ``fn(m, F, *tensors)`` where ``m`` is
``minigrad`` or ``torch`` and ``F`` the matching ``nn.functional``, so the call form itself (names,
positional and keyword arguments) is what is being checked. ``make(g)`` draws the inputs; the
floating ones require grad. The grid follows PyTorch's OpInfo sample inputs: 0-d, empty and
unbatched shapes, every keyword, broadcasting, non-contiguous inputs (``g.nc``), and NaN/Inf
(``g.special``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: NaN, infinities, signed zeros and ordinary values: every pair of them meets in the binary cases.
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 2.0])


class Draw:
    """Input factory for one case: arrays of the case's floating dtype from a fixed seed."""

    def __init__(self, dtype, seed=0):
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)

    def n(self, *shape):
        return self.rng.standard_normal(shape).astype(self.dtype)

    def pos(self, *shape):
        return self.rng.uniform(0.5, 2.0, shape).astype(self.dtype)

    def nc(self, *shape):
        """Normal values in a non-contiguous array (a transposed view)."""
        return self.n(*reversed(shape)).T

    def distinct(self, *shape):
        """Values far apart (no ties, so max/min/pool gradients are derivatives, not conventions)."""
        size = int(np.prod(shape, dtype=np.int64))
        return (self.rng.permutation(size) * 0.37 - size * 0.15).reshape(shape).astype(self.dtype)

    def special(self, side=None):
        """SPECIAL as a column (side="a"), a row (side="b") or flat: a and b broadcast to all pairs."""
        v = SPECIAL.astype(self.dtype)
        return v[:, None] if side == "a" else v[None, :] if side == "b" else v

    def ints(self, high, *shape):
        return self.rng.integers(0, high, shape).astype(np.int64)

    def mask(self, *shape):
        return self.rng.random(shape) < 0.5

    def probs(self, *shape, axis=1):
        p = self.rng.uniform(0.1, 1.0, shape)
        return (p / p.sum(axis=axis, keepdims=True)).astype(self.dtype)


@dataclass
class Case:
    name: str
    fn: Callable
    make: Callable
    cuda: bool = False  # also run on the CUDA backend (tiny shapes; the simulator is slow)
    grad: bool = True
    const: tuple = ()  # inputs that must not require grad (PyTorch refuses a gradient for them)


CASES: list[Case] = []


def case(name, fn, make, cuda=False, grad=True, const=()):
    CASES.append(Case(name, fn, make, cuda, grad, const))


# ------------------------------------------------------------- elementwise
UNARY_SHAPES = {"0d": (), "vec": (5,), "mat": (2, 3), "empty": (0, 3)}
for fname, fn, domain in [
    ("neg", lambda m, F, x: m.neg(x), "n"), ("abs", lambda m, F, x: m.abs(x), "n"),
    ("exp", lambda m, F, x: m.exp(x), "n"), ("log", lambda m, F, x: m.log(x), "pos"),
    ("sqrt", lambda m, F, x: m.sqrt(x), "pos"), ("relu", lambda m, F, x: F.relu(x), "n"),
    ("sigmoid", lambda m, F, x: m.sigmoid(x), "n"), ("tanh", lambda m, F, x: m.tanh(x), "n"),
    ("leaky_relu", lambda m, F, x: F.leaky_relu(x, 0.2), "n"),
    ("leaky_relu_kw", lambda m, F, x: F.leaky_relu(x, negative_slope=0.05), "n"),
    ("clamp", lambda m, F, x: m.clamp(x, -0.5, 0.5), "n"), ("clamp_min", lambda m, F, x: m.clamp(x, min=0.1), "n"),
    ("clamp_max_kw", lambda m, F, x: x.clamp(max=0.2), "n"), ("clip", lambda m, F, x: m.clip(x, -1, 1), "n"),
    ("clamp_crossed", lambda m, F, x: m.clamp(x, 1.0, -1.0), "n"),
    ("pow_scalar", lambda m, F, x: x ** 3, "n"), ("pow_half", lambda m, F, x: m.pow(x, 0.5), "pos"),
    ("pow_zero", lambda m, F, x: m.pow(x, 0), "n"), ("rpow", lambda m, F, x: 2.0 ** x, "n"),
    ("softmax_method", lambda m, F, x: x.softmax(-1), "n"),
    ("dropout_eval", lambda m, F, x: F.dropout(x, 0.5, training=False), "n"),
    ("relu_inplace", lambda m, F, x: (lambda y: (F.relu(y, inplace=True), y)[1])(x * 1), "n"),
    ("relu_", lambda m, F, x: F.relu_(x + 0), "n"),
    ("leaky_relu_inplace", lambda m, F, x: (lambda y: (F.leaky_relu(y, 0.1, True), y)[1])(x * 2), "n"),
    ("dropout_inplace_eval", lambda m, F, x: F.dropout(x * 1, 0.3, False, True), "n"),
    ("dropout_p0", lambda m, F, x: F.dropout(x, p=0.0), "n"),
]:
    for sname, shape in UNARY_SHAPES.items():
        if fname == "softmax_method" and sname == "0d":
            continue
        domain_make = (lambda shape, domain: lambda g: [getattr(g, domain)(*shape)])(shape, domain)
        case(f"{fname}[{sname}]", fn, domain_make, cuda=sname == "mat")
    case(f"{fname}[noncontig]", fn, lambda g: [g.nc(3, 4)])
    if domain == "n":
        case(f"{fname}[nan_inf]", fn, lambda g: [g.special()], cuda=fname in ("relu", "abs", "clamp"))

BINARY_SHAPES = {
    "same": ((2, 3), (2, 3)), "bcast": ((2, 1, 4), (3, 1)), "row": ((3, 4), (4,)), "0d_left": ((), (3,)),
    "0d_both": ((), ()), "empty": ((0, 3), (3,)),
}
for fname, fn in [
    ("add", lambda m, F, a, b: m.add(a, b)), ("add_alpha", lambda m, F, a, b: m.add(a, b, alpha=-2.5)),
    ("sub", lambda m, F, a, b: a - b), ("sub_alpha", lambda m, F, a, b: m.sub(a, b, alpha=0.5)),
    ("mul", lambda m, F, a, b: m.mul(a, b)), ("div", lambda m, F, a, b: m.div(a, b)),
    ("div_trunc", lambda m, F, a, b: m.div(a, b, rounding_mode="trunc")),
    ("div_floor", lambda m, F, a, b: m.div(a, b, rounding_mode="floor")),
    ("maximum", lambda m, F, a, b: m.maximum(a, b)), ("minimum", lambda m, F, a, b: m.minimum(a, b)),
    ("max_binary", lambda m, F, a, b: m.max(a, b)), ("min_binary", lambda m, F, a, b: m.min(a, b)),
    ("pow", lambda m, F, a, b: m.pow(m.abs(a) + 0.5, b)), ("method_add", lambda m, F, a, b: a.add(b, alpha=3)),
    ("method_div", lambda m, F, a, b: a.div(b, rounding_mode="floor")),
    ("clamp_tensors", lambda m, F, a, b: m.clamp(a, min=b, max=b + 0.5)),
    ("clamp_tensor_min", lambda m, F, a, b: m.clamp(a, min=b)),
    ("clamp_tensor_max", lambda m, F, a, b: a.clamp(max=b)),
]:
    for sname, (sa, sb) in BINARY_SHAPES.items():
        if fname.startswith("clamp") and len(sb) > len(sa):
            continue  # PyTorch's clamp requires bounds that broadcast to the input
        case(f"{fname}[{sname}]", fn, (lambda sa, sb: lambda g: [g.n(*sa), g.pos(*sb) + 0.1])(sa, sb),
             cuda=sname == "bcast")
    case(f"{fname}[noncontig]", fn, lambda g: [g.nc(3, 4), g.nc(3, 4) + 3.0])
    case(f"{fname}[nan_inf]", fn, lambda g: [g.special("a"), g.special("b")],
         cuda=fname in ("maximum", "minimum", "pow"))
case("pow_nan_inf_base", lambda m, F, a, b: m.pow(a, b), lambda g: [g.special("a"), g.special("b")])
case("pow_zero_base", lambda m, F, a, b: m.pow(a, b),
     lambda g: [np.zeros((3, 1), g.dtype), np.array([[0.0, 1.0, 2.0, 0.5]], g.dtype)])
case("pow_zero_exponent", lambda m, F, x: x ** 0, lambda g: [np.array([0.0, np.nan, np.inf, -2.0], g.dtype)],
     cuda=True)
case("div_ints_trunc", lambda m, F, a, b: m.div(a, b, rounding_mode="trunc"),
     lambda g: [np.array([-7, 7, -6, 5]), np.array([2, -2, 4, 5])], grad=False)
case("div_ints_floor", lambda m, F, a, b: m.div(a, b, rounding_mode="floor"),
     lambda g: [np.array([-7, 7, -6, 5]), np.array([2, -2, 4, 5])], grad=False)
case("div_ints_true", lambda m, F, a, b: m.div(a, b), lambda g: [np.array([-7, 7, 1]), np.array([2, -2, 4])])
# Integer inputs: PyTorch's type promotion (no gradients).
for fname, fn in [
    ("int_exp", lambda m, F, x: m.exp(x)), ("int_log", lambda m, F, x: m.log(x)), ("int_sqrt", lambda m, F, x: m.sqrt(x)),
    ("int_sigmoid", lambda m, F, x: m.sigmoid(x)), ("int_tanh", lambda m, F, x: m.tanh(x)),
    ("int_clamp_float", lambda m, F, x: m.clamp(x, 0.5, 2.5)), ("int_clamp_int", lambda m, F, x: m.clamp(x, 1, 2)),
    ("int_mul_float", lambda m, F, x: x * 0.5), ("int_add", lambda m, F, x: x + 2), ("int_div", lambda m, F, x: x / 2),
    ("int_pow", lambda m, F, x: x ** 2), ("int_neg", lambda m, F, x: -x), ("int_abs", lambda m, F, x: m.abs(x)),
    ("int_max", lambda m, F, x: x.max()), ("int_sum", lambda m, F, x: x.sum()), ("bool_sum", lambda m, F, x: (x > 1).sum()),
    ("int_softmax_dtype", lambda m, F, x: F.softmax(x, 0, dtype=m.float64)),
    ("int_where_float", lambda m, F, x: m.where(x > 1, x, 0.5)), ("int_cat_float", lambda m, F, x: m.cat([x, x * 0.5])),
]:
    case(fname, fn, lambda g: [np.array([1, 2, 3, 0])], grad=False)
# Tensor.to in its PyTorch forms.
for fname, fn in [
    ("to_dtype", lambda m, F, x: x.to(m.float64)), ("to_dtype_kw", lambda m, F, x: x.to(dtype=m.float32)),
    ("to_device_dtype", lambda m, F, x: x.to("cpu", m.float64)), ("to_other", lambda m, F, x: x.to(x.double())),
    ("to_copy", lambda m, F, x: x.to(x.dtype, copy=True)), ("to_non_blocking", lambda m, F, x: x.to("cpu", non_blocking=True)),
    ("float_double", lambda m, F, x: x.double().float()),
]:
    case(fname, fn, lambda g: [g.n(2, 3)])
case("where", lambda m, F, c, a, b: m.where(c, a, b), lambda g: [g.mask(2, 3), g.n(2, 3), g.n(3)], cuda=True)
case("where_scalar", lambda m, F, c, a: m.where(c, a, 0.0), lambda g: [g.mask(2, 3), g.n(2, 3)])
for cmp in ("lt", "le", "gt", "ge", "eq", "ne"):
    case(f"{cmp}", (lambda cmp: lambda m, F, a, b: getattr(m, cmp)(a, b))(cmp),
         lambda g: [g.special("a"), g.special("b")], grad=False)

# -------------------------------------------------------------- reductions
RED_SHAPES = {"0d": (), "vec": (5,), "3d": (2, 3, 4), "empty": (0, 3)}
for fname, fn, shapes in [
    ("sum", lambda m, F, x: m.sum(x), RED_SHAPES), ("sum_dim0", lambda m, F, x: x.sum(0), RED_SHAPES),
    ("sum_keepdim", lambda m, F, x: m.sum(x, -1, keepdim=True), RED_SHAPES),
    ("sum_dims", lambda m, F, x: x.sum((0, 2)), {"3d": (2, 3, 4)}),
    ("sum_dtype", lambda m, F, x: x.sum(dtype=m.float64), RED_SHAPES),
    ("mean", lambda m, F, x: m.mean(x), RED_SHAPES), ("mean_dim0", lambda m, F, x: x.mean(dim=0), RED_SHAPES),
    ("mean_neg_keep", lambda m, F, x: m.mean(x, dim=-1, keepdim=True), RED_SHAPES),
    ("logsumexp_dim0", lambda m, F, x: m.logsumexp(x, 0), RED_SHAPES),
    ("logsumexp_keep", lambda m, F, x: m.logsumexp(x, dim=-1, keepdim=True), RED_SHAPES),
    ("logsumexp_dims", lambda m, F, x: m.logsumexp(x, (0, 2)), {"3d": (2, 3, 4)}),
    ("var", lambda m, F, x: m.var(x), {"vec": (5,), "3d": (2, 3, 4)}),
    ("var_dim_unbiased_pos", lambda m, F, x: m.var(x, 1, False), {"3d": (2, 3, 4)}),
    ("var_dim_unbiased_keep_pos", lambda m, F, x: m.var(x, 1, True, True), {"3d": (2, 3, 4)}),
    ("var_unbiased_only", lambda m, F, x: m.var(x, False), {"vec": (5,), "3d": (2, 3, 4)}),
    ("var_correction", lambda m, F, x: m.var(x, dim=(0, 2), correction=2, keepdim=True), {"3d": (2, 3, 4)}),
    ("var_correction0", lambda m, F, x: x.var(0, correction=0), {"0d": (), "3d": (2, 3, 4)}),
    ("std", lambda m, F, x: m.std(x, -1), {"vec": (5,), "3d": (2, 3, 4)}),
    ("std_correction", lambda m, F, x: x.std(dim=1, correction=0), {"3d": (2, 3, 4)}),
    ("std_unbiased_kw", lambda m, F, x: m.std(x, 0, unbiased=False, keepdim=True), {"3d": (2, 3, 4)}),
    ("max_all", lambda m, F, x: m.max(x), {"0d": (), "vec": (5,), "3d": (2, 3, 4)}),
    ("min_all", lambda m, F, x: x.min(), {"0d": (), "vec": (5,), "3d": (2, 3, 4)}),
    ("max_dim", lambda m, F, x: m.max(x, 1)[0], {"3d": (2, 3, 4)}),
    ("max_dim0_0d", lambda m, F, x: m.max(x, 0)[0], {"0d": ()}),
    ("min_dim_keep", lambda m, F, x: m.min(x, dim=-1, keepdim=True)[0], {"vec": (5,), "3d": (2, 3, 4)}),
    ("max_indices", lambda m, F, x: m.max(x, 1)[1], {"3d": (2, 3, 4)}),
    ("argmax", lambda m, F, x: m.argmax(x), {"vec": (5,), "3d": (2, 3, 4)}),
    ("argmax_dim", lambda m, F, x: x.argmax(1, keepdim=True), {"3d": (2, 3, 4)}),
    ("argmin_dim", lambda m, F, x: m.argmin(x, dim=-1), {"3d": (2, 3, 4)}),
    ("softmax", lambda m, F, x: F.softmax(x, dim=0), RED_SHAPES),
    ("softmax_last", lambda m, F, x: F.softmax(x, -1), RED_SHAPES),
    ("softmax_dtype", lambda m, F, x: F.softmax(x, 1, dtype=m.float64), {"3d": (2, 3, 4)}),
    ("softmax_implicit", lambda m, F, x: F.softmax(x), {"vec": (5,), "3d": (2, 3, 4)}),
    ("log_softmax", lambda m, F, x: F.log_softmax(x, 0), RED_SHAPES),
    ("log_softmax_last", lambda m, F, x: x.log_softmax(-1), RED_SHAPES),
    ("log_softmax_dtype", lambda m, F, x: m.log_softmax(x, -1, dtype=m.float64), {"3d": (2, 3, 4)}),
]:
    for sname, shape in shapes.items():
        make = (lambda shape: lambda g: [g.distinct(*shape)])(shape)
        grad = not any(k in fname for k in ("indices", "argm"))
        case(f"{fname}[{sname}]", fn, make, cuda=sname == "3d" and fname in (
            "sum_dims", "mean_neg_keep", "logsumexp_dims", "var_correction", "max_dim", "softmax", "log_softmax",
            "argmax_dim", "argmax"),
             grad=grad)
for fname, fn in [("max_all", lambda m, F, x: m.max(x)), ("min_all", lambda m, F, x: m.min(x)),
                  ("max_dim", lambda m, F, x: m.max(x, 0)[0]), ("softmax", lambda m, F, x: m.softmax(x, 0)),
                  ("logsumexp", lambda m, F, x: m.logsumexp(x, 0)), ("sum", lambda m, F, x: m.sum(x, 0)),
                  ("log_softmax", lambda m, F, x: m.log_softmax(x, 0))]:
    case(f"{fname}[nan]", fn, lambda g: [np.array([1.0, np.nan, 2.0, -1.0], g.dtype)])
case("logsumexp[inf]", lambda m, F, x: m.logsumexp(x, 1),
     lambda g: [np.array([[np.inf, 1.0], [-np.inf, -np.inf], [-np.inf, 0.5]], g.dtype)])
case("logsumexp[empty_all]", lambda m, F, x: m.logsumexp(x, 0), lambda g: [np.zeros(0, g.dtype)], cuda=True)
case("lrn[empty]", lambda m, F, x: F.local_response_norm(x, 2), lambda g: [np.zeros((0, 3, 2, 2), g.dtype)])
case("softmax[empty_dim]", lambda m, F, x: F.softmax(x, 1), lambda g: [np.zeros((2, 0), g.dtype)], cuda=True)

# ------------------------------------------------------- setitem (in place)
def _set(y, index, value):
    y[index] = value
    return y


case("setitem_slice_tensor", lambda m, F, x, v: _set(x * 2, (slice(None), 1), v), lambda g: [g.n(2, 3), g.n(2)],
     cuda=True)
case("setitem_broadcast_row", lambda m, F, x, v: _set(x + 0, 0, v), lambda g: [g.n(2, 3), g.n(3)])
case("setitem_scalar_mask", lambda m, F, x: _set(x * 1, x > 0, 0.5), lambda g: [g.n(3, 4)], cuda=True)
case("setitem_int_array", lambda m, F, x, i, v: _set(x * 1, i, v), lambda g: [g.n(4, 3), np.array([0, 2]), g.n(2, 3)])
case("setitem_ellipsis", lambda m, F, x: _set(x * 1, (..., -1), -1.0), lambda g: [g.n(2, 3, 4)])
case("setitem_then_reduce", lambda m, F, x, v: _set(x * 3, (slice(1, None), slice(None, 2)), v).sum(1),
     lambda g: [g.n(3, 4), g.n(2, 2)])

# -------------------------------------------------------------- shape ops
case("view_size0", lambda m, F, x: x.view(x.size(0), -1), lambda g: [g.n(2, 3, 2)])
case("size_calls", lambda m, F, x: x.reshape(x.size(-1), *x.size()[:-1]), lambda g: [g.n(2, 3, 2)])
case("reshape", lambda m, F, x: x.reshape(3, -1), lambda g: [g.n(2, 3, 2)])
for fname, fn in [
    ("method_neg", lambda m, F, x: x.neg()), ("method_t", lambda m, F, x: x.t()), ("method_contiguous", lambda m, F, x: x.contiguous()),
    ("method_view_as", lambda m, F, x: x.view_as(x.reshape(-1))), ("method_reshape_as", lambda m, F, x: x.T.reshape_as(x)),
    ("method_expand_as", lambda m, F, x: x[:1].expand_as(x)), ("method_type_as", lambda m, F, x: x.type_as(x.double())),
    ("method_long", lambda m, F, x: x.long()), ("method_int", lambda m, F, x: x.int()), ("method_bool", lambda m, F, x: x.bool()),
    ("method_eq", lambda m, F, x: x.eq(x.T.T)), ("method_gt", lambda m, F, x: x.gt(0)), ("method_le", lambda m, F, x: x.le(0.1)),
    ("method_where", lambda m, F, x: x.where(x > 0, -x)), ("method_mm", lambda m, F, x: x.mm(x.T)),
]:
    case(fname, fn, lambda g: [g.nc(3, 4)])
case("reshape_tuple", lambda m, F, x: m.reshape(x, (2, 6)), lambda g: [g.nc(3, 4)])
case("reshape_0d", lambda m, F, x: x.reshape(1, 1), lambda g: [g.n()])
case("view", lambda m, F, x: x.view(-1), lambda g: [g.n(2, 3)])
case("flatten", lambda m, F, x: m.flatten(x, 1), lambda g: [g.n(2, 3, 4)], cuda=True)
case("flatten_0d", lambda m, F, x: m.flatten(x), lambda g: [g.n()])
case("transpose", lambda m, F, x: x.transpose(0, 2), lambda g: [g.n(2, 3, 4)], cuda=True)
case("transpose_same", lambda m, F, x: m.transpose(x, 1, 1), lambda g: [g.n(2, 3)])
case("transpose_0d", lambda m, F, x: x.transpose(0, 0), lambda g: [g.n()])
case("transpose_0d_neg", lambda m, F, x: m.transpose(x, -1, 0), lambda g: [g.n()])
case("permute", lambda m, F, x: x.permute(2, 0, 1), lambda g: [g.n(2, 3, 4)])
case("permute_tuple", lambda m, F, x: m.permute(x, (1, 0)), lambda g: [g.nc(2, 3)])
case("T", lambda m, F, x: x.T, lambda g: [g.n(2, 3)])
case("squeeze", lambda m, F, x: x.squeeze(), lambda g: [g.n(1, 3, 1)])
case("squeeze_dim", lambda m, F, x: m.squeeze(x, 0), lambda g: [g.n(1, 3, 1)])
case("squeeze_not_one", lambda m, F, x: x.squeeze(1), lambda g: [g.n(1, 3, 1)])
case("squeeze_0d", lambda m, F, x: x.squeeze(0), lambda g: [g.n()])
case("squeeze_0d_all", lambda m, F, x: x.squeeze(), lambda g: [g.n()])
case("unsqueeze", lambda m, F, x: x.unsqueeze(-1), lambda g: [g.n(2, 3)])
case("unsqueeze_0d", lambda m, F, x: m.unsqueeze(x, 0), lambda g: [g.n()])
case("expand", lambda m, F, x: x.expand(2, 3, 4), lambda g: [g.n(3, 1)])
case("expand_keep", lambda m, F, x: x.expand(-1, 4), lambda g: [g.n(3, 1)])
case("getitem_int", lambda m, F, x: x[1], lambda g: [g.n(3, 4)])
case("getitem_slices", lambda m, F, x: x[:, 1::2, None], lambda g: [g.n(3, 5)], cuda=True)
case("getitem_ellipsis", lambda m, F, x: x[..., -1], lambda g: [g.n(2, 3, 4)])
case("getitem_negative_step_free", lambda m, F, x: x[1:, :2], lambda g: [g.nc(3, 4)])
case("getitem_int_array", lambda m, F, x, i: x[i], lambda g: [g.n(4, 3), np.array([0, 2, 2, 3])])
case("getitem_mask", lambda m, F, x, k: x[k], lambda g: [g.n(3, 4), g.mask(3, 4)], cuda=True)
case("cat", lambda m, F, a, b: m.cat([a, b], 1), lambda g: [g.n(2, 3), g.n(2, 1)], cuda=True)
case("cat_neg_dim", lambda m, F, a, b: m.cat((a, b), dim=-1), lambda g: [g.n(2, 3), g.nc(2, 2)])
case("cat_empty", lambda m, F, a, b: m.cat([a, b]), lambda g: [g.n(0, 3), g.n(2, 3)])
case("stack", lambda m, F, a, b: m.stack([a, b]), lambda g: [g.n(2, 3), g.n(2, 3)])
case("stack_last", lambda m, F, a, b: m.stack([a, b], dim=-1), lambda g: [g.n(2, 3), g.n(2, 3)])
case("stack_0d", lambda m, F, a, b: m.stack([a, b]), lambda g: [g.n(), g.n()])
for mode in ("constant", "reflect", "replicate", "circular"):
    for pad in [(1, 2), (2, 1, 1, 0), (-1, 2), (1, -2, -1, 1)]:
        case(f"pad_{mode}{pad}", (lambda pad, mode: lambda m, F, x: F.pad(x, pad, mode=mode))(pad, mode),
             lambda g: [g.n(2, 3, 4)], cuda=min(pad) < 0 and (mode == "constant" or pad == (-1, 2)))
case("pad_value", lambda m, F, x: F.pad(x, (1, 1), "constant", 2.5), lambda g: [g.n(2, 3)])
case("pad_value_kw", lambda m, F, x: F.pad(x, [0, 1, 2, 0], value=-1.0), lambda g: [g.nc(3, 4)])
case("pad_crop_to_empty", lambda m, F, x: F.pad(x, (-2, -2)), lambda g: [g.n(2, 4)])

# ------------------------------------------------------------------ linalg
case("matmul_mm", lambda m, F, a, b: a @ b, lambda g: [g.n(3, 4), g.n(4, 2)], cuda=True)
case("matmul_vv", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(4), g.n(4)])
case("matmul_mv", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(3, 4), g.n(4)])
case("matmul_vm", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(4), g.n(4, 2)])
case("matmul_batched", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(2, 1, 3, 4), g.n(5, 4, 2)])
case("matmul_bv", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(2, 3, 4), g.n(4)])
case("matmul_noncontig", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.nc(3, 4), g.nc(4, 2)])
case("matmul_empty", lambda m, F, a, b: m.matmul(a, b), lambda g: [g.n(0, 4), g.n(4, 2)])
case("mm", lambda m, F, a, b: m.mm(a, b), lambda g: [g.n(3, 4), g.n(4, 2)])
case("linear", lambda m, F, x, w, b: F.linear(x, w, b), lambda g: [g.n(5, 4), g.n(3, 4), g.n(3)], cuda=True)
case("linear_nobias", lambda m, F, x, w: F.linear(x, w), lambda g: [g.n(2, 5, 4), g.n(3, 4)])
case("linear_unbatched", lambda m, F, x, w, b: F.linear(x, w, bias=b), lambda g: [g.n(4), g.n(3, 4), g.n(3)])
for spec, shapes in [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,jk->bki", [(2, 3, 4), (4, 3)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("i,j->ij", [(3,), (2,)]), ("ij,ij->i", [(2, 3), (2, 3)]),
    ("...ij,jk->...ik", [(2, 3, 4), (4, 5)]), ("...ij->...ji", [(2, 3, 4)]), ("b...,b...->b", [(3, 1, 4), (3, 5, 1)]),
    ("i...->...", [(3, 2)]), ("...", [(2, 3)]), ("ij...", [(2, 3, 4)]), ("...ij->ij", [(2, 3, 4)]),
]:
    case(f"einsum[{spec}]", (lambda spec: lambda m, F, *t: m.einsum(spec, *t))(spec),
         (lambda shapes: lambda g: [g.n(*s) for s in shapes])(shapes), cuda=spec == "...ij,jk->...ik")
case("einsum_list", lambda m, F, a, b: m.einsum("ij,jk", [a, b]), lambda g: [g.n(3, 4), g.n(4, 2)])

# ------------------------------------------------------------------ losses
for red in ("mean", "sum", "none"):
    case(f"cross_entropy[{red}]", (lambda red: lambda m, F, x, t: F.cross_entropy(x, t, reduction=red))(red),
         lambda g: [g.n(4, 5), g.ints(5, 4)], cuda=red == "mean")
    case(f"cross_entropy_weight_smooth[{red}]",
         (lambda red: lambda m, F, x, t, w: F.cross_entropy(x, t, weight=w, reduction=red, label_smoothing=0.1))(red),
         lambda g: [g.n(4, 5), g.ints(5, 4), g.pos(5)], const=(2,))
    case(f"cross_entropy_ignore[{red}]",
         (lambda red: lambda m, F, x, t: F.cross_entropy(x, t, ignore_index=1, reduction=red))(red),
         lambda g: [g.n(6, 3), np.array([0, 1, 2, 1, 0, 2])])
    case(f"cross_entropy_spatial[{red}]", (lambda red: lambda m, F, x, t: F.cross_entropy(x, t, reduction=red))(red),
         lambda g: [g.n(2, 3, 2, 2), g.ints(3, 2, 2, 2)])
    case(f"cross_entropy_probs[{red}]", (lambda red: lambda m, F, x, p: F.cross_entropy(x, p, reduction=red))(red),
         lambda g: [g.n(4, 5), g.probs(4, 5)], cuda=red == "mean")
    case(f"cross_entropy_probs_weight_smooth[{red}]",
         (lambda red: lambda m, F, x, p, w: F.cross_entropy(x, p, w, reduction=red, label_smoothing=0.2))(red),
         lambda g: [g.n(3, 4), g.probs(3, 4), g.pos(4)])
    case(f"cross_entropy_probs_spatial[{red}]",
         (lambda red: lambda m, F, x, p: F.cross_entropy(x, p, reduction=red))(red),
         lambda g: [g.n(2, 3, 2, 2), g.probs(2, 3, 2, 2)])
    case(f"nll_loss[{red}]", (lambda red: lambda m, F, x, t, w: F.nll_loss(x, t, w, reduction=red))(red),
         lambda g: [g.n(4, 5), g.ints(5, 4), g.pos(5)], const=(2,), cuda=red == "mean")
    case(f"mse_loss[{red}]", (lambda red: lambda m, F, a, b: F.mse_loss(a, b, reduction=red))(red),
         lambda g: [g.n(3, 4), g.n(3, 4)])
    case(f"l1_loss[{red}]", (lambda red: lambda m, F, a, b: F.l1_loss(a, b, reduction=red))(red),
         lambda g: [g.n(3, 4), g.n(3, 4)])
    case(f"bce[{red}]", (lambda red: lambda m, F, p, y: F.binary_cross_entropy(p, y, reduction=red))(red),
         lambda g: [g.rng.uniform(0.05, 0.95, (3, 4)).astype(g.dtype), g.rng.uniform(0, 1, (3, 4)).astype(g.dtype)])
    case(f"bce_logits[{red}]",
         (lambda red: lambda m, F, x, y, pw: F.binary_cross_entropy_with_logits(x, y, reduction=red, pos_weight=pw))(red),
         lambda g: [g.n(3, 4), g.rng.uniform(0, 1, (3, 4)).astype(g.dtype), g.pos(4)], const=(2,))
case("cross_entropy_unbatched", lambda m, F, x, t: F.cross_entropy(x, t), lambda g: [g.n(5), np.array(2)])
case("cross_entropy_probs_unbatched", lambda m, F, x, p: F.cross_entropy(x, p), lambda g: [g.n(5), g.probs(5, axis=0)])
case("bce_logits_0d", lambda m, F, x, y: F.binary_cross_entropy_with_logits(x, y),
     lambda g: [g.n(), np.array(0.3, g.dtype)], cuda=True)
case("bce_0d", lambda m, F, p, y: F.binary_cross_entropy(p, y), lambda g: [np.array(0.4, g.dtype), np.array(1.0, g.dtype)])
case("mse_loss_0d", lambda m, F, a, b: F.mse_loss(a, b), lambda g: [g.n(), g.n()])

# ---------------------------------------------------------------- CNN ops
for batch, prefix in ((True, ""), (False, "unbatched_")):
    def img(g, c, h, w, batch=batch):
        return g.n(2, c, h, w) if batch else g.n(c, h, w)

    def dimg(g, c, h, w, batch=batch):
        return g.distinct(2, c, h, w) if batch else g.distinct(c, h, w)

    case(f"{prefix}conv2d", lambda m, F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         lambda g, img=img: [img(g, 3, 6, 5), g.n(4, 3, 3, 3), g.n(4)], cuda=not batch)
    case(f"{prefix}conv2d_kw", lambda m, F, x, w: F.conv2d(x, w, padding=(1, 0), dilation=(2, 1), groups=2),
         lambda g, img=img: [img(g, 4, 6, 5), g.n(2, 2, 2, 3)])
    case(f"{prefix}conv2d_same", lambda m, F, x, w: F.conv2d(x, w, padding="same"),
         lambda g, img=img: [img(g, 2, 5, 5), g.n(3, 2, 2, 3)])
    case(f"{prefix}conv2d_tuple1", lambda m, F, x, w: F.conv2d(x, w, stride=(2,), padding=(1,)),
         lambda g, img=img: [img(g, 2, 5, 5), g.n(3, 2, 3, 3)])
    case(f"{prefix}conv_transpose2d", lambda m, F, x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                                output_padding=1),
         lambda g, img=img: [img(g, 3, 3, 4), g.n(3, 2, 3, 3), g.n(2)], cuda=not batch)
    case(f"{prefix}conv_transpose2d_groups", lambda m, F, x, w: F.conv_transpose2d(x, w, groups=2, dilation=2),
         lambda g, img=img: [img(g, 4, 3, 3), g.n(4, 1, 2, 2)])
    case(f"{prefix}max_pool2d", lambda m, F, x: F.max_pool2d(x, 2), lambda g, dimg=dimg: [dimg(g, 2, 4, 5)], cuda=not batch)
    case(f"{prefix}max_pool2d_kw", lambda m, F, x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=1, dilation=1,
                                                                 ceil_mode=True),
         lambda g, dimg=dimg: [dimg(g, 2, 5, 5)])
    case(f"{prefix}max_pool2d_dilation", lambda m, F, x: F.max_pool2d(x, 2, 1, 0, 2), lambda g, dimg=dimg: [dimg(g, 2, 5, 5)])
    case(f"{prefix}max_pool2d_tuple1", lambda m, F, x: F.max_pool2d(x, (2,), stride=(1,), padding=(1,)),
         lambda g, dimg=dimg: [dimg(g, 1, 4, 4)])
    case(f"{prefix}max_pool2d_empty_stride", lambda m, F, x: F.max_pool2d(x, 2, stride=[]),
         lambda g, dimg=dimg: [dimg(g, 1, 4, 4)])
    case(f"{prefix}max_pool2d_indices", lambda m, F, x: F.max_pool2d(x, 2, return_indices=True)[1],
         lambda g, dimg=dimg: [dimg(g, 2, 4, 4)], grad=False)
    case(f"{prefix}avg_pool2d", lambda m, F, x: F.avg_pool2d(x, 2), lambda g, img=img: [img(g, 2, 4, 5)], cuda=not batch)
    case(f"{prefix}avg_pool2d_kw", lambda m, F, x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                                 count_include_pad=False),
         lambda g, img=img: [img(g, 2, 5, 6)])
    case(f"{prefix}avg_pool2d_divisor", lambda m, F, x: F.avg_pool2d(x, (2, 3), (1, 2), divisor_override=4),
         lambda g, img=img: [img(g, 1, 4, 5)])
    case(f"{prefix}avg_pool2d_tuple1", lambda m, F, x: F.avg_pool2d(x, (2,), stride=(1,), padding=(1,)),
         lambda g, img=img: [img(g, 1, 4, 4)])
    case(f"{prefix}avg_pool2d_empty_stride", lambda m, F, x: F.avg_pool2d(x, 2, stride=()), lambda g, img=img: [img(g, 1, 4, 4)])
    case(f"{prefix}adaptive_avg_pool2d", lambda m, F, x: F.adaptive_avg_pool2d(x, (2, 3)), lambda g, img=img: [img(g, 2, 5, 7)],
         cuda=not batch)
    case(f"{prefix}adaptive_avg_pool2d_none", lambda m, F, x: F.adaptive_avg_pool2d(x, (None, 2)),
         lambda g, img=img: [img(g, 2, 3, 5)])
    case(f"{prefix}adaptive_avg_pool2d_int", lambda m, F, x: F.adaptive_avg_pool2d(x, 1), lambda g, img=img: [img(g, 2, 3, 5)])
    case(f"{prefix}adaptive_max_pool2d", lambda m, F, x: F.adaptive_max_pool2d(x, 2), lambda g, dimg=dimg: [dimg(g, 2, 5, 4)])
    case(f"{prefix}adaptive_max_pool2d_indices", lambda m, F, x: F.adaptive_max_pool2d(x, (2, 3), True)[1],
         lambda g, dimg=dimg: [dimg(g, 2, 5, 7)], grad=False)
    case(f"{prefix}max_unpool2d", lambda m, F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
         lambda g, dimg=dimg: [dimg(g, 2, 4, 6)], cuda=not batch)
    case(f"{prefix}max_unpool2d_size",
         lambda m, F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, stride=2, output_size=(5, 5)),
         lambda g, dimg=dimg: [dimg(g, 1, 5, 5)])
    if batch:
        continue
    case("unbatched_interpolate_is_1d_linear", lambda m, F, x: F.interpolate(x, size=7, mode="linear"),
         lambda g: [g.n(2, 3, 4)])

for kwargs in [
    dict(scale_factor=2), dict(size=(3, 7)), dict(size=5), dict(scale_factor=(1.5, 0.5)),
    dict(scale_factor=2, mode="bilinear"), dict(size=(3, 7), mode="bilinear", align_corners=True),
    dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
    dict(scale_factor=2, mode="nearest-exact"), dict(size=(3, 7), mode="nearest-exact"),
    dict(scale_factor=2, mode="bicubic"), dict(size=(3, 7), mode="bicubic", align_corners=True),
    dict(scale_factor=0.5, mode="bicubic"), dict(size=(2, 3), mode="area"), dict(scale_factor=2, mode="area"),
]:
    key = ",".join(f"{k}={v}" for k, v in kwargs.items())
    case(f"interpolate2d[{key}]", (lambda kw: lambda m, F, x: F.interpolate(x, **kw))(kwargs), lambda g: [g.n(1, 2, 4, 5)],
         cuda=kwargs.get("mode") in ("bicubic", "nearest-exact") and "size" in kwargs)
for kwargs in [
    dict(size=7, mode="linear"), dict(scale_factor=2.5, mode="linear", align_corners=True), dict(size=3),
    dict(scale_factor=2), dict(size=3, mode="nearest-exact"), dict(size=(4,), mode="area"),
    dict(scale_factor=0.5, mode="linear"),
]:
    key = ",".join(f"{k}={v}" for k, v in kwargs.items())
    case(f"interpolate1d[{key}]", (lambda kw: lambda m, F, x: F.interpolate(x, **kw))(kwargs), lambda g: [g.n(2, 3, 6)],
         cuda=kwargs.get("mode") == "linear" and "size" in kwargs)
# Empty batches and empty feature dimensions.
for fname, fn, shapes in [
    ("conv2d", lambda m, F, x, w: F.conv2d(x, w, padding=1), [(0, 3, 5, 5), (4, 3, 3, 3)]),
    ("conv_transpose2d", lambda m, F, x, w: F.conv_transpose2d(x, w, stride=2), [(0, 3, 3, 3), (3, 2, 2, 2)]),
    ("max_pool2d", lambda m, F, x: F.max_pool2d(x, 2), [(0, 3, 4, 4)]),
    ("avg_pool2d", lambda m, F, x: F.avg_pool2d(x, 2), [(0, 3, 4, 4)]),
    ("adaptive_max_pool2d", lambda m, F, x: F.adaptive_max_pool2d(x, 2), [(0, 3, 4, 4)]),
    ("adaptive_avg_pool2d", lambda m, F, x: F.adaptive_avg_pool2d(x, 2), [(0, 3, 4, 4)]),
    ("max_unpool2d", lambda m, F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), [(0, 2, 4, 4)]),
    ("interpolate_bicubic", lambda m, F, x: F.interpolate(x, scale_factor=2, mode="bicubic"), [(0, 3, 4, 4)]),
    ("interpolate_nearest", lambda m, F, x: F.interpolate(x, scale_factor=2), [(0, 3, 4, 4)]),
    ("linear", lambda m, F, x, w: F.linear(x, w), [(0, 4), (3, 4)]),
    ("linear_no_features", lambda m, F, x, w: F.linear(x, w), [(2, 0), (3, 0)]),
    ("matmul_k0", lambda m, F, a, b: a @ b, [(2, 0), (0, 3)]),
    ("mse_loss", lambda m, F, a, b: F.mse_loss(a, b), [(0, 3), (0, 3)]),
    ("bce_logits", lambda m, F, a, b: F.binary_cross_entropy_with_logits(a, b), [(0,), (0,)]),
    ("cross_entropy", lambda m, F, x: F.cross_entropy(x, m.zeros(0, dtype=m.int64), reduction="sum"), [(0, 5)]),
]:
    case(f"empty_{fname}", fn, (lambda shapes: lambda g: [g.n(*s) for s in shapes])(shapes),
         cuda=fname in ("max_pool2d", "linear", "interpolate_bicubic"))
case("batch_norm_eval", lambda m, F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b),
     lambda g: [g.n(3, 2, 2, 2), g.n(2), g.pos(2), g.n(2), g.n(2)], const=(1, 2))
case("batch_norm_train_2d", lambda m, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
     lambda g: [g.n(4, 3), g.n(3), g.n(3)])
case("batch_norm_train_3d", lambda m, F, x: F.batch_norm(x, None, None, training=True), lambda g: [g.n(2, 3, 4)])
case("local_response_norm", lambda m, F, x: F.local_response_norm(x, 3, alpha=1e-2, beta=0.7, k=2.0),
     lambda g: [g.n(2, 5, 2, 2)])
case("local_response_norm_3d", lambda m, F, x: F.local_response_norm(x, 2), lambda g: [g.n(2, 4, 3)])
