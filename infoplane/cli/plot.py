"""``infoplane plot RUN_DIR``: draw a run's figures (`infoplane.plot`) and print its checks
(`infoplane.report.checks`); nothing is estimated."""

from __future__ import annotations

import os
import re

from infoplane.cli._common import UsageError, load_run_table
from infoplane.store.layout import CONFIG_FILE, FIGURES_DIR

__all__ = ["add_parser", "cmd_plot", "estimator_spec", "merge_params", "parse_params"]


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
        "infoplane plot runs/NAME --estimator \"binning(n_bins=8)\"",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    plot.add_argument("-o", "--output", default=None,
                      help="output file, .png, .pdf or .svg (default: "
                      "RUN_DIR/figures/KIND-ESTIMATOR.png, named after the estimator drawn, "
                      "e.g. plane-binning.png; panel.png for --kind panel)")
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
    plot.add_argument("--dpi-tolerance", type=float, default=0.05,
                      help="flag a deeper layer exceeding a shallower one by more than this "
                      "many bits (default: %(default)s)")


def cmd_plot(args) -> int:

    from infoplane import plot as figures
    from infoplane.report import checks

    run_dir = args.run_dir
    table = load_run_table(run_dir)
    estimators = table.unique("estimator")
    name, given = estimator_spec(args.estimator)
    if name is not None and name not in estimators:
        raise UsageError(
            f"unknown estimator {name!r}; this run has {', '.join(estimators)}"
        )
    estimator = name or (estimators[0] if args.kind != "panel" else None)
    splits = table.unique("split")
    if args.split is not None and args.split not in splits:
        raise UsageError(f"unknown split {args.split!r}; this run has {', '.join(splits)}")
    split = args.split or ("train" if "train" in splits else splits[0])
    params = merge_params(given, parse_params(args.params), args.estimator)
    aux = _aux_rows(run_dir)  # the null baseline (aux i_ty_null), where the run has one
    # draw the table read above (read once, warned once), ceilings from config.json if any
    ceilings = run_dir if os.path.isfile(os.path.join(run_dir, CONFIG_FILE)) else None
    try:
        if args.kind == "plane":
            fig, _ = figures.information_plane(table, estimator=estimator, split=split,
                                               ceilings=ceilings, params=params, null=aux,
                                               dpi_tolerance=args.dpi_tolerance)
        elif args.kind == "panel":
            fig, _ = figures.estimator_panel(table, split=split, ceilings=ceilings,
                                             dpi_tolerance=args.dpi_tolerance)
        else:
            fig, _ = figures.information_curves(table, estimator=estimator, split=split,
                                                ceilings=ceilings, params=params, null=aux)
        chosen = (",".join(f"{k}={_text(v)}" for k, v in params.items()) if given
                  else args.params)
        suffix = (f"-{estimator}" if estimator else "") + (
            "-" + re.sub(r"[^A-Za-z0-9._=-]+", "_", chosen) if params else "")
        out = args.output or os.path.join(run_dir, FIGURES_DIR, args.kind + suffix + ".png")
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        figures.save(fig, out)
    except ValueError as err:
        hint = (f" (on the command line: --estimator \"{estimator}(KEY=VALUE, ...)\" with "
                f"the keys that differ, e.g. --estimator \"binning(n_bins=8)\", or "
                "--params KEY=VALUE,...)" if "params=" in str(err) else "")
        raise UsageError(str(err) + hint) from None
    print(f"wrote {out}" + (f" ({estimator})" if estimator else ""))
    others = [e for e in estimators if e != estimator]
    if estimator is not None and others:
        print(f"other estimators: {', '.join(others)} (--estimator NAME draws one; "
              "--kind panel draws all side by side)")
    sel = table.where(split=split) if estimator is None else table.where(
        split=split, estimator=estimator)
    top = None
    if ceilings is not None:  # the figure's ceilings, in bits, as the checks take them
        c = figures.load_ceilings(ceilings, split)
        top = {split: {q: v for q, v in (("i_xt", c.h_x), ("i_ty", c.h_y), ("n", c.n))
                       if v is not None}}
    print(checks.check_report(sel, top, dpi_tolerance=args.dpi_tolerance,
                              aux=aux))
    return 0


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
