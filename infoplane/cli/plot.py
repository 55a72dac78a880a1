"""``infoplane plot RUN_DIR [RUN_DIR ...]``: draw a run's figures, or several runs overlaid
(`infoplane.plot`), and print their checks (`infoplane.report.checks`); nothing is
estimated."""

from __future__ import annotations

import os
import re

from infoplane.cli._common import UsageError, load_run_table
from infoplane.store.layout import CONFIG_FILE, FIGURES_DIR

__all__ = ["add_parser", "cmd_plot", "estimator_spec", "merge_params", "parse_layers",
           "parse_params", "parse_size"]


def add_parser(sub) -> None:
    """The ``plot`` subcommand and its options."""
    plot = sub.add_parser(
        "plot",
        help="draw a run's information plane (PNG, PDF or SVG)",
        description=(
            "Draw figures from RUN_DIR/results.csv (nothing is estimated): 'plane' is the "
            "information plane of one estimator (one trajectory per layer, coloured by epoch, "
            "seed mean and 95% band when several seeds, ceilings H(X) and H(Y) dashed); "
            "'panel' puts every estimator side by side; 'curves' shows I(X;T) and I(T;Y) "
            "against the epoch. Points where a deeper layer exceeds a shallower one (a "
            "data-processing-inequality violation) are marked and listed."
        ),
        epilog="examples: infoplane plot runs/NAME;  infoplane plot runs/NAME --kind panel "
        "-o panel.pdf;  infoplane plot runs/NAME --estimator kde --split test -o kde.svg;  "
        "infoplane plot runs/NAME --estimator \"binning(n_bins=8)\";  infoplane plot "
        "runs/tanh runs/relu --layers layers.3,layers.4 --size 3.4,2.8 --title \"tanh vs "
        "ReLU\" -o fig2.pdf",
    )
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                      help="a run directory, e.g. runs/NAME; several: their runs overlaid in "
                      "one figure (a line style each, named in the legend)")
    plot.add_argument("-o", "--output", default=None,
                      help="output file, .png, .pdf or .svg (default: "
                      "RUN_DIR/figures/KIND-ESTIMATOR.png, named after the estimator drawn, "
                      "e.g. plane-binning.png; panel.png for --kind panel; with several runs "
                      "in the first one's figures/, named ...-vs-OTHER.png)")
    plot.add_argument("--kind", choices=("plane", "panel", "curves"), default="plane",
                      help="which figure (default: %(default)s)")
    plot.add_argument("--estimator", default=None,
                      help="estimator to draw (plane/curves; default: the first in the run; "
                      "the file is named after the estimator drawn, and the others are "
                      "listed; --kind panel draws every estimator); a spec such as "
                      "'dsmi(sigma=1.0)' also chooses its parameter set: the keys given, as "
                      "--params sigma=1.0 does")
    plot.add_argument("--split", default=None,
                      help="probe set to draw, e.g. train or test (default: train or the only "
                      "one)")
    plot.add_argument("--params", default=None, metavar="KEY=VALUE,...",
                      help="which parameter set of the estimator to draw when the run holds "
                      "several (plane/curves; e.g. after `infoplane estimate RUN --estimators "
                      "\"matrix_renyi(label_kernel=linear)\"`): the keys that differ, "
                      "e.g. label_kernel=linear; values are Python literals or bare words")
    plot.add_argument("--layers", default=None, metavar="NAME,...",
                      help="draw only these layers, in this order, e.g. layers.2,layers.3 "
                      "(default: all)")
    plot.add_argument("--title", default=None,
                      help="the figure's title (default: run, split, estimator, seeds, DPI "
                      "count)")
    plot.add_argument("--dpi", type=int, default=300,
                      help="dots per inch of a PNG (default: %(default)s)")
    plot.add_argument("--size", default=None, metavar="W,H",
                      help="figure size in inches, e.g. 3.4,2.8 for a journal column; the "
                      "file is then exactly that size (default: each kind's own, cropped to "
                      "its content)")
    plot.add_argument("--color-by", choices=("epoch", "layer"), default="epoch",
                      help="plane/panel: colour the points by epoch (one colour bar) or give "
                      "each layer a colour (default: %(default)s)")
    plot.add_argument("--dpi-tolerance", type=float, default=0.05,
                      help="flag a deeper layer exceeding a shallower one by more than this "
                      "many bits (default: %(default)s)")


def parse_size(text: str | None) -> tuple[float, float] | None:
    """``--size``: "W,H" in inches -> (W, H); None when not given."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        size = tuple(float(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 2 or not all(0 < v <= 100 for v in size):
        raise UsageError(f"--size: {text!r} is not W,H in inches (two numbers > 0, e.g. "
                         "--size 3.4,2.8)")
    return size


def parse_layers(text: str | None) -> list[str] | None:
    """``--layers``: "a,b" -> ["a", "b"]; None when not given."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--layers: give at least one layer name, e.g. --layers layers.2,layers.3")
    return names


def cmd_plot(args) -> int:

    from infoplane import plot as figures

    run_dirs = list(args.run_dirs)
    tables = [load_run_table(d) for d in run_dirs]
    table = tables[0]
    estimators = table.unique("estimator")
    name, given = estimator_spec(args.estimator)
    for d, t in zip(run_dirs, tables, strict=True):
        if name is not None and name not in t.unique("estimator"):
            raise UsageError(f"unknown estimator {name!r}; {_which(d, run_dirs)} has "
                             f"{', '.join(t.unique('estimator'))}")
    estimator = name or (estimators[0] if args.kind != "panel" else None)
    splits = table.unique("split")
    if args.split is not None:
        for d, t in zip(run_dirs, tables, strict=True):
            if args.split not in t.unique("split"):
                raise UsageError(f"unknown split {args.split!r}; {_which(d, run_dirs)} has "
                                 f"{', '.join(t.unique('split'))}")
    split = args.split or ("train" if "train" in splits else splits[0])
    params = merge_params(given, parse_params(args.params), args.estimator)
    layers, size = parse_layers(args.layers), parse_size(args.size)
    auxes = [_aux_rows(d) for d in run_dirs]  # null baselines (aux i_ty_null), where any
    # draw the tables read above (read once, warned once), ceilings from config.json if any
    ceilings = [d if os.path.isfile(os.path.join(d, CONFIG_FILE)) else None for d in run_dirs]
    many = len(run_dirs) > 1
    one = (lambda v: v) if many else (lambda v: v[0])
    common = dict(split=split, ceilings=one(ceilings), layers=layers, title=args.title,
                  widths=one(run_dirs), figsize=size,
                  labels=_labels(run_dirs) if many else None)
    try:
        if args.kind == "plane":
            fig, _ = figures.information_plane(one(tables), estimator=estimator,
                                               params=params, null=one(auxes),
                                               dpi_tolerance=args.dpi_tolerance,
                                               color_by=args.color_by, **common)
        elif args.kind == "panel":
            fig, _ = figures.estimator_panel(one(tables), dpi_tolerance=args.dpi_tolerance,
                                             color_by=args.color_by, **common)
        else:
            fig, _ = figures.information_curves(one(tables), estimator=estimator,
                                                params=params, null=one(auxes), **common)
        out = args.output or _default_output(args, run_dirs, estimator, given, params)
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        figures.save(fig, out, dpi=args.dpi, tight=size is None)
    except ValueError as err:
        hint = (f" (on the command line: --estimator \"{estimator}(KEY=VALUE, ...)\" with "
                f"the keys that differ, e.g. --estimator \"binning(n_bins=8)\", or "
                "--params KEY=VALUE,...)" if "params=" in str(err) else "")
        text = str(err).replace("layers in the table", "layers in the run")
        raise UsageError(text + hint) from None
    print(f"wrote {out}" + (f" ({estimator})" if estimator else ""))
    others = [e for e in estimators if e != estimator]
    if estimator is not None and others:
        print(f"other estimators: {', '.join(others)} (--estimator NAME draws one; "
              "--kind panel draws all side by side)")
    for d, t, aux, ceil in zip(run_dirs, tables, auxes, ceilings, strict=True):
        if many:
            print(f"\n{d}:")
        _print_checks(figures, t, split, estimator, layers, ceil, aux, args.dpi_tolerance)
    return 0


def _which(run_dir: str, run_dirs: list[str]) -> str:
    return "this run" if len(run_dirs) == 1 else f"run {run_dir!r}"


def _labels(run_dirs: list[str]) -> list[str]:
    """The runs' legend names: the directories' names (the paths where two share one)."""
    names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
    return names if len(set(names)) == len(names) else [os.path.normpath(d) for d in run_dirs]


def _default_output(args, run_dirs, estimator, given, params) -> str:
    chosen = (",".join(f"{k}={_text(v)}" for k, v in params.items()) if given
              else args.params)
    suffix = (f"-{estimator}" if estimator else "") + (
        "-" + re.sub(r"[^A-Za-z0-9._=-]+", "_", chosen) if params else "")
    others = "".join("-vs-" + re.sub(r"[^A-Za-z0-9._=-]+", "_", name)
                     for name in _labels(run_dirs)[1:])
    return os.path.join(run_dirs[0], FIGURES_DIR, args.kind + suffix + others + ".png")


def _print_checks(figures, table, split, estimator, layers, ceilings, aux, tolerance) -> None:
    """The checks of the rows drawn (`infoplane.report.checks.check_report`)."""
    from infoplane.report import checks

    sel = table.where(split=split) if estimator is None else table.where(
        split=split, estimator=estimator)
    if layers is not None:
        sel = sel.where(layer=layers)
    top = None
    if ceilings is not None:  # the figure's ceilings, in bits, as the checks take them
        c = figures.load_ceilings(ceilings, split)
        top = {split: {q: v for q, v in (("i_xt", c.h_x), ("i_ty", c.h_y), ("n", c.n))
                       if v is not None}}
    print(checks.check_report(sel, top, dpi_tolerance=tolerance, aux=aux))


def estimator_spec(text: str | None) -> tuple[str | None, dict]:
    """``--estimator``: a name -> (name, {}); a spec ``name(key=value, ...)`` -> (name, the
    given keys with their values as the result rows record them, e.g. ``"dsmi(sigma=1)"``
    -> ("dsmi", {"sigma": 1.0})), checked by `infoplane.estimators.from_spec`. A wrapper
    spec (``subsample(compressed, n=512)``) gives its inner spec's keys and its own
    recorded parameters (``subsample``, ``subsample_seed``)."""
    if text is None or "(" not in text:
        return text, {}
    import json

    from infoplane.estimators import from_spec
    from infoplane.recording.estimation import params_json

    try:
        est = from_spec(text)
        keys = _given_keys(text)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--estimator: {err}") from None
    recorded = json.loads(params_json(est))
    return est.name, {k: recorded[k] for k in keys if k in recorded}


def _given_keys(spec: str) -> list[str]:
    """The parameter keys a (valid) spec gives, as named in its rows' ``params``."""
    import json

    from infoplane.estimators import from_spec, split_specs
    from infoplane.recording.estimation import params_json

    _name, paren, rest = spec.strip().partition("(")
    items = split_specs(rest.rstrip()[:-1]) if paren else []
    if items and "=" not in items[0].partition("(")[0]:  # a wrapper: its inner spec first
        outer = json.loads(params_json(from_spec(spec)))
        inner = json.loads(params_json(from_spec(items[0])))
        return _given_keys(items[0]) + [k for k in outer if k not in inner]
    return [item.partition("=")[0].strip() for item in items]


def merge_params(given: dict, params: dict | None, spec: str | None) -> dict | None:
    """The parameter selection of ``--estimator SPEC`` (``given``) and ``--params``
    together; a key both give with different values is a UsageError."""
    if not given:
        return params
    clash = {k: (v, params[k]) for k, v in given.items() if params and k in params
             and params[k] != v}
    if clash:
        what = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in clash.items())
        raise UsageError(f"--estimator {spec!r} and --params give different values for "
                         f"{what}; give each key once")
    return {**given, **(params or {})}


def _text(v) -> str:
    return v if isinstance(v, str) else repr(v)


def parse_params(text: str | None) -> dict | None:
    """``--params``: "key=value,..." -> {key: value} (values Python literals, else the bare
    word as a string); None when not given."""
    import ast

    if text is None:
        return None
    out = {}
    for item in (i for i in text.split(",") if i.strip()):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--params: {item.strip()!r} is not key=value (e.g. --params "
                             "label_kernel=linear,alpha=2.0)")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    if not out:
        raise UsageError("--params: give at least one key=value, e.g. label_kernel=linear")
    return out


def _aux_rows(run_dir: str):
    """The run's aux rows, which tell withheld estimates apart exactly (None: no aux.csv)."""
    from infoplane.store.tables import load_aux

    if run_dir is None:
        return None
    try:
        return load_aux(run_dir)
    except FileNotFoundError:
        return None
