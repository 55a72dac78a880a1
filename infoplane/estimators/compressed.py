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
4. **Entropies** by kNN (`infoplane.estimators.knn`, k = 5), per-sample terms t_i with
   H = psi(N) + mean_i t_i. I(T;Y) = H(T') - sum_y p(y) H(T' | Y=y), plain KL (k-th
   neighbour); the class-conditional entropies come from **one masked kNN pass** (distances
   to other classes are +inf), H(T'|Y=y) = psi(N_y) + mean over the class.
5. **I(X;T)**, ``mi``:

   * ``"shuffle"`` (default): I = H(X'_pi, T') - H(X', T'), pi a fixed random permutation
     of the probe rows (from ``noise_seed``), each joint **jointly whitened** (`knn.whiten`,
     + 0.5 log det of its covariance, exact), plain KL. The shuffled pair has the same
     marginals and I = 0, so the kNN bias at independence cancels (the shuffle correction
     of neuroscience MI estimates, e.g. Panzeri et al. 2007), and joint whitening leaves
     kNN only the non-Gaussian part of the dependence; H(X'), H(T') drop out.
   * ``"entropy"``: I = H(X') + H(T') - H(X', T') (the paper's), with the paper's weights
     (plain KL up to 4 dimensions, BSY above: the 8-d joint at dim = 4 uses weights ~+-10).

   benchmarks/study_knn.py (Gaussian pairs, I = 0..10 nats, mapped smoothly into 64
   dimensions and PCA-compressed back, N = 5000, 10 seeds), error / spread at dim = 4:
   "shuffle" <= 0.03 / 0.07 nats for I <= 6, -0.10 at 8; "entropy" up to +0.56 / 0.13-0.29;
   at dim = 8: "shuffle" <= 0.12 / 0.04, "entropy" spreads by 50-100 nats.
6. **Flags.** Each estimate has a per-sample standard error std_i(p_i) / sqrt(N) of the terms
   p_i it is the mean of ("shuffle": with the log determinants' `knn.gaussian_influence`; it
   overstates the spread over seeds ~1.3-2.3x; "entropy" ~0.8-1x). One that is not finite,
   or whose standard error exceeds ``flag_stderr * max(|estimate|, 1 nat)``, or that rests
   on coincident codes (below), is **flagged**: i_xt / i_ty is NaN (tables, plots and the
   DPI / range checks leave it out; ``infoplane run`` prints "unstable"), the number is in
   ``aux["i_xt_raw"]`` / ``aux["i_ty_raw"]``, and ``aux["unstable"]`` is 1 (I(X;T)), 2
   (I(T;Y)) or 3 (both).
7. **Coincident codes.** Relative noise leaves zeros at zero: on ReLU layers the samples whose
   units are all dead share one noisy code, a kNN radius of H(T') is 0 and log 0 gives -inf
   or, under jit, junk; a unit dead on every probe sample leaves a code direction without
   variance, which whitening blows up (~100 bits of junk, both routes). ``aux["n_coincident"]``
   counts the samples whose used kNN radius in T' is 0 at float32 resolution (16 ulps), or
   is N when a direction holds no variance; > 0 withholds I(T;Y), and I(X;T) with mi="entropy"
   or a flat direction ("shuffle" uses joints with the distinct X' codes: finite, as with
   absolute noise). **Use ``noise="absolute"`` on ReLU layers.**

All neighbour searches of a layer (T', T' within its class, and the joints) share one blocked
pass over the rows (memory O(N * chunk)). H(X') is computed once, in `prepare`.

Every class needs at least k + 1 samples (checked in `prepare`). NaN activations are rejected
by `infoplane.estimate`. Coincident X' codes are refused in `prepare`: discrete inputs
compressed by PCA can coincide (e.g. the 4096 binary patterns of the Shwartz-Ziv–Tishby set
projected on 4 principal axes); the autoencoder's continuous code does not. On such
near-deterministic layers the method measures mostly the injected noise: I(X;T) can exceed
log N and I(T;Y) slightly negative (kNN bias: class subsets of intrinsic dimension < ``dim``).
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
from infoplane.estimators._compressed_checks import coincident
from infoplane.estimators._compressed_checks import unstable as _unstable
from infoplane.estimators._numerics import pairwise_sqdist
from infoplane.estimators._pca import pca_project
from infoplane.estimators.knn import (
    CHUNK,
    bsy_weights,
    capped_bsy_weights,
    entropy_from_log_radii,
    gaussian_influence,
    knn_sqdist,
    map_row_blocks,
    plain_weights,
    pow2_rescale,
    smallest_k,
    whiten,
)
from infoplane.estimators.validate import (
    check_choice,
    check_flag,
    check_int,
    check_real,
    check_seed,
)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CompressedContext:
    """What `Compressed.prepare` computes once per probe set.

    labels: int32 (N,); class_counts: float32 (C,) samples per class;
    x_code: float32 (N, dx) the compressed (and, with whiten, whitened) inputs X';
    x_shuffled: float32 (N, dx) x_code with its rows in a fixed random order (the shuffle);
    x_terms: float32 (N,) per-sample kNN entropy terms of x_code (mean = H - psi(N));
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
    x_shuffled: jax.Array
    x_terms: jax.Array
    h_x: jax.Array
    x_shift: jax.Array
    ae_loss: jax.Array
    ae_recon_error: jax.Array
    n_classes: int = dataclasses.field(metadata=dict(static=True))


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


@functools.partial(jax.jit, static_argnums=(1, 2))
def _entropy_terms(z, weights, chunk: int):
    """Per-sample kNN entropy terms (N,) of z (N, d): H = psi(N) + their mean (nats)."""
    d2 = knn_sqdist(z, len(weights), chunk=chunk)
    return entropy_from_log_radii(0.5 * jnp.log(d2), z.shape[0], z.shape[1], weights)


# ---- the estimator -----------------------------------------------------------------------------

#: ``mi`` routes for I(X;T) (module docstring, step 5).
ROUTES = ("shuffle", "entropy")


def _layer_radii(t, labels, k: int, chunk: int, spaces, modes):
    """One blocked pass: squared distances to the k nearest other samples in T', in T' within
    the sample's own class, and in each of ``spaces`` ((N, m) arrays): with mode "add" the
    space is X' and the distance is that of the concatenation (X', T') (d_t + d_x); with
    mode "own" the distance is that of the space itself. -> 2 + len(spaces) arrays (N, k)."""
    n = t.shape[0]
    cols = jnp.arange(n, dtype=jnp.int32)

    def block(rows, tb, lb, *zbs):
        self_ = rows[:, None] == cols[None, :]
        d_t = jnp.where(self_, jnp.inf, pairwise_sqdist(tb, t))  # (chunk, N)
        d_ty = jnp.where(lb[:, None] != labels[None, :], jnp.inf, d_t)
        out = [smallest_k(d_t, k), smallest_k(d_ty, k)]
        for z, zb, mode in zip(spaces, zbs, modes, strict=True):
            d_z = pairwise_sqdist(zb, z)
            out.append(smallest_k(d_t + d_z if mode == "add" else
                                  jnp.where(self_, jnp.inf, d_z), k))
        return tuple(out)

    return map_row_blocks(block, n, chunk, t, labels, *spaces)


@dataclasses.dataclass(frozen=True)
class Compressed:
    """kNN information plane of noisy, compressed layers (Butakov et al. 2024).

    Cost per call: the noisy layer's PCA (`_pca`): O(N d^2 + d^3) time, O(d^2) memory when
    d <= min(N, 2048); O(N^2 d + N^3), O(N^2) when d > N, N <= 2048; else O(N d k q) (k = dim
    + 10, q = 6 passes), O(N d); then one blocked kNN pass over the <= 2 dim-dimensional codes,
    O(N^2 dim) time, O(N chunk) memory. Compile time independent of d. `prepare` (once): the
    autoencoder, O(ae_steps ae_batch D ae_hidden) for D input features.

    Args:
      sigma: noise scale (default 1e-3), > 0.
      noise: "relative" (t + sigma t eps, default) or "absolute" (t + sigma eps).
      noise_seed: seed of the noise draw and of the shuffle (the same at every call).
      dim: compressed dimension of X and of each layer (default 4). Layers (and inputs) no
        wider than ``dim`` are kept whole, not compressed.
      x_compressor: "autoencoder" (default, the paper's) or "pca".
      k: kNN neighbours (default 5).
      mi: the I(X;T) route (module docstring, step 5): "shuffle" (default) or "entropy"
        (the paper's; with ``weighted=None`` the behaviour before issue 17).
      weighted: the kNN entropy form: None (default) -- plain KL (k-th neighbour) with
        mi="shuffle", the paper's with mi="entropy" (plain up to 4 dimensions, BSY weights
        with all floor(d/4) constraints above: ~+-10 for the 8-d joint at dim = 4); False --
        plain KL everywhere; True -- BSY everywhere: with mi="entropy" those weights, with
        mi="shuffle" bounded ones (`knn.capped_bsy_weights` at k: ||w||_2 <= 3, 1 constraint
        in 8-d; off Gaussians ~1 nat less bias at I = 8, at 2-3x the spread).
      flag_stderr: flag (NaN, number in aux) an estimate whose standard error exceeds
        ``flag_stderr * max(|estimate|, 1 nat)`` (default 0.25, > 0; e.g. 1e9 flags only
        non-finite ones; module docstring, step 6).
      whiten: whiten X' and T' separately before the kNN estimates (default True; see the
        module docstring -- MI is unchanged, the estimator's bias is smaller).
      ae_hidden, ae_steps, ae_lr, ae_batch, ae_seed: the autoencoder's hidden width, Adam
        steps, learning rate, minibatch size and seed.
      chunk: rows per distance block (memory O(N * chunk)); no effect on results.
      units: "bits" (default) or "nats".

    ``estimate_layer(ctx, t)``: t (N, d) -> `Estimate` with ``i_xt``, ``i_ty`` (NaN where
    flagged) and aux ``h_t`` = H(T'), ``h_t_given_y``, ``h_x`` = H(X'), ``h_xt`` = H(X',T')
    (differential entropies, may be negative), ``i_xt_shuffled`` (mi="shuffle": H(X') +
    H(T') - H(X'_pi, T'), the bias at I = 0 that was subtracted), ``i_xt_raw``, ``i_ty_raw``
    (flagged or not), ``i_xt_stderr``, ``i_ty_stderr``, ``unstable`` (0 to 3), ``n_coincident``
    (coincident noisy codes, e.g. dead ReLU units under relative noise: > 0 withholds, use
    ``noise="absolute"``; step 7), ``pca_lost`` (variance fraction PCA dropped), ``ae_recon_error``.

    Example::

        est = infoplane.estimate(Compressed(x_compressor="pca"), x, t, y)
    """

    sigma: float = 1e-3
    noise: str = "relative"
    noise_seed: int = 0
    dim: int = 4
    x_compressor: str = "autoencoder"
    k: int = 5
    mi: str = "shuffle"
    weighted: bool | None = None
    flag_stderr: float = 0.25
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
        c = "Compressed"
        check_real(self.sigma, "sigma", lo=0.0, lo_open=True, owner=c, hint="Compressed needs "
                   "a noise scale sigma > 0: without noise I(X;T) of a deterministic network "
                   "is infinite. Butakov et al. use 1e-3.")
        check_choice(self.noise, "noise", ("relative", "absolute"), owner=c, hint="'relative'"
                     " is t + sigma*t*eps (the paper's), 'absolute' t + sigma*eps.")
        check_choice(self.x_compressor, "x_compressor", ("autoencoder", "pca"), owner=c)
        check_choice(self.mi, "mi", ROUTES, owner=c, hint="'shuffle' (the default) is "
                     "shuffle-corrected and jointly whitened, 'entropy' the paper's "
                     "H(X') + H(T') - H(X',T').")
        for name in ("dim", "k", "ae_hidden", "ae_steps", "ae_batch", "chunk"):
            v = check_int(getattr(self, name), name, owner=c)
            if v < 1:
                raise ValueError(f"Compressed {name} must be a positive integer, got {v!r}.")
        check_flag(self.weighted, "weighted", owner=c, none=True)
        check_flag(self.whiten, "whiten", owner=c)
        check_real(self.flag_stderr, "flag_stderr", lo=0.0, lo_open=True, owner=c, hint="It is "
                   "a fraction of max(|estimate|, 1 nat); use e.g. 1e9 to flag only non-finite "
                   "estimates.")
        check_real(self.ae_lr, "ae_lr", lo=0.0, lo_open=True, owner=c,
                   hint="It is the autoencoder's Adam learning rate; the default is 3e-3.")
        check_seed(self.noise_seed, "noise_seed", owner=c)
        check_seed(self.ae_seed, "ae_seed", owner=c)
        self._weights(2 * self.dim)  # raises if k is too small for the BSY weights

    def params(self) -> tuple:
        return dataclass_params(self)

    def _weights(self, d: int) -> tuple[float, ...]:
        """Neighbour weights of a d-dimensional entropy (see ``weighted``)."""
        if self.weighted and self.mi == "shuffle":  # bounded: drop constraints, keep k
            return capped_bsy_weights(d, k_min=self.k, k_max=self.k)
        bsy = self.weighted or (self.weighted is None and self.mi == "entropy" and d > 4)
        return bsy_weights(self.k, d) if bsy else plain_weights(self.k)

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
        x_terms = _entropy_terms(x_code, self._weights(x_code.shape[1]), min(self.chunk, n))
        h_x = digamma(jnp.float32(n)) + jnp.mean(x_terms) + x_shift
        if not np.isfinite(float(h_x)):
            n_distinct = np.unique(np.asarray(x_code), axis=0).shape[0]
            raise ValueError(
                f"The compressed inputs X' have repeated points ({n} samples, {n_distinct} "
                f"distinct after {self.x_compressor if x.shape[1] > self.dim else 'no'} "
                "compression), so a k-nearest-neighbour distance is 0 and H(X') is not finite. "
                "Discrete inputs (e.g. binary patterns) often collide under PCA: use "
                "x_compressor='autoencoder', a larger dim, or a probe set without repeats."
            )
        perm = np.random.default_rng(self.noise_seed).permutation(n)
        return CompressedContext(
            labels=jnp.asarray(labels, jnp.int32),
            class_counts=jnp.asarray(counts, jnp.float32),
            x_code=x_code,
            x_shuffled=x_code[jnp.asarray(perm)],
            x_terms=x_terms,
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
        if self.noise == "relative":  # scale-free: a power of two keeps |t| ~ 1e-30 in range
            t = pow2_rescale(t)[0]  # (exact for every I; aux h_t / pca_lost of the scaled t)
        eps = jax.random.normal(jax.random.key(self.noise_seed), t.shape, jnp.float32)
        scale = t if self.noise == "relative" else 1.0
        return pca_project(t + jnp.float32(self.sigma) * scale * eps, self.dim)

    def estimate_layer(self, ctx: CompressedContext, t) -> Estimate:
        n = t.shape[0]
        codes, lam, lost = self.compress_layer(t)
        codes, shift_t = whiten_codes(codes, lam) if self.whiten else (codes, jnp.float32(0.0))
        dt, dx = codes.shape[1], ctx.x_code.shape[1]
        w_t, w_xt = self._weights(dt), self._weights(dt + dx)
        psi_n, chunk = digamma(jnp.float32(n)), min(self.chunk, n)
        def terms(r2, d, w):  # per-sample entropy terms from squared radii (mean = H - psi(N))
            return entropy_from_log_radii(0.5 * jnp.log(r2), n, d, w)

        if self.mi == "shuffle":  # all entropies of jointly whitened pairs (whitened coords)
            j, shift_j = whiten(jnp.concatenate([ctx.x_code, codes], axis=1))
            js, shift_s = jnp.concatenate([ctx.x_shuffled, codes], axis=1), 0.0
            if not self.whiten:  # (with whitened codes the shuffled pair is white to O(N^-1/2))
                js, shift_s = whiten(js)
            r_t, r_ty, r_j, r_js = _layer_radii(
                codes, ctx.labels, self.k, chunk, (j, ctx.x_shuffled if self.whiten else js),
                ("own", "add" if self.whiten else "own"))
            term_j, term_js = terms(r_j, dt + dx, w_xt), terms(r_js, dt + dx, w_xt)
            h_xt = psi_n + jnp.mean(term_j) + shift_j
            i_xt = shift_s + jnp.mean(term_js) - shift_j - jnp.mean(term_j)
            per_xt = term_js + gaussian_influence(js) - term_j - gaussian_influence(j)
        else:
            r_t, r_ty, r_xt = _layer_radii(codes, ctx.labels, self.k, chunk, (ctx.x_code,),
                                           ("add",))
            term_xt = terms(r_xt, dt + dx, w_xt)
            h_xt = psi_n + jnp.mean(term_xt)
            per_xt = ctx.x_terms + terms(r_t, dt, w_t) - term_xt
            i_xt = psi_n + jnp.mean(per_xt)  # = H(X') + H(T') - H(X',T'), whitened coords
        term_t, term_ty = terms(r_t, dt, w_t), terms(r_ty, dt, w_t)
        h_t = psi_n + jnp.mean(term_t)  # of the whitened codes
        per_ty = term_t - term_ty - digamma(ctx.class_counts)[ctx.labels]  # sum_y p(y) psi(N_y)
        i_ty = psi_n + jnp.mean(per_ty)
        se_xt = jnp.std(per_xt) / math.sqrt(n)
        se_ty = jnp.std(per_ty) / math.sqrt(n)
        const = jnp.all(t == t[:1])  # a constant layer carries no information: exactly 0
        i_xt, i_ty, se_xt, se_ty = (jnp.where(const, 0.0, v) for v in (i_xt, i_ty, se_xt, se_ty))
        n_coinc, flat = coincident(codes, lam, r_t, w_t)  # step 7
        n_coinc, flat = jnp.where(const, 0, n_coinc), flat & ~const
        bad_xt = _unstable(i_xt, se_xt, self.flag_stderr) | flat
        if self.mi == "entropy":
            bad_xt = bad_xt | (n_coinc > 0)
        bad_ty = _unstable(i_ty, se_ty, self.flag_stderr) | (n_coinc > 0)
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        aux = {}
        if self.mi == "shuffle":
            aux["i_xt_shuffled"] = conv(ctx.h_x - ctx.x_shift + h_t - shift_s - psi_n
                                        - jnp.mean(term_js))
        return Estimate(
            i_xt=conv(jnp.where(bad_xt, jnp.nan, i_xt)),
            i_ty=conv(jnp.where(bad_ty, jnp.nan, i_ty)),
            aux={
                "h_t": conv(h_t + shift_t),
                "h_t_given_y": conv(h_t - i_ty + shift_t),
                "h_x": conv(ctx.h_x),
                "h_xt": conv(h_xt + shift_t + ctx.x_shift),
                **aux,
                "i_xt_raw": conv(i_xt),
                "i_ty_raw": conv(i_ty),
                "i_xt_stderr": conv(se_xt),
                "i_ty_stderr": conv(se_ty),
                "unstable": bad_xt.astype(jnp.float32) + 2.0 * bad_ty.astype(jnp.float32),
                "n_coincident": n_coinc,
                "pca_lost": lost,
                "ae_recon_error": ctx.ae_recon_error,
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )
