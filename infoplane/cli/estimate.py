"""``infoplane estimate RUN_DIR``: re-estimate a finished run's stored activations with other
estimators (`infoplane.experiments.reestimate`)."""

from __future__ import annotations

import os
import sys

from infoplane.cli._common import (
    AS_RUN_HELP,
    UsageError,
    add_intervals_option,
    intervals_as_run,
    parse_estimators,
    per_channel_as_run,
    print_table,
    setup_jax,
)

__all__ = ["add_parser", "cmd_estimate"]


def add_parser(sub) -> None:
    """The ``estimate`` subcommand and its options."""
    from infoplane.cli.progress import add_verbosity_options
    from infoplane.cli.run import costly_help, costly_names
    from infoplane.estimators import NAMES

    costly = costly_help()
    est = sub.add_parser(
        "estimate",
        help="re-estimate a finished run's stored activations with other estimators",
        description=(
            "Read RUN_DIR/activations/ (written by `infoplane run --store-activations`, or by "
            "any framework: probe-<split>.npz with x and y, and <split>/seed<k>/epoch<e>.npz "
            "with one array per layer, see the README), estimate every stored epoch and layer "
            "with each estimator, and append the rows to RUN_DIR/results.csv (created if "
            "absent; nothing else is needed). It resumes: only the rows missing from "
            "results.csv are estimated (a killed estimate continues where it stopped; an "
            "estimator already complete with the same parameters is a no-op that says so)."
        ),
    )
    est.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    add_verbosity_options(est)
    est.add_argument("--estimators", required=True,
                     help=f"comma-separated estimators from: {', '.join(NAMES)}, names or "
                     "specs with parameters such as 'dsmi(sigma=1.0)' (see `infoplane run "
                     "--help`)")
    est.add_argument("--subsample", type=int, default=None,
                     help=f"probe subset size for the costly estimators "
                     f"({', '.join(costly_names())}); 0 = all (default: {costly})")
    add_intervals_option(est, None, AS_RUN_HELP)
    est.add_argument("--per-channel", nargs="?", const="last", default=None,
                     choices=("last", "first", "off"), metavar="last|first|off",
                     help="estimate conv maps (stored layers with more than one axis per "
                     "sample) channel by channel: results the mean over channels, aux.csv "
                     "each channel; 'last' (the flag alone) for (N, H, W, C) maps as flax and "
                     "JAX store them, 'first' for PyTorch's (N, C, H, W), 'off' flattened. "
                     "Rows of their own beside the flattened ones. Default: as the run was "
                     "recorded (config.json's per_channel; flattened for other stores)")


def cmd_estimate(args) -> int:
    from infoplane.cli.progress import display
    from infoplane.experiments.reestimate import Reestimation
    from infoplane.store.lock import RunDirectoryLocked

    names = parse_estimators(args.estimators)
    run_dir = args.run_dir
    if not os.path.isdir(run_dir):
        raise UsageError(
            f"no such directory: {run_dir}" if not os.path.exists(run_dir) else
            f"{run_dir!r} is a file, not a run directory; pass a run directory, e.g. runs/NAME")
    setup_jax()
    bar = display(args)  # every flush's estimator, layer and epochs on stderr
    try:
        job = Reestimation(run_dir, names, args.subsample,
                           intervals=intervals_as_run(args.intervals, run_dir),
                           per_channel=per_channel_as_run(args.per_channel, run_dir),
                           progress=bar)
    except (FileNotFoundError, ValueError, RunDirectoryLocked) as err:
        raise UsageError(str(err)) from None
    for line in job.ignored:
        print(f"infoplane estimate: warning: ignored {line}", file=sys.stderr, flush=True)
    for note in job.notes:
        print(note, flush=True)
    if not job.entries:
        job.run()  # closes the files, releases the lock
        return 0
    if not bar.quiet:
        print(f"infoplane estimate {run_dir}: {len(job.entries)} stored epochs to estimate, "
              f"estimators {', '.join(names)}", flush=True)
    bar.expect("estimating", len(job.entries))
    try:
        recs = job.run()
    except (FileNotFoundError, ValueError) as err:  # a file changed or damaged since the scan
        raise UsageError(f"{err}\n(the rows estimated before it are kept in "
                         f"{job.results_path}; rerun after fixing it to estimate the rest)"
                         ) from None
    finally:
        bar.close()
    for rec in recs:
        print_table(rec.results().rows(), rec.layer_names or (), sys.stdout)
    print(f"appended {job.rows_written} rows to {job.results_path}")
    return 0
