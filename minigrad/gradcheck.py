"""Finite-difference gradient checking, for users and for the test-suite."""

from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["gradcheck", "numerical_grad"]


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _scalarize(output, weights):
    """Reduce ``fn``'s output to one number with fixed random weights, so every output element is checked."""
    return float(np.sum(_first(output).numpy().astype(np.float64) * weights))


def numerical_grad(fn, inputs, index, weights, eps):
    """Central differences d(sum(w * fn(inputs)))/d(inputs[index]), element by element, in float64."""
    x = inputs[index].data
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = _scalarize(fn(*inputs), weights)
        flat[i] = saved - eps
        minus = _scalarize(fn(*inputs), weights)
        flat[i] = saved
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, raise_exception: bool = True):
    """Compare the analytic gradients of ``fn`` with central finite differences in float64.

    Args:
        fn: function of tensors returning a tensor (or a tuple whose first item is checked).
        inputs: tensors or arrays; floating ones are converted to float64 and checked.
        eps: finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        raise_exception: raise ``AssertionError`` with the worst mismatch instead of returning False.

    Returns:
        True when every analytic gradient matches its numerical estimate.
    """
    tensors = []
    for x in inputs:
        array = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        if array.dtype.kind == "f":
            tensors.append(Tensor(np.array(array, dtype=np.float64), requires_grad=True))
        else:
            tensors.append(Tensor(np.array(array)))
    output = _first(fn(*tensors))
    # Random output weights: d(sum(w * y))/dx checks every output element's gradient at once.
    weights = np.random.default_rng(1234).standard_normal(output.shape)
    output.backward(gradient=weights.astype(output.dtype))

    for i, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad.numpy()
        numeric = numerical_grad(fn, tensors, i, weights, eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), analytic.shape)
            raise AssertionError(
                f"gradcheck: input {i} (shape {t.shape}): analytic and numerical gradients differ; "
                f"worst at {tuple(int(w) for w in worst)}: analytic {analytic[worst]:.6g}, "
                f"numerical {numeric[worst]:.6g}"
            )
    return True
