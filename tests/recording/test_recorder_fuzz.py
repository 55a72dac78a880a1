"""Hypothesis fuzzing of the `Recorder`'s arguments (issue 18, part 8): every combination of
hostile keyword values either builds a Recorder or raises a ValueError / TypeError whose
message names the argument -- never another exception, never a silent acceptance of a value
of the wrong kind (a bool or a string where a number goes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoplane.recording.recorder import Recorder

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int32)

HOSTILE = st.sampled_from([
    None, True, False, 0, -1, 1, 2, 16, 1.5, -0.5, 0.0, math.nan, math.inf, -math.inf, 10**30,
    "", "16", "abc", "../x", "a/b", "\x00", "é" * 300, [], [1, 2], (0,), {}, {"a": 1},
    np.int64(3), np.float32(2.0), np.bool_(True), 1j, object(),
])

#: keyword -> (how its name appears in a message, strategy of values)
ARGS = {
    "buffer": HOSTILE,
    "flush_seconds": HOSTILE,
    "image_every": HOSTILE,
    "split": HOSTILE,
    "source": st.one_of(HOSTILE, st.sampled_from(["inputs", "logits"])),
    "output": st.one_of(HOSTILE, st.sampled_from(["softmax", "logits"])),
    "schedule": st.one_of(HOSTILE, st.sampled_from([[0, 1, 2], [2, 1], [-1], [0.5], range(3)])),
    "name": HOSTILE,
    "layers": st.one_of(HOSTILE, st.sampled_from([["fc1"], ("fc1", 3), [None]])),
    "tensorboard": HOSTILE,
    "store_activations": HOSTILE,
    "write_ahead": HOSTILE,
    "shard": HOSTILE,
    "resume": HOSTILE,
    "hparams": HOSTILE,
    "config": HOSTILE,
    "apply_kwargs": HOSTILE,
}


KWARGS = st.dictionaries(st.sampled_from(sorted(ARGS)), st.none(), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: ARGS[k] for k in keys}))


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kwargs=KWARGS)
def test_recorder_arguments_are_checked_by_name(kwargs, tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("runs")) if "name" in kwargs else None
    try:
        rec = Recorder(X, Y, ["binning"], logdir, **kwargs)
    except (ValueError, TypeError) as err:
        msg = str(err)
        named = [k for k in kwargs if k in msg or k.replace("_", " ") in msg]
        assert named, f"{type(err).__name__} names none of {sorted(kwargs)}: {msg}"
        return
    rec.close()


@pytest.mark.parametrize("kwargs", [{"flush_seconds": "x"}, {"image_every": -1},
                                    {"image_every": True}, {"split": 3},
                                    {"flush_seconds": math.nan}])
def test_examples(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
        Recorder(X, Y, ["binning"], None, **kwargs)
