"""Fuzzing the public estimator API with hypothesis (issue 18, item 8).

Every call either raises a ValueError / TypeError whose message names the argument that was
wrong, or returns a finite result inside its ceilings -- never another exception type, never
a silent NaN. Covered: the estimator constructors (any parameter, any value), spec strings
(random text and mutated valid specs), the building blocks (`knn_entropy`, `ksg_mi`, `dse`,
`dsmi`) on hostile arrays (NaN, inf, empty, zero columns, huge or tiny values, complex,
strings, objects, wrong ndim, one row), and `infoplane.estimate` with the binned and KDE
estimators on hostile layers.

Shapes are drawn from a small fixed set (JAX compiles once per shape), so the whole file runs
in well under a minute on 2 cores.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infoplane
from infoplane.estimators import (
    KDE,
    REGISTRY,
    AdaptiveBinning,
    Binning,
    Subsample,
    dse,
    dsmi,
    from_spec,
    knn_entropy,
    ksg_mi,
    to_spec,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
#: For the cheap, compile-free tests (constructors, spec strings).
MANY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
CLASSES = list(REGISTRY.values())

# ---- hostile values -------------------------------------------------------------------------

_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1e-45, 1e-20, 1e20, 1e39, -1.0, 0.5, 30.0, 2.0**31]),
)
_INTS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                  st.sampled_from([0, 1, 2, 3, 5, 29, -5, 2**31, 2**32, 10**9]))
VALUES = st.one_of(
    _INTS, _FLOATS, st.booleans(), st.none(),
    st.text(max_size=12), st.sampled_from(["data", "yes", "bits", "nats", "pca", "auto", ""]),
    st.complex_numbers(max_magnitude=10.0),
    st.tuples(_FLOATS, _FLOATS), st.tuples(_INTS, _INTS, _INTS), st.lists(_FLOATS, max_size=3),
    st.dictionaries(st.text(max_size=3), _INTS, max_size=2),
    st.builds(np.float32, st.floats(width=32)), st.builds(np.int64, st.integers(-5, 100)),
    st.just(np.array([1.0, 2.0])), st.just(object()),
)


def _names_argument(exc: Exception, names) -> bool:
    """The message names one of ``names`` (as a word)."""
    msg = str(exc)
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", msg)
               for n in names)


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# ---- constructors ---------------------------------------------------------------------------


@MANY
@given(cls=st.sampled_from(CLASSES), data=st.data())
def test_constructors_validate_every_parameter(cls, data):
    """One or two parameters set to anything: a clear error naming one of them, or a
    hashable estimator whose spec string gives it back."""
    names = data.draw(st.lists(st.sampled_from(_fields(cls)), min_size=1, max_size=2,
                               unique=True))
    kwargs = {n: data.draw(VALUES, label=n) for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = cls(**kwargs)
        except (ValueError, TypeError) as exc:
            assert _names_argument(exc, names), (kwargs, exc)
            return
    hash(est)
    assert dict(est.params())  # every parameter recorded
    if all(type(v) in (int, float, str, bool, tuple, type(None), np.float32, np.int64)
           for v in kwargs.values()):
        spec = to_spec(est)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert from_spec(spec) == est, (spec, est)


@FAST
@given(n=VALUES, seed=VALUES)
def test_subsample_validates_n_and_seed(n, seed):
    try:
        est = Subsample(Binning(), n=n, seed=seed)
    except (ValueError, TypeError) as exc:
        assert _names_argument(exc, ["n", "seed"]), exc
        return
    assert isinstance(est.n, int) and est.n >= 2 and 0 <= est.seed < 2**31


def test_issue_examples_are_rejected_clearly():
    """The validation gaps listed in issue 18, each with a message naming the parameter."""
    cases = [
        (lambda: Binning(width=0.07, n_bins=-5), ValueError, "n_bins"),
        (lambda: Binning(range=(0, 1, 2)), ValueError, "range"),
        (lambda: Binning(range=5), TypeError, "range"),
        (lambda: Binning(n_bins=30.0), TypeError, r"n_bins.*got 30\.0.*Write 30"),
        (lambda: Binning(n_bins=True), TypeError, "n_bins"),
        (lambda: AdaptiveBinning(per_neuron="yes"), ValueError, "per_neuron"),
        (lambda: KDE(adaptive="yes"), ValueError, "adaptive"),
        (lambda: infoplane.Compressed(ae_lr=-1.0), ValueError, "ae_lr"),
        (lambda: infoplane.Compressed(ae_lr=float("nan")), ValueError, "ae_lr"),
        (lambda: knn_entropy(np.ones((10, 2)), k=True), TypeError, "k must be an integer"),
        (lambda: from_spec("dsmi(sigma=True)"), TypeError, "sigma"),
        (lambda: knn_entropy(np.ones((10, 2), complex)), TypeError, "z must be .*real"),
        (lambda: dse(np.array([["a", "b"]] * 5), 1.0), TypeError, "z must be .*real"),
        (lambda: dsmi(np.ones((6, 2), complex), np.zeros(6, int), 1.0), TypeError, "z must"),
        (lambda: ksg_mi(np.ones((6, 1)), np.array([[object()]] * 6)), TypeError, "b must"),
        (lambda: from_spec("binning("), ValueError, "must end with"),
        (lambda: dse(np.zeros((10, 2)), sigma=1e-20), ValueError, "smallest usable sigma"),
        (lambda: dse(np.zeros((10, 0)), 1.0), ValueError, "zero features"),
    ]
    for make, kind, pattern in cases:
        with pytest.raises(kind, match=pattern):
            make()
    assert from_spec("binning(range=[0,1])") == Binning(range=(0.0, 1.0))
    assert from_spec("binning(range=[0, 1], n_bins=8)") == Binning(range=(0, 1), n_bins=8)


# ---- spec strings ---------------------------------------------------------------------------

VALID_SPECS = [
    "binning", "binning(n_bins=12, range=(0.0, 2.0))", "binning(width=0.07)",
    "binning(range=data)", "adaptive_binning(lower=0)", "kde(sigma2=0.01, adaptive=True)",
    "compressed(noise=absolute, dim=3)", "dsmi(sigma=1, t=2)",
    "subsample(compressed, n=1024, seed=0)", "binning(convention=idnns, wrap_below=True)",
]


def _check_spec(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = from_spec(text)
        except (ValueError, TypeError) as exc:
            names = ["estimator", "spec", "n", "seed"] + sorted(
                {f for cls in CLASSES for f in _fields(cls)})
            assert _names_argument(exc, names), (text, exc)
            return
        assert from_spec(to_spec(est)) == est, (text, to_spec(est))


@MANY
@given(text=st.text(alphabet=st.sampled_from(list("binngkdesmuplac_()[],=.'\"0123456789 -e+"
                                                 "TrueFalsNonxyz\\")), max_size=40))
def test_from_spec_random_text(text):
    _check_spec(text)


@MANY
@given(spec=st.sampled_from(VALID_SPECS), data=st.data())
def test_from_spec_mutated_valid_specs(spec, data):
    chars = list(spec)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        i = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        c = data.draw(st.sampled_from(list("(),=[]'\" 0-9.xeTN")))
        if op == "insert":
            chars.insert(i, c)
        elif chars and op == "delete":
            del chars[i]
        elif chars:
            chars[i] = c
    _check_spec("".join(chars))


# ---- building blocks on hostile arrays ------------------------------------------------------

SHAPES = [(0,), (6,), (1, 2), (8, 0), (12, 2), (12, 1, 1), (2, 2)]
CONTENTS = ["normal", "nan", "inf", "huge", "tiny", "constant", "subnormal"]
DTYPES = ["float32", "float64", "int64", "bool", "complex64", "str", "object"]


def hostile_array(shape, content, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    if a.size:
        flat = a.reshape(-1)
        if content == "nan":
            flat[0] = np.nan
        elif content == "inf":
            flat[-1] = -np.inf
        elif content == "huge":
            a = a * 1e30
        elif content == "tiny":
            a = a * 1e-30
        elif content == "constant":
            a = np.full(shape, 0.25)
        elif content == "subnormal":
            a = a * 1e-41
    if dtype == "str":
        return a.astype(str)
    if dtype == "object":
        return a.astype(object)
    if dtype == "int64":
        return np.nan_to_num(a, posinf=0, neginf=0).clip(-1e9, 1e9).astype(np.int64)
    return a.astype(dtype)


ARRAYS = st.builds(hostile_array, st.sampled_from(SHAPES), st.sampled_from(CONTENTS),
                   st.sampled_from(DTYPES))


def _expect_clear_error_or(fn, names):
    """fn() -> its float result, or None after a ValueError/TypeError naming an argument."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(fn())
        except (ValueError, TypeError) as exc:
            assert _names_argument(exc, names), exc
            return None


def _has_duplicate_rows(z) -> bool:
    z32 = np.asarray(z, np.float32).reshape(len(z), -1)
    return len(np.unique(z32, axis=0)) < len(z32)


@FAST
@given(z=ARRAYS, k=st.sampled_from([1, 3, 5, 0, True, 2.0, 11]))
def test_knn_entropy_hostile(z, k):
    h = _expect_clear_error_or(lambda: knn_entropy(z, k=k), ["z", "k"])
    if h is not None:
        # -inf only for coinciding samples (documented: a discrete distribution)
        assert math.isfinite(h) or (h == -math.inf and _has_duplicate_rows(z)), (h, z)


@FAST
@given(a=ARRAYS, b=ARRAYS, k=st.sampled_from([1, 3, 5]))
def test_ksg_mi_hostile(a, b, k):
    i = _expect_clear_error_or(lambda: ksg_mi(a, b, k=k, units="nats"), ["a", "b", "k"])
    if i is not None:
        from scipy.special import digamma

        n = len(a)
        hi = digamma(k) + digamma(n) - 2 * digamma(1)  # all marginal counts 0
        lo = digamma(k) - digamma(n)  # all marginal counts N - 1
        assert math.isfinite(i) and lo - 1e-4 <= i <= hi + 1e-4, (i, lo, hi)


@FAST
@given(z=ARRAYS, sigma=st.sampled_from([1.0, 10.0, 1e-20, 1e-19, 2e-19, 1e25, 0.0, -1.0,
                                        float("nan"), True, "1", 1 + 1j]))
def test_dse_hostile(z, sigma):
    h = _expect_clear_error_or(lambda: dse(z, sigma), ["z", "sigma"])
    if h is not None:
        n = len(z)
        assert math.isfinite(h) and -1e-4 <= h <= math.log2(n) + 1e-4, (h, n)


@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(z=ARRAYS, labels=st.sampled_from(["two", "float", "complex", "short", "one"]))
def test_dsmi_hostile(z, labels):
    n = len(z) if np.ndim(z) else 0
    c = {"two": np.arange(n) % 2, "float": np.zeros(n), "complex": np.zeros(n, complex),
         "short": np.zeros(max(n - 1, 0), int), "one": np.zeros(n, int)}[labels]
    i = _expect_clear_error_or(lambda: dsmi(z, c, 1.0), ["z", "c"])
    if i is not None:
        assert math.isfinite(i) and abs(i) <= math.log2(n) + 1e-4, i


# ---- estimators on hostile layers -----------------------------------------------------------

N = 16
X = np.arange(N)[:, None].astype(np.float32)  # every input distinct: H(X) = log2 N
Y = np.arange(N) % 2  # H(Y) = 1 bit
ESTIMATORS = [Binning(), Binning(range="data"), Binning(width=0.07), Binning(n_bins=4),
              AdaptiveBinning(), AdaptiveBinning(per_neuron=True), AdaptiveBinning(lower=0.0),
              KDE(), KDE(adaptive=True)]
LAYER_CONTENTS = ["normal", "huge", "tiny", "constant", "nan", "inf", "subnormal", "wide"]


def hostile_layer(content, seed):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(N, 3))
    scale = {"huge": 1e30, "tiny": 1e-30, "subnormal": 1e-41, "wide": 3e8}.get(content, 1.0)
    t = t * scale
    if content == "constant":
        t = np.full((N, 3), -0.5)
    elif content == "nan":
        t[3, 1] = np.nan
    elif content == "inf":
        t[5, 0] = np.inf
    return t.astype(np.float32)


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(est=st.sampled_from(ESTIMATORS), content=st.sampled_from(LAYER_CONTENTS),
       seed=st.integers(0, 3))
def test_estimate_hostile_layers_inside_ceilings(est, content, seed):
    t = hostile_layer(content, seed)
    try:
        r = infoplane.estimate(est, X, t, Y)
    except ValueError as exc:
        assert content in ("nan", "inf") and "Activations t" in str(exc), exc
        return
    i_xt, i_ty = float(r.i_xt), float(r.i_ty)
    assert math.isfinite(i_xt) and math.isfinite(i_ty), (est, content, i_xt, i_ty)
    assert -1e-5 <= i_xt <= math.log2(N) + 1e-5, (est, content, i_xt)
    assert -1e-5 <= i_ty <= 1.0 + 1e-5, (est, content, i_ty)


def test_fixed_width_bins_count_states_beyond_int32():
    """|t / width| > 2**31 (|t| > 1.5e8 at width 0.07) used to overflow int32 and merge
    bins; every distinct floor(t / width) is a state of its own (NumPy reference)."""
    vals = np.array([1e8, 2e8, 3e8, -2e8, -3e8, 5e9, -5e9, 1.6e8, 0.0, -0.0, 0.01, -0.01,
                     1.0, 3e38, 7e37, 2.0**40], np.float32)
    r = infoplane.estimate(Binning(width=0.07), X, vals[:, None], Y)
    with np.errstate(over="ignore"):  # 3e38 / 0.07 and 7e37 / 0.07 overflow: one state
        _, counts = np.unique(np.floor(vals / np.float32(0.07)), return_counts=True)
    assert int(r.aux["n_states"]) == len(counts) == 13  # {0, -0, 0.01}, {3e38, 7e37}
    p = counts / N
    assert float(r.i_xt) == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-5)
    t = np.stack([vals, vals[::-1]], axis=1)  # rows of two such values: all distinct
    r = infoplane.estimate(Binning(width=0.07), X, t, Y)
    assert int(r.aux["n_states"]) == N and float(r.i_xt) == pytest.approx(math.log2(N))


PROBE_X = ["normal", "complex", "str", "object", "nan", "huge", "no_features", "scalar",
           "short", "ragged", "bool", "images"]
PROBE_Y = ["ints", "float", "complex", "str", "bool", "onehot", "scalar", "short", "huge"]


def hostile_probe(xk, yk):
    x = {"normal": X, "complex": X.astype(complex), "str": X.astype(str),
         "object": X.astype(object), "nan": np.where(X == 3, np.nan, X),
         "huge": X.astype(np.float64) * 1e300, "no_features": np.zeros((N, 0)),
         "scalar": np.float32(1.0),
         "short": X[:-1], "ragged": [[1.0], [2.0, 3.0]] * (N // 2), "bool": X > 4,
         "images": np.repeat(X[:, :, None, None], 2, axis=2)}[xk]
    y = {"ints": Y, "float": Y.astype(float), "complex": Y.astype(complex),
         "str": Y.astype(str), "bool": Y.astype(bool), "onehot": np.eye(2)[Y],
         "scalar": np.int64(1), "short": Y[:3], "huge": Y.astype(np.int64) * 2**62}[yk]
    return x, y


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(xk=st.sampled_from(PROBE_X), yk=st.sampled_from(PROBE_Y),
       est=st.sampled_from([Binning(), KDE()]))
def test_estimate_hostile_probe_sets(xk, yk, est):
    """x and y of every kind: a clear error naming x or y, or a result inside its
    ceilings (H(X) = log2 N here whenever the inputs are distinct)."""
    x, y = hostile_probe(xk, yk)
    t = hostile_layer("normal", 0)
    try:
        r = infoplane.estimate(est, x, t, y)
    except (ValueError, TypeError) as exc:
        assert _names_argument(exc, ["x", "y"]), exc
        return
    i_xt, i_ty = float(r.i_xt), float(r.i_ty)
    assert math.isfinite(i_xt) and math.isfinite(i_ty)
    assert -1e-5 <= i_xt <= math.log2(N) + 1e-5 and -1e-5 <= i_ty <= 1.0 + 1e-5


@pytest.mark.parametrize("content", ["normal", "huge", "tiny", "constant", "subnormal", "wide"])
@pytest.mark.parametrize("noise", ["relative", "absolute"])
def test_compressed_hostile_layers_inside_ceilings_or_withheld(content, noise):
    """Compressed on every kind of layer: a finite estimate inside its ceilings (with the kNN
    estimator's slack of 0.5 bits) or one withheld as unstable (NaN with its aux flag) --
    never a silent -inf / NaN / 250 bits (a constant layer: exactly 0)."""
    t = hostile_layer(content, 0)
    r = infoplane.estimate(infoplane.Compressed(x_compressor="pca", noise=noise), X, t, Y)
    flags = int(float(r.aux["unstable"]))
    for bit, v, top in ((1, float(r.i_xt), math.log2(N)), (2, float(r.i_ty), 1.0)):
        if flags & bit:
            assert math.isnan(v), (content, v)
        else:
            assert math.isfinite(v) and -0.5 <= v <= top + 0.5, (content, noise, v)
    if content == "constant":
        assert float(r.i_xt) == 0.0 and float(r.i_ty) == 0.0
