"""Embeddings: PCA, our exact t-SNE (affinities, gradient, result), features, scatter plot, neighbours."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.viz import embed, neighbors, tsne


@given(st.integers(2, 12), st.integers(5, 30), st.integers(0, 10_000))
def test_pca_separates_linearly_separable_clusters(dims, n, seed):
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dims)
    direction /= np.linalg.norm(direction)
    a = rng.standard_normal((n, dims)) + 10 * direction
    b = rng.standard_normal((n, dims)) - 10 * direction
    proj, ratio = embed.pca(np.concatenate([a, b]), 2)
    first = proj[:, 0]
    # One threshold on the first component separates the two clusters.
    assert first[:n].max() < first[n:].min() or first[n:].max() < first[:n].min()
    assert ratio[0] > 0.5


def test_pca_matches_the_covariance_eigenvectors():
    x = np.random.default_rng(0).standard_normal((40, 5)) @ np.diag([5, 3, 1, 0.5, 0.1])
    proj, ratio = embed.pca(x, 2)
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, ::-1][:, :2]
    expected = centred @ top
    signs = np.sign(np.sum(proj * expected, axis=0))
    np.testing.assert_allclose(proj * signs, expected, atol=1e-9)
    np.testing.assert_allclose(ratio, values[::-1][:2] / values.sum())
    with pytest.raises(ValueError, match=r"pca: cannot keep 6 components of data of shape \(40, 5\)"):
        embed.pca(x, 6)


def test_affinities_reach_the_requested_perplexity():
    x = np.random.default_rng(1).standard_normal((50, 4))
    cond = np.empty((50, 50))
    tsne._calibrate_rows(cond, tsne.squared_distances(x), np.log(12.0), 1e-6, 200)
    np.testing.assert_allclose(cond.sum(1), 1.0)
    np.testing.assert_array_equal(np.diag(cond), 0.0)
    safe = np.where(cond > 0, cond, 1.0)
    np.testing.assert_allclose(np.exp(-(cond * np.log(safe)).sum(1)), 12.0, rtol=1e-4)
    p = tsne.joint_probabilities(x, 12.0)
    np.testing.assert_allclose(p, p.T)
    assert p.sum() == pytest.approx(1.0)


def _kl(y, p):
    d2 = tsne.squared_distances(y)
    num = 1.0 / (1.0 + d2)
    np.fill_diagonal(num, 0.0)
    q = num / num.sum()
    mask = ~np.eye(len(y), dtype=bool)
    return np.sum(p[mask] * np.log(p[mask] / q[mask]))


def test_kl_gradient_kernel_matches_finite_differences():
    rng = np.random.default_rng(2)
    p = tsne.joint_probabilities(rng.standard_normal((15, 3)), 4.0)
    y = rng.standard_normal((15, 2))
    rows, grad = np.empty(15), np.empty((15, 2))
    tsne._student_row_sums(rows, y)
    tsne._kl_gradient(grad, y, p, rows.sum(), 1.0)
    numeric = np.zeros_like(y)
    eps = 1e-6
    for i in range(15):
        for k in range(2):
            yp, ym = y.copy(), y.copy()
            yp[i, k] += eps
            ym[i, k] -= eps
            numeric[i, k] = (_kl(yp, p) - _kl(ym, p)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_tsne_keeps_nearest_neighbours_of_separated_clusters():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 10)) * 30
    x = np.concatenate([c + rng.standard_normal((15, 10)) for c in centres])
    labels = np.repeat(np.arange(4), 15)
    y = tsne.tsne(x, perplexity=8, n_iter=1000, seed=0)
    assert y.shape == (60, 2)
    nearest_in = neighbors.nearest_neighbors(x, np.arange(60), 1)[:, 0]
    nearest_out = neighbors.nearest_neighbors(y, np.arange(60), 1)[:, 0]
    assert np.all(labels[nearest_in] == labels)
    assert np.all(labels[nearest_out] == labels)
    # The clusters stay apart: every point is closer to its own cluster's centre than to another's.
    centroids = np.stack([y[labels == c].mean(0) for c in range(4)])
    assert np.all(np.argmin(((y[:, None] - centroids[None]) ** 2).sum(-1), axis=1) == labels)


def test_tsne_refuses_sizes_it_cannot_hold():
    with pytest.raises(ValueError, match="tsne: exact t-SNE keeps N x N matrices .* for N=10001"):
        tsne.tsne(np.zeros((10_001, 2)))


def test_nearest_neighbors_against_brute_force():
    v = np.random.default_rng(4).standard_normal((30, 6))
    got = neighbors.nearest_neighbors(v, [0, 7, 29], 4)
    for row, q in zip(got, [0, 7, 29]):
        d = ((v - v[q]) ** 2).sum(1)
        d[q] = np.inf
        np.testing.assert_array_equal(row, np.argsort(d, kind="stable")[:4])
    with pytest.raises(ValueError, match=r"neighbors: k=30 must be between 1 and the number of images minus one \(29\)"):
        neighbors.nearest_neighbors(v, [0], 30)


def test_features_are_the_input_of_the_last_linear_layer():
    mg.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 6), nn.ReLU(),
                          nn.Linear(6, 3)).eval()
    images = np.random.default_rng(5).random((7, 1, 6, 6)).astype(np.float32)
    feats = embed.extract_features(model, images, batch_size=3)
    with mg.no_grad():
        expected = model[4](model[3](model[2](model[1](model[0](mg.Tensor(images)))))).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    conv = embed.extract_features(model, images, layer="0")
    assert conv.shape == (7, 32)


def test_scatter_plot_draws_each_class_in_its_colour():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    labels = np.array([0, 1, 2])
    img = embed.scatter_plot(points, labels, ["a", "b", "c"], size=100, radius=3)
    assert img.shape == (140, 230, 3)
    colours = embed.class_colors(3) / 255.0
    # (0, 0) is the bottom-left corner of the plotting area, (1, 1) the top-right one.
    np.testing.assert_allclose(img[20 + 100 - 3, 20 + 3], colours[0], atol=1 / 255)
    np.testing.assert_allclose(img[20 + 3, 20 + 100 - 3], colours[1], atol=1 / 255)
    np.testing.assert_allclose(img[20 + 3, 20 + 3], colours[2], atol=1 / 255)
