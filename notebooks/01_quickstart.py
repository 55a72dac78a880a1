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
# # Quickstart: the information plane of your own flax model
#
# `infoplane` records any flax model, **nnx or linen**, without changing its class: give a
# `Recorder` a probe set `(x, y)` and call `record(epoch, model)` in your training loop. Every
# layer's representation T is captured in one jitted forward pass and the estimators give the
# two coordinates of the *information plane* (Shwartz-Ziv & Tishby 2017): I(X;T), what the layer
# keeps about its input, and I(T;Y), what it keeps about the label.
#
# This notebook trains a small MLP on scikit-learn's bundled 8x8 handwritten digits (no
# download), first written with `flax.nnx`, then with `flax.linen`, and shows the plane inline.
# The same numbers are in TensorBoard (see the end).
#
# Size: set `INFOPLANE_NOTEBOOK_SIZE=small` for the quick CI version (a few epochs); the default
# is the full size. Outputs go to `INFOPLANE_NOTEBOOK_OUT` (default `notebooks/output/`).

# %%
import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen, nnx

import infoplane
from infoplane import plot

SMALL = os.environ.get("INFOPLANE_NOTEBOOK_SIZE", "full").lower() == "small"
HERE = pathlib.Path.cwd() if pathlib.Path.cwd().name == "notebooks" else pathlib.Path("notebooks")
OUT = pathlib.Path(os.environ.get("INFOPLANE_NOTEBOOK_OUT") or HERE / "output") / "01_quickstart"
FIGURES = OUT if SMALL else HERE / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
RUNS = OUT / "runs"
shutil.rmtree(RUNS, ignore_errors=True)  # this notebook's own runs: start afresh

EPOCHS = 12 if SMALL else 200
POINTS = 5 if SMALL else 20
print(f"size: {'small' if SMALL else 'full'}, {EPOCHS} epochs, {POINTS} recorded epochs")

# %% [markdown]
# ## Data: the digits, a training and a test probe set
#
# The probe sets are what the information is measured on. We record the training samples and,
# as a second series, the held-out test samples.

# %%
x, y = infoplane.datasets.load_digits()  # (1797, 8, 8, 1) in [0, 1], labels 0..9
x = x.reshape(len(x), -1)  # an MLP takes vectors: (1797, 64)
train, test = infoplane.datasets.train_test_split(len(y), 0.8, seed=0)
x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
print(x_train.shape, x_test.shape, "ceilings:", infoplane.ceilings(x_train, y_train))


# %% [markdown]
# ## 1. A flax nnx model: no change to its class
#
# Any `nnx.Module`. By default the recorder takes the *input* of every `Linear`/`Conv` (the
# previous layer's post-activation output, named after that layer) plus the softmax output.

# %%
class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(64, 32, rngs=rngs)
        self.fc2 = nnx.Linear(32, 16, rngs=rngs)
        self.fc3 = nnx.Linear(16, 8, rngs=rngs)
        self.head = nnx.Linear(8, 10, rngs=rngs)

    def __call__(self, x):
        x = jnp.tanh(self.fc1(x))
        x = jnp.tanh(self.fc2(x))
        x = jnp.tanh(self.fc3(x))
        return self.head(x)


model = MLP(nnx.Rngs(0))
print("recorded layers:", infoplane.layer_names_nnx(model, x_train[:2]))

# %% [markdown]
# An ordinary nnx training step with optax, minibatches of 64:

# %%
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)


@nnx.jit
def train_step(model, optimizer, xb, yb):
    def loss_fn(model):
        return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


def batches(rng, n, size=64):
    perm = rng.permutation(n)
    return [perm[i:i + size] for i in range(0, n, size)]


# %% [markdown]
# The recorder: two estimators (uniform binning over [-1, 1], the tanh range, and the
# Kolchinsky-Tracey KDE upper bound), a log-spaced schedule, the test probe as a second series.
# Each estimator's parameters are written next to every result.

# %%
schedule = infoplane.Schedule.log_spaced(EPOCHS, POINTS)
rec = infoplane.Recorder(
    x_train, y_train, estimators=["binning", "kde"], logdir=RUNS, name="nnx-mlp",
    test=(x_test, y_test), schedule=schedule,
    buffer=POINTS, flush_seconds=float("inf"),  # estimate every recorded epoch in one batch
)
rng = np.random.default_rng(0)
for epoch in range(EPOCHS + 1):
    if epoch > 0:  # epoch 0 records the untrained network
        for idx in batches(rng, len(y_train)):
            train_step(model, optimizer, x_train[idx], y_train[idx])
    rec.record(epoch, model)  # ignored at epochs the schedule skips
    if epoch in schedule:
        acc = float(jnp.mean(jnp.argmax(model(x_test), -1) == y_test))
        rec.log_metrics(epoch, {"test_acc": acc})
rec.close()
print("run directory:", rec.run_dir, "| final test accuracy:", round(acc, 3))

# %% [markdown]
# The results are a table (`infoplane.Results`); `.to_pandas()` gives a DataFrame if pandas is
# installed.

# %%
table = infoplane.load_results(rec.run_dir)
print(table)
last = table.where(estimator="binning", split="train", epoch=EPOCHS)
for layer, i_xt, i_ty in zip(last["layer"], last["i_xt"], last["i_ty"], strict=True):
    print(f"{layer:>7}  binned I(X;T) = {i_xt:5.2f} bits   I(T;Y) = {i_ty:4.2f} bits")

# %% [markdown]
# ### The plane, inline
#
# One trajectory per layer, points coloured by epoch, dashed ceilings I(X;T) <= H(X) and
# I(T;Y) <= H(Y) of the probe set, and data-processing-inequality violations (a deeper layer
# above a shallower one) circled in red.

# %%
fig, axes = plot.estimator_panel(rec.run_dir, split="train")
plot.save(fig, FIGURES / "quickstart_nnx_panel.png", dpi=150)
fig

# %% [markdown]
# Train and test probes, side by side:

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax_train, ax_test) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot.information_plane(rec.run_dir, estimator="kde", split="train", ax=ax_train)
plot.information_plane(rec.run_dir, estimator="kde", split="test", ax=ax_test, legend=False)
plt.show()


# %% [markdown]
# ## 2. A flax linen model
#
# The same recorder works for linen: pass the module and its variables,
# `rec.record(epoch, module, variables)`. Layer names are linen's (`Dense_0`, ...).

# %%
class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        for width in (32, 16, 8):
            x = jnp.tanh(linen.Dense(width)(x))
        return linen.Dense(10)(x)


module = LinenMLP()
variables = module.init(jax.random.key(0), x_train[:1])
tx = optax.adam(1e-3)
opt_state = tx.init(variables["params"])


@jax.jit
def linen_step(params, opt_state, xb, yb):
    def loss_fn(params):
        logits = module.apply({"params": params}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


print("recorded layers:", infoplane.layer_names_linen(module, variables, x_train[:2]))
params = variables["params"]
rec2 = infoplane.Recorder(x_train, y_train, estimators=["binning"], logdir=RUNS,
                          name="linen-mlp", schedule=schedule,
                          buffer=POINTS, flush_seconds=float("inf"))
for epoch in range(EPOCHS + 1):
    if epoch > 0:
        for idx in batches(rng, len(y_train)):
            params, opt_state, _ = linen_step(params, opt_state, x_train[idx], y_train[idx])
    rec2.record(epoch, module, {"params": params})
rec2.close()
fig, ax = plot.information_plane(rec2.run_dir)
plot.save(fig, FIGURES / "quickstart_linen_plane.png", dpi=150)
fig

# %% [markdown]
# ## 3. TensorBoard
#
# Every run directory already holds TensorBoard event files: I(X;T) and I(T;Y) per layer as
# scalars, the metrics, activation-saturation statistics and the information-plane image.
# From a terminal (this notebook starts no server):
#
# ```bash
# infoplane board --logdir notebooks/output/01_quickstart/runs
# # or, equivalently
# tensorboard --logdir notebooks/output/01_quickstart/runs
# ```

# %%
events = sorted(p.relative_to(RUNS) for p in RUNS.rglob("events.out.tfevents.*"))
print(len(events), "event files, e.g.", *events[:3], sep="\n  ")

# %% [markdown]
# ## What our run shows
#
# *(Full size: 200 epochs, 20 log-spaced recorded epochs; the small CI size shows the same
# pipeline on 12 epochs.)* The nnx MLP reaches 98.1 % test accuracy. The quickstart is about the
# mechanics, but the plane already shows the main caveat of these estimators on small probe
# sets: the wide layers `fc1` (32 units) and `fc2` (16 units) sit at the ceiling for the whole
# run, I(X;T) = log2 1438 = 10.49 bits and I(T;Y) = H(Y) = 3.32 bits, under binning *and* KDE
# (σ² = 1e-3): every training digit falls into its own bin pattern, so there is nothing left to
# measure. Only the narrow layers move: `fc3` (8 units) drops from 10.49 to 9.27 bits binned
# (9.37 KDE), and the softmax output rises to 9.4 bits (8.2 KDE) early in training, then falls
# to 3.4 bits, close to H(Y), as predictions become confident. The test probe (359 digits)
# behaves the same below its own ceiling, log2 359 = 8.49 bits. The linen twin gives the same
# picture (`Dense_2`: 10.49 → 7.74 bits). For planes that say more, use narrower layers, larger
# probe sets, or the estimators compared in notebooks 3 and 6.
