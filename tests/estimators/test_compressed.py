"""Compressed (Butakov et al. 2024): agreement with the formulas on the same codes, ground truth
after lossless compression, the autoencoder, batching and bad input. Values in nats."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoplane
from infoplane.estimators import apply as _api
from infoplane.estimators.compressed import Compressed, whiten_codes
from tests.estimators import reference_knn as ref

PCA = dict(x_compressor="pca", units="nats")


def embedded_pair(n, d, mi, seed, out=64):
    """A Gaussian pair (a, b) with I = mi nats, embedded linearly (injectively) into ``out``
    dimensions: x = a W1, t = b W2. PCA to d components recovers a and b up to an invertible
    linear map, so I(X';T') = mi exactly (the noise, sigma = 1e-3 absolute, is negligible)."""
    a, b = ref.gaussian_pair(n, d, mi, seed)
    rng = np.random.default_rng(seed + 100)
    x = (a @ rng.normal(size=(d, out))).astype(np.float32)
    t = (b @ rng.normal(size=(d, out))).astype(np.float32)
    return x, t, a, b


def test_matches_formulas_on_the_same_codes():
    rng = np.random.default_rng(0)
    n = 900
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = rng.integers(0, 3, n)
    t = np.tanh(x @ rng.normal(size=(10, 12)) + 0.3 * rng.normal(size=(n, 12))).astype(
        np.float32)
    est = Compressed(**PCA, chunk=128)
    _, ctx = _api.prepare(est, x, y)
    got = infoplane.estimate(est, x, t, y)
    codes, lam, _ = est.compress_layer(jnp.asarray(t))
    t_code = np.asarray(whiten_codes(codes, lam)[0])
    want = ref.compressed_entropies(t_code, np.asarray(ctx.x_code), y, k=5)
    assert float(got.i_xt) == pytest.approx(want["i_xt"], abs=1e-4)
    assert float(got.i_ty) == pytest.approx(want["i_ty"], abs=1e-4)
    # the whitened X code has unit covariance; h_x is that of the unwhitened code
    np.testing.assert_allclose(np.cov(np.asarray(ctx.x_code), rowvar=False), np.eye(4),
                               atol=1e-3)


@pytest.mark.parametrize("mi", [0.5, 2.0, 4.0])
def test_recovers_known_mi_after_lossless_compression(mi):
    """Tolerance 0.3 nats: the spread we measured over seeds at N = 4000 (BSY weighted KL for
    the 8-d joint entropy with k = 5 varies by ~0.25 nats)."""
    x, t, a, b = embedded_pair(4000, 4, mi, seed=1)
    y = (b[:, 0] > 0).astype(int)
    got = infoplane.estimate(Compressed(**PCA, noise="absolute"), x, t, y)
    assert float(got.i_xt) == pytest.approx(mi, abs=0.3)


def test_i_ty_of_separated_classes_is_h_y():
    rng = np.random.default_rng(3)
    n, c = 3000, 3
    y = rng.integers(0, c, n)
    t = (rng.normal(size=(n, 2)) + 40.0 * np.eye(2)[y % 2] * (1 + y[:, None])).astype(
        np.float32)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    got = infoplane.estimate(Compressed(**PCA), x, t, y)
    p = np.bincount(y) / n
    assert float(got.i_ty) == pytest.approx(-np.sum(p * np.log(p)), abs=0.05)


def test_layer_narrower_than_dim_is_kept_whole():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 8)).astype(np.float32)
    y = rng.integers(0, 2, 500)
    t = np.tanh(x[:, :2] + 0.1 * rng.normal(size=(500, 2))).astype(np.float32)
    wide = infoplane.estimate(Compressed(**PCA, dim=4), x, t, y)
    exact = infoplane.estimate(Compressed(**PCA, dim=4), x, np.pad(t, ((0, 0), (0, 0))), y)
    assert float(wide.i_ty) == float(exact.i_ty)
    assert float(wide.aux["pca_lost"]) == pytest.approx(0.0, abs=1e-6)
    # a width-2 layer under dim=4 gives the same I(T;Y) as under dim=2 (no compression)
    two = infoplane.estimate(Compressed(**PCA, dim=2), x, t, y)
    assert float(two.i_ty) == pytest.approx(float(wide.i_ty), abs=1e-5)


def test_units_noise_and_params_recorded():
    x, t, _, b = embedded_pair(600, 4, 1.0, seed=2, out=8)  # layer rank 4 = dim
    y = (b[:, 0] > 0).astype(int)
    nat = infoplane.estimate(Compressed(**PCA), x, t, y)
    bit = infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
    assert float(bit.i_xt) == pytest.approx(float(nat.i_xt) / math.log(2), rel=1e-5)
    meta = bit.metadata()
    assert meta["estimator"] == "compressed" and meta["sigma"] == 1e-3
    assert meta["noise"] == "relative" and meta["noise_seed"] == 0 and meta["k"] == 5
    other = infoplane.estimate(Compressed(**PCA, noise_seed=1), x, t, y)
    assert float(other.i_xt) != float(nat.i_xt)  # the noise draw matters (a little)
    assert float(other.i_xt) == pytest.approx(float(nat.i_xt), abs=0.05)
    raw = infoplane.estimate(Compressed(**PCA, whiten=False), x, t, y)
    assert float(raw.i_xt) == pytest.approx(1.0, abs=0.5)  # worse than whitened, still sane


def test_autoencoder_deterministic_records_loss_and_handles_images():
    rng = np.random.default_rng(5)
    n = 600
    imgs = rng.normal(size=(n, 6, 6)).astype(np.float32)  # (N, H, W) images
    y = rng.integers(0, 2, n)
    t = np.tanh(imgs.reshape(n, -1) @ rng.normal(size=(36, 5)) / 6).astype(np.float32)
    est = Compressed(units="nats", ae_steps=150, ae_hidden=32)
    _, c1 = _api.prepare(est, imgs, y)
    _, c2 = _api.prepare(est, imgs, y)
    np.testing.assert_array_equal(np.asarray(c1.x_code), np.asarray(c2.x_code))
    loss = np.asarray(c1.ae_loss)
    assert loss.shape == (150,) and loss[-10:].mean() < loss[:10].mean()
    got = infoplane.estimate(est, imgs, t, y)
    assert 0 < float(got.aux["ae_recon_error"]) < 1.5
    assert float(got.aux["ae_recon_error"]) == pytest.approx(float(c1.ae_recon_error))
    assert np.isfinite(float(got.i_xt)) and np.isfinite(float(got.i_ty))


def test_epochs_equal_a_loop_and_compile_once():
    x, t, _, b = embedded_pair(500, 2, 1.0, seed=6, out=10)
    y = (b[:, 0] > 0).astype(int)
    ts = np.stack([t, 0.5 * t + 0.1, np.tanh(t)])
    est = Compressed(**PCA, chunk=128)
    batched = infoplane.estimate_epochs(est, x, ts, y, shard=False)
    for e in range(3):
        one = infoplane.estimate(est, x, ts[e], y)
        assert float(batched.i_xt[e]) == pytest.approx(float(one.i_xt), abs=1e-5)
        assert float(batched.i_ty[e]) == pytest.approx(float(one.i_ty), abs=1e-5)
    size = _api._layer._cache_size()
    infoplane.estimate(est, x, ts[1] * 2.0, y)
    assert _api._layer._cache_size() == size


def test_bad_inputs():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(100, 5)).astype(np.float32)
    t = rng.normal(size=(100, 3)).astype(np.float32)
    y = np.r_[np.zeros(97, int), np.ones(3, int)]  # class 1 has 3 < k + 1 samples
    with pytest.raises(ValueError, match=r"at least k \+ 1 = 6 samples.*\(1, 3\)"):
        infoplane.estimate(Compressed(**PCA), x, t, y)
    y = rng.integers(0, 2, 100)
    bad = t.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        infoplane.estimate(Compressed(**PCA), x, bad, y)
    with pytest.raises(ValueError, match="sigma > 0"):
        Compressed(sigma=0.0)
    with pytest.raises(ValueError, match="noise must be"):
        Compressed(noise="multiplicative")
    with pytest.raises(ValueError, match="x_compressor"):
        Compressed(x_compressor="vae")
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        Compressed(dim=0)
    with pytest.raises(ValueError, match="k > floor"):
        Compressed(k=2)  # the 8-d joint entropy needs k > 2 for the BSY weights
    with pytest.raises(ValueError, match="units"):
        Compressed(units="dits")
    assert jax.tree_util.tree_leaves(
        _api.prepare(Compressed(**PCA), x, y)[1])  # the context is a pytree


def test_colliding_compressed_inputs_raise_a_clear_error():
    """Binary inputs repeated more than k times collide after compression: H(X') is not finite,
    which must be an error naming the cause and the fixes, not a NaN result."""
    rng = np.random.default_rng(0)
    x = np.repeat(rng.integers(0, 2, size=(40, 12)).astype(np.float32), 8, axis=0)
    y = np.tile([0, 1], 160)
    t = rng.normal(size=(320, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="repeated points.*x_compressor='autoencoder'"):
        infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
