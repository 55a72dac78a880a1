"""``--quiet`` / ``--verbose`` of the long commands (run, estimate, sweep) and their progress
display on stderr (`infoplane.recording.progress.ProgressDisplay`, drawn with rich: bars in
place on a terminal, plain lines at every 10% elsewhere).

- quiet: no bars and no progress lines; only errors, warnings and the final table / verdict;
- normal (default): the bars (training epochs; estimation naming the estimator, layer and
  epoch, and each compilation) and the commands' progress lines;
- verbose: also a line per stage with its time (each compilation, each flush's estimators).
"""

from __future__ import annotations

from collections.abc import Callable

from infoplane.cli._common import log as _log
from infoplane.recording.progress import ProgressDisplay

__all__ = ["add_verbosity_options", "display", "level", "logger"]


def add_verbosity_options(parser) -> None:
    """``--quiet`` / ``--verbose`` (exclusive) on a subcommand's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or progress lines: only errors, warnings and "
                       "the final table / verdict")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="also print each stage with its time (compilations, each "
                       "estimation flush per estimator)")


def level(args) -> str:
    """The display level of parsed ``args`` (`infoplane.recording.progress.LEVELS`)."""
    if getattr(args, "quiet", False):
        return "quiet"
    return "verbose" if getattr(args, "verbose", False) else "normal"


def display(args, stream=None) -> ProgressDisplay:
    """The progress display of a command run with ``args`` (on stderr)."""
    return ProgressDisplay(level(args), stream=stream)


def logger(args) -> Callable[[str], None]:
    """The progress-line sink of a command: stdout, nothing when quiet."""
    return (lambda _msg: None) if level(args) == "quiet" else _log
