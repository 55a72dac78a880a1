"""``infoplane run --widths/--activation/--lr/--batch-size/--optimizer/--weight-decay``
(`infoplane.cli.network`): recorded in config.json, honoured by training and by ``--resume``,
clear usage errors; ``--resume --epochs N`` trains a finished run longer, and a finished run
resumed without it says it is complete."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from infoplane import cli
from infoplane.cli.run import ignored_on_resume
from infoplane.store.activations import ActivationStore

TINY = ("--epochs", "3", "--points", "3", "--estimators", "binning", "--no-tensorboard")


def _rows(run_dir):
    with open(run_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def relu_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("net")
    code = cli.main(["run", *TINY, "--widths", "5,3", "--activation", "relu", "--optimizer",
                     "sgd", "--lr", "0.05", "--batch-size", "64", "--weight-decay", "0.01",
                     "--store-activations", "--logdir", str(logdir), "--name", "r"])
    assert code == 0
    return logdir / "r"


def test_network_flags_are_recorded(relu_run):
    config = json.loads((relu_run / "config.json").read_text())
    s = config["preset_settings"]
    assert (s["hidden"], s["activation"], s["optimizer"]) == ([5, 3], "relu", "sgd")
    assert (s["learning_rate"], s["batch_size"], s["weight_decay"]) == (0.05, 64, 0.01)
    assert config["network"] == {"hidden": [5, 3], "activation": "relu", "learning_rate": 0.05,
                                 "batch_size": 64, "optimizer": "sgd", "weight_decay": 0.01}


def test_widths_and_activation_are_honoured(relu_run, tmp_path):
    layers = ActivationStore(relu_run).read(0, "all", 0)
    assert {k: v.shape[1] for k, v in layers.items()} == {"layers.0": 5, "layers.1": 3,
                                                          "output": 2}
    assert {r["layer"] for r in _rows(relu_run)} == {"layers.0", "layers.1", "output"}
    assert min(layers["layers.0"].min(), layers["layers.1"].min()) >= 0.0  # ReLU
    assert cli.main(["run", *TINY, "--widths", "5,3", "--activation", "tanh",
                     "--store-activations", "--logdir", str(tmp_path), "--name", "t"]) == 0
    tanh = ActivationStore(tmp_path / "t").read(0, "all", 0)
    assert tanh["layers.0"].shape == (layers["layers.0"].shape[0], 5)
    assert tanh["layers.0"].min() < 0.0 < tanh["layers.0"].max()
    i_xt = {(r["epoch"], r["layer"]): r["i_xt"] for r in _rows(tmp_path / "t")}
    assert i_xt != {(r["epoch"], r["layer"]): r["i_xt"] for r in _rows(relu_run)}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["--activation", "swish2"], "valid: tanh, relu, leaky_relu, sigmoid, gelu"),
     (["--optimizer", "adamx"], "valid: sgd, momentum, adam, adamw"),
     (["--widths", "5,x"], "--widths"), (["--widths", "5,0"], "--widths"),
     (["--widths", ""], "--widths"),
     (["--preset", "digits-cnn", "--widths", "8"], "conv net"),
     (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--weight-decay", "-1"],
                                                          "--weight-decay"),
     (["--batch-size", "0"], "--batch-size")],
)
def test_bad_network_options_exit_2(argv, needle, tmp_path, capsys):
    assert cli.main(["run", *argv, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_activation_on_a_conv_preset_is_accepted():
    """--activation means something for a conv net (every layer's activation); --widths not."""
    from infoplane.cli.network import network_overrides
    from infoplane.experiments.network import customise
    from infoplane.experiments.presets import PRESETS

    args = cli.build_parser().parse_args(["run", "--preset", "digits-cnn", "--activation",
                                          "elu", "--optimizer", "adamw"])
    overrides = network_overrides(args, PRESETS["digits-cnn"])
    assert overrides == {"activation": "elu", "optimizer": "adamw"}
    p = customise(PRESETS["digits-cnn"], overrides)
    assert (p.activation, p.optimizer, p.model) == ("elu", "adamw", "cnn")
    none = cli.build_parser().parse_args(["run"])
    assert network_overrides(none, PRESETS["tishby-tanh"]) is None


def test_resume_uses_the_recorded_network(relu_run, tmp_path, capsys):
    """A resume of a run killed after epoch 1 rebuilds its network (5,3 ReLU, SGD, L2) from
    config.json, whatever other options say, and writes what an uninterrupted run wrote."""
    import shutil

    from infoplane.experiments.checkpoints import truncate_for_resume

    killed = tmp_path / "k"
    shutil.copytree(relu_run, killed)
    ckpts = killed / "checkpoints"
    for d in ckpts.iterdir():  # back to the checkpoint of epoch 1, as a kill would leave it
        if d.name.isdigit() and int(d.name) > 1:
            shutil.rmtree(d)
    assert truncate_for_resume(str(killed)) == 1
    assert {r["epoch"] for r in _rows(killed)} == {"0", "1"}
    capsys.readouterr()
    assert cli.main(["run", "--resume", str(killed), "--widths", "9", "--activation",
                     "tanh"]) == 0
    err = capsys.readouterr().err
    assert "ignored: --widths, --activation" in err

    def key(d):
        return sorted((r["epoch"], r["layer"], r["i_xt"], r["i_ty"]) for r in _rows(d))
    assert key(killed) == key(relu_run)


def test_ignored_on_resume_lists_the_network_options():
    assert ignored_on_resume(["--resume", "r", "--epochs", "9", "--lr", "1", "--widths=4",
                              "--optimizer", "sgd"]) == ["--widths", "--lr", "--optimizer"]


def test_resume_epochs_extends_a_finished_run(tmp_path, capsys):
    run_dir = tmp_path / "e"
    assert cli.main(["run", *TINY, "--logdir", str(tmp_path), "--name", "e"]) == 0
    before = _rows(run_dir)
    assert {int(r["epoch"]) for r in before} == {0, 1, 3}
    capsys.readouterr()

    assert cli.main(["run", "--resume", str(run_dir)]) == 0  # finished: nothing to do
    out = capsys.readouterr().out
    assert f"{run_dir} is complete (3/3 epochs); nothing to do" in out
    assert "--epochs N" in out and "wrote" not in out
    assert _rows(run_dir) == before

    assert cli.main(["run", "--resume", str(run_dir), "--epochs", "6"]) == 0
    assert "wrote" in capsys.readouterr().out
    after = _rows(run_dir)
    assert after[:len(before)] == before  # the recorded epochs untouched, not re-estimated
    keys = [(r["epoch"], r["layer"]) for r in after]
    assert len(keys) == len(set(keys))
    assert {int(r["epoch"]) for r in after} == {0, 1, 3, 6}  # log-spaced after 3, 6 included
    config = json.loads((run_dir / "config.json").read_text())
    assert config["epochs"] == 6 and config["schedule"]["epochs"] == [0, 1, 3, 6]
    assert [(n["from"], n["to"]) for n in config["extensions"]] == [(3, 6)]
    metrics = {(m["epoch"], m["name"]) for m in csv.DictReader(open(run_dir / "metrics.csv"))}
    assert ("6", "train_acc") in metrics

    assert cli.main(["run", "--resume", str(run_dir)]) == 0
    assert "is complete (6/6 epochs)" in capsys.readouterr().out
    assert cli.main(["run", "--resume", str(run_dir), "--epochs", "4"]) == 2  # never shortened
    assert "only extends" in capsys.readouterr().err
    assert np.isfinite([float(r["i_xt"]) for r in _rows(run_dir)]).all()
