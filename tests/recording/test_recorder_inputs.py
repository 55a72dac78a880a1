"""What a `Recorder` refuses, clearly (issue 18, part 7), and what it warns about (part 1):
tiny probes, bad buffer values, names that escape the logdir, a probe of the wrong width,
a logdir that is a file, non-numeric or non-finite arrays, non-finite estimates; and one
writer per run directory (a second Recorder process is refused, naming the holder)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import infoplane
from infoplane.estimators import Estimate
from infoplane.recording.estimation import NonFiniteEstimateWarning
from infoplane.recording.recorder import Recorder
from infoplane.store.lock import RunDirectoryLocked

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Net(nnx.Module):
    def __init__(self, rngs, d_in=6):
        self.fc1 = nnx.Linear(d_in, 5, rngs=rngs)
        self.out = nnx.Linear(5, 2, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.fc1(x)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32)


def test_probe_needs_two_samples(data):
    x, y = data
    with pytest.raises(ValueError, match="at least 2"):
        Recorder(x[:1], y[:1], ["binning"], None)


@pytest.mark.parametrize("buffer, kind", [(1.5, TypeError), ("16", TypeError),
                                          (True, TypeError), (0, ValueError)])
def test_buffer_is_an_integer_at_least_one(data, buffer, kind):
    with pytest.raises(kind, match="buffer"):
        Recorder(*data, ["binning"], None, buffer=buffer)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "x/../../y"])
def test_names_cannot_leave_the_logdir(data, tmp_path, name):
    with pytest.raises(ValueError, match="plain directory name"):
        Recorder(*data, ["binning"], str(tmp_path / "runs"), name=name)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "y").exists()


def test_probe_of_the_wrong_width_names_both_shapes(data):
    x, y = data
    rec = Recorder(x[:, :4], y, ["binning"], None)
    with pytest.raises(ValueError) as err:
        rec.record(0, Net(nnx.Rngs(0)))
    msg = str(err.value)
    assert "(64, 4)" in msg and "expects inputs with 6 features" in msg and "probe has 4" in msg


def test_logdir_that_is_a_file(data, tmp_path):
    f = tmp_path / "runs"
    f.write_text("not a directory")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        Recorder(*data, ["binning"], str(f), name="r")


@pytest.mark.parametrize("bad", [
    np.ones((64, 3), np.complex64), np.full((64, 3), "a"), np.full((64, 3), None, object)])
def test_non_numeric_arrays_are_a_type_error(data, bad):
    x, y = data
    with pytest.raises(TypeError, match="real-valued numeric"):
        Recorder(bad, y, ["binning"], None)
    rec = Recorder(x, y, ["binning"], None)
    with pytest.raises(TypeError, match="real-valued numeric"):
        rec.add(0, {"layer": bad})


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_probe_is_a_value_error(data, value):
    x, y = data
    x = x.copy()
    x[3, 2] = value
    with pytest.raises(ValueError, match="NaN or inf"):
        Recorder(x, y, ["binning"], None)


class Broken:
    """An estimator (the `Estimator` protocol) returning -inf for I(X;T) and NaN for I(T;Y);
    with ``flag``, its NaN is flagged as withheld (aux "unstable" = 2, as `Compressed`), with
    aux "n_coincident" = ``coincident``."""

    name = "broken"
    epoch_batching = "vmap"
    units = "bits"

    def __init__(self, flag: bool = False, coincident: int = 0):
        self.flag, self.coincident = flag, coincident

    def params(self):
        return (("flag", self.flag),)

    def prepare(self, probe):
        return None

    def estimate_layer(self, ctx, t):
        zero = jnp.sum(t) * 0.0
        aux = {"unstable": zero + (2.0 if self.flag else 0.0),
               "n_coincident": zero + self.coincident}
        return Estimate(zero - jnp.inf, zero + jnp.nan, aux, "bits", "broken", self.params())


def test_non_finite_estimates_are_warned_about_once(data):
    x, y = data
    rec = Recorder(x, y, [Broken()], None, buffer=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for e in range(3):
            rec.add(e, {"h": x[:, :3], "g": x[:, 3:]})
        rec.close()
    msgs = [str(w.message) for w in caught if issubclass(w.category, NonFiniteEstimateWarning)]
    assert len(msgs) == 2, msgs  # once per quantity, not per layer or epoch
    assert any("i_xt = -inf" in m and "layer 'h'" in m and "epoch 0" in m for m in msgs)
    assert any("i_ty = nan" in m for m in msgs)
    rec = Recorder(x, y, [Broken(flag=True)], None, buffer=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec.add(0, {"h": x[:, :3]})
        rec.close()
    msgs = [str(w.message) for w in caught if issubclass(w.category, NonFiniteEstimateWarning)]
    assert any("withheld as unstable" in m and "standard error is too large" in m
               for m in msgs), msgs
    rec = Recorder(x, y, [Broken(flag=True, coincident=7)], None, buffer=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec.add(0, {"h": x[:, :3]})
        rec.close()
    msgs = [str(w.message) for w in caught if issubclass(w.category, NonFiniteEstimateWarning)]
    assert any("withheld as unstable" in m and "7 samples share their noisy code" in m
               and "noise='absolute'" in m for m in msgs), msgs
    assert any("i_xt = -inf" in m for m in msgs)  # not flagged: still a warning


HOLDER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from infoplane import Recorder
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    rec = Recorder(x, (x[:, 0] > 0).astype(np.int32), ["binning"], sys.argv[1], name="r",
                   tensorboard=False)
    print("open", flush=True)
    time.sleep(600)
    """
)


def test_a_second_recorder_is_refused_until_the_first_is_killed(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert p.stdout.readline().strip() == "open"
        with pytest.raises(RunDirectoryLocked, match=f"pid {p.pid}"):
            Recorder(*data, ["binning"], str(tmp_path), name="r", resume=True,
                     tensorboard=False)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    rec = Recorder(*data, ["binning"], str(tmp_path), name="r", resume=True, tensorboard=False)
    rec.close()
    rec = Recorder(*data, ["binning"], str(tmp_path), name="r", resume=True, tensorboard=False)
    rec.close()  # closing released the lock


def _diverging(e):
    """The model at epoch ``e``: at epoch 2 its output layer is inf, at epoch 5 every layer
    is NaN (a run that diverged)."""
    model = Net(nnx.Rngs(e))
    if e == 2:
        model.out.kernel.value = model.out.kernel.value.at[0, 0].set(jnp.inf)
    if e == 5:
        model.fc1.kernel.value = model.fc1.kernel.value.at[0, 0].set(jnp.nan)
    return model


def test_non_finite_epochs_fail_alone_are_kept_and_count_as_done_on_resume(data, tmp_path):
    x, y = data
    ests = ["binning", "kde"]
    ref = Recorder(x, y, ests, None, buffer=1)
    for e in (0, 1, 3, 4):
        ref.record(e, _diverging(e))
    ref.close()
    rec = Recorder(x, y, ests, str(tmp_path), name="r", buffer=4, tensorboard=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for e in range(6):
            rec.record(e, _diverging(e))
        rec.close()
    failed = [(f["epoch"], f["layer"], f["estimator"]) for f in rec.failures()]
    assert failed == [(2, "output", "binning"), (2, "output", "kde"), (5, "fc1", "binning"),
                      (5, "fc1", "kde"), (5, "output", "binning"), (5, "output", "kde")]
    assert all("non-finite" in f["error"] and "\n" not in f["error"] for f in rec.failures())
    msgs = [str(w.message) for w in caught if "estimation failed" in str(w.message)]
    assert len(msgs) == 4 and all("failures.csv" in m for m in msgs), msgs  # per layer, est.
    assert infoplane.load_failures(tmp_path / "r") == rec.failures()
    # the finite epochs of a buffer that holds a diverged epoch: estimated, bit-identical
    want = {(r["epoch"], r["layer"], r["estimator"]): (r["i_xt"], r["i_ty"])
            for r in ref.results().rows()}
    got = {(r["epoch"], r["layer"], r["estimator"]): (r["i_xt"], r["i_ty"])
           for r in rec.results().rows()}
    assert sorted(set(got) - set(want)) == [(2, "fc1", "binning"), (2, "fc1", "kde")]
    assert all(want[k] == v for k, v in got.items() if k in want)
    # a resume counts failed estimates as done: neither estimated again nor failed twice
    files = {f: (tmp_path / "r" / f).read_bytes() for f in ("results.csv", "failures.csv")}
    rec = Recorder(x, y, ests, str(tmp_path), name="r", buffer=4, tensorboard=False,
                   resume=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [rec.record(e, _diverging(e)) for e in range(7)] == [False] * 6 + [True]
        rec.close()
    assert not [w for w in caught if "estimation failed" in str(w.message)]
    after = {f: (tmp_path / "r" / f).read_bytes() for f in files}
    assert after["failures.csv"] == files["failures.csv"]
    assert after["results.csv"].startswith(files["results.csv"])
    assert {r["epoch"] for r in infoplane.load_results(tmp_path / "r").rows()} == {
        0, 1, 2, 3, 4, 6}
