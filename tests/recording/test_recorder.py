"""`infoplane.Recorder` on user-written nnx and linen models: captured values, buffering and
batching, files, schedules, resume, errors, and the `Subsample` wrapper."""

from __future__ import annotations

import json
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import infoplane
from infoplane.estimators import KDE, AdaptiveBinning, Binning, Compressed
from infoplane.estimators import apply as _api
from infoplane.estimators.subsample import Subsample, stratified_indices
from infoplane.recording.buffer import Entry as _Entry
from infoplane.recording.placement import stack_epochs as _stack_epochs
from infoplane.recording.recorder import Recorder
from infoplane.recording.schedule import Schedule


class TinyMLP(nnx.Module):  # a user's model: nothing infoplane-specific in it
    def __init__(self, rngs):
        self.fc1 = nnx.Linear(6, 5, rngs=rngs)
        self.fc2 = nnx.Linear(5, 3, rngs=rngs)
        self.out = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.fc2(jnp.tanh(self.fc1(x)))))


def manual_layers(m: TinyMLP, x):
    def dense(layer, h):
        return h @ np.asarray(layer.kernel[...]) + np.asarray(layer.bias[...])

    h1 = np.tanh(dense(m.fc1, x))
    h2 = np.tanh(dense(m.fc2, h1))
    logits = dense(m.out, h2)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return {"fc1": h1, "fc2": h2, "output": p / p.sum(1, keepdims=True)}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    return x, y


def perturb(model: TinyMLP, k: int) -> None:
    """A stand-in for a training step: deterministic weight changes."""
    for i, layer in enumerate((model.fc1, model.fc2, model.out)):
        layer.kernel[...] = layer.kernel[...] * (1.0 + 0.3 * k) + 0.01 * (i + 1)


def test_nnx_results_equal_direct_estimates(data):
    x, y = data
    model = TinyMLP(nnx.Rngs(0))
    ests = [Binning(), AdaptiveBinning(), KDE(sigma2=0.05)]
    rec = Recorder(x, y, ests, None, buffer=3, flush_seconds=1e9)  # a flush of 3, then of 2
    expected = []
    for epoch in range(5):
        perturb(model, epoch)
        assert rec.record(epoch, model)
        captured = rec.capture(model)["train"]
        manual = manual_layers(model, x)
        assert list(captured) == list(manual)
        for layer, t in captured.items():
            np.testing.assert_allclose(np.asarray(t), manual[layer], atol=1e-5)
            for est in ests:  # the recorder's batched, padded estimate equals a direct one
                r = infoplane.estimate(est, x, t, y)
                expected.append((epoch, layer, est.name, float(r.i_xt), float(r.i_ty)))
    assert rec.pending == 2
    rec.close()
    assert rec.layer_names == ("fc1", "fc2", "output")
    got = {(r["epoch"], r["layer"], r["estimator"]): r for r in rec.results().rows()}
    assert len(got) == len(expected) == 5 * 3 * 3
    for epoch, layer, name, i_xt, i_ty in expected:
        r = got[(epoch, layer, name)]
        assert r["split"] == "train" and r["seed"] == 0 and r["units"] == "bits"
        np.testing.assert_allclose(r["i_xt"], i_xt, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r["i_ty"], i_ty, rtol=1e-5, atol=1e-5)
    # the user's model is untouched by recording (no eval flags, no sown state)
    assert not any(isinstance(v, nnx.Intermediate) for _, v in nnx.iter_graph(model))


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(4)(x))
        return nn.Dense(2)(x)


def test_linen_record_matches_manual_forward(data):
    x, y = data
    module = LinenMLP()
    params = module.init(jax.random.key(1), x[:1])
    rec = Recorder(x, y, ["binning"], None, output="logits")
    assert rec.record(0, module, params)
    captured = rec.capture(module, params)["train"]
    p = params["params"]
    h = np.maximum(x @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(p["Dense_0"]["bias"]), 0)
    np.testing.assert_allclose(np.asarray(captured["Dense_0"]), h, atol=1e-5)
    logits = h @ np.asarray(p["Dense_1"]["kernel"]) + np.asarray(p["Dense_1"]["bias"])
    np.testing.assert_allclose(np.asarray(captured["output"]), logits, atol=1e-5)
    rec.close()
    r = infoplane.estimate(Binning(), x, h.astype(np.float32), y)
    row = rec.results().where(layer="Dense_0").rows()[0]
    np.testing.assert_allclose(row["i_xt"], float(r.i_xt), rtol=1e-6)


def test_run_directory_and_load_results(data, tmp_path):
    x, y = data
    model = TinyMLP(nnx.Rngs(1))
    xt, yt = x[:80], y[:80]
    with Recorder(x, y, ["binning", KDE(sigma2=0.1)], tmp_path, name="r1", test=(xt, yt),
                  schedule=Schedule.explicit([0, 2, 4]), config={"note": "hi"}) as rec:
        for epoch in range(6):
            perturb(model, epoch)
            recorded = rec.record(epoch, model)
            assert recorded == (epoch in (0, 2, 4))
            rec.log_metrics(epoch, {"acc": 0.5 + epoch / 10})
    run_dir = tmp_path / "r1"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["note"] == "hi" and config["estimators"] == ["binning", "kde"]
    assert config["schedule"] == {"kind": "explicit", "epochs": [0, 2, 4]}
    assert {k: (v["n"], v["x_shape"]) for k, v in config["probes"].items()} == {
        "train": (200, [6]), "test": (80, [6])}
    assert config["probes"]["test"]["h_x_bits"] == pytest.approx(np.log2(80))
    table = infoplane.load_results(run_dir)
    assert len(table) == 3 * 2 * 3 * 2  # epochs x splits x layers x estimators
    assert sorted(table.unique("split")) == ["test", "train"]
    assert sorted(set(table["epoch"].tolist())) == [0, 2, 4]
    mem = rec.results()
    for a, b in zip(sorted(table.rows(), key=str), sorted(mem.rows(), key=str), strict=True):
        assert a == b
    params = json.loads(table.where(estimator="kde").rows()[0]["params"])
    assert params["sigma2"] == 0.1 and params["estimator"] == "kde"
    metrics = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 6


def test_no_recompile_per_epoch(data):
    x, y = data
    model = TinyMLP(nnx.Rngs(2))
    rec = Recorder(x, y, ["binning"], None, buffer=4)
    for epoch in range(4):
        perturb(model, epoch)
        rec.record(epoch, model)
    sizes = (_api._epochs._cache_size(), len(rec._capture.fns))
    for epoch in range(4, 16):
        perturb(model, epoch)
        rec.record(epoch, model)
    rec.close()
    assert (_api._epochs._cache_size(), len(rec._capture.fns)) == sizes
    assert len(rec.results()) == 16 * 3


def test_seeds_and_duplicates(data):
    x, y = data
    model = TinyMLP(nnx.Rngs(3))
    rec = Recorder(x, y, ["binning"], None)
    rec.record(0, model, seed=0)
    rec.record(0, model, seed=1)
    with pytest.raises(ValueError, match="already recorded"):
        rec.record(0, model, seed=1)
    rec.close()
    res = rec.results()
    assert sorted(set(res["seed"].tolist())) == [0, 1]
    a = res.where(seed=0)["i_xt"]
    np.testing.assert_array_equal(a, res.where(seed=1)["i_xt"])  # same model, same numbers


def test_resume_skips_recorded_epochs(data, tmp_path):
    x, y = data
    model = TinyMLP(nnx.Rngs(4))
    rec = Recorder(x, y, ["binning"], tmp_path, name="r")
    for epoch in range(3):
        rec.record(epoch, model)
    rec.close()
    with pytest.raises(FileExistsError, match="resume=True"):
        Recorder(x, y, ["binning"], tmp_path, name="r")
    rec2 = Recorder(x, y, ["binning"], tmp_path, name="r", resume=True)
    assert [rec2.record(e, model) for e in range(5)] == [False, False, False, True, True]
    rec2.close()
    table = infoplane.load_results(tmp_path / "r")
    assert sorted(table["epoch"].tolist()) == sorted([e for e in range(5) for _ in range(3)])


def test_store_activations_round_trip(data, tmp_path):
    from infoplane.store.activations import ActivationStore

    x, y = data
    model = TinyMLP(nnx.Rngs(5))
    rec = Recorder(x, y, ["binning"], tmp_path, name="s", store_activations=True)
    rec.record(7, model)
    rec.close()
    store = ActivationStore(tmp_path / "s")
    assert store.epochs("train", 0) == [7]
    acts = store.read(0, "train", 7)
    ref = manual_layers(model, x)
    assert list(acts) == list(ref)
    for k in ref:
        np.testing.assert_allclose(acts[k], ref[k], atol=1e-5)
    px, py = store.read_probe("train")
    np.testing.assert_array_equal(px, x)
    np.testing.assert_array_equal(py, y)


def test_layer_selection_and_source(data):
    x, y = data
    model = TinyMLP(nnx.Rngs(6))
    rec = Recorder(x, y, ["binning"], None, layers=["fc2"], output=None)
    rec.record(0, model)
    rec.close()
    assert rec.layer_names == ("fc2",)
    rec = Recorder(x, y, ["binning"], None, layers=lambda n: n.startswith("fc"),
                   source="outputs", output=None)
    rec.record(0, model)
    assert rec.layer_names == ("fc1", "fc2")
    acts = rec.capture(model)["train"]
    w, b = np.asarray(model.fc1.kernel[...]), np.asarray(model.fc1.bias[...])
    np.testing.assert_allclose(np.asarray(acts["fc1"]), x @ w + b, atol=1e-5)  # pre-activation


def test_bad_input_messages(data, tmp_path):
    x, y = data
    model = TinyMLP(nnx.Rngs(7))
    with pytest.raises(ValueError, match="probe set 'train'.*N mismatch"):
        Recorder(x, y[:-1], ["binning"], None)
    with pytest.raises(ValueError, match="Unknown estimator 'binnning'"):
        Recorder(x, y, ["binnning"], None)
    with pytest.raises(TypeError, match="instance"):
        Recorder(x, y, [Binning], None)
    with pytest.raises(ValueError, match="listed twice"):
        Recorder(x, y, ["binning", Binning()], None)
    with pytest.raises(ValueError, match="source"):
        Recorder(x, y, ["binning"], None, source="middle")
    with pytest.raises(ValueError, match="NaN"):
        Recorder(np.where(x > 2, np.nan, x), y, ["binning"], None)
    rec = Recorder(x, y, ["binning"], None)
    with pytest.raises(TypeError, match="no params for a flax nnx"):
        rec.record(0, model, {"params": {}})
    with pytest.raises(TypeError, match="needs its variables"):
        rec.record(0, LinenMLP())
    with pytest.raises(TypeError, match="nnx.Module"):
        rec.record(0, lambda v: v)
    with pytest.raises(ValueError, match="non-negative"):
        rec.record(-1, model)
    with pytest.raises(ValueError, match="unknown split"):
        rec.add(0, {"a": x}, split="valid")
    with pytest.raises(ValueError, match=r"shape \(N, \.\.\.\) with N = 200"):
        rec.add(0, {"a": x[:5]})
    rec.record(0, model)
    with pytest.raises(ValueError, match="layers changed"):
        rec.add(1, {"other": x})


def test_diverged_training_warns_and_keeps_other_results(data):
    x, y = data
    rec = Recorder(x, y, ["binning", KDE()], None)
    bad = x.copy()
    bad[3, 1] = np.nan
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rec.add(0, {"ok": x, "bad": bad})
        rec.close()
    assert any("diverged" in str(m.message) for m in w)
    assert set(rec.results()["layer"].tolist()) == {"ok"}
    assert len(rec.errors) == 2


def test_subsample_is_stratified_and_recorded(data):
    x, y = data
    idx = stratified_indices(y, 50, seed=0)
    assert len(idx) == 50 and np.all(np.diff(idx) > 0)
    share = np.bincount(y)[1] / len(y)
    assert abs(np.mean(y[idx]) - share) <= 1 / 50
    np.testing.assert_array_equal(stratified_indices(y, 10**6, 0), np.arange(len(y)))
    t = np.tanh(x[:, :3] * 2).astype(np.float32)
    est = Subsample(KDE(sigma2=0.1), n=50, seed=0)
    r = infoplane.estimate(est, x, t, y)
    direct = infoplane.estimate(KDE(sigma2=0.1), x[idx], t[idx], y[idx])
    np.testing.assert_allclose(float(r.i_xt), float(direct.i_xt), rtol=1e-5)
    np.testing.assert_allclose(float(r.i_ty), float(direct.i_ty), rtol=1e-5)
    meta = r.metadata()
    assert meta["estimator"] == "kde" and meta["subsample"] == 50 and meta["sigma2"] == 0.1
    with pytest.raises(TypeError, match="instance"):
        Subsample(Compressed)
    with pytest.raises(ValueError, match=">= 2"):
        Subsample(KDE(), n=1)


def test_subsample_hash_retry_path(data):
    """A wrapped hashed estimator can be retried with another hash seed (see _api._retry)."""
    x, y = data
    est = Subsample(Binning(), n=100)
    alt = est.with_hash_seed(5)
    assert alt.estimator.hash_seed == 5 and alt.n == 100
    t = np.tanh(x).astype(np.float32)
    a = _api._retry(est, infoplane.prepare(est, x, y)[1], t)
    b = infoplane.estimate(est, x, t, y)
    np.testing.assert_allclose(float(a.i_xt), float(b.i_xt))
    assert a.metadata()["subsample"] == 100


def _record_epochs(rec, model, n):
    """Record ``n`` perturbed epochs and close; returns each epoch's captured train layers."""
    captured = {}
    for epoch in range(n):
        perturb(model, epoch)
        rec.record(epoch, model)
        captured[epoch] = rec.capture(model)["train"]
    rec.close()
    return captured


def test_diagnostics_and_ceilings_written(data, tmp_path):
    """diagnostics.csv holds every layer's saturation statistics at every recorded epoch,
    equal to `activation_stats` of the captured activations; config.json holds the ceilings."""
    from infoplane.report.diagnostics import STAT_NAMES, activation_stats, ceilings

    x, y = data
    model = TinyMLP(nnx.Rngs(1))
    seen = []
    rec = Recorder(x, y, ["binning"], tmp_path, name="d", buffer=2, on_diagnostics=seen.extend,
                   tensorboard=False)
    captured = _record_epochs(rec, model, 3)
    rows = infoplane.load_diagnostics(rec.run_dir)
    assert rows == rec.diagnostics() == seen
    assert len(rows) == 3 * 3 * len(STAT_NAMES)
    for r in rows:
        t = captured[r["epoch"]][r["layer"]][None]
        want = float(activation_stats(t)[r["name"]][0])
        assert r["value"] == pytest.approx(want, abs=1e-7), r
        assert r["split"] == "train" and r["seed"] == 0 and r["run"] == "d"
    cfg = json.load(open(rec.run_dir + "/config.json"))
    c = ceilings(x, y)
    assert cfg["probes"]["train"]["h_x_bits"] == pytest.approx(c["i_xt"])
    assert cfg["probes"]["train"]["h_y_bits"] == pytest.approx(c["i_ty"])
    assert cfg["probes"]["train"]["h_x_bits"] == pytest.approx(np.log2(len(x)))


def test_store_only_recorder_estimates_later(data, tmp_path):
    """estimators=[] with store_activations=True records activations (and diagnostics) only;
    without store_activations an empty list is a clear error."""
    x, y = data
    with pytest.raises(ValueError, match="store_activations=True"):
        Recorder(x, y, [], tmp_path, name="none")
    model = TinyMLP(nnx.Rngs(2))
    rec = Recorder(x, y, [], tmp_path, name="store", store_activations=True)
    for epoch in range(2):
        perturb(model, epoch)
        rec.record(epoch, model)
    rec.close()
    assert len(rec.results()) == 0
    store = infoplane.ActivationStore(rec.run_dir)
    assert store.epochs("train", 0) == [0, 1]
    assert len(infoplane.load_diagnostics(rec.run_dir)) == 2 * 3 * 4


def test_aux_values_written_and_equal_direct_estimates(data, tmp_path):
    """aux.csv holds every per-epoch scalar of `Estimate.aux` (e.g. the KDE lower bound),
    keyed like results.csv, equal to a direct `infoplane.estimate` of the captured layer and
    read back bit for bit (truncation on resume: the SIGKILL test in
    tests/experiments/test_run.py)."""
    x, y = data
    model = TinyMLP(nnx.Rngs(2))
    seen = []
    kde = infoplane.KDE(sigma2=0.05)
    rec = Recorder(x, y, ["binning", kde], tmp_path, name="a", buffer=2, on_aux=seen.extend,
                   tensorboard=False)
    captured = _record_epochs(rec, model, 3)
    rows = infoplane.load_aux(rec.run_dir)
    assert rows == rec.aux() == seen
    names = {(r["estimator"], r["name"]) for r in rows}
    assert {("kde", "i_xt_lower"), ("kde", "i_ty_lower"), ("kde", "i_xt_upper"),
            ("binning", "h_t"), ("binning", "n_states")} <= names
    n_layers = len(rec.layer_names)
    per_est = {e: len({n for est, n in names if est == e}) for e in ("binning", "kde")}
    assert len(rows) == 3 * n_layers * (per_est["binning"] + per_est["kde"])
    params = {r["estimator"]: r["params"] for r in infoplane.load_results(rec.run_dir).rows()}
    for r in rows:
        assert r["params"] == params[r["estimator"]]
        est = infoplane.estimators.Binning() if r["estimator"] == "binning" else kde
        want = infoplane.estimate(est, x, captured[r["epoch"]][r["layer"]], y).aux[r["name"]]
        assert r["value"] == pytest.approx(float(want), rel=1e-5, abs=1e-6), r
    lower = [r for r in rows if r["name"] == "i_xt_lower"]
    upper = {(r["epoch"], r["layer"]): r["value"] for r in rows if r["name"] == "i_xt_upper"}
    assert all(r["value"] <= upper[(r["epoch"], r["layer"])] + 1e-6 for r in lower)


def test_stack_epochs_on_host_and_on_device():
    # CPU (host-memory) activations are stacked by NumPy, others by jnp.stack; same values,
    # on the device the layer is estimated on (None: the default device)
    ents = [_Entry(0, "train", e, {"a": jnp.full((3, 2), e, jnp.float32),
                                   "b": np.full((3, 1), 2 * e, np.float32)}) for e in range(4)]
    dev = jax.devices()[0]
    out = _stack_epochs(ents, ("a", "b"), {"a": dev})
    assert out["a"].shape == (4, 3, 2) and out["a"].devices() == {dev}
    assert out["b"].shape == (4, 3, 1) and isinstance(out["b"], jax.Array)
    np.testing.assert_array_equal(out["a"], np.stack([np.full((3, 2), e) for e in range(4)]))
    np.testing.assert_array_equal(out["b"][:, 0, 0], [0, 2, 4, 6])


def test_settings_and_callbacks_are_attributes(data):
    """The settings a Recorder was given stay readable attributes, and callbacks (and the
    flush interval) set after construction are the ones used."""
    x, y = data
    model = TinyMLP(nnx.Rngs(5))
    rec = Recorder(x, y, ["binning"], None, buffer=4, flush_seconds=1e9)
    assert (rec.buffer, rec.flush_seconds, rec.apply_kwargs, rec.shard) == (4, 1e9, {}, None)
    assert rec.errors == [] and rec.on_results is None
    got = {"results": [], "metrics": [], "diagnostics": [], "aux": []}
    rec.on_results = got["results"].extend
    rec.on_metrics = got["metrics"].extend
    rec.on_diagnostics = got["diagnostics"].extend
    rec.on_aux = got["aux"].extend
    rec.record(0, model)
    assert rec.pending == 1  # buffered: 1 of 4
    rec.flush_seconds = 0.0  # now every add is due
    perturb(model, 1)
    rec.record(1, model)
    assert rec.pending == 0
    rec.log_metrics(1, {"loss": 0.5})
    assert [r["epoch"] for r in got["results"] if r["layer"] == "fc1"] == [0, 1]
    assert got["metrics"] == rec.metrics() and got["aux"] == rec.aux()
    assert got["diagnostics"] == rec.diagnostics() and len(got["diagnostics"]) > 0
    rec.close()


def test_binning_warns_when_a_layer_leaves_its_range():
    """A ReLU-like layer binned on (-1, 1) has most values clipped into the edge bins: one
    warning per estimator instance and layer with the fraction, the epoch and the fixes; the
    fraction in aux at every epoch; a tanh layer, range="data" and width= never warn."""
    import warnings as _w

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype(np.float32)
    y = rng.integers(0, 2, 256)
    relu = np.maximum(3.0 * x, 0.0)  # values up to ~10: > 1 for about 37 %
    want = float(np.mean(relu > 1.0))
    seen: list[dict] = []
    rec = Recorder(x, y, ["binning", "binning(range=data)", "binning(width=0.07)"], None,
                   on_aux=seen.extend)
    with pytest.warns(RuntimeWarning, match="clipped into the edge bins") as caught:
        rec.add(0, {"r": relu, "t": np.tanh(x)})
        rec.add(1, {"r": relu, "t": np.tanh(x)})
        rec.flush()
    clip = [str(w.message) for w in caught if "clipped" in str(w.message)]
    assert len(clip) == 1 and f"{100 * want:.0f}%" in clip[0] and "'r'" in clip[0]
    assert "range='data'" in clip[0] and "width=0.07" in clip[0]
    clipped = {(a["epoch"], a["layer"]): a["value"] for a in seen if a["name"] == "clipped"}
    assert set(clipped) == {(e, layer) for e in (0, 1) for layer in ("r", "t")}  # fixed range
    assert clipped[0, "r"] == pytest.approx(want) and clipped[0, "t"] == 0.0
    with _w.catch_warnings():
        _w.simplefilter("error")
        quiet = Recorder(x, y, ["binning"], None)
        quiet.add(0, {"t": np.tanh(x)})
        quiet.flush()
