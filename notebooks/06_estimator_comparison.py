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
# # Every estimator on one stored run
#
# The estimators of the information-plane literature do not measure the same thing. For a
# deterministic network and distinct inputs the true I(X;T) is infinite or constant (Goldfeld
# et al., *Estimating Information Flow in Deep Neural Networks*, ICML 2019), so every estimate
# is the information of a *modified* layer: quantised (binning), noisy (KDE, compressed) or a
# different quantity altogether (DSMI). This notebook records **one** training run of the
# Shwartz-Ziv–Tishby tanh network once, stores its activations, and estimates the same stored
# activations with all five estimator families, overlaid, with the data-processing inequality
# (DPI) check: for a feed-forward chain X → T1 → T2 → …, I(X;T_{k+1}) ≤ I(X;T_k) and
# I(T_{k+1};Y) ≤ I(T_k;Y) must hold for the true quantities; estimates may break it, and
# `infoplane` flags rather than hides that.

# %%
import os
import pathlib
import shutil

import matplotlib.pyplot as plt
import numpy as np

import infoplane
from infoplane import plot
from infoplane.estimators import KDE, AdaptiveBinning, Compressed, DiffusionSpectral

SMALL = os.environ.get("INFOPLANE_NOTEBOOK_SIZE", "full").lower() == "small"
HERE = pathlib.Path.cwd() if pathlib.Path.cwd().name == "notebooks" else pathlib.Path("notebooks")
OUT = pathlib.Path(os.environ.get("INFOPLANE_NOTEBOOK_OUT") or HERE / "output") / "06_compare"
FIGURES = OUT if SMALL else HERE / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)

EPOCHS = 30 if SMALL else 3000
POINTS = 2 if SMALL else 12
N_COMPRESSED = 256 if SMALL else 1024  # probe subsample of the kNN estimator
N_DSMI = 128 if SMALL else 512  # probe subsample of DSMI
print(f"size: {'small' if SMALL else 'full'}: {EPOCHS} epochs, {POINTS} recorded epochs")

# %% [markdown]
# ## One run, activations stored

# %%
shutil.rmtree(OUT / "runs" / "tanh", ignore_errors=True)
summary = infoplane.run_experiment(
    "tishby-tanh", epochs=EPOCHS, points=POINTS, seeds=[0], estimators=["binning"],
    logdir=OUT / "runs", name="tanh", store_activations=True, image_every=0,
)
run_dir = summary.run_dir
store = infoplane.ActivationStore(run_dir)
print(store, "epochs:", store.epochs("all", 0), "| test acc", summary.final[0]["test_acc"])

# %% [markdown]
# ## Re-estimating the stored activations
#
# The costly estimators see a fixed class-stratified subsample (`Subsample`); it is recorded
# in their parameters. DSMI uses σ = 1 (activations in [-1, 1]; see notebook 5).

# %%
estimators = [
    AdaptiveBinning(),
    KDE(sigma2=1e-3),
    infoplane.Subsample(Compressed(), n=N_COMPRESSED),
    infoplane.Subsample(DiffusionSpectral(sigma=1.0), n=N_DSMI),
]
x, y = store.read_probe("all")
rec = infoplane.Recorder(x, y, estimators, logdir=None, name="tanh", split="all",
                         buffer=len(store.epochs("all", 0)), flush_seconds=float("inf"))
for epoch in store.epochs("all", 0):
    rec.add(epoch, store.read(0, "all", epoch), split="all", seed=0)
rec.close()
table = infoplane.results.concat([infoplane.load_results(run_dir), rec.results()])
print(table)

# %% [markdown]
# ## Overlaid: one plane per estimator, one epoch colour scale
#
# Red circles: DPI violations (a layer above the previous one by more than 0.05 bits). The
# softmax output is left out of the figure: the compressed estimator's value there is far off
# scale (see the table below), which would squash every other panel's trajectory.

# %%
hidden = [layer for layer in table.unique("layer") if layer != "output"]
fig, axes = plot.estimator_panel(table, ceilings=run_dir, ncols=3, layers=hidden)
plot.save(fig, FIGURES / "comparison_panel.png", dpi=150)
fig

# %% [markdown]
# The estimators disagree on the *values* but can be compared on the *shape*: the narrowest
# hidden layer (`layers.4`, 3 units) under each estimator, I(X;T) against the epoch.

# %%
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for name in table.unique("estimator"):
    s = table.where(estimator=name, layer="layers.4")
    order = np.argsort(s["epoch"])
    ixt = s["i_xt"][order]
    ax.plot(np.maximum(s["epoch"][order], 0.5), ixt / np.nanmax(np.abs(ixt)), ".-", label=name)
ax.set_xscale("log")
ax.set_xlabel("epoch (0 drawn at 0.5)")
ax.set_ylabel("I(X;T) / its max (each estimator)")
ax.set_title("layers.4: the shape of I(X;T) under each estimator")
ax.legend()
ax.grid(alpha=0.3)
plot.save(fig, FIGURES / "comparison_layer4.png", dpi=150)
plt.show()

# %% [markdown]
# ## The data-processing-inequality check, per estimator

# %%
for name in table.unique("estimator"):
    sel = table.where(estimator=name)
    v = infoplane.dpi_violations(sel, tolerance=0.05)
    n_checks = len(sel.unique("epoch")) * (len(sel.unique("layer")) - 1) * 2
    worst = max(v, key=lambda d: d.excess) if v else None
    print(f"{name:>17}: {len(v):3d} violations of {n_checks} checks"
          + (f"; worst: {worst.describe()}" if worst else ""))

# %% [markdown]
# Final values (last recorded epoch), every layer, every estimator. Units: bits (DSMI: bits
# of a non-Shannon quantity).

# %%
last = max(table.unique("epoch"))
layers = table.unique("layer")
print(f"{'':>17}" + "".join(f"{layer:>16}" for layer in layers))
for name in table.unique("estimator"):
    s = table.where(estimator=name, epoch=last)
    cells = []
    for layer in layers:
        r = s.where(layer=layer)
        cells.append(f"{r['i_xt'][0]:7.2f} / {r['i_ty'][0]:5.2f}")
    print(f"{name:>17}" + "".join(f"{c:>16}" for c in cells))
print("cells: I(X;T) / I(T;Y); ceilings:", infoplane.ceilings(x, y))

# %% [markdown]
# ## What each estimator can and cannot claim
#
# | estimator | what it measures | can claim | cannot claim |
# |---|---|---|---|
# | `binning` (Shwartz-Ziv & Tishby 2017) | plug-in MI of the layer quantised to 29 bins on [-1, 1] | how many distinguishable bin patterns the layer uses on the probe set; compression *of the quantised layer* | anything about the continuous layer: values move with the bin count (notebook 3); ≤ log2 N by construction |
# | `adaptive_binning` (Chelombiev et al. 2019) | the same with equal-mass bins recomputed per layer and epoch | a scale-free version of the above (ReLU layers are comparable) | independence from the bin count; comparisons of absolute values across epochs when the layer's range changes |
# | `kde` (Kolchinsky & Tracey 2017; Saxe et al. 2018) | an upper bound on I(X; T + noise), noise variance σ² | information of a noisy layer at that σ² | the deterministic network's I(X;T); changing σ² rescales everything |
# | `compressed` (Butakov et al. 2024) | kNN MI of a noisy layer and X, both compressed to 4 dims | finite, stochastic-network information for wide layers | more than the 4-d codes keep (check the autoencoder's loss, notebook 4); stable values on saturated layers (the output) |
# | `dsmi` (Liao, Liu et al. 2023) | DSMI, an entropy of a diffusion operator's spectrum | relative changes in class / cluster structure over training | Shannon-information statements, DPI; values depend on σ |
#
# ## What our run shows, and where it differs
#
# *(Written from the full-size run: 3000 epochs, 12 recorded epochs, seed 0, about 3 minutes
# on a 2-core CPU; test accuracy 99.4 %. The small CI size trains 30 epochs and shows the
# pipeline only.)*
#
# - **Binning, adaptive binning and KDE agree on the shape, not on the values.** All three see
#   fitting then compression in the narrow layers; at epoch 3000 the width-3 `layers.4` is at
#   1.67 bits binned, 1.86 bits KDE (σ² = 1e-3) but 4.85 bits with adaptive bins, and the
#   width-4 `layers.3` at 8.23, 7.30 and 8.96 bits. Normalised to its own maximum, `layers.4`
#   peaks near epoch 78 under all three and then falls (figure above). Adaptive binning, whose
#   bins follow the layer's spread of distinct values, sees the smallest relative drop.
# - **Binning and KDE obey the DPI on this run (0 of 120 checks violated), adaptive binning
#   breaks it 4 times** (by up to 0.27 bits, `layers.4` above `layers.3` at epoch 17): each
#   layer gets its own bins, so two layers are quantised differently and the inequality, which
#   holds for one fixed channel, need not hold for the estimates.
# - **The compressed (kNN) estimator is not comparable in value** and breaks the DPI most
#   (29 of 120; worst +6.6 bits, `layers.1` 7.70 above `layers.0` 1.06 at epoch 699): the
#   10-unit first layer is PCA-compressed to 4 dimensions and loses structure, and kNN
#   differential entropies are biased. Its `layers.4` curve peaks earlier (epoch 8–17) and ends
#   below zero (−0.52 bits); on the saturated softmax output it gives −137 bits, a
#   meaningless negative value (the README's honesty note). Its I(T;Y) is sensible for the deep
#   layers (0.96–1.00 bits) but not for `layers.0` (0.54).
# - **DSMI** (σ = 1, 512 inputs) is a different quantity: DSMI(T; clusters of X) shrinks with
#   depth (0.68 → 0.00 bits) and DSMI(T;Y) rises in the deep layers during training (0.83–0.98
#   bits at epoch 3000 for `layers.3`, `layers.4` and the output), but it is not monotone in
#   depth (16 DPI "violations"), which is expected: the DPI is a theorem about Shannon
#   information, not about DSMI.
# - **What can be claimed from this run**: that the narrow tanh layers of this network lose
#   information about X after epoch ~100 *as measured by quantised or noisy versions of them*,
#   consistently across three estimators; not how many bits the deterministic layer "really"
#   holds (for distinct inputs that is infinite or log2 N, Goldfeld et al. 2019).
