"""Input checks of the array API (`infoplane.estimate`, `estimate_epochs`, `prepare`): every
message says what was wrong and how to fix it."""

from __future__ import annotations

import math

import jax
import numpy as np

from infoplane.estimators._base import Estimator


def _shape(a) -> tuple:
    return tuple(np.shape(a))


def check_estimator(estimator) -> None:
    if isinstance(estimator, type) or not isinstance(estimator, Estimator):
        raise TypeError(
            f"Expected an estimator such as infoplane.estimators.Binning(), got "
            f"{type(estimator).__name__}. If you passed a class, instantiate it: Binning()."
        )


def check_labels(y, n: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(
            f"Labels y must be a 1-D array of integer class ids, got shape {y.shape}. "
            "If y is one-hot, pass y.argmax(axis=1)."
        )
    if y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"Labels y must be a 1-D array of shape (N,), got shape {y.shape}.")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise TypeError(
            f"Labels y must be integers (class ids), got dtype {y.dtype}. If they are class ids "
            "stored as floats, pass y.astype(int); continuous targets are not supported."
        )
    if n is not None and y.shape[0] != n:
        raise ValueError(
            f"N mismatch: activations have {n} samples but y has {y.shape[0]}. x, t and y must "
            "describe the same probe samples in the same order."
        )
    return y


def check_inputs(x, n: int) -> np.ndarray:
    """Probe inputs x: (N, ...) real numbers (float, int or bool), at least one feature per
    sample, finite and within float32 (estimators that use X see it as float32)."""
    check_real_array(x, "Inputs x")
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("Inputs x must have a leading samples axis, shape (N, ...); got a scalar.")
    if x.shape[0] != n:
        raise ValueError(
            f"N mismatch: activations have {n} samples but x has {x.shape[0]} "
            f"(x shape {x.shape}). x, t and y must describe the same probe samples."
        )
    if x.size == 0:
        raise ValueError(
            f"Inputs x have no features (shape {x.shape}): every sample would be the same "
            "input. Pass the probe inputs with at least one value per sample."
        )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("Inputs x contain NaN or inf values; clean the probe set first.")
    big = float(np.max(np.abs(x.astype(np.float64))))
    if big > float(np.finfo(np.float32).max):
        raise ValueError(
            f"Inputs x have values up to {big:.3g}, beyond float32 (3.4e38), in which "
            "estimators see X. Rescale the probe inputs."
        )
    return x


def check_activations(t, *, batched: bool) -> tuple[int, ...]:
    """t must be (N, d) (or (E, N, d) when batched), real, finite. Returns its shape."""
    if not hasattr(t, "dtype"):  # a list: what np.asarray makes of it
        try:
            np.asarray(t, dtype=np.float64)
        except (ValueError, TypeError) as e:
            raise TypeError(
                f"Activations t must be an array of numbers, shape (N, d); it could not be "
                f"converted to one ({e})."
            ) from None
    shape = _shape(t)
    want = 3 if batched else 2
    if len(shape) != want:
        what = "(E, N, d): E epochs of one layer" if batched else "(N, d): N samples, d units"
        hint = (
            " Flatten each sample's features first, e.g. t.reshape(N, -1) for a conv feature "
            "map, or t[:, None] for a single unit."
            if not batched else " Stack epochs with jnp.stack(list_of_(N, d)_arrays)."
        )
        raise ValueError(f"Activations t must have shape {what}; got shape {shape}.{hint}")
    arr = np.asarray(t)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"Activations t must be numeric, got dtype {arr.dtype}.")
    n = shape[-2]
    if n < 2:
        raise ValueError(f"Need at least 2 samples to estimate information, got N={n}.")
    if shape[-1] < 1:
        raise ValueError("Activations t have zero units (d=0).")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"Activations t contain {n_nan} NaN and {n_inf} inf values (first at index "
                f"{where}). Training has probably diverged: lower the learning rate or check "
                "the inputs; information cannot be estimated from non-finite activations."
            )
    return shape


# ---- parameter checks of estimators and building blocks -----------------------------------------
#
# Each helper raises a TypeError (wrong kind of value) or a ValueError (right kind, wrong value)
# whose message names the parameter, repeats the value received and says what is allowed.
# ``owner`` prefixes the message (e.g. "Binning"); ``hint`` is appended (e.g. a usual value).

#: Largest seed accepted by the estimators (`jax.random.PRNGKey` and the row hash take 32 bits).
SEED_MAX = 2**31 - 1


def _where(owner: str, name: str) -> str:
    return f"{owner} {name}" if owner else name


def _tail(hint: str) -> str:
    return f" {hint}" if hint else ""


def check_int(value, name: str, *, lo: int | None = None, hi: int | None = None,
              owner: str = "", hint: str = "") -> int:
    """``value`` must be a Python or NumPy integer (not a bool, not a float such as 30.0) with
    ``lo <= value <= hi`` (each bound optional). Returns it as a Python int."""
    what = _where(owner, name)
    rng = (f" >= {lo}" if hi is None else f" in {lo}..{hi}") if lo is not None else (
        f" <= {hi}" if hi is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        fix = ""
        if isinstance(value, (float, np.floating)) and math.isfinite(value) \
                and float(value).is_integer():
            fix = f" Write {int(value)} (without the decimal point)."
        raise TypeError(
            f"{what} must be an integer{rng}, got {value!r} ({type(value).__name__}).{fix}"
            f"{_tail(hint)}"
        )
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{what} must be an integer{rng}, got {v}.{_tail(hint)}")
    return v


def check_seed(value, name: str = "seed", *, owner: str = "") -> int:
    """A random seed: an integer in 0..`SEED_MAX`."""
    return check_int(value, name, lo=0, hi=SEED_MAX, owner=owner)


def check_real(value, name: str, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False, owner: str = "",
               hint: str = "") -> float:
    """``value`` must be a real number (int or float, Python or NumPy; not a bool, a string or
    a complex), finite, and within the bounds (``lo < value`` when ``lo_open``, else
    ``lo <= value``; likewise for ``hi``). Returns it as a Python float."""
    what = _where(owner, name)
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    rng = f" {' and '.join(parts)}" if parts else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"{what} must be a finite real number{rng}, got {value!r} "
            f"({type(value).__name__}).{_tail(hint)}"
        )
    v = float(value)
    bad = (not math.isfinite(v)
           or (lo is not None and (v <= lo if lo_open else v < lo))
           or (hi is not None and (v >= hi if hi_open else v > hi)))
    if bad:
        raise ValueError(f"{what} must be a finite real number{rng}, got {value!r}.{_tail(hint)}")
    return v


def check_flag(value, name: str, *, owner: str = "", none: bool = False) -> None:
    """``value`` must be True or False (a NumPy bool too; None as well when ``none``). Strings
    such as 'yes' and numbers such as 1 are rejected with a ValueError (as the flags of the
    estimators always did): spell the flag True or False."""
    if isinstance(value, (bool, np.bool_)) or (none and value is None):
        return
    allowed = "None, True or False" if none else "True or False"
    raise ValueError(
        f"{_where(owner, name)} must be {allowed}, got {value!r} ({type(value).__name__})."
    )


def check_choice(value, name: str, choices, *, owner: str = "", hint: str = "") -> None:
    """``value`` must be one of ``choices`` (strings, compared exactly)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{_where(owner, name)} must be one of {', '.join(map(repr, choices))}, got "
            f"{value!r}.{_tail(hint)}"
        )


def check_real_array(z, name: str, *, ints: bool = True) -> None:
    """``z`` must hold real numbers: a float, integer or bool array (or a list of them, or a
    JAX array or tracer). Complex, string, object and other dtypes raise a TypeError naming
    ``name``; with ``ints=False`` only floats (and ints/bools, converted) are meant, the same
    dtypes are accepted (the caller converts to float32)."""
    dtype = getattr(z, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(z).dtype
        except (ValueError, TypeError) as e:  # ragged nested lists
            raise TypeError(
                f"{name} must be an array of real numbers; it could not be converted to one "
                f"({e})."
            ) from None
    dtype = np.dtype(dtype)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
            or dtype == np.bool_):
        extra = " Take the real part or the modulus first." if np.issubdtype(
            dtype, np.complexfloating) else ""
        raise TypeError(
            f"{name} must be an array of real numbers (float, int or bool), got dtype "
            f"{dtype}.{extra}"
        )


def check_not_subnormal(z, name: str) -> None:
    """A concrete float array whose nonzero values are all subnormal in float32 (|v| <
    1.2e-38) is flushed to zero on device (XLA), so every sample would coincide: reject it
    and ask for a rescaled array. Tracers and other dtypes pass."""
    if isinstance(z, jax.core.Tracer):
        return
    arr = np.asarray(z)
    if not np.issubdtype(arr.dtype, np.floating) or arr.size == 0:
        return
    m = float(np.max(np.abs(arr.astype(np.float64))))
    if 0 < m < float(np.finfo(np.float32).tiny):
        raise ValueError(
            f"{name} has values no larger than {m:.3g} in magnitude: all subnormal in float32 "
            "(below 1.2e-38), which the device flushes to zero, so every sample would "
            f"coincide. Rescale {name} first (e.g. {name} / abs({name}).max())."
        )


# ---- DSE / DSMI (`infoplane.estimators.spectral`) ----------------------------------------------

#: Smallest kernel width `dse` / `dsmi` accept: below it sigma**2 underflows float32 (the
#: smallest normal float32 is 1.18e-38) and the kernel exp(-D / 2 sigma^2) is undefined (NaN).
#: Any sigma far below the smallest distance between distinct samples already gives the
#: identity kernel (DSE = log N), so no smaller value is ever needed.
DSE_SIGMA_MIN = 1.1e-19

#: Largest kernel width: above it sigma**2 overflows float32 (3.4e38).
DSE_SIGMA_MAX = 1.8e19

#: Largest ``max|z| * sqrt(d)`` of `dse` / `dsmi`: beyond it squared distances (up to
#: 4 d max|z|^2) overflow float32 (3.4e38).
DSE_SCALE_MAX = 4e18


def check_dse_sigma_t(sigma, t) -> None:
    """DSE's kernel width ``sigma`` (a real scalar >= `DSE_SIGMA_MIN`; a traced value is not
    checked) and diffusion time ``t`` (a Python number > 0, finite; static under jit)."""
    hint = ("sigma is in the units of the activations (the reference uses sigma=10); choose "
            "it relative to the typical distance between samples.")
    if isinstance(sigma, (bool, np.bool_)) or (
            not isinstance(sigma, jax.core.Tracer) and not np.isscalar(sigma)
            and np.ndim(sigma) != 0):
        raise TypeError(f"DSE sigma must be a real number > 0, got {sigma!r}. {hint}")
    if not isinstance(sigma, jax.core.Tracer):
        check_real_array(sigma, "DSE sigma")
        if np.asarray(sigma).dtype == np.bool_:
            raise TypeError(f"DSE sigma must be a real number > 0, got {sigma!r}. {hint}")
        s = float(np.asarray(sigma))
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"DSE needs a kernel width sigma > 0, got sigma={sigma!r}. {hint}")
        if s > DSE_SIGMA_MAX:
            raise ValueError(
                f"DSE sigma={s:g} is too large: sigma**2 overflows float32. Any sigma much "
                "larger than the largest distance between samples gives DSE = 0 (one cluster); "
                f"use sigma <= {DSE_SIGMA_MAX:g}, or rescale the data."
            )
        if s < DSE_SIGMA_MIN:
            raise ValueError(
                f"DSE sigma={s:g} is too small: sigma**2 underflows float32 and the kernel "
                f"exp(-D / (2 sigma**2)) is undefined. The smallest usable sigma is "
                f"{DSE_SIGMA_MIN:g}; any sigma much smaller than the distance between the "
                "closest distinct samples already gives DSE = log N (every sample its own "
                "cluster), so use such a value, or rescale the data."
            )
    if isinstance(t, (bool, np.bool_)) or not (
            isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(
            f"DSE needs a diffusion time t > 0 (a Python number; it is static under jit), got "
            f"t={t!r}. The reference uses t=1."
        )


def check_dse_mode(mode, probes, steps, chunk, cache_mb=0) -> None:
    """DSE's static solver settings: ``mode`` in MODES, integers ``probes`` >= 6, ``steps``
    >= 2, ``chunk`` >= 1 and a number ``cache_mb`` >= 0."""
    modes = ("auto", "exact", "slq")
    if not isinstance(mode, str) or mode not in modes:
        raise ValueError(f"mode must be one of {modes}, got {mode!r}.")
    if isinstance(cache_mb, (bool, np.bool_)) or not (
            isinstance(cache_mb, (int, float)) and math.isfinite(cache_mb) and cache_mb >= 0):
        raise ValueError(f"cache_mb must be a number >= 0 (0: matrix-free), got {cache_mb!r}.")
    for name, v, lo in (("probes", probes, 6), ("steps", steps, 2), ("chunk", chunk, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}.")


def check_dse_z(z, what: str = "z") -> None:
    """DSE's samples: a real (N, d) array with N >= 2, d >= 1, finite values and
    ``max|z| * sqrt(d) <= DSE_SCALE_MAX`` (checked when concrete)."""
    check_real_array(z, what)
    shape = tuple(np.shape(z))
    if len(shape) != 2:
        raise ValueError(
            f"{what} must have shape (N, d): N samples of d features; got shape {shape}. "
            "Flatten each sample first, e.g. z.reshape(N, -1)."
        )
    if shape[0] < 2:
        raise ValueError(f"DSE needs at least N=2 samples (rows of {what}), got N={shape[0]}.")
    if shape[1] < 1:
        raise ValueError(
            f"{what} has zero features (shape {shape}); DSE needs d >= 1 values per sample."
        )
    if isinstance(z, jax.core.Tracer):
        return
    arr = np.asarray(z)
    bad = ~np.all(np.isfinite(arr), axis=1) if np.issubdtype(arr.dtype, np.floating) else None
    if bad is not None and bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{what} has NaN or inf values in {rows.size} row(s), first at row {rows[0]}; "
            "the kernel would be undefined. Drop or fix those samples (a diverged network "
            "produces them)."
        )
    scale = float(np.max(np.abs(arr.astype(np.float64)))) * math.sqrt(shape[1])
    if scale > DSE_SCALE_MAX:
        raise ValueError(
            f"{what} has values up to {scale / math.sqrt(shape[1]):.3g}: squared distances "
            f"between samples would overflow float32. DSE depends on z only through z / sigma, "
            f"so rescale both: dse(z / c, sigma / c) == dse(z, sigma) (e.g. c = "
            f"{scale / math.sqrt(shape[1]):.0e})."
        )
