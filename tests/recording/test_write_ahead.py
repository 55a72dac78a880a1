"""The `Recorder`'s write-ahead log (``pending/``): every recorded epoch's activations are on
disk before `record` returns, deleted once estimated, and estimated on ``resume=True`` after
a real SIGKILL, so a killed run loses at most the epoch in flight whatever ``buffer`` is."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from flax import nnx

import infoplane
from infoplane.recording.recorder import Recorder
from infoplane.store.activations import ActivationStore
from infoplane.store.layout import PENDING_DIR
from infoplane.store.tables import ResultsFileWarning
from tests.recording.test_recorder import TinyMLP as Net
from tests.recording.test_recorder import perturb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESTIMATORS = ["binning", "kde"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 6)).astype(np.float32)
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int32)


def pending_files(run_dir) -> list[str]:
    root = os.path.join(run_dir, PENDING_DIR)
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _dirs, files in os.walk(root) for f in files)


def result_rows(run_dir) -> list[tuple]:
    """(seed, split, epoch, layer, estimator, i_xt, i_ty) of results.csv, sorted; no
    duplicate keys (checked)."""
    path = os.path.join(run_dir, "results.csv")
    if not os.path.exists(path):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsFileWarning)  # a duplicate key warns: fail
        res = infoplane.load_results(path)
    rows = sorted((r["seed"], r["split"], r["epoch"], r["layer"], r["estimator"], r["i_xt"],
                   r["i_ty"]) for r in res.rows())
    keys = [r[:5] for r in rows]
    assert len(keys) == len(set(keys)), "a (seed, split, epoch, layer, estimator) twice"
    return rows


def aux_rows(run_dir) -> list[tuple]:
    return sorted((a["seed"], a["split"], a["epoch"], a["layer"], a["estimator"], a["name"],
                   a["value"]) for a in infoplane.load_aux(run_dir))


def diag_rows(run_dir) -> list[tuple]:
    return sorted((d["seed"], d["split"], d["epoch"], d["layer"], d["name"], d["value"])
                  for d in infoplane.load_diagnostics(run_dir))


def assert_same_diagnostics(got: list[tuple], want: list[tuple]) -> None:
    """The same keys once each; values equal up to float32 rounding (the statistics reduce
    over the whole flushed (E, N, d) stack, so their last bits depend on E)."""
    assert [g[:5] for g in got] == [w[:5] for w in want]
    np.testing.assert_allclose([g[5] for g in got], [w[5] for w in want], rtol=1e-6, atol=1e-7)


# ---- a real SIGKILL --------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    from infoplane import Recorder

    logdir, name, mode, last, pause_at = sys.argv[1:4] + [int(a) for a in sys.argv[4:6]]

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(6, 5, rngs=rngs)
            self.fc2 = nnx.Linear(5, 3, rngs=rngs)
            self.out = nnx.Linear(3, 2, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.fc2(jnp.tanh(self.fc1(x)))))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    graphdef, params = nnx.split(Net(nnx.Rngs(0)))

    @jax.jit
    def step(p):  # one full-batch gradient step: deterministic
        def loss(p):
            logits = nnx.merge(graphdef, p)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return jax.tree.map(lambda a, g: a - 0.5 * g, p, jax.grad(loss)(p))

    rec = Recorder(x, y, ["binning", "kde"], logdir, name=name, test=(x[:96], y[:96]),
                   buffer=16, flush_seconds=1e9, tensorboard=False, resume=mode != "fresh")
    print("recovered", len(rec.recovered), flush=True)
    if mode == "recover":  # open and close only
        rec.close()
        print("closed", flush=True)
        sys.exit(0)
    for epoch in range(last + 1):
        if epoch > 0:
            params = step(params)
        done = rec.record(epoch, nnx.merge(graphdef, params))
        print("recorded", epoch, done, flush=True)
        if epoch == pause_at:
            time.sleep(600)  # the test kills the process here
    rec.close()
    print("closed", flush=True)
    """
)


def _script(tmp_path, *args) -> subprocess.Popen:
    path = tmp_path / "train.py"
    if not path.exists():
        path.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               # later processes load the first ones' compiled code (the same code: the same
               # numbers) instead of compiling again: the test takes half the time
               JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return subprocess.Popen([sys.executable, str(path), *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(p: subprocess.Popen) -> str:
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    return out


def test_sigkill_with_full_buffer_then_resume_loses_nothing(tmp_path):
    logdir = tmp_path / "runs"
    ref = _script(tmp_path, logdir, "ref", "fresh", 14, -1)  # unkilled, alongside
    killed = _script(tmp_path, logdir, "killed", "fresh", 14, 9)
    run_dir = logdir / "killed"
    lines = []
    while not lines or lines[-1] != "recorded 9 True":
        line = killed.stdout.readline()
        assert line, "the script ended before epoch 9: " + "\n".join(lines)
        lines.append(line.strip())
    # epoch 9's record() has returned; nothing is estimated yet, everything is in pending/
    assert result_rows(run_dir) == []
    assert len(pending_files(run_dir)) == 10 * 2  # epochs 0..9, train and test
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert result_rows(run_dir) == []
    ref_out = _finish(ref)
    assert "recorded 14 True" in ref_out and not pending_files(logdir / "ref")
    reference = result_rows(logdir / "ref")
    assert len(reference) == 15 * 2 * 3 * 2  # epochs x splits x layers x estimators

    # open with resume=True and close, without recording anything: epochs 0..9 are estimated
    out = _finish(_script(tmp_path, logdir, "killed", "recover", 0, -1))
    assert "recovered 20" in out
    assert not os.path.exists(run_dir / PENDING_DIR)
    got = result_rows(run_dir)
    assert got == [r for r in reference if r[2] <= 9]  # once each, bit-identical values
    assert aux_rows(run_dir) == [a for a in aux_rows(logdir / "ref") if a[2] <= 9]
    assert_same_diagnostics(diag_rows(run_dir), [d for d in diag_rows(logdir / "ref")
                                                 if d[2] <= 9])

    # the user's loop restarts (from scratch here, as from its own checkpoint): recovered
    # epochs are skipped like resumed ones, the others recorded
    out = _finish(_script(tmp_path, logdir, "killed", "resume", 14, -1))
    assert "recovered 0" in out
    for epoch in range(15):
        assert f"recorded {epoch} {epoch > 9}" in out
    assert result_rows(run_dir) == reference
    assert aux_rows(run_dir) == aux_rows(logdir / "ref")
    assert_same_diagnostics(diag_rows(run_dir), diag_rows(logdir / "ref"))
    assert not os.path.exists(run_dir / PENDING_DIR)


# ---- in-process --------------------------------------------------------------------------------


def test_pending_written_before_record_returns_and_removed_on_close(data, tmp_path):
    x, y = data
    model = Net(nnx.Rngs(0))
    rec = Recorder(x, y, ESTIMATORS, tmp_path, name="w", test=(x[:64], y[:64]), buffer=16,
                   flush_seconds=1e9, tensorboard=False)
    for epoch in range(3):
        perturb(model, epoch)
        assert rec.record(epoch, model)
        want = [f"{split}/seed0/epoch{e:07d}.npz" for split in ("test", "train")
                for e in range(epoch + 1)]
        assert pending_files(rec.run_dir) == want  # on disk when record() returns
        captured = rec.capture(model)
        wal = ActivationStore(rec.run_dir, subdir=PENDING_DIR)
        for split in ("train", "test"):
            stored = wal.read(0, split, epoch)
            assert list(stored) == ["fc1", "fc2", "output"]
            for layer, t in captured[split].items():
                assert stored[layer].dtype == np.float32
                np.testing.assert_array_equal(stored[layer], np.asarray(t))
        assert result_rows(rec.run_dir) == []
    assert rec.pending == 6
    rec.close()
    assert not os.path.exists(os.path.join(rec.run_dir, PENDING_DIR))
    assert {r[2] for r in result_rows(rec.run_dir)} == {0, 1, 2}


def test_pending_removed_after_each_flush(data, tmp_path):
    x, y = data
    model = Net(nnx.Rngs(1))
    rec = Recorder(x, y, ["binning"], tmp_path, name="f", buffer=2, flush_seconds=1e9,
                   tensorboard=False)
    rec.record(0, model)
    assert pending_files(rec.run_dir) == ["train/seed0/epoch0000000.npz"]
    perturb(model, 1)
    rec.record(1, model)  # the buffer is full: flushed, rows written, pending files deleted
    assert pending_files(rec.run_dir) == []
    assert {r[2] for r in result_rows(rec.run_dir)} == {0, 1}
    rec.close()


def test_write_ahead_off(data, tmp_path, monkeypatch):
    x, y = data
    model = Net(nnx.Rngs(2))
    for name, kw in (("off", {"write_ahead": False, "buffer": 16}), ("one", {"buffer": 1})):
        rec = Recorder(x, y, ["binning"], tmp_path, name=name, flush_seconds=1e9,
                       tensorboard=False, **kw)
        rec.record(0, model)
        assert not os.path.exists(os.path.join(rec.run_dir, PENDING_DIR))
        rec.close()
    monkeypatch.chdir(tmp_path / "off")
    rec = Recorder(x, y, ["binning"], None, buffer=16, flush_seconds=1e9)
    rec.record(0, model)
    assert rec._wal is None and sorted(os.listdir(".")) == sorted(
        [".lock", "aux.csv", "config.json", "diagnostics.csv", "failures.csv", "metrics.csv",
         "results.csv"])
    rec.close()
    with pytest.raises(ValueError, match="write_ahead=True needs a run directory.*logdir"):
        Recorder(x, y, ["binning"], None, write_ahead=True)
    with pytest.raises(TypeError, match="write_ahead must be None, True or False"):
        Recorder(x, y, ["binning"], tmp_path, name="bad", write_ahead="yes")
    rec = Recorder(x, y, ["binning"], tmp_path, name="forced", buffer=1, write_ahead=True,
                   tensorboard=False)
    assert rec._wal is not None
    rec.close()


def _killed_copy(rec: Recorder, dest) -> str:
    """The run directory as a SIGKILL at this moment would leave it (what was written)."""
    shutil.copytree(rec.run_dir, dest)
    return str(dest)


def _killed_run(data, tmp_path, name, estimators, epochs, model_seed, **kw):
    """Record ``epochs`` epochs with a buffer that never flushes, snapshot the run directory
    as a kill leaves it (``tmp_path/b/name``), then close the original (``tmp_path/a/name``,
    the unkilled reference). Returns (reference recorder, killed run dir, model)."""
    x, y = data
    model = Net(nnx.Rngs(model_seed))
    rec = Recorder(x, y, estimators, tmp_path / "a", name=name, buffer=16, flush_seconds=1e9,
                   tensorboard=False, **kw)
    for epoch in range(epochs):
        perturb(model, epoch)
        rec.record(epoch, model)
    killed = _killed_copy(rec, tmp_path / "b" / name)
    rec.close()
    return rec, killed, model


def test_resume_estimates_pending_like_an_unkilled_run(data, tmp_path):
    """A snapshot of a run directory taken after record() (as a kill leaves it), resumed:
    the pending epochs are estimated and written like normal rows (callbacks included),
    then count as done; values equal the run that was not killed."""
    x, y = data
    rec, killed, model = _killed_run(data, tmp_path, "r", ESTIMATORS, 4, 3)
    seen = []
    rec2 = Recorder(x, y, ESTIMATORS, tmp_path / "b", name="r", resume=True, buffer=16,
                    tensorboard=False, on_results=seen.extend)
    assert rec2.recovered == [(0, "train", e) for e in range(4)]
    assert rec2.layer_names == rec.layer_names
    assert pending_files(killed) == []
    assert result_rows(killed) == result_rows(rec.run_dir)
    assert aux_rows(killed) == aux_rows(rec.run_dir)
    assert_same_diagnostics(diag_rows(killed), diag_rows(rec.run_dir))
    assert len(seen) == 4 * 3 * 2
    assert [rec2.record(e, model) for e in range(6)] == [False] * 4 + [True] * 2
    rec2.close()
    assert sorted({r[2] for r in result_rows(killed)}) == list(range(6))


def test_epoch_killed_between_its_probe_sets(data, tmp_path):
    """A kill inside record(), after the train file and before the test file: the train
    entry is recovered, record() of that epoch then adds only the test entry."""
    x, y = data
    rec, killed, model = _killed_run(data, tmp_path, "p", ESTIMATORS, 2, 8, test=(x[:64], y[:64]))
    os.remove(os.path.join(killed, PENDING_DIR, "test", "seed0", "epoch0000001.npz"))
    rec2 = Recorder(x, y, ESTIMATORS, tmp_path / "b", name="p", test=(x[:64], y[:64]),
                    resume=True, tensorboard=False)
    assert rec2.recovered == [(0, "train", 0), (0, "test", 0), (0, "train", 1)]
    model2 = Net(nnx.Rngs(8))
    perturb(model2, 0)
    assert rec2.record(0, model2) is False
    perturb(model2, 1)
    assert rec2.record(1, model2) is True
    assert rec2.pending == 1  # the test probe set only
    rec2.close()
    assert result_rows(killed) == result_rows(rec.run_dir)


def test_resume_writes_recovered_rows_to_tensorboard(data, tmp_path, monkeypatch):
    from infoplane.report.tensorboard.logger import TensorBoardLogger

    x, y = data
    rec, killed, model = _killed_run(data, tmp_path, "t", ["binning"], 2, 4)
    got = []
    on_results = TensorBoardLogger.on_results

    def spy(self, rows):
        got.extend(rows)
        return on_results(self, rows)

    monkeypatch.setattr(TensorBoardLogger, "on_results", spy)
    rec2 = Recorder(x, y, ["binning"], tmp_path / "b", name="t", resume=True, image_every=0)
    assert sorted((r["epoch"], r["layer"]) for r in got) == sorted(
        (e, layer) for e in range(2) for layer in rec.layer_names)
    rec2.close()
    assert any(f.startswith("events.out.tfevents.") for f in os.listdir(killed))


def test_resume_deletes_pending_of_written_epochs(data, tmp_path):
    """A kill between the flush's fsync and the deletion leaves pending files of epochs that
    are in results.csv: resume deletes them and writes no second row."""
    x, y = data
    model = Net(nnx.Rngs(5))
    rec = Recorder(x, y, ESTIMATORS, tmp_path, name="d", buffer=16, tensorboard=False)
    for epoch in range(3):
        perturb(model, epoch)
        rec.record(epoch, model)
    rec.close()
    before = result_rows(rec.run_dir)
    wal = ActivationStore(rec.run_dir, subdir=PENDING_DIR)
    wal.write(0, "train", 1, rec.capture(model)["train"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec2 = Recorder(x, y, ESTIMATORS, tmp_path, name="d", resume=True, tensorboard=False)
    assert rec2.recovered == []
    assert not os.path.exists(os.path.join(rec.run_dir, PENDING_DIR))
    assert rec2.record(1, model) is False
    rec2.close()
    assert result_rows(rec.run_dir) == before


def test_corrupt_pending_file_warns_and_is_kept(data, tmp_path):
    x, y = data
    rec, killed, model = _killed_run(data, tmp_path, "c", ["binning"], 3, 6)
    bad = os.path.join(killed, PENDING_DIR, "train", "seed0", "epoch0000001.npz")
    with open(bad, "r+b") as f:
        f.truncate(os.path.getsize(bad) // 2)
    stale = os.path.join(killed, PENDING_DIR, "train", "seed0", ".epoch0000003.npz.x.tmp")
    open(stale, "wb").close()  # a temporary file of a write the kill interrupted
    with pytest.warns(ResultsFileWarning, match=r"epoch0000001\.npz.*skipped and kept.*"
                                                r"record it again, or delete the file"):
        rec2 = Recorder(x, y, ["binning"], tmp_path / "b", name="c", resume=True,
                        tensorboard=False)
    assert rec2.recovered == [(0, "train", 0), (0, "train", 2)]
    assert os.path.exists(bad) and not os.path.exists(stale)
    rec2.close()
    assert pending_files(killed) == ["train/seed0/epoch0000001.npz"]  # kept, not deleted
    assert sorted({r[2] for r in result_rows(killed)}) == [0, 2]
    want = [r for r in result_rows(rec.run_dir) if r[2] != 1]
    assert result_rows(killed) == want


def test_store_activations_pending_is_a_link(data, tmp_path):
    """With store_activations=True the pending file is the stored file (a hard link): the
    arrays are written once; the stored file stays after the flush."""
    x, y = data
    model = Net(nnx.Rngs(7))
    rec = Recorder(x, y, ["binning"], tmp_path, name="s", buffer=16, flush_seconds=1e9,
                   tensorboard=False, store_activations=True)
    rec.record(0, model)
    store = ActivationStore(rec.run_dir)
    pending = os.path.join(rec.run_dir, PENDING_DIR, "train", "seed0", "epoch0000000.npz")
    assert os.path.samefile(pending, store.path(0, "train", 0))
    rec.close()
    assert not os.path.exists(pending) and store.epochs("train", 0) == [0]
    np.testing.assert_array_equal(store.read(0, "train", 0)["fc1"],
                                  np.asarray(rec.capture(model)["train"]["fc1"]))


def test_default_write_ahead_stops_above_its_size_limit(data, tmp_path, monkeypatch):
    """write_ahead=None does not write epochs larger than WRITE_AHEAD_MAX_MB (it warns how
    to get the protection back); write_ahead=True writes them anyway."""
    from infoplane.recording import write_ahead as recorder

    x, y = data
    model = Net(nnx.Rngs(9))
    monkeypatch.setattr(recorder, "WRITE_AHEAD_MAX_MB", 0.001)  # 1 kB: this epoch is ~5 kB
    rec = Recorder(x, y, ["binning"], tmp_path, name="big", buffer=16, tensorboard=False)
    with pytest.warns(UserWarning, match=r"write-ahead log .* off.*write_ahead=True"):
        rec.record(0, model)
    assert not os.path.exists(os.path.join(rec.run_dir, PENDING_DIR))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec.record(1, model)  # warned once: no second warning, still nothing written
    assert not os.path.exists(os.path.join(rec.run_dir, PENDING_DIR))
    rec.close()
    assert {r[2] for r in result_rows(rec.run_dir)} == {0, 1}
    forced = Recorder(x, y, ["binning"], tmp_path, name="forced", buffer=16, write_ahead=True,
                      tensorboard=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forced.record(0, model)
    assert pending_files(forced.run_dir) == ["train/seed0/epoch0000000.npz"]
    forced.close()
