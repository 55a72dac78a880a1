"""Which sanity checks hold for which estimator, and the ceilings of its estimates.

Shannon estimators (binning, adaptive_binning, kde, compressed): along a deterministic chain
``X -> T1 -> T2`` the data-processing inequality (DPI) holds, and on the probe set
``0 <= I(X;T) <= H(X)``, ``0 <= I(T;Y) <= H(Y)`` (the empirical entropies,
`infoplane.report.diagnostics.ceilings`); an estimator on a subsample of n probe samples
(params key ``subsample``) sees at most ``log2 n`` bits of I(X;T) (`i_xt_ceiling`).

Not Shannon (`NOT_SHANNON`, the reason in `NOT_SHANNON_WHY`); neither gets a DPI check:

* ``dsmi`` (Liao et al.'s DSMI) is a difference of diffusion spectral entropies: no DPI and
  no known range, so no ceiling is checked or drawn (`NO_CEILING`).
* ``matrix_renyi`` (Giraldo et al.'s matrix-based Rényi α-MI, ``I_α(A;B) = S_α(A) + S_α(B) -
  S_α(A∘B)``) is a functional of Gram matrices, not of distributions: no data-processing
  inequality is proven for it (its value also depends on the kernel width), so the DPI is not
  checked. Its range is known: ``S_α(A∘B) >= max(S_α(A), S_α(B))`` gives ``0 <= I_α <=
  min(S_α(A), S_α(B)) <= log2 n`` for every α (n the samples it sees: its subsample, else the
  probe). For α >= 1 also ``S_α(A_X) <= H(X)``: A_X is the density matrix of a mixture of the
  distinct inputs' (unit-norm) feature vectors with weights p_X, whose eigenvalues majorise
  p_X, so ``S_α(A_X) <= H_α(p_X)`` (Rényi entropy is Schur-concave) ``<= H(p_X)`` (it is
  non-increasing in α); likewise ``S_α(A_Y) <= H(Y)``. For α < 1, ``H_α(p) > H(p)`` and the
  ceilings H(X), H(Y) do not hold (a probe with repeated inputs shows it); log2 n does.

`ceilings_of` applies these rules to one curve; the checks (`infoplane.report.checks`), the
figures, the dashboard tensors and ``infoplane run`` / ``plot`` all use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

__all__ = ["NOT_SHANNON", "NOT_SHANNON_WHY", "NO_CEILING", "RENYI", "ceilings_of",
           "i_xt_ceiling", "is_shannon", "read_params", "row_ceilings", "sample_size"]

#: Estimators whose values are not Shannon information, and why the DPI is not checked.
NOT_SHANNON_WHY = {
    "dsmi": "a difference of diffusion spectral entropies, not a Shannon quantity",
    "matrix_renyi": "matrix-based Renyi alpha-MI, not a Shannon quantity: the data-processing "
                    "inequality is not guaranteed for it",
}
#: Estimator names whose values are not Shannon information: no DPI check.
NOT_SHANNON = frozenset(NOT_SHANNON_WHY)
#: Of those, the ones with no known range: no ceiling (and no range check).
NO_CEILING = frozenset({"dsmi"})
#: The matrix-based Rényi estimators: ceiling log2 n always, H(X) and H(Y) for alpha >= 1.
RENYI = frozenset({"matrix_renyi"})

_LN2 = math.log(2.0)


def is_shannon(estimator: str) -> bool:
    """Whether an estimator's I(X;T), I(T;Y) estimate Shannon mutual information, so that the
    data-processing inequality and the ceilings H(X), H(Y) apply (False for `NOT_SHANNON`)."""
    return estimator not in NOT_SHANNON


def read_params(params) -> dict:
    """An estimator's parameters as a dict: a mapping, or a results row's ``params`` JSON;
    anything unreadable gives {}."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return {}
    return dict(params) if isinstance(params, Mapping) else {}


def _count(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else None


def sample_size(params, n: int | None = None) -> int | None:
    """How many samples an estimator with ``params`` sees on a probe of ``n`` (None: unknown)
    samples: its subsample (params key ``subsample``, at most n), else n."""
    sub, n = _count(read_params(params).get("subsample")), _count(n)
    if sub is None:
        return n
    return sub if n is None else min(sub, n)


def i_xt_ceiling(h_x: float, params, units: str = "bits") -> float:
    """The largest I(X;T) an estimator with ``params`` can report on a probe whose inputs have
    entropy ``h_x`` (in ``units``): min(H(X), log n) when it sees a subsample of n probe
    samples (`infoplane.Subsample`, params key ``subsample``), else H(X).

    ``params``: the estimator's parameters, a mapping or its JSON string (a results row's
    ``params``); anything unreadable leaves ``h_x`` as it is.
    """
    n = _count(read_params(params).get("subsample"))
    if n is None:
        return h_x
    return min(h_x, math.log2(n) * (_LN2 if units == "nats" else 1.0))


def _alpha(params) -> float | None:
    a = read_params(params).get("alpha")
    ok = isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and a > 0
    return float(a) if ok else None


def ceilings_of(estimator: str, params, h_x: float | None, h_y: float | None,
                n: int | None = None, units: str = "bits"
                ) -> dict[str, tuple[float, str]]:
    """The ceilings of one estimator's I(X;T) and I(T;Y) on a probe (module docstring).

    Args:
      estimator, params: the curve (``params`` a mapping or the rows' JSON).
      h_x, h_y: H(X), H(Y) of the probe in ``units`` (None: unknown).
      n: the probe's sample count (None: unknown; a subsample's size is read from params).
      units: "bits" or "nats", of h_x, h_y and of the result.

    Returns ``{"i_xt": (value, name), "i_ty": (value, name)}`` with the keys that have a
    ceiling; name is "H(X)", "H(Y)" or "log2 <n>". Shannon estimators: H(X) (capped at log2
    of a subsample's size) and H(Y). ``matrix_renyi``: log2 n of the samples it sees, and
    for alpha >= 1 (params ``alpha``; unknown alpha counts as < 1) the lower of that and
    H(X) / H(Y). ``dsmi`` (`NO_CEILING`): none.
    """
    if estimator in NO_CEILING:
        return {}
    scale = _LN2 if units == "nats" else 1.0
    out: dict[str, tuple[float, str]] = {}
    if estimator in RENYI:
        seen = sample_size(params, n)
        alpha = _alpha(params)
        entropy = alpha is not None and alpha >= 1.0
        for q, h, name in (("i_xt", h_x, "H(X)"), ("i_ty", h_y, "H(Y)")):
            cands = [] if seen is None else [(math.log2(seen) * scale, f"log2 {seen}")]
            if entropy and h is not None:
                cands.append((float(h), name))
            if cands:
                out[q] = min(cands, key=lambda c: c[0])
        return out
    if h_x is not None:
        sub = _count(read_params(params).get("subsample"))
        capped = i_xt_ceiling(float(h_x), params, units)
        out["i_xt"] = (capped, f"log2 {sub}" if capped < float(h_x) else "H(X)")
    if h_y is not None:
        out["i_ty"] = (float(h_y), "H(Y)")
    return out


def row_ceilings(top: dict, estimator: str, params: str, units: str, cache: dict) -> dict:
    """`ceilings_of` one results row, from a split's {"i_xt": H(X), "i_ty": H(Y), "n": N} in
    bits (``cache``: a dict kept across the rows of one table)."""
    key = (estimator, params, units, id(top))
    if key not in cache:
        scale = math.log(2.0) if units == "nats" else 1.0
        h = {q: None if top.get(q) is None else float(top[q]) * scale for q in ("i_xt", "i_ty")}
        cache[key] = ceilings_of(estimator, params, h["i_xt"], h["i_ty"], top.get("n"), units)
    return cache[key]
