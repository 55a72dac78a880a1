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
from infoplane.estimators.compressed import Compressed, _unstable, whiten_codes
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


@pytest.fixture(scope="module")
def small_layer():
    rng = np.random.default_rng(0)
    n = 900
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = rng.integers(0, 3, n)
    t = np.tanh(x @ rng.normal(size=(10, 12)) + 0.3 * rng.normal(size=(n, 12))).astype(
        np.float32)
    return x, t, y


def _codes(est, x, t, y):
    _, ctx = _api.prepare(est, x, y)
    codes, lam, _ = est.compress_layer(jnp.asarray(t))
    return ctx, np.asarray(whiten_codes(codes, lam)[0])


def test_entropy_route_matches_formulas_on_the_same_codes(small_layer):
    """mi="entropy" (the old default): H(X') + H(T') - H(X',T') with BSY weights in 8-d."""
    x, t, y = small_layer
    est = Compressed(**PCA, mi="entropy", chunk=128)
    ctx, t_code = _codes(est, x, t, y)
    got = infoplane.estimate(est, x, t, y)
    want = ref.compressed_entropies(t_code, np.asarray(ctx.x_code), y, k=5)
    for key in ("i_xt", "i_ty", "i_xt_stderr", "i_ty_stderr"):
        value = got.aux[key + "_raw"] if key in ("i_xt", "i_ty") else got.aux[key]
        assert float(value) == pytest.approx(want[key], abs=1e-4), key
    assert float(got.i_xt) == float(got.aux["i_xt_raw"])  # not flagged here
    # the whitened X code has unit covariance; h_x is that of the unwhitened code
    np.testing.assert_allclose(np.cov(np.asarray(ctx.x_code), rowvar=False), np.eye(4),
                               atol=1e-3)


def test_shuffle_route_matches_formulas_on_the_same_codes(small_layer):
    """mi="shuffle" (default): H(X'_pi, T') - H(X', T'), jointly whitened, plain KL; I(T;Y)
    as in the entropy route with plain KL (the same at dim = 4)."""
    x, t, y = small_layer
    est = Compressed(**PCA, chunk=128)
    ctx, t_code = _codes(est, x, t, y)
    got = infoplane.estimate(est, x, t, y)
    perm = np.random.default_rng(est.noise_seed).permutation(len(y))
    np.testing.assert_array_equal(np.asarray(ctx.x_shuffled), np.asarray(ctx.x_code)[perm])
    want, want_se = ref.shuffle_mi(np.asarray(ctx.x_code), np.asarray(ctx.x_shuffled), t_code)
    assert float(got.i_xt) == pytest.approx(want, abs=2e-4)
    assert float(got.aux["i_xt_stderr"]) == pytest.approx(want_se, rel=1e-3)
    plain = ref.compressed_entropies(t_code, np.asarray(ctx.x_code), y, weighted=False)
    assert float(got.i_ty) == pytest.approx(plain["i_ty"], abs=1e-4)
    # i_xt_shuffled = the plain-KL entropy difference on the shuffled pair (bias at I = 0)
    assert float(got.aux["i_xt_shuffled"]) == pytest.approx(
        float(got.aux["h_x"] + got.aux["h_t"] - got.aux["h_xt"]) - float(got.i_xt), abs=2e-4)


@pytest.mark.parametrize("mi", [0.0, 0.5, 2.0, 4.0, 8.0])
def test_recovers_known_mi_after_lossless_compression(mi):
    """The default (mi="shuffle") on 4+4-dimensional Gaussian pairs embedded in 64 dimensions,
    N = 3000: within 0.15 nats up to 8 nats (the study, benchmarks/study_knn.py, finds
    |bias| <= 0.1 at N = 5000 over 10 seeds)."""
    x, t, a, b = embedded_pair(3000, 4, mi, seed=1)
    y = (b[:, 0] > 0).astype(int)
    got = infoplane.estimate(Compressed(**PCA, noise="absolute"), x, t, y)
    assert float(got.i_xt) == pytest.approx(mi, abs=0.15)
    assert float(got.aux["unstable"]) == 0 and float(got.aux["i_xt_stderr"]) < 0.1


def test_default_is_stable_over_seeds_in_8_dimensions():
    """Joint dimension 8 (dim = 4), I = 3 nats, 4 seeds, N = 2000: the default's spread is
    <= 0.1 nats and every seed within 0.2; the old route (mi="entropy", BSY weights ~+-10 in
    8-d) spreads more."""
    new, old = [], []
    for seed in range(4):
        x, t, _, b = embedded_pair(2000, 4, 3.0, seed=seed)
        y = (b[:, 0] > 0).astype(int)
        new.append(float(infoplane.estimate(Compressed(**PCA, noise="absolute"), x, t, y).i_xt))
        old.append(float(infoplane.estimate(Compressed(**PCA, noise="absolute", mi="entropy",
                                                       flag_stderr=1e9), x, t, y).i_xt))
    assert np.std(new, ddof=1) < 0.1 and np.max(np.abs(np.array(new) - 3.0)) < 0.2
    assert np.std(old, ddof=1) > np.std(new, ddof=1)


def test_unusable_estimate_is_flagged_not_reported():
    """BSY weights in 16 dimensions (mi="entropy", weighted=True, dim=8: weights up to 11 520)
    give a spread of tens of nats: I(X;T) is NaN, the number is in aux, ``unstable`` has bit 1.
    The default on the same data is usable (joint dimension 16: within 0.3 of 2 nats)."""
    x, t, _, b = embedded_pair(1500, 8, 2.0, seed=4)
    y = (b[:, 0] > 0).astype(int)
    bad = infoplane.estimate(Compressed(**PCA, noise="absolute", mi="entropy", weighted=True,
                                        dim=8), x, t, y)
    raw, se = float(bad.aux["i_xt_raw"]), float(bad.aux["i_xt_stderr"])
    assert math.isnan(float(bad.i_xt)) and int(bad.aux["unstable"]) & 1
    assert se > 0.25 * max(abs(raw), 1.0)
    good = infoplane.estimate(Compressed(**PCA, noise="absolute", dim=8), x, t, y)
    assert float(good.aux["unstable"]) == 0 and float(good.i_xt) == pytest.approx(2.0, abs=0.3)
    # the threshold is a parameter: tiny -> both flagged (3); huge -> only non-finite values
    strict = infoplane.estimate(Compressed(**PCA, noise="absolute", flag_stderr=1e-6), x, t, y)
    assert float(strict.aux["unstable"]) == 3 and math.isnan(float(strict.i_ty))
    lax_ = infoplane.estimate(Compressed(**PCA, noise="absolute", mi="entropy", weighted=True,
                                         dim=8, flag_stderr=1e9), x, t, y)
    assert float(lax_.i_xt) == pytest.approx(raw, rel=1e-6)


def test_flag_rule():
    """Flagged: not finite, a non-finite stderr, or stderr > rel * max(|value|, 1 nat)."""
    v = jnp.array([0.1, 0.1, 4.0, 4.0, jnp.inf, jnp.nan, 2.0])
    se = jnp.array([0.25, 0.26, 1.0, 1.01, 0.0, 0.0, jnp.nan])
    got = np.asarray(_unstable(v, se, 0.25))
    np.testing.assert_array_equal(got, [False, True, False, True, True, True, True])


@pytest.mark.parametrize("est", [
    Compressed(), Compressed(mi="entropy"), Compressed(mi="entropy", weighted=False),
    Compressed(mi="shuffle", weighted=True, k=7, flag_stderr=0.5),
    Compressed(flag_stderr=1e9, noise="absolute"),
])
def test_spec_round_trip_and_params(est):
    back = infoplane.from_spec(infoplane.to_spec(est))
    assert back == est and back.params() == est.params()
    meta = dict(est.params())
    assert meta["mi"] == est.mi and meta["flag_stderr"] == est.flag_stderr
    assert infoplane.from_spec("compressed(mi=entropy)") == Compressed(mi="entropy")
    assert infoplane.to_spec(Compressed()) == "compressed"


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


@pytest.mark.parametrize("value", [0.0, 1.0, -3.5])
@pytest.mark.parametrize("noise", ["relative", "absolute"])
def test_constant_layer_carries_no_information(value, noise):
    """A constant (e.g. dead or fully saturated) layer: I(X;T) = I(T;Y) = 0 exactly, not the
    ~250 bits the coincident kNN radii gave before (issue 18)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = rng.integers(0, 2, 300)
    t = np.full((300, 5), value, np.float32)
    got = infoplane.estimate(Compressed(**PCA, noise=noise), x, t, y)
    assert float(got.i_xt) == 0.0 and float(got.i_ty) == 0.0
    assert float(got.aux["unstable"]) == 0.0


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
        Compressed(mi="entropy", k=2)  # the 8-d joint entropy needs k > 2 for BSY weights
    Compressed(k=2)  # the default uses plain KL: any k
    with pytest.raises(ValueError, match="mi must be"):
        Compressed(mi="ksg")
    with pytest.raises(ValueError, match="flag_stderr"):
        Compressed(flag_stderr=0.0)
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


def relu_layer(n, width, shift, dead=0, seed=0):
    """A ReLU layer relu(x W - shift) of ``width`` units on Gaussian inputs x (N, 12), 2
    classes; the first ``dead`` units are dead on every sample."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    y = rng.integers(0, 2, n)
    t = np.maximum(0.0, x[:, :8] @ rng.normal(size=(8, width)) - shift).astype(np.float32)
    t[:, :dead] = 0.0
    return x, t, y


def test_coincident_codes_of_dead_relu_units_are_withheld():
    """Relative noise leaves the samples whose units are all dead at one code: H(T') has
    radius-0 terms (-inf), so I(T;Y) (and the entropy route's I(X;T)) are withheld, with
    n_coincident = exactly those samples; the shuffle route's I(X;T) (joints with the
    distinct X' codes) stays finite and agrees with absolute noise. Issue 19."""
    x, t, y = relu_layer(600, 3, shift=1.0)
    n_dead = int((t == 0).all(axis=1).sum())  # the samples that share one code
    assert n_dead > 5  # more than k: their k-th neighbour radius is 0
    rel = infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
    assert int(rel.aux["n_coincident"]) == n_dead and int(rel.aux["unstable"]) == 2
    assert math.isnan(float(rel.i_ty)) and not math.isfinite(float(rel.aux["i_ty_raw"]))
    assert int(rel.in_units("nats").aux["n_coincident"]) == n_dead  # a count: no units
    old = infoplane.estimate(Compressed(x_compressor="pca", mi="entropy"), x, t, y)
    assert int(old.aux["unstable"]) == 3 and int(old.aux["n_coincident"]) == n_dead
    assert math.isnan(float(old.i_xt)) and math.isnan(float(old.i_ty))
    absolute = infoplane.estimate(Compressed(x_compressor="pca", noise="absolute"), x, t, y)
    assert int(absolute.aux["n_coincident"]) == 0 and int(absolute.aux["unstable"]) == 0
    assert 0.0 < float(absolute.i_xt) < math.log2(600)
    assert float(rel.i_xt) == pytest.approx(float(absolute.i_xt), abs=0.01)


def test_unit_dead_on_every_sample_is_withheld_not_junk():
    """One unit dead on the whole probe (no sample all dead): relative noise leaves a code
    direction without variance, which whitening blew up to ~127 bits of I(X;T) against a
    ceiling of log2 N = 9.2 (the issue 19 symptom). Now both are withheld, n_coincident = N;
    absolute noise gives a finite estimate inside the ceiling."""
    n = 600
    x, t, y = relu_layer(n, 4, shift=-5.0, dead=1)
    assert not (t == 0).all(axis=1).any()
    rel = infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
    assert int(rel.aux["n_coincident"]) == n and int(rel.aux["unstable"]) == 3
    assert math.isnan(float(rel.i_xt)) and math.isnan(float(rel.i_ty))
    assert float(rel.aux["i_xt_raw"]) > 10 * math.log2(n)  # the junk, kept in aux
    absolute = infoplane.estimate(Compressed(x_compressor="pca", noise="absolute"), x, t, y)
    assert int(absolute.aux["n_coincident"]) == 0 and int(absolute.aux["unstable"]) == 0
    assert 0.0 < float(absolute.i_xt) < math.log2(n)


def test_healthy_layer_has_no_coincident_codes_and_an_unchanged_value():
    """A tanh layer: n_coincident = 0, nothing withheld, and the values computed before the
    coincidence check existed (bit-identical on the machine they were pinned on)."""
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = rng.integers(0, 3, n)
    t = np.tanh(x @ rng.normal(size=(10, 12)) + 0.3 * rng.normal(size=(n, 12))).astype(
        np.float32)
    got = infoplane.estimate(Compressed(x_compressor="pca", chunk=128), x, t, y)
    assert int(got.aux["n_coincident"]) == 0 and int(got.aux["unstable"]) == 0
    assert float(got.i_xt) == float(got.aux["i_xt_raw"])
    assert float(got.i_xt) == pytest.approx(2.047922134399414, abs=1e-4)
    assert float(got.i_ty) == pytest.approx(-0.29781031608581543, abs=1e-4)
