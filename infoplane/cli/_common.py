"""What the commands share: the usage error (one line on stderr, exit code 2), the
``--estimators`` parser, the printed table of results, progress lines and the JAX set-up."""

from __future__ import annotations

from infoplane.experiments import runtime
from infoplane.report.tensorboard.format import quantity_symbols

__all__ = ["TABLE_MAX_ROWS", "UsageError", "load_run_table", "log", "parse_estimators",
           "print_table", "setup_jax"]

#: At most this many recorded epochs are shown in the printed table (all are in results.csv).
TABLE_MAX_ROWS = 12


class UsageError(Exception):
    """A bad option value: reported as one line on stderr, exit code 2."""


def parse_estimators(spec: str) -> list[str]:
    """``--estimators``: comma-separated names or specs (``dsmi(sigma=1.0)``), each checked
    by building its estimator."""
    from infoplane.estimators import NAMES, from_spec, split_specs

    try:
        specs = split_specs(spec)
        names = [from_spec(s).name for s in specs]
    except (TypeError, ValueError) as err:
        raise UsageError(f"--estimators: {err}") from None
    if not specs:
        raise UsageError(f"no estimator given; valid names: {', '.join(NAMES)}")
    if len(set(names)) != len(names):
        raise UsageError(
            f"estimator listed twice in {spec!r}; to compare two parameter settings of one "
            "estimator, add the second later with `infoplane estimate`."
        )
    return specs


#: ``--intervals``' default of ``estimate`` and ``sweep``, in their help.
AS_RUN_HELP = ("as the run was recorded (config.json's intervals: 20 for binning and KDE after a "
           "default infoplane run; 0 for other activation stores)")


def add_intervals_option(parser, default: int | None, default_text: str) -> None:
    """The ``--intervals B`` option of ``run`` and ``estimate`` (`infoplane.Intervals`)."""
    parser.add_argument(
        "--intervals", type=int, default=default, metavar="B",
        help="a 95%% confidence interval on every estimate from B subsets of half the probe "
        "drawn without replacement (the delete-d jackknife; columns i_xt_lo, i_xt_hi, i_ty_lo, "
        "i_ty_hi of results.csv, drawn as error bars by infoplane plot); B = 20 or more, 0 = "
        f"off; costs about B/2 more estimates (binning), B/4 (KDE) (default: {default_text})")


def check_intervals(value: int | None) -> None:
    """A UsageError unless ``--intervals`` is None (the default), 0 or 2..10000."""
    if value is not None and value != 0 and not 2 <= value <= 10_000:
        raise UsageError(f"--intervals must be 0 (off) or a number of subsets from 2 to 10000 "
                         f"(20 or more for a 95% interval), got {value}")


def intervals_as_run(value: int | None, run_dir: str) -> int | None:
    """``--intervals`` of ``estimate`` / ``sweep``: the value given, or (None) the run's own
    setting (`infoplane.experiments.sweep.run_intervals`), so that re-estimating an
    estimator the run has lands on the run's rows."""
    from infoplane.experiments.sweep import run_intervals

    check_intervals(value)
    return run_intervals(run_dir) if value is None else value


def per_channel_as_run(value: str | None, run_dir: str) -> bool | str:
    """``--per-channel`` of ``estimate``: "last" / "first" / "off" as given, or (None) the
    setting the run was recorded with (config.json's ``per_channel``, written by every
    `Recorder` with a run directory; False without one), so that re-estimating an estimator
    the run has lands on the run's rows."""
    if value is not None:
        return False if value == "off" else value
    from infoplane.store.config import read_config

    try:
        config = read_config(run_dir)
    except (OSError, ValueError):
        return False
    got = config.get("per_channel", False) if isinstance(config, dict) else False
    return got if got in (True, "last", "first") else False


def _cell(r: dict | None) -> str:
    """``i_xt/i_ty`` of a row, 2 decimals; a NaN (an estimate its estimator flagged as
    unstable, e.g. `Compressed`'s ``flag_stderr``) is printed as "unstable"."""
    if r is None:
        return ""
    return "/".join("unstable" if v != v else f"{v:.2f}" for v in (r["i_xt"], r["i_ty"]))


def print_table(rows: list[dict], layers, out) -> None:
    """Per estimator and split (first seed): rows = recorded epochs (at most TABLE_MAX_ROWS),
    columns = layers, headed by the estimator's quantities (`quantity_symbols`: I(X;T)/I(T;Y),
    DSMI(X;T)/DSMI(T;Y), I_α(X;T)/I_α(T;Y) with α). NaN values print as "unstable" (see
    `_cell`), with a note below."""
    if not rows:
        return
    first_seed = rows[0]["seed"]
    by_est: dict[tuple, dict] = {}
    for r in rows:
        if r["seed"] == first_seed:
            by_est.setdefault((r["estimator"], r["split"]), {})[(r["epoch"], r["layer"])] = r
    for (est, split), cells in by_est.items():
        epochs = sorted({e for e, _ in cells})
        if len(epochs) > TABLE_MAX_ROWS:
            pick = {
                round(i * (len(epochs) - 1) / (TABLE_MAX_ROWS - 1)) for i in range(TABLE_MAX_ROWS)
            }
            epochs = [epochs[i] for i in sorted(pick)]
        text = {(e, layer): _cell(cells.get((e, layer))) for e in epochs for layer in layers}
        width = max(11, *(len(layer) + 2 for layer in layers),
                    *(len(c) + 2 for c in text.values()))
        first = next(iter(cells.values()))
        xt, ty, note = quantity_symbols(est, first["params"])
        note = f", {note}" if note else ""
        print(_printable(f"\n{est} ({split}, seed {first_seed}): {xt}/{ty} in "
                         f"{first['units']}{note}", out), file=out)
        print("  epoch" + "".join(f"{layer:>{width}}" for layer in layers), file=out)
        for e in epochs:
            print(f"{e:>7}" + "".join(text[(e, layer)].rjust(width) for layer in layers),
                  file=out)
        if any("unstable" in c for c in text.values()):
            print("  unstable: flagged by the estimator, the number is meaningless: its "
                  "standard error is too large, or samples share a noisy code (aux "
                  "n_coincident > 0, e.g. dead ReLU units under relative noise). NaN in "
                  "results.csv; the value and its standard error are in aux.csv", file=out)


#: ASCII spellings of the non-ASCII letters of the quantity names, for a terminal that has
#: no encoding for them (e.g. cp1252 has no α).
_ASCII = {"α": "alpha", "é": "e", "±": "+-"}


def _printable(text: str, out) -> str:
    """``text`` as ``out`` can encode it: unchanged, or with `_ASCII` spellings."""
    try:
        text.encode(getattr(out, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        for a, b in _ASCII.items():
            text = text.replace(a, b)
    return text


def load_run_table(run_dir: str):
    """The results table of ``run_dir`` for a command that reads one (plot, summary): a
    UsageError when it is no directory, unreadable or empty; a damaged file's warnings on
    stderr."""
    import os
    import sys
    import warnings

    from infoplane.store.results import load_results
    from infoplane.store.tables import ResultsFileWarning

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
    return table


def log(msg: str) -> None:
    print(msg, flush=True)


def setup_jax() -> None:
    """The CPU cores as JAX devices and the compilation cache (`infoplane.experiments.runtime`);
    a bad ``INFOPLANE_CPU_DEVICES`` is a usage error."""
    try:
        runtime.use_cpu_cores()
    except ValueError as err:
        raise UsageError(str(err)) from None
    runtime.enable_compilation_cache()
