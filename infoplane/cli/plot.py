"""``infoplane plot RUN_DIR``: draw a run's figures (`infoplane.plot`) and print its checks
(`infoplane.report.checks`); nothing is estimated."""

from __future__ import annotations

import os
import re
import sys

from infoplane.cli._common import UsageError
from infoplane.store.layout import CONFIG_FILE, FIGURES_DIR

__all__ = ["add_parser", "cmd_plot", "parse_params"]


def add_parser(sub) -> None:
    """The ``plot`` subcommand and its options."""
    plot = sub.add_parser(
        "plot",
        help="draw a run's information plane (PNG, PDF or SVG)",
        description=(
            "Draw figures from RUN_DIR/results.csv (nothing is estimated): 'plane' is the "
            "information plane of one estimator (one trajectory per layer, coloured by epoch, "
            "seed mean and 95%% band when several seeds, ceilings H(X) and H(Y) dashed); "
            "'panel' puts every estimator side by side; 'curves' shows I(X;T) and I(T;Y) "
            "against the epoch. Points where a deeper layer exceeds a shallower one (a "
            "data-processing-inequality violation) are marked and listed."
        ),
        epilog="examples: infoplane plot runs/NAME;  infoplane plot runs/NAME --kind panel "
        "-o panel.pdf;  infoplane plot runs/NAME --estimator kde --split test -o kde.svg",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    plot.add_argument("-o", "--output", default=None,
                      help="output file, .png, .pdf or .svg (default: "
                      "RUN_DIR/figures/KIND[-ESTIMATOR].png)")
    plot.add_argument("--kind", choices=("plane", "panel", "curves"), default="plane",
                      help="which figure (default: %(default)s)")
    plot.add_argument("--estimator", default=None,
                      help="estimator to draw (plane/curves; default: the first in the run)")
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
    import warnings

    from infoplane import plot as figures
    from infoplane.report import checks
    from infoplane.store.results import load_results
    from infoplane.store.tables import ResultsFileWarning

    run_dir = args.run_dir
    if not os.path.isdir(run_dir):
        raise UsageError(f"{run_dir!r} is not a directory; pass a run directory, e.g. runs/NAME")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsFileWarning)
        try:
            table = load_results(run_dir)
        except (FileNotFoundError, ValueError) as err:
            raise UsageError(str(err)) from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if not len(table):
        raise UsageError(
            f"{run_dir!r} has no results yet (results.csv is empty); record some epochs first"
        )
    estimators = table.unique("estimator")
    if args.estimator is not None and args.estimator not in estimators:
        raise UsageError(
            f"unknown estimator {args.estimator!r}; this run has {', '.join(estimators)}"
        )
    estimator = args.estimator or (estimators[0] if args.kind != "panel" else None)
    splits = table.unique("split")
    if args.split is not None and args.split not in splits:
        raise UsageError(f"unknown split {args.split!r}; this run has {', '.join(splits)}")
    split = args.split or ("train" if "train" in splits else splits[0])
    params = parse_params(args.params)
    # draw the table read above (read once, warned once), ceilings from config.json if any
    ceilings = run_dir if os.path.isfile(os.path.join(run_dir, CONFIG_FILE)) else None
    try:
        if args.kind == "plane":
            fig, _ = figures.information_plane(table, estimator=estimator, split=split,
                                               ceilings=ceilings, params=params,
                                               dpi_tolerance=args.dpi_tolerance)
        elif args.kind == "panel":
            fig, _ = figures.estimator_panel(table, split=split, ceilings=ceilings,
                                             dpi_tolerance=args.dpi_tolerance)
        else:
            fig, _ = figures.information_curves(table, estimator=estimator, split=split,
                                                ceilings=ceilings, params=params)
        suffix = (f"-{estimator}" if estimator else "") + (
            "-" + re.sub(r"[^A-Za-z0-9._=-]+", "_", args.params) if params else "")
        out = args.output or os.path.join(run_dir, FIGURES_DIR, args.kind + suffix + ".png")
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        figures.save(fig, out)
    except ValueError as err:
        hint = (" (on the command line: --params KEY=VALUE,...)" if "params=" in str(err)
                else "")
        raise UsageError(str(err) + hint) from None
    print(f"wrote {out}")
    sel = table.where(split=split) if estimator is None else table.where(
        split=split, estimator=estimator)
    top = None
    if ceilings is not None:  # the figure's ceilings, in bits, as the checks take them
        c = figures.load_ceilings(ceilings, split)
        top = {split: {q: v for q, v in (("i_xt", c.h_x), ("i_ty", c.h_y), ("n", c.n))
                       if v is not None}}
    print(checks.check_report(sel, top, dpi_tolerance=args.dpi_tolerance,
                              aux=_aux_rows(run_dir)))
    return 0


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
