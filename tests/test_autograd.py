"""The autograd engine: graph walking, accumulation, errors, no_grad/detach, memory, creation functions."""

import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function


def test_deep_chain_backward_has_no_recursion_limit():
    x = mg.Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_weight_used_in_two_branches_gets_summed_gradient():
    w = mg.Tensor(np.array([2.0, 3.0]), requires_grad=True)
    x = np.array([5.0, 7.0])
    # loss = sum(w * x) + sum(w * w): d/dw = x + 2 w
    (mg.sum(w * x) + mg.sum(w * w)).backward()
    np.testing.assert_allclose(w.grad.numpy(), x + 2 * np.array([2.0, 3.0]))


def test_residual_diamond():
    x = mg.Tensor(np.array([1.5]), requires_grad=True)
    h = x * 3
    y = h.relu() + h  # two paths from h
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0])


def test_grads_accumulate_across_backward_calls():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 2.0]) + 3)


def test_second_backward_without_retain_graph_fails_and_with_it_works():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_on_non_scalar_needs_gradient():
    x = mg.Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="gradient can be implicit only for scalar outputs"):
        y.backward()
    y.backward(gradient=np.full((2, 2), 0.5))
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 2)))
    with pytest.raises(ValueError, match="gradient of shape"):
        (x * 2).backward(gradient=np.ones(3))


def test_backward_on_tensor_without_grad_fails():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.Tensor(np.ones(2)).sum().backward()


def test_no_grad_and_enable_grad():
    x = mg.Tensor(np.ones(2), requires_grad=True)
    with mg.no_grad():
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_memory():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    (y * d).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * d.numpy())  # d treated as a constant
    assert d.data is y.data


def test_retain_grad_on_intermediate():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.numpy())


def test_only_inputs_that_need_grad_receive_it():
    a = mg.Tensor(np.ones(2), requires_grad=True)
    b = mg.Tensor(np.ones(2))
    (a * b).sum().backward()
    assert b.grad is None and a.grad is not None


def test_backward_frees_saved_arrays():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            saved = x.copy()
            ctx.save_for_backward(saved)
            Square.saved_ref = weakref.ref(saved)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (saved,) = ctx.saved_tensors
            return 2 * saved * grad

    x = mg.Tensor(np.arange(3.0), requires_grad=True)
    y = Square.apply(x).sum()
    gc.collect()
    assert Square.saved_ref() is not None
    y.backward()
    gc.collect()
    assert Square.saved_ref() is None
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.arange(3.0))


def test_gradient_is_not_aliased_to_an_op_buffer():
    x = mg.Tensor(np.ones(3), requires_grad=True)
    y = x + 0.0
    y.sum().backward()
    first = x.grad.numpy().copy()
    (x + 0.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x  # should be 2 x

    with pytest.raises(AssertionError, match="gradcheck: input 0"):
        mg.gradcheck(WrongSquare.apply, [np.array([1.0, 2.0])])
    assert mg.gradcheck(lambda t: t * t, [np.array([1.0, 2.0])])


def test_cast_clone_and_to_are_differentiable():
    x = mg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    c = x.clone()
    assert c.data is not x.data and c.requires_grad
    assert x.to("cpu") is x
    i = mg.cast(x, np.int64)
    assert i.dtype == np.int64 and not i.requires_grad


def test_creation_functions():
    mg.manual_seed(0)
    a = mg.randn(2, 3)
    mg.manual_seed(0)
    np.testing.assert_array_equal(a.numpy(), mg.randn((2, 3)).numpy())
    assert a.dtype == np.float32 and mg.rand(4, dtype=np.float64).dtype == np.float64
    assert ((mg.rand(1000).numpy() >= 0) & (mg.rand(1000).numpy() < 1)).all()
    np.testing.assert_array_equal(mg.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(mg.ones((2,)).numpy(), np.ones(2))
    assert mg.zeros(2, requires_grad=True).requires_grad
    assert mg.full((2, 2), 7).dtype == np.int64 and mg.full((2, 2), 0.5).dtype == np.float32
    np.testing.assert_array_equal(mg.full(3, 2.5).numpy(), [2.5, 2.5, 2.5])
    assert mg.arange(5).dtype == np.int64
    np.testing.assert_allclose(mg.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    like = mg.Tensor(np.ones((2, 2)))
    assert mg.zeros_like(like).dtype == np.float64 and mg.ones_like(like).shape == (2, 2)
    assert mg.empty(3, 4).shape == (3, 4)
    np.testing.assert_array_equal(mg.eye(3).numpy(), np.eye(3))
    with pytest.raises(ValueError, match="zeros: sizes must be non-negative integers"):
        mg.zeros(-1)
    with pytest.raises(TypeError, match="randn: dtype must be float32 or float64"):
        mg.randn(2, dtype=np.int32)


def test_to_device_cuda_without_gpu_is_a_clear_error():
    if mg.backends.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA"):
        mg.ones(2).to("cuda")


def test_float32_stays_float32_through_a_training_graph():
    mg.manual_seed(1)
    x = mg.randn(4, 3, 5, 5, requires_grad=True)
    w = mg.randn(6, 3, requires_grad=True)
    b = mg.randn(6, requires_grad=True)
    h = mg.einsum("nchw,oc->nohw", x, w) + b.reshape(1, 6, 1, 1)
    h = mg.pad(mg.dropout(mg.relu(h), 0.2), (1, 1, 1, 1), mode="replicate")[:, :, 1:, ::2]
    h = mg.cat([h, h * 0.5], 1).flatten(2).mean(2)
    h = mg.linear(h, mg.randn(3, 12, requires_grad=True)) / mg.sqrt(mg.var(h, 1, keepdim=True) + 1e-5)
    loss = mg.cross_entropy(mg.sigmoid(h) * mg.tanh(h) - mg.log_softmax(h, 1), np.array([0, 1, 2, 1]),
                            label_smoothing=0.1) + mg.mse_loss(h, mg.zeros(4, 3)) + mg.max(h) ** 2
    assert loss.dtype == np.float32
    loss.backward()
    for leaf in (x, w, b):
        assert leaf.grad.dtype == np.float32 and np.isfinite(leaf.grad.numpy()).all()


def test_to_device_round_trip_is_differentiable():
    if not mg.backends.cuda_available():
        pytest.skip("no GPU and no CUDA simulator")
    x = mg.Tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32), requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.requires_grad
    z = y.to("cpu")
    assert z.device == "cpu"
    np.testing.assert_array_equal(z.numpy(), x.numpy())
    (z * mg.Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_the_graph_holds_an_intermediate_only_where_an_op_saved_it():
    """As in PyTorch: a result that no backward needs is freed in the forward, a saved one by the backward."""
    x = mg.Tensor(np.ones((4, 4)), requires_grad=True)
    summed = x + 1  # the addition saves nothing
    summed_values, summed_tensor = weakref.ref(summed.data), weakref.ref(summed)
    hidden = summed.relu()  # ReLU saves its output
    hidden_values = weakref.ref(hidden.data)
    loss = (hidden + 2).sum()
    del summed, hidden
    gc.collect()
    assert summed_tensor() is None and summed_values() is None
    assert hidden_values() is not None  # ReLU's backward needs it
    loss.backward()
    gc.collect()
    assert hidden_values() is None  # ...and lets go afterwards, although `loss` is still alive
    np.testing.assert_array_equal(x.grad.numpy(), 1)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_leaf_gradients_never_share_memory_with_each_other_or_the_seed():
    # Add's backward returns its incoming gradient twice: one object for both leaves.
    a = mg.Tensor(np.ones((300, 300), np.float32), requires_grad=True)  # large: pooled memory
    b = mg.Tensor(np.ones((300, 300), np.float32), requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.data[...] = 5.0
    np.testing.assert_array_equal(b.grad.numpy(), 1.0)

    seed = np.full((300, 300), 2.0, np.float32)
    leaf = mg.Tensor(np.zeros((300, 300), np.float32), requires_grad=True)
    leaf.backward(gradient=seed)
    seed[...] = 7.0
    np.testing.assert_array_equal(leaf.grad.numpy(), 2.0)

    # A gradient an op also saved for a retained graph is not kept as the leaf's .grad.
    x = mg.Tensor(np.arange(4.0, dtype=np.float32), requires_grad=True)
    y = x * x
    y.backward(gradient=mg.Tensor(np.ones(4, np.float32)), retain_graph=True)
    y.backward(gradient=mg.Tensor(np.ones(4, np.float32)))
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.arange(4.0))


def test_a_gradient_summed_in_place_is_never_one_another_node_still_holds():
    # t = (a + b) + a: Add's backward hands one array to both of its inputs, so a's first
    # gradient is also s's (and through it b's); adding a's second one into it in place
    # would give b the gradient 2 instead of 1.
    x = mg.Tensor(np.ones((256, 256), np.float32), requires_grad=True)
    y = mg.Tensor(np.ones((256, 256), np.float32), requires_grad=True)
    a, b = x * 1.0, y * 1.0
    t = (a + b) + a
    (t * 1.0).sum().backward()  # Mul's backward makes t's gradient a fresh, writeable array
    np.testing.assert_array_equal(x.grad.numpy(), 2.0)
    np.testing.assert_array_equal(y.grad.numpy(), 1.0)


def test_weight_gradients_are_kept_not_copied():
    """A convolution's fresh weight gradient becomes ``.grad`` as it is (no copy of the op's array)."""
    from minigrad.backends import get_backend

    backend = get_backend("cpu")
    copies = []
    original = backend.copy

    class Counting:
        def __getattr__(self, name):
            if name == "copy":
                return lambda array: copies.append(array.shape) or original(array)
            return getattr(backend, name)

    x = mg.Tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32))
    conv = mg.nn.Conv2d(3, 4, 3, padding=1)
    conv.weight._backend = lambda: Counting()
    conv.bias._backend = lambda: Counting()
    conv(x).sum().backward()
    assert copies == []
    assert conv.weight.grad.shape == (4, 3, 3, 3) and conv.bias.grad.shape == (4,)
