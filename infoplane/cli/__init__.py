"""The ``infoplane`` command line: one module per command, each only parsing its options and
calling the parts that do the work.

Commands: ``infoplane run`` (train a preset and record its information plane; ``--resume``;
`infoplane.cli.run`), ``infoplane estimate RUN_DIR`` (re-estimate stored activations;
`infoplane.cli.estimate`), ``infoplane sweep RUN_DIR SPEC`` (re-estimate over a grid of estimator
parameters, with the verdict and sensitivity across them; `infoplane.cli.sweep`),
``infoplane plot RUN_DIR`` (figures; `infoplane.cli.plot`),
``infoplane summary RUN_DIR`` (the compression verdict of I(X;T); `infoplane.cli.summary`),
``infoplane board`` (TensorBoard on the run directories; `infoplane.cli.board`),
``infoplane selftest`` (every estimator against ground truth; `infoplane.cli.selftest`).
``infoplane COMMAND --help`` explains every option.

May import every other part of infoplane; nothing imports it.
"""

from __future__ import annotations

import argparse
import sys

from infoplane.cli import board, estimate, plot, run, selftest, summary, sweep
from infoplane.cli._common import UsageError

__all__ = ["build_parser", "main"]

#: The command of each subcommand, in ``infoplane --help`` order.
_COMMANDS = {"run": run.cmd_run, "plot": plot.cmd_plot, "summary": summary.cmd_summary,
             "board": board.cmd_board, "estimate": estimate.cmd_estimate,
             "sweep": sweep.cmd_sweep, "selftest": selftest.cmd_selftest}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (builds the estimators' and presets' lists: imports JAX)."""
    parser = argparse.ArgumentParser(
        prog="infoplane",
        description="Information-plane analysis of neural-network training in JAX/flax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (run, plot, summary, board, estimate, sweep, selftest):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``infoplane`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except UsageError as err:
        print(f"infoplane {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
