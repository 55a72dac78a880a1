"""Self-test: every estimator against analytic ground truth, in well under a minute on a CPU.

``run_selftest()`` runs `CHECKS` -- small, fixed-seed probe sets whose information quantities
are known in closed form -- through every registered estimator (`infoplane.estimators.NAMES`:
binning, adaptive_binning, kde, compressed, dsmi, matrix_renyi) and the functional building
blocks
(`knn_entropy`, `ksg_mi`, `dse`), prints one table row per check as it finishes and returns
the results. The ``infoplane selftest`` command calls it and exits 1 if any check fails.

Ground truths (units as stated in each row; bits unless the row says nats):

* Discrete layer (binning, adaptive_binning, kde): 4096 distinct 12-bit inputs; the layer takes
  16 equiprobable states (a 4 x 4 grid of values {-0.9, -0.3, 0.3, 0.9} in 2 units, every value
  in its own bin). I(X;T) = H(T) = log2 16 = 4 bits exactly; with Y = [state < 4],
  I(T;Y) = H(Y) = h(1/4) = 0.8113 bits; with Y balanced inside every state, I(T;Y) = 0. For KDE
  (noise variance 1e-3, states 0.6 apart plus 1e-5 jitter) the pairwise-distance bound equals
  the same discrete values up to exp(-180) terms.
* kNN entropy of Gaussians: H = 0.5 log((2 pi e)^d |Sigma|) nats, d = 1, 2 (N = 4000;
  tolerance 0.05 nats as in tests/test_knn.py).
* KSG on a correlated Gaussian pair: I = -0.5 log(1 - rho^2) nats (N = 4000; tolerance 0.1
  nats as in tests/test_knn.py).
* Compressed: I(T;Y) = H(Y) for well-separated classes (tolerance 0.05 nats, as in
  tests/test_compressed.py), and I(X;T) of a Gaussian pair embedded linearly in 32 dimensions
  (I = 1 nat; tolerance 0.3 nats, as there).
* DSE: far-apart points have DSE = log2 N, identical points 0. DSMI (the `dsmi` estimator):
  tight blobs far apart relative to sigma give DSMI(T; clusters of X) = log2 4 = 2 and, with a
  label that merges blobs in pairs, DSMI(T; Y) = H(Y) = 1 (tolerance 0.05 bits, as in
  tests/test_spectral.py). DSMI is not Shannon MI; these are its own closed forms.
* Matrix-based Rényi (`matrix_renyi`, alpha = 1.01, sigma = sigma_x = 1): 4 equal blobs of 16
  points at the corners 10 e_k (1.4e1 apart: kernel exp(-100) between blobs), 1e-3 spread
  (kernel 1 - O(1e-5) within), in X (6-d) and T (5-d) with the same blobs. A_T is then
  block-diagonal with 4 blocks J / 64, eigenvalues 1/4 (x4) and 0: S_alpha(T) = log2 4 = 2
  for every alpha, A_X o A_T has the same blocks, so I_alpha(X;T) = 2 + 2 - 2 = 2 bits; Y
  merging the blobs in pairs has S_alpha(Y) = 1 and T o Y = T, so I_alpha(T;Y) = 1 bit;
  identical points in T give A_T = J / n, S(T) = 0, I_alpha(X;T) = 0. Tolerance 1e-3 bits
  (measured: < 1e-4; the 1e-3 spread adds ~1e-4 to S_alpha(T)).

Every check is deterministic (fixed seeds) and can fail: a value outside
``expected +- tolerance`` (or NaN) fails it, and an exception inside a check is caught and
reported as a failed row carrying the error message; the other checks still run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import numpy as np

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "estimator_names",
    "format_row",
    "format_table",
    "run_check",
    "run_selftest",
]


@dataclasses.dataclass(frozen=True)
class Check:
    """One analytic ground-truth check.

    Fields:
      name: short description of the case, e.g. "16 equiprobable states".
      estimator: what is tested: a registered estimator name ("binning", ...) or a function
        ("knn_entropy", "ksg_mi", "dse"); ``run_selftest(only=...)`` filters on it.
      quantity: the quantity compared, e.g. "I(X;T)", "I(T;Y)", "H", "MI", "DSE", "DSMI(T;Y)".
      expected: the analytic value, in ``units``.
      tolerance: the largest accepted ``|got - expected|``, in ``units``.
      units: "bits" or "nats".
      run: computes the estimate (a float in ``units``); may raise.
    """

    name: str
    estimator: str
    quantity: str
    expected: float
    tolerance: float
    units: str
    run: Callable[[], float] = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one `Check`: its descriptive fields plus the measured value.

    ``got`` is the estimate in ``units`` (NaN when the check raised), ``passed`` is
    ``|got - expected| <= tolerance``, ``seconds`` the wall time of the check (jit compilation
    included) and ``error`` the exception as ``"Type: message"`` or None.
    """

    name: str
    estimator: str
    quantity: str
    expected: float
    tolerance: float
    units: str
    got: float
    passed: bool
    seconds: float
    error: str | None = None

    @property
    def abs_error(self) -> float:
        """``|got - expected|`` in ``units`` (NaN when the check raised or returned NaN)."""
        return abs(self.got - self.expected)


# ---- probe sets (cached: NumPy only, deterministic) --------------------------------------------

N_DISCRETE = 4096
LEVELS = (-0.9, -0.3, 0.3, 0.9)  # 0.6 apart: distinct bins for Binning() and AdaptiveBinning()
H_QUARTER = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))  # h(1/4) = 0.8113 bits


@functools.cache
def _discrete_case():
    """(x, t, y_fn, y_indep): 4096 distinct 12-bit inputs, a 2-unit layer with 16 equiprobable
    states s = i mod 16 on a grid of `LEVELS`, Y = [s < 4] (a function of T, H(Y) = h(1/4)) and
    Y' = floor(i / 16) mod 2 (exactly balanced within every state: I(T;Y') = 0)."""
    i = np.arange(N_DISCRETE)
    x = ((i[:, None] >> np.arange(12)) & 1).astype(np.float32)
    s = i % 16
    lv = np.asarray(LEVELS, np.float32)
    t = np.stack([lv[s % 4], lv[s // 4]], axis=1).astype(np.float32)
    y_fn = (s < 4).astype(np.int32)
    y_indep = ((i // 16) % 2).astype(np.int32)
    return x, t, y_fn, y_indep


@functools.cache
def _gaussian(d: int, n: int = 4000, seed: int = 0):
    """(z, cov): n samples of a zero-mean Gaussian in d dimensions with a fixed covariance."""
    cov = np.array([[9.0]]) if d == 1 else np.array([[2.0, 0.8], [0.8, 1.0]])
    rng = np.random.default_rng(seed + d)
    z = rng.normal(size=(n, d)) @ np.linalg.cholesky(cov).T
    return z.astype(np.float32), cov


def _gaussian_entropy_nats(cov) -> float:
    d = cov.shape[0]
    return 0.5 * (d * math.log(2 * math.pi * math.e) + float(np.linalg.slogdet(cov)[1]))


RHO = 0.8
KSG_MI_NATS = -0.5 * math.log(1 - RHO * RHO)  # 0.5108 nats


@functools.cache
def _gaussian_pair(n: int = 4000, seed: int = 1):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 1))
    b = RHO * a + math.sqrt(1 - RHO * RHO) * rng.normal(size=(n, 1))
    return a.astype(np.float32), b.astype(np.float32)


@functools.cache
def _separated_classes(n: int = 3000, seed: int = 3):
    """Compressed I(T;Y) case of tests/test_compressed.py: 3 classes, 2-d unit blobs 40+ apart.
    Returns (x, t, y, H(Y) in nats of the empirical label frequencies)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = (rng.normal(size=(n, 2)) + 40.0 * np.eye(2)[y % 2] * (1 + y[:, None])).astype(
        np.float32)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    p = np.bincount(y) / n
    return x, t, y, float(-np.sum(p * np.log(p)))


COMPRESSED_MI_NATS = 1.0


@functools.cache
def _embedded_pair(n: int = 4000, d: int = 4, out: int = 32, seed: int = 1):
    """A Gaussian pair (a, b) with I = 1 nat (d independent component pairs), embedded linearly
    and injectively in ``out`` dimensions: x = a W1, t = b W2. PCA to d = 4 components recovers
    a and b up to invertible maps, so I(X';T') = 1 nat. Returns (x, t, y) with y = [b_0 > 0].
    Measured over seeds 0-5: 0.85-1.06 nats (the 8-d BSY joint entropy's spread), inside the
    0.3-nat tolerance of tests/test_compressed.py; seed 1 (the default) gives ~1.06."""
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * COMPRESSED_MI_NATS / d))
    a = rng.normal(size=(n, d))
    b = rho * a + math.sqrt(1.0 - rho * rho) * rng.normal(size=(n, d))
    x = (a @ rng.normal(size=(d, out))).astype(np.float32)
    t = (b @ rng.normal(size=(d, out))).astype(np.float32)
    return x, t, (b[:, 0] > 0).astype(np.int32)


@functools.cache
def _blobs(n: int = 400, seed: int = 0):
    """DSMI case: 4 equal blobs, tight (0.01) and ~100 apart relative to sigma = 1, in both X
    (6-d) and T (5-d); Y merges the blobs in pairs. Within a blob the kernel has rank ~1, so
    DSE(T|cluster) = 0, DSE(T|Y) = log2 2 = 1, and every random subset spans all 4 blobs
    (DSE = log2 4 = 2): DSMI(T; clusters) = 2 bits, DSMI(T; Y) = 1 bit = H(Y)."""
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(4), n // 4)
    x = (100.0 * rng.normal(size=(4, 6))[blob] + 0.01 * rng.normal(size=(n, 6)))
    t = (100.0 * rng.normal(size=(4, 5))[blob] + 0.01 * rng.normal(size=(n, 5)))
    return x.astype(np.float32), t.astype(np.float32), (blob // 2).astype(np.int32)


@functools.cache
def _renyi_blobs(n: int = 64, seed: int = 0):
    """Matrix-Rényi case (module docstring): (x (n, 6), t (n, 5), y (n,)) of 4 equal blobs at
    10 e_k with spread 1e-3, the same blobs in X and T; y merges them in pairs."""
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(4), n // 4)
    x = 10.0 * np.eye(6)[blob] + 1e-3 * rng.normal(size=(n, 6))
    t = 10.0 * np.eye(5)[blob] + 1e-3 * rng.normal(size=(n, 5))
    return x.astype(np.float32), t.astype(np.float32), (blob // 2).astype(np.int32)


# ---- runners (looked up at call time, so a patched estimator is what gets tested) --------------


def _plane(estimator: str, field: str, labels: str, params: dict | None = None):
    """A runner: `infoplane.estimate` of the registered ``estimator`` on the discrete case with
    labels "fn" (Y = [state < 4]) or "indep" (Y balanced within states); returns ``field``."""

    def run() -> float:
        from infoplane.estimators import by_name
        from infoplane.estimators.apply import estimate

        x, t, y_fn, y_indep = _discrete_case()
        y = y_fn if labels == "fn" else y_indep
        est = estimate(by_name(estimator, **(params or {})), x, t, y)
        return float(getattr(est, field))

    return run


def _knn_entropy(d: int):
    def run() -> float:
        from infoplane.estimators import knn_entropy

        z, _ = _gaussian(d)
        return float(knn_entropy(z, units="nats"))

    return run


def _ksg() -> float:
    from infoplane.estimators import ksg_mi

    a, b = _gaussian_pair()
    return float(ksg_mi(a, b, units="nats"))


def _compressed_ty() -> float:
    from infoplane.estimators import Compressed
    from infoplane.estimators.apply import estimate

    x, t, y, _ = _separated_classes()
    return float(estimate(Compressed(x_compressor="pca", units="nats"), x, t, y).i_ty)


def _compressed_xt() -> float:
    from infoplane.estimators import Compressed
    from infoplane.estimators.apply import estimate

    x, t, y = _embedded_pair()
    est = Compressed(x_compressor="pca", noise="absolute", units="nats")
    return float(estimate(est, x, t, y).i_xt)


def _dsmi(field: str):
    def run() -> float:
        from infoplane.estimators import DiffusionSpectral
        from infoplane.estimators.apply import estimate

        x, t, y = _blobs()
        est = DiffusionSpectral(sigma=1.0, clusters=4)
        return float(getattr(estimate(est, x, t, y), field))

    return run


def _renyi(field: str, identical: bool = False):
    """A runner: `MatrixRenyi` (sigma = sigma_x = 1, one compiled shape for every check) on
    `_renyi_blobs`; ``field`` "i_xt", "i_ty" or an aux name; ``identical``: every T the same."""

    def run() -> float:
        from infoplane.estimators import by_name
        from infoplane.estimators.apply import estimate

        x, t, y = _renyi_blobs()
        if identical:
            t = np.full_like(t, 2.5)
        est = estimate(by_name("matrix_renyi", sigma=1.0, sigma_x=1.0), x, t, y)
        return float(est.aux[field] if field in est.aux else getattr(est, field))

    return run


def _dse_far_apart() -> float:
    from infoplane.estimators import dse

    z = np.arange(64, dtype=np.float32)[:, None] * 100.0  # kernel = identity in float32
    return float(dse(z, 1.0))


def _dse_identical() -> float:
    from infoplane.estimators import dse

    return float(dse(np.full((64, 3), 2.5, np.float32), 1.0))


def _discrete_checks(estimator: str, tol: float, params: dict | None = None,
                     prefix: str = "") -> tuple[Check, ...]:
    return (
        Check(f"{prefix}16 equiprobable states", estimator, "I(X;T)", 4.0, tol, "bits",
              _plane(estimator, "i_xt", "fn", params)),
        Check(f"{prefix}Y = [state < 4], I = h(1/4)", estimator, "I(T;Y)", H_QUARTER, tol,
              "bits", _plane(estimator, "i_ty", "fn", params)),
        Check(f"{prefix}Y balanced within states", estimator, "I(T;Y)", 0.0, tol, "bits",
              _plane(estimator, "i_ty", "indep", params)),
    )


def _default_checks() -> tuple[Check, ...]:
    _, cov1 = _gaussian(1)
    _, cov2 = _gaussian(2)
    h_y_sep = _separated_classes()[3]
    return (
        *_discrete_checks("binning", 1e-5),
        *_discrete_checks("adaptive_binning", 1e-5),
        *_discrete_checks("kde", 1e-4, {"sigma2": 1e-3}, prefix="s2=1e-3: "),
        Check("Gaussian d=1, var 9", "knn_entropy", "H", _gaussian_entropy_nats(cov1), 0.05,
              "nats", _knn_entropy(1)),
        Check("Gaussian d=2, correlated", "knn_entropy", "H", _gaussian_entropy_nats(cov2),
              0.05, "nats", _knn_entropy(2)),
        Check(f"Gaussian pair 1+1, rho={RHO}", "ksg_mi", "MI", KSG_MI_NATS, 0.1, "nats",
              _ksg),
        Check("separated classes, I = H(Y)", "compressed", "I(T;Y)", h_y_sep, 0.05, "nats",
              _compressed_ty),
        Check("Gaussian pair 4+4 in 32-d, I = 1 nat", "compressed", "I(X;T)",
              COMPRESSED_MI_NATS, 0.3, "nats", _compressed_xt),
        Check("4 far blobs, clusters of X", "dsmi", "DSMI(T;X)", 2.0, 0.05, "bits",
              _dsmi("i_xt")),
        Check("4 far blobs, Y pairs them, H(Y)=1", "dsmi", "DSMI(T;Y)", 1.0, 0.05, "bits",
              _dsmi("i_ty")),
        Check("4 far blobs in X and T, log2 4", "matrix_renyi", "I_a(X;T)", 2.0, 1e-3, "bits",
              _renyi("i_xt")),
        Check("4 far blobs, Y pairs them, H(Y)=1", "matrix_renyi", "I_a(T;Y)", 1.0, 1e-3,
              "bits", _renyi("i_ty")),
        Check("4 far blobs, A_T eigenvalues 1/4", "matrix_renyi", "S_a(T)", 2.0, 1e-3, "bits",
              _renyi("s_t")),
        Check("identical points in T", "matrix_renyi", "I_a(X;T)", 0.0, 1e-3, "bits",
              _renyi("i_xt", identical=True)),
        Check("64 far-apart points, log2 64", "dse", "DSE", 6.0, 1e-4, "bits",
              _dse_far_apart),
        Check("64 identical points", "dse", "DSE", 0.0, 1e-4, "bits", _dse_identical),
    )


#: The default checks, in the order they run.
CHECKS: tuple[Check, ...] = _default_checks()


# ---- running and reporting ----------------------------------------------------------------------


def estimator_names(checks: Sequence[Check] = CHECKS) -> tuple[str, ...]:
    """The distinct ``estimator`` names of ``checks``, in order of first appearance."""
    return tuple(dict.fromkeys(c.estimator for c in checks))


def run_check(check: Check) -> CheckResult:
    """Run one check; an exception is caught and returned as a failed result with its message."""
    start = time.perf_counter()
    error = None
    try:
        got = float(check.run())
    except Exception as e:  # reported in the table; the other checks go on
        got, error = math.nan, f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    passed = error is None and abs(got - check.expected) <= check.tolerance
    return CheckResult(
        name=check.name,
        estimator=check.estimator,
        quantity=check.quantity,
        expected=float(check.expected),
        tolerance=float(check.tolerance),
        units=check.units,
        got=got,
        passed=bool(passed),
        seconds=seconds,
        error=error,
    )


_COLUMNS = (("status", 4), ("estimator", 16), ("quantity", 9), ("check", 38), ("expected", 9),
            ("got", 9), ("|error|", 8), ("tol", 7), ("units", 5), ("time", 6))


def _header() -> str:
    head = " ".join(f"{name:<{w}}" for name, w in _COLUMNS)
    return head + "\n" + "-" * len(head)


def format_row(r: CheckResult) -> str:
    """One table row: status, estimator, quantity, check, expected, got, |error|, tolerance,
    units, seconds; a failed check with an exception has its message appended."""
    cells = (
        "ok" if r.passed else "FAIL",
        r.estimator,
        r.quantity,
        r.name[:38],
        f"{r.expected:.4f}",
        f"{r.got:.4f}",
        f"{r.abs_error:.1e}",
        f"{r.tolerance:.0e}",
        r.units,
        f"{r.seconds:.1f}s",
    )
    row = " ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, _COLUMNS, strict=True)).rstrip()
    if r.error is not None:
        row += f"  [{r.error}]"
    return row


def _summary(results: Sequence[CheckResult], seconds: float) -> str:
    n_ok = sum(r.passed for r in results)
    return f"{n_ok}/{len(results)} checks passed in {seconds:.1f} s"


def format_table(results: Sequence[CheckResult]) -> str:
    """The results as a text table (header, one row per check), without the summary line."""
    return "\n".join([_header(), *(format_row(r) for r in results)])


def run_selftest(out: TextIO | None = sys.stdout, *, checks: Sequence[Check] = CHECKS,
                 only: Sequence[str] | None = None) -> list[CheckResult]:
    """Run the ground-truth checks, printing the table to ``out`` as they finish.

    Prints a header, one row per check as soon as it finishes (flushed), then the summary line
    "N/M checks passed in X s". ``only``: estimator names to keep (e.g. ``["binning", "dse"]``);
    an unknown name raises ValueError listing the valid ones. ``out=None`` prints nothing.
    Returns the `CheckResult` list; all passed iff ``all(r.passed for r in results)``.
    """
    if only is not None:
        if isinstance(only, str):
            only = [only]
        valid = estimator_names(checks)
        unknown = [name for name in only if name not in valid]
        if unknown:
            raise ValueError(
                f"Unknown estimator name(s) {', '.join(map(repr, unknown))} for the self-test. "
                f"Valid names: {', '.join(valid)}."
            )
        checks = [c for c in checks if c.estimator in set(only)]

    def emit(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    start = time.perf_counter()
    emit(_header())
    results = []
    for check in checks:
        r = run_check(check)
        results.append(r)
        emit(format_row(r))
    emit(_summary(results, time.perf_counter() - start))
    return results
