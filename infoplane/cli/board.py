"""``infoplane board``: TensorBoard (with the Information plane tab) on the run directories."""

from __future__ import annotations

import errno
import os
import socket

from infoplane.cli._common import UsageError

__all__ = ["add_parser", "cmd_board", "port_in_use"]


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
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535 (0 picks a free one), got {args.port}")
    if args.port and port_in_use(args.host, args.port):
        raise UsageError(f"port {args.port} is in use; pass --port N (another port, or 0 to "
                         "pick a free one)")
    from tensorboard import program

    # The default plugins include those registered under the `tensorboard_plugins` entry
    # point, so our "Information plane" tab is there as with a plain `tensorboard`.
    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", args.logdir, "--host", args.host,
                       "--port", str(args.port)])
    # TensorBoard returns -1 (exit 255) after printing its own error, e.g. a port taken
    # between the check above and its bind: exit 1
    return 0 if tb.main() == 0 else 1


def port_in_use(host: str, port: int) -> bool:
    """Whether TensorBoard cannot listen on ``host:port`` because something already does: a
    server answers on localhost:port (TensorBoard's own test), or binding ``host:port`` fails
    with EADDRINUSE. Other failures (an unknown host, a privileged port) are left to
    TensorBoard to report."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        if s.connect_ex(("localhost", port)) == 0:
            return True
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    for family, kind, proto, _, addr in infos[:1]:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                s.bind(addr)
            except OSError as err:
                return err.errno == errno.EADDRINUSE
    return False
