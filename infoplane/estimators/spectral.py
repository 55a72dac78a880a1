"""Diffusion spectral entropy and mutual information (Liao, Liu et al. 2023: DSE / DSMI).

Maths (everything here is a function of the spectrum of one symmetric matrix):

* Kernel with self-loops, ``G_ij = exp(-||z_i - z_j||^2 / (2 sigma^2))`` (so ``G_ii = 1``), row
  sums ``D = diag(G 1)``. The diffusion operator ``P = D^-1 G`` has the same eigenvalues as its
  symmetric conjugate ``K = D^-1/2 G D^-1/2``, so a symmetric eigen-solver (``eigvalsh``) is used.
* ``G`` is positive semi-definite (a Gaussian kernel is positive definite), hence so is ``K``
  (a congruence of ``G``); ``P`` is stochastic, so every eigenvalue of ``K`` is in ``[0, 1]``.
  Therefore ``|lambda| = lambda``: the tiny negative eigenvalues that float32 rounding produces are
  clipped to 0 rather than folded in with ``abs``.
* ``p_i = lambda_i^t / sum_j lambda_j^t`` and ``DSE = -sum_i p_i log p_i`` (bits by default), with
  ``0 <= DSE <= log2 N``. Written with ``A = tr(K^t)`` and ``B = tr(K^t log K^t)``:
  ``DSE = log A - B / A`` (nats), which is how both the exact and the scalable mode compute it.
* For a discrete variable ``C`` with classes of sizes ``n_c``::

      DSMI(Z; C) = sum_c p(c) [ mean over `subsets` random subsets S of size n_c of DSE(Z_S)
                                - DSE(Z | C=c) ]

  DSE/DSMI are **not Shannon quantities** (DSMI(A;A) != DSE(A); they depend on the data's scale
  relative to ``sigma``): label them "DSE"/"DSMI" and record ``sigma`` and ``t``.

Fixed shapes under jit
----------------------
Every class and every random subset is the same fixed-shape problem: the rows of ``Z`` gathered
into an ``(M, d)`` block (``M`` a static bound on the class size: the largest class when the
labels are known on the host, ``N`` otherwise) with a 0/1 mask over the ``M`` rows. The solvers
work on the deflated ``K' = K - u1 u1^T`` of the valid rows (``u1 = D^1/2 1 / ||D^1/2 1||``, the
eigenvector of the eigenvalue 1, which is added back exactly: ``A = 1 + tr(K'^t)``), with the
masked rows and columns zero: they contribute eigenvalues 0, and ``0^t = 0 log 0 = 0`` to both
traces. All ``C * subsets + C`` problems are then batched with ``lax.map``.

Modes
-----
``mode="exact"`` (dense kernel, ``eigvalsh``), ``"slq"`` (stochastic Lanczos quadrature, matrix-free
above ``cache_mb``) or ``"auto"`` (exact up to `EXACT_MAX_N` rows, up to `EXACT_MAX_N_SMALL_T`
rows when ``t < 1``): the solvers, their costs and their error estimates are in
`infoplane.estimators._dse`.

Precision (float32; against float64 ``eigvalsh`` on a 2-core CPU, N = 2500; the numbers and
how they were measured are in `infoplane.estimators._dse`): ``K'`` is formed without
cancellation, so a small DSE (``sigma`` large relative to the data, e.g. the default sigma = 10
on tanh activations) is as accurate as a large one. Exact mode: <= 2e-5 bits at ``t = 1, 2``;
``t < 1`` magnifies the smallest eigenvalues (``lambda^t``): 0.002-0.05 bits at ``t = 0.5``.
SLQ at ``t >= 1``: bias <= 0.15 % of the DSE, |err| <= 2 reported standard errors in ~95 % of
seeds and <= 3 in all; at ``t < 1`` it is biased high (5-24 % at t = 0.5) and warns, so "auto"
stays exact up to `EXACT_MAX_N_SMALL_T` rows there.

``sigma`` may be a traced value in `dse` / `dsmi` (changing it does not recompile); ``t``,
``mode``, ``subsets``, ``probes``, ``steps`` and ``chunk`` are static (part of the jit cache key).

Reference: X. Liao, C. Liu et al., "Assessing Neural Network Representations During Training
Using Noise-Resilient Diffusion Spectral Entropy", 2023.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from infoplane.estimators._base import (
    Estimate,
    Probe,
    check_units,
    dataclass_params,
    nats_to,
)
from infoplane.estimators._dse import (
    EXACT_MAX_N,
    EXACT_MAX_N_SMALL_T,
    _Cfg,
    deflated_kernel,
    lanczos,
    masked_dse,
    masked_dse_exact,
    masked_kernel,
    resolve_mode,
)
from infoplane.estimators._numerics import is_concrete, pairwise_sqdist
from infoplane.estimators.validate import (
    check_dse_mode,
    check_dse_sigma_t,
    check_dse_z,
    check_flag,
    check_seed,
)

# ---- validation (in `infoplane.estimators.validate`) ---------------------------------------------

_check_sigma_t, _check_mode, _check_z = check_dse_sigma_t, check_dse_mode, check_dse_z


# ---- DSMI ---------------------------------------------------------------------------------------


def class_groups(labels, n_classes: int, m: int):
    """Row indices of each class, padded to the static size m. labels: (N,) int in 0..C-1.

    Returns idx (C, m) int32, mask (C, m) bool, sizes (C,) int32. Needs m >= the largest class.
    """
    n = labels.shape[0]
    order = jnp.argsort(labels, stable=True).astype(jnp.int32)  # rows grouped by class
    sizes = jnp.zeros((n_classes,), jnp.int32).at[labels].add(1)
    starts = jnp.cumsum(sizes) - sizes
    pos = starts[:, None] + jnp.arange(m, dtype=jnp.int32)[None, :]  # (C, m)
    mask = jnp.arange(m)[None, :] < sizes[:, None]
    idx = order[jnp.clip(pos, 0, n - 1)]
    return jnp.where(mask, idx, 0), mask, sizes


def subset_groups(sizes, n: int, m: int, subsets: int, key):
    """Random subsets (without replacement) of the N rows, of each class's size.

    sizes: (C,) int32. Returns idx (C, subsets, m) int32 and mask (C, subsets, m) bool; subset
    (c, s) is the first sizes[c] entries of a random order of the rows (key folded with c, s).
    """
    n_classes = sizes.shape[0]

    def perm(c, s):
        k = jax.random.fold_in(jax.random.fold_in(key, c), s)
        # a uniformly random order: argsort of random 32-bit keys (compiles much faster than
        # jax.random.permutation; a tie only fixes the order of the tied rows)
        return jnp.argsort(jax.random.bits(k, (n,), jnp.uint32))[:m].astype(jnp.int32)

    cs = jnp.arange(n_classes)
    ss = jnp.arange(subsets)
    idx = jax.vmap(lambda c: jax.vmap(lambda s: perm(c, s))(ss))(cs)  # (C, S, m)
    mask = jnp.arange(m)[None, None, :] < sizes[:, None, None]
    return jnp.where(mask, idx, 0), jnp.broadcast_to(mask, idx.shape)


def dsmi_parts(z, labels, sigma, key, *, n_classes: int, m: int, subsets: int, cfg: _Cfg):
    """DSMI(Z; C) in nats with its pieces. z: (N, d); labels: (N,) int in 0..n_classes-1.

    m: static bound on the largest class (N always works). Returns a dict with ``dsmi``,
    ``dse_cond`` = sum_c p(c) DSE(Z|C=c), ``dse_subsets`` = sum_c p(c) mean_s DSE(Z_subset),
    ``stderr`` (SLQ error of dsmi, summed in quadrature; 0 in exact mode) and ``sizes``.
    """
    n = z.shape[0]
    z = z.astype(jnp.float32)
    k_sub, k_slq = jax.random.split(key)
    c_idx, c_mask, sizes = class_groups(labels, n_classes, m)
    s_idx, s_mask = subset_groups(sizes, n, m, subsets, k_sub)
    idx = jnp.concatenate([c_idx, s_idx.reshape(-1, m)])  # (C + C*S, m)
    mask = jnp.concatenate([c_mask, s_mask.reshape(-1, m)])
    keys = jax.random.split(k_slq, idx.shape[0])

    def one(args):
        i, mk, k = args
        return masked_dse(z[i], mk, sigma, k, cfg)

    h, se = lax.map(one, (idx, mask, keys))  # (C + C*S,)
    h = jnp.where(jnp.concatenate([sizes, jnp.repeat(sizes, subsets)]) > 0, h, 0.0)
    p = sizes.astype(jnp.float32) / n  # (C,)
    h_cond = h[:n_classes]
    h_sub = h[n_classes:].reshape(n_classes, subsets).mean(axis=1)
    se_c = se[:n_classes]
    se_s = se[n_classes:].reshape(n_classes, subsets)
    var = jnp.sum(p**2 * (se_c**2 + jnp.sum(se_s**2, axis=1) / subsets**2))
    return {
        "dsmi": jnp.sum(p * (h_sub - h_cond)),
        "dse_cond": jnp.sum(p * h_cond),
        "dse_subsets": jnp.sum(p * h_sub),
        "stderr": jnp.sqrt(var),
        "sizes": sizes,
    }


# ---- public functions ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("cfg", "units"))
def _dse_jit(z, sigma, key, cfg: _Cfg, units: str):
    mask = jnp.ones((z.shape[0],), bool)
    h, se = masked_dse(z.astype(jnp.float32), mask, jnp.float32(sigma), key, cfg)
    return nats_to(units, h), nats_to(units, se)


def dse(z, sigma=10.0, t=1, *, units: str = "bits", mode: str = "auto", seed: int = 0,
        probes: int = 32, steps: int = 20, chunk: int = 1024, cache_mb: float = 256,
        return_stderr: bool = False):
    """Diffusion spectral entropy of the rows of ``z`` (Liao, Liu et al. 2023).

    Args:
      z: (N, d) samples (N >= 2, d >= 1, finite real numbers; max|z| * sqrt(d) <= 4e18 so
        squared distances fit float32: rescale z and sigma together beyond).
      sigma: Gaussian kernel width, in the units of z; may be traced. A concrete sigma must
        lie in [1.1e-19, 1.8e19] (`validate.DSE_SIGMA_MIN` / `DSE_SIGMA_MAX`), where sigma**2
        is a normal float32: outside, the kernel is undefined (NaN), so it is rejected.
      t: diffusion time (> 0), static.
      units: "bits" (default) or "nats".
      mode: "exact" (eigvalsh), "slq" (stochastic Lanczos quadrature, matrix-free) or "auto"
        (exact for N <= EXACT_MAX_N, or N <= EXACT_MAX_N_SMALL_T when t < 1). See the module
        docstring.
      seed: seed of the SLQ probe vectors. probes, steps, chunk, cache_mb: SLQ settings (start
        vectors, Lanczos steps, kernel rows per block, largest kernel kept in memory in MB; 0
        means strictly matrix-free). Defaults: 32, 20, 1024, 256.
      return_stderr: also return the SLQ standard error over probes (0 in exact mode).

    Cost: exact O(N^2 d + N^3) time, O(N^2) memory; SLQ O(N^2 (d + steps probes)) with the
    kernel cached, else O(steps N^2 (d + probes)) time, O(N (chunk + steps probes)) memory.

    Returns a float32 scalar in [0, log N] (and its standard error). Pure and jit-compiled;
    calls with the same shapes and static settings do not recompile.

    >>> import numpy as np
    >>> round(float(dse(np.zeros((8, 3)), sigma=1.0)), 4)  # identical points
    0.0
    """
    check_units(units)
    _check_sigma_t(sigma, t)
    _check_mode(mode, probes, steps, chunk, cache_mb)
    _check_z(z)
    check_seed(seed)
    check_flag(return_stderr, "return_stderr")
    cfg = _Cfg(t=t, mode=resolve_mode(mode, int(np.shape(z)[0]), t), probes=probes, steps=steps,
               chunk=chunk, cache_mb=cache_mb)
    h, se = _dse_jit(jnp.asarray(z), sigma, jax.random.PRNGKey(seed), cfg, units)
    return (h, se) if return_stderr else h


@functools.partial(jax.jit, static_argnames=("n_classes", "m", "subsets", "cfg", "units"))
def _dsmi_jit(z, labels, sigma, key, n_classes, m, subsets, cfg, units):
    parts = dsmi_parts(z, labels, jnp.float32(sigma), key, n_classes=n_classes, m=m,
                       subsets=subsets, cfg=cfg)
    return {k: (v if k == "sizes" else nats_to(units, v)) for k, v in parts.items()}


def dsmi(z, c, sigma=10.0, t=1, subsets: int = 5, seed: int = 0, *, units: str = "bits",
         mode: str = "auto", n_classes: int | None = None, probes: int = 32, steps: int = 20,
         chunk: int = 1024, cache_mb: float = 256, return_parts: bool = False):
    """Diffusion spectral mutual information DSMI(Z; C) for discrete C.

    ``DSMI = sum_c p(c) [mean over `subsets` random size-n_c subsets S of DSE(Z_S) - DSE(Z|C=c)]``
    with the subsets drawn without replacement from all N rows using ``seed`` (see
    `subset_groups`). Not a Shannon mutual information: label it "DSMI".

    Args:
      z: (N, d) samples. c: (N,) integer labels (any values when concrete: they are re-coded
        to 0..C-1; when traced under jit they must already be in 0..n_classes-1 and
        ``n_classes`` must be given, and every class is padded to N rows instead of the largest
        class, which is slower in exact mode).
      sigma, t, units, mode, probes, steps, chunk, cache_mb: as in `dse`; mode is resolved per
        problem size (the class-sized problems).
      subsets: random subsets per class (>= 1). seed: seed of the subsets (and SLQ probes).
      return_parts: return the dict of pieces (dsmi, dse_cond, dse_subsets, stderr, sizes).

    Cost: that of `dse` for C (subsets + 1) problems of the largest class's size m (N when
    the labels are traced).
    """
    check_units(units)
    _check_sigma_t(sigma, t)
    _check_mode(mode, probes, steps, chunk, cache_mb)
    _check_z(z)
    check_seed(seed)
    check_flag(return_parts, "return_parts")
    if not isinstance(subsets, int) or isinstance(subsets, bool) or subsets < 1:
        raise ValueError(f"subsets must be an integer >= 1, got {subsets!r}.")
    n = int(np.shape(z)[0])
    if tuple(np.shape(c)) != (n,):
        raise ValueError(
            f"Labels c must have shape (N,) = ({n},) to match z, got shape {tuple(np.shape(c))}."
        )
    if is_concrete(c):
        c_np = np.asarray(c)
        if not (np.issubdtype(c_np.dtype, np.integer) or c_np.dtype == bool):
            raise TypeError(
                f"Labels c must be integers (class ids), got dtype {c_np.dtype}; pass "
                "c.astype(int) if they are ids stored as floats."
            )
        _, codes = np.unique(c_np, return_inverse=True)
        codes = codes.reshape(-1)
        counts = np.bincount(codes)
        n_classes = int(counts.size)
        m = int(counts.max())
        labels = jnp.asarray(codes, jnp.int32)
    else:
        if n_classes is None:
            raise ValueError("Traced labels c need n_classes=... (a static number of classes).")
        m = n
        labels = c.astype(jnp.int32)
    cfg = _Cfg(t=t, mode=resolve_mode(mode, m, t), probes=probes, steps=steps, chunk=chunk,
               cache_mb=cache_mb)
    parts = _dsmi_jit(jnp.asarray(z), labels, sigma, jax.random.PRNGKey(seed), n_classes, m,
                      subsets, cfg, units)
    return parts if return_parts else parts["dsmi"]


# ---- k-means (clusters of the inputs) -----------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def kmeans(x, k: int, iters: int = 50, seed: int = 0):
    """k-means with k-means++ initialisation, a fixed number of Lloyd iterations, seeded.

    x: (N, D) -> (ids (N,) int32 in 0..k-1, centres (k, D)). k-means++ picks the first centre
    uniformly and each next one with probability proportional to the squared distance to the
    nearest centre so far (uniformly if all are zero); then ``iters`` Lloyd steps (an empty
    cluster keeps its centre). Deterministic for a given seed.
    """
    x = jnp.asarray(x, jnp.float32)
    n, dim = x.shape
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    first = x[jax.random.randint(k0, (), 0, n)]
    centres = jnp.zeros((k, dim), jnp.float32).at[0].set(first)
    d2 = jnp.sum((x - first) ** 2, axis=1)

    def pick(i, carry):
        centres, d2, key = carry
        key, sub = jax.random.split(key)
        logits = jnp.log(d2 / jnp.maximum(jnp.max(d2), 1e-30) + 1e-30)
        c = x[jax.random.categorical(sub, logits)]
        return centres.at[i].set(c), jnp.minimum(d2, jnp.sum((x - c) ** 2, axis=1)), key

    centres, _, _ = lax.fori_loop(1, k, pick, (centres, d2, key))

    def assign(c):
        return jnp.argmin(pairwise_sqdist(x, c), axis=1).astype(jnp.int32)

    def lloyd(_, c):
        oh = jax.nn.one_hot(assign(c), k, dtype=jnp.float32)  # (N, k)
        cnt = jnp.sum(oh, axis=0)
        s = jnp.dot(oh.T, x, precision=lax.Precision.HIGHEST)
        return jnp.where(cnt[:, None] > 0, s / jnp.maximum(cnt, 1.0)[:, None], c)

    centres = lax.fori_loop(0, iters, lloyd, centres)
    return assign(centres), centres


# ---- the estimator ----------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SpectralContext:
    """What `DiffusionSpectral.prepare` builds once per probe set.

    Array fields: ``probe`` (the `Probe`), ``clusters`` int32 (N,) k-means cluster id of each
    input row. Static: ``max_cluster`` / ``max_class``, the largest cluster / class (the padded
    size of the class-conditional problems).
    """

    probe: Probe
    clusters: jax.Array
    max_cluster: int = dataclasses.field(metadata=dict(static=True))
    max_class: int = dataclasses.field(metadata=dict(static=True))


@dataclasses.dataclass(frozen=True)
class DiffusionSpectral:
    """Information plane of DSMI: (DSMI(T; clusters of X), DSMI(T; Y)) (Liao, Liu et al. 2023).

    Cost: one DSE problem of the N rows, and for the clusters and the labels each C (subsets
    + 1) problems padded to the largest cluster / class m (C = clusters or classes). A problem
    of M rows (see `dse`): exact O(M^2 d + M^3) time, O(M^2) memory; SLQ O(M^2 (d + steps
    probes)) with the kernel cached (M^2 * 4 bytes <= cache_mb), else O(steps M^2 (d + probes))
    time and O(M (chunk + steps probes)) memory. Compile time independent of d.

    Args:
      sigma: kernel width (> 0) in activation units; default 10 as in the reference.
      t: diffusion time (> 0); default 1.
      subsets: random subsets per class in DSMI (>= 1); default 5.
      clusters: number of k-means clusters of the inputs X standing in for X (>= 2);
        default 10. k-means++ initialisation, `kmeans_iters` Lloyd steps, seeded with ``seed``
        (the reference uses spectral clustering; k-means is the documented substitute).
      mode: "auto" (default: exact eigvalsh for problems of at most `EXACT_MAX_N` rows, or
        `EXACT_MAX_N_SMALL_T` when t < 1, SLQ above), "exact" or "slq".
      seed: seed of k-means, the random subsets and the SLQ probes.
      probes, steps, chunk, cache_mb: SLQ settings (see the module docstring).
      kmeans_iters: Lloyd iterations of the input clustering (default 50).
      units: "bits" (default) or "nats".

    ``i_xt`` = DSMI(T; clusters of X), ``i_ty`` = DSMI(T; Y): **not** Shannon MI; ``params``
    carries ``quantity="DSMI"`` for axis labels. aux: ``dse_t`` (DSE of the layer),
    ``dse_t_given_x`` / ``dse_t_given_y`` (sum_c p(c) DSE(T|C=c)), ``stderr_xt`` /
    ``stderr_ty`` / ``stderr_dse_t`` (SLQ standard errors; 0 in exact mode) and
    ``n_clusters`` (non-empty input clusters).
    """

    sigma: float = 10.0
    t: float = 1
    subsets: int = 5
    clusters: int = 10
    mode: str = "auto"
    seed: int = 0
    probes: int = 32
    steps: int = 20
    chunk: int = 1024
    cache_mb: float = 256
    kmeans_iters: int = 50
    units: str = "bits"

    name: ClassVar[str] = "dsmi"
    epoch_batching: ClassVar[str] = "map"

    def __post_init__(self):
        check_units(self.units)
        _check_sigma_t(self.sigma, self.t)
        _check_mode(self.mode, self.probes, self.steps, self.chunk, self.cache_mb)
        check_seed(self.seed, owner="DiffusionSpectral")
        for name, lo in (("subsets", 1), ("clusters", 2), ("kmeans_iters", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}.")

    def params(self) -> tuple:
        return dataclass_params(self) + (("quantity", "DSMI"),)

    def prepare(self, probe: Probe) -> SpectralContext:
        if probe.n < 2:
            raise ValueError(f"DSMI needs at least N=2 samples, got N={probe.n}.")
        ids, _ = kmeans(probe.x, self.clusters, self.kmeans_iters, self.seed)
        ids = np.asarray(ids)
        return SpectralContext(
            probe=probe,
            clusters=jnp.asarray(ids, jnp.int32),
            max_cluster=int(np.bincount(ids, minlength=self.clusters).max()),
            max_class=int(np.bincount(np.asarray(probe.labels)).max()),
        )

    def _cfg(self, n: int) -> _Cfg:
        return _Cfg(t=self.t, mode=resolve_mode(self.mode, n, self.t), probes=self.probes,
                    steps=self.steps, chunk=self.chunk, cache_mb=self.cache_mb)

    def estimate_layer(self, ctx: SpectralContext, t) -> Estimate:
        t = t.astype(jnp.float32)
        n = t.shape[0]
        sigma = jnp.float32(self.sigma)
        key = jax.random.PRNGKey(self.seed)
        k_t, k_x, k_y = jax.random.split(key, 3)
        h_t, se_t = masked_dse(t, jnp.ones((n,), bool), sigma, k_t, self._cfg(n))
        # one part after the other: XLA:CPU may run independent batched LAPACK calls at once,
        # which can deadlock its thread pool on 2 cores (see _dse._quadrature)
        sigma, _ = lax.optimization_barrier((sigma, h_t))
        px = dsmi_parts(t, ctx.clusters, sigma, k_x, n_classes=self.clusters,
                        m=ctx.max_cluster, subsets=self.subsets, cfg=self._cfg(ctx.max_cluster))
        sigma, _ = lax.optimization_barrier((sigma, px["dsmi"]))
        py = dsmi_parts(t, ctx.probe.labels, sigma, k_y, n_classes=ctx.probe.n_classes,
                        m=ctx.max_class, subsets=self.subsets, cfg=self._cfg(ctx.max_class))
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        return Estimate(
            i_xt=conv(px["dsmi"]),
            i_ty=conv(py["dsmi"]),
            aux={
                "dse_t": conv(h_t),
                "dse_t_given_x": conv(px["dse_cond"]),
                "dse_t_given_y": conv(py["dse_cond"]),
                "stderr_dse_t": conv(se_t),
                "stderr_xt": conv(px["stderr"]),
                "stderr_ty": conv(py["stderr"]),
                "n_clusters": jnp.sum(px["sizes"] > 0).astype(jnp.int32),
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )


__all__ = [
    "EXACT_MAX_N",
    "EXACT_MAX_N_SMALL_T",
    "DiffusionSpectral",
    "SpectralContext",
    "deflated_kernel",
    "dse",
    "dsmi",
    "kmeans",
    "lanczos",
    "masked_dse",
    "masked_dse_exact",
    "masked_kernel",
    "resolve_mode",
]
