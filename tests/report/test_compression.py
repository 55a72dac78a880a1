"""The compression verdict (`infoplane.report.compression`) on synthetic tables with a known
drop: the peak, final value and drop, the paired Student-t interval checked by hand, the
conservative interval from per-point interval columns, NaN points, sweeps and nats."""

from __future__ import annotations

import math

import numpy as np
import pytest

import infoplane
from infoplane.report.compression import (
    CANNOT_TELL,
    COMPRESSES,
    DOES_NOT,
    compression_summary,
    format_compression,
    instance_label,
    t_quantile,
)
from infoplane.store.results import Results

EPOCHS = (0, 1, 5, 10, 20, 30)
T_975_2 = 4.302652729911275  # Student t, 0.975 quantile, 2 degrees of freedom (tables)
nan = math.nan


def _rows(values_by_seed, *, estimator="binning", params=None, layer="l1", split="train",
          run="r", units="bits", epochs=EPOCHS):
    """Result rows of one curve per seed: ``values_by_seed[s][k]`` is I(X;T) at epochs[k]."""
    params = {"n_bins": 30} if params is None else params
    return [dict(run=run, seed=s, split=split, epoch=e, layer=layer, estimator=estimator,
                 params=params, i_xt=float(v), i_ty=0.5, units=units)
            for s, vals in enumerate(values_by_seed) for e, v in zip(epochs, vals, strict=True)]


def _table(*curves) -> Results:
    return Results.from_rows([r for c in curves for r in c])


# rises to 5 bits at epoch 10, falls to 4 bits by epoch 30: a known drop of 1.0 bit; the
# seeds' peaks and finals are perturbed so that the per-seed drops are 1.1, 0.9, 1.0
KNOWN = [[1.0, 3.0, 4.5, 5.05, 4.5, 3.95],
         [1.0, 3.0, 4.5, 4.95, 4.5, 4.05],
         [1.0, 3.0, 4.5, 5.00, 4.5, 4.00]]


def test_known_drop_compresses_with_the_paired_t_interval():
    (row,) = compression_summary(_table(_rows(KNOWN)))
    assert row.verdict == COMPRESSES and row.n_seeds == 3 and row.interval == "seeds"
    assert row.peak == pytest.approx(5.0) and row.peak_epoch == 10
    assert row.final == pytest.approx(4.0) and row.final_epoch == 30
    assert row.drop == pytest.approx(1.0)
    # by hand: drops (1.1, 0.9, 1.0): mean 1.0, sd 0.1, half-width t_{.975,2} * 0.1 / sqrt 3
    half = T_975_2 * 0.1 / math.sqrt(3.0)
    assert row.lo == pytest.approx(1.0 - half, abs=1e-9)
    assert row.hi == pytest.approx(1.0 + half, abs=1e-9)
    assert row.lo < 1.0 < row.hi and row.lo > 0.1
    assert row.label == "binning" and row.units == "bits" and row.min_drop == 0.1
    assert infoplane.compression_summary is compression_summary


def test_unpaired_noise_does_not_widen_the_interval():
    # every seed is the same curve shifted: the paired drops are all 1.0, so the interval is
    # a point; an unpaired interval (peaks vs finals) would be wide
    curves = [[v + shift for v in KNOWN[2]] for shift in (-2.0, 0.0, 2.0)]
    (row,) = compression_summary(_table(_rows(curves)))
    assert row.lo == pytest.approx(1.0) and row.hi == pytest.approx(1.0)
    assert row.verdict == COMPRESSES


def test_rising_layer_does_not():
    rising = [[1.0, 2.0, 3.0, 3.5, 3.9, 4.0 + 0.01 * s] for s in range(3)]
    (row,) = compression_summary(_table(_rows(rising)))
    assert row.verdict == DOES_NOT and row.peak_epoch == row.final_epoch == 30
    assert row.drop == 0.0 and "still rising" in row.reason


def test_small_tight_drop_does_not_and_wide_one_cannot_tell():
    small = [[1.0, 3.0, 4.5, 5.0, 4.99, 5.0 - d] for d in (0.01, 0.02, 0.03)]
    (row,) = compression_summary(_table(_rows(small)))
    assert row.drop == pytest.approx(0.02)
    assert row.hi < 0.1 and row.verdict == DOES_NOT and "below" in row.reason
    wide = [[1.0, 3.0, 4.5, 5.0, 4.9, 5.0 - d] for d in (0.0, 0.5, 1.0)]
    (row,) = compression_summary(_table(_rows(wide)))
    assert row.lo < 0.1 < row.hi and row.verdict == CANNOT_TELL and "contains" in row.reason


def test_min_drop_moves_the_verdict():
    table = _table(_rows(KNOWN))
    (row,) = compression_summary(table, min_drop=1.5)  # above the interval's upper bound
    assert row.verdict == DOES_NOT
    (row,) = compression_summary(table, min_drop=1.0)  # inside it
    assert row.verdict == CANNOT_TELL


def test_one_seed_without_intervals_cannot_tell():
    (row,) = compression_summary(_table(_rows(KNOWN[:1])))
    assert row.n_seeds == 1 and row.drop == pytest.approx(1.1)
    assert math.isnan(row.lo) and math.isnan(row.hi) and row.interval == ""
    assert row.verdict == CANNOT_TELL
    assert "1 seed" in row.reason and "i_xt_lo" in row.reason


def _with_bounds(rows, lo, hi):
    """A Results of ``rows`` with the interval columns i_xt_lo / i_xt_hi set."""
    for r, a, b in zip(rows, lo, hi, strict=True):
        r.update(i_xt_lo=a, i_xt_hi=b)
    return Results.from_rows(rows)


def test_one_seed_with_interval_columns_is_conservative():
    vals = [1.0, 3.0, 4.5, 5.0, 4.5, 4.0]
    lo = [v - 0.2 for v in vals[:-1]] + [3.9]
    hi = [v + 0.2 for v in vals[:-1]] + [4.1]
    (row,) = compression_summary(_with_bounds(_rows([vals]), lo, hi))
    # [peak_lo - final_hi, peak_hi - final_lo] = [4.8 - 4.1, 5.2 - 3.9]
    assert row.interval == "columns"
    assert row.lo == pytest.approx(0.7) and row.hi == pytest.approx(1.3)
    assert row.verdict == COMPRESSES
    wide = [v - 1.0 for v in vals]
    (row,) = compression_summary(_with_bounds(_rows([vals]), wide, hi))
    assert row.lo == pytest.approx(4.0 - 4.1) and row.verdict == CANNOT_TELL


def test_nan_points_are_skipped():
    base = compression_summary(_table(_rows(KNOWN)))[0]
    holed = [list(v) for v in KNOWN]
    holed[1][2] = nan  # a withheld point at epoch 5: that epoch is left out, nothing else moves
    row = compression_summary(_table(_rows(holed)))[0]
    assert (row.drop, row.lo, row.hi, row.verdict) == pytest.approx(
        (base.drop, base.lo, base.hi, base.verdict))
    # a seed with every point withheld is left out, and said so
    row = compression_summary(_table(_rows(KNOWN + [[nan] * len(EPOCHS)])))[0]
    assert row.n_seeds == 3 and row.drop == pytest.approx(1.0) and "[3] left out" in row.reason
    # a withheld last epoch: the final value is the last finite epoch
    last = [v[:-1] + [nan] for v in KNOWN]
    row = compression_summary(_table(_rows(last)))[0]
    assert row.final_epoch == 20 and row.final == pytest.approx(4.5)
    assert row.drop == pytest.approx(0.5)


def test_too_few_finite_points_cannot_tell():
    few = [[nan, nan, nan, 5.0, nan, nan], [nan, nan, nan, nan, nan, 4.0]]
    (row,) = compression_summary(_table(_rows(few)))
    assert row.verdict == CANNOT_TELL and row.peak_epoch is None and math.isnan(row.drop)
    assert "need 2" in row.reason and row.n_seeds == 0


def test_sweep_never_mixes_parameter_sets_and_names_the_values():
    flat = [[1.0, 3.0, 4.0, 4.5, 4.8, 5.0 + 0.01 * s] for s in range(3)]  # rising
    table = _table(
        _rows(KNOWN, params={"n_bins": 8, "strategy": "fixed"}),
        _rows(flat, params={"n_bins": 4, "strategy": "fixed"}),
        _rows([[v - 1.0 for v in c] for c in KNOWN], params={"n_bins": 16, "strategy": "fixed"}),
    )
    summary = compression_summary(table)
    by_label = {r.label: r for r in summary}
    assert set(by_label) == {"binning(n_bins=8)", "binning(n_bins=4)", "binning(n_bins=16)"}
    assert by_label["binning(n_bins=8)"].peak == pytest.approx(5.0)
    assert by_label["binning(n_bins=16)"].peak == pytest.approx(4.0)
    assert by_label["binning(n_bins=4)"].verdict == DOES_NOT
    (sweep,) = summary.sweeps
    assert sweep.keys == ("n_bins",)
    assert sweep.text == "compresses for n_bins in {8, 16}; does not for n_bins=4"
    text = str(summary)
    assert "sweep binning, train, l1: compresses for n_bins in {8, 16}" in text
    assert text.splitlines()[-1].startswith("Rule: ") and "0.1 bits" in text.splitlines()[-1]


def test_layers_splits_and_runs_are_separate_rows():
    table = _table(_rows(KNOWN, layer="l1"), _rows(KNOWN[:1], layer="l2"),
                   _rows(KNOWN, split="test"), _rows(KNOWN, run="r2"))
    rows = compression_summary(table)
    assert [(r.run, r.split, r.layer, r.n_seeds) for r in rows] == [
        ("r", "train", "l1", 3), ("r", "train", "l2", 1), ("r", "test", "l1", 3),
        ("r2", "train", "l1", 3)]
    only = compression_summary(table, split="test", estimator="binning")
    assert [(r.split, r.layer) for r in only] == [("test", "l1")]
    assert "run" in str(rows).splitlines()[1]  # several runs: a run column


def test_nats_threshold_is_converted():
    # a tight drop of 0.09: below 0.1 bits, above 0.1 bits = 0.0693 nats
    curves = [[1.0, 3.0, 4.5, 5.0, 4.95, 4.91] for _ in range(3)]
    (bits,) = compression_summary(_table(_rows(curves)))
    (nats,) = compression_summary(_table(_rows(curves, units="nats")))
    assert bits.verdict == DOES_NOT and bits.min_drop == 0.1
    assert nats.verdict == COMPRESSES and nats.units == "nats"
    assert nats.min_drop == pytest.approx(0.1 * math.log(2.0))
    assert "nats" in str(compression_summary(_table(_rows(curves, units="nats"))))


def test_bad_input_says_what_is_wrong():
    table = _table(_rows(KNOWN))
    with pytest.raises(ValueError, match="split='nope'.*train"):
        compression_summary(table, split="nope")
    with pytest.raises(ValueError, match="estimator='kde'.*binning"):
        compression_summary(table, estimator="kde")
    with pytest.raises(ValueError, match="min_drop"):
        compression_summary(table, min_drop=-0.1)
    with pytest.raises(ValueError, match="level"):
        compression_summary(table, level=1.5)
    with pytest.raises(TypeError, match="load_results"):
        compression_summary([1, 2, 3])


def test_t_quantile_matches_tables():
    assert t_quantile(0.975, 2) == pytest.approx(T_975_2, rel=1e-10)
    assert t_quantile(0.975, 1) == pytest.approx(12.706204736174694, rel=1e-10)
    assert t_quantile(0.975, 10) == pytest.approx(2.228138851986274, rel=1e-10)
    assert t_quantile(0.95, 5) == pytest.approx(2.0150483733330233, rel=1e-10)
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 7, 30, 120):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9), (p, df)


def test_interval_at_another_level_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    curves = [[1.0, 3.0, 4.5, 5.0, 4.5, 4.0 + rng.normal(0, 0.2)] for _ in range(5)]
    (row,) = compression_summary(_table(_rows(curves)), level=0.9)
    d = np.array([c[3] - c[5] for c in curves])
    lo, hi = stats.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (row.lo, row.hi) == pytest.approx((lo, hi), rel=1e-9)
    assert format_compression(list(compression_summary(_table(_rows(curves)), level=0.9)),
                              level=0.9).splitlines()[-1].count("90%") == 1


def test_instance_label_and_rows_as_dicts():
    assert instance_label("binning", '{"n_bins": 8, "strategy": "fixed"}', ["n_bins"]) == (
        "binning(n_bins=8)")
    assert instance_label("kde", {"bound": "lower"}) == "kde(bound=lower)"
    assert instance_label("kde", {}) == "kde"
    (d,) = compression_summary(_table(_rows(KNOWN))).as_dicts()
    assert d["verdict"] == COMPRESSES and d["peak_epoch"] == 10 and d["units"] == "bits"
