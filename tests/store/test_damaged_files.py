"""Corrupted files name themselves: a cut-short or overwritten config.json or activation file
is a ValueError naming the file, what is wrong and what to do (never a bare JSON/UTF-8/zip
error)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from infoplane.store.activations import ActivationStore
from infoplane.store.config import read_config, write_config


def test_half_a_config_names_the_file(tmp_path):
    path = write_config(tmp_path, {f"k{i}": list(range(5)) for i in range(30)})
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        read_config(tmp_path)
    msg = str(err.value)
    assert path in msg and "not valid JSON" in msg and "restore it" in msg


def test_random_bytes_config_names_the_file(tmp_path):
    path = os.path.join(tmp_path, "config.json")
    open(path, "wb").write(bytes(range(128, 256)) * 4)
    with pytest.raises(ValueError) as err:
        read_config(tmp_path)
    assert path in str(err.value) and "not UTF-8" in str(err.value)


@pytest.mark.parametrize("damage", ["truncate", "random"])
def test_damaged_activation_file_names_itself(tmp_path, damage):
    store = ActivationStore(tmp_path)
    store.write_probe("train", np.zeros((4, 3), np.float32), np.arange(4))
    path = store.write(0, "train", 5, {"a": np.ones((4, 3), np.float32)})
    size = os.path.getsize(path)
    if damage == "truncate":
        os.truncate(path, size // 2)
    else:
        open(path, "wb").write(np.random.default_rng(0).bytes(size))
    with pytest.raises(ValueError) as err:
        store.read(0, "train", 5)
    assert path in str(err.value) and "damaged" in str(err.value)
    os.truncate(store.probe_path("train"), 10)
    with pytest.raises(ValueError, match="probe-train.npz is damaged"):
        store.read_probe("train")
