"""Input checks of the array API (`infoplane.estimate`, `estimate_epochs`, `prepare`): every
message says what was wrong and how to fix it."""

from __future__ import annotations

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
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("Inputs x must have a leading samples axis, shape (N, ...); got a scalar.")
    if x.shape[0] != n:
        raise ValueError(
            f"N mismatch: activations have {n} samples but x has {x.shape[0]} "
            f"(x shape {x.shape}). x, t and y must describe the same probe samples."
        )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("Inputs x contain NaN or inf values; clean the probe set first.")
    return x


def check_activations(t, *, batched: bool) -> tuple[int, ...]:
    """t must be (N, d) (or (E, N, d) when batched), real, finite. Returns its shape."""
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
