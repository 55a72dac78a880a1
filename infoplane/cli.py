"""The ``infoplane`` command line (argument parsing only; the work is in `infoplane.quickrun`).

Usage: ``infoplane run [--preset tishby-tanh] [--epochs 3000] [--points 20]
[--estimators binning,adaptive_binning,kde] [--seed 0] [--logdir runs] [--name NAME]``;
``infoplane run --help`` explains every option.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import sys
import time

RESULT_COLUMNS = (
    "run",
    "seed",
    "split",
    "epoch",
    "layer",
    "estimator",
    "i_xt",
    "i_ty",
    "units",
    "params",
)
ACCURACY_COLUMNS = ("epoch", "train_acc", "test_acc", "train_loss")
#: At most this many recorded epochs are shown in the printed table (all are in results.csv).
TABLE_MAX_ROWS = 12


class _UsageError(Exception):
    """A bad option value: reported as one line on stderr, exit code 2."""


def _build_parser():
    from infoplane.estimators import NAMES
    from infoplane.quickrun import DEFAULT_EPOCHS, DEFAULT_ESTIMATORS, DEFAULT_POINTS, PRESETS

    parser = argparse.ArgumentParser(
        prog="infoplane",
        description="Information-plane analysis of neural-network training in JAX/flax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="train a preset network, record its layers and estimate their information plane",
        description=(
            "Train the Shwartz-Ziv & Tishby 12-10-7-5-4-3-2 network on the generated 12-bit "
            "dataset (infoplane.datasets.tishby_dataset; Adam lr 4e-4, batch 256, random 80/20 "
            "split), record every layer on all 4096 inputs at log-spaced epochs, and estimate "
            "I(X;T) and I(T;Y) of every layer with each estimator. Writes "
            "LOGDIR/NAME/config.json (all options, to reproduce the run), "
            "LOGDIR/NAME/results.csv (one row per epoch, layer and estimator) and "
            "LOGDIR/NAME/accuracy.csv, then prints a summary table."
        ),
        epilog=(
            "example: infoplane run --preset tishby-relu --epochs 2000 --estimators binning,kde "
            "--name relu-test. The printed table shows, per estimator, I(X;T)/I(T;Y) of each "
            "layer (columns) at up to 12 recorded epochs (rows); results.csv has them all."
        ),
    )
    run.add_argument(
        "--preset",
        default="tishby-tanh",
        help=f"network preset: {', '.join(PRESETS)} (tanh or ReLU hidden layers, softmax "
        "output; default: %(default)s)",
    )
    run.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help="number of training epochs (default: %(default)s, enough to show fitting, then "
        "compression, with tanh)",
    )
    run.add_argument(
        "--points",
        type=int,
        default=DEFAULT_POINTS,
        help="number of log-spaced epochs to record, from 0 (before training) to EPOCHS; "
        "rounding may merge a few early ones (default: %(default)s)",
    )
    run.add_argument(
        "--estimators",
        default=",".join(DEFAULT_ESTIMATORS),
        help=f"comma-separated estimator names from: {', '.join(NAMES)}; each runs with its "
        "default parameters, recorded in the params column of results.csv "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the train/test split, the initial weights and the shuffling "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--logdir",
        default="runs",
        help="directory that holds the run directories (default: %(default)s)",
    )
    run.add_argument(
        "--name",
        default=None,
        help="run directory name under LOGDIR (default: PRESET-YYYYmmdd-HHMMSS); an existing "
        "directory is never overwritten",
    )
    return parser


def _parse_estimators(spec: str) -> list[str]:
    from infoplane.estimators import NAMES

    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise _UsageError(f"no estimator given; valid names: {', '.join(NAMES)}")
    for n in names:
        if n not in NAMES:
            raise _UsageError(f"unknown estimator {n!r}; valid names: {', '.join(NAMES)}")
    if len(set(names)) != len(names):
        raise _UsageError(f"estimator listed twice in {spec!r}")
    return names


def _check_args(args) -> list[str]:
    from infoplane.quickrun import PRESETS

    if args.preset not in PRESETS:
        raise _UsageError(f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}")
    if args.epochs < 1:
        raise _UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.points < 2:
        raise _UsageError(f"--points must be at least 2, got {args.points}")
    if args.name is not None and (not args.name or os.sep in args.name or args.name in (".", "..")):
        raise _UsageError(f"--name must be a plain directory name, got {args.name!r}")
    return _parse_estimators(args.estimators)


def _print_table(rows: list[dict], layers, out) -> None:
    """Per estimator: rows = recorded epochs (at most TABLE_MAX_ROWS), columns = layers."""
    by_est: dict[str, dict] = {}
    for r in rows:
        by_est.setdefault(r["estimator"], {})[(r["epoch"], r["layer"])] = r
    for est, cells in by_est.items():
        epochs = sorted({e for e, _ in cells})
        if len(epochs) > TABLE_MAX_ROWS:
            pick = {
                round(i * (len(epochs) - 1) / (TABLE_MAX_ROWS - 1)) for i in range(TABLE_MAX_ROWS)
            }
            epochs = [epochs[i] for i in sorted(pick)]
        units = next(iter(cells.values()))["units"]
        print(f"\n{est}: I(X;T)/I(T;Y) in {units}", file=out)
        width = 11
        print("  epoch" + "".join(f"{layer:>{width}}" for layer in layers), file=out)
        for e in epochs:
            line = f"{e:>7}"
            for layer in layers:
                r = cells.get((e, layer))
                line += f"{r['i_xt']:.2f}/{r['i_ty']:.2f}".rjust(width) if r else " " * width
            print(line, file=out)


def _cmd_run(args) -> int:
    est_names = _check_args(args)
    name = args.name or f"{args.preset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run_dir = os.path.join(args.logdir, name)
    try:
        os.makedirs(run_dir, exist_ok=False)
    except FileExistsError:
        print(
            f"infoplane run: error: run directory {run_dir!r} already exists and is never "
            "overwritten; choose another name with --name",
            file=sys.stderr,
        )
        return 1

    import jax

    import infoplane
    from infoplane import quickrun
    from infoplane.estimators import by_name

    t_start = time.perf_counter()
    config = {
        "command": "run",
        "run": name,
        "preset": args.preset,
        "epochs": args.epochs,
        "points": args.points,
        "recorded_epochs": quickrun.log_spaced_epochs(args.epochs + 1, args.points).tolist(),
        "estimators": est_names,
        "estimator_params": {n: dict(by_name(n).params()) for n in est_names},
        "seed": args.seed,
        "logdir": args.logdir,
        "dataset": "infoplane.datasets.tishby_dataset",
        "widths": list(quickrun.mlp_widths),
        "learning_rate": quickrun.LEARNING_RATE,
        "batch_size": quickrun.BATCH_SIZE,
        "train_fraction": quickrun.TRAIN_FRACTION,
        "layers": list(quickrun.LAYER_NAMES),
        "versions": {
            "infoplane": infoplane.__version__,
            "jax": jax.__version__,
            "python": platform.python_version(),
        },
        "argv": list(args.argv),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    try:
        import flax
        import optax

        config["versions"].update(flax=flax.__version__, optax=optax.__version__)
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")

    print(
        f"infoplane run {name}: preset {args.preset}, {args.epochs} epochs, "
        f"{len(config['recorded_epochs'])} recorded, estimators {', '.join(est_names)}, "
        f"seed {args.seed} -> {run_dir}",
        flush=True,
    )

    def log(msg: str) -> None:
        print(msg, flush=True)

    log("training")
    rec = quickrun.train_and_record(args.preset, args.epochs, args.points, args.seed, log=log)
    log(f"trained and recorded in {rec.train_seconds:.1f} s")
    with open(os.path.join(run_dir, "accuracy.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(ACCURACY_COLUMNS)
        for row in zip(rec.epochs, rec.train_acc, rec.test_acc, rec.train_loss, strict=True):
            w.writerow([int(row[0]), *(repr(float(v)) for v in row[1:])])

    log("estimating")
    t0 = time.perf_counter()
    with open(os.path.join(run_dir, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        f.flush()

        def on_rows(new_rows):
            writer.writerows(new_rows)
            f.flush()

        rows = quickrun.estimate_recording(rec, est_names, run=name, on_rows=on_rows, log=log)
    t_est = time.perf_counter() - t0
    log(f"estimated in {t_est:.1f} s")

    _print_table(rows, quickrun.LAYER_NAMES, sys.stdout)
    print(
        f"\naccuracy after {args.epochs} epochs: train {rec.train_acc[-1]:.4f}, "
        f"test {rec.test_acc[-1]:.4f}"
    )
    print(
        f"time: training {rec.train_seconds:.1f} s, estimation {t_est:.1f} s, "
        f"total {time.perf_counter() - t_start:.1f} s"
    )
    print(f"wrote {run_dir}/config.json, results.csv, accuracy.csv")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``infoplane`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _cmd_run(args)
    except _UsageError as err:
        print(f"infoplane {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
