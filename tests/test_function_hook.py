"""``autograd.function_hook``: the supported way to observe every ``Function.apply`` (the ONNX exporter's tracer)."""

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function, function_hook
from minigrad.ops.elementwise import Add, Mul


def test_hook_sees_each_op_with_its_tensor_arguments_and_output():
    x = mg.Tensor(np.arange(3.0), requires_grad=True)
    seen = []
    with function_hook(lambda fn, args, kwargs, out: seen.append((fn, args, out))):
        y = x * 2.0
        z = y + x
    assert [fn for fn, _, _ in seen] == [Mul, Add]
    assert seen[0][1][0] is x and seen[1][1] == (y, x)  # the tensors themselves, not raw arrays
    assert seen[1][2] is z
    np.testing.assert_array_equal(z.numpy(), [0.0, 3.0, 6.0])
    z.sum().backward()  # the graph is recorded as without a hook
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_hook_gets_keyword_arguments_and_tuple_outputs():
    seen = []
    x = mg.Tensor(np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32))
    with function_hook(lambda fn, args, kwargs, out: seen.append((fn.__name__, kwargs, out))):
        mg.cat([x, x], 1)
        mg.max_pool2d(x, 2, return_indices=True)
    assert seen[0][0] == "Cat" and seen[0][1] == {"dim": 1}
    assert seen[1][0] == "MaxPool2d" and isinstance(seen[1][2], tuple) and len(seen[1][2]) == 2


def test_hooks_nest_and_are_removed_on_exit_even_after_an_error():
    outer, inner = [], []
    x = mg.Tensor(np.ones(2))
    with function_hook(lambda *a: outer.append(a[0])):
        with pytest.raises(RuntimeError, match="stop"):
            with function_hook(lambda *a: inner.append(a[0])):
                x + x

                def boom(*a):
                    raise RuntimeError("stop")

                with function_hook(boom):
                    x * x
        x - x
    x + x  # no hook any more
    assert inner == [Add, Mul]
    assert [f.__name__ for f in outer] == ["Add", "Mul", "Sub"]


def test_hooks_are_thread_local():
    seen = []
    x = mg.Tensor(np.ones(2))
    done = threading.Event()

    def other_thread():
        x + x  # runs while the main thread's hook is active
        done.set()

    with function_hook(lambda *a: seen.append(threading.get_ident())):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        x * x
    assert done.is_set() and seen == [threading.get_ident()]


def test_function_defined_by_a_user_is_seen_too():
    class Twice(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    seen = []
    with function_hook(lambda fn, *rest: seen.append(fn)):
        Twice.apply(mg.Tensor(np.ones(1)))
    assert seen == [Twice]
