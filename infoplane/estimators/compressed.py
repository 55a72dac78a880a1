"""Information plane through lossy compression (Butakov et al., ICLR 2024).

Butakov, Tolmachev, Malanchuk, Neopryatnaya, Frolov & Didenko, "Information bottleneck analysis
of deep neural networks via lossy compression", ICLR 2024. The method, as implemented here:

1. **Stochastic layer.** Noise makes I(X;T) finite: ``noise="relative"`` (default, the paper's)
   T~ = t + sigma * t * eps, or ``noise="absolute"`` T~ = t + sigma * eps, eps ~ N(0, I),
   sigma = 1e-3 by default. The draw comes from ``jax.random.key(noise_seed)`` and is the same
   at every call, so successive epochs differ only by the network. sigma and the seed are
   recorded in the parameters.
2. **Compression.** The layer is compressed by PCA to ``dim`` components (default 4), fitted per
   layer per call in JAX (eigh of the d x d covariance). A layer no wider than ``dim`` is
   **kept whole** (all its principal components, i.e. only centred and rotated, which changes no
   entropy): ``dim`` larger than the width is allowed and means "no compression".
   The inputs X are compressed once per probe set, in `prepare`, by an autoencoder
   (``x_compressor="autoencoder"``, the paper's choice: a flax nnx MLP trained with optax Adam,
   deterministic given ``ae_seed``; its loss curve and reconstruction error are kept in the
   context and the error is surfaced in ``aux``), or by PCA (``x_compressor="pca"``, fast).
   Images (N, H, W[, C]) are flattened to rows by the probe, so the autoencoder is an MLP on
   the flattened pixels (the paper uses a convolutional one for MNIST; an MLP is enough to
   reach a 4-d code for the information plane, but its reconstruction error is higher --
   check ``aux["ae_recon_error"]``). Inputs with at most ``dim`` features are not compressed.
3. **Whitening** (``whiten=True``, default): X' and T' are each whitened separately
   (Sigma^{-1/2}(z - mean)). Mutual information is invariant under invertible maps of each
   variable, so I(X';T') and I(T';Y) are unchanged in theory, while the kNN estimator works
   much better on unit-scale coordinates (the joint space otherwise mixes very different
   scales). Entropies in ``aux`` are corrected by 0.5 log det Sigma, i.e. they are entropies
   of the unwhitened compressed variables. Caveat: when a layer's activations span fewer than
   ``dim`` directions (rank < dim), the extra principal components hold only the injected
   noise, and whitening scales them up to unit variance; the estimate then depends on the
   noise draw (we measured 0.5 vs 1.6 nats for two seeds on a rank-2 layer with dim = 4).
   Check ``aux["pca_lost"]`` / the layer's spectrum, and use ``dim`` <= the rank there.
4. **Entropies** by kNN (`infoplane.estimators.knn`, k = 5 by default): plain
   Kozachenko–Leonenko with the k-th neighbour for dimensions <= 4, the Berrett–Samworth–Yuan
   weighted KL over neighbours 1..k above 4 (so H(T') and H(X') use the plain form and the
   joint H(X',T') at dim 8 the weighted form with floor(8/4) = 2 bias constraints).

       I(X;T) = H(X') + H(T') - H(X',T')
       I(T;Y) = H(T') - sum_y p(y) H(T' | Y=y)

   The class-conditional entropies come from **one masked kNN pass**: distances to samples of
   another class are +inf, so each sample's neighbours lie in its own class, and
   H(T'|Y=y) = psi(N_y) + mean over the class of the per-sample terms; no loop over classes.
   The three neighbour searches of a layer (T', (X',T'), T' within its class) share one blocked
   pass over the rows (memory O(N * chunk)). H(X') is computed once, in `prepare`.

Every class needs at least k + 1 samples (checked in `prepare`). NaN activations are rejected
by `infoplane.estimate`. Samples that coincide exactly after noise (e.g. dead ReLU units with
relative noise, which leaves zeros at zero) give -inf entropies: use ``noise="absolute"`` there.
The same holds for X': discrete inputs compressed by PCA can coincide (e.g. the 4096 binary
patterns of the Shwartz-Ziv–Tishby set projected on 4 principal axes) and give NaN; the
autoencoder's continuous code does not. On such near-deterministic layers the method measures
mostly the injected noise: I(X;T) can exceed log N and I(T;Y) can come out slightly negative
(kNN bias when the class subsets have a lower intrinsic dimension than ``dim``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import digamma

from infoplane.estimators._base import Estimate, Probe, check_units, dataclass_params, nats_to
from infoplane.estimators._numerics import pairwise_sqdist
from infoplane.estimators.knn import (
    CHUNK,
    entropy_from_log_radii,
    entropy_weights,
    knn_sqdist,
    map_row_blocks,
    smallest_k,
)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CompressedContext:
    """What `Compressed.prepare` computes once per probe set.

    labels: int32 (N,); class_counts: float32 (C,) samples per class;
    x_code: float32 (N, dx) the compressed (and, with whiten, whitened) inputs X';
    h_x: float32 () H(X') in nats (of the unwhitened code);
    x_shift: float32 () 0.5 log det of the code's covariance (0 without whitening), so that
      H(x_code) = h_x - x_shift;
    ae_loss: float32 (S,) autoencoder training loss per step (MSE on standardised X; empty for
      PCA); ae_recon_error: float32 () final reconstruction MSE on standardised X, i.e. the
      fraction of the inputs' variance the code loses (PCA: the discarded variance fraction;
      0 when X is not compressed).
    """

    labels: jax.Array
    class_counts: jax.Array
    x_code: jax.Array
    h_x: jax.Array
    x_shift: jax.Array
    ae_loss: jax.Array
    ae_recon_error: jax.Array
    n_classes: int = dataclasses.field(metadata=dict(static=True))


def pca_project(z, dim: int):
    """Project centred z onto its top ``dim`` principal components (all of them if d <= dim).

    z: (N, d) -> (codes (N, min(d, dim)), variances (min(d, dim),) of the codes, discarded
    variance fraction ()).
    """
    zc = z - jnp.mean(z, axis=0)
    cov = zc.T @ zc / (z.shape[0] - 1)  # (d, d)
    lam, u = jnp.linalg.eigh(cov)  # ascending
    m = min(dim, z.shape[1])
    lam_top, u_top = lam[::-1][:m], u[:, ::-1][:, :m]
    total = jnp.sum(jnp.maximum(lam, 0.0))
    lost = jnp.where(total > 0, 1.0 - jnp.sum(jnp.maximum(lam_top, 0.0)) / total, 0.0)
    return zc @ u_top, lam_top, lost


def whiten_codes(codes, lam):
    """Divide principal-component codes by their standard deviations.

    Returns (whitened codes, 0.5 * sum log lam) -- the entropy shift back to the codes."""
    lam = jnp.maximum(lam, jnp.finfo(jnp.float32).tiny)
    return codes / jnp.sqrt(lam), 0.5 * jnp.sum(jnp.log(lam))


# ---- autoencoder for X -------------------------------------------------------------------------


def train_autoencoder(x, dim: int, *, hidden: int, steps: int, lr: float, batch: int,
                      seed: int):
    """Train an MLP autoencoder D -> hidden -> hidden -> dim -> hidden -> hidden -> D.

    x: (N, D) float32, standardised by the caller. Adam, minibatches drawn with replacement,
    the whole loop one jitted ``lax.scan`` (compiled once per configuration and shape);
    deterministic given ``seed``.
    Returns (codes (N, dim), loss per step (steps,), final reconstruction MSE ()).
    """
    n, d_in = x.shape
    fit, params = _autoencoder(n, d_in, dim, hidden, steps, lr, batch, seed)
    return fit(params, x, jax.random.key(seed))


@functools.cache
def _autoencoder(n: int, d_in: int, dim: int, hidden: int, steps: int, lr: float, batch: int,
                 seed: int):
    import optax
    from flax import nnx  # imported here: only the autoencoder needs flax/optax

    class AE(nnx.Module):
        def __init__(self, rngs):
            self.e1 = nnx.Linear(d_in, hidden, rngs=rngs)
            self.e2 = nnx.Linear(hidden, hidden, rngs=rngs)
            self.e3 = nnx.Linear(hidden, dim, rngs=rngs)
            self.d1 = nnx.Linear(dim, hidden, rngs=rngs)
            self.d2 = nnx.Linear(hidden, hidden, rngs=rngs)
            self.d3 = nnx.Linear(hidden, d_in, rngs=rngs)

        def encode(self, v):
            return self.e3(jnp.tanh(self.e2(jnp.tanh(self.e1(v)))))

        def __call__(self, v):
            return self.d3(jnp.tanh(self.d2(jnp.tanh(self.d1(self.encode(v))))))

    graphdef, params = nnx.split(AE(nnx.Rngs(seed)))
    opt = optax.adam(lr)
    bsz = min(batch, n)

    def loss_fn(p, xb):
        return jnp.mean(jnp.square(nnx.merge(graphdef, p)(xb) - xb))

    @jax.jit
    def fit(params, x, key):
        def step(carry, key):
            p, s = carry
            xb = x[jax.random.randint(key, (bsz,), 0, n)]
            loss, g = jax.value_and_grad(loss_fn)(p, xb)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (p, _), losses = lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
        model = nnx.merge(graphdef, p)
        return model.encode(x), losses, jnp.mean(jnp.square(model(x) - x))

    return fit, params


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _knn_entropy_nats(z, k: int, weights, chunk: int):
    """kNN entropy (nats) of z (N, d) with the given neighbour weights."""
    n, d = z.shape
    d2 = knn_sqdist(z, k, chunk=chunk)
    return digamma(jnp.float32(n)) + jnp.mean(entropy_from_log_radii(0.5 * jnp.log(d2), n, d,
                                                                     weights))


# ---- the estimator -----------------------------------------------------------------------------


def _layer_radii(t, x, labels, k: int, chunk: int):
    """One blocked pass: squared distances to the k nearest other samples in T', in (X', T')
    and in T' within the sample's own class. t: (N, dt), x: (N, dx) -> three (N, k)."""
    n = t.shape[0]
    cols = jnp.arange(n, dtype=jnp.int32)

    def block(rows, tb, xb, lb):
        self_ = rows[:, None] == cols[None, :]
        d_t = jnp.where(self_, jnp.inf, pairwise_sqdist(tb, t))  # (chunk, N)
        d_xt = d_t + pairwise_sqdist(xb, x)
        d_ty = jnp.where(lb[:, None] != labels[None, :], jnp.inf, d_t)
        return smallest_k(d_t, k), smallest_k(d_xt, k), smallest_k(d_ty, k)

    return map_row_blocks(block, n, chunk, t, x, labels)


@dataclasses.dataclass(frozen=True)
class Compressed:
    """kNN information plane of noisy, compressed layers (Butakov et al. 2024).

    Args:
      sigma: noise scale (default 1e-3), > 0.
      noise: "relative" (t + sigma t eps, default) or "absolute" (t + sigma eps).
      noise_seed: seed of the noise draw (the same draw at every call).
      dim: compressed dimension of X and of each layer (default 4). Layers (and inputs) no
        wider than ``dim`` are kept whole, not compressed.
      x_compressor: "autoencoder" (default, the paper's) or "pca".
      k: kNN neighbours (default 5).
      weighted: kNN entropy form, as in `knn_entropy`: None (default, the paper's) -- plain
        KL for dimensions <= 4, BSY weighted KL above; False -- plain KL everywhere (lower
        variance: with k = 5 the BSY weights are ~+-10 and its estimate of an 8-d entropy
        spreads by ~0.25 nats at N = 4000, while plain KL is ~0.06 nats low with a spread of
        ~0.03); True -- BSY everywhere.
      whiten: whiten X' and T' separately before the kNN estimates (default True; see the
        module docstring -- MI is unchanged, the estimator's bias is smaller).
      ae_hidden, ae_steps, ae_lr, ae_batch, ae_seed: the autoencoder's hidden width, Adam
        steps, learning rate, minibatch size and seed.
      chunk: rows per distance block (memory O(N * chunk)); no effect on results.
      units: "bits" (default) or "nats".

    ``estimate_layer(ctx, t)``: t (N, d) -> `Estimate` with ``i_xt``, ``i_ty`` and aux
    ``h_t`` = H(T'), ``h_t_given_y``, ``h_x`` = H(X'), ``h_xt`` = H(X',T') (differential
    entropies, may be negative), ``pca_lost`` (fraction of the noisy layer's variance PCA
    dropped) and ``ae_recon_error`` (see `CompressedContext`).

    Example::

        est = infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
    """

    sigma: float = 1e-3
    noise: str = "relative"
    noise_seed: int = 0
    dim: int = 4
    x_compressor: str = "autoencoder"
    k: int = 5
    weighted: bool | None = None
    whiten: bool = True
    ae_hidden: int = 64
    ae_steps: int = 2000
    ae_lr: float = 3e-3
    ae_batch: int = 256
    ae_seed: int = 0
    chunk: int = CHUNK
    units: str = "bits"

    name: ClassVar[str] = "compressed"
    epoch_batching: ClassVar[str] = "map"

    def __post_init__(self):
        check_units(self.units)
        if not (isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma)
                and self.sigma > 0):
            raise ValueError(
                f"Compressed needs a noise scale sigma > 0, got {self.sigma!r}: without noise "
                "I(X;T) of a deterministic network is infinite. Butakov et al. use 1e-3."
            )
        if self.noise not in ("relative", "absolute"):
            raise ValueError(
                f"noise must be 'relative' (t + sigma*t*eps, the paper's) or 'absolute' "
                f"(t + sigma*eps), got {self.noise!r}."
            )
        if self.x_compressor not in ("autoencoder", "pca"):
            raise ValueError(
                f"x_compressor must be 'autoencoder' or 'pca', got {self.x_compressor!r}."
            )
        for name in ("dim", "k", "ae_hidden", "ae_steps", "ae_batch", "chunk"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Compressed {name} must be a positive integer, got {v!r}.")
        if self.weighted not in (None, True, False):
            raise ValueError(f"weighted must be None, True or False, got {self.weighted!r}.")
        entropy_weights(self.k, 2 * self.dim, self.weighted)  # raises if k is too small

    def params(self) -> tuple:
        return dataclass_params(self)

    # -- prepare: once per probe set, on the host --

    def prepare(self, probe: Probe) -> CompressedContext:
        labels = np.asarray(probe.labels)
        n = labels.shape[0]
        counts = np.bincount(labels, minlength=probe.n_classes)
        if n <= self.k:
            raise ValueError(
                f"Compressed with k={self.k} needs more than k samples, got N={n}."
            )
        small = [(probe.class_values[c] if probe.class_values else c, int(counts[c]))
                 for c in range(probe.n_classes) if counts[c] < self.k + 1]
        if small:
            raise ValueError(
                f"Every class needs at least k + 1 = {self.k + 1} samples for the kNN "
                f"estimate of H(T|Y), but these (label, count) pairs have fewer: {small}. "
                "Use a larger probe set, merge rare classes, or a smaller k."
            )
        x = jnp.asarray(probe.x, jnp.float32)
        mu, sd = jnp.mean(x, axis=0), jnp.std(x, axis=0)
        xs = (x - mu) / jnp.where(sd > 0, sd, 1.0)  # standardised inputs
        ae_loss = jnp.zeros((0,), jnp.float32)
        if x.shape[1] <= self.dim:
            codes, lam, lost = pca_project(x, self.dim)
            lost = jnp.float32(0.0)
        elif self.x_compressor == "pca":
            codes, lam, lost = pca_project(xs, self.dim)
        else:
            raw, ae_loss, lost = train_autoencoder(
                xs, self.dim, hidden=self.ae_hidden, steps=self.ae_steps, lr=self.ae_lr,
                batch=self.ae_batch, seed=self.ae_seed,
            )
            codes, lam, _ = pca_project(raw, self.dim)  # a rotation of the code: same entropy
        x_code, x_shift = whiten_codes(codes, lam) if self.whiten else (codes, 0.0)
        d = x_code.shape[1]
        h_x = _knn_entropy_nats(x_code, self.k, entropy_weights(self.k, d, self.weighted),
                                min(self.chunk, n)) + x_shift
        if not np.isfinite(float(h_x)):
            n_distinct = np.unique(np.asarray(x_code), axis=0).shape[0]
            raise ValueError(
                f"The compressed inputs X' have repeated points ({n} samples, {n_distinct} "
                f"distinct after {self.x_compressor if x.shape[1] > self.dim else 'no'} "
                "compression), so a k-nearest-neighbour distance is 0 and H(X') is not finite. "
                "Discrete inputs (e.g. binary patterns) often collide under PCA: use "
                "x_compressor='autoencoder', a larger dim, or a probe set without repeats."
            )
        return CompressedContext(
            labels=jnp.asarray(labels, jnp.int32),
            class_counts=jnp.asarray(counts, jnp.float32),
            x_code=x_code,
            h_x=jnp.asarray(h_x, jnp.float32),
            x_shift=jnp.asarray(x_shift, jnp.float32),
            ae_loss=ae_loss,
            ae_recon_error=jnp.asarray(lost, jnp.float32),
            n_classes=probe.n_classes,
        )

    # -- the pure per-layer function --

    def compress_layer(self, t):
        """Noisy layer -> (PCA codes (N, m), their variances (m,), discarded variance ())."""
        t = t.astype(jnp.float32)
        eps = jax.random.normal(jax.random.key(self.noise_seed), t.shape, jnp.float32)
        scale = t if self.noise == "relative" else 1.0
        return pca_project(t + jnp.float32(self.sigma) * scale * eps, self.dim)

    def estimate_layer(self, ctx: CompressedContext, t) -> Estimate:
        n = t.shape[0]
        codes, lam, lost = self.compress_layer(t)
        shift_t = jnp.float32(0.0)
        if self.whiten:
            codes, shift_t = whiten_codes(codes, lam)
        dt, dx = codes.shape[1], ctx.x_code.shape[1]
        w_t = entropy_weights(self.k, dt, self.weighted)
        w_xt = entropy_weights(self.k, dt + dx, self.weighted)
        r_t, r_xt, r_ty = _layer_radii(codes, ctx.x_code, ctx.labels, self.k,
                                       min(self.chunk, n))
        psi_n = digamma(jnp.float32(n))
        term_t = entropy_from_log_radii(0.5 * jnp.log(r_t), n, dt, w_t)  # (N,)
        term_xt = entropy_from_log_radii(0.5 * jnp.log(r_xt), n, dt + dx, w_xt)
        term_ty = entropy_from_log_radii(0.5 * jnp.log(r_ty), n, dt, w_t)
        h_t = psi_n + jnp.mean(term_t)  # of the whitened codes
        h_xt = psi_n + jnp.mean(term_xt)
        p_y = ctx.class_counts / n
        # sum_y p(y) [psi(N_y) + mean_{i in y} term_i] = sum_y p(y) psi(N_y) + mean_i term_i
        h_t_y = jnp.sum(jnp.where(ctx.class_counts > 0, p_y * digamma(
            jnp.maximum(ctx.class_counts, 1.0)), 0.0)) + jnp.mean(term_ty)
        i_xt = (ctx.h_x - ctx.x_shift) + h_t - h_xt  # all three in whitened coordinates
        i_ty = h_t - h_t_y
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        return Estimate(
            i_xt=conv(i_xt),
            i_ty=conv(i_ty),
            aux={
                "h_t": conv(h_t + shift_t),
                "h_t_given_y": conv(h_t_y + shift_t),
                "h_x": conv(ctx.h_x),
                "h_xt": conv(h_xt + shift_t + ctx.x_shift),
                "pca_lost": lost,
                "ae_recon_error": ctx.ae_recon_error,
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )
