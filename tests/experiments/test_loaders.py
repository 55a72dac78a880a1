"""The real-data loaders (`infoplane.experiments.loaders`) on small files written here in the
datasets' own formats (IDX plain and gzipped, Keras's mnist.npz, CIFAR-10 python pickles),
hostile and corrupt files, MNIST-1D generation, and the presets mnist-cnn, cifar-cnn and
mnist1d-mlp end to end at tiny size."""

from __future__ import annotations

import gzip
import json
import math
import os
import pickle
import random
import struct

import numpy as np
import pytest

import infoplane
from infoplane import cli
from infoplane.experiments import loaders, models, presets
from infoplane.experiments import run as harness
from infoplane.experiments.loaders import (
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    read_idx,
    safe_unpickle,
)
from infoplane.store.activations import ActivationStore

IDX_TYPE = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
            np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file written from the format's description (header by struct, big-endian)."""
    arr = np.asarray(arr)
    if magic is None:
        magic = (IDX_TYPE[arr.dtype] << 8) | arr.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, gz: bool = False) -> str:
    path = str(path) + (".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    return path


def mnist_dir(root, n_train=30, n_test=20, gz=False, seed=0, dotted=False):
    """Four MNIST IDX files of random 28x28 images and labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    arrays = {}
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        sep = "." if dotted else "-"
        write(os.path.join(root, f"{prefix}-images{sep}idx3-ubyte"), idx_bytes(images), gz)
        write(os.path.join(root, f"{prefix}-labels{sep}idx1-ubyte"), idx_bytes(labels), gz)
        arrays[split] = (images, labels)
    return arrays


# ---- IDX / MNIST ----------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gzipped(tmp_path, gz):
    arrays = mnist_dir(tmp_path, gz=gz)
    tt = load_mnist(tmp_path)
    for (x, y), (images, labels) in zip([tt[:2], tt[2:]], arrays.values(), strict=True):
        assert x.dtype == np.float32 and x.shape == (len(images), 28, 28, 1)
        assert y.dtype == np.int32
        np.testing.assert_array_equal(x[..., 0] * 255.0, images.astype(np.float32))
        np.testing.assert_array_equal(y, labels)
    assert float(tt.x_train.max()) <= 1.0
    fashion = load_fashion_mnist(tmp_path)  # the same format
    np.testing.assert_array_equal(fashion.x_test, tt.x_test)


def test_mnist_dotted_names_and_mixed_compression(tmp_path):
    arrays = mnist_dir(tmp_path, dotted=True)
    os.remove(tmp_path / "t10k-labels.idx1-ubyte")
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(arrays["test"][1]), gz=True)
    tt = load_mnist(tmp_path)
    np.testing.assert_array_equal(tt.y_test, arrays["test"][1])


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64, np.int8])
def test_read_idx_every_type_big_endian(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) * 37 - 300).astype(dtype)
    out = read_idx(write(tmp_path / "a.idx", idx_bytes(arr)))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(1)
    xs = {s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for s, n in (("tr", 12),
                                                                             ("te", 8))}
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xs["tr"], y_train=np.arange(12) % 10, x_test=xs["te"],
             y_test=np.arange(8) % 10)
    tt = load_mnist(path)
    np.testing.assert_array_equal(tt.x_train[..., 0] * 255.0, xs["tr"])
    assert tt.x_test.shape == (8, 28, 28, 1) and tt.y_test.dtype == np.int32
    np.savez(tmp_path / "bad.npz", x_train=xs["tr"], y_train=np.arange(12) % 10)
    with pytest.raises(KeyError, match=r"bad.npz.*x_test"):
        load_mnist(tmp_path / "bad.npz")


def _mnist_error(tmp_path, change, match, exc=ValueError):
    arrays = mnist_dir(tmp_path)
    change(tmp_path, arrays)
    with pytest.raises(exc, match=match):
        load_mnist(tmp_path)


def test_mnist_bad_magic_names_the_file(tmp_path):
    _mnist_error(tmp_path, lambda d, a: write(d / "train-images-idx3-ubyte",
                                              b"<html>404 Not Found</html>"),
                 r"train-images-idx3-ubyte.*not an IDX file.*HTML")


def test_mnist_wrong_magic_and_swapped_files(tmp_path):
    def swap(d, a):
        write(d / "t10k-images-idx3-ubyte", idx_bytes(a["test"][1]))

    _mnist_error(tmp_path, swap, r"t10k-images-idx3-ubyte.*0x00000801.*swapped")


@pytest.mark.parametrize("cut", [1, 700, 10_000])
def test_mnist_truncated(tmp_path, cut):
    def trunc(d, a):
        data = idx_bytes(a["train"][0])
        write(d / "train-images-idx3-ubyte", data[:-cut], gz=True)
        os.remove(d / "train-images-idx3-ubyte")

    _mnist_error(tmp_path, trunc, r"train-images-idx3-ubyte.gz.*truncated")


def test_mnist_trailing_bytes_and_damaged_gzip(tmp_path):
    _mnist_error(tmp_path, lambda d, a: write(d / "t10k-labels-idx1-ubyte",
                                              idx_bytes(a["test"][1]) + b"\0"),
                 r"t10k-labels-idx1-ubyte.*longer than its header")
    bad = tmp_path / "g"
    mnist_dir(bad)
    os.remove(bad / "t10k-labels-idx1-ubyte")
    write(bad / "t10k-labels-idx1-ubyte.gz", gzip.compress(b"x" * 100)[:-8] + b"garbage!")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz.*damaged gzip"):
        load_mnist(bad)


def test_mnist_count_mismatch_and_label_range(tmp_path):
    _mnist_error(tmp_path, lambda d, a: write(d / "train-labels-idx1-ubyte",
                                              idx_bytes(a["train"][1][:-1])),
                 r"30 images.*29 labels")
    other = tmp_path / "r"
    _mnist_error(other, lambda d, a: write(d / "t10k-labels-idx1-ubyte",
                                           idx_bytes(np.full(20, 10, np.uint8))),
                 r"t10k-labels-idx1-ubyte.*0\.\.9.*\[10\]")


def test_mnist_missing_files(tmp_path):
    _mnist_error(tmp_path, lambda d, a: os.remove(d / "t10k-images-idx3-ubyte"),
                 r"lacks t10k-images-idx3-ubyte.*four IDX files", FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_mnist(tmp_path / "train-images-idx3-ubyte")


# ---- CIFAR-10 -------------------------------------------------------------------------------


def cifar_dir(root, n=6, protocol=2, seed=0, py2_names=False, str_keys=False):
    """CIFAR-10 python batches: dicts with b'data' (n, 3072) uint8 and b'labels' lists."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    batches = {}
    for i, name in enumerate([*loaders.CIFAR10_FILES["train"], "test_batch"]):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(n) + i) % 10]
        batch = {b"batch_label": f"batch {i}".encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{j}.png".encode() for j in range(n)]}
        if str_keys:
            batch = {k.decode(): v for k, v in batch.items()}
        raw = pickle.dumps(batch, protocol=protocol)
        if py2_names:  # what NumPy 1 / Python 2 pickles name the reconstruction function
            raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        write(os.path.join(root, name), raw)
        batches[name] = (data, labels)
    return batches


@pytest.mark.parametrize("kw", [{}, {"protocol": 5}, {"py2_names": True}, {"str_keys": True}])
def test_cifar10_batches_chw_to_nhwc(tmp_path, kw):
    batches = cifar_dir(tmp_path, **kw)
    tt = load_cifar10(tmp_path)
    assert tt.x_train.shape == (30, 32, 32, 3) and tt.x_test.shape == (6, 32, 32, 3)
    assert tt.x_train.dtype == np.float32 and tt.y_train.dtype == np.int32
    # the spec: row = 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    data, labels = batches["data_batch_2"]
    i, r, c, ch = 3, 5, 17, 2
    assert tt.x_train[6 + i, r, c, ch] * 255.0 == data[i, ch * 1024 + r * 32 + c]
    np.testing.assert_array_equal(tt.y_train[6:12], labels)
    np.testing.assert_array_equal(tt.x_test * 255.0, batches["test_batch"][0].reshape(
        6, 3, 32, 32).transpose(0, 2, 3, 1))
    assert 0.0 <= tt.x_train.min() and tt.x_train.max() <= 1.0


def test_cifar10_nested_folder_and_archive(tmp_path):
    cifar_dir(tmp_path / "cifar-10-batches-py")
    assert load_cifar10(tmp_path).x_test.shape == (6, 32, 32, 3)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(ValueError, match="unpack it first"):
        load_cifar10(tmp_path / "cifar-10-python.tar.gz")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalBuiltin:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload", ["system", "eval", "nested"])
def test_cifar10_hostile_pickle_is_refused(tmp_path, payload):
    cifar_dir(tmp_path)
    marker = tmp_path / "pwned"
    evil = {"system": _Evil(marker), "eval": _EvalBuiltin(),
            "nested": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [_Evil(marker), 1]}
            }[payload]
    write(tmp_path / "data_batch_3", pickle.dumps(evil, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_3.*refusing"):
        load_cifar10(tmp_path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="refusing"):
        safe_unpickle(tmp_path / "data_batch_3")
    assert not marker.exists()


def test_cifar10_corrupt_batches(tmp_path):
    cifar_dir(tmp_path)
    raw = (tmp_path / "test_batch").read_bytes()
    write(tmp_path / "test_batch", raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"test_batch.*truncated"):
        load_cifar10(tmp_path)
    cases = [([1, 2, 3], "not a CIFAR-10 batch"),
             ({b"data": np.zeros((2, 3072), np.uint8)}, r"lacks \['labels'\]"),
             ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
             ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1"),
             ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, r"0\.\.9")]
    for batch, match in cases:
        write(tmp_path / "test_batch", pickle.dumps(batch, protocol=2))
        with pytest.raises(ValueError, match=rf"test_batch.*{match}|{match}.*test_batch"):
            load_cifar10(tmp_path)
    os.remove(tmp_path / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="lacks data_batch_5"):
        load_cifar10(tmp_path)


# ---- MNIST-1D -------------------------------------------------------------------------------


def test_mnist1d_deterministic_and_the_packages_own_generator():
    np.random.seed(7)  # noqa: NPY002 - the caller's legacy global state must survive
    random.seed(7)
    expected_np, expected_py = np.random.rand(), random.random()  # noqa: NPY002
    np.random.seed(7)  # noqa: NPY002
    random.seed(7)
    a = load_mnist1d(200, seed=3)
    assert (np.random.rand(), random.random()) == (expected_np, expected_py)  # noqa: NPY002
    assert a.x_train.shape == (160, 40) and a.x_test.shape == (40, 40)
    assert a.x_train.dtype == np.float32 and a.y_test.dtype == np.int32
    assert np.bincount(np.concatenate([a.y_train, a.y_test])).tolist() == [20] * 10
    b = loaders._mnist1d_arrays.__wrapped__(200, 3, 0.8)  # generated again, not cached
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(load_mnist1d(200, seed=4).x_train, a.x_train)
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = 200, 3
    ref = make_dataset(args)
    np.testing.assert_allclose(a.x_train, ref["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.y_test, ref["y_test"])
    with pytest.raises(ValueError, match="multiple of 10"):
        load_mnist1d(205)


def test_datasets_facade_exposes_the_loaders():
    import infoplane.datasets as facade

    for name in ("load_mnist", "load_fashion_mnist", "load_cifar10", "load_mnist1d",
                 "read_idx", "safe_unpickle", "TrainTest"):
        assert getattr(facade, name) is getattr(loaders, name)


# ---- networks and presets -------------------------------------------------------------------


def test_butakov_network_shapes_and_leaky_relu():
    from flax import nnx

    assert float(models.ACTIVATIONS["leaky_relu"](-2.0)) == pytest.approx(-0.02)
    net = nnx.eval_shape(lambda: models.butakov_cnn((28, 28, 1), 10, rngs=nnx.Rngs(0)))
    kernels = [tuple(c.kernel.get_value().shape) for c in net.convs]
    assert kernels == [(3, 3, 1, 8), (3, 3, 8, 16), (3, 3, 16, 32)]
    assert [tuple(d.kernel.get_value().shape) for d in net.dense] == [(32, 32)]
    assert tuple(net.head.kernel.get_value().shape) == (32, 10)
    with pytest.raises(ValueError, match="too small"):
        nnx.eval_shape(lambda: models.butakov_cnn((8, 8, 1), 10, rngs=nnx.Rngs(0)))


def test_presets_need_the_right_data(tmp_path, capsys):
    with pytest.raises(ValueError, match="needs --data"):
        harness.run_experiment("mnist-cnn", logdir=None)
    assert cli.main(["run", "--preset", "cifar-cnn", "--logdir", str(tmp_path)]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert cli.main(["run", "--preset", "mnist1d-mlp", "--data", "x.npz",
                     "--logdir", str(tmp_path)]) == 2
    assert "takes no --data" in capsys.readouterr().err
    cifar_dir(tmp_path / "c", n=2)
    assert cli.main(["run", "--preset", "mnist-cnn", "--data", str(tmp_path / "c"),
                     "--logdir", str(tmp_path), "--epochs", "1"]) == 2
    assert "lacks train-images-idx3-ubyte" in capsys.readouterr().err
    assert cli.main(["run", "--preset", "mnist-cnn", "--data", str(tmp_path), "--limit", "0",
                     "--logdir", str(tmp_path)]) == 2
    assert "--limit" in capsys.readouterr().err
    with pytest.raises(ValueError, match="own train and test splits"):
        presets.load_preset_data(presets.PRESETS["mnist1d-mlp"])


def test_mnist_cnn_from_the_command_line(tmp_path, capsys):
    data = tmp_path / "mnist"
    mnist_dir(data, n_train=40, n_test=24, gz=True)
    runs = tmp_path / "runs"
    code = cli.main(["run", "--preset", "mnist-cnn", "--data", str(data), "--epochs", "1",
                     "--limit", "20", "--estimators", "binning(range='data')", "--logdir",
                     str(runs), "--name", "m", "--no-tensorboard"])
    assert code == 0, capsys.readouterr().err
    res = infoplane.load_results(runs / "m")
    assert sorted(res.unique("layer")) == ["convs.0", "convs.1", "convs.2", "dense.0",
                                           "output"]
    assert res.unique("split") == ["test"]  # the test images only (Butakov et al.)
    assert sorted(set(res["epoch"].tolist())) == [0, 1]  # every epoch
    # 20 distinct random images: the 1352-value first map separates all of them
    first = res.where(layer="convs.0", epoch=0)
    assert first["i_xt"][0] == pytest.approx(math.log2(20), abs=1e-6)
    config = json.loads((runs / "m" / "config.json").read_text())
    assert (config["limit"], config["train_size"], config["test_size"]) == (20, 20, 20)
    assert config["preset_settings"]["learning_rate"] == 1e-5


def test_cifar_cnn_at_tiny_size(tmp_path):
    """Trained one epoch on 24 of 40 training images, every layer of the test images stored
    (no estimator: estimation is covered above; this checks the network and the data)."""
    cifar_dir(tmp_path / "cifar", n=8)
    s = harness.run_experiment("cifar-cnn", data=str(tmp_path / "cifar"), epochs=1, points=2,
                               limit=24, estimators=[], store_activations=True,
                               logdir=str(tmp_path / "runs"), name="c", tensorboard=False)
    names = tuple(f"convs.{i}" for i in range(6)) + ("dense.0", "output")
    assert s.recorder.layer_names == names
    assert s.config["train_size"] == 24 and s.config["test_size"] == 8
    store = ActivationStore(s.run_dir)
    assert store.epochs("test", 0) == [0, 1]
    acts = store.read(0, "test", 1)
    widths = [32 * 32 * 16, 16 * 16 * 16, 16 * 16 * 32, 8 * 8 * 32, 8 * 8 * 64, 4 * 4 * 64,
              128, 10]
    assert {k: v.shape for k, v in acts.items()} == {
        n: (8, w) for n, w in zip(names, widths, strict=True)}
    np.testing.assert_allclose(acts["output"].sum(axis=1), 1.0, rtol=1e-5)  # softmax
    assert min(float(v.min()) for k, v in acts.items() if k != "output") >= 0.0  # ReLU


def test_mnist1d_mlp_at_tiny_size():
    m = harness.run_experiment("mnist1d-mlp", epochs=2, points=2, limit=100,
                               estimators=["binning(range='data')"], logdir=None)
    assert m.recorder.layer_names == ("layers.0", "layers.1", "output")
    r = m.recorder.results()
    assert sorted(r.unique("split")) == ["test", "train"]
    assert {k: v[0].shape for k, v in m.recorder.probes.items()} == {"train": (100, 40),
                                                                      "test": (100, 40)}
    expected = load_mnist1d().head(100)
    np.testing.assert_array_equal(m.recorder.probes["test"][0], expected.x_test)
    # 100 distinct continuous signals, 30 bins per unit: every one its own state
    assert r.where(split="train", layer="layers.0", epoch=0)["i_xt"][0] == pytest.approx(
        math.log2(100), abs=1e-6)
