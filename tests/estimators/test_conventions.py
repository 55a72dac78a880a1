"""Binning conventions (issue 17): infoplane's states against slow NumPy references of the
original codes -- Shwartz-Ziv & Tishby's ``edges[digitize(t, edges) - 1]`` on float32 linspace
edges, Chelombiev et al.'s adaptive edges with float64 positions and the maximum appended --
exactly, on the awkward values (edges, +-1.0, out of range, ties, saturation)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoplane
from infoplane.estimators import KDE, AdaptiveBinning, Binning, from_spec, to_spec
from infoplane.estimators import apply as _api
from infoplane.estimators.adaptive import chelombiev_positions
from infoplane.estimators.binning import _index_plan
from tests.estimators import reference as ref
from tests.estimators import reference_conventions as rc

TOL = 1e-5  # bits
F32 = np.float32


def probe(n, seed=0, n_classes=2):
    rng = np.random.default_rng(seed)
    return np.arange(n)[:, None], rng.integers(0, n_classes, n)


def near_edges(edges, ulps=3):
    """Every edge and its float32 neighbours up to ``ulps`` away on each side."""
    out = [edges]
    lo, hi = edges.copy(), edges.copy()
    for _ in range(ulps):
        lo, hi = np.nextafter(lo, F32(-np.inf)), np.nextafter(hi, F32(np.inf))
        out += [lo, hi]
    return np.concatenate(out).astype(F32)


def layer_of(values, d=4, seed=0):
    """Shuffle a 1-D pool of values into an (N, d) layer (N = len // d)."""
    v = np.random.default_rng(seed).permutation(np.asarray(values, F32))
    n = len(v) // d
    return v[: n * d].reshape(n, d)


def cases(lo=-1.0, hi=1.0, n_bins=29, seed=0):
    """(name, t) layers: random, on/next to every edge, +-1.0 and out of range, saturated
    float32 tanh, duplicates."""
    rng = np.random.default_rng(seed)
    span = hi - lo
    e = rc.linspace_edges(lo, hi, n_bins)
    special = np.array([lo, hi, -1.0, 1.0, -0.0, 0.0, lo - 1, hi + 1, lo - 1e-7, hi + 1e-7,
                        1e-45, -1e-45, 3e38, -3e38], F32)
    return [
        ("random", rng.uniform(lo - 0.1 * span, hi + 0.1 * span, (500, 5)).astype(F32)),
        ("edges", layer_of(np.concatenate([near_edges(e), special]), seed=seed)),
        ("saturated", np.tanh(12 * rng.normal(size=(600, 5))).astype(F32)),
        ("duplicates", np.round(np.tanh(rng.normal(size=(600, 4))), 1).astype(F32)),
    ]


def assert_same_information(est, t, b_ref, n_classes=2):
    x, y = probe(t.shape[0], n_classes=n_classes)
    got = infoplane.estimate(est, x, t, y)
    want = ref.discrete_mi(b_ref, x, y)
    assert float(got.i_xt) == pytest.approx(want["i_xt"], abs=TOL)
    assert float(got.i_ty) == pytest.approx(want["i_ty"], abs=TOL)
    assert int(got.aux["n_states"]) == want["n_states"]


# ---- Binning: digitize on the float32 linspace edges ------------------------------------------

RANGES = [((-1.0, 1.0), 29), ((-1.0, 1.0), 5), ((0.0, 1.0), 10), ((-3.0, 7.5), 100),
          ((0.0, 0.1), 30), ((-1.0, 1.0), 300), ((-1.0, 1.0), 30)]


def test_every_index_plan_is_exercised():
    plans = {_index_plan(lo, hi, n)[0] for (lo, hi), n in RANGES}
    assert plans == {"pairs", "count", "gather"}


@pytest.mark.parametrize(("rng_", "n_bins"), RANGES)
@pytest.mark.parametrize("convention", ["clip", "idnns", "idnns+wrap"])
def test_binning_matches_digitize_exactly(rng_, n_bins, convention):
    wrap = convention == "idnns+wrap"
    conv = "idnns" if wrap else convention
    est = Binning(n_bins=n_bins, range=rng_, convention=conv, wrap_below=wrap)
    for name, t in cases(*rng_, n_bins):
        want = rc.binning_indices(t, n_bins, rng_, conv, wrap)
        got = np.asarray(jax.jit(est.bin_indices)(jnp.asarray(t)))
        np.testing.assert_array_equal(got, want, err_msg=name)
        if name in ("edges", "saturated"):
            assert_same_information(est, t, want)


def test_idnns_reproduces_the_original_states():
    """The literal original (edge values, wrap below -1) and Binning(convention="idnns",
    wrap_below=True) give the same partition and the same information."""
    for name, t in cases():
        states = rc.idnns_states(t, wrap_below=True)
        est = Binning(convention="idnns", wrap_below=True)
        b = np.asarray(est.bin_indices(jnp.asarray(t)))
        assert rc.same_partition(b, states), name
        x, y = probe(t.shape[0])
        got = infoplane.estimate(est, x, t, y)
        want = ref.discrete_mi(states, x, y)
        assert float(got.i_xt) == pytest.approx(want["i_xt"], abs=TOL), name
        assert float(got.i_ty) == pytest.approx(want["i_ty"], abs=TOL), name
    # without wrap_below, values below -1 join the first bin instead
    t = np.array([[-1.5], [-1.0], [0.99], [1.0], [1.5]], F32)
    states = rc.idnns_states(t, wrap_below=False)
    np.testing.assert_array_equal(Binning(convention="idnns").bin_indices(jnp.asarray(t)),
                                  [[0], [0], [28], [29], [29]])
    assert rc.same_partition(Binning(convention="idnns").bin_indices(jnp.asarray(t)), states)
    np.testing.assert_array_equal(
        Binning(convention="idnns", wrap_below=True).bin_indices(jnp.asarray(t)),
        [[29], [0], [28], [29], [29]])


def test_plus_minus_one_exactly():
    t = np.array([[-1.0], [1.0], [np.nextafter(F32(1), F32(0))]], F32)
    np.testing.assert_array_equal(Binning().bin_indices(jnp.asarray(t)), [[0], [28], [28]])
    np.testing.assert_array_equal(Binning(convention="idnns").bin_indices(jnp.asarray(t)),
                                  [[0], [29], [28]])


def test_the_old_floor_formula_fails_the_reference():
    """The check can fail: the previous index (floor((t - lo) * s) alone) puts values lying
    on 3 of the 28 default interior edges one bin too low."""
    e = rc.linspace_edges()
    t = e[1:-1, None]
    old = ref.binning_indices(t)  # the floor formula
    want = rc.binning_indices(t)
    assert np.sum(old != want) == 3 and np.all(old <= want)
    np.testing.assert_array_equal(Binning().bin_indices(jnp.asarray(t)), want)
    t = near_edges(e)[:, None]
    assert np.sum(ref.binning_indices(t) != rc.binning_indices(t)) > 3


def test_subnormals_compare_exactly_against_an_edge_at_zero():
    # n_bins even: 0.0 is an edge; -1e-45 lies below it (XLA:CPU flushes subnormals in float
    # comparisons, so the comparisons are made on integer keys)
    t = np.array([[-1e-45], [-0.0], [0.0], [1e-45], [-1e-38]], F32)
    for est in (Binning(n_bins=30), Binning(n_bins=300), Binning(n_bins=2)):
        want = rc.binning_indices(t, est.n_bins)
        np.testing.assert_array_equal(jax.jit(est.bin_indices)(jnp.asarray(t)), want)


# ---- Binning(range="data") -------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [29, 4, 100])
@pytest.mark.parametrize("convention", ["clip", "idnns"])
def test_data_range_is_digitize_on_the_documented_edges(n_bins, convention):
    rng = np.random.default_rng(n_bins)
    est = Binning(n_bins=n_bins, range="data", convention=convention)
    # (rows with +-3e38 left out: their range overflows float32)
    layers = [t[np.all(np.abs(t) < 1e30, axis=1)] for _, t in cases()] + [
        np.maximum(rng.normal(size=(400, 3)), 0).astype(F32),  # relu: exact zeros
        3.0 + 1e-6 * rng.normal(size=(300, 2)).astype(F32),  # narrow range, large values
        np.full((50, 2), 0.25, F32),  # constant
    ]
    for t in layers:
        edges = rc.data_edges(t, n_bins)
        # values on every documented edge and beside it, inside the layer's range
        on = near_edges(edges)
        on = on[(on >= t.min()) & (on <= t.max())]
        t2 = np.concatenate([t.reshape(-1), on])[:, None]
        for layer in (t, t2):
            want = rc.data_binning_indices(layer, n_bins, convention)
            got = np.asarray(jax.jit(est.bin_indices)(jnp.asarray(layer)))
            np.testing.assert_array_equal(got, want)
    assert_same_information(est, layers[2], rc.data_binning_indices(layers[2], n_bins,
                                                                     convention))


def test_data_edges_are_near_linspace():
    t = np.tanh(np.random.default_rng(0).normal(size=(300, 4))).astype(F32)
    e = rc.data_edges(t, 29)
    lin = np.linspace(float(t.min()), float(t.max()), 30)
    assert np.max(np.abs(e - lin)) < 4 * np.finfo(F32).eps
    from infoplane.estimators.binning import data_range_edges

    np.testing.assert_array_equal(data_range_edges(t.min(), t.max(), 29), e)


# ---- Chelombiev positions --------------------------------------------------------------------


def python_positions(u_values, b):
    """int(k * (U / B)) for many U at once in NumPy float64 (IEEE, like Python floats)."""
    k = np.arange(b, dtype=np.float64)[None, :]
    return (k * (u_values[:, None].astype(np.float64) / b)).astype(np.int64)


def test_numpy_float64_positions_equal_python_ints():
    rng = np.random.default_rng(0)
    for u in [*rng.integers(1, 2**22, 3000).tolist(), 30, 31, 60, 2**22]:
        assert python_positions(np.array([u]), 30)[0].tolist() == rc.chelombiev_positions(u, 30)


def test_the_float64_positions_differ_where_the_issue_says():
    u = np.arange(30, 50_001)
    floor = (np.arange(30)[None, :] * u[:, None]) // 30
    differ = np.any(python_positions(u, 30) != floor, axis=1)
    assert differ.sum() == 1088  # as measured with the authors' code


def test_chelombiev_positions_exact_for_every_u_up_to_2_pow_22():
    """The int32 formula equals Python's int(k * (U / 30)) for every U in 0..2**22."""
    f = jax.jit(jax.vmap(lambda u: chelombiev_positions(u, 30)))
    chunk = 2**19
    for start in range(0, 2**22 + 1, chunk):
        u = np.arange(start, min(start + chunk, 2**22 + 1))
        np.testing.assert_array_equal(np.asarray(f(jnp.asarray(u, jnp.int32))),
                                      python_positions(u, 30))


@pytest.mark.parametrize("b", [2, 3, 7, 29, 64, 100, 999, 1024])
def test_chelombiev_positions_other_bin_counts(b):
    f = jax.jit(jax.vmap(lambda u: chelombiev_positions(u, b)))
    u = np.concatenate([np.arange(0, 2**16), np.random.default_rng(b).integers(0, 2**22, 20000)])
    np.testing.assert_array_equal(np.asarray(f(jnp.asarray(u, jnp.int32))),
                                  python_positions(u, b))


# ---- AdaptiveBinning(convention="chelombiev") ------------------------------------------------


def u_with_rounding(lo_u=30, hi_u=2000, b=30):
    """Distinct-value counts U where int(k * (U / B)) != (k * U) // B for some k."""
    u = np.arange(lo_u, hi_u)
    floor = (np.arange(b)[None, :] * u[:, None]) // b
    return u[np.any(python_positions(u, b) != floor, axis=1)]


def layer_with_u_distinct(u_count, n=600, d=4, seed=0, lo=-1.0, hi=1.0):
    """An (n, d) layer with exactly ``u_count`` distinct values in [lo, hi] (ties)."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(lo, hi, u_count).astype(F32)
    pool = np.concatenate([levels, rng.choice(levels, n * d - u_count)])
    return rng.permutation(pool).reshape(n, d)


def adaptive_cases(seed=0):
    rng = np.random.default_rng(seed)
    special = u_with_rounding()
    return [
        ("random", np.tanh(rng.normal(size=(500, 5))).astype(F32)),
        ("saturated", np.tanh(12 * rng.normal(size=(600, 5))).astype(F32)),
        ("relu", np.maximum(rng.normal(size=(500, 4)), 0).astype(F32)),
        ("duplicates", np.round(np.tanh(rng.normal(size=(600, 4))), 1).astype(F32)),
        ("few_levels", layer_with_u_distinct(7)),
        ("u_rounding_a", layer_with_u_distinct(int(special[0]))),
        ("u_rounding_b", layer_with_u_distinct(int(special[-1]))),
        ("constant", np.full((100, 3), 0.5, F32)),
    ]


@pytest.mark.parametrize("lower", [None, 0.0, -1.0])
@pytest.mark.parametrize("n_bins", [30, 8])
def test_chelombiev_matches_reference_exactly(lower, n_bins):
    est = AdaptiveBinning(n_bins=n_bins, lower=lower, convention="chelombiev")
    for name, t in adaptive_cases():
        want = rc.chelombiev_states(t, n_bins, lower)
        if lower is None and rc.chelombiev_edges(t, n_bins) is not None:
            want = want - 1  # digitize >= 1 here (edge 0 is the minimum); infoplane from 0
        got = np.asarray(jax.jit(est.bin_indices)(jnp.asarray(t)))
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert got.max() <= n_bins
        if name.startswith(("u_rounding", "saturated")):
            assert_same_information(est, t, want)


def test_chelombiev_float_positions_matter():
    """At a U where float64 rounding moves an edge, the reference with (k * U) // B positions
    gives other states -- so the exact test above can fail."""
    u = int(u_with_rounding()[0])
    t = layer_with_u_distinct(u)
    levels = np.unique(t)
    edges_floor = [levels[(k * u) // 30] for k in range(30)] + [levels[-1]]
    floor_states = np.digitize(t, np.array(edges_floor, F32)) - 1
    got = np.asarray(AdaptiveBinning(convention="chelombiev").bin_indices(jnp.asarray(t)))
    assert not np.array_equal(got, floor_states)
    np.testing.assert_array_equal(got, rc.chelombiev_states(t) - 1)


def test_chelombiev_maximum_is_its_own_state_and_default_merges_it():
    t = layer_with_u_distinct(300, seed=1)
    t_max = t == t.max()
    ch = np.asarray(AdaptiveBinning(convention="chelombiev").bin_indices(jnp.asarray(t)))
    de = np.asarray(AdaptiveBinning().bin_indices(jnp.asarray(t)))
    assert np.all(ch[t_max] == 30) and np.all(ch[~t_max] < 30)
    assert np.all(de[t_max] == 29) and np.any(de[~t_max] == 29)


# ---- analytic ground truth -------------------------------------------------------------------


def test_known_entropy_with_the_top_state():
    """Probabilities 1/2, 1/4, 1/8, 1/8 over states that exist only when 1.0 is a state of its
    own: H = 1.75 bits with "idnns" / "chelombiev"; merged (1/2, 1/4, 1/4): 1.5 bits."""
    n = 800
    t = np.concatenate([np.full(400, -0.9), np.full(200, 0.5), np.full(100, 0.95),
                        np.full(100, 1.0)]).astype(F32)[:, None]
    x = np.arange(n)[:, None]
    y = np.r_[np.zeros(600, int), np.ones(200, int)]
    h_y = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    for est, h in [(Binning(convention="idnns"), 1.75), (Binning(), 1.5),
                   (AdaptiveBinning(n_bins=3, convention="chelombiev"), 1.75),
                   (AdaptiveBinning(n_bins=3), 1.5)]:
        got = infoplane.estimate(est, x, t, y)
        assert float(got.i_xt) == pytest.approx(h, abs=1e-6), est
        assert float(got.i_ty) == pytest.approx(h_y, abs=1e-6), est


def test_saturated_tanh_layer_differs_between_conventions():
    """The size of the convention effect on a saturated float32 tanh layer (README table)."""
    rng = np.random.default_rng(0)
    x = ((np.arange(4096)[:, None] >> np.arange(12)) & 1).astype(F32)
    t = np.tanh((2 * x - 1) @ (8 * rng.normal(size=(12, 3))).astype(F32)).astype(F32)
    y = rng.integers(0, 2, 4096)
    assert np.mean(t == 1.0) > 0.2
    a = infoplane.estimate(Binning(), x, t, y).i_xt
    b = infoplane.estimate(Binning(convention="idnns"), x, t, y).i_xt
    assert float(b) - float(a) > 0.5
    c = infoplane.estimate(AdaptiveBinning(), x, t, y).i_xt
    d = infoplane.estimate(AdaptiveBinning(convention="chelombiev"), x, t, y).i_xt
    assert float(d) - float(c) > 0.2


# ---- fixed-noise KDE -------------------------------------------------------------------------


def test_fixed_noise_kde_matches_reference_and_is_deterministic():
    rng = np.random.default_rng(0)
    t = np.tanh(3 * rng.normal(size=(300, 4))).astype(F32)
    x, y = probe(300)
    est = KDE(sigma2=0.01, input_noise=0.01, abs_values=True, noise_seed=3)
    got = infoplane.estimate(est, x, t, y)
    want = ref.kde_mi(rc.fixed_noise(t, 0.01, 3, True), y, 0.01)
    assert float(got.i_xt) == pytest.approx(want["i_xt_upper"], abs=TOL)
    assert float(got.i_ty) == pytest.approx(want["i_ty_upper"], abs=TOL)
    again = infoplane.estimate(est, x, t, y)
    assert float(again.i_xt) == float(got.i_xt)
    other = infoplane.estimate(KDE(sigma2=0.01, input_noise=0.01, abs_values=True,
                                   noise_seed=4), x, t, y)
    assert float(other.i_xt) != float(got.i_xt)
    meta = got.metadata()
    assert (meta["input_noise"], meta["abs_values"], meta["noise_seed"]) == (0.01, True, 3)
    plain = infoplane.estimate(KDE(sigma2=0.01, abs_values=True), x, t, y)
    assert float(plain.i_xt) == pytest.approx(ref.kde_mi(np.abs(t), y, 0.01)["i_xt_upper"],
                                              abs=TOL)


# ---- specs, validation, jit/vmap -------------------------------------------------------------


@pytest.mark.parametrize(("spec", "est"), [
    ("binning(convention=idnns)", Binning(convention="idnns")),
    ("binning(convention=idnns, wrap_below=true)", Binning(convention="idnns", wrap_below=True)),
    ("binning(range=data, convention=idnns)", Binning(range="data", convention="idnns")),
    ("adaptive_binning(convention=chelombiev)", AdaptiveBinning(convention="chelombiev")),
    ("adaptive_binning(convention=chelombiev, lower=0)",
     AdaptiveBinning(convention="chelombiev", lower=0.0)),
    ("kde(input_noise=0.01, abs_values=true)", KDE(input_noise=0.01, abs_values=True)),
])
def test_specs_round_trip(spec, est):
    assert from_spec(spec) == est
    assert from_spec(to_spec(est)) == est and from_spec(to_spec(est)).params() == est.params()
    assert to_spec(Binning()) == "binning" and to_spec(AdaptiveBinning()) == "adaptive_binning"


@pytest.mark.parametrize(("make", "needles"), [
    (lambda: Binning(convention="original"), ["'clip', 'idnns'", "original"]),
    (lambda: Binning(wrap_below=True), ["convention='idnns'", "wrap_below"]),
    (lambda: Binning(convention="idnns", wrap_below="yes"), ["True or False"]),
    (lambda: Binning(range="data", convention="idnns", wrap_below=True), ["range='data'"]),
    (lambda: Binning(width=0.07, convention="idnns"), ["width", "Drop convention"]),
    (lambda: Binning(range=(1.0, 1.0 + 1e-9)), ["distinct in float32"]),
    (lambda: AdaptiveBinning(convention="authors"), ["'floor', 'chelombiev'"]),
    (lambda: AdaptiveBinning(convention="chelombiev", per_neuron=True), ["per_neuron=False"]),
    (lambda: AdaptiveBinning(convention="chelombiev", n_bins=2000), ["n_bins <= 1024"]),
    (lambda: KDE(input_noise=-0.01), ["input_noise", "0.01"]),
    (lambda: KDE(abs_values=1), ["abs_values"]),
])
def test_bad_convention_parameters_say_how_to_fix(make, needles):
    with pytest.raises(ValueError) as info:
        make()
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize("est", [
    Binning(convention="idnns", wrap_below=True), Binning(range="data", convention="idnns"),
    Binning(n_bins=300), AdaptiveBinning(convention="chelombiev"),
    AdaptiveBinning(convention="chelombiev", lower=-1.0),
    KDE(sigma2=0.05, input_noise=0.01, abs_values=True)], ids=repr)
def test_vmap_over_epochs_equals_loop_without_recompiling(est):
    rng = np.random.default_rng(1)
    n, d = 256, 3
    x, y = probe(n, n_classes=3)
    ts = np.tanh(rng.normal(size=(4, n, d)) * np.array([0.5, 2, 8, 20])[:, None, None])
    ts = ts.astype(F32)
    batched = infoplane.estimate_epochs(est, x, ts, y)
    infoplane.estimate(est, x, ts[0], y)
    before = _api._layer._cache_size()
    for e in range(4):
        single = infoplane.estimate(est, x, ts[e], y)
        np.testing.assert_allclose(float(batched.i_xt[e]), float(single.i_xt), atol=1e-6)
        np.testing.assert_allclose(float(batched.i_ty[e]), float(single.i_ty), atol=1e-6)
    assert _api._layer._cache_size() == before


def test_adaptive_keeps_subnormals_apart_from_zero():
    """Distinct values are counted like np.unique: -1e-45, +-0.0 (one value) and 1e-45 are three
    levels (a float ``x == 0`` fold would merge them under XLA:CPU's flush-to-zero)."""
    from infoplane.estimators._numerics import ordered_key

    x = jnp.array([-1.0, -1e-45, -0.0, 0.0, 1e-45, 1.0], jnp.float32)
    keys = np.asarray(ordered_key(x))
    assert keys[2] == keys[3]
    assert len(np.unique(keys)) == 5 == len(np.unique(np.asarray(x)))
    assert np.all(np.diff(keys[[0, 1, 3, 4, 5]].astype(np.int64)) > 0)
    t = jnp.tile(x[:, None], (1, 2))
    b = np.asarray(AdaptiveBinning(n_bins=5).bin_indices(t))[:, 0]
    assert len(np.unique(b)) == 5 and b[2] == b[3]
