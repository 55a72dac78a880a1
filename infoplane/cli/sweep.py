"""``infoplane sweep RUN_DIR SPEC [SPEC ...]``: re-estimate a run's stored activations over a
grid of estimator parameters (``"binning(n_bins=[4, 8, 16])"``, `infoplane.experiments.sweep`;
the estimation is `infoplane.experiments.reestimate`'s) and print the compression verdict
across the swept values and the sensitivity of the final-epoch estimates."""

from __future__ import annotations

import csv
import os
import sys

from infoplane.cli._common import (
    AS_RUN_HELP,
    UsageError,
    _printable,
    add_intervals_option,
    intervals_as_run,
    setup_jax,
)

__all__ = ["add_parser", "cmd_sweep"]


def add_parser(sub) -> None:
    """The ``sweep`` subcommand and its options."""
    from infoplane.cli.progress import add_verbosity_options
    from infoplane.cli.run import costly_help, costly_names
    from infoplane.experiments.sweep import MAX_COMBINATIONS

    p = sub.add_parser(
        "sweep",
        help="re-estimate stored activations over a grid of estimator parameters",
        description=(
            "Expand each SPEC's list-valued parameters into one estimator per value "
            "(several lists: their Cartesian product; at most "
            f"{MAX_COMBINATIONS} parameter sets), estimate every stored epoch and layer of "
            "RUN_DIR/activations/ with each (as `infoplane estimate` does: missing rows "
            "appended to results.csv, rows already there not recomputed), then print the "
            "compression verdict of I(X;T) restricted to the swept parameter sets, with the "
            "values across which each verdict holds, and the sensitivity table: per layer, "
            "the final-epoch I(X;T) and I(T;Y) (seed mean) per parameter set and their "
            "spread (max - min). A key whose default is a sequence (binning's range) is "
            "swept only by a list of sequences: range=[[-1, 1], [0, 1]]; range=[0, 1] is "
            "one value. Wrappers expand their inner spec: subsample(binning(n_bins=[8, 16]), "
            "n=256)."
        ),
        epilog="examples: infoplane sweep runs/NAME \"binning(n_bins=[4, 8, 16, 29, 64])\";  "
        "infoplane sweep runs/NAME \"kde(sigma2=[0.01, 0.1])\" --split test --csv kde.csv",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with stored "
                   "activations (infoplane run --store-activations), e.g. runs/NAME")
    p.add_argument("specs", metavar="SPEC", nargs="+",
                   help="an estimator spec with list values to sweep, e.g. "
                   "'binning(n_bins=[8, 16, 32])' (quote it for the shell)")
    p.add_argument("--subsample", type=int, default=None,
                   help=f"probe subset size for the costly estimators "
                   f"({', '.join(costly_names())}); 0 = all (default: {costly_help()})")
    p.add_argument("--split", default=None,
                   help="summarise only this probe set, e.g. train or test (default: every "
                   "split; every split is estimated)")
    p.add_argument("--csv", default=None, metavar="PATH",
                   help="also write the sensitivity table as CSV to PATH")
    add_intervals_option(p, None, AS_RUN_HELP)
    add_verbosity_options(p)


def cmd_sweep(args) -> int:
    from infoplane.experiments.sweep import expand_sweeps

    try:
        specs = expand_sweeps(args.specs)
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from None
    run_dir = args.run_dir
    if not os.path.isdir(run_dir):
        raise UsageError(
            f"no such directory: {run_dir}" if not os.path.exists(run_dir) else
            f"{run_dir!r} is a file, not a run directory; pass a run directory, e.g. runs/NAME")
    _check_split(run_dir, args.split)
    setup_jax()
    from infoplane.cli.progress import display
    intervals = intervals_as_run(args.intervals, run_dir)
    n_probe = _estimate(run_dir, specs, args.subsample, intervals, display(args))
    _report(run_dir, specs, n_probe, intervals, args)
    return 0


def _check_split(run_dir: str, split: str | None) -> None:
    from infoplane.store.activations import ActivationStore

    splits = ActivationStore(run_dir).splits()
    if split is not None and splits and split not in splits:
        raise UsageError(f"unknown split {split!r}; this run has {', '.join(splits)}")


def _estimate(run_dir: str, specs: list[str], subsample: int | None, intervals: int | None,
              bar) -> int:
    """Estimate the missing rows of ``specs`` (as ``infoplane estimate``, its progress on
    ``bar``, a `ProgressDisplay`); the probe size."""
    from infoplane.experiments.reestimate import Reestimation
    from infoplane.store.lock import RunDirectoryLocked

    try:
        job = Reestimation(run_dir, specs, subsample, intervals=intervals, progress=bar)
    except (FileNotFoundError, ValueError, RunDirectoryLocked) as err:
        raise UsageError(str(err)) from None
    for line in job.ignored:
        print(f"infoplane sweep: warning: ignored {line}", file=sys.stderr, flush=True)
    for note in job.notes:
        print(note, flush=True)
    if not bar.quiet:
        print(f"infoplane sweep {run_dir}: {len(specs)} parameter sets: {', '.join(specs)}",
              flush=True)
    if job.entries and not bar.quiet:
        print(f"{len(job.entries)} stored epochs to estimate", flush=True)
    if job.entries:
        bar.expect("estimating", len(job.entries))
    try:
        job.run()  # closes the files, releases the lock
        # the probe size the estimators were chosen for (the first split's, as in the job)
        n_probe = len(job.store.read_probe(next(iter(job.layers)))[1])
    except (FileNotFoundError, ValueError) as err:  # a file changed or damaged since the scan
        raise UsageError(f"{err}\n(the rows estimated before it are kept in "
                         f"{job.results_path}; rerun after fixing it to estimate the rest)"
                         ) from None
    finally:
        bar.close()
    if job.entries:
        print(f"appended {job.rows_written} rows to {job.results_path}")
    return n_probe


def _report(run_dir: str, specs: list[str], n_probe: int, intervals: int | None,
            args) -> None:
    """Print the verdicts and the sensitivity table of the swept parameter sets."""
    import warnings

    from infoplane.experiments.sweep import (
        SENSITIVITY_COLUMNS,
        format_sensitivity,
        sensitivity,
        swept_params,
    )
    from infoplane.report.compression import compression_summary
    from infoplane.store.results import load_results
    from infoplane.store.tables import ResultsFileWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsFileWarning)  # reported by the estimate
        table = load_results(run_dir)
    params = swept_params(specs, n_probe, args.subsample, intervals)
    sel = table.where(params=params)
    if args.split is not None:
        sel = sel.where(split=args.split)
    if not len(sel):
        raise UsageError(f"no results of the swept parameter sets in {run_dir} (every "
                         "estimate failed? see failures.csv)")
    for est in sel.unique("estimator"):
        print()
        print(_printable(str(compression_summary(sel, estimator=est)), sys.stdout))
    rows = sensitivity(sel, params)
    print()
    print(_printable(format_sensitivity(rows), sys.stdout))
    if args.csv:
        keys = list(dict.fromkeys(k for r in rows for k, _v in r.values))
        fields = [*SENSITIVITY_COLUMNS[:3], *keys, *SENSITIVITY_COLUMNS[3:]]
        try:
            if os.path.dirname(args.csv):
                os.makedirs(os.path.dirname(args.csv), exist_ok=True)
            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=fields, restval="")
                writer.writeheader()
                writer.writerows(r.as_dict() for r in rows)
        except OSError as err:
            raise UsageError(f"--csv: cannot write {args.csv!r}: {err.strerror or err}") from None
        print(f"wrote {args.csv}")
