"""Exact t-SNE (van der Maaten & Hinton, 2008) with Numba kernels.

Input affinities: a Gaussian around each point whose precision beta_i is found by binary search
so that the conditional distribution P(j|i) has the requested perplexity 2^H(P_i);
then P = (P(j|i) + P(i|j)) / 2N. Output affinities: a Student t (one degree of freedom)
``q_ij = (1 + |y_i - y_j|^2)^-1 / Z``. Gradient of KL(P || Q)::

    dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)

Optimization as in the paper's reference implementation: Gaussian initialisation with
standard deviation 1e-4, early exaggeration (P multiplied by 12 for the first 250 iterations),
momentum 0.5 then 0.8, and per-coordinate adaptive gains (delta-bar-delta). Exact means
O(N^2) time and memory per iteration: fine up to a few thousand points.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["tsne", "joint_probabilities", "squared_distances"]


@njit(cache=True, parallel=True)
def _calibrate_rows(out, d2, log_perplexity, tol, max_iter):
    """Conditional affinities with the perplexity of every row equal to exp(log_perplexity).

    For each row i (in parallel; rows are independent)::

        p[i, j] = exp(-beta_i * d2[i, j]) / sum_{k != i} exp(-beta_i * d2[i, k]),   p[i, i] = 0
        H_i = log(sum_k e_k) + beta_i * sum_j d2[i, j] p[i, j]          (entropy in nats)

    beta_i is bisected (doubled/halved while unbounded) until |H_i - log_perplexity| < tol.
    Distances are shifted by the row minimum first: H is unchanged and exp cannot underflow
    to an all-zero row.
    """
    n = d2.shape[0]
    for i in prange(n):
        dmin = np.inf
        for j in range(n):
            if j != i and d2[i, j] < dmin:
                dmin = d2[i, j]
        beta, lo, hi = 1.0, -np.inf, np.inf
        for _ in range(max_iter):
            total, weighted = 0.0, 0.0
            for j in range(n):
                if j == i:
                    out[i, j] = 0.0
                    continue
                d = d2[i, j] - dmin
                e = np.exp(-beta * d)
                out[i, j] = e
                total += e
                weighted += d * e
            entropy = np.log(total) + beta * weighted / total
            diff = entropy - log_perplexity
            if np.abs(diff) < tol:
                break
            if diff > 0:  # too flat: sharpen
                lo = beta
                beta = beta * 2.0 if hi == np.inf else (beta + hi) / 2.0
            else:
                hi = beta
                beta = beta / 2.0 if lo == -np.inf else (beta + lo) / 2.0
        for j in range(n):
            out[i, j] /= total


@njit(cache=True, parallel=True)
def _student_row_sums(out, y):
    """out[i] = sum_{j != i} (1 + |y_i - y_j|^2)^-1, so that Z = sum_i out[i]."""
    n, dims = y.shape
    for i in prange(n):
        s = 0.0
        for j in range(n):
            if j == i:
                continue
            d = 0.0
            for k in range(dims):
                t = y[i, k] - y[j, k]
                d += t * t
            s += 1.0 / (1.0 + d)
        out[i] = s


@njit(cache=True, parallel=True)
def _kl_gradient(out, y, p, z, exaggeration):
    """out[i] = 4 sum_j (exaggeration * p[i, j] - num_ij / z) num_ij (y_i - y_j),  num_ij = (1 + |y_i - y_j|^2)^-1.

    Each row i is written by one iteration only (no races); num is recomputed rather than
    stored, keeping memory at the N x N of P.
    """
    n, dims = y.shape
    for i in prange(n):
        for k in range(dims):
            out[i, k] = 0.0
        for j in range(n):
            if j == i:
                continue
            d = 0.0
            for k in range(dims):
                t = y[i, k] - y[j, k]
                d += t * t
            num = 1.0 / (1.0 + d)
            coeff = 4.0 * (exaggeration * p[i, j] - num / z) * num
            for k in range(dims):
                out[i, k] += coeff * (y[i, k] - y[j, k])


def squared_distances(x: np.ndarray) -> np.ndarray:
    """All pairwise squared Euclidean distances ``|x_i - x_j|^2`` (BLAS Gram matrix), clipped at 0."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d2, 0.0)
    return np.maximum(d2, 0.0)


def joint_probabilities(x: np.ndarray, perplexity: float = 30.0, tol: float = 1e-5, max_iter: int = 100):
    """Symmetric input affinities ``P`` of t-SNE for data ``x`` ``(N, D)``.

    Returns:
        ``(N, N)`` symmetric, zero diagonal, summing to 1.
    """
    n = len(x)
    if not 1 <= perplexity < n:
        raise ValueError(f"tsne: perplexity {perplexity} must be >= 1 and below the number of points {n}")
    conditional = np.empty((n, n))
    _calibrate_rows(conditional, squared_distances(x), float(np.log(perplexity)), float(tol), int(max_iter))
    p = (conditional + conditional.T) / (2.0 * n)
    return np.maximum(p, 1e-12 * (1 - np.eye(n)))


MAX_POINTS = 10_000


def tsne(x: np.ndarray, dims: int = 2, perplexity: float = 30.0, n_iter: int = 1000, learning_rate=None,
         early_exaggeration: float = 12.0, exaggeration_iters: int = 250, seed: int = 0,
         progress=None) -> np.ndarray:
    """Embed ``x`` ``(N, D)`` in ``dims`` dimensions with exact t-SNE.

    Args:
        x: data points, one per row.
        dims: output dimension.
        perplexity: effective number of neighbours (5..50 typical); reduced to (N - 1) / 3 for
            tiny N, as the calibration needs more points than neighbours.
        n_iter: gradient steps.
        learning_rate: step size; default max(N / early_exaggeration / 4, 50) (Belkina et al., 2019).
        early_exaggeration: factor on P during the first ``exaggeration_iters`` steps; it
            forms well-separated clusters early.
        seed: seed of the initial layout.
        progress: optional ``callback(done, total)``, called every 10 iterations.

    Returns:
        ``(N, dims)`` embedding, centred.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"tsne: expected (N, D) data with N >= 3, got shape {x.shape}")
    n = len(x)
    if n > MAX_POINTS:
        raise ValueError(f"tsne: exact t-SNE keeps N x N matrices ({3 * n * n * 8 / 2**30:.1f} GiB for N={n}); "
                         f"use at most {MAX_POINTS} points or PCA")
    perplexity = min(perplexity, max(1.0, (n - 1) / 3.0))
    p = joint_probabilities(x, perplexity)
    lr = max(n / early_exaggeration / 4.0, 50.0) if learning_rate is None else float(learning_rate)
    y = 1e-4 * np.random.default_rng(seed).standard_normal((n, dims))
    update, gains = np.zeros_like(y), np.ones_like(y)
    grad, rows = np.empty_like(y), np.empty(n)
    for it in range(n_iter):
        exaggerating = it < exaggeration_iters
        _student_row_sums(rows, y)
        _kl_gradient(grad, y, p, rows.sum(), early_exaggeration if exaggerating else 1.0)
        # Delta-bar-delta: the running update points along -grad while the descent direction
        # persists (signs differ): grow that coordinate's gain; equal signs mean the last step
        # overshot: shrink it.
        same = (grad > 0) == (update > 0)
        gains = np.where(same, gains * 0.8, gains + 0.2)
        np.maximum(gains, 0.01, out=gains)
        update = (0.5 if exaggerating else 0.8) * update - lr * gains * grad
        y = y + update
        y -= y.mean(axis=0)
        if progress is not None and (it + 1) % 10 == 0:
            progress(it + 1, n_iter)
    return y
