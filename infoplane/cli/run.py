"""``infoplane run``: train a preset network, record its layers and estimate their
information plane (`infoplane.experiments.run`); ``--resume`` continues a run directory."""

from __future__ import annotations

import datetime
import os
import sys

from infoplane.cli._common import (
    UsageError,
    add_intervals_option,
    check_intervals,
    parse_estimators,
    print_table,
    setup_jax,
)

__all__ = ["add_parser", "check_args", "cmd_run", "costly_help", "costly_names",
           "ignored_on_resume", "interrupted", "parse_schedule", "parse_seeds", "report"]


def costly_help() -> str:
    """The default subsample sizes of the costly estimators, for the ``--subsample`` help."""
    from infoplane.experiments.presets import COSTLY

    return ", ".join(f"{k} {v}" for k, v in COSTLY.items())


def costly_names() -> list[str]:
    """The estimators that see a subsample by default (`infoplane.experiments.presets.COSTLY`)."""
    from infoplane.experiments.presets import COSTLY

    return list(COSTLY)


def add_parser(sub) -> None:
    """The ``run`` subcommand and its options."""
    from infoplane.estimators import NAMES
    from infoplane.experiments.presets import DEFAULT_ESTIMATORS, PRESETS

    presets = "; ".join(f"{p.name}: {p.description} ({p.epochs} epochs)" for p in PRESETS.values())
    run = sub.add_parser(
        "run",
        help="train a preset network, record its layers and estimate their information plane",
        description=(
            "Train a preset network with optax (several seeds together), record every layer "
            "at the scheduled epochs and estimate I(X;T) and I(T;Y) of every layer with each "
            "estimator. Writes LOGDIR/NAME/: config.json (everything needed to reproduce), "
            "results.csv (one row per seed, split, epoch, layer and estimator, appended as it "
            "goes), metrics.csv (accuracy and loss), checkpoints/ (for --resume) and, with "
            "--store-activations, activations/ (for `infoplane estimate`). Presets: " + presets
        ),
        epilog=(
            "examples: infoplane run;  infoplane run --preset tishby-relu --seeds 3 "
            "--estimators binning,kde --name relu;  infoplane run --preset digits-cnn;  "
            "infoplane run --preset data --data mine.npz;  infoplane run --preset tishby-tanh "
            "--data var_u.mat --seeds 5;  infoplane run --preset mnist-cnn --data ~/mnist;  "
            "infoplane run --preset mnist-cnn --data ~/mnist --limit 1000 --epochs 5 (a "
            "reduced run for a CPU);  infoplane run --preset cifar-cnn --data "
            "~/cifar-10-batches-py;  infoplane run --preset mnist1d-mlp;  "
            "infoplane run --preset tishby-relu --widths 12,10,7,5,4,3 --activation gelu "
            "--optimizer sgd --lr 0.01 --weight-decay 1e-4;  "
            "infoplane run --resume runs/relu;  infoplane run --resume runs/relu --epochs 6000 "
            "(train longer)"
        ),
    )
    run.add_argument("--preset", default=None,
                     help=f"experiment: {', '.join(PRESETS)} (default: tishby-tanh; with "
                     "--data FILE.npz alone: data)")
    run.add_argument("--epochs", type=int, default=None,
                     help="training epochs (default: the preset's, 3000 for tishby-*)")
    run.add_argument("--points", type=int, default=None,
                     help="number of log-spaced epochs to record, from 0 (before training) to "
                     "EPOCHS; rounding may merge a few early ones (default: the preset's, 20)")
    run.add_argument("--schedule", default=None,
                     help="which epochs to record: 'log' (log-spaced, --points of them), 'every' "
                     "(every epoch) or a comma-separated list of epochs (default: the "
                     "preset's: every for mnist-cnn, log for the others)")
    own = "; ".join(f"{p.name}: {','.join(p.estimators)}" for p in PRESETS.values()
                    if p.estimators is not None)
    run.add_argument("--estimators", default=None,
                     help=f"comma-separated estimators from: {', '.join(NAMES)}, each a name "
                     "(default parameters) or a spec with parameters, e.g. 'kde(sigma2=0.01)' "
                     "or \"compressed(noise='absolute', dim=3)\" (quote the list in the "
                     "shell); every parameter is recorded in the params column of results.csv "
                     f"(default: {','.join(DEFAULT_ESTIMATORS)}; {own})")
    costly = costly_help()
    run.add_argument("--subsample", type=int, default=None,
                     help=f"the costly estimators ({', '.join(costly_names())}) see a "
                     "stratified subset of "
                     "this many probe samples, the same at every epoch, recorded in their "
                     f"params; 0 = the whole probe (default: {costly})")
    run.add_argument("--seed", type=int, default=0,
                     help="first seed: initial weights, minibatch order and the train/test "
                     "split (default: %(default)s)")
    run.add_argument("--seeds", default="1",
                     help="a count N (seeds SEED..SEED+N-1) or a comma-separated list of seeds, "
                     "trained together with jax.vmap; the split is drawn with the first "
                     "(default: %(default)s)")
    run.add_argument("--data", default=None,
                     help="your data (nothing is downloaded): for --preset data an .npz with "
                     "arrays x (N, ...) and y (N,); for --preset tishby-tanh / tishby-relu the "
                     "original var_u.mat of Shwartz-Ziv & Tishby (your own copy) or an .npz of "
                     "vectors, trained with the preset's 12-10-7-5-4-3-2 network instead of "
                     "the generated task; for --preset mnist-cnn (needed) a directory holding "
                     "the four MNIST or Fashion-MNIST IDX files (train-images-idx3-ubyte, "
                     "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
                     "each gzipped or not) or Keras's mnist.npz; for --preset cifar-cnn "
                     "(needed) the cifar-10-batches-py directory of the python batches. "
                     "Given without --preset: a .mat file selects tishby-tanh, an .npz the "
                     "data preset")
    run.add_argument("--limit", type=int, default=None, metavar="N",
                     help="use only the first N training and the first N test samples: a "
                     "reduced run, e.g. --limit 1000 for mnist-cnn or cifar-cnn on a CPU "
                     "(default: all; recorded in config.json)")
    from infoplane.cli.network import add_arguments as add_network_arguments

    add_network_arguments(run)
    run.add_argument("--logdir", default="runs",
                     help="directory that holds the run directories (default: %(default)s)")
    run.add_argument("--name", default=None,
                     help="run directory name under LOGDIR (default: PRESET-YYYYmmdd-HHMMSS); "
                     "an existing directory is never overwritten")
    run.add_argument("--resume", default=None, metavar="RUN_DIR",
                     help="continue RUN_DIR from its last checkpoint with its own settings (other "
                     "options are ignored): no epoch is duplicated or missing; with --epochs N "
                     "train it (finished or not) to N epochs in all, the log-spaced schedule "
                     "extended after its old last epoch")
    run.add_argument("--store-activations", action="store_true",
                     help="also save every recorded activation (activations/, opt-in, can be "
                     "large) so `infoplane estimate` can re-estimate the run later")
    run.add_argument("--buffer", type=int, default=None,
                     help="recorded epochs estimated together in one batched call (default: 1, "
                     "each recorded epoch written and checkpointed at once; 16 with --schedule "
                     "every, about twice the throughput). A killed run loses at most the epoch "
                     "in flight either way: buffered epochs wait in RUN_DIR/pending/ and "
                     "--resume estimates them first")
    run.add_argument("--null", type=int, default=0, metavar="P",
                     help="also estimate I(T;Y) of P fixed random permutations of the labels at "
                     "every layer-epoch, the estimator's bias floor (aux.csv i_ty_null, drawn "
                     "dotted by infoplane plot; P more estimates each; default: 0, off)")
    add_intervals_option(run, None, "20 for binning and KDE, off for the others")
    run.add_argument("--shuffle-labels", action="store_true",
                     help="train on labels permuted at random (a network fitting noise; the "
                     "probes and estimates use the same labels)")
    run.add_argument("--per-channel", action="store_true",
                     help="estimate conv layers channel by channel (results: the mean over "
                     "channels; aux.csv: each channel) instead of on the flattened map")
    run.add_argument("--probe-batch", type=int, default=None, metavar="ROWS",
                     help="probe rows per forward pass when recording (default: the whole "
                     "probe up to 8192 rows, else 2048)")
    run.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                     help="do not write TensorBoard event files into the run directory")
    run.add_argument("--image-every", type=int, default=5,
                     help="redraw the information-plane image in TensorBoard after this many "
                     "recorded epochs; 0 = only at the end (default: %(default)s)")
    from infoplane.cli.progress import add_verbosity_options

    add_verbosity_options(run)  # --quiet / --verbose


#: Most seeds one run trains together (vmap), and the largest seed (jax.random.PRNGKey).
MAX_SEEDS, SEED_MAX = 4096, 2**31 - 1


def parse_seeds(args) -> list[int]:
    spec = args.seeds.strip()
    try:
        if "," in spec:
            seeds = [int(v) for v in spec.split(",") if v.strip()]
        else:
            count = int(spec)
            if count < 1:
                raise UsageError(f"--seeds must be a count >= 1 or a list, got {spec!r}")
            if count > MAX_SEEDS:
                raise UsageError(f"--seeds {count}: at most {MAX_SEEDS} seeds are trained "
                                 "together; split the runs")
            seeds = list(range(args.seed, args.seed + count))
    except ValueError:
        raise UsageError(
            f"--seeds must be a count (e.g. 3) or a comma-separated list (e.g. 0,4,7), got {spec!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UsageError(f"--seeds must be distinct non-negative integers, got {spec!r}")
    if max(seeds) > SEED_MAX or len(seeds) > MAX_SEEDS:
        raise UsageError(f"--seeds: at most {MAX_SEEDS} seeds, each at most {SEED_MAX} (a "
                         f"32-bit PRNG seed), got {spec!r} from --seed {args.seed}")
    return seeds


def parse_schedule(spec: str | None):
    if spec is None or spec in ("log", "every"):
        return spec
    try:
        epochs = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--schedule must be 'log', 'every' or a list of epochs like 0,10,100; got {spec!r}"
        ) from None
    if not epochs or min(epochs) < 0:
        raise UsageError(f"--schedule epochs must be >= 0, got {spec!r}")
    return epochs


def check_args(args) -> list[str]:
    from infoplane.experiments.presets import PRESETS

    if args.preset is None:
        is_mat = args.data is not None and args.data.lower().endswith(".mat")
        args.preset = "data" if args.data is not None and not is_mat else "tishby-tanh"
    if args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}")
    preset = PRESETS[args.preset]
    from infoplane.experiments.presets import data_problem, preset_estimators

    problem = data_problem(preset, args.data)
    if problem:
        raise UsageError(problem.replace(" (data= in Python)", ""))
    if args.probe_batch is not None and args.probe_batch < 1:
        raise UsageError(f"--probe-batch must be at least 1 (rows per forward pass), got "
                         f"{args.probe_batch}")
    check_intervals(args.intervals)
    if not 0 <= args.null <= 1000:
        raise UsageError(f"--null must be a number of label permutations from 0 (off) to "
                         f"1000, got {args.null}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (samples kept of each split), got "
                         f"{args.limit}")
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.points is not None and args.points < 2:
        raise UsageError(f"--points must be at least 2, got {args.points}")
    if args.subsample is not None and args.subsample < 0:
        raise UsageError(f"--subsample must be >= 0, got {args.subsample}")
    if args.buffer is not None and args.buffer < 1:
        raise UsageError(f"--buffer must be at least 1, got {args.buffer}")
    if args.image_every < 0:
        raise UsageError(f"--image-every must be >= 0 (recorded epochs between "
                         f"information-plane images; 0: only at the end), got {args.image_every}")
    if args.name is not None:
        from infoplane.recording.inputs import check_run_name

        try:
            check_run_name(args.name, "--name")
        except ValueError as err:
            raise UsageError(str(err)) from None
    if os.path.exists(args.logdir) and not os.path.isdir(args.logdir):
        raise UsageError(f"--logdir {args.logdir!r} is a file, not a directory; pass the "
                         "directory that holds the run directories (default: runs)")
    if args.estimators is None:
        args.estimators = ",".join(preset_estimators(preset))
    return parse_estimators(args.estimators)


def cmd_run(args) -> int:
    from infoplane.experiments import presets
    from infoplane.experiments import run as experiment
    from infoplane.store.lock import RunDirectoryLocked

    setup_jax()
    from infoplane.cli.progress import display, logger

    say = logger(args)  # progress lines on stdout, none with --quiet

    if args.resume is not None:
        if not os.path.isdir(args.resume):
            raise UsageError(f"--resume: {args.resume!r} is not a directory")
        ignored = ignored_on_resume(getattr(args, "argv", None) or [])
        if ignored:
            print(f"note: --resume continues {args.resume} with the settings in its "
                  f"config.json; ignored: {', '.join(ignored)}", file=sys.stderr, flush=True)
        bar = display(args)  # the training and estimation bars on stderr
        try:
            summary = experiment.resume_experiment(args.resume, epochs=args.epochs, log=say,
                                                   progress=bar)
        except (FileNotFoundError, ValueError, RunDirectoryLocked) as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            bar.close()  # the bars end before the message
            return interrupted(args.resume)
        finally:
            bar.close()
        return report(summary)
    est_names = check_args(args)
    from infoplane.cli.network import network_overrides

    network = network_overrides(args, presets.PRESETS[args.preset])
    seeds = parse_seeds(args)
    schedule = parse_schedule(args.schedule)
    name = args.name or f"{args.preset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run_dir = os.path.join(args.logdir, name)
    refusal = existing_run_dir(run_dir)
    if refusal:
        print(f"infoplane run: error: {refusal}", file=sys.stderr)
        return 1
    preset = presets.PRESETS[args.preset]
    epochs = preset.epochs if args.epochs is None else args.epochs
    say(
        f"infoplane run {name}: preset {args.preset}, {epochs} epochs, seeds "
        f"{','.join(map(str, seeds))}, estimators {', '.join(est_names)}; "
        f"{_intervals_text(args.intervals, est_names)}",
    )  # the run directory is announced (log) once the data has loaded and it is created
    bar = display(args)
    bar.expect("training", epochs)
    try:
        summary = experiment.run_experiment(
            args.preset, epochs=args.epochs, points=args.points, schedule=schedule,
            estimators=est_names, seeds=seeds, data=args.data, logdir=args.logdir, name=name,
            store_activations=args.store_activations, subsample=args.subsample,
            buffer=args.buffer, log=say, progress=bar, argv=args.argv,
            tensorboard=args.tensorboard, image_every=args.image_every, limit=args.limit,
            per_channel=args.per_channel, probe_batch=args.probe_batch, null=args.null,
            intervals=args.intervals,
            shuffle_labels=args.shuffle_labels, network=network,
        )
    except (FileNotFoundError, FileExistsError, KeyError, ValueError,
            RunDirectoryLocked) as err:
        raise UsageError(_error_text(err)) from None
    except KeyboardInterrupt:
        bar.close()
        return interrupted(run_dir)
    finally:
        bar.close()
    return report(summary)


#: Options of ``infoplane run`` that a resume takes from config.json instead (not --epochs:
#: ``--resume RUN_DIR --epochs N`` trains the run to N epochs).
_RUN_ONLY = ("--preset", "--points", "--schedule", "--estimators", "--seeds",
             "--seed", "--data", "--logdir", "--name", "--store-activations", "--subsample",
             "--buffer", "--no-tensorboard", "--image-every", "--limit", "--per-channel",
             "--probe-batch", "--null", "--intervals", "--shuffle-labels", "--widths",
             "--activation", "--lr", "--batch-size", "--optimizer", "--weight-decay")


def _intervals_text(intervals: int | None, names: list[str]) -> str:
    """What ``--intervals`` puts on which estimators, for the run's first line."""
    if intervals == 0:
        return "no intervals"
    if intervals is not None:
        return f"95% intervals ({intervals} subsets) on every estimator"
    from infoplane.estimators import from_spec
    from infoplane.experiments.presets import DEFAULT_INTERVALS, has_default_intervals

    on = [n for n in names if has_default_intervals(from_spec(n))]
    return (f"95% intervals ({DEFAULT_INTERVALS} subsets) on {', '.join(on)}" if on
            else "no intervals")


def ignored_on_resume(argv) -> list[str]:
    """The options in ``argv`` that ``--resume`` ignores (the run's config.json has them)."""
    given = [a.split("=", 1)[0] for a in argv if isinstance(a, str) and a.startswith("--")]
    return [o for o in _RUN_ONLY if o in given]


def interrupted(run_dir: str) -> int:
    """Ctrl-C: one message, no traceback; what was written stays (estimated epochs in the
    tables, buffered ones in ``pending/``), and the command that continues it. Exit 130."""
    from infoplane.store import layout

    print("", file=sys.stderr)
    if os.path.isfile(os.path.join(run_dir, layout.CONFIG_FILE)):
        print(f"interrupted: what was recorded so far is kept in {run_dir} (estimated epochs "
              "in its tables, buffered ones in pending/). Continue it with:\n"
              f"  infoplane run --resume {run_dir}", file=sys.stderr)
    else:
        print(f"interrupted before anything was recorded (no run in {run_dir}).",
              file=sys.stderr)
    return 130


def _error_text(err: Exception) -> str:
    """The message of a harness error as one line for the command line: a KeyError's own text
    (``str(KeyError)`` is its repr, in quotes), without the "(data= in Python)" aside."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else err
    return str(text).replace(" (data= in Python)", "")


def existing_run_dir(run_dir: str) -> str | None:
    """Why ``infoplane run`` does not write into ``run_dir`` (None: it may). An empty directory
    (or one holding only a lock file left by a killed start) holds no run yet and is used."""
    from infoplane.store import layout
    from infoplane.store.lock import LOCK_FILE

    if not os.path.exists(run_dir):
        return None
    if not os.path.isdir(run_dir):
        return f"{run_dir!r} exists and is a file, not a run directory; choose another --name"
    if os.path.isfile(os.path.join(run_dir, layout.CONFIG_FILE)):
        return (f"run directory {run_dir!r} already exists and is never overwritten; choose "
                f"another name with --name, or continue it with --resume {run_dir}")
    if set(os.listdir(run_dir)) - {LOCK_FILE}:
        return (f"{run_dir!r} exists and holds files but no run (no config.json), so it is "
                "neither overwritten nor resumed; choose another name with --name, or move "
                "that directory away")
    return None


def report(summary) -> int:
    from infoplane.report import checks
    from infoplane.report.compression import compression_summary

    rec = summary.recorder
    table = rec.results()
    if summary.resumed_from is not None and summary.run_dir:  # the whole run, not this part
        from infoplane.store.results import load_results

        table = load_results(summary.run_dir)
    rows = table.rows()
    print_table(rows, rec.layer_names or tuple(dict.fromkeys(r["layer"] for r in rows)),
                sys.stdout)
    if len(table):
        from infoplane.cli.plot import _aux_rows

        # the probe sizes too: the log2 n ceiling of matrix_renyi on the whole probe
        tops = {split: {**c, "n": int(rec.probes[split][1].shape[0])}
                for split, c in rec.ceilings.items()}
        print("\n" + checks.check_report(table, tops, aux=_aux_rows(rec.run_dir)))
        print("\n" + str(compression_summary(table)))
    for seed, m in summary.final.items():
        acc = ", ".join(f"{k} {v:.4f}" for k, v in m.items())
        print(f"\nfinal metrics, seed {seed}: {acc}")
    t = summary.timings
    print(
        f"time: training {t['train']:.1f} s, recording {t['capture']:.1f} s, estimation "
        f"{t['estimate']:.1f} s, checkpoints {t['checkpoint']:.1f} s, total {t['total']:.1f} s"
    )
    for err in rec.errors:
        print(f"warning: estimation failed and was skipped: {err}")
    total = summary.config.get("epochs")
    if (summary.run_dir and summary.resumed_from is not None and total is not None
            and summary.resumed_from >= total and not rec.recovered):
        print(f"{summary.run_dir} is complete ({summary.resumed_from}/{total} epochs); nothing "
              f"to do; to train longer: infoplane run --resume {summary.run_dir} --epochs N")
    elif summary.run_dir:
        print(f"wrote {summary.run_dir}/ (config.json, results.csv, metrics.csv, "
              "diagnostics.csv, TensorBoard events, checkpoints/)")
        print(f"figures: infoplane plot {summary.run_dir}    live view: infoplane board "
              f"{os.path.dirname(summary.run_dir) or '.'}")
    return 0
