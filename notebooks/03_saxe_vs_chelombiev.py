# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Saxe et al. 2018 vs Chelombiev et al. 2019: tanh vs ReLU, three estimators, many bin counts
#
# **The claims.**
# - A. M. Saxe, Y. Bansal, J. Dapello, M. Advani, A. Kolchinsky, B. D. Tracey and D. D. Cox,
#   *On the Information Bottleneck Theory of Deep Learning*, ICLR 2018: the compression phase
#   seen by Shwartz-Ziv & Tishby comes from the **tanh** nonlinearity saturating; the same
#   network with **ReLU** units shows no compression under binning (fixed bin width 0.07) nor
#   under the Kolchinsky-Tracey KDE bound (noise variance 1e-3).
# - I. Chelombiev, C. Houghton and C. O'Donnell, *Adaptive Estimators Show Information
#   Compression in Deep Neural Networks*, ICLR 2019: with **adaptive** estimators (bins holding
#   equal numbers of distinct values, recomputed per layer and epoch; KDE noise scaled to the
#   layer's activity) compression shows up in ReLU networks too in some settings, and the
#   picture depends on the estimator.
#
# **What we do.** Train the 12-10-7-5-4-3-2 network twice (tanh, ReLU: `infoplane`'s
# `tishby-tanh` and `tishby-relu` presets) with `store_activations=True`, then estimate the
# *same stored activations* with every estimator of the debate, so that differences come from
# the estimators, not from different training runs. Finally, sweep the bin count and watch the
# "compression" conclusion move.

# %%
import json
import os
import pathlib
import shutil

import matplotlib.pyplot as plt
import numpy as np

import infoplane
from infoplane import plot
from infoplane.estimators import KDE, AdaptiveBinning, Binning

SMALL = os.environ.get("INFOPLANE_NOTEBOOK_SIZE", "full").lower() == "small"
HERE = pathlib.Path.cwd() if pathlib.Path.cwd().name == "notebooks" else pathlib.Path("notebooks")
OUT = pathlib.Path(os.environ.get("INFOPLANE_NOTEBOOK_OUT") or HERE / "output") / "03_saxe"
FIGURES = OUT if SMALL else HERE / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)

EPOCHS = 30 if SMALL else 3000
POINTS = 2 if SMALL else 20
SEEDS = [0] if SMALL else [0, 1, 2]
KDE_N = 256 if SMALL else 2048  # KDE is O(N^2): it sees a class-stratified subsample
print(f"size: {'small' if SMALL else 'full'}: {EPOCHS} epochs, {POINTS} recorded epochs, "
      f"seeds {SEEDS}, KDE on {KDE_N} of 4096 inputs")

# %% [markdown]
# ## Two training runs, activations stored

# %%
runs = {}
for act in ("tanh", "relu"):
    shutil.rmtree(OUT / "runs" / act, ignore_errors=True)
    s = infoplane.run_experiment(
        f"tishby-{act}", epochs=EPOCHS, points=POINTS, seeds=SEEDS,
        estimators=[Binning(width=0.07)],  # estimated while training; the others below
        logdir=OUT / "runs", name=act, store_activations=True, image_every=0,
        intervals=20,  # a 95 % interval on every binned point (infoplane.Intervals)
    )
    runs[act] = s.run_dir
    accs = [round(m["test_acc"], 3) for m in s.final.values()]
    print(f"{act}: test accuracy per seed {accs}, {s.timings['total']:.0f} s")

# %% [markdown]
# ## The same activations, five estimators
#
# - `Binning(width=0.07)`: Saxe et al.'s fixed bin width, no upper limit (for tanh it is
#   ≈ the original 29 bins on [-1, 1]).
# - `AdaptiveBinning()`: Chelombiev et al.'s entropy-based adaptive binning, 30 bins per layer
#   and epoch; for ReLU layers `lower=0` puts all exact zeros in the first bin.
# - `KDE()`: the Kolchinsky-Tracey upper bound with noise variance σ² = 1e-3, as Saxe et al.
# - `KDE(adaptive=True)`: σ² scaled by the layer's max |T|², Chelombiev et al.'s adaptive KDE.
#
# Stored activations are re-estimated with a `Recorder` that writes nothing (`logdir=None`):
# `add` the stored epochs, `close`, and read `results()`.

# %%
def estimators_for(act):
    return [
        AdaptiveBinning(lower=0.0) if act == "relu" else AdaptiveBinning(),
        infoplane.Subsample(KDE(sigma2=1e-3), n=KDE_N),
        infoplane.Subsample(KDE(sigma2=1e-3, adaptive=True), n=KDE_N),
    ]


def reestimate(run_dir, estimators):
    """Every stored epoch of a run, estimated again with `estimators` (a Results table)."""
    store = infoplane.ActivationStore(run_dir)
    x, y = store.read_probe("all")
    entries = [(seed, e) for seed in store.seeds("all") for e in store.epochs("all", seed)]
    rec = infoplane.Recorder(x, y, estimators, logdir=None, name=pathlib.Path(run_dir).name,
                             split="all", buffer=len(entries), flush_seconds=float("inf"))
    for seed, epoch in entries:
        rec.add(epoch, store.read(seed, "all", epoch), split="all", seed=seed)
    rec.close()
    return rec.results()


tables = {
    act: infoplane.results.concat([infoplane.load_results(run_dir),
                                   reestimate(run_dir, estimators_for(act))])
    for act, run_dir in runs.items()
}
print(tables["tanh"])

# %% [markdown]
# The two KDE variants share the name "kde"; a figure shows one parameter set, so we select
# them by their parameters. The panel: rows = network, columns = estimator.

# %%
panels = [("binning", None, "binning, width 0.07"),
          ("adaptive_binning", None, "adaptive binning (EBAB)"),
          ("kde", {"adaptive": False}, "KDE, σ² = 1e-3"),
          ("kde", {"adaptive": True}, "adaptive KDE")]
fig, axes = plt.subplots(2, 4, figsize=(19, 8.5), layout="constrained")
for row, act in enumerate(("tanh", "relu")):
    for col, (est, params, label) in enumerate(panels):
        plot.information_plane(tables[act], estimator=est, params=params, ax=axes[row, col],
                               ceilings=runs[act], legend=(col == 0),
                               title=f"{act} · {label}")
plot.save(fig, FIGURES / "saxe_tanh_vs_relu_estimators.png", dpi=150)
plt.show()


# %% [markdown]
# ## Compression, per layer, per estimator
#
# "Compression" of a layer = its peak I(X;T) over training minus its final I(X;T), mean over
# seeds (bits). Positive means the layer lost information about X after its peak.

# %%
def select(table, estimator, params=None):
    """The rows of one estimator; `params`: the parameter values that tell its sets apart."""
    sel = table.where(estimator=estimator)
    if params is not None:
        keep = [p for p in sel.unique("params")
                if all(json.loads(p).get(k) == v for k, v in params.items())]
        sel = sel.where(params=keep)
    return sel


def compression(table, estimator, params=None):
    sel = select(table, estimator, params)
    out = {}
    for layer in sel.unique("layer"):
        drops = []
        for seed in sel.unique("seed"):
            s = sel.where(layer=layer, seed=seed)
            ixt = s["i_xt"][np.argsort(s["epoch"])]
            drops.append(ixt.max() - ixt[-1])
        out[layer] = float(np.mean(drops))
    return out


layers = tables["tanh"].unique("layer")
print(f"{'':>34}" + "".join(f"{layer:>10}" for layer in layers))
for act in ("tanh", "relu"):
    for est, params, label in panels:
        c = compression(tables[act], est, params)
        print(f"{act + ' · ' + label:>34}" + "".join(f"{c[layer]:10.2f}" for layer in layers))

# %% [markdown]
# ## The verdict, with its rule: tanh beside ReLU
#
# `infoplane.compression_summary` turns each (estimator instance, layer) into a verdict:
# the drop = peak − final of the seed-mean I(X;T), its 95 % interval (Student t over the
# three seeds; with the one seed of the small size, the per-point intervals of the binning
# rows -- `intervals=20` above: `infoplane.Intervals`, 20 subsets of half the probe -- and
# none for the estimators re-estimated here),
# and "compresses" when that interval lies above 0.1 bits, "does not" when below (or when the
# peak is the last epoch), "cannot tell" otherwise. `layers.4` is the width-3 layer.

# %%
verdicts = {act: {(r.label, r.layer): r for r in infoplane.compression_summary(tables[act])}
            for act in ("tanh", "relu")}
print(f"{'estimator':<24}{'layer':<10}{'tanh':<34}{'relu':<34}")
for (label, layer), t in verdicts["tanh"].items():
    r = verdicts["relu"].get((label, layer))
    cells = [f"{v.verdict} ({v.drop:.2f} [{v.lo:.2f}, {v.hi:.2f}])" if v is not None else "-"
             for v in (t, r)]
    print(f"{label:<24}{layer:<10}{cells[0]:<34}{cells[1]:<34}")
print("\n" + str(infoplane.compression_summary(tables["tanh"])).splitlines()[-1])  # the rule

# %% [markdown]
# ## How the bin count moves the conclusion
#
# The same stored activations, binned with 2 to 256 equal bins over each layer's own range
# (`Binning(n_bins=k, range="data")`), for the two narrowest hidden layers (`layers.3`: 4
# units, `layers.4`: 3 units). One batched `estimate_epochs` call per (bin count, layer).

# %%
BINS = [4, 16, 64] if SMALL else [2, 4, 8, 16, 32, 64, 128, 256]
sweep_layers = ["layers.4"] if SMALL else ["layers.3", "layers.4"]
sweep = {}
for act, run_dir in runs.items():
    store = infoplane.ActivationStore(run_dir)
    x, y = store.read_probe("all")
    for layer in sweep_layers:
        for k in BINS:
            drops = []
            for seed in store.seeds("all"):
                ts = store.read_layer(seed, "all", layer)  # (E, 4096, d), epochs in order
                est = infoplane.estimate_epochs(Binning(n_bins=k, range="data"), x, ts, y)
                ixt = np.asarray(est.i_xt)
                drops.append((ixt.max() - ixt[-1], ixt.max(), ixt[-1]))
            sweep[act, layer, k] = np.mean(drops, axis=0)

fig, axes = plt.subplots(1, len(sweep_layers), figsize=(5.5 * len(sweep_layers), 4),
                         layout="constrained", sharey=True, squeeze=False)
axes = axes[0]
for ax, layer in zip(axes, sweep_layers, strict=True):
    for act, color in (("tanh", "C0"), ("relu", "C3")):
        ax.plot(BINS, [sweep[act, layer, k][0] for k in BINS], "o-", color=color, label=act)
    ax.set_xscale("log", base=2)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel("number of bins (per layer range)")
    ax.set_title(f"{layer}: peak − final binned I(X;T)")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("compression (bits)")
axes[0].legend()
plot.save(fig, FIGURES / "saxe_bin_sweep.png", dpi=150)
plt.show()

for act in ("tanh", "relu"):
    for layer in sweep_layers:
        row = "  ".join(f"{k}:{sweep[act, layer, k][0]:.2f}" for k in BINS)
        print(f"{act:>5} {layer}: compression by bin count  {row}")

# %% [markdown]
# ## What our run shows, and where it differs
#
# *(Written from the full-size run: 3000 epochs, 20 recorded epochs, seeds 0, 1, 2 for each
# network, about 2 minutes on a 2-core CPU with a warm compilation cache. The small CI size
# trains 30 epochs and shows the pipeline only.)*
#
# Test accuracy: tanh 99.5 / 99.5 / 99.8 %; ReLU 99.4 / **50.7** / 97.7 %. ReLU seed 1 did not
# learn (its narrow layers died), and it is kept in the means below, as a reminder that the
# ReLU version of this tiny net is fragile.
#
# **Compression (peak − final I(X;T), bits, mean of 3 seeds) on the same stored activations:**
#
# | | layers.2 | layers.3 | layers.4 | output |
# |---|---|---|---|---|
# | tanh, binning width 0.07 | 0.19 | 1.26 | 6.03 | 3.44 |
# | tanh, adaptive binning | 0.11 | 2.08 | 5.73 | 0.67 |
# | tanh, KDE σ² = 1e-3 | 0.20 | 1.25 | 5.58 | 2.92 |
# | tanh, adaptive KDE | 0.25 | 2.04 | 7.30 | 2.95 |
# | ReLU, binning width 0.07 | 0.21 | 0.39 | 0.23 | 1.86 |
# | ReLU, adaptive binning | 0.45 | 1.45 | 1.41 | 0.58 |
# | ReLU, KDE σ² = 1e-3 | 0.17 | 0.38 | 0.16 | 1.51 |
# | ReLU, adaptive KDE | 0.44 | 0.97 | 0.76 | 1.52 |
#
# - **Saxe et al.'s result holds here**: with fixed-width bins and fixed-σ KDE the tanh net
#   compresses strongly in its narrow hidden layers (6.0 and 5.6 bits in `layers.4`) and the
#   ReLU net hardly at all (0.23 and 0.16 bits); the two estimators agree within ~0.5 bit.
# - **Chelombiev et al.'s result also shows**: the adaptive estimators find compression in the
#   ReLU hidden layers that the fixed ones miss (1.4 bits in `layers.3` and `layers.4` with
#   adaptive binning, up to 1.0 with adaptive KDE), though far less than in tanh.
# - **The verdict** (the table above: 95 % Student-t interval of the drop over the 3 seeds,
#   threshold 0.1 bits): the width-3 `layers.4` of the tanh net **compresses** under all four
#   estimators (binning 6.02 bits [5.37, 6.67], adaptive binning 5.53 [4.41, 6.65], KDE 5.54
#   [4.81, 6.27], adaptive KDE 7.06 [6.18, 7.94]), and so does its softmax output under binning
#   and both KDEs; `layers.3` is "cannot tell" everywhere (1.1–1.8 bits, but intervals from
#   −1.5 to 3.8 bits over three seeds). For the ReLU twin every hidden layer is "cannot tell"
#   under every estimator, the adaptive ones included: its drops (up to 1.4 bits) sit inside
#   intervals that reach below zero, widened by the seed that did not learn. So on this
#   network the Saxe-vs-Chelombiev question gets a per-run answer: tanh compresses with any of
#   the four estimators, ReLU's adaptive-estimator "compression" is not distinguishable from
#   seed-to-seed variation with three seeds.
# - **The bin count moves the conclusion.** Binning each layer over its own range with k bins,
#   the tanh `layers.4` "compression" grows from 1.4 bits (2 bins) to 9.5 bits (64 bins) and
#   stays ~9 bits up to 256, but the tanh `layers.3` compresses by 1.2–2.1 bits up to 32 bins
#   and then *stops compressing* (0.4 bits at 128 bins, 0.1 at 256). ReLU `layers.4` grows from
#   0.1 bits (2 bins) to 2.0 bits (128–256 bins) and `layers.3` from 0.3 to 1.5 bits: with
#   enough bins the ReLU net "compresses" as much as the tanh net does with 2–4 bins, and more
#   than the tanh net's `layers.3` does with 128 or more. Conclusions about *whether* a network compresses
#   therefore need the estimator and its resolution stated, which is why every row carries its
#   parameters.
# - **Where it differs.** Saxe et al. show no ReLU compression at all; here the softmax output
#   of the ReLU net loses 1.5–1.9 bits under the fixed estimators (its two units saturate as
#   predictions become confident, whatever the hidden nonlinearity), and the failed seed 1
#   adds noise to the ReLU means. Chelombiev et al. use larger networks and L2 regularisation,
#   which they found increases compression; we use neither. KDE runs on a 2048-input subsample
#   (11-bit ceiling), binning on all 4096 inputs.
