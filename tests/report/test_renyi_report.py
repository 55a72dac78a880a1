"""matrix_renyi in the report: its ceilings (log2 n always, H(X) and H(Y) only for alpha >= 1,
checked against NumPy eigenvalues), the checks' wording (no DPI, a range check), its names in
figures and tables, the figures' ceiling lines, the dashboard metadata, and TensorBoard labels
that stay apart when `infoplane estimate` adds a second parameter set."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from infoplane import plot  # noqa: E402
from infoplane.report.bounds import (  # noqa: E402
    NO_CEILING,
    NOT_SHANNON,
    ceilings_of,
    is_shannon,
    sample_size,
)
from infoplane.report.checks import check_report, dpi_violations, range_violations  # noqa: E402
from infoplane.report.figures.style import axis_label, pretty_estimator  # noqa: E402
from infoplane.report.tensorboard.format import (  # noqa: E402
    display_names,
    quantity_label,
    quantity_symbols,
)
from infoplane.store.atomic import write_json  # noqa: E402
from infoplane.store.results import Results  # noqa: E402
from infoplane.store.tables import ResultsWriter  # noqa: E402

LOG2_512 = 9.0


def _params(alpha=1.01, subsample=512, **kw):
    p = {"estimator": "matrix_renyi", "alpha": alpha, "quantity": "matrix_renyi", "units":
         "bits", **kw}
    if subsample:
        p.update(subsample=subsample, subsample_seed=0)
    return json.dumps(p, sort_keys=True)


def _rows(values, *, estimator="matrix_renyi", params=None, split="all", epoch=0):
    params = _params() if params is None else params
    return [dict(run="r", seed=0, split=split, epoch=epoch, layer=f"l{i}", estimator=estimator,
                 i_xt=x, i_ty=y, units="bits", params=params)
            for i, (x, y) in enumerate(values)]


# ---- the rule, and the maths behind it ---------------------------------------------------------


def _renyi_bits(lam, alpha):
    lam = lam[lam > 1e-15]
    if alpha == 1.0:
        return float(-(lam * np.log2(lam)).sum())
    return float(np.log2((lam ** alpha).sum()) / (1.0 - alpha))


def test_renyi_entropy_of_a_gram_against_h_x_numpy():
    """The ground truth of the ceiling rule, with float64 eigenvalues: inputs with repeats
    (an empirical H(X) below log2 n), A = K / n of a Gaussian kernel. For alpha >= 1,
    S_alpha(A) <= H(X); for alpha = 0.5 it exceeds H(X) (so no H(X) ceiling there), and it
    never exceeds log2 n."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 3)) * 5.0
    counts = np.array([40, 10, 6, 4, 3, 1])  # 64 samples, 6 distinct inputs
    x = np.repeat(centres, counts, axis=0)
    p = counts / counts.sum()
    h_x = float(-(p * np.log2(p)).sum())
    for sigma in (0.5, 3.0, 20.0):
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        lam = np.linalg.eigvalsh(np.exp(-d2 / (2 * sigma**2)) / len(x))
        for alpha in (1.0, 1.01, 2.0, 5.0):
            assert _renyi_bits(lam, alpha) <= h_x + 1e-9, (sigma, alpha)
        assert _renyi_bits(lam, 0.5) <= math.log2(len(x)) + 1e-9
    # far-apart distinct inputs (A = mixture of orthogonal states): S_0.5 = H_0.5(p) > H(X)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    lam = np.linalg.eigvalsh(np.exp(-d2 / (2 * 0.5**2)) / len(x))
    assert _renyi_bits(lam, 0.5) > h_x + 0.3
    assert _renyi_bits(lam, 1.01) == pytest.approx(h_x, abs=0.01)


def test_ceilings_of_each_family():
    assert "matrix_renyi" in NOT_SHANNON and "dsmi" in NO_CEILING
    assert not is_shannon("matrix_renyi") and "matrix_renyi" not in NO_CEILING
    # Shannon: H(X) capped by log2 of a subsample, H(Y)
    assert ceilings_of("kde", {}, 12.0, 1.0) == {"i_xt": (12.0, "H(X)"), "i_ty": (1.0, "H(Y)")}
    assert ceilings_of("kde", {"subsample": 512}, 12.0, 1.0)["i_xt"] == (LOG2_512, "log2 512")
    assert ceilings_of("dsmi", {}, 12.0, 1.0, 4096) == {}
    # matrix_renyi, alpha >= 1: the lower of log2 n and H
    got = ceilings_of("matrix_renyi", _params(), 12.0, 1.0, 4096)
    assert got == {"i_xt": (LOG2_512, "log2 512"), "i_ty": (1.0, "H(Y)")}
    got = ceilings_of("matrix_renyi", _params(subsample=0), 3.5, 1.0, 4096)
    assert got == {"i_xt": (3.5, "H(X)"), "i_ty": (1.0, "H(Y)")}
    # alpha < 1: log2 n only, whatever H says
    got = ceilings_of("matrix_renyi", _params(alpha=0.5), 3.5, 1.0, 4096)
    assert got == {"i_xt": (LOG2_512, "log2 512"), "i_ty": (LOG2_512, "log2 512")}
    got = ceilings_of("matrix_renyi", _params(alpha=0.5, subsample=0), 3.5, 1.0, 4096)
    assert got == {"i_xt": (12.0, "log2 4096"), "i_ty": (12.0, "log2 4096")}
    assert ceilings_of("matrix_renyi", _params(alpha=0.5, subsample=0), 3.5, 1.0) == {}
    # nats; an unreadable alpha counts as < 1; a subsample larger than the probe is the probe
    got = ceilings_of("matrix_renyi", _params(), 12.0 * math.log(2), 0.5, 4096, "nats")
    assert got["i_xt"][0] == pytest.approx(LOG2_512 * math.log(2)) and got["i_ty"] == (0.5,
                                                                                      "H(Y)")
    got = ceilings_of("matrix_renyi", "not json", 3.0, 1.0, 256)
    assert got == {"i_xt": (8.0, "log2 256"), "i_ty": (8.0, "log2 256")}
    assert sample_size({"subsample": 100_000}, 4096) == 4096 and sample_size({}, None) is None


# ---- checks ------------------------------------------------------------------------------------


def test_range_violations_of_matrix_renyi():
    top = {"all": {"i_xt": 12.0, "i_ty": 1.0, "n": 4096}}
    rows = _rows([(9.5, 0.5), (3.0, 1.2), (-0.2, 0.4)])  # alpha 1.01, subsample 512
    rows += _rows([(5.0, 1.2), (9.5, 3.0)], params=_params(alpha=0.5), epoch=1)
    found = range_violations(Results.from_rows(rows), top)
    got = [(v.epoch, v.layer, v.quantity, v.bound, v.bound_name) for v in found]
    assert got == [(0, "l0", "i_xt", LOG2_512, "log2 512"), (0, "l1", "i_ty", 1.0, "H(Y)"),
                   (0, "l2", "i_xt", 0.0, ""), (1, "l1", "i_xt", LOG2_512, "log2 512")]
    assert "> ceiling 9.000 (log2 512)" in found[0].describe()


def test_check_report_names_what_it_does_not_check():
    """matrix_renyi: the DPI is not checked (its rows violate it here and nothing is flagged)
    but its range is; dsmi: neither; binning: both. No line says "every Shannon estimate"
    next to a non-Shannon one, and no DPI line appears when no estimate is Shannon."""
    top = {"all": {"i_xt": 12.0, "i_ty": 1.0, "n": 4096}}
    renyi = _rows([(3.0, 0.5), (4.0, 0.6)])  # grows with depth: a DPI violation if checked
    assert len(dpi_violations(Results.from_rows(renyi))) == 2
    text = check_report(Results.from_rows(renyi), top)
    lines = text.splitlines()
    assert lines[0].startswith("DPI not checked: matrix_renyi (") and "not guaranteed" in lines[0]
    assert not any(line.startswith("DPI check") for line in lines), text
    assert "every Shannon estimate" not in text
    assert lines[1] == ("range check: every estimate of matrix_renyi lies in [0, its ceiling] "
                        "(matrix_renyi: log2 n, and H(X), H(Y) for alpha >= 1).")
    mixed = renyi + _rows([(3.0, 0.5), (4.0, 0.6)], estimator="dsmi", params="{}")
    mixed += _rows([(8.0, 0.9), (6.0, 0.5)], estimator="binning", params="{}")
    text = check_report(Results.from_rows(mixed), top)
    assert "not checked: dsmi (" in text and "no DPI, no ceiling" in text
    assert "DPI not checked: matrix_renyi" in text
    assert "DPI check (binning): no deeper layer exceeds" in text
    assert ("range check: every estimate of matrix_renyi, binning lies in [0, its ceiling] "
            "(Shannon: H(X), H(Y); matrix_renyi: log2 n") in text
    bad = mixed + _rows([(9.9, 0.5)], epoch=3)
    text = check_report(Results.from_rows(bad), top)
    assert "range check: 1 estimate(s) of 10 points outside [0, ceiling]" in text
    assert "matrix_renyi I(X;T), run r, seed 0, split all, epoch 3, layer l0: 9.900 bits > " \
           "ceiling 9.000 (log2 512)" in text


# ---- names -------------------------------------------------------------------------------------


def test_names_of_matrix_renyi_everywhere():
    p = _params(alpha=2)
    assert quantity_label("matrix_renyi", "i_xt", p) == "matrix-Rényi I_α(X;T), α=2"
    assert axis_label("matrix_renyi", "i_ty", "nats", {"alpha": 1.01}) == (
        "matrix-Rényi I_α(T;Y), α=1.01 [nats]")
    assert axis_label("matrix_renyi", "i_xt", "bits") == "matrix-Rényi I_α(X;T) [bits]"
    assert quantity_symbols("matrix_renyi", p) == ("I_α(X;T)", "I_α(T;Y)", "α=2")
    assert pretty_estimator("matrix_renyi") == "matrix Rényi"
    # the others are unchanged
    assert axis_label("kde", "i_xt", "bits", {"bound": "lower"}) == "KDE lower-bound I(X;T) [bits]"
    assert axis_label("dsmi", "i_ty", "bits") == "DSMI(T;Y) [bits]"
    assert axis_label("binning", "i_xt", "bits") == "binned I(X;T) [bits]"
    assert quantity_symbols("kde") == ("I(X;T)", "I(T;Y)", "")
    d = display_names("matrix_renyi", {"alpha": 1.01}, {"i_xt": "log2 512", "i_ty": 3})
    assert d == {"names": {"i_xt": "matrix-Rényi I_α(X;T), α=1.01",
                           "i_ty": "matrix-Rényi I_α(T;Y), α=1.01"},
                 "title": "matrix Rényi", "ceiling_names": {"i_xt": "log2 512", "i_ty": "H(Y)"}}
    assert display_names(["bad"], "not a dict")["title"] == "['bad']"  # damaged metadata


# ---- figures -----------------------------------------------------------------------------------


def _run_dir(tmp_path, rows, name="run"):
    d = tmp_path / name
    d.mkdir()
    with ResultsWriter(d) as w:
        w.write(rows)
    write_json(d / "config.json", {"run": "r", "probes": {
        "all": {"n": 4096, "x_shape": [12], "h_x_bits": 12.0, "h_y_bits": 0.75}}})
    return d


def _gid(artists, prefix):
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def test_figures_of_matrix_renyi(tmp_path):
    """Rows that violate the DPI get no DPI marks; the ceiling lines follow the rule (alpha
    1.01: log2 512 for I(X;T), H(Y) for I(T;Y); alpha 0.5: log2 512 for both) and are named
    after the bound; the axes carry the matrix-Rényi names."""
    import matplotlib.pyplot as plt

    rows = [dict(r, epoch=e) for e in (0, 5) for r in _rows([(3.0, 0.5), (4.0, 0.6)])]
    _fig, ax = plot.information_plane(_run_dir(tmp_path, rows))
    assert _gid(ax.collections, "dpi-violations") == []
    assert "no DPI check" in ax.get_title() and "matrix Rényi" in ax.get_title()
    [hx], [hy] = _gid(ax.lines, "ceiling:H(X)"), _gid(ax.lines, "ceiling:H(Y)")
    assert hx.get_xdata()[0] == pytest.approx(LOG2_512) and hx.get_label() == (
        "log2 512 = 9.00 bits")
    assert hy.get_ydata()[0] == pytest.approx(0.75) and hy.get_label() == "H(Y) = 0.75 bits"
    assert ax.get_xlabel() == "matrix-Rényi I_α(X;T), α=1.01 [bits]"
    assert ax.get_ylabel() == "matrix-Rényi I_α(T;Y), α=1.01 [bits]"
    low = [dict(r, params=_params(alpha=0.5, subsample=0)) for r in rows]
    _fig, ax = plot.information_plane(_run_dir(tmp_path, low, "low"))
    [hx], [hy] = _gid(ax.lines, "ceiling:H(X)"), _gid(ax.lines, "ceiling:H(Y)")
    assert hx.get_xdata()[0] == pytest.approx(12.0) and hy.get_ydata()[0] == pytest.approx(12.0)
    assert hy.get_label() == "log2 4096 = 12.00 bits"
    _fig, axes = plot.information_curves(_run_dir(tmp_path, rows, "curves"))
    assert [len(_gid(a.lines, "ceiling:")) for a in axes] == [1, 1]
    assert _gid(axes[0].lines, "ceiling:")[0].get_label() == "log2 512 = 9.00 bits"
    assert axes[1].get_ylabel() == "matrix-Rényi I_α(T;Y), α=1.01 [bits]"
    _fig, axes = plot.estimator_panel(_run_dir(tmp_path, rows, "panel"))
    assert "matrix Rényi" in axes[0].get_title() and "no DPI check" in axes[0].get_title()
    plt.close("all")


# ---- TensorBoard -------------------------------------------------------------------------------


def _load(logdir):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    m = EventMultiplexer()
    m.AddRunsFromDirectory(str(logdir))
    m.Reload()
    return m


def test_dashboard_metadata_ceilings_of_matrix_renyi(tmp_path):
    from infoplane.report.tensorboard.logger import TensorBoardLogger

    ceilings = {"all": {"i_xt": 12.0, "i_ty": 1.0, "n": 4096}}
    rows = _rows([(3.0, 0.5)]) + _rows([(3.0, 0.5)], params=_params(alpha=0.5, subsample=0))
    with TensorBoardLogger(tmp_path / "s", run="s", ceilings=ceilings, images=False) as tb:
        tb.on_results(rows)
        labels = {p: tb._labels[("matrix_renyi", p)] for p in (rows[0]["params"],
                                                               rows[1]["params"])}
    mux = _load(tmp_path)
    got = [json.loads(mux.SummaryMetadata("s", f"infoplane/{labels[r['params']]}/all/seed0")
                      .plugin_data.content) for r in rows]
    assert got[0]["ceilings"] == {"i_xt": LOG2_512, "i_ty": 1.0}
    assert got[0]["ceiling_names"] == {"i_xt": "log2 512", "i_ty": "H(Y)"}
    assert got[1]["ceilings"] == {"i_xt": 12.0, "i_ty": 12.0}  # alpha 0.5: log2 n only
    assert got[1]["ceiling_names"] == {"i_xt": "log2 4096", "i_ty": "log2 4096"}


def test_a_later_parameter_set_gets_its_own_tensorboard_label(tmp_path):
    """`infoplane estimate` adds matrix_renyi(label_kernel=linear) to a run that has
    matrix_renyi: its logger (resume_epoch) labels the new set matrix_renyi-<sha6> instead of
    writing into the tags of the first, which keep their label."""
    from infoplane.report.tensorboard.format import sha6
    from infoplane.report.tensorboard.logger import TensorBoardLogger, known_instances

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    first = _rows([(3.0, 0.5), (2.0, 0.4)])
    with ResultsWriter(run_dir) as w:
        w.write(first)
    with TensorBoardLogger(run_dir, run="r", images=False) as tb:
        tb.on_results(first)
    assert known_instances(str(run_dir)) == [[{"estimator": "matrix_renyi",
                                               "params": first[0]["params"]}]]
    assert known_instances(str(tmp_path / "missing")) == []
    later = _rows([(1.0, 0.5), (1.5, 0.4)], params=_params(label_kernel="linear"))
    with TensorBoardLogger(run_dir, run="r", images=False, resume_epoch=1) as tb:
        tb.on_results(later)
    tags = _load(tmp_path).Runs()["r/tb/seed0/l0"]["tensors"]
    new = f"matrix_renyi-{sha6(later[0]['params'])}"
    assert "matrix_renyi/I_XT/all" in tags and f"{new}/I_XT/all" in tags
    mux = _load(tmp_path)
    assert [e.tensor_proto.float_val[0] for e in mux.Tensors("r/tb/seed0/l0",
                                                             "matrix_renyi/I_XT/all")] == [3.0]
    assert [e.tensor_proto.float_val[0] for e in mux.Tensors("r/tb/seed0/l0",
                                                             f"{new}/I_XT/all")] == [1.0]
