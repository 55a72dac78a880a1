"""Ceilings (exact entropies of the probe set) and activation-saturation statistics."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from infoplane.report.diagnostics import STAT_NAMES, activation_stats, ceilings


def test_ceilings_distinct_inputs_and_balanced_labels():
    x = np.arange(64, dtype=np.float32).reshape(16, 4)  # 16 distinct rows
    y = np.repeat(np.arange(4), 4)
    c = ceilings(x, y)
    assert c == {"i_xt": pytest.approx(4.0, abs=1e-12), "i_ty": pytest.approx(2.0, abs=1e-12)}
    n = ceilings(x, y, units="nats")
    assert n["i_xt"] == pytest.approx(math.log(16), abs=1e-12)
    assert n["i_ty"] == pytest.approx(math.log(4), abs=1e-12)


def test_ceilings_repeated_inputs_and_skewed_labels():
    # rows: a, a, a, b  -> H(X) = H(3/4, 1/4); labels 0,0,0,1 -> same entropy
    x = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 0, 0, 1])
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    c = ceilings(x, y)
    assert c["i_xt"] == pytest.approx(h, abs=1e-12)
    assert c["i_ty"] == pytest.approx(h, abs=1e-12)
    # image-shaped inputs are compared as whole rows
    imgs = np.zeros((4, 2, 2, 1))
    imgs[3, 0, 0, 0] = 1.0
    assert ceilings(imgs, y)["i_xt"] == pytest.approx(h, abs=1e-12)


def test_ceilings_bad_input():
    with pytest.raises(ValueError, match="shape"):
        ceilings(np.zeros((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="units"):
        ceilings(np.zeros((4, 2)), np.zeros(4, dtype=int), units="bans")


def _reference_stats(t: np.ndarray, thr: float) -> dict:
    """Readable NumPy version of `activation_stats` for one epoch (N, d)."""
    n, d = t.shape
    sat = sum(abs(v) >= thr for v in t.ravel()) / (n * d)
    zero = sum(v == 0 for v in t.ravel()) / (n * d)
    dead = sum(all(t[:, j] == 0) for j in range(d)) / d
    return {"saturated": sat, "zero": zero, "dead_units": dead,
            "mean_abs": float(np.abs(t).mean())}


def test_activation_stats_matches_reference():
    rng = np.random.default_rng(0)
    ts = np.tanh(3 * rng.normal(size=(3, 50, 6))).astype(np.float32)
    ts[1, :, 2] = 0.0  # one dead unit in epoch 1
    ts[2] = np.maximum(ts[2], 0.0)  # ReLU-like epoch: many zeros
    got = {k: np.asarray(v) for k, v in activation_stats(jnp.asarray(ts)).items()}
    assert set(got) == set(STAT_NAMES)
    for e in range(3):
        ref = _reference_stats(ts[e], 0.99)
        for k in STAT_NAMES:
            assert got[k][e] == pytest.approx(ref[k], abs=1e-6), (k, e)
    assert got["dead_units"][1] == pytest.approx(1 / 6)
    assert got["zero"][2] > 0.3


def test_activation_stats_extremes():
    sat = jnp.ones((1, 10, 3))
    s = activation_stats(sat)
    assert float(s["saturated"][0]) == 1.0 and float(s["zero"][0]) == 0.0
    z = activation_stats(jnp.zeros((2, 10, 3)))
    assert np.all(np.asarray(z["dead_units"]) == 1.0)
    assert np.all(np.asarray(z["saturated"]) == 0.0)
