"""The "Information plane" TensorBoard dashboard (server side).

TensorBoard loads this module through the ``tensorboard_plugins`` entry point. The entry point
names :class:`InfoplaneLoader`, a ``TBLoader`` that (1) makes TensorBoard keep *every* epoch of
our tensors by default and (2) builds the :class:`InfoplanePlugin`.

Why a loader: TensorBoard keeps only 10 tensors per tag for plugins it does not know about (both
the Python ``--load_fast=false`` multiplexer and the Rust data server reservoir-sample on
ingestion), so an information-plane trajectory of 60 epochs would show 10 random epochs. A plugin
cannot declare its own sampling, but a loader's ``fix_flags`` runs after the command line is
parsed and before the data ingester is built, so it adds ``infoplane=0`` ("keep all") to
``--samples_per_plugin`` unless the user gave a value for ``infoplane`` explicitly.

Data format (see the recorder's TensorBoard writer): one tensor per recorded epoch and
(estimator label, split, seed), tag ``infoplane/<label>/<split>/seed<k>``, step = epoch, float64
of shape (L, Q) = per layer the metadata's quantities (format 1: [I(X;T), I(T;Y)]; format 2
also the intervals), NaN where missing, plus an aux tag ``.../aux`` (the null); the metadata's
``plugin_data.content`` is JSON with version, estimator, label, split, seed, layers, quantities,
units, params, ceilings (and ceiling_names); names, title and ceiling_names are added here
(`display_names`: the axis names of the figures, e.g. "matrix-Rényi I_α(X;T), α=1.01").

Routes (under ``/data/plugin/infoplane``):

``/index.js``
    the ES module TensorBoard imports into the dashboard's iframe; it mounts ``static/app.js``.
``/static/<file>``
    the bundled page (``static/index.html`` works on its own too), JS and CSS.
``/runs``
    ``{"runs": [{"run", "series": [{"tag", "label", "estimator", "split", "seed", "layers",
    "quantities", "units", "params", "ceilings", "ceiling_names", "names", "title",
    "n_epochs", "last_epoch", "order", "first_wall_time", "aux_tag"}]}], "message",
    "sampling": {"samples_per_plugin": ..., "warning": ...}}``.
``/points?run=R&label=L&split=S[&seed=K]``
    ``{"run", "label", "split", "estimator", "layers", "units", "params", "ceilings",
    "ceiling_names", "names", "title", "series": [{"seed", "tag", "epochs": [e...], "i_xt":
    [[per layer] per epoch], "i_ty": [[...]], "nonfinite": [[epoch, layer, quantity, kind]]}],
    "warnings": [...]}``: exactly the stored float64 values (JSON floats round-trip exactly),
    NaN/inf -> null, each null flagged in ``nonfinite`` (kind "nan", "inf" or "-inf"; the page
    counts them). All seeds when ``seed`` is omitted. A series also has ``i_xt_lo``,
    ``i_xt_hi``, ``i_ty_lo``, ``i_ty_hi`` (the rows' 95 % intervals) and ``i_ty_null`` (the
    aux tag's null), same shape as ``i_xt``, where any is finite (format 2; ``series.py``).
    ``order``: the instance's place in the run's recording order (null in format 1; the page
    then orders instances by ``first_wall_time``).

Bad input (an unknown run, label, split or seed, a repeated, empty, too long or malformed
parameter) gives HTTP 400 with ``{"error": message}``; a static name outside the package's
files gives 404; never a stack trace.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from infoplane.dashboard.series import (  # noqa: F401 - the plugin's helpers, re-exported
    EXTRA_QUANTITIES,
    aux_main_tag,
    json_float,
    merge_extra,
    parse_aux_metadata,
    parse_metadata,
    parse_tag,
    series_columns,
    series_nonfinite,
    series_points,
    tensor_to_rows,
)
from infoplane.report.tensorboard.format import json_safe

PLUGIN_NAME = "infoplane"
TAB_NAME = "Information plane"
TAG_PREFIX = "infoplane/"
# ``downsample`` for read_tensors: TensorBoard returns at most this many epochs per tag.
MAX_EPOCHS = 1_000_000
EMPTY_MESSAGE = (
    "No information-plane data in this log directory yet. Record some with "
    "infoplane.Recorder(..., logdir=...) in your training loop, or run `infoplane run`, "
    "then point TensorBoard at that log directory."
)
SAMPLING_WARNING = (
    "TensorBoard was started without the infoplane loader, so it may keep only 10 epochs per "
    "series. Start it with --samples_per_plugin infoplane=0 to see every epoch."
)
_SEED_RE = re.compile(r"^\d{1,18}$")
_STATIC_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_CONTENT_TYPES = {
    ".js": "text/javascript",
    ".html": "text/html",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
}
_MAX_PARAM_LEN = 1000


class BadRequest(ValueError):
    """A request the plugin answers with HTTP 400 and ``{"error": str(exc)}``."""


# --------------------------------------------------------------------------- pure helpers


def _one_param(args: Mapping, name: str, required: bool) -> str | None:
    values = args.getlist(name) if hasattr(args, "getlist") else (
        [args[name]] if name in args else [])
    if not values:
        if required:
            raise BadRequest(f"missing query parameter {name!r}")
        return None
    if len(values) > 1:
        raise BadRequest(f"query parameter {name!r} given {len(values)} times")
    value = values[0]
    if value == "" and required:
        raise BadRequest(f"query parameter {name!r} is empty")
    if len(value) > _MAX_PARAM_LEN:
        raise BadRequest(f"query parameter {name!r} is too long")
    return value


def parse_points_query(args: Mapping) -> dict:
    """Validate ``run``, ``label``, ``split`` (required) and ``seed`` (optional, int >= 0)."""
    out = {name: _one_param(args, name, True) for name in ("run", "label", "split")}
    seed = _one_param(args, "seed", False)
    if seed is None or seed in ("", "all"):
        out["seed"] = None
    elif _SEED_RE.match(seed):
        out["seed"] = int(seed)
    else:
        raise BadRequest(f"query parameter 'seed' must be a non-negative integer, got {seed!r}")
    return out


def _static_files() -> dict[str, str]:
    """The allow-list of `static_file`: name -> content type of every file shipped in the
    package's ``static/`` folder, listed once at import."""
    out = {}
    for ref in resources.files(__package__).joinpath("static").iterdir():
        name = ref.name
        suffix = name[name.rfind("."):] if "." in name else ""
        ctype = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
        if ref.is_file() and ctype is not None and _STATIC_NAME_RE.match(name):
            out[name] = ctype
    return out


_STATIC_FILES = _static_files()


def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, content type) of a bundled static file; None for anything else.

    Only the names of the fixed allow-list (`_STATIC_FILES`: the files shipped in
    ``static/``) are served; any other name -- a directory, ``..``, a name too long for the
    file system -- never reaches the file system and is answered 404.
    """
    ctype = _STATIC_FILES.get(name) if isinstance(name, str) else None
    if ctype is None:
        return None
    return resources.files(__package__).joinpath("static", name).read_bytes(), ctype


def _json_response(request, obj: Any, code: int = 200):
    body = json.dumps(json_safe(obj), allow_nan=False)
    return http_util.Respond(request, body, "application/json", code=code)


def _error(request, message: str, code: int = 400):
    return _json_response(request, {"error": message}, code=code)


# --------------------------------------------------------------------------- the plugin


class InfoplanePlugin(base_plugin.TBPlugin):
    """Serves the information-plane dashboard and its JSON data."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        hints = getattr(context, "sampling_hints", None) or {}
        self._samples = hints.get(PLUGIN_NAME) if isinstance(hints, Mapping) else None
        self._counts: dict = {}  # (experiment, run, tag) -> ((max_step, max_wall_time), counts)
        self._lock = threading.Lock()

    # TensorBoard API
    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/tags": self._serve_runs,
            "/points": self._serve_points,
        }

    def is_active(self):
        # Activity comes from the data provider (our plugin name in the data); never scan here.
        return False

    def data_plugin_names(self):
        return (PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=TAB_NAME)

    # data access
    def _list(self, environ) -> dict:
        if self._provider is None:
            return {}
        ctx = plugin_util.context(environ)
        eid = plugin_util.experiment_id(environ)
        return self._provider.list_tensors(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME) or {}

    def _read(self, environ, runs: list, tags: list) -> dict:
        if self._provider is None or not runs or not tags:
            return {}
        ctx = plugin_util.context(environ)
        eid = plugin_util.experiment_id(environ)
        return self._provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=PLUGIN_NAME,
            downsample=MAX_EPOCHS,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        ) or {}

    def _series_index(self, environ) -> dict:
        """{run: [(tag, metadata dict, time series)]} for tags that are ours, sorted; each
        aux tag (format 2) is in the metadata of its main tag as ``aux_tag``."""
        out = {}
        for run, tags in sorted(self._list(environ).items()):
            items = []
            aux = {main: tag for tag in tags if (main := aux_main_tag(tag)) is not None}
            for tag, ts in tags.items():
                if not tag.startswith(TAG_PREFIX) or aux_main_tag(tag) is not None:
                    continue
                meta = parse_metadata(getattr(ts, "plugin_content", None), tag)
                if meta is not None:
                    meta["aux_tag"] = aux.get(tag)
                    if meta["aux_tag"] is not None:
                        meta["aux_meta"] = parse_aux_metadata(
                            getattr(tags[meta["aux_tag"]], "plugin_content", None))
                    items.append((tag, meta, ts))
            if items:
                items.sort(key=lambda it: (it[1]["label"], it[1]["split"], it[1]["seed"], it[0]))
                out[run] = items
        return out

    def _epoch_counts(self, environ, index: dict) -> dict:
        """{(run, tag): (n_epochs, last_epoch, first wall time)}, re-reading only series that
        changed (the first wall time orders the instances of files without ``order``).

        The dashboard polls /runs every few seconds; a series is read again only when its
        (max_step, max_wall_time) from the cheap listing differ from the cached ones.
        """
        eid = plugin_util.experiment_id(environ)
        out, stale_runs, stale_tags = {}, set(), set()
        for run, items in index.items():
            for tag, _, ts in items:
                key = (eid, run, tag)
                stamp = (ts.max_step, ts.max_wall_time)
                cached = self._counts.get(key)
                if cached is not None and cached[0] == stamp:
                    out[(run, tag)] = cached[1]
                else:
                    stale_runs.add(run)
                    stale_tags.add(tag)
        if stale_runs:
            read = self._read(environ, sorted(stale_runs), sorted(stale_tags))
            for run, items in index.items():
                for tag, _, ts in items:
                    if (run, tag) in out or run not in stale_runs or tag not in stale_tags:
                        continue
                    data = read.get(run, {}).get(tag, [])
                    steps = sorted({int(d.step) for d in data})
                    first = min((float(d.wall_time) for d in data), default=None)
                    value = (len(steps), steps[-1] if steps else int(ts.max_step), first)
                    with self._lock:
                        self._counts[(eid, run, tag)] = ((ts.max_step, ts.max_wall_time), value)
                    out[(run, tag)] = value
        return out

    def runs_payload(self, environ) -> dict:
        index = self._series_index(environ)
        counts = self._epoch_counts(environ, index)
        runs = []
        for run, items in index.items():
            series = []
            for tag, meta, _ in items:
                entry = {"tag": tag, **{k: v for k, v in meta.items()
                                        if k not in ("version", "aux_meta")}}
                entry["n_epochs"], entry["last_epoch"], entry["first_wall_time"] = \
                    counts[(run, tag)]
                series.append(entry)
            runs.append({"run": run, "series": series})
        sampling = {"samples_per_plugin": self._samples, "warning": None}
        if self._samples is None:
            sampling["warning"] = SAMPLING_WARNING
        return {"runs": runs, "message": None if runs else EMPTY_MESSAGE, "sampling": sampling}

    def points_payload(self, environ, query: dict) -> dict:
        index = self._series_index(environ)
        run, label, split, seed = query["run"], query["label"], query["split"], query["seed"]
        if run not in index:
            known = ", ".join(repr(r) for r in index) or "none"
            raise BadRequest(f"no information-plane data for run {run!r} (runs with data: {known})")
        items = [it for it in index[run] if it[1]["label"] == label and it[1]["split"] == split]
        if not items:
            have = sorted({f"{m['label']}/{m['split']}" for _, m, _ in index[run]})
            raise BadRequest(
                f"run {run!r} has no series with label {label!r} and split {split!r} "
                f"(it has: {', '.join(have)})")
        if seed is not None:
            chosen = [it for it in items if it[1]["seed"] == seed]
            if not chosen:
                seeds = ", ".join(str(m["seed"]) for _, m, _ in items)
                raise BadRequest(
                    f"run {run!r} has no seed {seed} for {label}/{split} (seeds: {seeds})")
            items = chosen
        tags = [tag for tag, _, _ in items] + [m["aux_tag"] for _, m, _ in items if m["aux_tag"]]
        read = self._read(environ, [run], tags).get(run, {})
        first = items[0][1]
        out = {
            "run": run,
            "label": label,
            "split": split,
            "estimator": first["estimator"],
            "layers": first["layers"],
            "units": first["units"],
            "params": first["params"],
            "ceilings": first["ceilings"],
            **{k: first[k] for k in ("ceiling_names", "names", "title", "order")},
            "series": [],
            "warnings": [],
        }
        for tag, meta, _ in items:
            epochs, cols, warns = series_columns(read.get(tag, []), meta["quantities"])
            nonfinite = series_nonfinite(read.get(tag, []))
            out["warnings"].extend(f"{tag}: {w}" for w in warns)
            if out["layers"] is None and cols["i_xt"]:
                out["layers"] = [f"layer{i + 1}" for i in range(len(cols["i_xt"][0]))]
            aux = None
            if meta["aux_tag"]:
                am = meta["aux_meta"]
                a_epochs, a_cols, a_warns = series_columns(read.get(meta["aux_tag"], []),
                                                           am["quantities"])
                out["warnings"].extend(f"{meta['aux_tag']}: {w}" for w in a_warns)
                aux = (a_epochs, am["layers"] or out["layers"] or [], a_cols)
            extra = merge_extra(epochs, out["layers"] or [], cols, aux)
            out["series"].append(
                {"seed": meta["seed"], "tag": tag, "epochs": epochs, "i_xt": cols["i_xt"],
                 "i_ty": cols["i_ty"], "nonfinite": nonfinite, **extra})
        return out

    # routes
    @wrappers.Request.application
    def _serve_runs(self, request):
        try:
            return _json_response(request, self.runs_payload(request.environ))
        except Exception as exc:  # noqa: BLE001 - answer with a message, never a traceback
            return _error(request, f"could not list runs: {type(exc).__name__}: {exc}", 500)

    @wrappers.Request.application
    def _serve_points(self, request):
        try:
            query = parse_points_query(request.args)
            return _json_response(request, self.points_payload(request.environ, query))
        except BadRequest as exc:
            return _error(request, str(exc))
        except Exception as exc:  # noqa: BLE001
            return _error(request, f"could not read points: {type(exc).__name__}: {exc}", 500)

    @wrappers.Request.application
    def _serve_index_js(self, request):
        found = static_file("index.js")
        if found is None:
            return _error(request, "index.js is missing from the installed package", 500)
        return http_util.Respond(request, found[0], "text/javascript")

    @wrappers.Request.application
    def _serve_static(self, request):
        marker = "/static/"
        path = request.path
        name = path[path.rfind(marker) + len(marker):] if marker in path else ""
        found = static_file(name)
        if found is None:
            return _error(request, f"no such static file: {name!r}", 404)
        return http_util.Respond(request, found[0], found[1])


class InfoplaneLoader(base_plugin.TBLoader):
    """Loads :class:`InfoplanePlugin` and keeps every epoch of its tensors by default."""

    def define_flags(self, parser):
        pass

    def fix_flags(self, flags):
        spp = getattr(flags, "samples_per_plugin", None)
        if spp is None or spp == "":
            spp = {}
            flags.samples_per_plugin = spp
        if isinstance(spp, dict):
            spp.setdefault(PLUGIN_NAME, 0)

    def load(self, context):
        return InfoplanePlugin(context)
