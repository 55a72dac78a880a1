"""TensorBoard event files of a run (format 2): tags, names, row keys and the layout.

A `Recorder` with a run directory (and ``infoplane run``) writes event files next to
``results.csv`` through `TensorBoardLogger` (`infoplane.report.tensorboard.logger`), so
``tensorboard --logdir runs`` (or ``infoplane board``) shows every run with no extra step. No
TensorFlow, tensorboardX or torch is needed: events are built from TensorBoard's own protos
and written synchronously in its record format (`EventWriter`), flushed at the end of every
logger call (a killed process loses nothing it has passed in; a crashed machine may lose what
the OS had not written yet).

Layout
------
::

    runs/<name>/
      events.out.tfevents.*        run level: TB run "<name>"
                                     - information-plane images  information_plane/<label>/<split>
                                     - dashboard tensors         infoplane/<label>/<split>/seed<k>
                                     - hparams (session start info + experiment config)
                                     - custom-scalars layout     custom_scalars__config__
      tb/seed<k>/events.out.tfevents.*           TB run "<name>/tb/seed<k>": metrics
                                     - metrics/<metric name>     e.g. metrics/train_loss
      tb/seed<k>/<layer>/events.out.tfevents.*   TB run "<name>/tb/seed<k>/<layer>": per layer
                                     - <label>/I_XT/<split>      scalar, step = epoch
                                     - <label>/I_TY/<split>
                                     - saturation/<stat>/<split> activation diagnostics
                                     - <label>/aux/<name>/<split> an estimate's auxiliary
                                       scalars (e.g. kde/aux/i_xt_lower/train)

``<layer>`` is `layer_dir_name` of the layer name: every character outside ``[A-Za-z0-9._-]``
replaced by ``_`` (``"."`` and ``".."``, which would name no new directory, become ``"_"`` and
``"__"``; the empty name becomes ``"_"``). If two layers of one logger still map to the same
directory, the later one gets ``-<first 6 hex digits of sha1(layer name)>`` appended. Because
each layer is its own TensorBoard run, the scalar dashboard shows one chart per estimator,
quantity and split (e.g. ``binning/I_XT/train``) with one line per layer.

``<label>`` is `estimator_label`: the estimator's name (``binning``, ``adaptive_binning``,
``kde``, ``compressed``, ``dsmi``, ``matrix_renyi``), or, when one logger sees two instances
of the same estimator with different parameters, ``<name>-<first 6 hex digits of
sha1(params JSON)>`` (the ``params`` string of the result rows, UTF-8) for every instance of
that name. Rows arrive incrementally, so the decision is made when a name is first seen:
every parameter set of that name present in that first `TensorBoardLogger.on_results` call
is counted. A parameter set of an already-labelled name that only appears later gets the
hashed label, and the earlier set(s) keep theirs (a label never changes once written). A
logger that continues a run (``resume_epoch``: a resumed run, ``infoplane estimate``) first
sees the rows already in its ``results.csv``
(`infoplane.report.tensorboard.logger.known_instances`), so labels stay the same across
sessions and a parameter set added later never writes into another's tags.

Steps are epochs; every event carries its wall time (seconds since the Unix epoch). Scalars
are float32 (TensorBoard's scalar format), the dashboard tensors float64.

Restarts. TensorBoard treats the first ``SessionLog(status=START)`` of a run as the start of
the run and every later one at step s as a restart: it drops the run's data at steps >= s (the
"orphaned" steps of a killed process). So the first event of every event file this module
writes is a START: at step 0 for a new run, and at ``resume_epoch`` (the first epoch recorded
after the resume) when a `Recorder(resume=True)` continues a run.

Dashboard tensors (read by the "Information plane" plugin)
------------------------------------------------------------
- tag ``infoplane/<label>/<split>/seed<k>``, step = epoch, in the run-level event file;
- tensor: float64, shape (L, Q): row i is layer i (in the order of ``layers`` below), the
  columns named by ``quantities`` (format 2: `DASHBOARD_QUANTITIES`, I(X;T), I(T;Y) and the
  rows' 95 % intervals ``i_xt_lo, i_xt_hi, i_ty_lo, i_ty_hi``; format 1: Q = 2, I(X;T) and
  I(T;Y)) in ``units``; NaN where the estimator failed on that layer (no row) or a row has no
  interval;
- ``SummaryMetadata``: ``plugin_data.plugin_name = "infoplane"``,
  ``data_class = DATA_CLASS_TENSOR``, ``plugin_data.content`` = UTF-8 JSON, constant per tag
  (fixed at the tag's first write)::

    {"version": 2, "estimator": "binning", "label": "binning", "split": "train", "seed": 0,
     "layers": ["layer1", "layer2"],
     "quantities": ["i_xt", "i_ty", "i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi"],
     "units": "bits", "params": {"estimator": "binning", "n_bins": 30, "units": "bits", ...},
     "ceilings": {"i_xt": 12.0, "i_ty": 0.9999},
     "ceiling_names": {"i_xt": "H(X)", "i_ty": "H(Y)"}, "order": 0}

  ``layers``: every layer the logger has seen (in result or diagnostic rows) up to the tag's
  first write, in order of first appearance; a layer first seen later is not in the tensor
  (a warning says so). ``params``: the rows' params JSON, parsed (non-finite numbers become
  null). ``ceilings``: the largest values this estimator's I(X;T) and I(T;Y) can take on the
  probe set, in ``units`` (bits x ln 2 for nats), or null where unknown or none applies
  (`infoplane.report.bounds.ceilings_of`: H(X) and H(Y), log2 n for a subsample of n, none
  for DSMI, log2 n and for alpha >= 1 H(X), H(Y) for matrix_renyi); ``ceiling_names``: which
  bound each is ("H(X)", "H(Y)", "log2 <n>"; absent in files written before it, read as
  H(X), H(Y)). ``order`` (format 2): the instance's place in the logger's recording order
  (0 = the first estimator instance it saw; the tab selects the first by default).
- aux tag ``infoplane/<label>/<split>/seed<k>/aux`` (format 2; written by `on_aux`, only for
  an instance with aux values named in `DASHBOARD_AUX`, e.g. ``i_ty_null`` of
  `infoplane.NullLabels`): float64 (L, 5), the columns of `DASHBOARD_AUX`, NaN where absent;
  its content is the main tag's with ``"kind": "aux"`` and ``quantities`` = `DASHBOARD_AUX`
  (its own ``layers``, fixed at its first write). A separate tag, so that aux values arriving
  after the results of later epochs never rewrite (and so purge) the main tag's steps.

Names shown to people (figures, console tables, the dashboard): `quantity_label` (e.g.
"matrix-Rényi I_α(X;T), α=1.01"), `quantity_symbols` (its short form for tables) and
`pretty_estimator` ("matrix Rényi"), one definition for all of them.

Other run-level records
-----------------------
- images: ``information_plane/<label>/<split>``, PNG, step = the latest epoch logged; rendered
  once at least ``image_every`` new distinct epochs (counted over all seeds) have arrived
  since the last image, and at `TensorBoardLogger.close` when anything arrived since;
- hparams (written at construction): the hparams plugin's experiment config (the hparams, and
  the metrics ``metrics/{train,test}_{acc,loss}`` of run ``<name>/tb/seed0``) and the session
  start info (group name = the run name), so runs compare in TensorBoard's HPARAMS tab;
- custom-scalars layout: a category per label with multiline charts ``I(X;T) <split>`` and
  ``I(T;Y) <split>`` (one line per layer), a "training" category (metrics) and a "saturation"
  category; rewritten when new labels, splits or statistics appear (TensorBoard uses the last).

Example::

    with TensorBoardLogger("runs/demo", run="demo", ceilings={"train": {"i_xt": 12.0,
                                                                        "i_ty": 1.0}}) as tb:
        tb.on_results(rows)   # result rows, see `RESULT_KEYS`
        tb.on_metrics([{"run": "demo", "seed": 0, "epoch": 0, "name": "train_acc",
                        "value": 0.5}])
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "AUX_KEYS",
    "DASHBOARD_AUX",
    "DASHBOARD_QUANTITIES",
    "DIAGNOSTIC_KEYS",
    "FORMAT_VERSION",
    "HPARAM_GROUP",
    "HPARAM_METRICS",
    "METRIC_KEYS",
    "PLUGIN_NAME",
    "RESULT_KEYS",
    "EstimatorLabels",
    "ceilings_in",
    "check_rows",
    "display_names",
    "dashboard_aux_tag",
    "dashboard_tag",
    "estimator_label",
    "json_safe",
    "pretty_estimator",
    "quantity_label",
    "quantity_symbols",
    "layer_dir_name",
    "regex_literal",
    "sha6",
]

#: Version of the dashboard tensors' metadata content (1: (L, 2) tensors, no aux tags;
#: 2: the columns of `DASHBOARD_QUANTITIES`, an "order", and the aux tags).
FORMAT_VERSION = 2
#: The columns of a dashboard tensor (format 2): the estimate and its 95 % interval (NaN
#: where the result rows have none).
DASHBOARD_QUANTITIES = ("i_xt", "i_ty", "i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi")
#: The columns of a dashboard aux tensor (format 2): auxiliary values the tab draws.
DASHBOARD_AUX = ("i_xt_lo", "i_xt_hi", "i_ty_lo", "i_ty_hi", "i_ty_null")
#: ``plugin_data.plugin_name`` of the dashboard tensors.
PLUGIN_NAME = "infoplane"
#: Keys of a result row (`TensorBoardLogger.on_results`).
RESULT_KEYS = ("run", "seed", "split", "epoch", "layer", "estimator", "i_xt", "i_ty", "units",
               "params")
#: Keys of a metric row (`TensorBoardLogger.on_metrics`).
METRIC_KEYS = ("run", "seed", "epoch", "name", "value")
#: Keys of a diagnostic row (`TensorBoardLogger.on_diagnostics`).
DIAGNOSTIC_KEYS = ("run", "seed", "split", "epoch", "layer", "name", "value")
#: Keys of an auxiliary-value row (`TensorBoardLogger.on_aux`; ``aux.csv``).
AUX_KEYS = ("run", "seed", "split", "epoch", "layer", "estimator", "params", "name", "value")
#: Metric tags of the hparams experiment config, all in the group (run) ``tb/seed0``.
HPARAM_METRICS = ("metrics/train_acc", "metrics/test_acc", "metrics/train_loss",
                  "metrics/test_loss")
HPARAM_GROUP = "tb/seed0"
_LN2 = math.log(2.0)
_REGEX_SPECIAL = re.compile(r"([\\.^$*+?{}\[\]|()])")


def layer_dir_name(name: str) -> str:
    """The directory of a layer's event files: ``name`` with every character outside
    ``[A-Za-z0-9._-]`` replaced by ``_``; ``"."``/``".."``/``""`` become ``"_"``/``"__"``/``"_"``.

    >>> layer_dir_name("encoder/dense_0")
    'encoder_dense_0'
    """
    out = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    if out in ("", ".", ".."):
        out = "_" * max(len(out), 1)
    return out


def sha6(text: str) -> str:
    """The first 6 hex digits of the SHA-1 of ``text`` (UTF-8): short, stable name suffixes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def estimator_label(name: str, params: str | Mapping[str, Any], *, shared: bool) -> str:
    """The label of an estimator instance in tags: ``name``, or, when ``shared`` (several
    parameter sets of ``name`` in one run), ``<name>-<sha1(params JSON)[:6]>``.

    ``params`` is the rows' params JSON string, or a mapping (encoded with sorted keys, as the
    `Recorder` writes it).

    >>> estimator_label("binning", '{"n_bins": 30}', shared=False)
    'binning'
    """
    if not shared:
        return str(name)
    if not isinstance(params, str):
        params = json.dumps(dict(params), sort_keys=True, default=str)
    return f"{name}-{sha6(params)}"


def dashboard_tag(label: str, split: str, seed: int) -> str:
    """The tag of a dashboard tensor: ``infoplane/<label>/<split>/seed<k>``."""
    return f"infoplane/{label}/{split}/seed{int(seed)}"


def dashboard_aux_tag(label: str, split: str, seed: int) -> str:
    """The tag of a dashboard aux tensor: ``infoplane/<label>/<split>/seed<k>/aux``."""
    return f"{dashboard_tag(label, split, seed)}/aux"


#: The estimators' names in titles and legends (figures, dashboard).
PRETTY_NAMES = {"binning": "binning", "adaptive_binning": "adaptive binning", "kde": "KDE",
                "compressed": "compressed", "dsmi": "DSMI", "matrix_renyi": "matrix Rényi"}


def pretty_estimator(estimator: str) -> str:
    """An estimator's name in titles: e.g. "KDE", "matrix Rényi"; unknown names unchanged."""
    return PRETTY_NAMES.get(estimator, estimator)


def _params_dict(params: Mapping | str | None) -> Mapping:
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    return params if isinstance(params, Mapping) else {}


def _alpha_text(params: Mapping) -> str:
    """", α=1.01" from params ``alpha`` ("" when absent or not a number)."""
    a = params.get("alpha")
    if isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a):
        return ""
    return f", α={a:g}"


def quantity_symbols(estimator: str, params: Mapping | str | None = None
                     ) -> tuple[str, str, str]:
    """The short symbols of an estimator's two quantities and a note, for tables:
    ``("I(X;T)", "I(T;Y)", "")``; ``("DSMI(X;T)", "DSMI(T;Y)", "")``; matrix_renyi
    ``("I_α(X;T)", "I_α(T;Y)", "α=1.01")`` (α from ``params``, a mapping or its JSON)."""
    if estimator == "dsmi":
        return "DSMI(X;T)", "DSMI(T;Y)", ""
    if estimator == "matrix_renyi":
        return "I_α(X;T)", "I_α(T;Y)", _alpha_text(_params_dict(params))[2:]
    return "I(X;T)", "I(T;Y)", ""


def quantity_label(estimator: str, quantity: str, params: Mapping | str | None = None) -> str:
    """The name of ``quantity`` ("i_xt" or "i_ty") estimated by ``estimator``, the one form
    used by the figures' axes, the console tables and the dashboard: e.g. "binned I(X;T)",
    "KDE upper-bound I(X;T)" (KDE's ``bound`` from ``params``), "DSMI(T;Y)",
    "matrix-Rényi I_α(X;T), α=1.01" (``alpha`` from ``params``); unknown estimators
    "<name> I(X;T)"."""
    if quantity not in ("i_xt", "i_ty"):
        raise ValueError(f"quantity must be 'i_xt' or 'i_ty', got {quantity!r}")
    params = _params_dict(params)
    xt, ty, _ = quantity_symbols(estimator, params)
    mi = xt if quantity == "i_xt" else ty
    if estimator == "kde":
        bound = params.get("bound", "upper")
        # I(X;T) is a bound; I(T;Y) is a difference of two bounds (an estimate, not a bound)
        return f"KDE {bound}-bound {mi}" if quantity == "i_xt" else f"KDE ({bound}) {mi}"
    if estimator == "matrix_renyi":
        return f"matrix-Rényi {mi}{_alpha_text(params)}"
    prefix = {"binning": "binned ", "adaptive_binning": "adaptive-binned ",
              "compressed": "compressed ", "dsmi": ""}.get(estimator, f"{estimator} ")
    return f"{prefix}{mi}"


def display_names(estimator: Any, params: Any, ceiling_names: Any = None) -> dict:
    """What the dashboard shows of a series (any input, e.g. damaged metadata, is accepted):
    ``{"names": {"i_xt": quantity_label, "i_ty": ...}, "title": pretty_estimator,
    "ceiling_names": {"i_xt": "H(X)" or the stored name, "i_ty": "H(Y)" or ...}}``."""
    est = estimator if isinstance(estimator, str) else str(estimator)
    params = params if isinstance(params, Mapping) else {}
    given = ceiling_names if isinstance(ceiling_names, Mapping) else {}
    names = {q: (given.get(q) if isinstance(given.get(q), str) else default)
             for q, default in (("i_xt", "H(X)"), ("i_ty", "H(Y)"))}
    return {"names": {q: quantity_label(est, q, params) for q in ("i_xt", "i_ty")},
            "title": pretty_estimator(est), "ceiling_names": names}


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively through mappings, lists
    and tuples (strict JSON: the dashboard tensors' metadata and the dashboard's routes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def regex_literal(text: str) -> str:
    """``text`` as a regular-expression literal valid in Python and JavaScript."""
    return _REGEX_SPECIAL.sub(r"\\\1", text)


def check_rows(rows: Any, keys: tuple[str, ...], what: str, text: tuple[str, ...] = (),
               numbers: tuple[str, ...] = ()) -> list[Mapping]:
    """Check rows of a logger call: every key present, seed a non-negative integer, epoch a
    finite non-negative integer (an integral float is accepted), ``text`` keys strings,
    ``numbers`` keys real numbers (NaN and inf allowed). Errors name the row."""
    if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
        raise TypeError(f"{what} expects a list of row dicts, got {type(rows).__name__}.")
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"{what}: row {i} is a {type(r).__name__}, expected a dict: {r!r}.")
        missing = [k for k in keys if k not in r]
        if missing:
            raise ValueError(
                f"{what}: row {i} lacks key(s) {missing}; every row needs {list(keys)}. "
                f"Row: {dict(r)!r}"
            )
        for k in ("seed", "epoch"):
            v = r[k]
            ok = isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 0
            if not ok and isinstance(v, float | np.floating):
                ok = math.isfinite(v) and float(v).is_integer() and v >= 0
            if not ok:
                raise ValueError(
                    f"{what}: row {i} has {k}={v!r}; {k} must be a finite non-negative integer. "
                    f"Row: {dict(r)!r}"
                )
        for k in text:
            if not isinstance(r[k], str):
                raise ValueError(
                    f"{what}: row {i} has {k}={r[k]!r}; {k} must be a string. Row: {dict(r)!r}"
                )
        for k in numbers:
            v = r[k]
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValueError(
                    f"{what}: row {i} has {k}={v!r}; {k} must be a real number (NaN allowed). "
                    f"Row: {dict(r)!r}"
                )
    return rows


def ceilings_in(c: Mapping[str, float | None] | None, units: str) -> dict[str, float | None]:
    """Ceilings {"i_xt", "i_ty"} given in bits, in ``units`` (None where unknown)."""
    scale = _LN2 if units == "nats" else 1.0
    out: dict[str, float | None] = {}
    for q in ("i_xt", "i_ty"):
        v = None if c is None else c.get(q)
        out[q] = float(v) * scale if v is not None and math.isfinite(float(v)) else None
    return out


class EstimatorLabels:
    """The labels of the estimator instances one logger has seen: (estimator, params JSON) ->
    `estimator_label`. A name is labelled when first seen: every parameter set of it in that
    first call of `assign` shares the name (hashed labels); one that appears later gets the
    hashed label, and a label never changes once given."""

    def __init__(self):
        self._labels: dict[tuple[str, str], str] = {}
        self._names_seen: set[str] = set()

    def assign(self, rows: Iterable[Mapping]) -> None:
        """Label the estimator instances of ``rows`` not labelled yet."""
        by_name: dict[str, dict[str, None]] = {}
        for r in rows:
            if (r["estimator"], r["params"]) not in self._labels:
                by_name.setdefault(r["estimator"], {})[r["params"]] = None
        for name, params in by_name.items():
            shared = name in self._names_seen or len(params) > 1
            for p in params:
                self._labels[(name, p)] = estimator_label(name, p, shared=shared)
            self._names_seen.add(name)

    def __getitem__(self, key: tuple[str, str]) -> str:
        return self._labels[key]

    def values(self) -> list[str]:
        """The labels, in the order they were given (each instance has its own label)."""
        return list(dict.fromkeys(self._labels.values()))
