"""``infoplane summary RUN_DIR``: print the compression verdict of a run's I(X;T) per estimator
instance and layer (`infoplane.report.compression`), and write it as CSV with ``--csv``;
nothing is estimated."""

from __future__ import annotations

import csv
import dataclasses
import os

from infoplane.cli._common import UsageError, load_run_table

__all__ = ["add_parser", "cmd_summary"]


def add_parser(sub) -> None:
    """The ``summary`` subcommand and its options."""
    p = sub.add_parser(
        "summary",
        help="does I(X;T) compress? the verdict per estimator and layer",
        description=(
            "Read RUN_DIR/results.csv (nothing is estimated) and, for each estimator instance, "
            "split and layer, print the peak of the seed-mean I(X;T), its final value, the drop "
            "(peak - final) with its 95% interval (Student t over the seeds), and a verdict: "
            "'compresses' when the interval lies above --min-drop, 'does not' when it lies "
            "below it or the peak is the final epoch, 'cannot tell' otherwise (e.g. one seed). "
            "With several parameter sets of an estimator, says across which values each "
            "verdict holds."
        ),
        epilog="examples: infoplane summary runs/NAME;  infoplane summary runs/NAME --split "
        "test --estimator binning --min-drop 0.2 --csv verdict.csv",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    p.add_argument("--split", default=None,
                   help="only this probe set, e.g. train or test (default: every split)")
    p.add_argument("--estimator", default=None,
                   help="only this estimator, e.g. binning (default: every estimator)")
    p.add_argument("--min-drop", type=float, default=0.1, metavar="BITS",
                   help="the smallest drop of I(X;T) that counts as compression, in bits "
                   "(x ln 2 for a run in nats; default: %(default)s)")
    p.add_argument("--csv", default=None, metavar="PATH",
                   help="also write the rows as CSV to PATH")


def cmd_summary(args) -> int:

    from infoplane.report.compression import CompressionRow, compression_summary

    run_dir = args.run_dir
    table = load_run_table(run_dir)
    for column, value in (("split", args.split), ("estimator", args.estimator)):
        available = table.unique(column)
        if value is not None and value not in available:
            raise UsageError(f"unknown {column} {value!r}; this run has {', '.join(available)}")
    try:
        summary = compression_summary(table, split=args.split, estimator=args.estimator,
                                      min_drop=args.min_drop)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--min-drop: {err}" if "min_drop" in str(err) else str(err)) from None
    if args.csv:
        fields = [f.name for f in dataclasses.fields(CompressionRow)]
        try:
            if os.path.dirname(args.csv):
                os.makedirs(os.path.dirname(args.csv), exist_ok=True)
            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(summary.as_dicts())
        except OSError as err:
            raise UsageError(f"--csv: cannot write {args.csv!r}: {err.strerror or err}") from None
    print(summary)
    if args.csv:
        print(f"wrote {args.csv}")
    return 0
