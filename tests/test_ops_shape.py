"""Shape ops and indexing against NumPy, with finite-difference gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, check_grads, shapes

import minigrad as mg


@given(data=st.data())
def test_reshape_flatten_with_inference(data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    x = data.draw(arrays(shape))
    target = (-1,) + shape[2:] if len(shape) > 1 else (-1,)
    np.testing.assert_array_equal(mg.reshape(mg.Tensor(x), target).numpy(), x.reshape(target))
    np.testing.assert_array_equal(mg.Tensor(x).reshape(*target).numpy(), x.reshape(target))
    check_grads(lambda t: mg.reshape(t, target), x)
    start = data.draw(st.integers(0, len(shape) - 1))
    merged = int(np.prod(shape[start:]))
    np.testing.assert_array_equal(mg.flatten(mg.Tensor(x), start).numpy(), x.reshape(shape[:start] + (merged,)))
    check_grads(lambda t: mg.flatten(t, start), x)


@given(data=st.data())
def test_permute_transpose(data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    x = data.draw(arrays(shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    np.testing.assert_array_equal(mg.permute(mg.Tensor(x), *perm).numpy(), np.transpose(x, perm))
    np.testing.assert_array_equal(mg.permute(mg.Tensor(x), perm).numpy(), np.transpose(x, perm))
    check_grads(lambda t: mg.permute(t, perm), x)
    d0, d1 = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(st.integers(0, len(shape) - 1))
    np.testing.assert_array_equal(mg.transpose(mg.Tensor(x), d0, d1).numpy(), np.swapaxes(x, d0, d1))
    check_grads(lambda t: mg.transpose(t, d0, d1) * 1.0, x)


def test_squeeze_unsqueeze():
    x = np.arange(6.0).reshape(1, 2, 1, 3)
    t = mg.Tensor(x)
    assert mg.squeeze(t).shape == (2, 3)
    assert mg.squeeze(t, 0).shape == (2, 1, 3)
    assert mg.squeeze(t, 1).shape == (1, 2, 1, 3)  # size != 1: unchanged, as in PyTorch
    assert mg.squeeze(t, (0, 2)).shape == (2, 3)
    assert mg.unsqueeze(t, -1).shape == (1, 2, 1, 3, 1)
    assert mg.unsqueeze(t, 0).shape == (1, 1, 2, 1, 3)
    check_grads(lambda v: mg.unsqueeze(mg.squeeze(v), 1), x)
    with pytest.raises(ValueError, match="unsqueeze: dim 6 out of range"):
        mg.unsqueeze(t, 6)


INDICES = [
    (1,),
    (slice(None, None, 2), Ellipsis, -1),
    (None, 0, slice(1, 3)),
    (np.array([0, 2, 0, 0]),),
    (slice(None), np.array([[1, 1], [0, 2]])),
    (np.array([1, 0]), slice(None), np.array([3, 3])),
]


@pytest.mark.parametrize("index", INDICES, ids=range(len(INDICES)))
def test_getitem_forward_and_grad(index):
    x = np.random.default_rng(0).standard_normal((3, 3, 4))
    np.testing.assert_array_equal(mg.Tensor(x)[index].numpy(), x[index])
    check_grads(lambda t: t[index], x)


def test_getitem_repeated_indices_accumulate():
    x = mg.Tensor(np.zeros(4), requires_grad=True)
    x[mg.Tensor(np.array([1, 1, 3, 1]))].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0, 1.0])


def test_getitem_bool_mask():
    a = np.random.default_rng(1).standard_normal((3, 4))
    mask = a > 0
    np.testing.assert_array_equal(mg.Tensor(a)[mask].numpy(), a[mask])
    np.testing.assert_array_equal(mg.Tensor(a)[mg.Tensor(mask)].numpy(), a[mask])
    x = mg.Tensor(a, requires_grad=True)
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), mask.astype(float))
    check_grads(lambda t: t[:, mask[0]], a)


def test_getitem_out_of_range():
    with pytest.raises(ValueError, match=r"getitem: index .* invalid for a tensor of shape \(2, 3\)"):
        mg.ones(2, 3)[5]


@given(data=st.data())
def test_cat_and_stack(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = []
    for n in sizes:
        s = list(shape)
        s[dim] = n
        parts.append(data.draw(arrays(tuple(s))))
    np.testing.assert_array_equal(mg.cat([mg.Tensor(p) for p in parts], dim).numpy(), np.concatenate(parts, dim))
    check_grads(lambda *ts: mg.cat(list(ts), dim), *parts)
    same = [data.draw(arrays(shape)) for _ in sizes]
    sdim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(mg.stack([mg.Tensor(p) for p in same], sdim).numpy(), np.stack(same, sdim))
    check_grads(lambda *ts: mg.stack(list(ts), sdim), *same)


def test_cat_shape_mismatch():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\) but tensor 0 has \(2, 3\)"):
        mg.cat([mg.ones(2, 3), mg.ones(2, 4)], 0)
    with pytest.raises(ValueError, match="stack: tensor 1 has shape"):
        mg.stack([mg.ones(2), mg.ones(3)])


@pytest.mark.parametrize("mode, np_mode", [("constant", "constant"), ("reflect", "reflect"),
                                           ("replicate", "edge"), ("circular", "wrap")])
@given(data=st.data())
def test_pad_modes(mode, np_mode, data):
    shape = data.draw(shapes(min_dims=2, max_dims=4, min_side=3, max_side=4))
    x = data.draw(arrays(shape))
    k = data.draw(st.integers(1, 2))
    pad = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * k))
    # PyTorch's convention: (last-dim left, last-dim right, second-to-last left, ...).
    widths = [(0, 0)] * (len(shape) - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    kwargs = {"constant_values": 1.5} if mode == "constant" else {}
    ref = np.pad(x, widths, mode=np_mode, **kwargs)
    np.testing.assert_array_equal(mg.pad(mg.Tensor(x), pad, mode, value=1.5).numpy(), ref)
    check_grads(lambda t: mg.pad(t, pad, mode, value=1.5), x)


def test_pad_errors():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match="pad: pad"):
        mg.pad(x, (1,))
    with pytest.raises(ValueError, match="pad: reflect padding"):
        mg.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: unknown mode"):
        mg.pad(x, (1, 1), mode="mirror")


def test_expand_sums_gradient_back():
    x = np.arange(3.0).reshape(3, 1)
    np.testing.assert_array_equal(mg.expand(mg.Tensor(x), 2, 3, 4).numpy(), np.broadcast_to(x, (2, 3, 4)))
    check_grads(lambda t: mg.expand(t, 2, -1, 4), x)


def test_reshape_errors():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, -1\)"):
        mg.reshape(x, 4, -1)
    with pytest.raises(ValueError, match="reshape: cannot reshape"):
        mg.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="permute: dims"):
        mg.permute(x, 0, 0)
    with pytest.raises(ValueError, match="transpose: dim 2 out of range"):
        mg.transpose(x, 0, 2)
    with pytest.raises(ValueError, match="flatten: start_dim 1 comes after end_dim 0"):
        mg.flatten(x, 1, 0)
