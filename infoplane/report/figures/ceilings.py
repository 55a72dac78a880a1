"""The ceilings drawn on the figures: I(X;T) <= H(X) and I(T;Y) <= H(Y) of the probe set,
read from a run's ``config.json`` (``probes[split]["h_x_bits"]``, ``["h_y_bits"]`` and the
probe size ``["n"]``; older runs without them get no ceilings) or given by the caller, then
made the selected estimator's own (`infoplane.report.bounds.ceilings_of`): log2 n for a
subsample of n, none for DSMI, and for matrix_renyi log2 n (and H(X), H(Y) for alpha >= 1).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from infoplane.report.bounds import ceilings_of
from infoplane.store.config import config_path, read_config

__all__ = ["LABEL_STYLE", "Ceilings", "draw_ceilings", "load_ceilings", "resolve_ceilings",
           "subsample_cap"]

_LN2 = math.log(2.0)
#: The ceiling labels: above every marker (z-order 6, the points are at 3..4) on a white box,
#: so a trajectory running along a ceiling never hides its label.
LABEL_STYLE = dict(fontsize=8, color="0.3", zorder=6, clip_on=True,
                   bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none",
                             alpha=0.85))


@dataclasses.dataclass(frozen=True)
class Ceilings:
    """The largest possible values of the information plane: I(X;T) <= H(X) and
    I(T;Y) <= H(Y) (entropies of the probe's inputs and labels), in ``units``.

    ``h_x``/``h_y``: None when unknown (then that ceiling is not drawn). ``n``: the probe's
    sample count (None: unknown), for the log2 n ceiling of matrix_renyi. ``x_name``,
    ``y_name``: the lines' labels ("H(X)", "H(Y)", or "log2 <n>" where that is the ceiling).
    """

    h_x: float | None = None
    h_y: float | None = None
    units: str = "bits"
    n: int | None = None
    x_name: str = "H(X)"
    y_name: str = "H(Y)"

    def __post_init__(self):
        if self.units not in ("bits", "nats"):
            raise ValueError(f"Ceilings.units must be 'bits' or 'nats', got {self.units!r}")
        n = self.n
        if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer)
                              or n < 1):
            raise ValueError(f"Ceilings.n must be a sample count >= 1 or None, got {n!r}")
        if n is not None:
            object.__setattr__(self, "n", int(n))
        for name in ("h_x", "h_y"):
            v = getattr(self, name)
            if v is not None:
                if not isinstance(v, int | float | np.number) or not math.isfinite(v) or v < 0:
                    raise ValueError(f"Ceilings.{name} must be a finite number >= 0, got {v!r}")
                object.__setattr__(self, name, float(v))

    def to(self, units: str) -> Ceilings:
        """The same ceilings in ``units`` ("bits" or "nats")."""
        if units == self.units:
            return self
        if units not in ("bits", "nats"):
            raise ValueError(f"units must be 'bits' or 'nats', got {units!r}")
        f = _LN2 if units == "nats" else 1.0 / _LN2
        return dataclasses.replace(
            self, h_x=None if self.h_x is None else self.h_x * f,
            h_y=None if self.h_y is None else self.h_y * f, units=units)


def load_ceilings(run_dir: str | os.PathLike, split: str, units: str = "bits") -> Ceilings:
    """The ceilings of ``split`` from a run's ``config.json`` (``run_dir`` is the run directory
    or the JSON file itself): ``probes[split]["h_x_bits"]`` and ``["h_y_bits"]``, converted to
    ``units``, and the probe size ``["n"]``. Missing entries (older runs) give None, i.e. no
    ceiling."""
    path = config_path(run_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no config.json at {path!r}: the ceilings H(X), H(Y) are read from a run "
            "directory's config.json (written by `infoplane run`); pass ceilings=None to draw "
            "none, or ceilings={'h_x_bits': ..., 'h_y_bits': ...}"
        )
    config = read_config(path)
    probe = (config.get("probes") or {}).get(split) if isinstance(config, dict) else None
    if not isinstance(probe, Mapping):
        return Ceilings(units=units)
    n = probe.get("n")
    n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None
    return Ceilings(probe.get("h_x_bits"), probe.get("h_y_bits"), "bits", n).to(units)


_CEILING_KEYS = {"h_x_bits": ("h_x", "bits"), "h_y_bits": ("h_y", "bits"),
                 "h_x": ("h_x", None), "h_y": ("h_y", None)}


def resolve_ceilings(ceilings: Any, run_dir: str | None, split: str, units: str) -> Ceilings:
    if ceilings is None or ceilings is False:
        return Ceilings(units=units)
    if isinstance(ceilings, str) and ceilings == "auto":
        if run_dir is None or not os.path.isfile(config_path(run_dir)):
            return Ceilings(units=units)
        return load_ceilings(run_dir, split, units)
    if isinstance(ceilings, Ceilings):
        return ceilings.to(units)
    if isinstance(ceilings, str | os.PathLike):
        return load_ceilings(ceilings, split, units)
    if isinstance(ceilings, Mapping):
        if split in ceilings and isinstance(ceilings[split], Mapping):
            ceilings = ceilings[split]
        unknown = [k for k in ceilings if k not in _CEILING_KEYS and k != "n"]
        if unknown:
            raise ValueError(
                f"ceilings: unknown key(s) {unknown}; use 'h_x_bits'/'h_y_bits' (bits) or "
                f"'h_x'/'h_y' (in the table's units, {units}), 'n' (the probe size), or "
                "{split: {...}}"
            )
        values: dict[str, float | None] = {"h_x": None, "h_y": None}
        for key, value in ceilings.items():
            if key == "n":
                continue
            name, given_units = _CEILING_KEYS[key]
            c = Ceilings(units=given_units or units, **{name: value}).to(units)
            values[name] = getattr(c, name)
        return Ceilings(values["h_x"], values["h_y"], units, ceilings.get("n"))
    raise TypeError(
        f"ceilings must be None, 'auto', a run directory, a Ceilings or a mapping, got "
        f"{type(ceilings).__name__}"
    )


def subsample_cap(ceil: Ceilings, sel) -> Ceilings:
    """The selected estimator's own ceilings (`infoplane.report.bounds.ceilings_of`): I(X;T)
    at most log2 n for a subsample of n, none at all for DSMI, and for matrix_renyi log2 n
    of the samples it sees (and H(X), H(Y) only for alpha >= 1), each line named after the
    bound that holds."""
    got = ceilings_of(sel.estimator, sel.params, ceil.h_x, ceil.h_y, ceil.n, ceil.units)
    (h_x, x_name), (h_y, y_name) = (got.get(q, (None, ceil.x_name if q == "i_xt" else
                                                ceil.y_name)) for q in ("i_xt", "i_ty"))
    return Ceilings(h_x, h_y, ceil.units, ceil.n, x_name, y_name)


def draw_ceilings(ax: Axes, ceilings: Ceilings, *, vertical_x: bool = True) -> list[Line2D]:
    """Dashed ceiling lines of I(X;T) (vertical, gid "ceiling:H(X)") and I(T;Y) (horizontal,
    gid "ceiling:H(Y)") with text labels naming the bound (``x_name``, ``y_name``)."""
    lines = []
    style = dict(color="0.35", linestyle="--", linewidth=1.0, zorder=0.5)
    if ceilings.h_x is not None and vertical_x:
        label = f"{ceilings.x_name} = {ceilings.h_x:.2f} {ceilings.units}"
        line = ax.axvline(ceilings.h_x, label=label, gid="ceiling:H(X)", **style)
        ax.text(ceilings.h_x, 0.03, label, transform=ax.get_xaxis_transform(),
                rotation=90, ha="right", va="bottom", gid="ceiling-label:H(X)", **LABEL_STYLE)
        lines.append(line)
    if ceilings.h_y is not None:
        label = f"{ceilings.y_name} = {ceilings.h_y:.2f} {ceilings.units}"
        line = ax.axhline(ceilings.h_y, label=label, gid="ceiling:H(Y)", **style)
        ax.text(0.02, ceilings.h_y, label, transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", gid="ceiling-label:H(Y)", **LABEL_STYLE)
        lines.append(line)
    return lines
