"""``infoplane selftest``: every estimator against analytic ground truth
(`infoplane.estimators.selftest`)."""

from __future__ import annotations

import sys

from infoplane.cli._common import UsageError

__all__ = ["add_parser", "cmd_selftest"]


def add_parser(sub) -> None:
    """The ``selftest`` subcommand and its options."""
    st = sub.add_parser(
        "selftest",
        help="check every estimator against analytic ground truth and print a table",
        description="Runs each estimator on data with known entropies / mutual information "
        "and prints expected vs estimated values; exit code 0 when every check passes.",
    )
    st.add_argument("--only", default=None,
                    help="comma-separated estimator names to check (default: all)")


def cmd_selftest(args) -> int:
    from infoplane.estimators import selftest as ground_truth

    only = None if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    try:
        res = ground_truth.run_selftest(sys.stdout, only=only)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return 0 if all(r.passed for r in res) else 1
