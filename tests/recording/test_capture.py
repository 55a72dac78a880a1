"""infoplane.capture: layer representations of unmodified NNX and Linen models.

Every captured value is checked against a forward pass written out here from the parameters
(numpy, float64), so the tests pin both the naming convention (the input of the k-th linear
layer is named after the (k-1)-th) and the values.
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx

from infoplane.recording.capture import (
    capture_linen,
    capture_nnx,
    layer_names_linen,
    layer_names_nnx,
)

ATOL = 1e-6
N = 16


def _np(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _dense(h, kernel, bias) -> np.ndarray:
    return h @ _np(kernel) + _np(bias)


def _conv_same(x: np.ndarray, kernel, bias) -> np.ndarray:
    """2-D convolution, stride 1, SAME padding: (N, H, W, C) -> (N, H, W, O)."""
    k = _np(kernel)
    kh, kw = k.shape[:2]
    _, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
    out = np.zeros((*x.shape[:3], k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, i : i + h, j : j + w], k[i, j])
    return out + _np(bias)


def _avg_pool2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _snapshot(model) -> list[np.ndarray]:
    """Every leaf of the model's state as numpy (PRNG keys as their key data)."""
    leaves = jax.tree.leaves(nnx.state(model))
    return [
        np.array(jax.random.key_data(v) if jnp.issubdtype(v.dtype, jax.dtypes.prng_key) else v)
        for v in leaves
    ]


def _assert_close(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        assert got[name].dtype == jnp.float32, name
        np.testing.assert_allclose(_np(got[name]), value, atol=ATOL, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def x12():
    return jax.random.normal(jax.random.key(1), (N, 12))


@pytest.fixture(scope="module")
def ximg():
    return jax.random.normal(jax.random.key(2), (N, 8, 8, 2))


# ---- user models --------------------------------------------------------------------------


class ListMLP(nnx.Module):
    """12-10-7-2 tanh MLP with its layers in a list."""

    def __init__(self, sizes=(12, 10, 7, 2), *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


class NamedMLP(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(12, 10, rngs=rngs)
        self.fc2 = nnx.Linear(10, 7, rngs=rngs)
        self.head = nnx.Linear(7, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.fc2(jnp.tanh(self.fc1(x)))))


class Block(nnx.Module):
    def __init__(self, din, dout, *, rngs: nnx.Rngs):
        self.lin = nnx.Linear(din, dout, rngs=rngs)

    def __call__(self, x):
        return jnp.tanh(self.lin(x))


class BlockNet(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.block1 = Block(12, 10, rngs=rngs)
        self.block2 = Block(10, 7, rngs=rngs)
        self.head = nnx.Linear(7, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(self.block2(self.block1(x)))


class SharedNNX(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(12, 6, rngs=rngs)
        self.shared = nnx.Linear(6, 6, rngs=rngs)
        self.out = nnx.Linear(6, 2, rngs=rngs)

    def __call__(self, x):
        h = jnp.tanh(self.fc1(x))
        h = jnp.tanh(self.shared(h))
        h = jnp.tanh(self.shared(h))
        return self.out(h)


class NormNNX(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(12, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.fc2 = nnx.Linear(8, 2, rngs=rngs)

    def __call__(self, x):
        return self.fc2(self.drop(jax.nn.relu(self.bn(self.fc1(x)))))


class ConvNNX(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(2, 4, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(4, 3, kernel_size=(3, 3), rngs=rngs)
        self.head = nnx.Linear(4 * 4 * 3, 2, rngs=rngs)

    def __call__(self, x):
        h = nnx.avg_pool(jax.nn.relu(self.conv1(x)), (2, 2), strides=(2, 2))
        h = jax.nn.relu(self.conv2(h))
        return self.head(h.reshape(h.shape[0], -1))


class CompactMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(nn.Dense(10)(x))
        x = jnp.tanh(nn.Dense(7)(x))
        return nn.Dense(2)(x)


class SetupMLP(nn.Module):
    def setup(self):
        self.fc1 = nn.Dense(10)
        self.shared = nn.Dense(10)
        self.head = nn.Dense(2)

    def __call__(self, x):
        h = jnp.tanh(self.fc1(x))
        h = jnp.tanh(self.shared(h))
        h = jnp.tanh(self.shared(h))
        return self.head(h)


class ConvLinen(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.avg_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (2, 2), strides=(2, 2))
        h = nn.relu(nn.Conv(3, (3, 3))(h))
        return nn.Dense(2)(h.reshape(h.shape[0], -1))


class NormLinen(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = True):
        h = nn.Dense(8)(x)
        h = nn.BatchNorm(use_running_average=not train)(h)
        h = nn.Dropout(0.5, deterministic=not train)(jax.nn.relu(h))
        return nn.Dense(2)(h)


# ---- NNX: values against a hand-written forward pass ----------------------------------------


def test_nnx_list_mlp_matches_manual_forward(x12):
    model = ListMLP(rngs=nnx.Rngs(0))
    w = [(layer.kernel[...], layer.bias[...]) for layer in model.layers]
    h1 = np.tanh(_dense(_np(x12), *w[0]))
    h2 = np.tanh(_dense(h1, *w[1]))
    logits = _dense(h2, *w[2])
    got = capture_nnx(model, x12)
    _assert_close(got, {"layers.0": h1, "layers.1": h2, "output": _softmax(logits)})
    assert layer_names_nnx(model, x12) == ["layers.0", "layers.1", "output"]


def test_nnx_named_mlp_logits_and_no_output(x12):
    m = NamedMLP(rngs=nnx.Rngs(3))
    h1 = np.tanh(_dense(_np(x12), m.fc1.kernel[...], m.fc1.bias[...]))
    h2 = np.maximum(_dense(h1, m.fc2.kernel[...], m.fc2.bias[...]), 0)
    logits = _dense(h2, m.head.kernel[...], m.head.bias[...])
    _assert_close(capture_nnx(m, x12, output="logits"), {"fc1": h1, "fc2": h2, "output": logits})
    _assert_close(capture_nnx(m, x12, output=None), {"fc1": h1, "fc2": h2})


def test_nnx_conv_matches_manual_forward(ximg):
    m = ConvNNX(rngs=nnx.Rngs(4))
    h1 = _avg_pool2(np.maximum(_conv_same(_np(ximg), m.conv1.kernel[...], m.conv1.bias[...]), 0))
    h2 = np.maximum(_conv_same(h1, m.conv2.kernel[...], m.conv2.bias[...]), 0)
    logits = _dense(h2.reshape(N, -1), m.head.kernel[...], m.head.bias[...])
    got = capture_nnx(m, ximg)
    want = {"conv1": h1.reshape(N, -1), "conv2": h2.reshape(N, -1), "output": _softmax(logits)}
    _assert_close(got, want)
    assert got["conv1"].shape == (N, 4 * 4 * 4)


def test_nnx_outputs_source_with_custom_blocks(x12):
    m = BlockNet(rngs=nnx.Rngs(5))
    t1 = np.tanh(_dense(_np(x12), m.block1.lin.kernel[...], m.block1.lin.bias[...]))
    t2 = np.tanh(_dense(t1, m.block2.lin.kernel[...], m.block2.lin.bias[...]))
    logits = _dense(t2, m.head.kernel[...], m.head.bias[...])
    names = layer_names_nnx(m, x12, source="outputs")
    # Completion order: a block comes after the sublayer it calls.
    assert names == ["block1.lin", "block1", "block2.lin", "block2", "head", "output"]
    got = capture_nnx(m, x12, source="outputs", layers=["block1", "block2"])
    _assert_close(got, {"block1": t1, "block2": t2, "output": _softmax(logits)})
    # Linear inputs of the same model: named after the sublayer that produced them.
    assert layer_names_nnx(m, x12) == ["block1.lin", "block2.lin", "output"]


def test_nnx_weight_sharing_suffix(x12):
    m = SharedNNX(rngs=nnx.Rngs(6))
    assert layer_names_nnx(m, x12) == ["fc1", "shared", "shared#2", "output"]
    got = capture_nnx(m, x12, source="outputs", output=None)
    assert list(got) == ["fc1", "shared", "shared#2", "out"]
    h = np.tanh(_dense(_np(x12), m.fc1.kernel[...], m.fc1.bias[...]))
    s1 = _dense(h, m.shared.kernel[...], m.shared.bias[...])
    s2 = _dense(np.tanh(s1), m.shared.kernel[...], m.shared.bias[...])
    np.testing.assert_allclose(_np(got["shared"]), s1, atol=ATOL)
    np.testing.assert_allclose(_np(got["shared#2"]), s2, atol=ATOL)


def test_nnx_eval_mode_and_model_untouched(x12):
    m = NormNNX(rngs=nnx.Rngs(7))
    m(x12)  # one training-mode call: running statistics move away from 0 and 1
    before = _snapshot(m)
    a = capture_nnx(m, x12)
    b = capture_nnx(m, x12)
    after = _snapshot(m)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
    assert len(before) == len(after)
    for u, v in zip(before, after, strict=True):
        np.testing.assert_array_equal(u, v)
    assert m.drop.deterministic is False and m.bn.use_running_average is False
    # Eval mode: BatchNorm uses running statistics, Dropout is the identity.
    bn = m.bn
    z = _dense(_np(x12), m.fc1.kernel[...], m.fc1.bias[...])
    z = (z - _np(bn.mean[...])) / np.sqrt(_np(bn.var[...]) + bn.epsilon)
    t = np.maximum(z * _np(bn.scale[...]) + _np(bn.bias[...]), 0)
    np.testing.assert_allclose(_np(a["fc1"]), t, atol=1e-5)


def test_nnx_under_jit_same_values_and_no_retrace(x12):
    traces = []

    def fn(state, x):
        traces.append(1)
        return capture_nnx(nnx.merge(graphdef, state), x)

    m = ListMLP(rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(m)
    jitted = jax.jit(fn)
    _assert_close(jitted(state, x12), {k: _np(v) for k, v in capture_nnx(m, x12).items()})
    m2 = ListMLP(rngs=nnx.Rngs(9))
    _, state2 = nnx.split(m2)
    got2 = jitted(state2, x12)
    assert len(traces) == 1
    want2 = capture_nnx(m2, x12)
    for k in want2:
        np.testing.assert_allclose(_np(got2[k]), _np(want2[k]), atol=ATOL)


def test_nnx_subclass_with_inherited_call_is_captured_and_restored(x12):
    class MyLinear(nnx.Linear):
        pass

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.a = MyLinear(12, 5, rngs=rngs)
            self.b = nnx.Linear(5, 2, rngs=rngs)

        def __call__(self, x):
            return self.b(jnp.tanh(self.a(x)))

    original = nnx.Linear.__dict__["__call__"]
    assert layer_names_nnx(Net(nnx.Rngs(0)), x12) == ["a", "output"]
    assert "__call__" not in MyLinear.__dict__
    assert nnx.Linear.__dict__["__call__"] is original


def test_nnx_patch_undone_when_forward_raises(x12):
    class Broken(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(12, 3, rngs=rngs)

        def __call__(self, x):
            self.fc(x)
            raise RuntimeError("boom")

    original = nnx.Linear.__dict__["__call__"]
    with pytest.raises(RuntimeError, match="boom"):
        capture_nnx(Broken(nnx.Rngs(0)), x12)
    assert nnx.Linear.__dict__["__call__"] is original


# ---- Linen ----------------------------------------------------------------------------------


def test_linen_compact_mlp_matches_manual_forward(x12):
    module = CompactMLP()
    variables = module.init(jax.random.key(0), x12)
    p = variables["params"]
    h1 = np.tanh(_dense(_np(x12), p["Dense_0"]["kernel"], p["Dense_0"]["bias"]))
    h2 = np.tanh(_dense(h1, p["Dense_1"]["kernel"], p["Dense_1"]["bias"]))
    logits = _dense(h2, p["Dense_2"]["kernel"], p["Dense_2"]["bias"])
    want = {"Dense_0": h1, "Dense_1": h2, "output": _softmax(logits)}
    _assert_close(capture_linen(module, variables, x12), want)
    _assert_close(capture_linen(module, p, x12), want)  # the params tree alone
    assert layer_names_linen(module, variables, x12) == list(want)


def test_linen_setup_mlp_weight_sharing(x12):
    module = SetupMLP()
    variables = module.init(jax.random.key(1), x12)
    p = variables["params"]
    h1 = np.tanh(_dense(_np(x12), p["fc1"]["kernel"], p["fc1"]["bias"]))
    h2 = np.tanh(_dense(h1, p["shared"]["kernel"], p["shared"]["bias"]))
    h3 = np.tanh(_dense(h2, p["shared"]["kernel"], p["shared"]["bias"]))
    logits = _dense(h3, p["head"]["kernel"], p["head"]["bias"])
    got = capture_linen(module, variables, x12, output="logits")
    _assert_close(got, {"fc1": h1, "shared": h2, "shared#2": h3, "output": logits})
    names = layer_names_linen(module, variables, x12, source="outputs", output=None)
    assert names == ["fc1", "shared", "shared#2", "head"]


def test_linen_conv_matches_manual_forward(ximg):
    module = ConvLinen()
    variables = module.init(jax.random.key(2), ximg)
    p = variables["params"]
    h1 = _avg_pool2(np.maximum(_conv_same(_np(ximg), **p["Conv_0"]), 0))
    h2 = np.maximum(_conv_same(h1, **p["Conv_1"]), 0)
    logits = _dense(h2.reshape(N, -1), **p["Dense_0"])
    want = {"Conv_0": h1.reshape(N, -1), "Conv_1": h2.reshape(N, -1), "output": _softmax(logits)}
    _assert_close(capture_linen(module, variables, ximg), want)


def test_linen_batch_stats_and_apply_kwargs(x12):
    module = NormLinen()
    variables = module.init(jax.random.key(3), x12, train=False)
    stats = variables["batch_stats"]["BatchNorm_0"]
    stats = {"mean": stats["mean"] + 0.3, "var": stats["var"] * 2.0}
    variables = {"params": variables["params"], "batch_stats": {"BatchNorm_0": stats}}
    p = variables["params"]
    z = _dense(_np(x12), **p["Dense_0"])
    z = (z - _np(stats["mean"])) / np.sqrt(_np(stats["var"]) + 1e-5)
    t = np.maximum(z * _np(p["BatchNorm_0"]["scale"]) + _np(p["BatchNorm_0"]["bias"]), 0)
    got = capture_linen(module, variables, x12, apply_kwargs={"train": False})
    assert list(got) == ["Dense_0", "output"]
    np.testing.assert_allclose(_np(got["Dense_0"]), t, atol=1e-5)
    with pytest.raises(ValueError, match="mutable"):
        capture_linen(module, variables, x12, apply_kwargs={"mutable": ["batch_stats"]})


def test_linen_under_jit_same_values_and_no_retrace(x12):
    module = CompactMLP()
    traces = []

    def fn(v, x):
        traces.append(1)
        return capture_linen(module, v, x)

    jitted = jax.jit(fn)
    for seed in (0, 1):
        variables = module.init(jax.random.key(seed), x12)
        got, want = jitted(variables, x12), capture_linen(module, variables, x12)
        for k in want:
            np.testing.assert_allclose(_np(got[k]), _np(want[k]), atol=ATOL)
    assert len(traces) == 1


# ---- layer selection and errors -------------------------------------------------------------


def test_layer_selection_by_names_and_filter(x12):
    m = ListMLP(sizes=(12, 10, 7, 5, 2), rngs=nnx.Rngs(0))
    full = capture_nnx(m, x12)
    assert list(full) == ["layers.0", "layers.1", "layers.2", "output"]
    # Order stays forward-call order whatever the order asked for.
    picked = capture_nnx(m, x12, layers=["layers.2", "layers.0"])
    assert list(picked) == ["layers.0", "layers.2", "output"]
    np.testing.assert_array_equal(np.asarray(picked["layers.2"]), np.asarray(full["layers.2"]))
    assert list(capture_nnx(m, x12, layers=lambda n: n != "layers.1", output=None)) == [
        "layers.0",
        "layers.2",
    ]


def test_unknown_layer_name_lists_available(x12):
    m = ListMLP(rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"'fc9'.*source='inputs'.*\['layers.0', 'layers.1'\]"):
        capture_nnx(m, x12, layers=["fc9"])
    with pytest.raises(ValueError, match=r"selected none.*layers.0"):
        capture_nnx(m, x12, layers=lambda n: False)


def test_bad_inputs_raise_clear_errors(x12):
    m = ListMLP(rngs=nnx.Rngs(0))
    module = CompactMLP()
    variables = module.init(jax.random.key(0), x12)
    with pytest.raises(TypeError, match="nnx.Module.*capture_linen"):
        capture_nnx(module, x12)
    with pytest.raises(TypeError, match="linen Module.*capture_nnx"):
        capture_linen(m, variables, x12)
    with pytest.raises(TypeError, match="array"):
        capture_nnx(m, x12.tolist())
    with pytest.raises(ValueError, match="leading batch axis"):
        capture_nnx(m, jnp.float32(1.0))
    with pytest.raises(ValueError, match="source"):
        capture_nnx(m, x12, source="activations")
    with pytest.raises(ValueError, match="output"):
        capture_linen(module, variables, x12, output="probs")


def test_no_layer_captured_suggests_outputs(x12):
    class OneLayer(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(12, 2, rngs=rngs)

        def __call__(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match=r"Linear.*source='outputs'"):
        capture_nnx(OneLayer(nnx.Rngs(0)), x12)
    assert layer_names_nnx(OneLayer(nnx.Rngs(0)), x12, source="outputs") == ["fc", "output"]


def test_model_output_must_be_a_batch_array(x12):
    class TupleOut(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Linear(12, 4, rngs=rngs)
            self.b = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            return self.b(jnp.tanh(self.a(x))), 0

    m = TupleOut(nnx.Rngs(0))
    with pytest.raises(TypeError, match="output=None"):
        capture_nnx(m, x12)
    assert list(capture_nnx(m, x12, output=None)) == ["a"]


def test_nnx_concurrent_threads_do_not_mix(x12):
    """Class patching is serialised by a lock and ignores calls from other threads."""
    models = [ListMLP(rngs=nnx.Rngs(0)), NamedMLP(rngs=nnx.Rngs(1))]
    refs = [capture_nnx(m, x12) for m in models]
    bad = []

    def work(model, ref):
        for _ in range(2):
            got = capture_nnx(model, x12)
            model(x12)  # a plain call while the other thread may be capturing
            if list(got) != list(ref) or any(not np.allclose(got[k], ref[k]) for k in ref):
                bad.append(model)

    threads = [threading.Thread(target=work, args=mr) for mr in zip(models, refs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
