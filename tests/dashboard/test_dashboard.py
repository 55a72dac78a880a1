"""The "Information plane" TensorBoard dashboard: a real TensorBoard on a fixture logdir.

The fixture writes the dashboard tensors exactly as the spec says (tag
``infoplane/<label>/<split>/seed<k>``, step = epoch, float64 (L, 2), plugin content JSON) with
TensorBoard's own event writer, plus a ``results.csv``-like ground truth per run; the routes
must return exactly those values, every epoch (not TensorBoard's default 10 per tag), with the
Rust data server and with ``--load_fast=false``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from infoplane.dashboard import plugin as dash

ROOT = Path(__file__).resolve().parents[2]
N_EPOCHS = 60
LAYERS = ["dense1", "dense2", "dense3"]
# run -> (labels, splits, seeds)
FIXTURE_RUNS = {
    "tanh": (["binning", "kde"], ["train", "test"], [0, 1]),
    "relu": (["binning"], ["train"], [0, 1, 2]),
}
PARAMS = {
    "binning": {"n_bins": 30, "range": "per-layer"},
    "kde": {"sigma2": 0.01},
}
CEILINGS = {"i_xt": 12.0, "i_ty": 0.9997114417528099}
TRUTH_COLUMNS = ("run", "label", "split", "seed", "epoch", "layer", "i_xt", "i_ty")


# --------------------------------------------------------------------------- fixture helpers


def _metadata(label: str, split: str, seed: int, layers=LAYERS) -> summary_pb2.SummaryMetadata:
    content = {
        "version": 1, "estimator": label.split("-")[0], "label": label, "split": split,
        "seed": seed, "layers": list(layers), "quantities": ["i_xt", "i_ty"], "units": "bits",
        "params": PARAMS.get(label, {}), "ceilings": CEILINGS,
    }
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="infoplane", content=json.dumps(content).encode("utf-8")),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def series_values(run: str, label: str, split: str, seed: int, n_epochs: int = N_EPOCHS,
                  n_layers: int = len(LAYERS)) -> np.ndarray:
    """Deterministic (E, L, 2) float64 trajectories with full-precision values and a few NaNs."""
    key = sum(map(ord, f"{run}|{label}|{split}|{seed}"))
    rng = np.random.default_rng(key)
    e = np.arange(n_epochs, dtype=np.float64)[:, None]
    depth = np.arange(1, n_layers + 1, dtype=np.float64)[None, :]
    fit = 1 - np.exp(-(e + 1) / 8.0)
    if run == "relu":  # no compression phase
        i_xt = 12.0 / depth ** 0.7 * (0.5 + 0.4 * fit)
        i_ty = 0.9997 * fit * (1.0 - 0.15 * depth / n_layers)
    else:  # fitting, then compression (I(X;T) decreases late in training)
        comp = 0.3 * np.clip((e - 15) / n_epochs, 0, None) * depth / n_layers
        i_xt = 12.0 / depth * (0.55 + 0.35 * fit - comp)
        i_ty = 0.9997 * fit * (1.05 - 0.1 * depth / n_layers)
    out = np.stack([i_xt, i_ty], axis=-1) + rng.normal(0, 0.01, (n_epochs, n_layers, 2))
    if label == "kde" and split == "test":
        out[7, 1, 0] = np.nan       # an estimator failure on one layer
        out[11, :, 1] = np.nan
    return out


def write_series(run_dir: Path, run: str, label: str, split: str, seed: int,
                 epochs, values: np.ndarray, layers=LAYERS) -> None:
    """Append dashboard tensors for ``epochs`` (values (E, L, 2)) to an event file."""
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(run_dir), filename_suffix=f".{label}.{split}.{seed}")
    meta = _metadata(label, split, seed, layers)
    for epoch, v in zip(epochs, values, strict=True):
        value = summary_pb2.Summary.Value(
            tag=f"infoplane/{label}/{split}/seed{seed}", metadata=meta,
            tensor=tensor_util.make_tensor_proto(np.asarray(v, dtype=np.float64)))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(epoch),
                                         summary=summary_pb2.Summary(value=[value])))
    writer.close()


def write_scalar_run(run_dir: Path) -> None:
    """A run with ordinary scalars only (no infoplane data)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(run_dir))
    for step in range(5):
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                         summary=summary_pb2.Summary(value=[value])))
    writer.close()


def make_logdir(root: Path, runs=FIXTURE_RUNS, n_epochs: int = N_EPOCHS) -> Path:
    """Two runs of dashboard tensors plus a scalar-only run; ``<run>/truth.csv`` ground truth."""
    for run, (labels, splits, seeds) in runs.items():
        rows = []
        for label in labels:
            for split in splits:
                for seed in seeds:
                    vals = series_values(run, label, split, seed, n_epochs)
                    write_series(root / run, run, label, split, seed, range(n_epochs), vals)
                    for e in range(n_epochs):
                        for li, layer in enumerate(LAYERS):
                            rows.append([run, label, split, seed, e, layer,
                                         repr(float(vals[e, li, 0])),
                                         repr(float(vals[e, li, 1]))])
        with open(root / run / "truth.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(TRUTH_COLUMNS)
            w.writerows(rows)
    write_scalar_run(root / "scalars-only")
    return root


# format 2, written by the logger itself: intervals, the null, two parameter sets of binning,
# log-spaced epochs, a negative and an over-ceiling value, a DPI violation, and DSMI
V2_EPOCHS = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]
V2_LAYERS = ["l1", "l2"]
V2_CEILINGS = {"train": {"i_xt": 6.0, "i_ty": 1.0}}
V2_INSTANCES = [("kde", '{"bound": "upper", "estimator": "kde", "units": "bits"}'),
                ("binning", '{"estimator": "binning", "n_bins": 8, "units": "bits"}'),
                ("binning", '{"estimator": "binning", "n_bins": 30, "units": "bits"}')]


def v2_value(k: int, e: int, li: int) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) of instance k at epoch e, layer li; kde has I(X;T) = -0.2 at epoch 2
    (below 0), I(T;Y) = 1.3 at epoch 3 (above H(Y)) and a DPI violation at epoch 5."""
    x = 5.0 / (li + 1) * (1 - 0.3 * k) * (0.5 + 0.5 * e / 233)
    y = 0.9 * (1 - 0.2 * li) * (0.3 + 0.6 * e / 233)
    if k == 0 and li == 0 and e == 2:
        x = -0.2
    if k == 0 and li == 0 and e == 3:
        y = 1.3
    if k == 0 and li == 1 and e == 5:
        x = 5.5
    return x, y


def make_v2_logdir(root: Path) -> Path:
    """Run "plane" (kde with intervals and null, then two binning sets) and run "spectral"
    (dsmi), written with `TensorBoardLogger` (no training)."""
    from infoplane.report.tensorboard.logger import TensorBoardLogger

    with TensorBoardLogger(root / "plane", run="plane", ceilings=V2_CEILINGS,
                           images=False) as tb:
        for e in V2_EPOCHS:
            rows, aux = [], []
            for k, (name, params) in enumerate(V2_INSTANCES):
                for li, layer in enumerate(V2_LAYERS):
                    x, y = v2_value(k, e, li)
                    row = {"run": "plane", "seed": 0, "split": "train", "epoch": e,
                           "layer": layer, "estimator": name, "i_xt": x, "i_ty": y,
                           "units": "bits", "params": params}
                    if k == 0:
                        row.update(i_xt_lo=x - 0.1, i_xt_hi=x + 0.15, i_ty_lo=y - 0.05,
                                   i_ty_hi=y + 0.02)
                        aux.append({"run": "plane", "seed": 0, "split": "train", "epoch": e,
                                    "layer": layer, "estimator": name, "params": params,
                                    "name": "i_ty_null", "value": 0.05 + 0.01 * li})
                    rows.append(row)
            tb.on_results(rows)
            tb.on_aux(aux)
    params = '{"estimator": "dsmi", "sigma": 10.0, "t": 1, "units": "bits"}'
    with TensorBoardLogger(root / "spectral", run="spectral", ceilings=V2_CEILINGS,
                           images=False) as tb:
        tb.on_results([{"run": "spectral", "seed": 0, "split": "train", "epoch": e,
                        "layer": layer, "estimator": "dsmi", "i_xt": 0.1 * (li + 1) + e / 500,
                        "i_ty": 0.05 * (li + 1), "units": "bits", "params": params}
                       for e in range(4) for li, layer in enumerate(V2_LAYERS)])
    return root


def v2_loaded(payload) -> bool:
    series = {r["run"]: r["series"] for r in payload["runs"]}
    return (len(series.get("plane", [])) == 3 and len(series.get("spectral", [])) == 1
            and all(s["n_epochs"] == len(V2_EPOCHS) for s in series["plane"]))


def read_truth(root: Path, run: str) -> dict:
    """{(label, split, seed): {epoch: {layer: (i_xt, i_ty)}}} from ``truth.csv``."""
    out: dict = {}
    with open(root / run / "truth.csv", newline="") as f:
        for r in csv.DictReader(f):
            key = (r["label"], r["split"], int(r["seed"]))
            out.setdefault(key, {}).setdefault(int(r["epoch"]), {})[r["layer"]] = (
                float(r["i_xt"]), float(r["i_ty"]))
    return out


def same(a, b) -> bool:
    """Exact float equality with NaN (stored) == None (JSON null)."""
    if isinstance(b, float) and math.isnan(b):
        return a is None
    return a == b and type(a) is float


# --------------------------------------------------------------------------- a real TensorBoard

_SERVER_SCRIPT = textwrap.dedent("""
    import sys, time
    from tensorboard import default, program
    from infoplane.dashboard.plugin import InfoplaneLoader, InfoplanePlugin
    ours = (InfoplaneLoader, InfoplanePlugin)
    plugins = [p for p in default.get_plugins() if p not in ours]
    if sys.argv[1] == "loader":
        plugins.append(InfoplaneLoader)
    elif sys.argv[1] == "plugin":
        plugins.append(InfoplanePlugin)
    tb = program.TensorBoard(plugins=plugins)
    tb.configure(argv=[None, "--host", "127.0.0.1", "--port", "0", *sys.argv[2:]])
    print("URL", tb.launch(), flush=True)
    while True:
        time.sleep(3600)
""")


class Board:
    """A TensorBoard subprocess serving a logdir with the infoplane plugin."""

    def __init__(self, logdir: Path, *flags: str, load: str = "loader", timeout: float = 60):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
        self.log = open(Path(logdir).parent / f"tensorboard-{os.getpid()}-{id(self)}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_SCRIPT, load, "--logdir", str(logdir),
             "--reload_interval", "1", *flags],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        self.url = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("URL "):
                self.url = line.split(" ", 1)[1].strip().rstrip("/")
                break
        if self.url is None:
            self.close()
            self.log.seek(0)
            raise RuntimeError(f"TensorBoard did not start:\n{self.log.read()[-4000:]}")

    def get(self, path: str, timeout: float = 30):
        """(status, content type, body bytes) of a GET."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def json(self, path: str):
        status, ctype, body = self.get(path)
        assert ctype.startswith("application/json"), (path, status, ctype, body[:300])
        return status, json.loads(body)

    def wait_for(self, predicate, timeout: float = 40):
        """Poll /runs until ``predicate(payload)``; return the payload."""
        deadline = time.monotonic() + timeout
        payload = None
        while time.monotonic() < deadline:
            status, payload = self.json("/data/plugin/infoplane/runs")
            if status == 200 and predicate(payload):
                return payload
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for the data; last /runs: {payload}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


def expected_series_count() -> int:
    return sum(len(a) * len(b) * len(c) for a, b, c in FIXTURE_RUNS.values())


def fully_loaded(payload, n_epochs: int = N_EPOCHS) -> bool:
    series = [s for r in payload["runs"] for s in r["series"]]
    return (len(series) == expected_series_count()
            and all(s["n_epochs"] == n_epochs for s in series))


def points_query(**q) -> str:
    return "/data/plugin/infoplane/points?" + urllib.parse.urlencode(q)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return make_logdir(tmp_path_factory.mktemp("tb") / "logs")


# "true": the Rust data server (what the default `auto` picks when it is installed);
# "false": TensorBoard's Python multiplexer.
@pytest.fixture(scope="module", params=["true", "false"], ids=["load_fast", "python_loader"])
def board(request, logdir):
    b = Board(logdir, f"--load_fast={request.param}")
    try:
        b.wait_for(fully_loaded)
        yield b
    finally:
        b.close()


# --------------------------------------------------------------------------- server tests


def test_plugin_listed(board):
    status, listing = board.json("/data/plugins_listing")
    assert status == 200
    entry = listing["infoplane"]
    assert entry["tab_name"] == "Information plane"
    assert entry["enabled"] is True
    assert entry["loading_mechanism"] == {
        "type": "IFRAME", "module_path": "/data/plugin/infoplane/index.js"}


def test_runs_lists_every_series(board):
    status, payload = board.json("/data/plugin/infoplane/runs")
    assert status == 200
    assert payload["message"] is None
    assert payload["sampling"] == {"samples_per_plugin": 0, "warning": None}
    runs = {r["run"]: r["series"] for r in payload["runs"]}
    assert set(runs) == set(FIXTURE_RUNS)  # not "scalars-only"
    for run, (labels, splits, seeds) in FIXTURE_RUNS.items():
        got = {(s["label"], s["split"], s["seed"]) for s in runs[run]}
        assert got == {(la, sp, se) for la in labels for sp in splits for se in seeds}
        for s in runs[run]:
            assert s["layers"] == LAYERS
            assert s["units"] == "bits"
            assert s["params"] == PARAMS[s["label"]]
            assert s["ceilings"] == CEILINGS
            assert s["estimator"] == s["label"]
            assert s["quantities"] == ["i_xt", "i_ty"]
            assert s["order"] is None and s["aux_tag"] is None  # format 1
            assert isinstance(s["first_wall_time"], float)
            assert s["n_epochs"] == N_EPOCHS and s["last_epoch"] == N_EPOCHS - 1
            assert s["tag"] == f"infoplane/{s['label']}/{s['split']}/seed{s['seed']}"
    status, same_payload = board.json("/data/plugin/infoplane/tags")
    assert status == 200 and same_payload["runs"] == payload["runs"]


def test_points_exact_every_epoch(board, logdir):
    for run, (labels, splits, seeds) in FIXTURE_RUNS.items():
        truth = read_truth(logdir, run)
        for label in labels:
            for split in splits:
                status, p = board.json(points_query(run=run, label=label, split=split))
                assert status == 200, p
                assert (p["run"], p["label"], p["split"]) == (run, label, split)
                assert p["layers"] == LAYERS and p["units"] == "bits"
                assert p["params"] == PARAMS[label] and p["ceilings"] == CEILINGS
                assert [s["seed"] for s in p["series"]] == seeds
                for s in p["series"]:
                    t = truth[(label, split, s["seed"])]
                    assert s["epochs"] == list(range(N_EPOCHS))  # all 60, not 10
                    for e, xt, ty in zip(s["epochs"], s["i_xt"], s["i_ty"], strict=True):
                        for li, layer in enumerate(LAYERS):
                            assert same(xt[li], t[e][layer][0]), (run, label, split, e, layer)
                            assert same(ty[li], t[e][layer][1]), (run, label, split, e, layer)
    # NaN -> null made it through
    status, p = board.json(points_query(run="tanh", label="kde", split="test", seed=1))
    assert status == 200 and len(p["series"]) == 1 and p["series"][0]["seed"] == 1
    assert p["series"][0]["i_xt"][7][1] is None
    assert p["series"][0]["i_ty"][11] == [None, None, None]


def test_format2_routes_intervals_null_and_order(tmp_path):
    """A logdir the logger wrote (format 2): /runs has each instance with its recording
    order and aux tag; /points has the rows' intervals and the aux null, exactly."""
    root = make_v2_logdir(tmp_path / "logs")
    b = Board(root, "--load_fast=false")
    try:
        payload = b.wait_for(v2_loaded)
        plane = {r["run"]: r["series"] for r in payload["runs"]}["plane"]
        by_order = sorted(plane, key=lambda s: s["order"])
        assert [(s["estimator"], s["params"]["n_bins"] if "n_bins" in s["params"] else None)
                for s in by_order] == [("kde", None), ("binning", 8), ("binning", 30)]
        assert by_order[0]["aux_tag"] == "infoplane/kde/train/seed0/aux"
        assert by_order[1]["aux_tag"] is None and by_order[0]["order"] == 0
        assert by_order[0]["quantities"][2:] == ["i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi"]
        status, p = b.json(points_query(run="plane", label="kde", split="train"))
        assert status == 200, p
        s = p["series"][0]
        assert s["epochs"] == V2_EPOCHS and p["order"] == 0
        for i, e in enumerate(V2_EPOCHS):
            for li in range(len(V2_LAYERS)):
                x, y = v2_value(0, e, li)
                assert s["i_xt"][i][li] == x and s["i_ty"][i][li] == y
                assert s["i_xt_lo"][i][li] == x - 0.1 and s["i_xt_hi"][i][li] == x + 0.15
                assert s["i_ty_lo"][i][li] == y - 0.05 and s["i_ty_hi"][i][li] == y + 0.02
                assert s["i_ty_null"][i][li] == 0.05 + 0.01 * li
        label = by_order[1]["label"]
        status, p = b.json(points_query(run="plane", label=label, split="train"))
        assert status == 200 and p["params"]["n_bins"] == 8
        assert "i_xt_lo" not in p["series"][0] and "i_ty_null" not in p["series"][0]
    finally:
        b.close()


def test_static_files(board):
    status, ctype, body = board.get("/data/plugin/infoplane/index.js")
    assert status == 200 and ctype.startswith("text/javascript")
    assert b"export" in body and b"render" in body
    status, ctype, body = board.get("/data/plugin/infoplane/static/index.html")
    assert status == 200 and ctype.startswith("text/html")
    assert b'id="infoplane-app"' in body and b'src="main.js"' in body
    for name, ctype_want in [("app.js", "text/javascript"), ("main.js", "text/javascript"),
                             ("style.css", "text/css")]:
        status, ctype, body = board.get(f"/data/plugin/infoplane/static/{name}")
        assert status == 200 and ctype.startswith(ctype_want) and body, name
    # the iframe entry TensorBoard builds for us imports ./index.js under plugin/infoplane/
    status, ctype, body = board.get("/data/plugin_entry.html?name=infoplane")
    assert status == 200 and b'<base href="plugin/infoplane/"' in body and b"./index.js" in body


@pytest.mark.parametrize("path", [
    "/data/plugin/infoplane/static/../plugin.py",
    "/data/plugin/infoplane/static/%2e%2e/plugin.py",
    "/data/plugin/infoplane/static/..%2fplugin.py",
    "/data/plugin/infoplane/static/%2e%2e%2f%2e%2e%2f__init__.py",
    "/data/plugin/infoplane/static/",
    "/data/plugin/infoplane/static/nope.js",
    "/data/plugin/infoplane/static/.hidden",
    "/data/plugin/infoplane/static//etc/passwd",
])
def test_static_no_traversal(board, path):
    status, _, body = board.get(path)
    assert status in (400, 404), (path, status)
    assert b"import " not in body and b"root:" not in body


@pytest.mark.parametrize("query, fragment", [
    ({"label": "binning", "split": "train"}, "missing query parameter 'run'"),
    ({"run": "tanh", "split": "train"}, "missing query parameter 'label'"),
    ({"run": "tanh", "label": "binning"}, "missing query parameter 'split'"),
    ({"run": "tanh", "label": "binning", "split": "train", "seed": "abc"}, "seed"),
    ({"run": "tanh", "label": "binning", "split": "train", "seed": "-1"}, "seed"),
    ({"run": "tanh", "label": "binning", "split": "train", "seed": "1.5"}, "seed"),
    ({"run": "nope", "label": "binning", "split": "train"}, "no information-plane data"),
    ({"run": "scalars-only", "label": "binning", "split": "train"}, "no information-plane"),
    ({"run": "relu", "label": "kde", "split": "train"}, "no series with label 'kde'"),
    ({"run": "relu", "label": "binning", "split": "test"}, "split 'test'"),
    ({"run": "relu", "label": "binning", "split": "train", "seed": "7"}, "no seed 7"),
])
def test_points_bad_input(board, query, fragment):
    status, p = board.json(points_query(**query))
    assert status == 400
    assert set(p) == {"error"} and fragment in p["error"]
    assert "Traceback" not in p["error"]


def test_points_repeated_param(board):
    status, p = board.json(points_query(run="tanh", label="binning", split="train")
                           + "&run=relu")
    assert status == 400 and "given 2 times" in p["error"]


# --------------------------------------------------------------------------- other boards


def test_empty_state(tmp_path):
    root = tmp_path / "logs"
    write_scalar_run(root / "only-scalars")
    b = Board(root, "--load_fast=false")
    try:
        deadline = time.monotonic() + 20
        while True:  # wait until the scalar run is loaded, then check there is no data of ours
            status, runs = b.json("/data/runs")
            if runs or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert runs == ["only-scalars"]
        status, payload = b.json("/data/plugin/infoplane/runs")
        assert status == 200
        assert payload["runs"] == []
        assert "infoplane.Recorder" in payload["message"] and "infoplane run" in payload["message"]
        status, listing = b.json("/data/plugins_listing")
        assert listing["infoplane"]["enabled"] is False
        status, p = b.json(points_query(run="only-scalars", label="binning", split="train"))
        assert status == 400 and "no information-plane data" in p["error"]
    finally:
        b.close()


def test_new_epochs_appear_while_running(tmp_path):
    """Live updates: epochs appended after start show up (reload), all of them (no sampling)."""
    root = tmp_path / "logs"
    vals = series_values("live", "binning", "train", 0, 70)
    write_series(root / "live", "live", "binning", "train", 0, range(20), vals[:20])
    b = Board(root)  # default --load_fast (auto)
    try:
        b.wait_for(lambda p: p["runs"] and p["runs"][0]["series"][0]["n_epochs"] == 20)
        write_series(root / "live", "live", "binning", "train", 0, range(20, 70), vals[20:])
        b.wait_for(lambda p: p["runs"][0]["series"][0]["n_epochs"] == 70)
        status, p = b.json(points_query(run="live", label="binning", split="train", seed=0))
        assert status == 200 and p["series"][0]["epochs"] == list(range(70))
        assert p["series"][0]["i_xt"][69] == [float(v) for v in vals[69, :, 0]]
    finally:
        b.close()


def test_plain_plugin_class_warns_about_sampling(tmp_path):
    """Loaded as the bare TBPlugin (no loader), TensorBoard keeps 10 epochs: we say so."""
    root = tmp_path / "logs"
    vals = series_values("r", "binning", "train", 0, 30)
    write_series(root / "r", "r", "binning", "train", 0, range(30), vals)
    b = Board(root, "--load_fast=false", load="plugin")
    try:
        payload = b.wait_for(lambda p: bool(p["runs"]))
        assert payload["sampling"]["samples_per_plugin"] is None
        assert "--samples_per_plugin infoplane=0" in payload["sampling"]["warning"]
    finally:
        b.close()


def test_explicit_samples_per_plugin_is_respected(tmp_path):
    root = tmp_path / "logs"
    vals = series_values("r", "binning", "train", 0, 30)
    write_series(root / "r", "r", "binning", "train", 0, range(30), vals)
    b = Board(root, "--load_fast=false", "--samples_per_plugin", "infoplane=5")
    try:
        payload = b.wait_for(lambda p: bool(p["runs"]))
        assert payload["sampling"]["samples_per_plugin"] == 5
        assert payload["runs"][0]["series"][0]["n_epochs"] == 5
    finally:
        b.close()


def _installed_entry_point():
    from importlib import metadata

    return [ep for ep in metadata.entry_points(group="tensorboard_plugins")
            if ep.name == "infoplane"]


def test_plain_tensorboard_cli(tmp_path, logdir):
    """`tensorboard --logdir ...` (the real CLI) finds the tab via the entry point and keeps
    every epoch. Until the package's entry point is installed, a temporary dist-info that
    declares the same entry point stands in for it."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    path = [str(ROOT)]
    if not _installed_entry_point():
        dist = tmp_path / "site" / "infoplane_dashboard_entry-0.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: infoplane-dashboard-entry\nVersion: 0.0\n")
        (dist / "entry_points.txt").write_text(
            "[tensorboard_plugins]\ninfoplane = infoplane.dashboard.plugin:InfoplaneLoader\n")
        path.insert(0, str(tmp_path / "site"))
    env["PYTHONPATH"] = os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")])
    log = open(tmp_path / "cli.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
         "127.0.0.1", "--port", "0", "--reload_interval", "1"],
        stdout=log, stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    b = None
    try:
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stderr.readline()
            if not line:
                break
            if line.startswith("TensorBoard ") and " at http" in line:
                url = line.split(" at ", 1)[1].split()[0].rstrip("/")
        assert url, "the tensorboard CLI did not start"
        b = Board.__new__(Board)
        b.url = url
        status, listing = b.json("/data/plugins_listing")
        assert listing["infoplane"]["tab_name"] == "Information plane"
        payload = b.wait_for(fully_loaded)  # all 60 epochs with no --samples_per_plugin flag
        assert payload["sampling"] == {"samples_per_plugin": 0, "warning": None}
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
        log.close()


def test_entry_point_registered():
    eps = _installed_entry_point()
    if not eps:
        pytest.skip("the tensorboard_plugins entry point 'infoplane' is not installed "
                    "(pyproject [project.entry-points.tensorboard_plugins]; pip install -e .)")
    assert eps[0].load() is dash.InfoplaneLoader


# --------------------------------------------------------------------------- pure helpers


def test_parse_tag():
    assert dash.parse_tag("infoplane/binning/train/seed3") == {
        "label": "binning", "split": "train", "seed": 3}
    assert dash.parse_tag("infoplane/kde-0.1/sub/test/seed12") == {
        "label": "kde-0.1/sub", "split": "test", "seed": 12}
    for bad in ["", "loss", "infoplane/binning/train", "infoplane/binning/train/seedx",
                "other/binning/train/seed0", "infoplane//train/seed0"]:
        assert dash.parse_tag(bad) is None, bad


def test_parse_metadata():
    meta = _metadata("kde", "test", 2).plugin_data.content
    m = dash.parse_metadata(meta, "infoplane/kde/test/seed2")
    assert m == {"version": 1, "label": "kde", "estimator": "kde", "split": "test", "seed": 2,
                 "layers": LAYERS, "quantities": ["i_xt", "i_ty"], "units": "bits",
                 "params": PARAMS["kde"], "ceilings": CEILINGS, "order": None,
                 "ceiling_names": {"i_xt": "H(X)", "i_ty": "H(Y)"}, "title": "KDE",
                 "names": {"i_xt": "KDE upper-bound I(X;T)", "i_ty": "KDE (upper) I(T;Y)"}}
    # damaged content: fall back to the tag; unknown ceilings -> null
    m = dash.parse_metadata(b"\xff{not json", "infoplane/binning/train/seed0")
    assert (m["label"], m["split"], m["seed"], m["layers"]) == ("binning", "train", 0, None)
    assert m["ceilings"] == {"i_xt": None, "i_ty": None}
    m = dash.parse_metadata(json.dumps({"label": "b", "split": "s", "seed": 1,
                                        "ceilings": {"i_xt": float("nan"), "i_ty": 1.5},
                                        "params": {"x": float("inf")}}).encode(), "")
    assert m["ceilings"] == {"i_xt": None, "i_ty": 1.5} and m["params"] == {"x": None}
    assert dash.parse_metadata(b"", "not-a-tag") is None
    assert dash.parse_metadata(json.dumps({"label": "b", "split": "s", "seed": "0"}), "") is None


def test_json_float_and_rows():
    assert dash.json_float(np.float64(0.1)) == 0.1
    assert dash.json_float(float("nan")) is None and dash.json_float(float("-inf")) is None
    assert dash.json_float(None) is None and dash.json_float("x") is None
    assert dash.json_float(True) is None
    a = np.array([[1 / 3, np.nan], [np.inf, 2.0 ** -1074]])
    xt, ty = dash.tensor_to_rows(a)
    assert xt == [1 / 3, None] and ty == [None, 2.0 ** -1074]
    assert json.loads(json.dumps(xt))[0] == 1 / 3  # repr round trip is exact
    with pytest.raises(ValueError, match="shape"):
        dash.tensor_to_rows(np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        dash.tensor_to_rows(np.zeros((2, 3)))


def test_series_points_sorts_and_dedups():
    class D:
        def __init__(self, step, wall, arr):
            self.step, self.wall_time, self.numpy = step, wall, np.asarray(arr, float)

    data = [D(2, 5.0, [[2, 2]]), D(0, 1.0, [[0, 0]]), D(1, 2.0, [[1, 1]]),
            D(1, 9.0, [[1.5, 1.5]]), D(3, 3.0, [1, 2, 3])]
    epochs, xt, ty, warns = dash.series_points(data)
    assert epochs == [0, 1, 2] and xt == [[0.0], [1.5], [2.0]] and ty == xt
    assert len(warns) == 1 and "epoch 3" in warns[0]


def test_parse_points_query():
    from werkzeug.datastructures import MultiDict

    base = {"run": "r", "label": "l", "split": "train"}
    assert dash.parse_points_query(MultiDict(base)) == {**base, "seed": None}
    assert dash.parse_points_query(MultiDict({**base, "seed": "12"}))["seed"] == 12
    assert dash.parse_points_query(MultiDict({**base, "seed": "all"}))["seed"] is None
    assert dash.parse_points_query({**base, "seed": "3"})["seed"] == 3  # a plain dict works
    for bad, msg in [({**base, "seed": "abc"}, "seed"), ({**base, "seed": "-1"}, "seed"),
                     ({**base, "seed": "1e3"}, "seed"), ({"run": "r"}, "label"),
                     ({**base, "run": ""}, "empty"), ({**base, "label": "x" * 2000}, "long")]:
        with pytest.raises(dash.BadRequest, match=msg):
            dash.parse_points_query(MultiDict(bad))
    with pytest.raises(dash.BadRequest, match="2 times"):
        dash.parse_points_query(MultiDict([("run", "a"), ("run", "b"), ("label", "l"),
                                           ("split", "s")]))


def test_static_file_helper():
    body, ctype = dash.static_file("index.js")
    assert ctype == "text/javascript" and b"render" in body
    assert dash.static_file("index.html")[1] == "text/html"
    assert dash.static_file("style.css")[1] == "text/css"
    for bad in ["", "..", "../plugin.py", "a/b.js", ".hidden", "plugin.py", "nope.js",
                "%2e%2e", "index.js/..", "/etc/passwd", "__init__.py"]:
        assert dash.static_file(bad) is None, bad


def test_loader_sets_sampling_default():
    import argparse

    loader = dash.InfoplaneLoader()
    flags = argparse.Namespace(samples_per_plugin={})
    loader.fix_flags(flags)
    assert flags.samples_per_plugin == {"infoplane": 0}
    flags = argparse.Namespace(samples_per_plugin={"infoplane": 7, "images": 3})
    loader.fix_flags(flags)
    assert flags.samples_per_plugin == {"infoplane": 7, "images": 3}


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_recorded_run_end_to_end(tmp_path):
    """A tiny real run recorded by infoplane.Recorder; the routes equal load_results()."""
    tbmod = pytest.importorskip("infoplane.tensorboard")
    if not hasattr(tbmod, "TensorBoardLogger"):
        pytest.skip("infoplane.tensorboard has no TensorBoardLogger yet")
    import jax.numpy as jnp
    import optax
    from flax import nnx

    import infoplane

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(6, 5, rngs=rngs)
            self.l2 = nnx.Linear(5, 4, rngs=rngs)
            self.out = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.l2(jnp.tanh(self.l1(x)))))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = MLP(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(m):
            return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    logdir = tmp_path / "runs"
    rec = infoplane.Recorder(x, y, estimators=["binning"], logdir=logdir, name="e2e",
                             test=(x[::-1].copy(), y[::-1].copy()), buffer=4)
    # (a test probe of the same size as the train probe reuses the compiled estimator)
    n_epochs = 12
    for epoch in range(n_epochs):
        step(model, opt, jnp.asarray(x), jnp.asarray(y))
        rec.record(epoch, model)
    rec.close()
    res = infoplane.load_results(rec.run_dir)
    rows = res.rows()
    assert rows
    b = Board(logdir)
    try:
        payload = b.wait_for(lambda p: any(
            s["n_epochs"] == n_epochs for r in p["runs"] for s in r["series"]))
        runs = [r for r in payload["runs"] if r["series"]]
        assert runs, payload
        for r in runs:
            for s in r["series"]:
                status, p = b.json(points_query(run=r["run"], label=s["label"],
                                                split=s["split"], seed=s["seed"]))
                assert status == 200, p
                got = p["series"][0]
                want = [row for row in rows if row["estimator"] == s["label"]
                        and row["split"] == s["split"] and row["seed"] == s["seed"]]
                assert want, (s, rows[:3])
                assert sorted({int(w["epoch"]) for w in want}) == got["epochs"]
                for w in want:
                    i = got["epochs"].index(int(w["epoch"]))
                    li = p["layers"].index(w["layer"])
                    assert same(got["i_xt"][i][li], float(w["i_xt"])), w
                    assert same(got["i_ty"][i][li], float(w["i_ty"])), w
                assert p["units"] == rows[0]["units"]
    finally:
        b.close()
