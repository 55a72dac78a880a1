"""`MatrixRenyi(conv="multivariate", channels=0)` through the recorder: each conv layer gets
its own channel count (from the per-channel counts, or from the capture's per-sample shapes
given to `Estimation.learn_shapes`), its rows keep one parameter set with the count in aux
``n_channels``, and a flat layer fails for that estimator alone with a message naming it."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from flax import nnx

from infoplane.estimators import MatrixRenyi, Subsample
from infoplane.estimators.apply import estimate
from infoplane.experiments.models import CNN
from infoplane.recording.estimation import needs_layer_channels, with_layer_channels
from infoplane.recording.recorder import Recorder


def auto_channels(**kw) -> MatrixRenyi:
    """A multivariate MatrixRenyi with channels=0 ("the layer's"). Built from a tensor one
    when the constructor does not (yet) accept channels=0 for conv="multivariate"."""
    try:
        return MatrixRenyi(conv="multivariate", channels=0, **kw)
    except ValueError:
        est = MatrixRenyi(**kw)
        object.__setattr__(est, "conv", "multivariate")
        return est


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(37, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int32)
    return x, y, CNN((8, 8, 1), 2, rngs=nnx.Rngs(0))


def test_with_layer_channels_fills_the_count_through_wrappers():
    est = auto_channels(k=5)
    assert needs_layer_channels(est) and not needs_layer_channels(MatrixRenyi())
    assert not needs_layer_channels(MatrixRenyi(conv="multivariate", channels=4))
    assert with_layer_channels(est, "c", (4, 4, 8)).channels == 8
    last = dataclasses.replace(MatrixRenyi(conv="multivariate", channels=3, k=5),
                               channels_last=False)
    object.__setattr__(last, "channels", 0)
    assert with_layer_channels(last, "c", (6, 4, 4)).channels == 6  # (C, H, W)
    assert with_layer_channels(est, "c", None, counted=16).channels == 16
    sub = with_layer_channels(Subsample(est, 16), "c", (4, 4, 8))
    assert isinstance(sub, Subsample) and sub.n == 16 and sub.estimator.channels == 8
    plain = MatrixRenyi()
    assert with_layer_channels(plain, "c", (64,)) is plain
    with pytest.raises(ValueError, match=r"layer 'fc' is flat \(per-sample shape \(32,\)\)"):
        with_layer_channels(est, "fc", (32,))
    with pytest.raises(ValueError, match="layer 'fc' has no known per-sample shape"):
        with_layer_channels(est, "fc", None)
    with pytest.raises(ValueError, match="conv='tensor'"):
        with_layer_channels(est, "fc", None, counts_known=True)


def _direct(x, y, t, channels):
    """The multivariate estimate of one captured layer with the count given by hand."""
    return estimate(MatrixRenyi(conv="multivariate", channels=channels, k=5), x, t, y)


def test_per_channel_recorder_gives_each_conv_layer_its_count(images):
    """With per_channel=True the recorder knows the conv layers' counts: the multivariate
    estimator gets channels=8 on convs.0 (not PerChannel-wrapped: its kernel already takes the
    channels one by one), equal to the estimate with channels=8 by hand; the flat layers fail
    for it alone, named."""
    x, y, model = images
    rec = Recorder(x, y, [auto_channels(k=5)], logdir=None, per_channel=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec.record(0, model)
        rec.flush()
    rows = {(r["layer"], r["estimator"]): r for r in rec.results().rows()}
    assert set(rows) == {("convs.0", "matrix_renyi")}
    assert rec._estimation.channels == {"convs.0": 8}
    row = rows[("convs.0", "matrix_renyi")]
    params = json.loads(row["params"])
    assert params["channels"] == 0 and params["conv"] == "multivariate"
    assert "per_channel" not in params
    t = np.asarray(rec.capture(model)["train"]["convs.0"])
    want = _direct(x, y, t, 8)
    assert row["i_xt"] == pytest.approx(float(want.i_xt), abs=1e-5)
    assert row["i_ty"] == pytest.approx(float(want.i_ty), abs=1e-5)
    other = _direct(x, y, t, 1)  # the count matters: one width for the map differs
    assert abs(float(other.i_xt) - row["i_xt"]) > 1e-3
    aux = {(a["layer"], a["name"]): a["value"] for a in rec.aux()
           if a["estimator"] == "matrix_renyi"}
    assert aux[("convs.0", "n_channels")] == 8.0
    assert aux[("convs.0", "s_t")] >= row["i_xt"] - 1e-5  # I <= min(S(X), S(T))
    failed = {f["layer"]: f["error"] for f in rec.failures() if f["estimator"] == "matrix_renyi"}
    assert set(failed) == {"convs.1", "fc", "output"}
    assert "conv='multivariate' with channels=0" in failed["fc"] and "'fc'" in failed["fc"]
    assert json.loads(rec.failures()[0]["params"])["channels"] == 0
    assert any("estimation failed, skipped: matrix_renyi on layer 'fc'" in str(w.message)
               for w in caught)


def test_shapes_given_to_the_estimation_fill_the_count_without_per_channel(images):
    """Without per_channel the count comes from the capture's per-sample shapes
    (`CaptureFunctions.shapes`, the abstract trace) given to `Estimation.learn_shapes`; flat
    layers are named as flat. `Recorder.record` learns the shapes itself; activations that
    arrive flattened through `Recorder.add` are flat, and fail saying so."""
    x, y, model = images
    rec = Recorder(x, y, [Subsample(auto_channels(k=5), 30)], logdir=None)
    assert rec._estimation.needs_shapes
    rec._estimation.learn_shapes(rec._capture.shapes(model, None, x))
    rec._estimation.learn_shapes({"convs.0": (128,)})  # a flat shape never replaces a known one
    assert rec._estimation.shapes["convs.0"] == (4, 4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec.record(0, model)
        rec.flush()
    [row] = rec.results().rows()
    assert row["layer"] == "convs.0" and json.loads(row["params"])["subsample"] == 30
    errors = {f["layer"]: f["error"] for f in rec.failures()}
    assert "is flat (per-sample shape (64,))" in errors["convs.1"]
    plain = Recorder(x, y, [auto_channels(k=5)], logdir=None)  # record() learns the shapes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.record(0, model)
        plain.flush()
    [row] = plain.results().rows()
    assert row["layer"] == "convs.0"
    assert plain._estimation.shapes["convs.0"] == (4, 4, 8)
    flat = {k: np.asarray(v).reshape(len(x), -1)
            for k, v in plain.capture(model)["train"].items()}
    bare = Recorder(x, y, [auto_channels(k=5)], logdir=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare.add(0, flat)
        bare.flush()
    assert not bare.results().rows()
    errors = {f["layer"]: f["error"] for f in bare.failures()}
    assert "is flat (per-sample shape (128,))" in errors["convs.0"]  # as it arrived
    assert all("give channels=C explicitly" in e for e in errors.values())
