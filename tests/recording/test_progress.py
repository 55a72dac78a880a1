"""`infoplane.recording.progress`: the ETA (a moving average leaving out the compiling first
step), plain lines at a bounded rate on a non-terminal stream, the estimation bar naming the
estimator, layer and epoch and announcing compilations, the quiet level, rich's live bars and
`Recorder(progress=...)`."""

from __future__ import annotations

import io
import types

import numpy as np
import pytest

import infoplane
from infoplane.recording import progress as P


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_eta_leaves_out_the_first_step_and_averages_recent_ones():
    # the first step (a compile) took 100 s, the others 1 s per item
    steps = [(100.0, 1), (1.0, 1), (2.0, 2)]
    assert P.eta_seconds(steps, 10) == pytest.approx(10.0)
    assert P.eta_seconds(steps, 10, skip=0) == pytest.approx(10 * 103 / 4)
    assert P.eta_seconds(steps[:1], 10) is None  # nothing left to average
    assert P.eta_seconds(steps, None) is None  # total unknown
    # a moving average: the last `window` steps only (the rate changed from 5 s to 1 s)
    steps = [(100.0, 1)] + [(5.0, 1)] * 30 + [(1.0, 1)] * 4
    assert P.eta_seconds(steps, 3, window=4) == pytest.approx(3.0)
    assert P.eta_seconds(steps, 3, window=8) == pytest.approx(3 * 24 / 8)
    assert P.eta_seconds(steps, -5) == 0.0


def test_format_seconds():
    assert P.format_seconds(None) == "--"
    assert P.format_seconds(42.4) == "42 s"
    assert P.format_seconds(185) == "3 min 05 s"
    assert P.format_seconds(7620) == "2 h 07 min"


def test_training_bar_eta_ignores_the_first_epoch():
    clock, buf = FakeClock(), io.StringIO()
    d = P.ProgressDisplay(stream=buf, live=False, clock=clock)
    d.expect("training", 3000)
    clock.t = 106.0  # epoch 0: recording and compiling
    d(0, 3000)
    clock.t = 120.0  # epoch 1: the training step compiles
    d(1, 3000)
    assert d.bars["training"].eta() is None  # not 364 197 s
    for e in range(2, 12):
        clock.t += 0.5
        d(e, 3000)
    assert d.bars["training"].eta() == pytest.approx((3000 - 11) * 0.5)


def test_plain_stream_gets_a_bounded_number_of_lines():
    clock, buf = FakeClock(), io.StringIO()
    d = P.ProgressDisplay(stream=buf, live=False, clock=clock)
    d.expect("training", 3000)
    for e in range(3001):
        clock.t += 0.01
        d(e, 3000)
    d.close()
    text = buf.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and 10 <= len(lines) <= 12, lines
    assert lines[-1].startswith("training 3000/3000")
    assert "eta" in lines[5]
    # a bar without a total: one line per PLAIN_INTERVAL at most, then a final one
    buf2 = io.StringIO()
    d2 = P.ProgressDisplay(stream=buf2, live=False, clock=clock)
    for i in range(1, 1001):
        clock.t += 0.5  # 500 s in all
        d2.update("estimating", i)
    d2.close()
    n = len(buf2.getvalue().splitlines())
    assert 2 <= n <= 500 / P.PLAIN_INTERVAL + 2, buf2.getvalue()


def test_quiet_shows_nothing():
    buf = io.StringIO()
    d = P.ProgressDisplay("quiet", stream=buf, live=False)
    d.expect("training", 10)
    for e in range(11):
        d(e, 10)
    d.print("a line")
    d.on_stage("begin", {"entries": 1, "epochs": [0]})
    d.close()
    assert buf.getvalue() == ""
    with pytest.raises(ValueError, match="quiet, normal, verbose"):
        P.ProgressDisplay("loud")


def _estimator(name="kde"):
    return types.SimpleNamespace(name=name, units="bits", params=lambda: {"sigma2": 0.01})


def _flush(d, clock, epochs, layers=("layers.3",), ests=("kde",), width=10):
    d.on_stage("begin", {"entries": len(epochs), "epochs": epochs})
    for layer in layers:
        for name in ests:
            d.on_stage("dispatch", {"estimator": _estimator(name), "layer": layer,
                                    "shape": (len(epochs), 256, width)})
            clock.t += 5.0
    for layer in layers:
        for name in ests:
            d.on_stage("collect", {"estimator": _estimator(name), "layer": layer,
                                   "epochs": epochs})
            status = d.bars["estimating"].status
            assert status == f"estimating {name} · {layer} · " + (
                f"epoch {epochs[0]}" if len(epochs) == 1 else
                f"epochs {epochs[0]}-{epochs[-1]}")
            clock.t += 1.0
    d.on_stage("end", {})


def test_estimation_bar_names_estimator_layer_and_announces_compiling():
    clock, buf = FakeClock(), io.StringIO()
    d = P.ProgressDisplay("verbose", stream=buf, live=False, clock=clock)
    d.expect("estimating", 4)
    _flush(d, clock, [120], layers=("layers.3", "layers.4"))
    assert d.bars["estimating"].done == 1
    _flush(d, clock, [121], layers=("layers.3", "layers.4"))  # compiled already
    _flush(d, clock, [122, 123])  # 2 epochs at once (buffer 2): compiles again
    d.close()
    text = buf.getvalue()
    assert text.count("compiling kde for width 10 ...") == 2, text
    assert "compiled kde for layers.3 (width 10) in 5.00 s" in text
    assert "estimated 1 entries (epoch 121) in 12.00 s: kde 2.00 s" in text
    assert sum(line.startswith("estimating 4/4") for line in text.splitlines()) == 1, text
    assert "estimating kde · layers." in text
    normal = io.StringIO()  # the normal level: the compilations, not the timings
    d = P.ProgressDisplay(stream=normal, live=False, clock=clock)
    _flush(d, clock, [0])
    d.close()
    assert "compiling kde" in normal.getvalue() and "compiled kde" not in normal.getvalue()


def test_live_bars_are_drawn_with_rich():
    buf = io.StringIO()
    d = P.ProgressDisplay(stream=buf, live=True)
    d.expect("training", 30)
    d(5, 30)
    d.status("estimating", "compiling kde for width 10 ...", announce=True)
    d.print("a line above the bars")
    d.close()
    d.close()  # idempotent
    text = buf.getvalue()
    assert "a line above the bars" in text
    assert "training" in text and "5/30" in text and "compiling kde for width 10" in text


def _probe(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 2, n)


@pytest.mark.parametrize("progress", [True, False, None])
def test_recorder_progress_option(progress, capsys):
    x, y = _probe()
    rec = infoplane.Recorder(x, y, ["binning"], None, buffer=2, progress=progress)
    rng = np.random.default_rng(1)
    for epoch in range(4):
        rec.add(epoch, {"a": rng.normal(size=(64, 4)), "b": rng.normal(size=(64, 2))})
    rec.close()
    assert len(rec.results()) == 8
    err = capsys.readouterr().err
    if progress:
        assert "compiling binning for width 4 ..." in err
        assert err.splitlines()[-1].startswith("estimating 4"), err
    else:  # None: auto, off outside a Jupyter kernel
        assert err == ""


def test_attach_checks_its_argument():
    with pytest.raises(TypeError, match="ProgressDisplay"):
        P.attach("yes", types.SimpleNamespace())
    shared = P.ProgressDisplay(stream=io.StringIO(), live=False)
    est = types.SimpleNamespace(on_stage=None)
    handle = P.attach(shared, est)
    assert est.on_stage == shared.on_stage and not handle.owned
    assert not P.in_jupyter()
