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
# # The matrix-based Rényi information plane of a small CNN
#
# Wickstrøm et al. (*Information plane analysis of deep neural networks via matrix-based
# Renyi's entropy and tensor kernels*, 2019) and Yu et al. (*Understanding convolutional
# neural networks with information theory: an initial exploration*, IEEE TNNLS 2020) drew the
# information plane of convolutional networks with the **matrix-based Rényi α-entropy** of
# Giraldo, Rao & Príncipe (2014): no density, no bins; the entropy of a layer is that of the
# eigenvalues of the normalised Gram matrix ``A = K / n`` of its n probe samples,
# ``S_α(A) = log2(Σ λ_i^α) / (1 − α)``, and the mutual information is
# ``I_α(A; B) = S_α(A) + S_α(B) − S_α(A ∘ B / tr(A ∘ B))`` (∘: the Hadamard product). A conv
# layer's kernel is the Gaussian kernel of the whole flattened map (Wickstrøm et al.'s tensor
# kernel). The label's kernel is the class-identity kernel.
#
# **Their claims**, for CNNs under this estimator: (1) I(T;Y) rises in every layer during
# training; (2) the later layers show a compression phase, I(X;T) falling after an initial
# rise, more visible with more training; (3) the layers keep the data-processing-inequality
# (DPI) order, I(X;T_1) ≥ I(X;T_2) ≥ …, approximately.
#
# This notebook trains a small 1-D conv net on **MNIST-1D** (Greydanus & Kobak 2020, generated
# by the `mnist1d` package: no download), records it with a `Recorder`, and estimates the same
# probe rows with `MatrixRenyi` (α = 1.01, kernel widths by the k = 10 nearest-neighbour rule
# of Wickstrøm et al., recomputed for every layer and epoch) and with uniform binning, for
# contrast. It is a check of the qualitative claims on a small problem, not of the papers'
# numbers (they trained on MNIST, CIFAR-10 and larger networks).
#
# Size: `INFOPLANE_NOTEBOOK_SIZE=small` for the quick CI version; the default is the full size.
# Outputs go to `INFOPLANE_NOTEBOOK_OUT` (default `notebooks/output/`).

# %%
import json
import os
import pathlib
import shutil
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import infoplane
from infoplane import plot
from infoplane.estimators import Binning, MatrixRenyi

SMALL = os.environ.get("INFOPLANE_NOTEBOOK_SIZE", "full").lower() == "small"
HERE = pathlib.Path.cwd() if pathlib.Path.cwd().name == "notebooks" else pathlib.Path("notebooks")
OUT = pathlib.Path(os.environ.get("INFOPLANE_NOTEBOOK_OUT") or HERE / "output") / "07_renyi"
FIGURES = OUT if SMALL else HERE / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
RUNS = OUT / "runs"
shutil.rmtree(RUNS, ignore_errors=True)  # this notebook's own runs: start afresh

EPOCHS = 6 if SMALL else 600
POINTS = 3 if SMALL else 20  # log-spaced recorded epochs (duplicates after rounding dropped)
SEEDS = [0] if SMALL else [0, 1, 2]
N_PROBE = 128 if SMALL else 1024  # probe rows: both estimators see the same stratified subset
print(f"size: {'small' if SMALL else 'full'}: {EPOCHS} epochs, {POINTS} recorded epochs, "
      f"seeds {SEEDS}, {N_PROBE} probe signals")

# %% [markdown]
# ## Data and network
#
# MNIST-1D: 4000 training and 1000 test signals of 40 values, 10 classes (the package's
# defaults, seed 42). The network is ours (the papers used LeNet-like and VGG nets on images):
# two 1-D convolutions (kernel 5, "SAME", ReLU, max pool 2), 8 then 16 channels, then dense
# 64 and 32 ReLU layers and 10 logits. Recorded layers (the input of each next layer, so
# after pooling): `conv1` (20 × 8 = 160 values), `conv2` (10 × 16 = 160), `fc1` (64), `fc2`
# (32) and the softmax `output` (10).

# %%
data = infoplane.datasets.load_mnist1d()
x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
print(x_train.shape, x_test.shape, np.bincount(y_train))


class CNN1D(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 8, kernel_size=(5,), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, kernel_size=(5,), padding="SAME", rngs=rngs)
        self.fc1 = nnx.Linear(160, 64, rngs=rngs)
        self.fc2 = nnx.Linear(64, 32, rngs=rngs)
        self.head = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1, 1)  # (N, 40) signals -> (N, 40, 1): length, channels
        x = nnx.max_pool(jax.nn.relu(self.conv1(x)), (2,), strides=(2,))
        x = nnx.max_pool(jax.nn.relu(self.conv2(x)), (2,), strides=(2,))
        x = jax.nn.relu(self.fc1(x.reshape(x.shape[0], -1)))
        x = jax.nn.relu(self.fc2(x))
        return self.head(x)


print("recorded layers:", infoplane.layer_names_nnx(CNN1D(nnx.Rngs(0)), x_train[:2]))

# %% [markdown]
# ## Training and recording
#
# Adam 1e-3, minibatches of 100 (as the `mnist1d-mlp` preset). One `Recorder` holds every
# seed. Both estimators see the same class-stratified subset of the training signals
# (`Subsample` with the same size and seed draws the same rows): `MatrixRenyi()` with its
# defaults (α = 1.01, exact float64 eigenvalues up to 4096 rows), and `Binning(range='data')`
# (30 bins over each layer's own range: ReLU layers are unbounded).

# %%
estimators = [infoplane.Subsample(MatrixRenyi(), n=N_PROBE),
              infoplane.Subsample(Binning(range="data"), n=N_PROBE)]
schedule = infoplane.Schedule.log_spaced(EPOCHS, POINTS)
rec = infoplane.Recorder(x_train, y_train, estimators, logdir=RUNS, name="cnn1d",
                         schedule=schedule, buffer=8, flush_seconds=float("inf"),
                         image_every=0)


def train_step(model, optimizer, xb, yb):
    def loss_fn(model):
        return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


train_step = nnx.jit(train_step)


def accuracy(model, x, y):
    return float(jnp.mean(jnp.argmax(model(x), -1) == y))


t0 = time.perf_counter()
final_models = {}
for seed in SEEDS:
    model = CNN1D(nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    for epoch in range(EPOCHS + 1):
        if epoch > 0:  # epoch 0 records the untrained network
            perm = rng.permutation(len(y_train))
            for i in range(0, len(perm), 100):
                idx = perm[i:i + 100]
                train_step(model, optimizer, x_train[idx], y_train[idx])
        if rec.record(epoch, model, seed=seed):
            rec.log_metrics(epoch, {"train_acc": accuracy(model, x_train, y_train),
                                    "test_acc": accuracy(model, x_test, y_test)}, seed=seed)
    print(f"seed {seed}: train acc {accuracy(model, x_train, y_train):.3f}, test acc "
          f"{accuracy(model, x_test, y_test):.3f} ({time.perf_counter() - t0:.0f} s so far)")
    final_models[seed] = model
rec.close()
run_dir = rec.run_dir
print(f"recorded epochs {list(schedule.epochs)}; {time.perf_counter() - t0:.0f} s in all")

# the matrix-based entropies of the probe itself (aux.csv): the ceilings of the Rényi plane,
# I_alpha(X;T) <= S_alpha(X) and I_alpha(T;Y) <= S_alpha(Y)
aux = [r for r in infoplane.load_aux(run_dir) if r["estimator"] == "matrix_renyi"]
S_X = float(np.mean([r["value"] for r in aux if r["name"] == "s_x"]))
S_Y = float(np.mean([r["value"] for r in aux if r["name"] == "s_y"]))
RENYI_CEILINGS = {"h_x_bits": S_X, "h_y_bits": S_Y}
print(f"matrix-based S(X) = {S_X:.2f} bits, S(Y) = {S_Y:.2f} bits (log2 N = {np.log2(N_PROBE):.2f})")

# %% [markdown]
# ## The two information planes
#
# Mean of the seeds (±1.96 standard errors), points coloured by epoch, red circles where a
# layer exceeds the one before it by more than 0.05 bits (a DPI violation). Dashed: the
# ceilings, for the Rényi plane the probe's own matrix-based S(X) and S(Y), for binning the
# Shannon H(X) = log2 N and H(Y).

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
plot.information_plane(run_dir, estimator="matrix_renyi", ax=axes[0], ceilings=RENYI_CEILINGS,
                       title="matrix-based Rényi (α = 1.01, knn widths)")
plot.information_plane(run_dir, estimator="binning", ax=axes[1], legend=False,
                       title="uniform binning (30 bins, each layer's range)")
plot.save(fig, FIGURES / "renyi_vs_binning_plane.png", dpi=150)
plt.show()

# %%
fig, axes = plot.information_curves(run_dir, estimator="matrix_renyi", ceilings=RENYI_CEILINGS)
plot.save(fig, FIGURES / "renyi_curves.png", dpi=150)
fig

# %% [markdown]
# The hidden layers' I(X;T) move by tenths of a bit; zoomed in (no ceiling line):

# %%
hidden = ["conv1", "conv2", "fc1", "fc2"]
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plot.information_curves(run_dir, estimator="matrix_renyi", quantity="i_xt", layers=hidden,
                        axes=ax, ceilings=None, title="hidden layers: I_α(X;T), mean of seeds")
plot.save(fig, FIGURES / "renyi_hidden_ixt.png", dpi=150)
plt.show()

# %% [markdown]
# ## In numbers
#
# Per layer, mean over seeds: I(X;T) at epoch 0, at its peak, and at the end; I(T;Y) at
# epoch 0 and at the end; and how many seeds show a drop of I(X;T) from its peak of more than
# 0.05 bits (the compression phase). Then the DPI checks and accuracy.

# %%
res = infoplane.load_results(run_dir)
epochs = np.array(sorted(res.unique("epoch")))


def per_seed(sel, layer, column):
    """(seeds, epochs) array of one column of one layer."""
    rows = []
    for seed in SEEDS:
        s = sel.where(layer=layer, seed=seed)
        rows.append(s[column][np.argsort(s["epoch"])])
    return np.array(rows)


summary = {}
for name in ("matrix_renyi", "binning"):
    sel = res.where(estimator=name)
    print(f"{name}  (bits)")
    for layer in sel.unique("layer"):
        ixt, ity = per_seed(sel, layer, "i_xt"), per_seed(sel, layer, "i_ty")
        m = ixt.mean(0)
        drops = ixt.max(1) - ixt[:, -1]
        summary[name, layer] = (m, ity.mean(0), drops)
        print(f"  {layer:>6}: I(X;T) {m[0]:5.2f} -> peak {m.max():5.2f} (epoch "
              f"{epochs[m.argmax()]:>3}) -> {m[-1]:5.2f}; drop from peak "
              f"{drops.mean():4.2f} (> 0.05 in {int((drops > 0.05).sum())}/{len(SEEDS)} seeds);"
              f"  I(T;Y) {ity.mean(0)[0]:4.2f} -> {ity.mean(0)[-1]:4.2f}")

for name in ("matrix_renyi", "binning"):
    sel = res.where(estimator=name)
    v = infoplane.dpi_violations(sel, tolerance=0.05)
    n_checks = len(SEEDS) * len(epochs) * (len(sel.unique("layer")) - 1) * 2
    worst = max(v, key=lambda d: d.excess) if v else None
    print(f"{name:>13}: {len(v)} DPI violations (> 0.05 bits) of {n_checks} checks"
          + (f"; worst: {worst.describe()}" if worst else ""))

metrics = infoplane.load_metrics(run_dir)  # a list of row dicts
for seed in SEEDS:
    vals = {r["name"]: r["value"] for r in metrics if r["seed"] == seed and r["epoch"] == EPOCHS}
    print(f"seed {seed}, epoch {EPOCHS}: train acc {vals['train_acc']:.3f}, "
          f"test acc {vals['test_acc']:.3f}")

# %% [markdown]
# The matrix-based entropies behind these numbers (`aux.csv`, last epoch, mean of seeds):
# S(X) and S(Y) of the probe, each layer's S(T) and its kernel width σ_T. I(X;T) ≤ min(S(X),
# S(T)) and I(T;Y) ≤ min(S(T), S(Y)).

# %%
last = [r for r in aux if r["epoch"] == EPOCHS]  # aux: the rows read above (list of dicts)
for layer in res.unique("layer"):
    val = {key: np.mean([r["value"] for r in last if r["layer"] == layer and r["name"] == key])
           for key in ("s_t", "sigma_t")}
    print(f"{layer:>6}: S(T) {val['s_t']:5.2f} bits, sigma_T {val['sigma_t']:.3g}")
print(f"S(X) {S_X:.2f}, S(Y) {S_Y:.2f}, log2 N {np.log2(N_PROBE):.2f} bits")

# %% [markdown]
# ## How much the picture depends on the kernel width
#
# The matrix-based quantities are not Shannon information: their values depend on the kernel
# widths, here the mean distance to the k-th nearest neighbour (k = 10), recomputed for every
# layer and epoch. Seed 0's untrained and final networks, estimated on the same probe rows
# with k = 3 (narrower kernels) and k = 50 (wider), against the run's k = 10:

# %%
K_WIDTHS = (50,) if SMALL else (3, 50)  # the small CI size: one, to keep it quick
alt = infoplane.Recorder(x_train, y_train,
                         [infoplane.Subsample(MatrixRenyi(k=k), n=N_PROBE) for k in K_WIDTHS],
                         logdir=None, schedule=[0, EPOCHS], buffer=2,
                         flush_seconds=float("inf"))
alt.record(0, CNN1D(nnx.Rngs(SEEDS[0])))  # the same initialisation as the run's seed
alt.record(EPOCHS, final_models[SEEDS[0]])
alt.close()
widths = {10: res.where(estimator="matrix_renyi", seed=SEEDS[0])}
alt_res = alt.results()
for params in alt_res.unique("params"):  # the params column is JSON
    widths[json.loads(params)["k"]] = alt_res.where(params=params)
layers = res.unique("layer")
print("I(X;T) / I(T;Y) bits, seed", SEEDS[0], "  " + "".join(f"{layer:>13}" for layer in layers))
for k, sel in sorted(widths.items()):
    for epoch in (0, EPOCHS):
        e = sel.where(epoch=epoch)
        cells = [f"{e.where(layer=layer)['i_xt'][0]:5.2f} / {e.where(layer=layer)['i_ty'][0]:4.2f}"
                 for layer in layers]
        print(f"k = {k:>2}, epoch {epoch:>3}:     " + "".join(f"{c:>13}" for c in cells))

# %% [markdown]
# ## What our run shows
#
# *(Written from the full-size run: 600 epochs, 19 distinct log-spaced recorded epochs, 3
# seeds, 1024 probe signals; 17 minutes on a shared 2-core CPU, run with
# `OPENBLAS_NUM_THREADS=1`: on a loaded host OpenBLAS's default threads made the float64
# eigenvalue problems up to ~30x slower, see benchmarks/RESULTS.md. The small CI size trains
# 6 epochs on 128 signals and shows the pipeline only.)* Train accuracy 100 % in every seed,
# test accuracy 79.7–82.5 %: the net overfits MNIST-1D, as small nets do. Matrix-based
# S(X) = 5.84 bits and S(Y) = 3.32 bits on the probe (log2 N = 10).
#
# - **Claim 1, I(T;Y) rises in every layer: yes, except in the first.** Mean of seeds, epoch 0
#   → 600: `conv2` 1.57 → 1.63 bits (peak 1.65), `fc1` 1.48 → 1.93, `fc2` 1.41 → 2.47, the
#   output 1.33 → 3.32 = S(Y) (reached by epoch 79). `conv1` stays flat (1.48 → 1.46).
# - **Claim 2, compression in the later layers: clearly in the output, barely in the hidden
#   layers.** Every layer's I(X;T) rises over the first 1–2 epochs, then falls. The output
#   drops by 1.29 bits (3.67 at epoch 1 → 2.39 by epoch 79–111, flat after); the hidden layers
#   drop by 0.06 (`conv1`), 0.10 (`conv2`), 0.07 (`fc1`) and 0.13 bits (`fc2`), in 3/3 seeds
#   (2/3 for `conv1`), about the size of the seed-to-seed spread of the values (standard
#   deviation up to 0.06 bits). So the later layers do compress more, but "more visible with
#   more training" is not what we see: the drops are over by epoch ~100, and from epoch 111
#   to 600 no layer's I(X;T) moves by more than 0.01 bits.
# - **Claim 3, the DPI order: holds for I(X;T), approximately; inverted for I(T;Y).** I(X;T)
#   falls with depth: no layer exceeds the one before it by more than 0.05 bits except
#   `conv2` over `conv1` (32 of 228 checks, by at most 0.13 bits); at epoch 600 the first
#   three layers are within 0.05 bits of each other (3.66, 3.71, 3.70), then `fc2` 3.61 and
#   the output 2.38. I(T;Y) *grows* with depth (214 of 228 checks violated, worst: the output
#   0.94 bits above `fc2`), already at epoch 0 for `conv2` over `conv1`. For Shannon
#   information of a deterministic chain that is impossible; for the matrix-based quantity,
#   with a kernel width set per layer, nothing forbids it.
# - **The kernel width moves the values, and part of the picture.** With k = 3 / 10 / 50
#   neighbours for the width, `conv1`'s I(X;T) at epoch 0 is 4.60 / 3.68 / 2.63 bits. With
#   k = 3 the hidden layers' I(X;T) *rises* over training (`fc2` 4.53 → 4.75) and the I(X;T)
#   DPI order breaks (`fc2` 4.75 > `conv1` 4.54 at epoch 600); with k = 50 the hidden layers
#   end where they started (within 0.05 bits) and the order holds. Robust across the three
#   widths: the rise of I(T;Y) in the deeper layers, its inversion of the layer order, and the
#   output's compression.
# - **The output's late values are not meaningful.** As the softmax saturates, its k = 10
#   nearest-neighbour distance, the output's kernel width, shrinks from 0.11 (epoch 10) to
#   0.017 (epoch 79), 1e-4 (epoch 218) and 2.5e-8 (epoch 600, seed 0): past epoch ~200 the
#   kernel resolves differences of probabilities near float32 rounding. The output's
#   compression happened while its width was still ≥ 0.017, but its flat 2.4 bits after
#   epoch 200 measure rounding, not information.
# - **Binning on the same rows says nothing here.** Every hidden layer is at the ceiling
#   log2 N = 10 bits with I(T;Y) = H(Y) = 3.32 bits at every epoch (each probe signal gets
#   its own bin pattern, 30 bins per unit), so the binned plane is four points on top of each
#   other; only the saturating output moves (10 → 3.32 bits, onto one pattern per class).
#   The matrix-based plane separates the layers and shows movement where binning cannot;
#   what that movement means depends on the widths, as above.
# - **Where it differs from the papers.** MNIST-1D signals instead of MNIST/CIFAR-10 images,
#   our small ReLU 1-D conv net, Adam 1e-3, a fixed probe of 1024 training signals, the tensor
#   kernel only (not Yu et al.'s multivariate per-channel form, `MatrixRenyi(conv=
#   "multivariate", channels=C)`), α = 1.01 and the k = 10 nearest-neighbour width rule. This
#   run supports claim 1 (but for the first layer) and the DPI order in I(X;T); it shows a
#   strong compression only in the output and a weak one, of the size of the noise and
#   dependent on the kernel width, in the hidden layers.
