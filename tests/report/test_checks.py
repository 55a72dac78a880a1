"""The data-processing-inequality check on hand-made results tables."""

import dataclasses
import math

import pytest

from infoplane.report.checks import DPIViolation, dpi_violations, format_violations
from infoplane.store.results import Results


def _row(layer, epoch, i_xt, i_ty, *, seed=0, estimator="binning", run="r", split="train",
         params='{"n_bins": 30}', units="bits"):
    return dict(run=run, seed=seed, split=split, epoch=epoch, layer=layer, estimator=estimator,
                i_xt=i_xt, i_ty=i_ty, units=units, params=params)


def _chain(values_xt, values_ty=None, *, layers=None, epoch=0, **kw):
    layers = layers or [f"l{i}" for i in range(len(values_xt))]
    values_ty = values_ty or [0.5] * len(values_xt)
    return [_row(name, epoch, x, y, **kw)
            for name, x, y in zip(layers, values_xt, values_ty, strict=True)]


def test_obeying_table_has_no_violations():
    rows = _chain([8.0, 6.0, 6.0, 2.0], [1.0, 0.9, 0.9, 0.2])
    rows += _chain([8.0, 7.0, 5.0, 1.0], [1.0, 1.0, 0.7, 0.7], epoch=5)
    assert dpi_violations(Results.from_rows(rows)) == []


def test_violation_is_reported_exactly():
    rows = _chain([8.0, 6.0, 2.0], [1.0, 0.9, 0.2])
    rows += _chain([8.0, 6.0, 6.5], [1.0, 0.9, 0.2], epoch=7)  # l2 > l1 in I(X;T) at epoch 7
    (v,) = dpi_violations(Results.from_rows(rows))
    assert v == DPIViolation(run="r", seed=0, split="train", estimator="binning",
                             params='{"n_bins": 30}', epoch=7, quantity="i_xt",
                             shallower="l1", deeper="l2", shallower_value=6.0,
                             deeper_value=6.5, excess=0.5, units="bits")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.epoch = 3


def test_i_ty_violation_and_quantities_filter():
    res = Results.from_rows(_chain([8.0, 6.0, 2.0], [0.5, 0.75, 0.25]))
    (v,) = dpi_violations(res)
    assert (v.quantity, v.shallower, v.deeper, v.excess) == ("i_ty", "l0", "l1", 0.25)
    assert dpi_violations(res, quantities=("i_xt",)) == []
    assert len(dpi_violations(res, quantities="i_ty")) == 1


def test_tolerance_boundary():
    # excess exactly 0.25 (binary-exact): not more than tolerance 0.25, so not flagged
    res = Results.from_rows(_chain([4.0, 4.25, 1.0]))
    assert dpi_violations(res, tolerance=0.25) == []
    assert len(dpi_violations(res, tolerance=0.2499)) == 1
    assert len(dpi_violations(res, tolerance=0.0)) == 1
    # decimal values: 1.05 - 1.0 is 0.0500000000000000444 in floats; the rounding slack
    # keeps it at the boundary
    res = Results.from_rows(_chain([1.0, 1.05]))
    assert dpi_violations(res, tolerance=0.05) == []
    assert len(dpi_violations(res, tolerance=0.049)) == 1


def test_relative_tolerance():
    res = Results.from_rows(_chain([10.0, 10.5]))  # 5 % above
    assert len(dpi_violations(res, tolerance=0.0)) == 1
    assert dpi_violations(res, tolerance=0.0, relative=0.05) == []
    assert len(dpi_violations(res, tolerance=0.0, relative=0.04)) == 1
    assert dpi_violations(res, tolerance=0.25, relative=0.025) == []  # 0.25 + 0.25


def test_nan_is_skipped_and_chain_bridges_it():
    nan = float("nan")
    # l1 is NaN: not flagged, and l2 is compared with l0
    res = Results.from_rows(_chain([4.0, nan, 3.0]))
    assert dpi_violations(res) == []
    res = Results.from_rows(_chain([4.0, nan, 5.0]))
    (v,) = dpi_violations(res)
    assert (v.shallower, v.deeper, v.excess) == ("l0", "l2", 1.0)
    # NaN in the first layer, all NaN: nothing
    assert dpi_violations(Results.from_rows(_chain([nan, 1.0, 0.5]))) == []
    assert dpi_violations(Results.from_rows(_chain([nan, nan]))) == []


def test_seeds_estimators_params_splits_are_separate_groups():
    rows = []
    # every group obeys the DPI on its own; interleaving groups must not create pairs across
    rows += _chain([8.0, 4.0], seed=0)
    rows += _chain([3.0, 2.0], seed=1)
    rows += _chain([2.0, 1.0], estimator="kde", params='{"bound": "upper"}')
    rows += _chain([1.0, 0.5], split="test")
    rows += _chain([1.5, 0.5], params='{"n_bins": 10}')
    rows += _chain([0.5, 0.25], run="other")
    assert dpi_violations(Results.from_rows(rows)) == []
    # one violation in seed 1 only, and one in kde only
    rows += _chain([3.0, 3.5], seed=1, epoch=1)
    rows += _chain([2.0, 2.5], estimator="kde", params='{"bound": "upper"}', epoch=1)
    found = dpi_violations(Results.from_rows(rows))
    assert [(v.estimator, v.seed, v.epoch) for v in found] == [("binning", 1, 1), ("kde", 0, 1)]


def test_layer_order_is_table_order_not_alphabetical():
    # network order "zeta" -> "alpha": alpha is deeper although it sorts first
    rows = _chain([8.0, 6.0], layers=["zeta", "alpha"])
    # a later epoch lists the layers in another row order: table order still rules
    rows += list(reversed(_chain([8.0, 9.0], layers=["zeta", "alpha"], epoch=3)))
    (v,) = dpi_violations(Results.from_rows(rows))
    assert (v.epoch, v.shallower, v.deeper) == (3, "zeta", "alpha")


def test_ordering_of_results():
    rows = _chain([1.0, 2.0, 3.0], [0.1, 0.2, 0.3], epoch=9)
    rows += _chain([1.0, 2.0], [0.1, 0.1], epoch=2)
    found = dpi_violations(Results.from_rows(rows))
    assert [(v.epoch, v.quantity, v.deeper) for v in found] == [
        (2, "i_xt", "l1"),
        (9, "i_xt", "l1"), (9, "i_xt", "l2"), (9, "i_ty", "l1"), (9, "i_ty", "l2"),
    ]


def test_units_are_carried_and_empty_table():
    res = Results.from_rows(_chain([1.0, 2.0], units="nats"))
    assert dpi_violations(res)[0].units == "nats"
    assert dpi_violations(Results.empty()) == []


def test_bad_arguments():
    res = Results.from_rows(_chain([1.0, 2.0]))
    with pytest.raises(ValueError, match="tolerance must be a finite number >= 0"):
        dpi_violations(res, tolerance=-1)
    with pytest.raises(ValueError, match="relative must be"):
        dpi_violations(res, relative=math.inf)
    with pytest.raises(ValueError, match="quantities must be a non-empty subset"):
        dpi_violations(res, quantities=("i_xy",))
    with pytest.raises(TypeError, match="needs a Results table"):
        dpi_violations(res.rows())


def test_format_violations():
    assert format_violations([]) == "DPI check: no violations."
    assert format_violations([], tolerance=0.05) == "DPI check: no violations (tolerance 0.05)."
    rows = _chain([8.0, 9.0, 9.5], [1.0, 1.0, 0.5])
    rows += _chain([8.0, 8.5], [1.0, 1.25], estimator="kde", params="{}", epoch=4)
    found = dpi_violations(Results.from_rows(rows))
    assert len(found) == 4
    text = format_violations(found, max_lines=2, tolerance=0.05)
    lines = text.splitlines()
    assert lines[0].startswith("DPI check: 4 violation(s) (tolerance 0.05)")
    assert "binning  I(X;T): 2  I(T;Y): 0" in text
    assert "kde      I(X;T): 1  I(T;Y): 1" in text
    assert lines[-4] == "worst 2:"
    # largest excess first
    assert lines[-3] == ("  binning I(X;T), run r, seed 0, split train, epoch 0: l1 9.000 > l0 "
                         "8.000 bits (+1.000)")
    assert "+0.500" in lines[-2]
    assert lines[-1] == "  ... and 2 more"
    text = format_violations(found, max_lines=1)
    assert text.splitlines()[-1] == "  ... and 3 more"
    counts_only = format_violations(found, max_lines=0)
    assert "worst" not in counts_only and len(counts_only.splitlines()) == 3
    with pytest.raises(ValueError, match="max_lines"):
        format_violations(found, max_lines=-1)
    with pytest.raises(TypeError, match="DPIViolation"):
        format_violations(["oops"])


def test_i_xt_ceiling_of_a_subsample():
    import json
    import math

    from infoplane.report.checks import i_xt_ceiling

    assert i_xt_ceiling(12.0, {"subsample": 1024}) == pytest.approx(10.0)
    assert i_xt_ceiling(12.0, json.dumps({"subsample": 1024, "k": 5})) == pytest.approx(10.0)
    assert i_xt_ceiling(12.0 * math.log(2), {"subsample": 1024}, "nats") == pytest.approx(
        10.0 * math.log(2))
    assert i_xt_ceiling(3.0, {"subsample": 1024}) == 3.0  # H(X) already lower
    for params in ({}, {"subsample": True}, {"subsample": 0}, "not json", None):
        assert i_xt_ceiling(12.0, params) == 12.0


# ---- range check ------------------------------------------------------------------------------


def test_range_violations_below_zero_and_above_ceilings():
    from infoplane.report.checks import RangeViolation, range_violations

    rows = _chain([12.5, 6.0, -0.2], [1.0, 1.3, -0.01], split="all")
    rows += _chain([3.0, 2.0, 1.0], [0.5, 0.5, 0.5], split="all", estimator="dsmi",
                   params="{}")  # DSMI: no range applies, even to -5
    rows[-1]["i_xt"] = -5.0
    res = Results.from_rows(rows)
    found = range_violations(res, {"all": {"i_xt": 12.0, "i_ty": 1.0}}, tolerance=0.05)
    assert [(v.layer, v.quantity, v.value, v.bound) for v in found] == [
        ("l0", "i_xt", 12.5, 12.0), ("l1", "i_ty", 1.3, 1.0), ("l2", "i_xt", -0.2, 0.0)]
    assert found[2] == RangeViolation(run="r", seed=0, split="all", estimator="binning",
                                      params='{"n_bins": 30}', epoch=0, layer="l2",
                                      quantity="i_xt", value=-0.2, bound=0.0)
    assert found[2].excess == pytest.approx(0.2)
    assert "-0.200 bits < 0" in found[2].describe()
    assert "> ceiling 12.000" in found[0].describe()
    # -0.01 is within the tolerance; without ceilings only the lower bound is checked
    assert [v.layer for v in range_violations(res)] == ["l2"]
    assert [v.layer for v in range_violations(res, {"train": {"i_xt": 1, "i_ty": 1}})] == ["l2"]
    assert len(range_violations(res, tolerance=0.0)) == 2  # -0.01 counts at tolerance 0


def test_range_ceiling_of_a_subsample_and_nats():
    from infoplane.report.checks import range_violations

    # a 256-row subsample cannot exceed log2 256 = 8 bits of I(X;T)
    rows = _chain([8.5, 7.9], params='{"subsample": 256}', split="all")
    found = range_violations(Results.from_rows(rows), {"all": {"i_xt": 12.0, "i_ty": 1.0}})
    assert [(v.layer, v.bound) for v in found] == [("l0", 8.0)]
    # a table in nats: ceilings (bits) are converted; 0.75 nats > 1 bit = 0.693 nats
    rows = _chain([1.0, 0.5], [0.75, 0.6], units="nats", split="all")
    found = range_violations(Results.from_rows(rows), {"all": {"i_xt": 12.0, "i_ty": 1.0}})
    assert [(v.layer, v.quantity) for v in found] == [("l0", "i_ty")]
    assert found[0].bound == pytest.approx(math.log(2.0))


def test_range_nan_skipped_and_bad_arguments():
    from infoplane.report.checks import range_violations

    res = Results.from_rows(_chain([float("nan"), 1.0]))
    assert range_violations(res) == []
    with pytest.raises(TypeError, match="Results"):
        range_violations([{"i_xt": -1}])
    with pytest.raises(ValueError, match="tolerance"):
        range_violations(res, tolerance=-1)


def test_check_report_names_both_checks():
    from infoplane.report.checks import check_report

    rows = _chain([8.0, 8.5, -1.0], split="all")
    rows += _chain([1.0, 2.0], split="all", estimator="dsmi", params="{}")
    text = check_report(Results.from_rows(rows), {"all": {"i_xt": 12.0, "i_ty": 1.0}})
    assert "not checked: dsmi" in text
    assert "DPI check: 1 violation(s)" in text and "l1 8.500 > l0 8.000" in text
    assert "range check: 1 estimate(s) of 6 points" in text and "l2: -1.000 bits < 0" in text
    clean = check_report(Results.from_rows(_chain([8.0, 6.0])))
    assert "DPI check: no deeper layer" in clean
    assert "range check: every estimate of binning lies in [0, H(X)]" in clean
    # beside "not checked: dsmi" the line names what it checked, never "every Shannon"
    mixed = check_report(Results.from_rows(_chain([8.0, 6.0]) + _chain(
        [1.0, 2.0], estimator="dsmi", params="{}")))
    assert "not checked: dsmi" in mixed and "every estimate of binning lies" in mixed
    assert "every Shannon" not in mixed


def test_check_report_lists_withheld_nan_estimates_and_skips_them():
    """A NaN (an estimate its estimator flagged as unstable, e.g. Compressed's flag_stderr)
    is left out of the DPI and range checks and counted on the "withheld" line."""
    from infoplane.report.checks import check_report, range_violations

    nan = float("nan")
    rows = _chain([8.0, nan, 7.0], [0.9, 0.8, nan], split="all", estimator="compressed",
                  params="{}")
    rows += _chain([3.0, 2.0, 1.0], split="all")
    res = Results.from_rows(rows)
    assert dpi_violations(res) == [] and range_violations(res) == []
    text = check_report(res, {"all": {"i_xt": 12.0, "i_ty": 1.0}})
    assert "withheld: compressed 2 of 6 estimates are NaN, flagged unstable" in text
    assert "binning" not in text.splitlines()[-1]
    assert "withheld" not in check_report(Results.from_rows(_chain([8.0, 6.0])))


def test_check_report_names_every_nonfinite_estimate():
    """-inf, +inf and NaN of an estimator that does not withhold are reported as non-finite,
    naming estimator, layer, epoch and quantity; they are left out of the DPI / range checks
    (so a -inf no longer passes the range check silently)."""
    from infoplane.report.checks import check_report, range_violations
    from infoplane.report.nonfinite import nonfinite_estimates

    inf, nan = float("inf"), float("nan")
    rows = _chain([8.0, -inf, 7.0], [0.9, 0.8, nan], split="all", estimator="kde", epoch=3)
    rows += _chain([3.0, inf, 1.0], split="all", epoch=4)
    res = Results.from_rows(rows)
    assert dpi_violations(res) == [] and range_violations(res) == []
    found = nonfinite_estimates(res)
    assert [(f.estimator, f.layer, f.epoch, f.quantity, f.withheld) for f in found] == [
        ("kde", "l1", 3, "i_xt", False), ("kde", "l2", 3, "i_ty", False),
        ("binning", "l1", 4, "i_xt", False)]
    assert math.isinf(found[0].value) and found[0].value < 0
    text = check_report(res, {"all": {"i_xt": 12.0, "i_ty": 1.0}})
    assert "non-finite: 3 estimate(s) of 12 are NaN or +-inf" in text
    assert "kde I(X;T), run r, seed 0, split all, epoch 3, layer l1: -inf" in text
    assert "kde I(T;Y), run r, seed 0, split all, epoch 3, layer l2: nan" in text
    assert "binning I(X;T), run r, seed 0, split all, epoch 4, layer l1: inf" in text
    assert "withheld" not in text


def test_withheld_is_decided_by_the_unstable_bits_of_aux():
    """With aux rows, only a NaN whose quantity's bit is set in aux "unstable" is withheld;
    a NaN of Compressed without the bit, and any inf, are non-finite."""
    from infoplane.report.checks import check_report
    from infoplane.report.nonfinite import nonfinite_estimates

    nan, inf = float("nan"), float("inf")
    rows = _chain([nan, nan, -inf], [nan, 0.5, 0.5], split="all", estimator="compressed",
                  params="{}")
    res = Results.from_rows(rows)
    key = dict(run="r", seed=0, split="all", epoch=0, estimator="compressed", params="{}")
    aux = [dict(key, layer="l0", name="unstable", value=3.0),  # both withheld
           dict(key, layer="l1", name="unstable", value=2.0),  # I(T;Y) only: I(X;T) is not
           dict(key, layer="l2", name="unstable", value=1.0)]  # -inf is never withheld
    got = [(f.layer, f.quantity, f.withheld) for f in nonfinite_estimates(res, aux)]
    assert got == [("l0", "i_xt", True), ("l0", "i_ty", True), ("l1", "i_xt", False),
                   ("l2", "i_xt", False)]
    # without aux every NaN of compressed counts as withheld, the -inf does not
    assert [f.withheld for f in nonfinite_estimates(res)] == [True, True, True, False]
    text = check_report(res, aux=aux)
    assert "non-finite: 2 estimate(s) of 6" in text
    assert "withheld: compressed 2 of 6 estimates are NaN" in text


def test_layers_at_the_ceiling_at_every_epoch_are_named():
    from infoplane.report.ceiling_layers import layers_at_ceiling
    from infoplane.report.checks import check_report

    tops = {"all": {"i_xt": 12.0, "i_ty": 1.0}}
    rows = (_chain([12.0, 12.0, 8.0], split="all", epoch=0)
            + _chain([12.0, 11.5, 6.0], split="all", epoch=10))
    found = layers_at_ceiling(Results.from_rows(rows), tops)
    assert [f[3] for f in found] == ["l0"]  # l1 left the ceiling at epoch 10
    text = check_report(Results.from_rows(rows), tops)
    assert "at the ceiling at every epoch: binning (all, I(X;T) = 12): l0" in text
    # one epoch only, or no ceiling known: nothing to say
    assert not layers_at_ceiling(Results.from_rows(rows[:3]), tops)
    assert not layers_at_ceiling(Results.from_rows(rows), None)
