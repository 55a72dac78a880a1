"""The self-test (`infoplane.selftest`): all default checks pass, every check can fail, a wrong
estimator is caught, exceptions are reported, ``only=`` filtering and the table format."""

from __future__ import annotations

import dataclasses
import io
import math

import jax
import numpy as np
import pytest

from infoplane.estimators import NAMES, Binning, selftest
from infoplane.estimators.selftest import CHECKS, Check, run_selftest


@pytest.fixture(scope="module")
def default_results():
    out = io.StringIO()
    results = run_selftest(out)
    return results, out.getvalue()


@pytest.fixture
def fresh_jit():
    """Estimators are static jit arguments: a monkeypatched method would be hidden behind (or
    leak into) the compiled-function caches, so clear them around the test."""
    jax.clear_caches()
    yield
    jax.clear_caches()


def by_estimator(results, name):
    return [r for r in results if r.estimator == name]


def test_checks_cover_every_estimator():
    names = selftest.estimator_names()
    for name in (*NAMES, "knn_entropy", "ksg_mi", "dse"):
        assert name in names
    for c in CHECKS:
        assert c.units in ("bits", "nats")
        assert 0 < c.tolerance < 0.5  # a real tolerance: every check can fail
        assert math.isfinite(c.expected)
    assert len({(c.estimator, c.name, c.quantity) for c in CHECKS}) == len(CHECKS)


def test_all_default_checks_pass(default_results):
    results, text = default_results
    assert len(results) == len(CHECKS)
    failed = [selftest.format_row(r) for r in results if not r.passed]
    assert not failed, "\n".join(failed)
    for r in results:
        assert r.error is None and abs(r.got - r.expected) <= r.tolerance and r.seconds >= 0
    lines = text.strip().splitlines()
    assert lines[0].split()[:3] == ["status", "estimator", "quantity"]
    assert len(lines) == 2 + len(CHECKS) + 1  # header, rule, rows, summary
    assert lines[-1].startswith(f"{len(CHECKS)}/{len(CHECKS)} checks passed in ")
    assert lines[-1].endswith(" s")


def test_format_table_names_every_estimator(default_results):
    results, _ = default_results
    table = selftest.format_table(results)
    for name in selftest.estimator_names():
        assert name in table
    assert len(table.splitlines()) == 2 + len(results)
    assert "FAIL" not in table


@pytest.mark.parametrize("index", range(len(CHECKS)), ids=[f"{c.estimator}:{c.quantity}:{c.name}"
                                                          for c in CHECKS])
def test_every_check_can_fail(index):
    check = CHECKS[index]
    off = check.expected + 1.5 * check.tolerance
    wrong = dataclasses.replace(check, run=lambda: off)
    [r] = run_selftest(None, checks=[wrong])
    assert not r.passed and r.error is None and r.got == off
    just_in = dataclasses.replace(check, run=lambda: check.expected + 0.5 * check.tolerance)
    assert run_selftest(None, checks=[just_in])[0].passed
    nan = dataclasses.replace(check, run=lambda: math.nan)
    assert not run_selftest(None, checks=[nan])[0].passed


def test_wrong_binning_estimator_is_caught(monkeypatch, fresh_jit):
    """Binning that reports 0.5 bits too much fails exactly the binning checks."""
    original = Binning.estimate_layer

    def biased(self, probe, t):
        est = original(self, probe, t)
        return dataclasses.replace(est, i_xt=est.i_xt + 0.5, i_ty=est.i_ty + 0.5)

    monkeypatch.setattr(Binning, "estimate_layer", biased)
    out = io.StringIO()
    results = run_selftest(out, only=["binning", "adaptive_binning", "kde"])
    assert {r.estimator for r in results} == {"binning", "adaptive_binning", "kde"}
    for r in results:
        if r.estimator == "binning":
            assert not r.passed and r.got == pytest.approx(r.expected + 0.5, abs=1e-4)
        else:
            assert r.passed, selftest.format_row(r)
    n_bin = len(by_estimator(results, "binning"))
    assert f"{len(results) - n_bin}/{len(results)} checks passed" in out.getvalue()
    assert out.getvalue().count("FAIL") == n_bin


def test_exception_in_a_check_is_reported_and_the_rest_run():
    def boom():
        raise RuntimeError("estimator exploded")

    checks = [
        dataclasses.replace(CHECKS[0], run=lambda: CHECKS[0].expected),
        Check("raises", "binning", "I(X;T)", 1.0, 0.1, "bits", boom),
        dataclasses.replace(CHECKS[1], run=lambda: CHECKS[1].expected),
    ]
    out = io.StringIO()
    results = run_selftest(out, checks=checks)
    assert [r.passed for r in results] == [True, False, True]
    bad = results[1]
    assert bad.error == "RuntimeError: estimator exploded" and math.isnan(bad.got)
    text = out.getvalue()
    assert "FAIL" in text and "estimator exploded" in text
    assert "2/3 checks passed" in text


def test_only_filters_by_estimator_name():
    fake = [dataclasses.replace(c, run=lambda c=c: c.expected) for c in CHECKS]
    results = run_selftest(None, checks=fake, only=["dse", "ksg_mi"])
    assert results and {r.estimator for r in results} == {"dse", "ksg_mi"}
    assert len(results) == sum(c.estimator in ("dse", "ksg_mi") for c in CHECKS)
    assert [r.estimator for r in run_selftest(None, checks=fake, only="kde")] == ["kde"] * len(
        by_estimator(CHECKS, "kde"))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="'nope'") as info:
        run_selftest(None, only=["binning", "nope"])
    for name in selftest.estimator_names():
        assert name in str(info.value)


def test_renyi_blobs_have_the_stated_closed_form():
    """The matrix_renyi case of the self-test, checked in float64 NumPy: with sigma = 1 the
    Gram of T is block-diagonal (4 blocks J / 64 up to 1e-5, 0 across), eigenvalues 1/4 x 4,
    so S_alpha(T) = 2 for any alpha; T o X has the same blocks and Y merges them in pairs."""
    x, t, y = selftest._renyi_blobs()
    assert x.shape == (64, 6) and t.shape == (64, 5) and sorted(set(y.tolist())) == [0, 1]

    def gram(z):
        z = z.astype(np.float64)
        d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / 2.0) / len(z)

    def s_bits(a, alpha=1.01):
        lam = np.clip(np.linalg.eigvalsh(a), 0, None)
        return float(np.log2((lam ** alpha).sum()) / (1 - alpha))

    a_t, a_x = gram(t), gram(x)
    lam = np.sort(np.linalg.eigvalsh(a_t))[::-1]
    np.testing.assert_allclose(lam[:4], 0.25, atol=1e-5)
    assert np.abs(lam[4:]).max() < 1e-5
    a_y = (y[:, None] == y[None, :]).astype(np.float64) / len(y)
    for alpha in (1.01, 2.0):
        assert s_bits(a_t, alpha) == pytest.approx(2.0, abs=1e-3)
    joint = a_t * a_x / np.trace(a_t * a_x)
    assert s_bits(a_t) + s_bits(a_x) - s_bits(joint) == pytest.approx(2.0, abs=1e-3)
    joint = a_t * a_y / np.trace(a_t * a_y)
    assert s_bits(a_t) + s_bits(a_y) - s_bits(joint) == pytest.approx(1.0, abs=1e-3)
    matrix_checks = [c for c in CHECKS if c.estimator == "matrix_renyi"]
    assert len(matrix_checks) == 4 and all(c.tolerance == 1e-3 for c in matrix_checks)
