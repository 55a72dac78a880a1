"""The pure helpers of the dashboard's server side: tags, metadata and tensors -> JSON.

A main tag ``infoplane/<label>/<split>/seed<k>`` holds per epoch a float64 (L, Q) tensor whose
columns are the metadata's ``quantities`` (format 1: ``["i_xt", "i_ty"]``; format 2:
`DASHBOARD_QUANTITIES`, with the 95 % intervals); its aux tag ``.../seed<k>/aux`` (format 2)
the `DASHBOARD_AUX` values (the null ``i_ty_null``). `series_columns` turns either into
per-epoch lists, `merge_extra` puts the intervals and the null next to the estimates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infoplane.report.tensorboard.format import DASHBOARD_AUX, display_names, json_safe

#: The quantities besides I(X;T), I(T;Y) the points route sends (when any is finite).
EXTRA_QUANTITIES = tuple(dict.fromkeys(("i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi",
                                        *DASHBOARD_AUX)))
_TAG_RE = re.compile(r"^infoplane/(?P<label>.+)/(?P<split>[^/]+)/seed(?P<seed>\d+)$")
_AUX_RE = re.compile(r"^(?P<main>infoplane/.+/[^/]+/seed\d+)/aux$")


def parse_tag(tag: str) -> dict | None:
    """``infoplane/<label>/<split>/seed<k>`` -> {label, split, seed}; None if not ours."""
    m = _TAG_RE.match(tag or "")
    if m is None:
        return None
    return {"label": m["label"], "split": m["split"], "seed": int(m["seed"])}


def aux_main_tag(tag: str) -> str | None:
    """The main tag of an aux tag (``<main>/aux``); None for any other tag."""
    m = _AUX_RE.match(tag or "")
    return m["main"] if m and parse_tag(m["main"]) is not None else None


def _quantities(value: Any) -> list[str]:
    ok = (isinstance(value, list) and len(value) >= 2 and all(isinstance(q, str) for q in value)
          and value[:2] == ["i_xt", "i_ty"])
    return list(value) if ok else ["i_xt", "i_ty"]


def parse_metadata(content: bytes | str | None, tag: str = "") -> dict | None:
    """The plugin content JSON merged over what the tag says; None if unusable.

    Missing fields are filled from the tag (label, split, seed) or with neutral defaults, so a
    series whose content is damaged still shows up as long as its tag is well formed.
    ``order``: the instance's place in the run's recording order (format 2; None before).
    """
    meta: dict[str, Any] = {}
    if content:
        try:
            text = content.decode("utf-8") if isinstance(content, bytes) else content
            loaded = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            loaded = None
        if isinstance(loaded, dict):
            meta = loaded
    from_tag = parse_tag(tag) or {}
    order = meta.get("order")
    out = {
        "version": meta.get("version"),
        "label": meta.get("label", from_tag.get("label")),
        "estimator": meta.get("estimator", meta.get("label", from_tag.get("label"))),
        "split": meta.get("split", from_tag.get("split")),
        "seed": meta.get("seed", from_tag.get("seed")),
        "layers": meta.get("layers"),
        "quantities": _quantities(meta.get("quantities")),
        "units": meta.get("units", "bits"),
        "params": meta.get("params") if isinstance(meta.get("params"), dict) else {},
        "ceilings": _clean_ceilings(meta.get("ceilings")),
        "order": order if isinstance(order, int) and not isinstance(order, bool) else None,
    }
    if not isinstance(out["label"], str) or not isinstance(out["split"], str):
        return None
    if isinstance(out["seed"], bool) or not isinstance(out["seed"], int):
        return None
    if not (isinstance(out["layers"], list) and all(isinstance(s, str) for s in out["layers"])):
        out["layers"] = None
    out.update(display_names(out["estimator"], out["params"], meta.get("ceiling_names")))
    return json_safe(out)


def parse_aux_metadata(content: bytes | str | None) -> dict:
    """{"layers": [...] or None, "quantities": [...]} of an aux tag's content."""
    try:
        meta = json.loads(content.decode("utf-8") if isinstance(content, bytes) else content)
    except (AttributeError, TypeError, UnicodeDecodeError, ValueError):
        meta = None
    meta = meta if isinstance(meta, dict) else {}
    layers, qs = meta.get("layers"), meta.get("quantities")
    return {"layers": layers if isinstance(layers, list) and all(
                isinstance(s, str) for s in layers) else None,
            "quantities": qs if isinstance(qs, list) and all(
                isinstance(q, str) for q in qs) else list(DASHBOARD_AUX)}


def _clean_ceilings(value: Any) -> dict:
    out = {"i_xt": None, "i_ty": None}
    if isinstance(value, Mapping):
        for key in out:
            out[key] = json_float(value.get(key))
    return out


def json_float(x: Any) -> float | None:
    """A float for JSON: exact (repr round trip) when finite, None for NaN/inf/non-numbers."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def tensor_columns(array: Any, width: int) -> list[list]:
    """An (L, width) tensor -> one list per column of its L values, NaN/inf -> None."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"expected a tensor of shape (L, {width}), got shape {a.shape}")
    return [[json_float(v) for v in a[:, j]] for j in range(width)]


def tensor_to_rows(array: Any) -> tuple[list, list]:
    """An (L, 2) tensor -> ([I(X;T) per layer], [I(T;Y) per layer]) with NaN/inf -> None."""
    xt, ty = tensor_columns(array, 2)
    return xt, ty


def _latest_per_epoch(data: list) -> dict[int, Any]:
    """epoch -> datum; where one epoch was written twice (a resumed run) the later write wins."""
    by_step: dict[int, Any] = {}
    for datum in sorted(data, key=lambda d: (d.step, d.wall_time)):
        by_step[int(datum.step)] = datum
    return by_step


def series_columns(data: list, quantities: Sequence[str]) -> tuple[list, dict, list]:
    """Tensor data (objects with step, wall_time, numpy) of columns ``quantities`` ->
    epochs, {quantity: [[per layer] per epoch]}, warnings. Sorted by epoch; where one epoch
    was written twice (a resumed run) the later write wins."""
    by_step = _latest_per_epoch(data)
    warnings: list[str] = []
    epochs: list[int] = []
    out: dict[str, list] = {q: [] for q in quantities}
    for step in sorted(by_step):
        try:
            cols = tensor_columns(by_step[step].numpy, len(quantities))
        except ValueError as exc:
            warnings.append(f"epoch {step}: {exc}")
            continue
        epochs.append(step)
        for q, col in zip(quantities, cols, strict=True):
            out[q].append(col)
    return epochs, out, warnings


def series_points(data: list) -> tuple[list, list, list, list]:
    """Tensor data of (L, 2) tensors -> epochs, i_xt, i_ty, warnings (`series_columns`)."""
    epochs, cols, warnings = series_columns(data, ("i_xt", "i_ty"))
    return epochs, cols["i_xt"], cols["i_ty"], warnings


def series_nonfinite(data: list) -> list:
    """The I(X;T), I(T;Y) values `series_columns` sends as null: ``[epoch, layer index,
    "i_xt" | "i_ty", "nan" | "inf" | "-inf"]`` each, by epoch (NaN also marks a layer missing
    at an epoch)."""
    out = []
    for step, datum in sorted(_latest_per_epoch(data).items()):
        a = np.asarray(datum.numpy, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] < 2:
            continue  # `series_columns` warns about it
        a = a[:, :2]
        for layer, q in zip(*np.nonzero(~np.isfinite(a)), strict=True):
            v = a[layer, q]
            kind = "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
            out.append([step, int(layer), ("i_xt", "i_ty")[int(q)], kind])
    return out


def merge_extra(epochs: Sequence[int], layers: Sequence[str], main: Mapping[str, list],
                aux: tuple[list, Sequence[str], Mapping[str, list]] | None) -> dict:
    """The `EXTRA_QUANTITIES` of a series aligned with its ``epochs`` and ``layers``:
    {quantity: [[value or None per layer] per epoch]}, only those with a value anywhere. A
    main tensor's column (the result rows' interval) wins over the aux tag's value
    (``aux``: its epochs, layers and columns, from `series_columns`)."""
    out = {}
    aux_epoch = {e: i for i, e in enumerate(aux[0])} if aux else {}
    aux_layer = [list(aux[1]).index(n) if aux and n in aux[1] else None for n in layers]
    for q in EXTRA_QUANTITIES:
        own = main.get(q)
        other = aux[2].get(q) if aux else None
        if own is None and other is None:
            continue
        rows = []
        for i, e in enumerate(epochs):
            row = list(own[i]) if own is not None else [None] * len(layers)
            j = aux_epoch.get(e)
            if other is not None and j is not None:
                for li, aj in enumerate(aux_layer):
                    if row[li] is None and aj is not None and aj < len(other[j]):
                        row[li] = other[j][aj]
            rows.append(row)
        if any(v is not None for row in rows for v in row):
            out[q] = rows
    return out
