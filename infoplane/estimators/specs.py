"""Estimators by name and spec string: `REGISTRY`, `NAMES`, `by_name`, and the spec syntax
``name(key=value, ...)`` of the command line, the `Recorder` and ``config.json``:
`from_spec`, its inverse `to_spec`, and `split_specs` for comma-separated lists.
"""

from __future__ import annotations

import ast
import dataclasses

import numpy as np

from infoplane.estimators._base import Estimator
from infoplane.estimators.adaptive import AdaptiveBinning
from infoplane.estimators.binning import Binning
from infoplane.estimators.compressed import Compressed
from infoplane.estimators.intervals import Intervals
from infoplane.estimators.kde import KDE
from infoplane.estimators.null import NullLabels
from infoplane.estimators.renyi import MatrixRenyi
from infoplane.estimators.spectral import DiffusionSpectral
from infoplane.estimators.subsample import Subsample

__all__ = ["NAMES", "REGISTRY", "by_name", "from_spec", "split_specs", "to_spec"]

#: Estimator classes by their `name`.
REGISTRY = {
    cls.name: cls
    for cls in (Binning, AdaptiveBinning, KDE, Compressed, DiffusionSpectral, MatrixRenyi)
}
#: Valid estimator names, e.g. for a command line.
NAMES = tuple(REGISTRY)


#: The wrappers a spec can name: class, parameter defaults, an example.
_WRAPPERS = {
    "subsample": (Subsample, {"n": 1024, "seed": 0}, "subsample(compressed, n=1024)"),
    "null_labels": (NullLabels, {"permutations": 1, "seed": 0},
                    "null_labels(binning, permutations=1)"),
    "intervals": (Intervals, {"resamples": 20, "fraction": 0.5, "level": 0.95, "seed": 0,
                              "kind": "percentile"}, "intervals(binning, resamples=20)"),
}


def by_name(name: str, **params) -> Estimator:
    """An estimator from its name (one of `NAMES`, e.g. "binning") and its parameters."""
    if not isinstance(name, str):
        raise TypeError(f"an estimator name is a string such as 'binning', got {name!r}.")
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown estimator {name!r}. Valid names: {', '.join(NAMES)}."
        ) from None
    return cls(**params)


_BARE = {"true": True, "false": False, "none": None}


def _parse_value(text: str):
    """A parameter value of a spec: a Python literal (``1e-3``, ``'pca'``, ``True``,
    ``[0, 1]``; lists become tuples), a bare word taken as a string (``absolute``), or
    ``true``/``false``/``none`` in any case."""
    text = text.strip()
    if text.lower() in _BARE:
        return _BARE[text.lower()]
    try:
        return _tuples(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def _tuples(v):
    """Lists (at any depth) as tuples: parameters are hashable, ``range=[0, 1]`` is (0, 1)."""
    if isinstance(v, (list, tuple)):
        return tuple(_tuples(x) for x in v)
    return v


_OPEN, _CLOSE = "([{", ")]}"


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of estimator specs at the commas outside brackets and
    quotes: ``"binning,dsmi(sigma=1,t=2)"`` -> ``["binning", "dsmi(sigma=1,t=2)"]``;
    ``"binning(range=[0, 1])"`` stays whole. Unbalanced brackets raise a ValueError."""
    out, stack, cur, quote = [], [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "," and not stack:
            out.append("".join(cur).strip())
            cur = []
            continue
        elif ch in _OPEN:
            stack.append(_CLOSE[_OPEN.index(ch)])
        elif ch in _CLOSE:
            if not stack or stack.pop() != ch:
                raise ValueError(f"unbalanced {ch!r} in estimator list {text!r}.")
        cur.append(ch)
    if stack or quote:
        what = f"quote {quote}" if quote else repr(_OPEN[_CLOSE.index(stack[-1])])
        raise ValueError(f"unclosed {what} in estimator list {text!r}.")
    out.append("".join(cur).strip())
    return [s for s in out if s]


def from_spec(spec: str) -> Estimator:
    """An estimator from a spec string: a name (`NAMES`) with optional parameters,
    ``"name"`` or ``"name(key=value, ...)"``, e.g. ``"dsmi(sigma=1)"`` or
    ``"compressed(noise=absolute, dim=3)"``, or a probe subsample of one,
    ``"subsample(<spec>, n=1024, seed=0)"`` (`Subsample`), or one with the label-permutation
    null, ``"null_labels(<spec>, permutations=1, seed=0)"`` (`NullLabels`), or with
    confidence intervals, ``"intervals(<spec>, resamples=20)"`` (`Intervals`). Values are
    Python literals, or bare
    words taken as strings. Unknown names or parameters raise a ValueError listing the valid
    ones; the estimator's own checks validate the values. `to_spec` is the inverse."""
    if not isinstance(spec, str):
        raise TypeError(f"an estimator spec is a string such as 'kde(sigma2=0.01)', got {spec!r}")
    text = spec.strip()
    name, paren, rest = text.partition("(")
    name = name.strip()
    if paren and not rest.rstrip().endswith(")"):
        raise ValueError(f"estimator spec {spec!r} must end with ')': name(key=value, ...).")
    items = split_specs(rest.rstrip()[:-1]) if rest else []
    if name in _WRAPPERS:
        cls, defaults, example = _WRAPPERS[name]
        if not items or "=" in items[0].partition("(")[0]:
            raise ValueError(
                f"estimator spec {spec!r}: {name} takes an estimator spec first, e.g. "
                f"{example}."
            )
        inner = from_spec(items[0])
        return cls(inner, **_spec_params(spec, name, items[1:], defaults))
    if name not in REGISTRY:
        raise ValueError(
            f"Unknown estimator {name!r}. Valid names: {', '.join(NAMES)} (or "
            "subsample(<spec>, n=...), null_labels(<spec>, permutations=...), "
            "intervals(<spec>, resamples=...))."
        )
    cls = REGISTRY[name]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    return cls(**_spec_params(spec, name, items, defaults))


def _spec_params(spec: str, name: str, items: list[str], defaults: dict) -> dict:
    """``key=value`` items of a spec -> keyword arguments (checked against ``defaults``)."""
    params = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(
                f"estimator spec {spec!r}: {item!r} is not key=value (e.g. {name}("
                f"{next(iter(defaults))}=...))."
            )
        if key not in defaults:
            raise ValueError(
                f"estimator {name!r} has no parameter {key!r}; its parameters are: "
                f"{', '.join(defaults)}."
            )
        if key in params:
            raise ValueError(f"estimator spec {spec!r} sets {key!r} twice.")
        v = _parse_value(value)
        if isinstance(defaults[key], float) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # sigma=1 is recorded as 1.0, like the default's type
        params[key] = v
    return params


def _plain(v):
    """NumPy scalars (e.g. ``np.float32(0.5)``) as Python numbers, so the spec is a literal."""
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v.item() if isinstance(v, np.generic) else v


def to_spec(estimator: Estimator) -> str:
    """The spec string `from_spec` turns back into an equal estimator: its name, plus its
    parameters that differ from the defaults, e.g. ``"dsmi(sigma=1.0)"`` or
    ``"subsample(compressed, n=1024, seed=0)"``. Only for the classes of `REGISTRY`,
    `Subsample`, `NullLabels` and `Intervals`; another estimator raises a ValueError."""
    if isinstance(estimator, Subsample):
        return (f"subsample({to_spec(estimator.estimator)}, n={estimator.n!r}, "
                f"seed={estimator.seed!r})")
    if isinstance(estimator, Intervals):
        return (f"intervals({to_spec(estimator.estimator)}, resamples={estimator.resamples!r}, "
                f"fraction={estimator.fraction!r}, level={estimator.level!r}, "
                f"seed={estimator.seed!r}, kind={estimator.kind!r})")
    if isinstance(estimator, NullLabels):
        return (f"null_labels({to_spec(estimator.estimator)}, "
                f"permutations={estimator.permutations!r}, seed={estimator.seed!r})")
    cls = type(estimator)
    if REGISTRY.get(getattr(cls, "name", None)) is not cls:
        raise ValueError(
            f"{estimator!r} has no spec string: only {', '.join(NAMES)} with their parameters, "
            "and subsample(...) / null_labels(...) / intervals(...) of them."
        )
    changed = [f"{f.name}={_plain(getattr(estimator, f.name))!r}"
               for f in dataclasses.fields(cls) if getattr(estimator, f.name) != f.default]
    return f"{cls.name}({', '.join(changed)})" if changed else cls.name

