"""`infoplane.store.activations`: the activation store (and the format of ``pending/``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from infoplane import results as R
from infoplane.store.activations import ActivationStore

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

