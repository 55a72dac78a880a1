"""Figures of `infoplane.plot`: assertions on the artists, on hand-made results tables."""

import contextlib
import io
import json
import math

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from infoplane import plot
from infoplane.report.checks import NOT_SHANNON, dpi_violations, is_shannon
from infoplane.store.atomic import write_json
from infoplane.store.results import Results
from infoplane.store.tables import ResultsWriter

matplotlib.use("Agg")  # the figures are plain Figure objects; no window is ever opened

LAYERS = ("dense", "hidden", "out")
EPOCHS = (1, 3, 10, 30, 300)


def _values(layer_index, epoch, seed=0):
    """I(X;T), I(T;Y) that obey the DPI: decreasing with depth, distinct per seed/epoch."""
    x = 10.0 - 3.0 * layer_index - 0.001 * epoch + 0.1 * seed
    y = 0.9 - 0.2 * layer_index + 0.0001 * epoch + 0.01 * seed
    return x, y


def _rows(*, layers=LAYERS, epochs=EPOCHS, seeds=(0,), estimator="binning", params=None,
          split="train", run="demo", units="bits", values=_values):
    params = params if params is not None else {"n_bins": 30, "estimator": estimator}
    return [
        dict(run=run, seed=s, split=split, epoch=e, layer=name, estimator=estimator,
             i_xt=values(i, e, s)[0], i_ty=values(i, e, s)[1], units=units, params=params)
        for s in seeds for e in epochs for i, name in enumerate(layers)
    ]


def _table(**kw):
    return Results.from_rows(_rows(**kw))


def _run_dir(tmp_path, rows, probes=None):
    d = tmp_path / "run"
    d.mkdir()
    with ResultsWriter(d) as w:
        w.write(rows)
    probes = probes if probes is not None else {
        "train": {"n": 4096, "x_shape": [12], "h_x_bits": 12.0, "h_y_bits": 0.75},
        "test": {"n": 100, "x_shape": [12], "h_x_bits": math.log2(100), "h_y_bits": 1.0},
    }
    write_json(d / "config.json", {"run": "demo", "probes": probes})
    return d


def _by_gid(artists, prefix):
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def _colorbars(fig):
    return [a for a in fig.axes if a.get_label() == "<colorbar>"]


# --------------------------------------------------------------------------------------------
# information_plane
# --------------------------------------------------------------------------------------------


def test_plane_one_trajectory_per_layer_and_one_colorbar():
    res = _table()
    fig, ax = plot.information_plane(res)
    assert isinstance(fig, Figure) and isinstance(ax, Axes)
    lines = _by_gid(ax.lines, "trajectory:")
    points = _by_gid(ax.collections, "points:")
    assert [ln.get_label() for ln in lines] == list(LAYERS)
    assert [p.get_label() for p in points] == list(LAYERS)
    assert all(isinstance(p, PathCollection) for p in points)
    # distinct markers per layer
    shapes = {p.get_paths()[0].vertices.round(6).tobytes() for p in points}
    assert len(shapes) == len(LAYERS)
    for i, (line, pts) in enumerate(zip(lines, points, strict=True)):
        want = np.array([_values(i, e) for e in EPOCHS])
        np.testing.assert_array_equal(np.column_stack(line.get_data()), want)
        np.testing.assert_array_equal(pts.get_offsets(), want)
        np.testing.assert_array_equal(pts.get_array(), EPOCHS)  # coloured by epoch
    (cax,) = _colorbars(fig)
    assert cax.get_ylabel() == "epoch"
    norm = cax._colorbar.norm
    # 1..300 spans more than two decades and starts at >= 1: a LogNorm
    assert isinstance(norm, mcolors.LogNorm)
    assert (norm.vmin, norm.vmax) == (1, 300)
    assert all(p.norm is points[0].norm for p in points)
    assert (points[0].norm.vmin, points[0].norm.vmax) == (1, 300)
    assert "demo" in ax.get_title() and "seed 0" in ax.get_title()
    assert "0 DPI violation(s)" in ax.get_title()


@pytest.mark.parametrize(
    ("epochs", "kind"),
    [((0, 5, 10), mcolors.Normalize), ((2, 50, 150), mcolors.Normalize),
     ((1, 10, 1000), mcolors.LogNorm), ((0, 1, 10, 1000), mcolors.SymLogNorm)],
)
def test_epoch_norm_rule(epochs, kind):
    fig, ax = plot.information_plane(_table(epochs=epochs))
    norm = _colorbars(fig)[0]._colorbar.norm
    assert type(norm) is kind
    assert (norm.vmin, norm.vmax) == (min(epochs), max(epochs))


def test_axis_labels_name_estimator_and_units():
    cases = [
        (("binning", "bits", {}), ("binned I(X;T) [bits]", "binned I(T;Y) [bits]")),
        (("adaptive_binning", "nats", {}), (
            "adaptive-binned I(X;T) [nats]", "adaptive-binned I(T;Y) [nats]")),
        (("kde", "bits", {"bound": "upper"}), (
            "KDE upper-bound I(X;T) [bits]", "KDE (upper) I(T;Y) [bits]")),
        (("kde", "nats", {"bound": "lower"}), (
            "KDE lower-bound I(X;T) [nats]", "KDE (lower) I(T;Y) [nats]")),
        (("compressed", "bits", {}), ("compressed I(X;T) [bits]", "compressed I(T;Y) [bits]")),
        (("dsmi", "bits", {}), ("DSMI(X;T) [bits]", "DSMI(T;Y) [bits]")),
    ]
    for (est, units, params), (xlabel, ylabel) in cases:
        _fig, ax = plot.information_plane(_table(estimator=est, units=units, params=params))
        assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)
    assert plot.axis_label("knn", "i_ty", "bits") == "knn I(T;Y) [bits]"


def test_ceilings_from_config_json(tmp_path):
    d = _run_dir(tmp_path, _rows(split="train") + _rows(split="test"))
    for source in (d, str(d), str(d / "results.csv")):
        _fig, ax = plot.information_plane(source)  # split defaults to "train"
        (hx,) = _by_gid(ax.lines, "ceiling:H(X)")
        (hy,) = _by_gid(ax.lines, "ceiling:H(Y)")
        assert list(hx.get_xdata()) == [12.0, 12.0]
        assert list(hy.get_ydata()) == [0.75, 0.75]
        assert hx.get_label() == "H(X) = 12.00 bits"
        assert hy.get_label() == "H(Y) = 0.75 bits"
        assert hx.get_linestyle() == "--" and hy.get_linestyle() == "--"
        assert any(t.get_text().startswith("H(X) = 12.00 bits") for t in ax.texts)
    _fig, ax = plot.information_plane(d, split="test")
    assert _by_gid(ax.lines, "ceiling:H(X)")[0].get_xdata()[0] == pytest.approx(math.log2(100))
    _fig, ax = plot.information_plane(d, ceilings=None)
    assert _by_gid(ax.lines, "ceiling:") == []


def test_ceilings_in_nats(tmp_path):
    d = _run_dir(tmp_path, _rows(units="nats"))
    _fig, ax = plot.information_plane(d)
    (hx,) = _by_gid(ax.lines, "ceiling:H(X)")
    (hy,) = _by_gid(ax.lines, "ceiling:H(Y)")
    assert hx.get_xdata()[0] == pytest.approx(12.0 * math.log(2))
    assert hy.get_ydata()[0] == pytest.approx(0.75 * math.log(2))
    assert hx.get_label() == f"H(X) = {12 * math.log(2):.2f} nats"
    assert ax.get_xlabel() == "binned I(X;T) [nats]"


def test_older_config_without_entropies_draws_no_ceiling(tmp_path):
    d = _run_dir(tmp_path, _rows(), probes={"train": {"n": 4096, "x_shape": [12]}})
    _fig, ax = plot.information_plane(d)
    assert _by_gid(ax.lines, "ceiling:") == []
    # and a table alone has no config: no ceilings, unless given
    _fig, ax = plot.information_plane(_table())
    assert _by_gid(ax.lines, "ceiling:") == []
    _fig, ax = plot.information_plane(_table(units="nats"), ceilings={"h_x_bits": 2.0})
    (hx,) = _by_gid(ax.lines, "ceiling:")
    assert hx.get_xdata()[0] == pytest.approx(2 * math.log(2))
    _fig, ax = plot.information_plane(_table(), ceilings=plot.Ceilings(h_y=1.0))
    assert _by_gid(ax.lines, "ceiling:H(Y)")[0].get_ydata()[0] == 1.0
    _fig, ax = plot.information_plane(_table(), ceilings=d)  # a run directory
    assert _by_gid(ax.lines, "ceiling:") == []
    with pytest.raises(ValueError, match="unknown key"):
        plot.information_plane(_table(), ceilings={"hx": 1.0})


def test_seed_mean_and_band():
    seeds = (0, 1, 2)
    rows = _rows(seeds=seeds)
    # seed 2 misses epoch 10: the mean uses the epochs every seed recorded
    rows = [r for r in rows if not (r["seed"] == 2 and r["epoch"] == 10)]
    fig, ax = plot.information_plane(Results.from_rows(rows))
    common = [e for e in EPOCHS if e != 10]
    points = _by_gid(ax.collections, "points:")
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(points) == len(containers) == len(LAYERS)
    for i, (pts, bars) in enumerate(zip(points, containers, strict=True)):
        vals = np.array([[_values(i, e, s) for e in common] for s in seeds])  # (S, E, 2)
        np.testing.assert_allclose(pts.get_offsets(), np.mean(vals, axis=0), rtol=1e-12)
        np.testing.assert_array_equal(pts.get_array(), common)
        half = 1.96 * np.std(vals, axis=0, ddof=1) / np.sqrt(len(seeds))  # (E, 2)
        xerr_segments = bars.lines[2][0].get_segments()
        widths = np.array([seg[1][0] - seg[0][0] for seg in xerr_segments]) / 2
        np.testing.assert_allclose(widths, half[:, 0], rtol=1e-9)
        yerr_segments = bars.lines[2][1].get_segments()
        heights = np.array([seg[1][1] - seg[0][1] for seg in yerr_segments]) / 2
        np.testing.assert_allclose(heights, half[:, 1], rtol=1e-9)
    assert "mean of 3 seeds" in ax.get_title()
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "±1.96 SE (3 seeds)" in legend_texts
    # one seed chosen: no band
    _fig, ax = plot.information_plane(Results.from_rows(rows), seeds=[1])
    assert not ax.containers and "seed 1" in ax.get_title()


def _violating(i, e, s=0):
    x, y = _values(i, e, s)
    if i == 1 and e == 10:  # "hidden" above "dense" in I(X;T) at epoch 10
        x = _values(0, e, s)[0] + 0.5
    return x, y


def test_dpi_violation_is_flagged_exactly_there():
    res = _table(values=_violating)
    (v,) = dpi_violations(res, tolerance=0.05)
    assert (v.epoch, v.quantity, v.shallower, v.deeper) == (10, "i_xt", "dense", "hidden")
    assert v.excess == pytest.approx(0.5)
    fig, ax = plot.information_plane(res)
    (marks,) = _by_gid(ax.collections, "dpi-violations")
    np.testing.assert_allclose(marks.get_offsets(), [_violating(1, 10)])
    assert marks.get_label().startswith("DPI violation (1;")
    assert "1 DPI violation(s)" in ax.get_title()
    assert any(t.get_text().startswith("DPI violation") for t in fig.legends[0].get_texts())
    # a larger tolerance or show_dpi=False: not marked
    _fig, ax = plot.information_plane(res, dpi_tolerance=0.6)
    assert _by_gid(ax.collections, "dpi-violations") == []
    _fig, ax = plot.information_plane(res, show_dpi=False)
    assert _by_gid(ax.collections, "dpi-violations") == []
    # obeying table: none
    assert dpi_violations(_table()) == []
    _fig, ax = plot.information_plane(_table())
    assert _by_gid(ax.collections, "dpi-violations") == []


def test_nan_values_are_skipped():
    def values(i, e, s):
        x, y = _values(i, e, s)
        return (float("nan"), y) if (i == 0 and e == 3) else (x, y)

    res = _table(values=values)
    fig, ax = plot.information_plane(res)
    line = _by_gid(ax.lines, "trajectory:dense")[0]
    assert len(line.get_xdata()) == len(EPOCHS) - 1
    assert np.all(np.isfinite(line.get_xdata()))
    assert list(_by_gid(ax.collections, "points:dense")[0].get_array()) == [1, 10, 30, 300]
    assert len(_by_gid(ax.collections, "points:hidden")[0].get_offsets()) == len(EPOCHS)
    plot.render_png(fig)  # draws without error
    fig, axes = plot.information_curves(res)
    (curve,) = _by_gid(axes[0].lines, "curve:dense")
    assert len(curve.get_xdata()) == len(EPOCHS) - 1


def test_all_nan_layer_draws_nothing_for_it():
    def values(i, e, s):
        return (float("nan"), float("nan")) if i == 2 else _values(i, e, s)

    fig, ax = plot.information_plane(_table(values=values))
    assert len(_by_gid(ax.lines, "trajectory:out")[0].get_xdata()) == 0
    assert len(_by_gid(ax.collections, "points:out")[0].get_offsets()) == 0
    plot.render_png(fig)


def test_single_epoch():
    fig, ax = plot.information_plane(_table(epochs=(7,)))
    norm = _colorbars(fig)[0]._colorbar.norm
    assert norm.vmin <= 7 <= norm.vmax
    assert len(_by_gid(ax.collections, "points:")) == len(LAYERS)
    plot.render_png(fig)
    fig, axes = plot.information_curves(_table(epochs=(7,)))
    assert axes[0].get_xscale() == "linear"
    plot.render_png(fig)


def test_layers_epoch_range_and_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    fig2, ax2 = plot.information_plane(_table(), ax=ax, layers=["out", "dense"],
                                       epoch_range=(3, 30), legend=True, title="mine")
    assert fig2 is fig and ax2 is ax
    assert [ln.get_label() for ln in _by_gid(ax.lines, "trajectory:")] == ["out", "dense"]
    assert list(_by_gid(ax.collections, "points:")[0].get_array()) == [3, 10, 30]
    assert ax.get_title() == "mine"
    assert ax.get_legend() is not None
    norm = _colorbars(fig)[0]._colorbar.norm
    assert (norm.vmin, norm.vmax) == (3, 30)


def test_selection_errors():
    with pytest.raises(ValueError, match="no results to plot"):
        plot.information_plane(Results.empty())
    with pytest.raises(ValueError, match="no results to plot"):
        plot.estimator_panel(Results.empty())
    with pytest.raises(ValueError, match="no results to plot"):
        plot.information_curves(Results.empty())
    two = Results.from_rows(_rows() + _rows(estimator="kde", params={"bound": "upper"}))
    with pytest.raises(ValueError, match=r"unknown estimator 'knn'.*'binning', 'kde'"):
        plot.information_plane(two, estimator="knn")
    with pytest.raises(ValueError, match=r"unknown estimator.*'binning', 'kde'"):
        plot.information_curves(two, estimator="knn")
    with pytest.raises(ValueError, match=r"unknown estimator.*knn"):
        plot.estimator_panel(two, estimators=["binning", "knn"])
    with pytest.raises(ValueError, match=r"2 estimators.*estimator=.*estimator_panel"):
        plot.information_plane(two)
    splits = Results.from_rows(_rows(split="a") + _rows(split="b"))
    with pytest.raises(ValueError, match=r"2 split values \('a', 'b'\); pass split="):
        plot.information_plane(splits)
    with pytest.raises(ValueError, match=r"no results with split='c'"):
        plot.information_plane(splits, split="c")
    runs = Results.from_rows(_rows(run="r1") + _rows(run="r2"))
    with pytest.raises(ValueError, match=r"run values.*pass run="):
        plot.information_plane(runs)
    with pytest.raises(ValueError, match=r"seed\(s\) \[5\] not in the table"):
        plot.information_plane(_table(), seeds=[5])
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['nope'\]"):
        plot.information_plane(_table(), layers=["nope"])
    with pytest.raises(ValueError, match="no results to plot in epoch_range"):
        plot.information_plane(_table(), epoch_range=(400, None))
    mixed = Results.from_rows(_rows(epochs=(1,)) + _rows(epochs=(2,), units="nats"))
    with pytest.raises(ValueError, match="mixes units"):
        plot.information_plane(mixed)
    with pytest.raises(TypeError, match="Results table or a run directory"):
        plot.information_plane([1, 2])
    with pytest.raises(ValueError, match="quantity must be"):
        plot.information_curves(_table(), quantity="h_x")


def test_split_defaults_to_train_and_params_selection():
    res = Results.from_rows(_rows(split="test") + _rows(split="train", run="demo"))
    _fig, ax = plot.information_plane(res)
    assert "train" in ax.get_title()
    kde = Results.from_rows(
        _rows(estimator="kde", params={"bound": "upper", "sigma2": 0.001})
        + _rows(estimator="kde", params={"bound": "lower", "sigma2": 0.001},
                values=lambda i, e, s: (1.0, 0.5))
    )
    with pytest.raises(ValueError, match=r"2 parameter sets.*params="):
        plot.information_plane(kde)
    _fig, ax = plot.information_plane(kde, params={"bound": "lower"})
    assert ax.get_xlabel() == "KDE lower-bound I(X;T) [bits]"
    assert np.all(_by_gid(ax.collections, "points:")[0].get_offsets() == [1.0, 0.5])
    with pytest.raises(ValueError, match=r"2 parameter sets of this estimator match"):
        plot.information_plane(kde, params={"sigma2": 0.001})
    with pytest.raises(ValueError, match=r"no parameter set.*match"):
        plot.information_plane(kde, params={"bound": "middle"})


# --------------------------------------------------------------------------------------------
# estimator_panel, information_curves
# --------------------------------------------------------------------------------------------


def _three_estimators():
    return Results.from_rows(
        _rows(estimator="binning")
        + _rows(estimator="kde", params={"bound": "upper"}, epochs=(0, 1, 3, 10))
        + _rows(estimator="dsmi", epochs=(3, 10, 30, 300, 2000))
    )


def test_estimator_panel_shares_one_colour_scale():
    fig, axes = plot.estimator_panel(_three_estimators())
    assert len(axes) == 3
    (cax,) = _colorbars(fig)
    assert set(fig.axes) == {*axes, cax}
    norm = cax._colorbar.norm
    assert (norm.vmin, norm.vmax) == (0, 2000)
    assert isinstance(norm, mcolors.SymLogNorm)  # starts at 0, spans > 2 decades
    for ax in axes:
        points = _by_gid(ax.collections, "points:")
        assert len(points) == len(LAYERS)
        assert all(p.norm is norm for p in points)
    assert [ax.get_xlabel() for ax in axes] == [
        "binned I(X;T) [bits]", "KDE upper-bound I(X;T) [bits]", "DSMI(X;T) [bits]"]
    assert axes[1].get_title().startswith("KDE")
    # chosen estimators, in the given order, two per row: the empty cell is removed
    fig, axes = plot.estimator_panel(_three_estimators(), estimators=["dsmi", "binning"],
                                     ncols=1)
    assert [ax.get_xlabel()[:4] for ax in axes] == ["DSMI", "binn"]
    assert len(_colorbars(fig)) == 1
    fig, axes = plot.estimator_panel(_three_estimators(), ncols=2)
    # 2 x 2 grid, 3 panels: the spare cell holds the legend (no empty cell)
    (cell,) = [a for a in fig.axes if a not in axes and a.get_label() != "<colorbar>"]
    assert len(axes) == 3 and len(fig.axes) == 5
    assert cell.get_legend() is not None and not cell.axison and not fig.legends


def test_information_curves_one_line_per_layer():
    fig, axes = plot.information_curves(_table())
    assert len(axes) == 2
    for ax, q in zip(axes, ("i_xt", "i_ty"), strict=True):
        curves = _by_gid(ax.lines, "curve:")
        assert [c.get_label() for c in curves] == list(LAYERS)
        for i, c in enumerate(curves):
            np.testing.assert_array_equal(c.get_xdata(), EPOCHS)
            want = [_values(i, e)[0 if q == "i_xt" else 1] for e in EPOCHS]
            np.testing.assert_array_equal(c.get_ydata(), want)
        assert ax.get_xscale() == "log"  # 1..300
        assert ax.get_xlabel() == "epoch"
    assert axes[0].get_ylabel() == "binned I(X;T) [bits]"
    assert axes[1].get_ylabel() == "binned I(T;Y) [bits]"
    fig, axes = plot.information_curves(_table(epochs=(0, 5, 10)), quantity="i_ty")
    assert len(axes) == 1 and axes[0].get_xscale() == "linear"
    assert axes[0].get_ylabel() == "binned I(T;Y) [bits]"
    fig, axes = plot.information_curves(_table(epochs=(0, 5, 1000)), quantity="i_xt")
    assert axes[0].get_xscale() == "symlog"


def test_information_curves_seed_band_and_ceilings(tmp_path):
    d = _run_dir(tmp_path, _rows(seeds=(0, 1, 2, 3)))
    fig, axes = plot.information_curves(d)
    for ax, col in zip(axes, (0, 1), strict=True):
        bands = _by_gid(ax.collections, "band:")
        assert len(bands) == len(LAYERS)
        assert all(isinstance(b, PolyCollection) for b in bands)
        for i, c in enumerate(_by_gid(ax.lines, "curve:")):
            vals = np.array([[_values(i, e, s)[col] for e in EPOCHS] for s in range(4)])
            np.testing.assert_allclose(c.get_ydata(), vals.mean(axis=0), rtol=1e-12)
    (hx,) = _by_gid(axes[0].lines, "ceiling:H(X)")
    (hy,) = _by_gid(axes[1].lines, "ceiling:H(Y)")
    assert list(hx.get_ydata()) == [12.0, 12.0] and list(hy.get_ydata()) == [0.75, 0.75]
    assert "mean of 4 seeds" in fig.get_suptitle()


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def test_render_png():
    from PIL import Image

    fig, _ax = plot.information_plane(_table(seeds=(0, 1)))
    data = plot.render_png(fig, dpi=120)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    assert width > 500 and height > 400


def test_save_formats(tmp_path):
    fig, _axes = plot.estimator_panel(_three_estimators())
    pdf = plot.save(fig, tmp_path / "panel.pdf")
    svg = plot.save(fig, tmp_path / "panel.svg")
    png = plot.save(fig, tmp_path / "panel.PNG", dpi=80)
    assert open(pdf, "rb").read(5) == b"%PDF-"
    assert "<svg" in open(svg, encoding="utf-8").read(2000)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"suffix \.jpg.*\.png, \.pdf, \.svg"):
        plot.save(fig, tmp_path / "panel.jpg")
    with pytest.raises(ValueError, match="suffix missing"):
        plot.save(fig, tmp_path / "panel")


def test_config_json_is_only_read(tmp_path):
    d = _run_dir(tmp_path, _rows())
    before = (d / "config.json").read_text()
    plot.information_plane(d)
    assert (d / "config.json").read_text() == before
    assert json.loads(before)["probes"]["train"]["h_x_bits"] == 12.0


def test_plane_grid_without_colorbars_and_with_a_shared_norm():
    import matplotlib.pyplot as plt

    res = _table()
    fig, axes = plt.subplots(1, 2)
    shared = mcolors.Normalize(0, 1000)
    for a in axes:
        plot.information_plane(res, ax=a, colorbar=False, norm=shared, legend=False)
    assert _colorbars(fig) == []
    for a in axes:
        for p in _by_gid(a.collections, "points:"):
            assert p.norm is shared
    plt.close(fig)


def test_subsampled_estimator_ceiling_is_log2_of_its_sample(tmp_path):
    """An estimator on a 1024-sample subset of a 4096-sample probe can reach at most
    log2 1024 = 10 bits of I(X;T), not H(X) = 12; a subset larger than the probe changes
    nothing; the H(Y) line stays."""
    sub = {"estimator": "kde", "subsample": 1024, "subsample_seed": 0}
    d = _run_dir(tmp_path, _rows(estimator="kde", params=sub))
    _fig, ax = plot.information_plane(d)
    assert _by_gid(ax.lines, "ceiling:H(X)")[0].get_xdata()[0] == pytest.approx(10.0)
    assert _by_gid(ax.lines, "ceiling:H(Y)")[0].get_ydata()[0] == pytest.approx(0.75)
    big = tmp_path / "big"
    big.mkdir()
    d2 = _run_dir(big, _rows(estimator="kde", params={**sub, "subsample": 100_000}))
    _fig, ax = plot.information_plane(d2)
    assert _by_gid(ax.lines, "ceiling:H(X)")[0].get_xdata()[0] == pytest.approx(12.0)


def test_dsmi_gets_no_dpi_marks_and_no_ceilings(tmp_path):
    """DSMI is not Shannon information: the same violating values that binning gets marked
    for draw no DPI marks and no H(X)/H(Y) lines for DSMI, in the plane and in the panel;
    `infoplane plot` says it did not check it."""
    rows = _rows(values=_violating) + _rows(values=_violating, estimator="dsmi",
                                            params={"estimator": "dsmi", "sigma": 10.0})
    d = _run_dir(tmp_path, rows)
    assert not is_shannon("dsmi") and is_shannon("binning") and "dsmi" in NOT_SHANNON
    assert len(dpi_violations(Results.from_rows(rows))) == 2  # the check itself is neutral
    _fig, ax = plot.information_plane(d, estimator="dsmi")
    assert _by_gid(ax.collections, "dpi-violations") == []
    assert _by_gid(ax.lines, "ceiling:") == []
    assert "not Shannon" in ax.get_title()
    _fig, ax = plot.information_plane(d, estimator="binning")
    assert len(_by_gid(ax.collections, "dpi-violations")) == 1
    assert len(_by_gid(ax.lines, "ceiling:")) == 2
    _fig, axes = plot.estimator_panel(d)
    assert [len(_by_gid(a.collections, "dpi-violations")) for a in axes] == [1, 0]
    assert [len(_by_gid(a.lines, "ceiling:")) for a in axes] == [2, 0]
    assert "no DPI check" in axes[1].get_title() and "1 DPI" in axes[0].get_title()
    from infoplane.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plot", str(d), "--kind", "panel", "-o", str(tmp_path / "p.png")]) == 0
    text = out.getvalue()
    assert "not checked: dsmi" in text and "1 violation(s)" in text
    assert "range check:" in text  # the Shannon rows are also checked against 0 and H
    assert "  binning  I(X;T): 1" in text and "  dsmi " not in text


def test_dsmi_curves_have_no_ceilings(tmp_path):
    rows = _rows(estimator="dsmi", params={"estimator": "dsmi", "sigma": 10.0})
    d = _run_dir(tmp_path, rows)
    _fig, axes = plot.information_curves(d)
    assert all(_by_gid(a.lines, "ceiling:") == [] for a in axes)
    (tmp_path / "b").mkdir()
    _fig, axes = plot.information_curves(_run_dir(tmp_path / "b", _rows()))
    assert [len(_by_gid(a.lines, "ceiling:")) for a in axes] == [1, 1]


def _with_nonfinite(i, e, s):
    x, y = _values(i, e, s)
    if (i, e) == (1, 3):
        return -math.inf, y
    if (i, e) == (2, 30):
        return x, math.nan
    if (i, e) == (0, 10):
        return math.inf, y
    return x, y


def test_plane_notes_nonfinite_points_never_drops_them_silently():
    res = _table(values=_with_nonfinite)
    fig, ax = plot.information_plane(res, estimator="binning")
    (note,) = [t for t in ax.texts if t.get_gid() == "nonfinite-note"]
    assert note.get_text() == "3 non-finite point(s) (NaN / ±inf) not drawn"
    labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else [
        t.get_text() for t in ax.get_legend().get_texts()]
    assert note.get_text() in labels
    points = _by_gid(ax.collections, "points:")
    assert sum(len(p.get_offsets()) for p in points) == 3 * len(EPOCHS) - 3
    fig, ax = plot.information_plane(_table(), estimator="binning")  # all finite: no note
    assert [t for t in ax.texts if t.get_gid() == "nonfinite-note"] == []


def test_curves_mark_nonfinite_points_at_the_axis_edge():
    res = _table(values=_with_nonfinite)
    fig, axes = plot.information_curves(res, estimator="binning")
    ax_xt, ax_ty = axes
    (mark,) = _by_gid(ax_xt.collections, "nonfinite:hidden")
    assert mark.get_offsets().tolist() == [[3.0, 0.0]]  # -inf: bottom edge (axes fraction 0)
    (top,) = _by_gid(ax_xt.collections, "nonfinite:dense")
    assert top.get_offsets().tolist() == [[10.0, 1.0]]  # +inf: top edge
    (nan_mark,) = _by_gid(ax_ty.collections, "nonfinite:out")
    assert nan_mark.get_offsets().tolist() == [[30.0, 0.0]]
    lo, hi = ax_xt.get_ylim()  # the marks do not stretch the value axis
    assert lo > 0.5 and hi < 11.0
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "3 non-finite point(s) (NaN / ±inf) marked x at the axis edge" in labels
    _, axes = plot.information_curves(_table(), estimator="binning")
    assert _by_gid(axes[0].collections, "nonfinite:") == []


# --------------------------------------------------------------------------------------------
# figures for papers: small spans, intervals, overlays, widths, colours, sizes
# --------------------------------------------------------------------------------------------


def test_padded_limits_is_pure_and_symmetric():
    from infoplane.report.figures.style import min_span, padded_limits

    lo, hi = padded_limits(1.0, 1.0014, 0.05)
    assert hi - lo == pytest.approx(0.05) and (lo + hi) / 2 == pytest.approx(1.0007)
    assert padded_limits(0.0, 1.0, 0.05) == (0.0, 1.0)  # wide enough: unchanged
    assert padded_limits(2.0, 2.0, 0.05) == pytest.approx((1.975, 2.025))
    assert padded_limits(-math.inf, 1.0, 0.05) == (-math.inf, 1.0)
    assert min_span("bits") == 0.05 and min_span("nats") == pytest.approx(0.05 * math.log(2))


def test_an_axis_never_zooms_into_noise():
    """A 0.0014-bit range of I(T;Y) is noise: padded to 0.05 bits, no offset label."""
    def flat(i, e, s):
        return 10.0 - 3.0 * i - 0.01 * e, 0.999 + 0.0014 * (e / 300)

    fig, ax = plot.information_plane(_table(values=flat, layers=("a",)))
    lo, hi = ax.get_ylim()
    assert hi - lo >= 0.05 - 1e-12
    assert (lo + hi) / 2 == pytest.approx(0.999 + 0.0007, abs=2e-4)
    plot.render_png(fig, dpi=40)
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert ax.get_xlim()[1] - ax.get_xlim()[0] > 2  # the wide axis is left as it is
    _fig, axes = plot.information_curves(_table(values=flat, layers=("a",)))
    lo, hi = axes[1].get_ylim()
    assert hi - lo >= 0.05 - 1e-12


def _interval_rows(finite=True, **kw):
    rows = _rows(**kw)
    for r in rows:
        d = 0.2 if finite else math.nan
        r.update(i_xt_lo=r["i_xt"] - d, i_xt_hi=r["i_xt"] + 2 * d, i_ty_lo=r["i_ty"] - d / 4,
                 i_ty_hi=r["i_ty"] + d / 4)
    return rows


def test_interval_bars_drawn_iff_the_interval_columns_are_finite():
    res = Results.from_rows(_interval_rows())
    assert "i_xt_lo" in res.columns
    fig, ax = plot.information_plane(res)
    bars = _by_gid(ax.collections, "interval:dense")
    assert len(bars) == 2  # horizontal (I(X;T)) and vertical (I(T;Y))
    horizontal = np.array(bars[0].get_segments())  # (E, 2, 2): from (lo, y) to (hi, y)
    xs = np.array([_values(0, e)[0] for e in EPOCHS])
    np.testing.assert_allclose(horizontal[:, 0, 0], xs - 0.2)
    np.testing.assert_allclose(horizontal[:, 1, 0], xs + 0.4)
    assert len(_by_gid(ax.collections, "interval:")) == 2 * len(LAYERS)
    assert any("confidence interval" in t.get_text() for t in fig.legends[0].get_texts())
    # intervals off (NaN) or no interval columns given: no bars
    for table in (Results.from_rows(_interval_rows(finite=False)), _table()):
        fig, ax = plot.information_plane(table)
        assert _by_gid(ax.collections, "interval:") == []
        assert not any("confidence interval" in t.get_text()
                       for t in fig.legends[0].get_texts())
    # only some rows finite: bars there only
    rows = _interval_rows()
    for r in rows:
        if r["epoch"] != 10:
            r.update(i_xt_lo=math.nan, i_xt_hi=math.nan, i_ty_lo=math.nan, i_ty_hi=math.nan)
    _fig, ax = plot.information_plane(Results.from_rows(rows), layers=["dense"])
    assert [len(b.get_segments()) for b in _by_gid(ax.collections, "interval:")] == [1, 1]


def test_curves_draw_the_interval_as_a_band():
    fig, axes = plot.information_curves(Results.from_rows(_interval_rows()))
    for ax in axes:
        assert len(_by_gid(ax.collections, "interval:")) == len(LAYERS)
    (band,) = _by_gid(axes[1].collections, "interval:out")
    ys = band.get_paths()[0].vertices[:, 1]
    want = [_values(2, e)[1] for e in EPOCHS]
    assert ys.min() == pytest.approx(min(want) - 0.05) and ys.max() == pytest.approx(
        max(want) + 0.05)
    _fig, axes = plot.information_curves(Results.from_rows(_interval_rows(finite=False)))
    assert all(_by_gid(a.collections, "interval:") == [] for a in axes)


def test_overlay_of_two_runs_names_both_in_the_legend():
    a, b = _table(run="tanh"), _table(run="relu", values=lambda i, e, s: (5.0 - i, 0.5))
    fig, ax = plot.information_plane([a, b], layers=["dense", "out"])
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "tanh" in texts and "relu" in texts and "dense" in texts
    lines = _by_gid(ax.lines, "trajectory:")
    styles = {ln.get_gid(): ln.get_linestyle() for ln in lines}
    assert styles["trajectory:dense@tanh"] == "-" and styles["trajectory:dense@relu"] == "--"
    assert len(_by_gid(ax.collections, "points:")) == 4
    assert ax.get_title().startswith("tanh vs relu · train")
    assert len(_colorbars(fig)) == 1
    # one table holding both runs: run=[...]
    fig, ax = plot.information_plane(Results.from_rows(_rows(run="tanh") + _rows(run="relu")),
                                     run=["tanh", "relu"], labels=["T", "R"])
    assert {"T", "R"} <= {t.get_text() for t in fig.legends[0].get_texts()}
    fig, axes = plot.information_curves([a, b], quantity="i_ty")
    assert {"tanh", "relu"} <= {t.get_text() for t in fig.legends[0].get_texts()}
    assert len(_by_gid(axes[0].lines, "curve:")) == 2 * len(LAYERS)
    with pytest.raises(ValueError, match="label"):
        plot.information_plane([a, b], labels=["only one"])


def test_color_by_layer_has_no_colour_bar():
    fig, ax = plot.information_plane(_table(), color_by="layer")
    assert _colorbars(fig) == []
    colours = {tuple(p.get_facecolors()[0].round(3)) for p in _by_gid(ax.collections, "points:")}
    assert len(colours) == len(LAYERS)
    fig, _axes = plot.estimator_panel(_three_estimators(), color_by="layer")
    assert _colorbars(fig) == []
    with pytest.raises(ValueError, match="color_by"):
        plot.information_plane(_table(), color_by="seed")


def test_layer_labels_carry_widths_and_the_widest_layer_is_drawn_underneath(tmp_path):
    widths = {"dense": 3, "hidden": 10, "out": 2}
    fig, ax = plot.information_plane(_table(), widths=widths)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:3] == ["dense (3)", "hidden (10)", "out (2)"]
    pts = {p.get_gid(): p for p in _by_gid(ax.collections, "points:")}
    # hidden (10) widest: lowest z-order and the largest markers; out (2) on top, smallest
    z = {g: p.get_zorder() for g, p in pts.items()}
    assert z["points:hidden"] < z["points:dense"] < z["points:out"]
    sizes = {g: p.get_sizes()[0] for g, p in pts.items()}
    assert sizes["points:hidden"] > sizes["points:dense"] > sizes["points:out"]
    assert all(p.get_alpha() < 1 for p in pts.values())
    _fig, axes = plot.information_curves(_table(), widths={"dense": 3})
    assert [t.get_text() for t in _fig.legends[0].get_texts()][:2] == ["dense (3)", "hidden"]
    # from a run directory: the MLP preset in config.json, then the stored activations
    rows = _rows(layers=("layers.0", "layers.1", "output"))
    d = _run_dir(tmp_path, rows)
    cfg = json.loads((d / "config.json").read_text())
    write_json(d / "config.json", {**cfg, "preset_settings": {"model": "mlp",
                                                               "hidden": [10, 7]}})
    fig, _ax = plot.information_plane(d)
    assert [t.get_text() for t in fig.legends[0].get_texts()][:3] == [
        "layers.0 (10)", "layers.1 (7)", "output"]
    from infoplane.store.activations import ActivationStore

    ActivationStore(d).write(0, "train", 1, {"layers.0": np.zeros((4, 10), np.float32),
                                             "layers.1": np.zeros((4, 7), np.float32),
                                             "output": np.zeros((4, 2, 1), np.float32)})
    fig, _ax = plot.information_plane(d)
    assert [t.get_text() for t in fig.legends[0].get_texts()][:3] == [
        "layers.0 (10)", "layers.1 (7)", "output (2)"]
    fig, _ax = plot.information_plane(d, widths=None)
    assert [t.get_text() for t in fig.legends[0].get_texts()][:3] == [
        "layers.0", "layers.1", "output"]


def test_planes_drawn_into_one_figure_share_one_colour_bar():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(12, 6), layout="constrained")
    for i, a in enumerate(axes.ravel()):
        plot.information_plane(_table(epochs=(1, 10 * (i + 1))), ax=a, legend=False)
    (cax,) = _colorbars(fig)
    norm = cax._colorbar.norm
    assert (norm.vmin, norm.vmax) == (1, 80)
    for a in axes.ravel():  # every plane recoloured on the shared scale
        assert all(p.norm is norm for p in _by_gid(a.collections, "points:"))
    plot.render_png(fig, dpi=30)
    plt.close(fig)
    fig, ax = plot.information_plane(_table(), colorbar=False)
    assert _colorbars(fig) == []


def test_ceiling_labels_sit_above_the_markers(tmp_path):
    _fig, ax = plot.information_plane(_run_dir(tmp_path, _rows()))
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("ceiling-label:")]
    assert len(labels) == 2
    top = max(p.get_zorder() for p in ax.collections)
    for t in labels:
        assert t.get_zorder() > top and t.get_bbox_patch() is not None
        assert t.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_panel_grids_leave_no_empty_cell():
    from infoplane.report.figures.style import panel_grid

    assert [panel_grid(n, None) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 3), (4, 2)]
    four = Results.from_rows(_rows(estimator="binning") + _rows(estimator="kde")
                             + _rows(estimator="dsmi") + _rows(estimator="knn"))
    fig, axes = plot.estimator_panel(four)
    assert len(axes) == 4 and len(fig.axes) == 5  # 2 x 2 + colour bar; legend below
    assert fig.legends
    fig, axes = plot.estimator_panel(four, legend=False, ncols=3)
    assert len(fig.axes) == 5  # the two spare cells removed
    assert len(_colorbars(fig)) == 1


def test_figsize_and_title():
    fig, ax = plot.information_plane(_table(), figsize=(3.4, 2.8), title="Figure 2")
    assert tuple(fig.get_size_inches()) == (3.4, 2.8) and ax.get_title() == "Figure 2"
    fig, _axes = plot.information_curves(_table(), figsize=(7, 2.5), title="curves")
    assert tuple(fig.get_size_inches()) == (7, 2.5) and fig.get_suptitle() == "curves"
    fig, _axes = plot.estimator_panel(_three_estimators(), figsize=(9, 3), title="panel")
    assert tuple(fig.get_size_inches()) == (9, 3) and fig.get_suptitle() == "panel"
