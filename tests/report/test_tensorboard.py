"""`infoplane.tensorboard`: event files written by `TensorBoardLogger`, read back the way
TensorBoard reads them (its `EventMultiplexer`, and a real TensorBoard server over HTTP)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import warnings

import numpy as np
import pytest
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.util import tensor_util

from infoplane.report.tensorboard.events import EventWriter
from infoplane.report.tensorboard.format import dashboard_tag, estimator_label, layer_dir_name
from infoplane.report.tensorboard.logger import TensorBoardLogger

RUN = "demo"
LAYERS = ("dense_0", "enc/dense_1", "softmax")
SPLITS = ("train", "test")
SEEDS = (0, 1)
EPOCHS = tuple(range(6))
P30 = json.dumps({"estimator": "binning", "n_bins": 30, "units": "bits"}, sort_keys=True)
P10 = json.dumps({"estimator": "binning", "n_bins": 10, "units": "bits"}, sort_keys=True)
PKDE = json.dumps({"estimator": "kde", "noise_variance": 0.1, "units": "nats"}, sort_keys=True)
#: (estimator, params, units) in estimator order; binning twice with different parameters.
ESTIMATORS = (("binning", P30, "bits"), ("binning", P10, "bits"), ("kde", PKDE, "nats"))
LABELS = {P30: "binning-" + hashlib.sha1(P30.encode()).hexdigest()[:6],
          P10: "binning-" + hashlib.sha1(P10.encode()).hexdigest()[:6], PKDE: "kde"}
CEILINGS = {"train": {"i_xt": 12.0, "i_ty": 0.9999}}
HPARAMS = {"lr": 0.01, "activation": "tanh", "hidden": [10, 7], "batch": 256, "bn": False,
           "unset": None}
#: kde fails on softmax at epoch 4 of seed 1 (no row): the dashboard tensor holds NaN there.
MISSING = (1, 4, "softmax", "kde")


def value(seed: int, split: str, epoch: int, layer: str, k: int, q: int) -> float:
    """A distinct, float32-inexact value per row and quantity."""
    return (seed * 100 + epoch + LAYERS.index(layer) / 10 + k / 100 + q / 1000
            + SPLITS.index(split) / 7 + math.pi * 1e-9)


def result_rows(epochs, seeds=SEEDS) -> list[dict]:
    rows = []
    for seed in seeds:
        for epoch in epochs:
            for split in SPLITS:
                for layer in LAYERS:
                    for k, (name, params, units) in enumerate(ESTIMATORS):
                        if (seed, epoch, layer, name) == MISSING:
                            continue
                        rows.append({"run": RUN, "seed": seed, "split": split, "epoch": epoch,
                                     "layer": layer, "estimator": name,
                                     "i_xt": value(seed, split, epoch, layer, k, 0),
                                     "i_ty": value(seed, split, epoch, layer, k, 1),
                                     "units": units, "params": params})
    return rows


def metric_rows(epochs, seeds=SEEDS) -> list[dict]:
    return [{"run": RUN, "seed": s, "epoch": e, "name": n, "value": s + e / 10 + i / 100}
            for s in seeds for e in epochs
            for i, n in enumerate(("train_acc", "test_acc", "train_loss", "test_loss"))]


def diag_rows(epochs, seeds=SEEDS) -> list[dict]:
    return [{"run": RUN, "seed": s, "split": sp, "epoch": e, "layer": layer, "name": n,
             "value": s + e / 10 + i / 100 + j / 1000}
            for s in seeds for e in epochs for sp in SPLITS for j, layer in enumerate(LAYERS)
            for i, n in enumerate(("saturated", "zero", "dead_units", "mean_abs"))]


def tiny_png(table, *, estimator, split, params) -> bytes:
    """A small real matplotlib figure (stands in for `infoplane.plot`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot(table["i_xt"], table["i_ty"], ".")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    plt.close(fig)
    return buf.getvalue()


def load(logdir) -> EventMultiplexer:
    m = EventMultiplexer()
    m.AddRunsFromDirectory(str(logdir))
    m.Reload()
    return m


def scalars(m: EventMultiplexer, run: str, tag: str) -> list[tuple[int, float]]:
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in m.Tensors(run, tag)]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A run written in two batches of epochs, as a `Recorder` would; returns the logdir."""
    logdir = tmp_path_factory.mktemp("tb")
    calls = []

    def render(table, **kw):
        calls.append((len(table), kw))
        return tiny_png(table, **kw)

    with TensorBoardLogger(logdir / RUN, run=RUN, ceilings=CEILINGS, hparams=HPARAMS,
                           image_every=3, render=render) as tb:
        for epochs in (EPOCHS[:3], EPOCHS[3:]):
            tb.on_metrics(metric_rows(epochs))
            tb.on_diagnostics(diag_rows(epochs))
            tb.on_results(result_rows(epochs))
    return logdir, calls


# ---- pure helpers ------------------------------------------------------------------------------


def test_layer_dir_name():
    assert layer_dir_name("enc/dense_1") == "enc_dense_1"
    assert layer_dir_name("Conv_0.out-1") == "Conv_0.out-1"
    assert layer_dir_name("a b#c\\d") == "a_b_c_d"
    assert [layer_dir_name(n) for n in (".", "..", "")] == ["_", "__", "_"]


def test_estimator_label():
    assert estimator_label("kde", PKDE, shared=False) == "kde"
    assert estimator_label("binning", P30, shared=True) == LABELS[P30]
    as_mapping = json.loads(P30)
    assert estimator_label("binning", as_mapping, shared=True) == LABELS[P30]
    assert dashboard_tag("kde", "train", 3) == "infoplane/kde/train/seed3"


# ---- read back through TensorBoard's multiplexer -----------------------------------------------


def test_runs_and_scalars(logged):
    logdir, _ = logged
    m = load(logdir)
    layer_runs = {f"{RUN}/tb/seed{s}/{layer_dir_name(layer)}" for s in SEEDS for layer in LAYERS}
    assert set(m.Runs()) == {RUN} | {f"{RUN}/tb/seed{s}" for s in SEEDS} | layer_runs
    for seed in SEEDS:
        for layer in LAYERS:
            run = f"{RUN}/tb/seed{seed}/{layer_dir_name(layer)}"
            tags = set(m.Runs()[run]["tensors"])
            want_tags = {f"saturation/{n}/{sp}" for n in ("saturated", "zero", "dead_units",
                                                          "mean_abs") for sp in SPLITS}
            for k, (name, params, _) in enumerate(ESTIMATORS):
                for split in SPLITS:
                    for q, qname in enumerate(("I_XT", "I_TY")):
                        tag = f"{LABELS[params]}/{qname}/{split}"
                        want_tags.add(tag)
                        epochs = [e for e in EPOCHS if (seed, e, layer, name) != MISSING]
                        got = scalars(m, run, tag)
                        assert [s for s, _ in got] == epochs, (run, tag)
                        want = [value(seed, split, e, layer, k, q) for e in epochs]
                        np.testing.assert_allclose([v for _, v in got], want, rtol=1e-6)
            assert tags == want_tags
            got = scalars(m, run, "saturation/zero/test")
            j = LAYERS.index(layer)
            np.testing.assert_allclose(
                [v for _, v in got], [seed + e / 10 + 1 / 100 + j / 1000 for e in EPOCHS],
                rtol=1e-6)
        run = f"{RUN}/tb/seed{seed}"
        assert set(m.Runs()[run]["tensors"]) == {"metrics/train_acc", "metrics/test_acc",
                                                 "metrics/train_loss", "metrics/test_loss"}
        got = scalars(m, run, "metrics/test_loss")
        assert [s for s, _ in got] == list(EPOCHS)
        np.testing.assert_allclose([v for _, v in got], [seed + e / 10 + 0.03 for e in EPOCHS],
                                   rtol=1e-6)
        md = m.SummaryMetadata(run, "metrics/test_loss")
        assert md.plugin_data.plugin_name == "scalars"
        assert md.data_class == summary_pb2.DATA_CLASS_SCALAR


def test_dashboard_tensors(logged):
    logdir, _ = logged
    m = load(logdir)
    contents = m.PluginRunToTagToContent("infoplane")[RUN]
    want_tags = {dashboard_tag(LABELS[p], sp, s) for _, p, _ in ESTIMATORS for sp in SPLITS
                 for s in SEEDS}
    assert set(contents) == want_tags
    for k, (name, params, units) in enumerate(ESTIMATORS):
        for split in SPLITS:
            for seed in SEEDS:
                tag = dashboard_tag(LABELS[params], split, seed)
                md = m.SummaryMetadata(RUN, tag)
                assert md.plugin_data.plugin_name == "infoplane"
                assert md.data_class == summary_pb2.DATA_CLASS_TENSOR
                scale = math.log(2) if units == "nats" else 1.0
                ceil = ({"i_xt": 12.0 * scale, "i_ty": 0.9999 * scale} if split == "train"
                        else {"i_xt": None, "i_ty": None})
                assert json.loads(contents[tag].decode("utf-8")) == {
                    "version": 2, "estimator": name, "label": LABELS[params], "split": split,
                    "seed": seed, "layers": list(LAYERS), "order": k,
                    "quantities": ["i_xt", "i_ty", "i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi"],
                    "units": units, "params": json.loads(params), "ceilings": ceil,
                    "ceiling_names": {q: None if ceil[q] is None else n for q, n in (
                        ("i_xt", "H(X)"), ("i_ty", "H(Y)"))}}
                events = m.Tensors(RUN, tag)
                assert [e.step for e in events] == list(EPOCHS)
                for e in events:
                    got = tensor_util.make_ndarray(e.tensor_proto)
                    assert got.dtype == np.float64 and got.shape == (len(LAYERS), 6)
                    assert np.isnan(got[:, 2:]).all()  # the rows have no intervals
                    got = got[:, :2]
                    want = np.array([[value(seed, split, e.step, layer, k, q) for q in (0, 1)]
                                     for layer in LAYERS])
                    if (seed, e.step, "softmax", name) == MISSING:
                        want[LAYERS.index("softmax")] = np.nan
                    np.testing.assert_array_equal(got, want)  # bit for bit, NaN included
                    assert e.wall_time > 1.6e9


def test_images(logged):
    from PIL import Image

    logdir, calls = logged
    m = load(logdir)
    tags = [t for t in m.Runs()[RUN]["tensors"] if t.startswith("information_plane/")]
    assert sorted(tags) == sorted(f"information_plane/{LABELS[p]}/{sp}"
                                  for _, p, _ in ESTIMATORS for sp in SPLITS)
    for tag in tags:
        events = m.Tensors(RUN, tag)
        assert [e.step for e in events] == [2, 5]  # image_every=3 over 6 epochs
        md = m.SummaryMetadata(RUN, tag)
        assert md.plugin_data.plugin_name == "images"
        assert md.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
        width, height, png = tensor_util.make_ndarray(events[-1].tensor_proto)
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size == (int(width), int(height)) == (80, 60)
    # the renderer got every row of one estimator instance and split, all seeds
    n_rows = {(p, sp): len(EPOCHS) * len(SEEDS) * len(LAYERS) - (p == PKDE)
              for _, p, _ in ESTIMATORS for sp in SPLITS}
    last = calls[-len(tags):]
    assert sorted(n for n, _ in last) == sorted(n_rows.values())
    assert {(kw["estimator"], kw["params"], kw["split"]) for _, kw in last} == {
        (n, p, sp) for n, p, _ in ESTIMATORS for sp in SPLITS}


def test_hparams(logged):
    logdir, _ = logged
    content = load(logdir).PluginRunToTagToContent("hparams")[RUN]
    info = hp_metadata.parse_session_start_info_plugin_data(
        content[hp_metadata.SESSION_START_INFO_TAG])
    assert info.group_name == RUN
    got = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
           for k, v in info.hparams.items()}
    assert got == {"lr": 0.01, "activation": "tanh", "hidden": "[10, 7]", "batch": 256.0,
                   "bn": False}
    exp = hp_metadata.parse_experiment_plugin_data(content[hp_metadata.EXPERIMENT_TAG])
    assert sorted(h.name for h in exp.hparam_infos) == sorted(got)
    assert {(mi.name.group, mi.name.tag) for mi in exp.metric_infos} == {
        ("tb/seed0", f"metrics/{n}") for n in ("train_acc", "test_acc", "train_loss",
                                              "test_loss")}


def test_custom_scalars_layout(logged):
    logdir, _ = logged
    m = load(logdir)
    events = m.Tensors(RUN, "custom_scalars__config__")
    layout = layout_pb2.Layout()
    layout.ParseFromString(tensor_util.make_ndarray(events[-1].tensor_proto).item())
    titles = [c.title for c in layout.category]
    assert titles == [LABELS[P30], LABELS[P10], "kde", "training", "saturation"]
    all_tags = {t for r in m.Runs().values() for t in r["tensors"]}
    for category in layout.category:
        for chart in category.chart:
            for regex in chart.multiline.tag:
                matched = [t for t in all_tags if re.search(regex, t)]
                assert matched, (category.title, chart.title, regex)
    kde = layout.category[2]
    assert [c.title for c in kde.chart] == ["I(X;T) train", "I(T;Y) train", "I(X;T) test",
                                            "I(T;Y) test"]
    assert list(kde.chart[0].multiline.tag) == ["^kde/I_XT/train$"]


# ---- labels, layers, images --------------------------------------------------------------------


def test_later_parameter_set_keeps_first_label(tmp_path):
    rows = result_rows([0], seeds=[0])
    only_p30 = [r for r in rows if r["params"] != P10]
    with TensorBoardLogger(tmp_path / "r", images=False) as tb:
        tb.on_results(only_p30)
        tb.on_results([r for r in result_rows([1], seeds=[0]) if r["estimator"] == "binning"])
    tags = load(tmp_path).Runs()["r/tb/seed0/dense_0"]["tensors"]
    assert {"binning/I_XT/train", f"{LABELS[P10]}/I_XT/train", "kde/I_XT/train"} <= set(tags)
    assert f"{LABELS[P30]}/I_XT/train" not in tags


def test_colliding_layer_directories(tmp_path):
    rows = [{"run": "r", "seed": 0, "split": "train", "epoch": 0, "layer": layer,
             "estimator": "kde", "i_xt": 1.0, "i_ty": 0.5, "units": "bits", "params": "{}"}
            for layer in ("a/b", "a_b")]
    with TensorBoardLogger(tmp_path / "r", images=False) as tb:
        tb.on_results(rows)
    suffix = hashlib.sha1(b"a_b").hexdigest()[:6]
    assert sorted(load(tmp_path).Runs()) == ["r", "r/tb/seed0/a_b", f"r/tb/seed0/a_b-{suffix}"]


def test_images_only_at_close_and_render_failure_warns(tmp_path):
    n = []
    with TensorBoardLogger(tmp_path / "a", image_every=0, render=lambda t, **kw: n.append(1)
                           or tiny_png(t, **kw)) as tb:
        tb.on_results(result_rows(EPOCHS, seeds=[0]))
        assert n == []
    assert len(n) == len(ESTIMATORS) * len(SPLITS)
    assert all(e.step == EPOCHS[-1] for e in load(tmp_path).Tensors(
        "a", "information_plane/kde/train"))

    def broken(table, **kw):
        raise RuntimeError("no display")

    tb = TensorBoardLogger(tmp_path / "b", image_every=1, render=broken)
    with pytest.warns(RuntimeWarning, match="could not be rendered.*no display"):
        tb.on_results(result_rows([0], seeds=[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        tb.on_results(result_rows([1], seeds=[0]))
        tb.close()
    assert "kde/I_XT/train" in load(tmp_path).Runs()["b/tb/seed0/dense_0"]["tensors"]


def test_images_past_their_time_budget_wait_and_the_last_is_always_drawn(tmp_path):
    """A render costing far more than the epochs between images: with a 2 % budget only the
    first image and the one at close are drawn; with a budget of 1 every due image is."""
    def slow(table, **kw):
        time.sleep(0.02)
        return tiny_png(table, **kw)

    steps = {}
    for budget in (0.02, 1.0):
        name = f"b{budget}"
        with TensorBoardLogger(tmp_path / name, image_every=1, image_budget=budget,
                               render=slow) as tb:
            for e in EPOCHS:
                tb.on_results(result_rows([e], seeds=[0]))
        steps[budget] = [e.step for e in load(tmp_path).Tensors(
            name, "information_plane/kde/train")]
    assert steps[1.0] == list(EPOCHS)
    assert steps[0.02] == [EPOCHS[0], EPOCHS[-1]]
    for bad in (0, -0.1, 1.5, True, "0.1"):
        with pytest.raises(ValueError, match="image_budget"):
            TensorBoardLogger(tmp_path / "x", image_budget=bad)


def test_default_renderer(tmp_path):
    pytest.importorskip("infoplane.plot")
    from PIL import Image

    with TensorBoardLogger(tmp_path / "r", ceilings=CEILINGS, image_every=0) as tb:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            tb.on_results([r for r in result_rows([0, 1, 2], seeds=[0])
                           if r["estimator"] == "kde" and r["split"] == "train"])
            tb.close()
    (event,) = load(tmp_path).Tensors("r", "information_plane/kde/train")
    _, _, png = tensor_util.make_ndarray(event.tensor_proto)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size[0] > 100 and img.size[1] > 100


# ---- resume ------------------------------------------------------------------------------------


def test_resume_purges_orphaned_steps(tmp_path):
    rows = result_rows(range(10), seeds=[0])
    with TensorBoardLogger(tmp_path / RUN, hparams={"lr": 0.1}, image_every=0,
                           render=tiny_png) as tb:
        tb.on_metrics(metric_rows(range(10), seeds=[0]))
        tb.on_results(rows)
    shifted = [{**r, "i_xt": r["i_xt"] + 1000} for r in result_rows(range(5, 8), seeds=[0])]
    with TensorBoardLogger(tmp_path / RUN, hparams={"lr": 0.1}, resume_epoch=5, image_every=0,
                           render=tiny_png) as tb:
        tb.on_metrics(metric_rows(range(5, 8), seeds=[0]))
        tb.on_results(shifted)
    m = load(tmp_path)
    got = scalars(m, f"{RUN}/tb/seed0/dense_0", f"{LABELS[P30]}/I_XT/train")
    assert [s for s, _ in got] == list(range(8))
    np.testing.assert_allclose([v for _, v in got],
                               [value(0, "train", e, "dense_0", 0, 0) + 1000 * (e >= 5)
                                for e in range(8)], rtol=1e-6)
    assert [s for s, _ in scalars(m, f"{RUN}/tb/seed0", "metrics/train_acc")] == list(range(8))
    tensors = m.Tensors(RUN, dashboard_tag("kde", "train", 0))
    assert [e.step for e in tensors] == list(range(8))
    assert tensor_util.make_ndarray(tensors[6].tensor_proto)[0, 0] == \
        value(0, "train", 6, "dense_0", 2, 0) + 1000
    assert [e.step for e in m.Tensors(RUN, "information_plane/kde/train")] == [7]
    assert "custom_scalars__config__" in m.Runs()[RUN]["tensors"]


# ---- bad input ---------------------------------------------------------------------------------


def test_bad_rows(tmp_path):
    tb = TensorBoardLogger(tmp_path / "r", images=False)
    row = result_rows([0], seeds=[0])[0]
    bad = {k: v for k, v in row.items() if k != "i_ty"}
    with pytest.raises(ValueError, match=r"row 1 lacks key\(s\) \['i_ty'\].*'layer': 'dense_0'"):
        tb.on_results([row, bad])
    for epoch in (float("nan"), float("inf"), -1, 1.5, "3"):
        with pytest.raises(ValueError, match=r"row 0 has epoch=.*finite non-negative integer"):
            tb.on_results([{**row, "epoch": epoch}])
    with pytest.raises(ValueError, match=r"row 0 has i_xt=None; i_xt must be a real number"):
        tb.on_results([{**row, "i_xt": None}])
    with pytest.raises(ValueError, match="units="):
        tb.on_results([{**row, "units": "bans"}])
    with pytest.raises(ValueError, match=r"on_metrics: row 0 lacks key\(s\) \['value'\]"):
        tb.on_metrics([{"run": "r", "seed": 0, "epoch": 0, "name": "loss"}])
    with pytest.raises(ValueError, match="on_diagnostics: row 0 has seed=True"):
        tb.on_diagnostics([{"run": "r", "seed": True, "split": "train", "epoch": 0,
                            "layer": "a", "name": "zero", "value": 0.0}])
    with pytest.raises(TypeError, match="list of row dicts"):
        tb.on_results(row)
    with pytest.raises(ValueError, match="image_every"):
        TensorBoardLogger(tmp_path / "x", image_every=-1)
    tb.on_results([{**row, "epoch": 2.0}])  # an integral float is an epoch
    tb.close()
    tb.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        tb.on_results([row])
    with pytest.raises(RuntimeError, match="closed"):
        tb.on_metrics([])
    assert load(tmp_path).Tensors("r/tb/seed0/dense_0", "binning/I_XT/train")[0].step == 2


def test_event_writer(tmp_path):
    w = EventWriter(tmp_path / "w")
    assert not os.path.exists(tmp_path / "w")  # lazily created
    w.scalar("x", 1.5, 3)
    w.tensor("t", np.arange(6, dtype=np.int32).reshape(2, 3), 3, plugin_name="mine",
             content=b"c")
    with pytest.raises(ValueError, match="PNG"):
        w.image("img", b"GIF89a" + bytes(40), 3)
    w.flush()
    m = load(tmp_path)
    assert scalars(m, "w", "x") == [(3, 1.5)]
    np.testing.assert_array_equal(tensor_util.make_ndarray(m.Tensors("w", "t")[0].tensor_proto),
                                  np.arange(6).reshape(2, 3))
    assert m.SummaryMetadata("w", "t").plugin_data.content == b"c"
    w.close()
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.scalar("x", 1.0, 4)


def test_flushed_without_close(tmp_path):
    """Everything passed in is on disk when the call returns (a killed process loses none)."""
    tb = TensorBoardLogger(tmp_path / "r", images=False)
    tb.on_results(result_rows([0, 1], seeds=[0]))
    tb.on_metrics(metric_rows([0, 1], seeds=[0]))
    m = load(tmp_path)  # before close
    assert len(m.Tensors("r/tb/seed0/softmax", "kde/I_TY/test")) == 2
    assert len(m.Tensors("r/tb/seed0", "metrics/train_acc")) == 2
    assert len(m.Tensors("r", dashboard_tag("kde", "test", 0))) == 2
    tb.close()


# ---- a real TensorBoard server -----------------------------------------------------------------

_SERVE = textwrap.dedent("""
    import sys, time
    from tensorboard import program
    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1", "--port", "0",
                       "--reload_interval", "1", *sys.argv[2:]])
    print(tb.launch(), flush=True)
    time.sleep(300)
""")


def _serve(logdir, *extra):
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(logdir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    line = ""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline and not line.startswith("http"):
        if proc.poll() is not None:
            break
        if sel.select(timeout=0.5):
            line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.kill()
        pytest.fail(f"TensorBoard did not start within 60 s (got {line!r})")
    return proc, line


def _get(url: str, data: dict | None = None) -> bytes:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def _get_json(url: str, data: dict | None = None):
    return json.loads(_get(url, data))


def _wait_for(fn, timeout: float = 30.0):
    """Poll ``fn`` until it returns a truthy value (the server loads runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["--load_fast=true", "--load_fast=false"])
def test_tensorboard_server(logged, loader):
    """The Rust data server (TensorBoard's default when installed) and the Python loader."""
    if loader == "--load_fast=true":
        pytest.importorskip("tensorboard_data_server")
    logdir, _ = logged
    proc, url = _serve(logdir, loader)
    try:
        q = urllib.parse.quote
        run0 = f"{RUN}/tb/seed0/{layer_dir_name('enc/dense_1')}"
        want_runs = {RUN, f"{RUN}/tb/seed0", f"{RUN}/tb/seed1", run0}
        runs = _wait_for(lambda: want_runs <= set(_get_json(url + "data/runs"))
                         and _get_json(url + "data/runs"))
        assert want_runs <= set(runs), runs
        listing = _wait_for(lambda: (d := _get_json(url + "data/plugins_listing"))["images"][
            "enabled"] and d)
        for plugin in ("scalars", "images", "hparams", "custom_scalars"):
            assert listing[plugin]["enabled"], plugin
        tag = f"{LABELS[P10]}/I_TY/test"
        got = _get_json(f"{url}data/plugin/scalars/scalars?run={q(run0, safe='')}&tag={q(tag)}")
        assert [s for _, s, _ in got] == list(EPOCHS)
        np.testing.assert_allclose([v for _, _, v in got],
                                   [value(0, "test", e, "enc/dense_1", 1, 1) for e in EPOCHS],
                                   rtol=1e-6)

        tags = _get_json(url + "data/plugin/images/tags")
        img_tag = f"information_plane/{LABELS[P30]}/train"
        assert img_tag in tags[RUN]
        images = _get_json(f"{url}data/plugin/images/images?run={q(RUN)}&tag={q(img_tag)}")
        assert [im["step"] for im in images] == [2, 5]
        png = _get(f"{url}data/plugin/images/individualImage?{images[-1]['query']}")
        assert png[:8] == b"\x89PNG\r\n\x1a\n"

        exp = _get_json(url + "data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in exp["hparamInfos"]} == {"lr", "activation", "hidden",
                                                          "batch", "bn"}
        groups = _get_json(url + "data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 10, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                "STATUS_RUNNING"]})
        (group,) = groups["sessionGroups"]
        assert group["name"] == RUN and group["hparams"]["activation"] == "tanh"
        metric = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert metric["metrics/train_acc"] == pytest.approx(0 + EPOCHS[-1] / 10, rel=1e-6)

        layout = _get_json(url + "data/plugin/custom_scalars/layout")
        assert [c["title"] for c in layout["category"]] == [
            LABELS[P30], LABELS[P10], "kde", "training", "saturation"]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_dashboard_ceiling_of_a_subsampled_estimator(tmp_path):
    """An estimator on a 1024-sample subset sees at most 1024 distinct inputs: the dashboard's
    I(X;T) ceiling is log2 1024 = 10 bits, not the probe's 12; H(Y) is unchanged."""
    params = json.dumps({"subsample": 1024, "subsample_seed": 0, "sigma2": 0.001},
                        sort_keys=True)
    rows = [{"run": "s", "seed": 0, "split": "train", "epoch": 0, "layer": "h",
             "estimator": "kde", "i_xt": 3.0, "i_ty": 0.5, "units": units, "params": params}
            for units in ("bits",)]
    with TensorBoardLogger(tmp_path / "s", run="s", ceilings=CEILINGS, images=False) as tb:
        tb.on_results(rows)
    mux = load(tmp_path)
    meta = mux.SummaryMetadata("s", "infoplane/kde/train/seed0")
    content = json.loads(meta.plugin_data.content)
    assert content["ceilings"] == {"i_xt": pytest.approx(10.0), "i_ty": pytest.approx(0.9999)}


def test_dashboard_has_no_ceilings_for_dsmi(tmp_path):
    """DSMI is not Shannon information: H(X) and H(Y) do not bound it, so its dashboard
    metadata carries no ceilings (the tab then draws none), while KDE's does."""
    rows = [{"run": "s", "seed": 0, "split": "train", "epoch": 0, "layer": "h",
             "estimator": name, "i_xt": 3.0, "i_ty": 0.5, "units": "bits",
             "params": json.dumps({"estimator": name})} for name in ("dsmi", "kde")]
    with TensorBoardLogger(tmp_path / "s", run="s", ceilings=CEILINGS, images=False) as tb:
        tb.on_results(rows)
    mux = load(tmp_path)
    got = {name: json.loads(mux.SummaryMetadata("s", f"infoplane/{name}/train/seed0")
                            .plugin_data.content)["ceilings"] for name in ("dsmi", "kde")}
    assert got["dsmi"] == {"i_xt": None, "i_ty": None}
    assert got["kde"]["i_xt"] == pytest.approx(12.0)


def test_aux_scalars_next_to_the_estimator(tmp_path):
    """on_aux writes <label>/aux/<name>/<split> in the layer's run, with the same label as the
    estimator's I_XT/I_TY (hashed labels for two parameter sets of one estimator)."""
    epochs = (0, 1, 4)
    rows = [r for r in result_rows(epochs, seeds=(0,)) if r["split"] == "train"]
    aux = [{"run": RUN, "seed": 0, "split": "train", "epoch": r["epoch"], "layer": r["layer"],
            "estimator": r["estimator"], "params": r["params"], "name": "i_xt_lower",
            "value": r["i_xt"] / 2} for r in rows]
    with TensorBoardLogger(tmp_path / RUN, run=RUN, ceilings=CEILINGS, image_every=0,
                           render=tiny_png) as tb:
        tb.on_results(rows)
        tb.on_aux(aux)
        tb.on_aux([])
    m = load(tmp_path)
    for r in aux:
        run = f"{RUN}/tb/seed0/{layer_dir_name(r['layer'])}"
        got = dict(scalars(m, run, f"{LABELS[r['params']]}/aux/i_xt_lower/train"))
        assert got[r["epoch"]] == pytest.approx(r["value"], rel=1e-6)
    with TensorBoardLogger(tmp_path / "bad", run="bad", render=tiny_png) as bad:
        with pytest.raises(ValueError, match="on_aux"):
            bad.on_aux([{"run": "bad"}])


@pytest.mark.parametrize("n", [0, 1, 7, 12, 300, 5000])
def test_masked_crc32c_matches_tensorboards(n):
    """Our C-backed record checksum equals TensorBoard's own (pure-Python) one."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as ref

    from infoplane.report.tensorboard.events import masked_crc32c

    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert masked_crc32c(data) == ref(data)
