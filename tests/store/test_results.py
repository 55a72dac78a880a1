"""`infoplane.store.results`: the Results table and `load_results`."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from infoplane.store.results import Results, concat, load_results
from infoplane.store.tables import INTERVAL_COLUMNS, RESULT_COLUMNS, ResultsFileWarning
from tests.store.test_tables import PARAMS_K, make_rows, write

# ------------------------------------------------------------------------------ load_results


def test_load_results_dir_and_csv_and_missing(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    rows = make_rows()
    write(run / "results.csv", rows)
    assert load_results(run).rows() == load_results(run / "results.csv").rows()
    assert load_results(str(run)).rows() == Results.from_rows(rows).rows()
    with pytest.raises(FileNotFoundError, match="results.csv") as err:
        load_results(tmp_path)  # a directory without results.csv
    assert str(tmp_path) in str(err.value) and "config.json" in str(err.value)
    with pytest.raises(FileNotFoundError, match="run directory") as err:
        load_results(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(err.value)


def test_load_results_reads_cli_style_file(tmp_path):
    # the format infoplane.cli wrote before ResultsWriter: csv.DictWriter, \r\n line ends
    rows = make_rows()
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    assert load_results(tmp_path).rows() == Results.from_rows(rows).rows()
    write(tmp_path, rows[:1])  # appending to it works
    with pytest.warns(ResultsFileWarning, match="1 row"):
        assert len(load_results(tmp_path)) == len(rows)


# ------------------------------------------------------------------------------- the table


@pytest.fixture
def table():
    rows = make_rows(seed=0) + make_rows(seed=1, rng=np.random.default_rng(1))
    rows += make_rows(seed=0, split="test", epochs=(0, 10), rng=np.random.default_rng(2))
    return Results.from_rows(rows), rows


def test_where_unique_rows(table):
    res, rows = table
    assert len(res) == len(rows)
    assert res.columns == RESULT_COLUMNS
    assert res.unique("estimator") == ["binning", "kde"]
    assert res.unique("seed") == [0, 1]
    assert res.unique("split") == ["all", "test"]
    sub = res.where(estimator="binning", layer="layer1")
    assert set(sub.unique("estimator")) == {"binning"} and sub.unique("layer") == ["layer1"]
    assert len(sub) == sum(r["estimator"] == "binning" and r["layer"] == "layer1" for r in rows)
    assert len(res.where(layer=["layer1", "layer2"])) == len(res)
    assert len(res.where(layer=("layer1",), seed=1)) == 6
    assert len(res.where(seed=[0, 1], split="test")) == 8
    assert len(res.where(params=json.loads(PARAMS_K))) == len(res) // 2
    assert len(res.where(layer="nope")) == 0
    off = dict.fromkeys(INTERVAL_COLUMNS)  # intervals off: None in rows()
    assert res.where(seed=0, split="all").rows() == [
        {**r, **off} for r in rows if r["seed"] == 0 and r["split"] == "all"
    ]
    with pytest.raises(ValueError, match="no column 'layers'"):
        res.where(layers="layer1")
    with pytest.raises(KeyError, match="no column"):
        res["nope"]
    with pytest.raises(ValueError, match="read-only"):
        res["i_xt"][0] = 1.0


def test_series_sorted_and_ambiguity(tmp_path):
    rows = make_rows(epochs=(10, 0, 1000, 1))
    res = Results.from_rows(rows)
    e, ixt, ity = res.series(estimator="kde", layer="layer2")
    assert e.tolist() == [0, 1, 10, 1000]
    want = {
        r["epoch"]: (r["i_xt"], r["i_ty"])
        for r in rows
        if r["estimator"] == "kde" and r["layer"] == "layer2"
    }
    assert ixt.tolist() == [want[k][0] for k in e.tolist()]
    assert ity.tolist() == [want[k][1] for k in e.tolist()]
    assert e.dtype == np.int64 and ixt.dtype == np.float64

    both = concat([res, Results.from_rows(make_rows(seed=3, split="test"))])
    with pytest.raises(ValueError, match="ambiguous") as err:
        both.series(estimator="kde", layer="layer2")
    msg = str(err.value)
    assert "seed values (0, 3)" in msg and "split values ('all', 'test')" in msg
    assert "pass seed=" in msg
    e2, _, _ = both.series(estimator="kde", layer="layer2", seed=3)
    assert e2.tolist() == [0, 1, 10]
    with pytest.raises(ValueError, match=r"no rows with seed=7; values that exist: 0, 3"):
        both.series(estimator="kde", layer="layer2", seed=7)
    with pytest.raises(ValueError, match="estimators: 'binning', 'kde'"):
        both.series(estimator="ksg", layer="layer2")

    two_params = Results.from_rows(rows + [dict(r, params='{"sigma2": 0.1}') for r in rows])
    with pytest.raises(ValueError, match="params values"):
        two_params.series(estimator="kde", layer="layer1")
    e3, _, _ = two_params.series(estimator="kde", layer="layer1", params={"sigma2": 0.1})
    assert len(e3) == 4
    dup = Results.from_rows(rows + rows[:1])
    with pytest.raises(ValueError, match=r"epoch\(s\) \[10\] appear more than once"):
        dup.series(estimator="binning", layer="layer1")


def test_params(table):
    res, _ = table
    assert res.params("binning") == {"estimator": "binning", "n_bins": 29, "units": "bits"}
    with pytest.raises(ValueError, match="no rows with estimator 'x'"):
        res.params("x")
    two = concat([res, Results.from_rows(make_rows(estimators=(("kde", "{}"),)))])
    with pytest.raises(ValueError, match="2 parameter sets"):
        two.params("kde")


def test_from_rows_concat_repr(table):
    res, rows = table
    with pytest.raises(ValueError, match=r"row 0 lacks column\(s\) \['units'\]"):
        Results.from_rows([{k: v for k, v in rows[0].items() if k != "units"}])
    empty = Results.from_rows([])
    assert len(empty) == 0 and repr(empty) == "Results(0 rows)"
    assert len(concat([])) == 0
    parts = [res.where(seed=0), res.where(seed=1)]
    joined = concat(parts)
    assert len(joined) == len(res)
    assert joined.rows() == parts[0].rows() + parts[1].rows()
    r = repr(res)
    assert f"{len(rows)} rows" in r and "'binning', 'kde'" in r and "epochs 0..10" in r
    assert "'layer1', 'layer2'" in r and "runs: 'r'" in r
    with pytest.raises(ValueError, match="differ in length"):
        Results({**{c: res[c] for c in RESULT_COLUMNS}, "epoch": [1]})
    with pytest.raises(ValueError, match="missing"):
        Results({"epoch": [1]})


def test_to_pandas(table, monkeypatch):
    res, _ = table
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="optional"):
            res.to_pandas()
    else:
        df = res.to_pandas()
        assert list(df.columns) == list(RESULT_COLUMNS) and len(df) == len(res)
        assert df["i_xt"].tolist() == res["i_xt"].tolist()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match="optional"):
        res.to_pandas()

