"""`infoplane.results`: results.csv writing/reading/truncation, the Results table and the
activation store."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from infoplane import results as R
from infoplane.results import (
    RESULT_COLUMNS,
    ActivationStore,
    Results,
    ResultsFileWarning,
    ResultsWriter,
    concat,
    load_results,
    truncate_results,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    write(tmp_path, rows)  # a run directory -> results.csv
    res = load_results(tmp_path)
    assert len(res) == len(rows)
    got = res.rows()
    for a, b in zip(got, rows, strict=True):
        for c in RESULT_COLUMNS:
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
        "import sys; from infoplane.results import load_results; "
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
        "from infoplane.results import ResultsWriter\n"
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
    assert res.where(seed=0, split="all").rows() == [
        r for r in rows if r["seed"] == 0 and r["split"] == "all"
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


# ------------------------------------------------------------------------- activation store


def test_activation_store_round_trip(tmp_path):
    store = ActivationStore(tmp_path)
    rng = np.random.default_rng(0)
    assert store.splits() == [] and store.size_bytes() == 0
    x = rng.integers(0, 2, size=(32, 12)).astype(np.uint8)
    y = rng.integers(0, 2, size=32)
    store.write_probe("train", x, y)
    xs, ys = store.read_probe("train")
    assert xs.dtype == np.float32 and np.array_equal(xs, x) and ys.dtype == np.int64
    assert np.array_equal(ys, y)

    names = ["conv.0#relu", "block.1/dense#2", "out"]  # "." "#" even "/" are fine
    acts_by_epoch = {}
    for epoch in (100, 0, 3, 20):
        acts = {
            names[0]: rng.standard_normal((32, 8, 8, 16)).astype(np.float32),
            names[1]: rng.standard_normal((32, 10)),
            names[2]: rng.standard_normal((32, 2)).astype(np.float16),
        }
        acts_by_epoch[epoch] = acts
        store.write(0, "train", epoch, acts)
    store.write(5, "train", 0, acts_by_epoch[0])
    store.write(0, "test", 7, acts_by_epoch[0])

    assert store.splits() == ["test", "train"]
    assert store.seeds("train") == [0, 5] and store.seeds("nope") == []
    assert store.epochs("train", 0) == [0, 3, 20, 100]
    assert store.epochs("train", 1) == []
    assert store.layers("train", 0) == names
    got = store.read(0, "train", 3)
    assert list(got) == names
    for n in names:
        assert got[n].dtype == acts_by_epoch[3][n].dtype
        assert np.array_equal(got[n], acts_by_epoch[3][n])
    assert os.path.isfile(tmp_path / "activations" / "train" / "seed0" / "epoch0000003.npz")
    assert store.size_bytes() > 4 * 32 * 8 * 8 * 16 * 4

    stacked = store.read_layer(0, "train", names[1])
    assert stacked.shape == (4, 32, 10)
    for k, e in enumerate([0, 3, 20, 100]):
        assert np.array_equal(stacked[k], acts_by_epoch[e][names[1]])
    conv = store.read_layer(0, "train", names[0], [20, 0])
    assert conv.shape == (2, 32, 8, 8, 16)
    assert np.array_equal(conv[0], acts_by_epoch[20][names[0]])
    flat = store.read_layer(0, "train", names[0], [20, 0], flatten=True)
    assert flat.shape == (2, 32, 8 * 8 * 16)
    assert np.array_equal(flat[1], acts_by_epoch[0][names[0]].reshape(32, -1))

    # rewriting an epoch replaces it
    store.write(0, "train", 3, {"only": np.zeros((4, 2))})
    assert list(store.read(0, "train", 3)) == ["only"]


def test_activation_store_atomic_and_no_tmp_left(tmp_path, monkeypatch):
    store = ActivationStore(tmp_path, compress=True)
    acts = {"a": np.ones((8, 3))}
    store.write(0, "all", 1, acts)
    store.write_probe("all", np.ones((8, 2)), np.arange(8))
    for dirpath, _dirs, files in os.walk(tmp_path):
        assert not [f for f in files if f.startswith(".") or f.endswith(".tmp")], dirpath

    # a crash in the middle of writing leaves neither a final file nor a temporary one
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        store.write(0, "all", 2, acts)
    seed_dir = tmp_path / "activations" / "all" / "seed0"
    assert sorted(os.listdir(seed_dir)) == ["epoch0000001.npz"]
    assert store.epochs("all", 0) == [1]


def test_activation_store_errors(tmp_path):
    store = ActivationStore(tmp_path)
    with pytest.raises(FileNotFoundError, match="probe set") as err:
        store.read_probe("train")
    assert "probe-train.npz" in str(err.value)
    with pytest.raises(FileNotFoundError, match="recorded epochs") as err:
        store.layers("train", 0)
    with pytest.raises(FileNotFoundError):
        store.read_layer(0, "train", "a")
    store.write(0, "train", 5, {"a": np.zeros((4, 3))})
    with pytest.raises(FileNotFoundError, match="epoch 6") as err:
        store.read(0, "train", 6)
    assert "epoch0000006.npz" in str(err.value) and "recorded epochs" in str(err.value)
    assert ": 5" in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"seeds recorded for split 'train': \[0\]"):
        store.read(1, "train", 5)
    with pytest.raises(FileNotFoundError, match="splits recorded"):
        store.read(0, "test", 5)
    with pytest.raises(KeyError, match="no layer 'b'"):
        store.read_layer(0, "train", "b")
    store.write(0, "train", 6, {"a": np.zeros((4, 4))})
    with pytest.raises(ValueError, match="shape"):
        store.read_layer(0, "train", "a")
    with pytest.raises(ValueError, match="plain name"):
        store.write(0, "../x", 1, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="non-empty"):
        store.write(0, "train", 1, {})
    with pytest.raises(ValueError, match="epoch"):
        store.write(0, "train", -1, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="integer labels"):
        store.write_probe("train", np.zeros((3, 2)), np.array([0.5, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"need x \(N, ...\) and y \(N,\)"):
        store.write_probe("train", np.zeros((3, 2)), np.zeros(4, dtype=int))
    assert R.ActivationStore is ActivationStore
