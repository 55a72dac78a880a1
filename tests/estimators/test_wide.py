"""Wide layers (issue 19): every estimator stays exact and compiles in the same time at any
width. The binned estimators against the NumPy references at widths past the unrolled
paths, KDE against its ceiling and a float64 reference, KSG against the tree-based
reference, PCA's three routes against NumPy's SVD, Compressed on a 100 000-unit layer."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoplane
from infoplane.estimators import KDE, AdaptiveBinning, Binning, Compressed, _pca, ksg_mi
from tests.estimators import reference as ref
from tests.estimators import reference_knn as rk


def _prototypes(n: int, d: int, n_proto: int, seed: int, noise: float = 0.0):
    """(x, t, y): n distinct inputs whose layer rows are n_proto tanh prototypes (repeated
    rows: the hash groups matter), plus optional noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    proto = np.tanh(2 * rng.normal(size=(n_proto, d)))
    which = rng.integers(0, n_proto, n)
    t = (proto[which] + noise * rng.normal(size=(n, d))).astype(np.float32)
    y = (which % 3).astype(np.int32)
    return x, t, y


@pytest.mark.parametrize("d", [17, 300, 2048])
@pytest.mark.parametrize("est", [Binning(), Binning(n_bins=4), AdaptiveBinning(),
                                 AdaptiveBinning(per_neuron=True)], ids=repr)
def test_binned_estimators_on_wide_layers_match_the_reference(d, est):
    for x, t, y in (_prototypes(200, d, 12, seed=d), _prototypes(200, d, 200, seed=d + 1)):
        got = infoplane.estimate(est, x, t, y)
        b = np.asarray(est.bin_indices(jnp.asarray(t)))
        want = ref.discrete_mi(b, x, y)
        assert abs(float(got.i_xt) - want["i_xt"]) < 1e-5
        assert abs(float(got.i_ty) - want["i_ty"]) < 1e-5
        assert int(got.aux["n_states"]) == want["n_states"]


@pytest.mark.parametrize("d", [1024, 16384])
def test_kde_on_separated_points_reaches_its_ceiling_exactly(d):
    # 256 points far apart (distances ~ sqrt(2 d) >> sigma): H(T) = log2 N, H(T|X) ~ 0
    n = 256
    rng = np.random.default_rng(d)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    t = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, 2, n)
    got = infoplane.estimate(KDE(), x, t, y)
    assert abs(float(got.i_xt) - math.log2(n)) < 1e-4, float(got.i_xt)
    assert float(got.i_xt) <= math.log2(n) + 1e-5  # float32 rounding of the log-mean


@pytest.mark.parametrize("est", [KDE(), KDE(sigma2=0.05), KDE(sigma2=0.02, adaptive=True)],
                         ids=repr)
def test_kde_on_a_wide_layer_with_near_points_matches_float64(est):
    # clusters of points 1e-2 apart at d = 1024: the matmul distance form is off by ~1e-3
    x, t, y = _prototypes(200, 1024, 25, seed=5, noise=1e-2 / math.sqrt(1024))
    got = infoplane.estimate(est, x, t, y)
    want = ref.kde_mi(t, y, est.sigma2, est.adaptive)
    assert abs(float(got.aux["i_xt_upper"]) - want["i_xt_upper"]) < 1e-4
    assert abs(float(got.aux["i_xt_lower"]) - want["i_xt_lower"]) < 1e-4
    assert abs(float(got.aux["i_ty_upper"]) - want["i_ty_upper"]) < 1e-4


def test_ksg_on_wide_variables_matches_the_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 40))
    b = a[:, :40] * 0.5 + rng.normal(size=(200, 40))
    got = float(ksg_mi(a.astype(np.float32), b.astype(np.float32), units="nats"))
    want = rk.ksg_mi(a.astype(np.float32), b.astype(np.float32))
    assert abs(got - want) < 1e-4, (got, want)


def _low_rank(n, d, seed):
    rng = np.random.default_rng(seed)
    s = np.array([20.0, 14.0, 9.0, 6.0])
    u = np.linalg.qr(rng.normal(size=(n, 4)))[0] * math.sqrt(n)
    v = np.linalg.qr(rng.normal(size=(d, 4)))[0]
    return ((u * s) @ v.T + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize(("n", "d", "exact_max"), [(300, 40, 2048), (120, 3000, 2048),
                                                   (300, 500, 64)],
                         ids=["covariance", "gram", "randomized"])
def test_pca_routes_agree_with_numpy(monkeypatch, n, d, exact_max):
    monkeypatch.setattr(_pca, "PCA_EXACT_MAX", exact_max)
    z = _low_rank(n, d, seed=d)
    codes, lam, lost = jax.jit(_pca.pca_project, static_argnums=1)(jnp.asarray(z), 4)
    zc = z.astype(np.float64) - z.mean(0)
    u, s, vt = np.linalg.svd(zc, full_matrices=False)
    want_lam = s[:4] ** 2 / (n - 1)
    np.testing.assert_allclose(np.asarray(lam), want_lam, rtol=1e-3)
    want_codes = zc @ vt[:4].T
    for k in range(4):  # the same component, up to sign
        c = np.corrcoef(np.asarray(codes)[:, k], want_codes[:, k])[0, 1]
        assert abs(c) > 0.9999, (k, c)
    total = (s ** 2).sum() / (n - 1)
    assert abs(float(lost) - (1 - want_lam.sum() / total)) < 1e-4


def test_compressed_pca_on_a_100000_unit_layer():
    # the d x d covariance would be 40 GB; the Gram route never forms it
    rng = np.random.default_rng(0)
    n = 128
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = rng.integers(0, 2, n)
    t = np.tanh(_low_rank(n, 100_000, seed=1))
    got = infoplane.estimate(Compressed(x_compressor="pca", dim=2), x, t, y)
    assert np.isfinite(float(got.i_xt)) and np.isfinite(float(got.i_ty))


# ---- width-independent traces (issue 19, part 1) ------------------------------------------


def _eqn_count(jaxpr) -> int:
    """Equations of a jaxpr, those of its sub-jaxprs (jit, lax.map, scan, cond) included."""
    n = 0
    for eqn in jaxpr.eqns:
        n += 1
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    n += _eqn_count(inner)
    return n


def _layer_fn(name: str, n: int):
    """(function of one (n, d) layer, for make_jaxpr) for an estimator or a building block."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = np.arange(n) % 2
    if name == "knn_entropy":
        return lambda t: infoplane.estimators.knn_entropy(t)
    if name == "ksg_mi":
        return lambda t: ksg_mi(t, jnp.asarray(x))
    if name == "dse":
        return lambda t: infoplane.estimators.dse(t)
    if name == "dsmi_fn":
        return lambda t: infoplane.estimators.dsmi(t, y)
    est = infoplane.estimators.from_spec(name)
    _, ctx = infoplane.prepare(est, x, y)
    return lambda t: est.estimate_layer(ctx, t)


@pytest.mark.parametrize("name", [
    "binning", "binning(range=data)", "binning(width=0.07)", "binning(convention=idnns)",
    "adaptive_binning", "adaptive_binning(per_neuron=True)",
    "adaptive_binning(convention=chelombiev)", "kde", "kde(adaptive=True, input_noise=0.01)",
    "compressed(x_compressor=pca)", "dsmi", "knn_entropy", "ksg_mi", "dse", "dsmi_fn"])
def test_traced_program_does_not_grow_with_width(name):
    # compile time follows the program's size: a loop over units unrolled at trace time
    # (the binned estimators' row hash and KSG's max-norm before issue 19) makes it grow
    # with d; past the unrolled widths (16 / 32 units) it must be the same at any width
    # (Compressed: within each of its PCA routes)
    f = _layer_fn(name, 64)
    sizes = [_eqn_count(jax.make_jaxpr(f)(jnp.zeros((64, d), jnp.float32)).jaxpr)
             for d in (100, 3000)]  # (Compressed: both through the Gram route, d > N)
    assert sizes[0] == sizes[1], sizes


def test_knn_entropy_whiten_needs_more_samples_than_dimensions():
    # the sample covariance of N points in d >= N dimensions is singular: whitening it
    # formed a d x d matrix (2.5 GB and hours of eigh at d = 25 088) to return NaN
    z = np.random.default_rng(0).normal(size=(50, 60)).astype(np.float32)
    with pytest.raises(ValueError, match=r"N=50 samples in d=60 dimensions"):
        infoplane.estimators.knn_entropy(z, whiten=True)
    assert np.isfinite(float(infoplane.estimators.knn_entropy(z[:, :8], whiten=True)))
