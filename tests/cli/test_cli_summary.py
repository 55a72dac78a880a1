"""``infoplane summary RUN_DIR``: the verdict table of a run directory (results.csv written
through the store API, a known drop), ``--csv``, the filters and the usage errors."""

from __future__ import annotations

import csv

import pytest

from infoplane import cli
from infoplane.store.tables import RESULT_COLUMNS, ResultsWriter

EPOCHS = (0, 1, 5, 10, 30)
# layer1 rises to 5 bits at epoch 10 and falls to 4 (per-seed drops 1.1, 0.9, 1.0);
# layer2 keeps rising
CURVES = {"layer1": [[1.0, 3.0, 4.5, 5.05, 3.95], [1.0, 3.0, 4.5, 4.95, 4.05],
                     [1.0, 3.0, 4.5, 5.0, 4.0]],
          "layer2": [[0.5, 1.0, 2.0, 3.0, 4.0]] * 3}


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    rows = [dict(run="demo", seed=s, split=split, epoch=e, layer=layer, estimator=est,
                 params={"n_bins": 30} if est == "binning" else {"bound": "upper"},
                 i_xt=v, i_ty=0.5, units="bits")
            for split in ("train", "test") for est in ("binning", "kde")
            for layer, curves in CURVES.items()
            for s, vals in enumerate(curves) for e, v in zip(EPOCHS, vals, strict=True)]
    with ResultsWriter(d) as w:
        w.write(rows)
    return d


def test_summary_prints_the_verdicts(run_dir, capsys):
    assert cli.main(["summary", str(run_dir), "--split", "train", "--estimator", "binning"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row1 = next(ln for ln in lines if " layer1 " in ln)
    row2 = next(ln for ln in lines if " layer2 " in ln)
    assert "compresses" in row1 and "5.000@10" in row1 and "1.000 bits" in row1
    assert "does not" in row2 and "still rising" in row2
    assert not any(" test " in ln or ln.lstrip().startswith("kde") for ln in lines)
    assert lines[-1].startswith("Rule: ") and "0.1 bits" in lines[-1]


def test_summary_every_split_and_csv(run_dir, tmp_path, capsys):
    out_csv = tmp_path / "out" / "verdict.csv"
    assert cli.main(["summary", str(run_dir), "--csv", str(out_csv), "--min-drop", "2"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {out_csv}" in out and "2 bits" in out
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2  # splits x estimators x layers
    layer1 = [r for r in rows if r["layer"] == "layer1"]
    # the drop of 1 bit is below --min-drop 2 with the interval [0.75, 1.25]
    assert {r["verdict"] for r in layer1} == {"does not"}
    assert {r["split"] for r in rows} == {"train", "test"}
    assert float(layer1[0]["drop"]) == pytest.approx(1.0)
    assert "peak_epoch" in rows[0] and rows[0]["peak_epoch"] == "10"


def test_summary_bad_input(run_dir, tmp_path, capsys):
    assert cli.main(["summary", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["summary", str(empty)]) == 2
    assert "no results.csv" in capsys.readouterr().err
    (empty / "results.csv").write_text(",".join(RESULT_COLUMNS) + "\n")
    assert cli.main(["summary", str(empty)]) == 2
    assert "no results yet" in capsys.readouterr().err
    assert cli.main(["summary", str(run_dir), "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert "unknown split 'val'" in err and "train" in err
    assert cli.main(["summary", str(run_dir), "--estimator", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown estimator 'nope'" in err and "binning" in err
    assert cli.main(["summary", str(run_dir), "--min-drop", "-1"]) == 2
    assert "--min-drop" in capsys.readouterr().err
