"""The ``infoplane`` command line (argument parsing and printing; the work is in
`infoplane.harness`, `infoplane.recorder` and `infoplane.selftest`).

Commands: ``infoplane run`` (train a preset and record its information plane; ``--resume``),
``infoplane estimate RUN_DIR`` (re-estimate stored activations), ``infoplane plot RUN_DIR``
(figures), ``infoplane board`` (TensorBoard on the run directories), ``infoplane selftest``
(every estimator against ground truth). ``infoplane COMMAND --help`` explains every option.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

#: At most this many recorded epochs are shown in the printed table (all are in results.csv).
TABLE_MAX_ROWS = 12


class _UsageError(Exception):
    """A bad option value: reported as one line on stderr, exit code 2."""


def _build_parser():
    from infoplane.estimators import NAMES
    from infoplane.harness import COSTLY, DEFAULT_ESTIMATORS, PRESETS

    parser = argparse.ArgumentParser(
        prog="infoplane",
        description="Information-plane analysis of neural-network training in JAX/flax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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
            "infoplane run --preset data --data mine.npz;  infoplane run --resume runs/relu"
        ),
    )
    run.add_argument("--preset", default="tishby-tanh",
                     help=f"experiment: {', '.join(PRESETS)} (default: %(default)s)")
    run.add_argument("--epochs", type=int, default=None,
                     help="training epochs (default: the preset's, 3000 for tishby-*)")
    run.add_argument("--points", type=int, default=None,
                     help="number of log-spaced epochs to record, from 0 (before training) to "
                     "EPOCHS; rounding may merge a few early ones (default: the preset's, 20)")
    run.add_argument("--schedule", default="log",
                     help="which epochs to record: 'log' (log-spaced, --points of them), 'every' "
                     "(every epoch) or a comma-separated list of epochs (default: %(default)s)")
    run.add_argument("--estimators", default=",".join(DEFAULT_ESTIMATORS),
                     help=f"comma-separated estimators from: {', '.join(NAMES)}, each a name "
                     "(default parameters) or a spec with parameters, e.g. 'kde(sigma2=0.01)' "
                     "or \"compressed(noise='absolute', dim=3)\" (quote the list in the "
                     "shell); every parameter is recorded in the params column of results.csv "
                     "(default: %(default)s)")
    costly = ", ".join(f"{k} {v}" for k, v in COSTLY.items())
    run.add_argument("--subsample", type=int, default=None,
                     help="the costly estimators (compressed, dsmi) see a stratified subset of "
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
                     help="an .npz file with arrays x (N, ...) and y (N,) for --preset data "
                     "(given alone, it selects that preset)")
    run.add_argument("--logdir", default="runs",
                     help="directory that holds the run directories (default: %(default)s)")
    run.add_argument("--name", default=None,
                     help="run directory name under LOGDIR (default: PRESET-YYYYmmdd-HHMMSS); "
                     "an existing directory is never overwritten")
    run.add_argument("--resume", default=None, metavar="RUN_DIR",
                     help="continue RUN_DIR from its last checkpoint with its own settings (other "
                     "options are ignored): no epoch is duplicated or missing")
    run.add_argument("--store-activations", action="store_true",
                     help="also save every recorded activation (activations/, opt-in, can be "
                     "large) so `infoplane estimate` can re-estimate the run later")
    run.add_argument("--buffer", type=int, default=None,
                     help="recorded epochs estimated together in one batched call (default: 1, "
                     "each recorded epoch written and checkpointed at once; 16 with --schedule "
                     "every, about twice the throughput). A killed run loses at most the epoch "
                     "in flight either way: buffered epochs wait in RUN_DIR/pending/ and "
                     "--resume estimates them first")
    run.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                     help="do not write TensorBoard event files into the run directory")
    run.add_argument("--image-every", type=int, default=5,
                     help="redraw the information-plane image in TensorBoard after this many "
                     "recorded epochs; 0 = only at the end (default: %(default)s)")

    plot = sub.add_parser(
        "plot",
        help="draw a run's information plane (PNG, PDF or SVG)",
        description=(
            "Draw figures from RUN_DIR/results.csv (nothing is estimated): 'plane' is the "
            "information plane of one estimator (one trajectory per layer, coloured by epoch, "
            "seed mean and 95%% band when several seeds, ceilings H(X) and H(Y) dashed); "
            "'panel' puts every estimator side by side; 'curves' shows I(X;T) and I(T;Y) "
            "against the epoch. Points where a deeper layer exceeds a shallower one (a "
            "data-processing-inequality violation) are marked and listed."
        ),
        epilog="examples: infoplane plot runs/NAME;  infoplane plot runs/NAME --kind panel "
        "-o panel.pdf;  infoplane plot runs/NAME --estimator kde --split test -o kde.svg",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    plot.add_argument("-o", "--output", default=None,
                      help="output file, .png, .pdf or .svg (default: "
                      "RUN_DIR/figures/KIND[-ESTIMATOR].png)")
    plot.add_argument("--kind", choices=("plane", "panel", "curves"), default="plane",
                      help="which figure (default: %(default)s)")
    plot.add_argument("--estimator", default=None,
                      help="estimator to draw (plane/curves; default: the first in the run)")
    plot.add_argument("--split", default=None,
                      help="probe set to draw, e.g. train or test (default: train or the only "
                      "one)")
    plot.add_argument("--dpi-tolerance", type=float, default=0.05,
                      help="flag a deeper layer exceeding a shallower one by more than this "
                      "many bits (default: %(default)s)")

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

    est = sub.add_parser(
        "estimate",
        help="re-estimate a finished run's stored activations with other estimators",
        description=(
            "Read RUN_DIR/activations/ (written by `infoplane run --store-activations`), "
            "estimate every stored epoch and layer with each estimator, and append the rows to "
            "RUN_DIR/results.csv. An estimator already in results.csv with the same parameters "
            "is refused."
        ),
    )
    est.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/NAME")
    est.add_argument("--estimators", required=True,
                     help=f"comma-separated estimators from: {', '.join(NAMES)}, names or "
                     "specs with parameters such as 'dsmi(sigma=1.0)' (see `infoplane run "
                     "--help`)")
    est.add_argument("--subsample", type=int, default=None,
                     help="probe subset size for the costly estimators (compressed, dsmi); 0 = "
                     f"all (default: {costly})")

    st = sub.add_parser(
        "selftest",
        help="check every estimator against analytic ground truth and print a table",
        description="Runs each estimator on data with known entropies / mutual information "
        "and prints expected vs estimated values; exit code 0 when every check passes.",
    )
    st.add_argument("--only", default=None,
                    help="comma-separated estimator names to check (default: all)")
    return parser


def _parse_estimators(spec: str) -> list[str]:
    """``--estimators``: comma-separated names or specs (``dsmi(sigma=1.0)``), each checked
    by building its estimator."""
    from infoplane.estimators import NAMES, from_spec, split_specs

    try:
        specs = split_specs(spec)
        names = [from_spec(s).name for s in specs]
    except (TypeError, ValueError) as err:
        raise _UsageError(f"--estimators: {err}") from None
    if not specs:
        raise _UsageError(f"no estimator given; valid names: {', '.join(NAMES)}")
    if len(set(names)) != len(names):
        raise _UsageError(
            f"estimator listed twice in {spec!r}; to compare two parameter settings of one "
            "estimator, add the second later with `infoplane estimate`."
        )
    return specs


def _parse_seeds(args) -> list[int]:
    spec = args.seeds.strip()
    try:
        if "," in spec:
            seeds = [int(v) for v in spec.split(",") if v.strip()]
        else:
            count = int(spec)
            if count < 1:
                raise _UsageError(f"--seeds must be a count >= 1 or a list, got {spec!r}")
            seeds = list(range(args.seed, args.seed + count))
    except ValueError:
        raise _UsageError(
            f"--seeds must be a count (e.g. 3) or a comma-separated list (e.g. 0,4,7), got {spec!r}"
        ) from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise _UsageError(f"--seeds must be distinct non-negative integers, got {spec!r}")
    return seeds


def _parse_schedule(spec: str):
    if spec in ("log", "every"):
        return spec
    try:
        epochs = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise _UsageError(
            f"--schedule must be 'log', 'every' or a list of epochs like 0,10,100; got {spec!r}"
        ) from None
    if not epochs or min(epochs) < 0:
        raise _UsageError(f"--schedule epochs must be >= 0, got {spec!r}")
    return epochs


def _check_args(args) -> list[str]:
    from infoplane.harness import PRESETS

    if args.data is not None and args.preset == "tishby-tanh":
        args.preset = "data"
    if args.preset not in PRESETS:
        raise _UsageError(f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}")
    if args.preset == "data" and args.data is None:
        raise _UsageError("--preset data needs --data FILE.npz (arrays x and y)")
    if args.data is not None and args.preset != "data":
        raise _UsageError(f"--data is used by --preset data, not {args.preset!r}")
    if args.epochs is not None and args.epochs < 1:
        raise _UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.points is not None and args.points < 2:
        raise _UsageError(f"--points must be at least 2, got {args.points}")
    if args.subsample is not None and args.subsample < 0:
        raise _UsageError(f"--subsample must be >= 0, got {args.subsample}")
    if args.buffer is not None and args.buffer < 1:
        raise _UsageError(f"--buffer must be at least 1, got {args.buffer}")
    if args.name is not None and (not args.name or os.sep in args.name or args.name in (".", "..")):
        raise _UsageError(f"--name must be a plain directory name, got {args.name!r}")
    return _parse_estimators(args.estimators)


def _print_table(rows: list[dict], layers, out) -> None:
    """Per estimator and split (first seed): rows = recorded epochs (at most TABLE_MAX_ROWS),
    columns = layers."""
    if not rows:
        return
    first_seed = rows[0]["seed"]
    by_est: dict[tuple, dict] = {}
    for r in rows:
        if r["seed"] == first_seed:
            by_est.setdefault((r["estimator"], r["split"]), {})[(r["epoch"], r["layer"])] = r
    width = max(11, *(len(layer) + 2 for layer in layers))
    for (est, split), cells in by_est.items():
        epochs = sorted({e for e, _ in cells})
        if len(epochs) > TABLE_MAX_ROWS:
            pick = {
                round(i * (len(epochs) - 1) / (TABLE_MAX_ROWS - 1)) for i in range(TABLE_MAX_ROWS)
            }
            epochs = [epochs[i] for i in sorted(pick)]
        units = next(iter(cells.values()))["units"]
        print(f"\n{est} ({split}, seed {first_seed}): I(X;T)/I(T;Y) in {units}", file=out)
        print("  epoch" + "".join(f"{layer:>{width}}" for layer in layers), file=out)
        for e in epochs:
            line = f"{e:>7}"
            for layer in layers:
                r = cells.get((e, layer))
                line += f"{r['i_xt']:.2f}/{r['i_ty']:.2f}".rjust(width) if r else " " * width
            print(line, file=out)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _enable_compilation_cache() -> None:
    """Keep XLA's compiled estimators between runs (``~/.cache/infoplane/jax``), unless the user
    configured a cache (JAX_COMPILATION_CACHE_DIR) or disabled it (INFOPLANE_NO_CACHE=1)."""
    if os.environ.get("INFOPLANE_NO_CACHE") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    path = os.path.join(os.path.expanduser("~"), ".cache", "infoplane", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _use_cpu_cores() -> None:
    """Expose the CPU cores as JAX CPU devices (``jax_num_cpu_devices``) so that, on a machine
    without an accelerator, the `Recorder` estimates several layers at once, one per core. On
    a GPU machine the estimation runs on the GPU(s) and this changes nothing.
    ``INFOPLANE_CPU_DEVICES=N`` sets the number (1: one device), and an ``XLA_FLAGS`` with
    ``--xla_force_host_platform_device_count`` is respected. Must run before JAX starts its
    backends; later (e.g. `main` called inside a process already using JAX) it does nothing.
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        n = int(os.environ.get("INFOPLANE_CPU_DEVICES", cpu_cores()))
    except ValueError:
        raise _UsageError("INFOPLANE_CPU_DEVICES must be an integer") from None
    import jax

    try:
        if n > 1 and jax.config.jax_num_cpu_devices in (-1, 1):
            jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # the backends are already initialised: keep what they have
        pass


def _cmd_run(args) -> int:
    from infoplane import harness

    _use_cpu_cores()
    _enable_compilation_cache()
    from infoplane._progress import Progress

    if args.resume is not None:
        if not os.path.isdir(args.resume):
            raise _UsageError(f"--resume: {args.resume!r} is not a directory")
        bar = Progress(1, "training")
        try:
            summary = harness.resume_experiment(args.resume, log=_log, progress=bar)
        except (FileNotFoundError, ValueError) as err:
            raise _UsageError(str(err)) from None
        finally:
            bar.close()
        return _report(summary)
    est_names = _check_args(args)
    seeds = _parse_seeds(args)
    schedule = _parse_schedule(args.schedule)
    name = args.name or f"{args.preset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run_dir = os.path.join(args.logdir, name)
    if os.path.exists(run_dir):
        print(
            f"infoplane run: error: run directory {run_dir!r} already exists and is never "
            "overwritten; choose another name with --name, or continue it with --resume "
            f"{run_dir}",
            file=sys.stderr,
        )
        return 1
    preset = harness.PRESETS[args.preset]
    epochs = preset.epochs if args.epochs is None else args.epochs
    print(
        f"infoplane run {name}: preset {args.preset}, {epochs} epochs, seeds "
        f"{','.join(map(str, seeds))}, estimators {', '.join(est_names)} -> {run_dir}",
        flush=True,
    )
    bar = Progress(epochs, "training")
    try:
        summary = harness.run_experiment(
            args.preset, epochs=args.epochs, points=args.points, schedule=schedule,
            estimators=est_names, seeds=seeds, data=args.data, logdir=args.logdir, name=name,
            store_activations=args.store_activations, subsample=args.subsample,
            buffer=args.buffer, log=_log, progress=bar, argv=args.argv,
            tensorboard=args.tensorboard, image_every=args.image_every,
        )
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise _UsageError(str(err).strip("'\"")) from None
    finally:
        bar.close()
    return _report(summary)


def _report(summary) -> int:
    from infoplane import checks

    rec = summary.recorder
    table = rec.results()
    rows = table.rows()
    _print_table(rows, rec.layer_names or (), sys.stdout)
    if len(table):
        print("\n" + checks.check_report(table, rec.ceilings))
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
    if summary.run_dir:
        print(f"wrote {summary.run_dir}/ (config.json, results.csv, metrics.csv, "
              "diagnostics.csv, TensorBoard events, checkpoints/)")
        print(f"figures: infoplane plot {summary.run_dir}    live view: infoplane board "
              f"{os.path.dirname(summary.run_dir) or '.'}")
    return 0


def _cmd_estimate(args) -> int:
    from infoplane import harness
    from infoplane import results as _results
    from infoplane._progress import Progress
    from infoplane.recorder import Recorder, params_json

    names = _parse_estimators(args.estimators)
    _use_cpu_cores()
    _enable_compilation_cache()
    run_dir = args.run_dir
    if not os.path.isdir(os.path.join(run_dir, "activations")):
        raise _UsageError(
            f"{run_dir!r} has no stored activations (activations/); record them with "
            "`infoplane run --store-activations` (or Recorder(store_activations=True))"
        )
    store = _results.ActivationStore(run_dir)
    splits = store.splits()
    probes = {sp: store.read_probe(sp) for sp in splits}
    n_probe = len(probes[splits[0]][1])
    ests = harness.default_estimators(names, n_probe, args.subsample)
    results_path = os.path.join(run_dir, "results.csv")
    run_name = os.path.basename(os.path.normpath(run_dir))
    if os.path.exists(results_path):
        done = _results.load_results(results_path)
        run_name = str(done["run"][0]) if len(done) else run_name
        have = {(e, p) for e, p in zip(done["estimator"], done["params"], strict=True)}
        for est in ests:
            if (est.name, params_json(est)) in have:
                raise _UsageError(
                    f"{est.name} with these parameters is already in {results_path}; nothing "
                    "to do (re-estimating would duplicate rows)"
                )
    writer = _results.ResultsWriter(results_path)
    test = probes.get("test") if len(splits) > 1 else None
    main_split = next(sp for sp in splits if sp != "test") if test is not None else splits[0]
    board = _estimate_board(run_dir, run_name, probes, store)
    sinks = [writer.write] + ([board.on_results] if board is not None else [])
    aux_writer = _results.AuxWriter(os.path.join(run_dir, "aux.csv"))
    aux_sinks = [aux_writer.write] + ([board.on_aux] if board is not None else [])
    rec = Recorder(*probes[main_split], ests, None, name=run_name, split=main_split,
                   test=test, on_results=lambda rows: [f(rows) for f in sinks],
                   on_aux=lambda rows: [f(rows) for f in aux_sinks])
    entries = [(sp, seed, e) for sp in splits for seed in store.seeds(sp)
               for e in store.epochs(sp, seed)]
    print(f"infoplane estimate {run_dir}: {len(entries)} stored epochs, estimators "
          f"{', '.join(names)}", flush=True)
    bar = Progress(len(entries), "estimating")
    try:
        for i, (sp, seed, e) in enumerate(entries):
            rec.add(e, store.read(seed, sp, e), split=sp, seed=seed)
            bar(i + 1)
        rec.close()
    finally:
        bar.close()
        writer.close()
        aux_writer.close()
        if board is not None:
            board.close()
    _print_table(rec.results().rows(), rec.layer_names or (), sys.stdout)
    print(f"appended {len(rec.results())} rows to {results_path}")
    return 0


def _cmd_plot(args) -> int:
    import warnings

    from infoplane import checks, plot
    from infoplane import results as _results

    run_dir = args.run_dir
    if not os.path.isdir(run_dir):
        raise _UsageError(f"{run_dir!r} is not a directory; pass a run directory, e.g. runs/NAME")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", _results.ResultsFileWarning)
        try:
            table = _results.load_results(run_dir)
        except (FileNotFoundError, ValueError) as err:
            raise _UsageError(str(err)) from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if not len(table):
        raise _UsageError(
            f"{run_dir!r} has no results yet (results.csv is empty); record some epochs first"
        )
    estimators = table.unique("estimator")
    if args.estimator is not None and args.estimator not in estimators:
        raise _UsageError(
            f"unknown estimator {args.estimator!r}; this run has {', '.join(estimators)}"
        )
    estimator = args.estimator or (estimators[0] if args.kind != "panel" else None)
    splits = table.unique("split")
    if args.split is not None and args.split not in splits:
        raise _UsageError(f"unknown split {args.split!r}; this run has {', '.join(splits)}")
    split = args.split or ("train" if "train" in splits else splits[0])
    # draw the table read above (read once, warned once), ceilings from config.json if any
    ceilings = run_dir if os.path.isfile(os.path.join(run_dir, "config.json")) else None
    try:
        if args.kind == "plane":
            fig, _ = plot.information_plane(table, estimator=estimator, split=split,
                                            ceilings=ceilings, dpi_tolerance=args.dpi_tolerance)
        elif args.kind == "panel":
            fig, _ = plot.estimator_panel(table, split=split, ceilings=ceilings,
                                          dpi_tolerance=args.dpi_tolerance)
        else:
            fig, _ = plot.information_curves(table, estimator=estimator, split=split,
                                             ceilings=ceilings)
        out = args.output or os.path.join(
            run_dir, "figures", args.kind + (f"-{estimator}" if estimator else "") + ".png")
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        plot.save(fig, out)
    except ValueError as err:
        raise _UsageError(str(err)) from None
    print(f"wrote {out}")
    sel = table.where(split=split) if estimator is None else table.where(
        split=split, estimator=estimator)
    top = None
    if ceilings is not None:  # the figure's ceilings, in bits, as the checks take them
        c = plot.load_ceilings(ceilings, split)
        top = {split: {q: v for q, v in (("i_xt", c.h_x), ("i_ty", c.h_y)) if v is not None}}
    print(checks.check_report(sel, top, dpi_tolerance=args.dpi_tolerance))
    return 0


def _cmd_board(args) -> int:
    if not os.path.isdir(args.logdir):
        raise _UsageError(
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


def _estimate_board(run_dir, run_name, probes, store):
    """A TensorBoard logger that adds re-estimated rows to the run's event files, or None
    when the run was recorded without TensorBoard. Its restart marker lies after the last
    stored epoch, so nothing already in the event files is dropped."""
    import glob

    from infoplane.diagnostics import ceilings
    from infoplane.tensorboard import TensorBoardLogger

    if not glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        return None
    last = max(e for sp in probes for seed in store.seeds(sp) for e in store.epochs(sp, seed))
    return TensorBoardLogger(run_dir, run=run_name, image_every=0, resume_epoch=last + 1,
                             ceilings={sp: ceilings(x, y) for sp, (x, y) in probes.items()})


def _cmd_selftest(args) -> int:
    from infoplane import selftest

    only = None if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    try:
        res = selftest.run_selftest(sys.stdout, only=only)
    except ValueError as err:
        raise _UsageError(str(err)) from None
    return 0 if all(r.passed for r in res) else 1


def main(argv=None) -> int:
    """Entry point of the ``infoplane`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 2
    commands = {"run": _cmd_run, "estimate": _cmd_estimate, "plot": _cmd_plot,
                "board": _cmd_board, "selftest": _cmd_selftest}
    try:
        return commands[args.command](args)
    except _UsageError as err:
        print(f"infoplane {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
