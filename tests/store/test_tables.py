"""`infoplane.store.tables`: results.csv (and the other tables) written, read back, torn by a
killed writer and truncated."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from infoplane.store.results import Results, load_results
from infoplane.store.tables import (
    INTERVAL_COLUMNS,
    LEGACY_RESULT_COLUMNS,
    RESULT_COLUMNS,
    ResultsFileWarning,
    ResultsWriter,
    truncate_results,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMS_B = json.dumps({"estimator": "binning", "n_bins": 29, "units": "bits"}, sort_keys=True)
PARAMS_K = json.dumps({"estimator": "kde", "sigma2": 0.001, "units": "bits"}, sort_keys=True)


def make_rows(
    run="r",
    seed=0,
    split="all",
    epochs=(0, 1, 10),
    layers=("layer1", "layer2"),
    estimators=(("binning", PARAMS_B), ("kde", PARAMS_K)),
    rng=None,
):
    rng = rng or np.random.default_rng(0)
    return [
        {
            "run": run,
            "seed": seed,
            "split": split,
            "epoch": e,
            "layer": layer,
            "estimator": est,
            "i_xt": float(rng.random() * 12),
            "i_ty": float(rng.random()) / 3.0,
            "units": "bits",
            "params": params,
        }
        for est, params in estimators
        for layer in layers
        for e in epochs
    ]


def write(path, rows):
    with ResultsWriter(path) as w:
        w.write(rows)


def lines(path):
    with open(path, newline="") as f:
        return f.read().splitlines()



# ----------------------------------------------------------------------------------- writer


def test_round_trip_exact_floats(tmp_path):
    rows = make_rows()
    rows[0]["i_xt"] = 0.1 + 0.2  # not representable in short decimal
    rows[1]["i_xt"] = float("nan")
    rows[2]["i_ty"] = float("inf")
    rows[3]["i_xt"] = np.float32(1 / 3)  # numpy scalars are accepted
    rows[4]["seed"] = np.int64(0)
    rows[5].update(i_xt_lo=0.1 + 0.2, i_xt_hi=np.float32(2.5), i_ty_lo=float("nan"),
                   i_ty_hi=None)  # NaN / None: an empty field, read back as None
    write(tmp_path, rows)  # a run directory -> results.csv
    res = load_results(tmp_path)
    assert len(res) == len(rows)
    got = res.rows()
    assert got[5]["i_xt_lo"] == 0.1 + 0.2 and got[5]["i_xt_hi"] == 2.5
    assert got[5]["i_ty_lo"] is None and got[5]["i_ty_hi"] is None
    assert all(r[c] is None for r in got[:5] for c in INTERVAL_COLUMNS)
    assert np.isnan(res["i_ty_lo"]).all() and res["i_xt_lo"].dtype == np.float64
    assert lines(tmp_path / "results.csv")[6].endswith(",0.30000000000000004,2.5,,")
    for a, b in zip(got, rows, strict=True):
        for c in LEGACY_RESULT_COLUMNS:
            if c in ("i_xt", "i_ty"):
                va, vb = a[c], float(b[c])
                assert (math.isnan(va) and math.isnan(vb)) or va == vb
            else:
                assert a[c] == b[c]
    assert got[0]["i_xt"] == 0.1 + 0.2
    assert got[3]["i_xt"] == float(np.float32(1 / 3))
    assert res["seed"].dtype == np.int64 and res["epoch"].dtype == np.int64
    assert res["i_xt"].dtype == np.float64 and res["layer"].dtype == object
    assert lines(tmp_path / "results.csv")[0] == ",".join(RESULT_COLUMNS)


def test_params_mapping_is_encoded_as_sorted_json(tmp_path):
    row = make_rows()[0]
    row["params"] = {"n_bins": 29, "estimator": "binning", "units": "bits"}
    write(tmp_path, [row])
    assert load_results(tmp_path)["params"][0] == PARAMS_B


def test_append_two_writers_one_header(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()
    write(path, rows[:5])
    write(path, rows[5:])
    text = lines(path)
    assert text.count(",".join(RESULT_COLUMNS)) == 1
    assert len(text) == 1 + len(rows)
    assert load_results(path).rows() == Results.from_rows(rows).rows()


def test_empty_existing_file_gets_header(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("")
    write(path, make_rows()[:2])
    assert lines(path)[0] == ",".join(RESULT_COLUMNS)
    assert len(load_results(path)) == 2


def test_header_mismatch(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("epoch,train_acc,test_acc,train_loss\n0,0.5,0.5,0.7\n")
    with pytest.raises(ValueError, match="header") as err:
        ResultsWriter(path)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="not a results file"):
        load_results(path)


def test_bad_rows_write_nothing(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()[:3]
    with ResultsWriter(path) as w:
        bad = dict(rows[1])
        del bad["i_ty"]
        with pytest.raises(ValueError, match=r"row 1 lacks column\(s\) \['i_ty'\]"):
            w.write([rows[0], bad])
        with pytest.raises(ValueError, match="unknown column"):
            w.write([dict(rows[0], extra=1)])
        with pytest.raises(TypeError, match="epoch"):
            w.write([dict(rows[0], epoch=1.5)])
        assert w.write([]) == 0
        assert w.write(rows) == 3
    assert len(lines(path)) == 4
    with pytest.raises(ValueError, match="closed"):
        w.write(rows)
    w.close()  # idempotent


def test_fsynced_rows_visible_to_other_process_while_open(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()
    code = (
        "import sys; from infoplane.store.results import load_results; "
        "print(len(load_results(sys.argv[1])))"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with ResultsWriter(path) as w:
        w.write(rows[:4])
        # a separate reader in this process ...
        assert len(load_results(path)) == 4
        # ... and in another process, while the writer is still open
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        assert out.stdout.strip() == "4"
        w.write(rows[4:])
        assert len(load_results(path)) == len(rows)


def test_sigkilled_writer_loses_nothing(tmp_path):
    path = tmp_path / "results.csv"
    code = (
        "import os, signal, sys\n"
        "from infoplane.store.tables import ResultsWriter\n"
        "w = ResultsWriter(sys.argv[1])\n"
        "row = dict(run='r', seed=0, split='all', layer='l', estimator='e', i_xt=0.1, i_ty=0.2,"
        " units='bits', params='{}')\n"
        "for e in range(5):\n"
        "    w.write([dict(row, epoch=e)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, str(path)], env=env, timeout=120)
    assert proc.returncode != 0
    assert load_results(path)["epoch"].tolist() == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------ torn lines, dups


def _tear(path, nbytes=7):
    """Simulate a writer killed mid-line: append the start of a row, no newline."""
    with open(path, "ab") as f:
        f.write(b"r,0,all,99,layer1,binning,0.12"[:nbytes])


def test_torn_last_line_dropped_with_warning(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()
    write(path, rows)
    _tear(path, 30)
    with pytest.warns(ResultsFileWarning, match="partially written last line"):
        res = load_results(path)
    assert len(res) == len(rows) and 99 not in res["epoch"]
    # a torn quoted params field
    path.write_text(",".join(RESULT_COLUMNS) + '\nr,0,all,0,l,e,1.0,2.0,bits,"{""a')
    with pytest.warns(ResultsFileWarning):
        assert len(load_results(path)) == 0


def test_malformed_middle_line_dropped_with_warning(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()[:3]
    write(path, rows[:1])
    with open(path, "a") as f:
        f.write("r,0,all\n")
        f.write("r,x,all,1,l,e,1.0,2.0,bits,{}\n")
    write(path, rows[1:])
    with pytest.warns(ResultsFileWarning, match="dropped 2 unreadable") as rec:
        res = load_results(path)
    assert "line 3" in str(rec[0].message) and "line 4" in str(rec[0].message)
    assert res.rows() == Results.from_rows(rows).rows()


def test_writer_cuts_torn_line_before_appending(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows()
    write(path, rows[:3])
    _tear(path)
    with pytest.warns(ResultsFileWarning, match="cutting off"):
        w = ResultsWriter(path)
    with w:
        w.write(rows[3:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = load_results(path)
    assert res.rows() == Results.from_rows(rows).rows()
    # a torn header: the file starts over
    path.write_text("run,seed,spl")
    with pytest.warns(ResultsFileWarning):
        w = ResultsWriter(path)
    with w:
        w.write(rows[:1])
    assert lines(path) == [",".join(RESULT_COLUMNS), lines(path)[1]]


def test_duplicates_keep_last_with_warning(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows(epochs=(0, 1, 2))
    write(path, rows)
    redo = [dict(r, i_xt=r["i_xt"] + 100) for r in rows if r["epoch"] >= 1]
    write(path, redo)  # a resumed run re-estimating epochs 1 and 2 without truncating
    with pytest.warns(ResultsFileWarning, match=f"{len(redo)} row"):
        res = load_results(path)
    assert len(res) == len(rows)
    sub = res.where(estimator="binning", layer="layer1")
    e, ixt, _ = sub.series(estimator="binning", layer="layer1")
    orig = {
        r["epoch"]: r["i_xt"]
        for r in rows
        if r["estimator"] == "binning" and r["layer"] == "layer1"
    }
    assert e.tolist() == [0, 1, 2]
    assert ixt.tolist() == [orig[0], orig[1] + 100, orig[2] + 100]
    # different params are different keys, not duplicates
    other = [dict(r, params=PARAMS_K) for r in rows[:2]]
    write(path, other)
    with pytest.warns(ResultsFileWarning):
        assert len(load_results(path)) == len(rows) + 2


# ---------------------------------------------------------------------------------- truncate


def test_truncate_keeps_rows_atomically(tmp_path):
    path = tmp_path / "results.csv"
    rows = make_rows(epochs=(0, 1, 10, 100))
    rows[0]["i_xt"] = 0.1 + 0.2
    write(path, rows)
    _tear(path)
    before = set(os.listdir(tmp_path))
    inode = os.stat(path).st_ino
    seen = []

    def keep(row):
        seen.append(row)
        return row["epoch"] <= 10

    n = truncate_results(tmp_path, keep)
    assert n == sum(r["epoch"] <= 10 for r in rows)
    assert isinstance(seen[0]["epoch"], int) and isinstance(seen[0]["i_xt"], float)
    assert set(os.listdir(tmp_path)) == before  # no temporary file left behind
    assert os.stat(path).st_ino != inode  # replaced, not rewritten in place
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torn line gone, nothing to warn about
        res = load_results(path)
    assert res.rows() == Results.from_rows([r for r in rows if r["epoch"] <= 10]).rows()
    assert res["i_xt"][0] == 0.1 + 0.2
    write(path, rows[-1:])  # appending afterwards still works
    assert len(load_results(path)) == n + 1


def test_truncate_failure_leaves_file_untouched(tmp_path):
    path = tmp_path / "results.csv"
    write(path, make_rows())
    content = path.read_bytes()

    def keep(row):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        truncate_results(path, keep)
    assert path.read_bytes() == content
    assert os.listdir(tmp_path) == ["results.csv"]
    with pytest.raises(FileNotFoundError, match="no results file"):
        truncate_results(tmp_path / "nope.csv", lambda r: True)


def test_truncate_to_nothing_keeps_header(tmp_path):
    write(tmp_path, make_rows())
    assert truncate_results(tmp_path, lambda r: False) == 0
    assert lines(tmp_path / "results.csv") == [",".join(RESULT_COLUMNS)]
    assert len(load_results(tmp_path)) == 0



def test_legacy_results_file_is_read_and_upgraded_before_appending(tmp_path):
    """A results.csv of the header before the interval columns (LEGACY_RESULT_COLUMNS) reads
    with None intervals; a writer rewrites it with the new header, old rows kept verbatim."""
    old = make_rows()[:3]
    text = ",".join(LEGACY_RESULT_COLUMNS) + "\n" + "".join(
        ",".join(_legacy_fields(r)) + "\n" for r in old)
    (tmp_path / "results.csv").write_text(text)
    before = load_results(tmp_path).rows()
    assert len(before) == 3 and all(r["i_xt_lo"] is None for r in before)
    new = make_rows()[3]
    new.update(i_xt_lo=1.0, i_xt_hi=2.0, i_ty_lo=0.5, i_ty_hi=0.75)
    write(tmp_path, [new])
    got = lines(tmp_path / "results.csv")
    assert got[0] == ",".join(RESULT_COLUMNS) and len(got) == 5
    assert got[1:4] == [ln + ",,,," for ln in text.splitlines()[1:]]
    after = load_results(tmp_path).rows()
    assert after[:3] == before and after[3]["i_ty_hi"] == 0.75
    assert not [p for p in os.listdir(tmp_path) if p != "results.csv"]  # no temp file left
    # another foreign header is still refused
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="refusing to append"):
        ResultsWriter(tmp_path / "other.csv")


def _legacy_fields(r):
    out = []
    for c in LEGACY_RESULT_COLUMNS:
        v = r[c]
        if c == "params":
            v = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
            v = '"' + v.replace('"', '""') + '"'
        out.append(repr(float(v)) if c in ("i_xt", "i_ty") else str(v))
    return out
