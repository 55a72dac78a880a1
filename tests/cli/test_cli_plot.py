"""`infoplane plot` options for paper figures: --title, --dpi, --size, --layers, several runs
overlaid, --color-by, widths in the legend. Run directories made by hand (no training)."""

from __future__ import annotations

import contextlib
import io

import pytest

from infoplane import cli
from infoplane import plot as figures
from infoplane.store.atomic import write_json
from infoplane.store.tables import ResultsWriter

LAYERS = ("layers.0", "layers.1", "layers.2", "output")
EPOCHS = (0, 1, 5, 30)


def _run(tmp_path, name, shift=0.0):
    d = tmp_path / name
    d.mkdir()
    rows = [dict(run=name, seed=0, split="train", epoch=e, layer=layer, estimator="binning",
                 i_xt=11.0 - 2 * i - 0.01 * e + shift, i_ty=0.9 - 0.1 * i + 0.001 * e,
                 units="bits", params={"estimator": "binning", "n_bins": 30})
            for e in EPOCHS for i, layer in enumerate(LAYERS)]
    with ResultsWriter(d) as w:
        w.write(rows)
    write_json(d / "config.json", {
        "run": name, "preset_settings": {"model": "mlp", "hidden": [10, 7, 5]},
        "probes": {"train": {"n": 4096, "x_shape": [12], "h_x_bits": 12.0, "h_y_bits": 1.0}}})
    return d


@pytest.fixture
def drawn(monkeypatch):
    """The figures `infoplane plot` saves, with their save arguments."""
    saved = []
    real = figures.save

    def save(fig, path, **kw):
        saved.append((fig, kw))
        return real(fig, path, **kw)

    monkeypatch.setattr(figures, "save", save)
    return saved


def _legend_texts(fig):
    legends = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend()]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_title_dpi_and_size_give_an_exact_file(tmp_path, drawn, capsys):
    from PIL import Image

    d = _run(tmp_path, "a")
    out = tmp_path / "fig.png"
    assert cli.main(["plot", str(d), "--title", "Figure 2", "--dpi", "200", "--size",
                     "3.4,2.8", "-o", str(out)]) == 0
    ((fig, kw),) = drawn
    assert fig.axes[0].get_title() == "Figure 2"
    assert tuple(fig.get_size_inches()) == (3.4, 2.8) and kw == {"dpi": 200, "tight": False}
    with Image.open(out) as img:
        assert img.size == (680, 560)
        assert img.info["dpi"] == pytest.approx((200, 200), abs=0.1)
    assert cli.main(["plot", str(d), "-o", str(tmp_path / "default.png")]) == 0
    assert drawn[1][1] == {"dpi": 300, "tight": True}  # the default: >= 150 dpi
    for bad in ("3.4", "a,b", "0,2", "3,4,5"):
        assert cli.main(["plot", str(d), "--size", bad]) == 2
        assert "--size" in capsys.readouterr().err


def test_layers_subset_and_widths_in_the_legend(tmp_path, drawn, capsys):
    d = _run(tmp_path, "a")
    assert cli.main(["plot", str(d), "--layers", "layers.2,layers.1",
                     "-o", str(tmp_path / "p.png")]) == 0
    ((fig, _kw),) = drawn
    ax = fig.axes[0]
    gids = [ln.get_gid() for ln in ax.lines if (ln.get_gid() or "").startswith("trajectory:")]
    assert gids == ["trajectory:layers.2", "trajectory:layers.1"]
    assert _legend_texts(fig)[:2] == ["layers.2 (5)", "layers.1 (7)"]
    capsys.readouterr()
    assert cli.main(["plot", str(d), "--kind", "curves", "--layers", "output",
                     "-o", str(tmp_path / "c.png")]) == 0
    assert _legend_texts(drawn[1][0])[0] == "output"  # width unknown: the bare name
    capsys.readouterr()
    assert cli.main(["plot", str(d), "--layers", "layers.9,layers.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown layer(s) ['layers.9']" in err
    assert all(layer in err for layer in LAYERS)


def test_several_runs_overlaid_in_one_figure(tmp_path, drawn, capsys):
    a, b = _run(tmp_path, "tanh"), _run(tmp_path, "relu", shift=-0.5)
    assert cli.main(["plot", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    default = a / "figures" / "plane-binning-vs-relu.png"
    assert f"wrote {default}" in out and default.is_file()
    assert f"{a}:" in out and f"{b}:" in out  # the checks of each run
    ((fig, _kw),) = drawn
    texts = _legend_texts(fig)
    assert "tanh" in texts and "relu" in texts
    assert fig.axes[0].get_title().startswith("tanh vs relu")
    styles = {ln.get_linestyle() for ln in fig.axes[0].lines
              if (ln.get_gid() or "").startswith("trajectory:layers.0@")}
    assert styles == {"-", "--"}
    for kind in ("curves", "panel"):
        assert cli.main(["plot", str(a), str(b), "--kind", kind,
                         "-o", str(tmp_path / f"{kind}.png")]) == 0
        assert {"tanh", "relu"} <= set(_legend_texts(drawn[-1][0])), kind
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    assert cli.main(["plot", str(a), str(tmp_path / "empty")]) == 2
    assert "no results.csv" in capsys.readouterr().err


def test_color_by_layer(tmp_path, drawn):
    d = _run(tmp_path, "a")
    assert cli.main(["plot", str(d), "--color-by", "layer", "-o", str(tmp_path / "p.png")]) == 0
    ((fig, _kw),) = drawn
    assert not [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert cli.main(["plot", str(d), "-o", str(tmp_path / "q.png")]) == 0
    assert len([a for a in drawn[1][0].axes if a.get_label() == "<colorbar>"]) == 1


def test_help_names_the_new_options():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["plot", "--help"])
    text = out.getvalue()
    for flag in ("--title", "--dpi", "--size", "--layers", "--color-by", "RUN_DIR [RUN_DIR"):
        assert flag in text, flag
