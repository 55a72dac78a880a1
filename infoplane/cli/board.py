"""``infoplane board``: TensorBoard (with the Information plane tab) on the run directories."""

from __future__ import annotations

import os

from infoplane.cli._common import UsageError

__all__ = ["add_parser", "cmd_board"]


def add_parser(sub) -> None:
    """The ``board`` subcommand and its options."""
    board = sub.add_parser(
        "board",
        help="start TensorBoard on the run directories",
        description="Start TensorBoard (scalars, images, hparams and the Information plane "
        "tab) on LOGDIR; the same as `tensorboard --logdir LOGDIR`. Ctrl+C stops it.",
    )
    board.add_argument("logdir", nargs="?", default="runs", metavar="LOGDIR",
                       help="directory of run directories (default: %(default)s)")
    board.add_argument("--port", type=int, default=6006,
                       help="port; 0 picks a free one (default: %(default)s)")
    board.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 to reach it from other machines "
                       "(default: %(default)s)")


def cmd_board(args) -> int:
    if not os.path.isdir(args.logdir):
        raise UsageError(
            f"{args.logdir!r} is not a directory; run `infoplane run` first (it writes runs/) "
            "or pass the directory holding your run directories"
        )
    from tensorboard import program

    # The default plugins include those registered under the `tensorboard_plugins` entry
    # point, so our "Information plane" tab is there as with a plain `tensorboard`.
    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", args.logdir, "--host", args.host,
                       "--port", str(args.port)])
    return tb.main()
