"""`infoplane.experiments.run` (and the presets it trains): seeds trained together, presets
(MLP, conv net, user data), bit-identical reruns, checkpoints and resume after a real
SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import infoplane
from infoplane.experiments import presets
from infoplane.experiments import run as harness
from infoplane.recording.schedule import Schedule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def two_seeds():
    return harness.run_experiment("tishby-relu", epochs=12, points=4, estimators=["binning"],
                                  seeds=[5, 3], logdir=None)


def test_seeds_trained_together(two_seeds):
    res = two_seeds.recorder.results()
    epochs = infoplane.log_spaced_epochs(13, 4).tolist()
    assert sorted(set(res["epoch"].tolist())) == epochs
    assert sorted(set(res["seed"].tolist())) == [3, 5]
    assert two_seeds.recorder.layer_names == tuple(f"layers.{i}" for i in range(5)) + ("output",)
    assert len(res) == 2 * len(epochs) * 6
    a = res.where(seed=3, epoch=0)["i_xt"]
    b = res.where(seed=5, epoch=0)["i_xt"]
    assert not np.array_equal(a, b)  # different initialisations
    # seed 5 trained alone matches seed 5 trained next to seed 3 (vmap only batches them; the
    # split is drawn with the first seed, 5, in both)
    alone = harness.run_experiment("tishby-relu", epochs=12, points=4, estimators=["binning"],
                                   seeds=[5], logdir=None)
    assert alone.final[5]["train_acc"] == pytest.approx(two_seeds.final[5]["train_acc"],
                                                        abs=2e-3)
    c = alone.recorder.results().where(epoch=0)["i_xt"]
    np.testing.assert_allclose(c, b, atol=1e-9)  # the initial networks are identical


def test_digits_cnn_records_train_and_test():
    s = harness.run_experiment("digits-cnn", epochs=2, points=2, estimators=["binning"],
                               logdir=None)
    res = s.recorder.results()
    assert s.recorder.layer_names == ("convs.0", "convs.1", "fc", "output")
    assert sorted(res.unique("split")) == ["test", "train"]
    assert set(res["epoch"].tolist()) == {0, 2}
    assert set(s.final[0]) == {"train_acc", "train_loss", "test_acc", "test_loss"}
    # conv feature maps are flattened: 8x8 -> pooled 4x4x8 = 128 features; saturated binning
    # of 1438 distinct images reaches log2(N) bits
    tr = res.where(split="train", layer="convs.0", epoch=2)
    assert tr["i_xt"][0] == pytest.approx(math.log2(1438), abs=0.05)


def test_per_channel_probe_batches_and_the_plan_through_the_harness(tmp_path):
    """run_experiment(per_channel=True, probe_batch=...) (``--per-channel --probe-batch``):
    the plan is printed before training, conv maps get per-channel rows, dense layers stay
    flat, and both settings are in config.json for a resume."""
    lines = []
    s = harness.run_experiment("digits-cnn", epochs=1, points=2, estimators=["binning"],
                               logdir=str(tmp_path), name="pc", per_channel=True,
                               probe_batch=500, tensorboard=False, log=lines.append)
    text = "\n".join(lines)
    assert "recording plan:" in text and "convs.0" in text and "8 channels" in text
    assert text.index("recording plan:") < text.index("epoch 1/1")  # before training
    params = {r["layer"]: json.loads(r["params"]) for r in s.recorder.results().rows()}
    assert params["convs.0"]["per_channel"] == "mean" and "per_channel" not in params["fc"]
    aux = {a["name"] for a in infoplane.load_aux(s.run_dir) if a["layer"] == "convs.0"}
    assert {"channel0_i_xt", "channel7_i_ty", "n_channels"} <= aux
    with open(os.path.join(s.run_dir, "config.json")) as f:
        config = json.load(f)
    assert config["per_channel"] is True and config["probe_batch"] == 500


@pytest.mark.parametrize("shape", [(300, 5), (300, 6, 6)])
def test_user_data_npz(tmp_path, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    y = (x.reshape(len(x), -1)[:, 0] > 0).astype(np.int64)
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y)
    s = harness.run_experiment("data", data=str(path), epochs=2, points=2,
                               estimators=["binning"], logdir=None)
    names = s.recorder.layer_names
    assert names[-1] == "output"
    assert names[0] == ("convs.0" if len(shape) == 3 else "layers.0")


def test_seeds_count_means_count():
    """seeds=3 trains seeds 0, 1, 2 (as --seeds 3); seeds=[3] the single seed 3."""
    assert harness._parse_seeds(3) == (0, 1, 2)
    assert harness._parse_seeds(np.int64(2)) == (0, 1)
    assert harness._parse_seeds([3]) == (3,)
    assert harness._parse_seeds((5, 3)) == (5, 3)
    for bad, needle in [(0, "at least 1"), (-2, "at least 1"), (True, "count"),
                        ("3", "count"), ([], "distinct"), ([1, 1], "distinct")]:
        with pytest.raises(ValueError, match=needle):
            harness._parse_seeds(bad)
    s = harness.run_experiment(epochs=1, points=2, seeds=2, estimators=["binning"],
                               logdir=None)
    assert sorted(s.final) == [0, 1]
    assert sorted(set(s.recorder.results()["seed"].tolist())) == [0, 1]


def _fake_var_u(path, seed=0):
    """A file laid out as var_u.mat (F uint8 (4096, 12) in a shuffled order, y uint8 (1, 4096)),
    with labels of its own: a stand-in for the original, which is not redistributable."""
    sio = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(seed)
    f = ((np.arange(4096)[:, None] >> np.arange(12)) & 1)[rng.permutation(4096)]
    y = (f[:, :6].sum(1) > f[:, 6:].sum(1)).astype(np.uint8)
    sio.savemat(path, {"F": f.astype(np.uint8), "y": y[None, :]})
    return f.astype(np.float32), y.astype(np.int32)


def test_tishby_preset_trains_on_var_u_file(tmp_path):
    """--preset tishby-tanh --data var_u.mat: the Tishby network on the file's data (not the
    'data' preset's 32-16-8 MLP), and --resume reads the same file again."""
    path = tmp_path / "var_u.mat"
    f, y = _fake_var_u(path)
    s = harness.run_experiment("tishby-tanh", data=str(path), epochs=2, points=2,
                               estimators=["binning"], logdir=str(tmp_path / "runs"),
                               name="v", tensorboard=False)
    assert s.recorder.layer_names == tuple(f"layers.{i}" for i in range(5)) + ("output",)
    assert s.config["data"] == os.path.abspath(path)
    assert s.config["preset"] == "tishby-tanh"
    res = s.recorder.results()
    # the probe is every sample of the file: I(T;Y) of the output is bounded by H(Y) of the
    # file's labels, and the generated task's labels are different
    p1 = y.mean()
    h_y = -(p1 * math.log2(p1) + (1 - p1) * math.log2(1 - p1))
    assert res.where(layer="output")["i_ty"].max() <= h_y + 1e-6
    gen = harness.run_experiment("tishby-tanh", epochs=2, points=2, estimators=["binning"],
                                 logdir=None)
    assert not np.allclose(gen.recorder.results().where(layer="output")["i_ty"],
                           res.where(layer="output")["i_ty"])
    r = harness.resume_experiment(str(tmp_path / "runs" / "v"))
    assert r.config["data"] == os.path.abspath(path)


def test_data_file_errors(tmp_path):
    path = tmp_path / "var_u.mat"
    _fake_var_u(path)
    with pytest.raises(ValueError, match="takes no data file"):
        harness.run_experiment("digits-cnn", data=str(path), logdir=None)
    with pytest.raises(ValueError, match="tishby-tanh"):
        harness.run_experiment("data", data=str(path), logdir=None)
    img = tmp_path / "img.npz"
    np.savez(img, x=np.zeros((20, 4, 4), np.float32), y=np.arange(20) % 2)
    with pytest.raises(ValueError, match="vectors"):
        harness.run_experiment("tishby-relu", data=str(img), logdir=None)
    with pytest.raises(FileNotFoundError, match="var_u.mat not found"):
        harness.run_experiment("tishby-tanh", data=str(tmp_path / "no" / "var_u.mat"),
                               logdir=None)


def test_bad_options():
    with pytest.raises(ValueError, match="valid presets"):
        harness.run_experiment("tishby-sigmoid", logdir=None)
    with pytest.raises(ValueError, match="Unknown estimator"):
        harness.run_experiment(epochs=1, points=2, estimators=["nope"], logdir=None)
    with pytest.raises(ValueError, match="needs --data"):
        harness.run_experiment("data", logdir=None)
    with pytest.raises(ValueError, match="distinct"):
        harness.run_experiment(epochs=1, points=2, seeds=[1, 1], logdir=None)
    with pytest.raises(ValueError, match="schedule epochs"):
        harness.run_experiment(epochs=5, schedule=[0, 9], logdir=None)


def test_costly_estimators_are_subsampled():
    ests = presets.default_estimators(["binning", "compressed", "dsmi"], 4096)
    assert [type(e).__name__ for e in ests] == ["Binning", "Subsample", "Subsample"]
    assert ests[1].n == 1024 and ests[1].name == "compressed" and ests[2].n == 512
    assert [getattr(e, "n", None) for e in
            presets.default_estimators(["binning", "kde", "dsmi"], 4096, 300)] == [None, None, 300]
    assert all(type(e).__name__ != "Subsample"
               for e in presets.default_estimators(["compressed", "dsmi"], 4096, 0))
    assert all(type(e).__name__ != "Subsample"
               for e in presets.default_estimators(["dsmi"], 500))


def test_specs_instances_and_subsamples_survive_resume(tmp_path):
    """config.json records the resolved estimators as specs; --resume rebuilds exactly them
    (parameters and subsample wrappers), not the defaults of their names."""
    import json

    from infoplane.estimators import KDE, Binning, Intervals, Subsample

    given = ["binning(n_bins=12)", Subsample(KDE(sigma2=0.01), n=200, seed=2), KDE(sigma2=0.1)]
    s = harness.run_experiment("tishby-tanh", epochs=3, points=2, estimators=given,
                               logdir=str(tmp_path), name="specs", tensorboard=False)
    # a spec of binning gets the default intervals; instances are used as given
    want = [Intervals(Binning(n_bins=12), 20), Subsample(KDE(sigma2=0.01), n=200, seed=2),
            KDE(sigma2=0.1)]
    assert s.recorder.estimators == want
    config = json.loads((tmp_path / "specs" / "config.json").read_text())
    assert config["estimator_specs"] == [
        "intervals(binning(n_bins=12), resamples=20, fraction=0.5, level=0.95, seed=0, "
        "kind='percentile')", "subsample(kde(sigma2=0.01), n=200, seed=2)", "kde(sigma2=0.1)"]
    again = harness.resume_experiment(str(tmp_path / "specs"))
    assert again.recorder.estimators == want
    params = {r["params"] for r in infoplane.load_results(tmp_path / "specs").rows()}
    assert len(params) == 3  # no row with default parameters was added on resume

    class MyBinning(Binning):  # a user's estimator class: it has no spec string
        pass

    harness.run_experiment("tishby-tanh", epochs=1, points=2, estimators=[MyBinning()],
                           logdir=str(tmp_path), name="custom", tensorboard=False)
    with pytest.raises(ValueError, match="no spec string.*Recorder"):
        harness.resume_experiment(str(tmp_path / "custom"))


# ---- files, bit-identical reruns, kill and resume ------------------------------------------------

RUN = ("--epochs", "120", "--points", "20", "--estimators", "binning", "--buffer", "2")


def _cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               INFOPLANE_NO_CACHE="1")
    return subprocess.Popen([sys.executable, "-m", "infoplane", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _results_key(run_dir):
    res = infoplane.load_results(run_dir)
    rows = sorted((r["seed"], r["split"], r["epoch"], r["layer"], r["estimator"], r["i_xt"],
                   r["i_ty"]) for r in res.rows())
    return rows


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ref")
    p = _cli("run", *RUN, "--logdir", str(logdir), "--name", "ref")
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    return logdir / "ref"


def test_run_directory_contents(reference_run):
    files = sorted(f for f in os.listdir(reference_run) if not f.startswith("events.out."))
    assert files == [".lock", "aux.csv", "checkpoints", "config.json", "diagnostics.csv",
                     "failures.csv", "metrics.csv", "results.csv", "tb"]  # .lock: the writer lock
    assert infoplane.load_failures(reference_run) == []  # written, and empty on a healthy run
    assert any(f.startswith("events.out.tfevents.") for f in os.listdir(reference_run))
    ckpts = sorted(int(d) for d in os.listdir(reference_run / "checkpoints") if d.isdigit())
    assert ckpts[-1] == 120 and len(ckpts) <= 2  # orbax keeps the newest two
    metrics = infoplane.load_metrics(reference_run)
    assert {m["name"] for m in metrics} == {"train_acc", "train_loss", "test_acc", "test_loss"}


def test_same_seed_is_bit_identical(reference_run, tmp_path):
    p = _cli("run", *RUN, "--logdir", str(tmp_path), "--name", "again")
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    assert _results_key(tmp_path / "again") == _results_key(reference_run)


def _scalars(run_dir) -> dict:
    """{(TensorBoard run, tag): [(step, value), ...]} of every scalar under ``run_dir``."""
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(run_dir))
    mux.Reload()
    out = {}
    for run, tags in mux.Runs().items():
        for tag in tags.get("tensors", []):
            events = mux.Tensors(run, tag)
            if mux.SummaryMetadata(run, tag).plugin_data.plugin_name != "scalars":
                continue
            out[(run, tag)] = [(e.step, float(e.tensor_proto.float_val[0])) for e in events]
    assert out, f"no scalars under {run_dir}"
    return out


def test_sigkill_then_resume_has_every_epoch_once(reference_run, tmp_path):
    run_dir = tmp_path / "killed"
    p = _cli("run", *RUN, "--logdir", str(tmp_path), "--name", "killed")
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once some results and a checkpoint are on disk
        ck = run_dir / "checkpoints"
        if (run_dir / "results.csv").exists() and ck.exists() and any(
            d.isdigit() and int(d) >= 20 for d in os.listdir(ck)
        ):
            break
        if p.poll() is not None:
            pytest.fail("the run ended before it could be killed: " + p.stdout.read())
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    partial = infoplane.load_results(run_dir)
    assert 0 < len(partial) < len(infoplane.load_results(reference_run))

    r = _cli("run", "--resume", str(run_dir))
    out, _ = r.communicate(timeout=600)
    assert r.returncode == 0, out
    assert "resuming" in out
    got = _results_key(run_dir)
    keys = [k[:5] for k in got]
    assert len(keys) == len(set(keys))  # no epoch twice
    assert got == _results_key(reference_run)  # none missing, and the same numbers
    metrics = infoplane.load_metrics(run_dir)
    mkeys = [(m["seed"], m["epoch"], m["name"]) for m in metrics]
    assert len(mkeys) == len(set(mkeys))
    diag = infoplane.load_diagnostics(run_dir)
    dkeys = [(d["seed"], d["split"], d["epoch"], d["layer"], d["name"]) for d in diag]
    assert len(dkeys) == len(set(dkeys))
    assert sorted(dkeys) == sorted((d["seed"], d["split"], d["epoch"], d["layer"], d["name"])
                                   for d in infoplane.load_diagnostics(reference_run))

    def aux_key(run):
        return sorted((a["seed"], a["split"], a["epoch"], a["layer"], a["estimator"],
                       a["params"], a["name"], a["value"]) for a in infoplane.load_aux(run))
    assert aux_key(run_dir) == aux_key(reference_run)  # each once, the same values
    # TensorBoard shows what an uninterrupted run shows: the killed run's orphaned steps are
    # purged, every scalar series has each scheduled epoch once, with the same values
    assert _scalars(run_dir) == _scalars(reference_run)

    again = _cli("run", "--resume", str(run_dir))  # a finished run: nothing to add
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert _results_key(run_dir) == got


def test_default_run_writes_each_recorded_epoch_before_training_on(tmp_path):
    """Default buffer (1 with a log-spaced schedule): after every epoch, results.csv on disk
    already holds every recorded epoch so far and the newest checkpoint is the last recorded
    epoch, so a kill at any moment loses at most the epoch in flight."""
    checked = []

    def progress(epoch, total):
        run_dir = tmp_path / "each"
        sched = [e for e in Schedule.log_spaced(30, 8).epochs if e <= epoch]
        on_disk = {r["epoch"] for r in infoplane.load_results(run_dir).rows()}
        assert on_disk == set(sched), (epoch, on_disk, sched)
        ck = [int(d) for d in os.listdir(run_dir / "checkpoints") if d.isdigit()]
        assert max(ck) == sched[-1], (epoch, ck)
        checked.append(epoch)

    s = harness.run_experiment("tishby-relu", epochs=30, points=8, estimators=["binning"],
                               logdir=str(tmp_path), name="each", progress=progress,
                               tensorboard=False)
    assert checked == list(range(31))
    assert s.config["buffer"] == 1
    with pytest.raises(ValueError, match="buffer"):
        harness.run_experiment(epochs=3, points=2, buffer=0, logdir=None)

