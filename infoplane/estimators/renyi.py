"""Matrix-based Rényi α-entropy and mutual information (Giraldo, Rao & Príncipe 2014), the
information plane of the CNN literature (Wickstrøm et al. 2019; Yu et al. 2020).

Maths
-----
* Gram matrix of n samples z_i (rows of an (n, d) array): ``K_ij = exp(-||z_i - z_j||^2 /
  (2 sigma^2))``, normalised ``A = K / tr K = K / n`` (unit diagonal), so ``tr A = 1``.
* Entropy: ``S_alpha(A) = 1 / (1 - alpha) log2(sum_i lambda_i(A)^alpha)`` bits (alpha > 0,
  alpha != 1); ``alpha = 1`` is the von Neumann entropy ``-sum lambda log2 lambda``.
  ``0 <= S_alpha <= log2 n`` (log2 n when the kernel is narrow enough that A = I / n).
* Joint entropy: ``S_alpha(A, B) = S_alpha(A o B / tr(A o B))`` (Hadamard product).
  Giraldo et al. prove ``max(S(A), S(B)) <= S(A, B)``; ``S(A, B) <= S(A) + S(B)`` held in
  300 random cases at alpha = 0.5 to 1.5, and broke in 2 of them at alpha = 2 (by up to
  0.03 bits: Rényi entropies of order > 1 are not subadditive).
* Mutual information: ``I_alpha(A; B) = S_alpha(A) + S_alpha(B) - S_alpha(A, B)``, symmetric,
  ``I <= min(S(A), S(B))`` and (see above) ``I >= 0`` but at large alpha. It is not a Shannon
  MI: ``I(A; A) = 2 S(A) - S(A o A) != S(A)`` (A o A is a narrower kernel), and its value
  depends on sigma.
* Information plane: ``I(X;T) = I_alpha(A_X; A_T)`` and ``I(T;Y) = I_alpha(A_T; A_Y)``, with
  A_Y the Gram of the one-hot labels: the Gaussian kernel on one-hot vectors (``K_ij = 1``
  within a class, ``exp(-1 / sigma_y^2)`` across; sigma_y = 0.1 makes that 3.7e-44, i.e. the
  class-identity kernel) or the linear kernel ``Y Y^T``.
* Convolutional layers: ``conv="tensor"`` is the tensor kernel of Wickstrøm et al., the
  Gaussian kernel on the whole flattened feature map (Frobenius distance), which equals the
  product of the per-channel Gaussian kernels of one width; ``conv="multivariate"`` is Yu et
  al.'s multivariate form, the Hadamard product of the per-channel Gram matrices with a width
  per channel (the same rule applied to each channel's map; ``channels`` = C needed). Both are
  one Gaussian kernel of the (per channel) rescaled map: one matrix product, never pairwise
  differences.
* Kernel width (``sigma``, and ``sigma_x`` for the inputs): a number; ``"silverman"``,
  ``gamma * n^(-1 / (4 + d))`` (Silverman's rule as Giraldo et al. / Yu et al. use it; gamma
  carries the data's scale); ``"knn"``, the mean over samples of the distance to the k-th
  nearest other sample (Wickstrøm et al.). A width of 0 (more than k copies of every sample)
  is replaced by 1e-3 of the RMS distance of the samples (1 if every sample is the same);
  the width used is in aux.

Numerics and modes (`infoplane.estimators._renyi`): "exact", eigenvalues of the n x n Gram
in float64 (O(n^2 d + n^3) time, O(n^2) memory; within 1e-5 bits of NumPy float64
``eigvalsh`` on the same float32 samples: 9.2e-6 at most at n = 4096, from the float32
distances); "slq", stochastic Lanczos quadrature, matrix-free above ``cache_mb`` (O(n^2
(d + steps probes)) time, O(n (chunk + steps probes)) memory), with its standard error;
"auto" is exact up to `EXACT_MAX_N` = 4096 rows. Compile time does not grow with d.

References: L. G. Sanchez Giraldo, M. Rao, J. C. Principe, "Measures of entropy from data
using infinitely divisible kernels", IEEE Trans. Inf. Theory 61(1), 2015 (arXiv 2012); K.
Wickstrøm, S. Løkse, M. Kampffmeyer, S. Yu, J. Principe, R. Jenssen, "Information plane analysis
of deep neural networks via matrix-based Renyi's entropy and tensor kernels", 2019; S. Yu, K.
Wickstrøm, R. Jenssen, J. C. Principe, "Understanding convolutional neural networks with
information theory: an initial exploration", IEEE TNNLS 2020.
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

from infoplane.estimators import _renyi as R
from infoplane.estimators._base import Estimate, Probe, check_units, dataclass_params, nats_to
from infoplane.estimators._numerics import pairwise_sqdist
from infoplane.estimators.validate import (
    check_choice,
    check_flag,
    check_int,
    check_real,
    check_real_array,
    check_seed,
)

__all__ = ["EXACT_MAX_N", "MatrixRenyi", "RenyiContext", "kernel_width", "matrix_entropy",
           "matrix_mi"]

EXACT_MAX_N = R.EXACT_MAX_N
RULES = ("knn", "silverman")
LABEL_KERNELS = ("gaussian", "linear")
CONVS = ("tensor", "multivariate")


# ---- checks -------------------------------------------------------------------------------------


def _check_alpha(alpha, owner: str = "") -> float:
    return check_real(alpha, "alpha", lo=0.0, lo_open=True, hi=1e3, owner=owner,
                      hint="alpha = 1.01 is the papers' choice (smooth, close to Shannon).")


def _check_sigma(sigma, name: str = "sigma", owner: str = "", rules: bool = False):
    if rules and isinstance(sigma, str):
        check_choice(sigma, name, RULES, owner=owner, hint="Or give a positive number.")
        return sigma
    if isinstance(sigma, jax.core.Tracer):
        return sigma
    return check_real(sigma, name, lo=0.0, lo_open=True, owner=owner,
                      hint="It is the kernel width, in the units of the data." + (
                          " Rules: 'knn', 'silverman'." if rules else ""))


def _check_solver(mode, precision, probes, steps, chunk, cache_mb, owner: str = "") -> None:
    check_choice(mode, "mode", R.MODES, owner=owner)
    check_choice(precision, "precision", R.PRECISIONS, owner=owner)
    check_int(probes, "probes", lo=6, owner=owner)
    check_int(steps, "steps", lo=2, owner=owner)
    check_int(chunk, "chunk", lo=1, owner=owner)
    check_real(cache_mb, "cache_mb", lo=0.0, owner=owner)


def _samples(z, what: str) -> jax.Array:
    """(n, ...) real samples -> (n, d) float32, finite, n >= 2 (checked when concrete)."""
    check_real_array(z, what)
    shape = tuple(np.shape(z))
    if len(shape) < 2 or shape[0] < 2 or math.prod(shape[1:]) < 1:
        raise ValueError(
            f"{what} must have shape (n, d) (or (n, ...), flattened) with n >= 2 samples and "
            f"d >= 1 values each; got shape {shape}."
        )
    if not isinstance(z, jax.core.Tracer):
        arr = np.asarray(z).reshape(shape[0], -1)
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            rows = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
            raise ValueError(
                f"{what} has NaN or inf values in {rows.size} row(s), first at row {rows[0]}; "
                "the kernel would be undefined. Drop or fix those samples."
            )
    return jnp.asarray(z).reshape(shape[0], -1).astype(jnp.float32)


# ---- building blocks ----------------------------------------------------------------------------


def _cfg(alpha, mode, n, precision, probes, steps, chunk, cache_mb) -> R.Cfg:
    return R.Cfg(alpha=float(alpha), mode=R.resolve_mode(mode, n), precision=precision,
                 probes=probes, steps=steps, chunk=chunk, cache_mb=float(cache_mb))


@functools.partial(jax.jit, static_argnames=("cfg", "units"))
def _entropy_jit(z, sigma, key, cfg: R.Cfg, units: str):
    s, se = R.entropy(R.Gram(us=(R.scale(z, sigma),)), key, cfg)
    return nats_to(units, s), nats_to(units, se)


@functools.partial(jax.jit, static_argnames=("cfg", "units"))
def _mi_jit(a, b, sigma_a, sigma_b, key, cfg: R.Cfg, units: str):
    ua, ub = R.scale(a, sigma_a), R.scale(b, sigma_b)
    ka, kb, kab = jax.random.split(key, 3)
    s_a, se_a = R.entropy(R.Gram(us=(ua,)), ka, cfg)
    ua, _ = lax.optimization_barrier((ua, s_a))  # one eigenproblem after the other
    s_b, se_b = R.entropy(R.Gram(us=(ub,)), kb, cfg)
    ua, _ = lax.optimization_barrier((ua, s_b))
    s_ab, se_ab = R.entropy(R.Gram(us=(ua, ub)), kab, cfg)
    parts = {"mi": s_a + s_b - s_ab, "s_a": s_a, "s_b": s_b, "s_ab": s_ab,
             "stderr": jnp.sqrt(se_a**2 + se_b**2 + se_ab**2)}
    return {k: nats_to(units, v) for k, v in parts.items()}


def matrix_entropy(z, sigma, alpha=1.01, *, units: str = "bits", mode: str = "auto",
                   precision: str = "float64", seed: int = 0, probes: int = 32,
                   steps: int = 20, chunk: int = 1024, cache_mb: float = 512,
                   return_stderr: bool = False):
    """Matrix-based Rényi α-entropy S_alpha(A) of the rows of ``z`` (Giraldo et al. 2014).

    Args:
      z: (n, d) samples (or (n, ...), flattened), n >= 2, finite.
      sigma: Gaussian kernel width (> 0), in the units of z; may be traced.
      alpha: the order (> 0); 1 is the von Neumann entropy. Default 1.01.
      units: "bits" (default) or "nats".
      mode: "exact" (float64 eigenvalues), "slq" (stochastic Lanczos quadrature, matrix-free
        above ``cache_mb``) or "auto" (exact up to `EXACT_MAX_N` rows).
      precision: "float64" (default) or "float32" eigenvalues in exact mode (float32: ~2x
        faster, errors up to ~1e-3 bits on smooth kernels).
      seed, probes, steps, chunk, cache_mb: SLQ settings (probe vectors' seed, start vectors,
        Lanczos steps, Gram rows per block, largest Gram kept in memory in MB).
      return_stderr: also return the SLQ standard error (0 in exact mode).

    Cost: exact O(n^2 d + n^3) time, O(n^2) memory; SLQ O(n^2 (d + steps probes)) with the
    Gram kept (n^2 * 4 bytes <= cache_mb MB), else O(steps n^2 (d + probes)) time and
    O(n (chunk + steps probes)) memory. Returns a float32 scalar in [0, log n].

    >>> import numpy as np
    >>> round(float(matrix_entropy(np.zeros((8, 3)), sigma=1.0)), 4)  # identical points
    0.0
    """
    check_units(units)
    alpha = _check_alpha(alpha)
    sigma = _check_sigma(sigma)
    _check_solver(mode, precision, probes, steps, chunk, cache_mb)
    check_seed(seed)
    check_flag(return_stderr, "return_stderr")
    z = _samples(z, "z")
    cfg = _cfg(alpha, mode, z.shape[0], precision, probes, steps, chunk, cache_mb)
    s, se = _entropy_jit(z, sigma, jax.random.PRNGKey(seed), cfg, units)
    return (s, se) if return_stderr else s


def matrix_mi(a, b, sigma_a, sigma_b, alpha=1.01, *, units: str = "bits", mode: str = "auto",
              precision: str = "float64", seed: int = 0, probes: int = 32, steps: int = 20,
              chunk: int = 1024, cache_mb: float = 512, return_stderr: bool = False,
              return_parts: bool = False):
    """Matrix-based Rényi α mutual information ``I_alpha(A; B) = S(A) + S(B) - S(A o B)``.

    a: (n, d_a), b: (n, d_b) samples of the same n items (or (n, ...), flattened); sigma_a,
    sigma_b: their kernel widths. Other arguments as in `matrix_entropy`. Returns I in bits
    (a float32 scalar, at most min(S(A), S(B)) <= log n; at alpha = 2 it can be slightly
    negative: Rényi entropies of order > 1 are not subadditive), with
    ``return_stderr`` also its SLQ standard error, or with ``return_parts`` a dict of ``mi``,
    ``s_a``, ``s_b``, ``s_ab`` and ``stderr`` (0 in exact mode). Cost: three entropies.
    """
    check_units(units)
    alpha = _check_alpha(alpha)
    sigma_a, sigma_b = _check_sigma(sigma_a, "sigma_a"), _check_sigma(sigma_b, "sigma_b")
    _check_solver(mode, precision, probes, steps, chunk, cache_mb)
    check_seed(seed)
    check_flag(return_parts, "return_parts")
    check_flag(return_stderr, "return_stderr")
    a, b = _samples(a, "a"), _samples(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"a and b must hold the same n samples (rows): a has {a.shape[0]}, b has "
            f"{b.shape[0]}."
        )
    cfg = _cfg(alpha, mode, a.shape[0], precision, probes, steps, chunk, cache_mb)
    parts = _mi_jit(a, b, sigma_a, sigma_b, jax.random.PRNGKey(seed), cfg, units)
    if return_parts:
        return parts
    return (parts["mi"], parts["stderr"]) if return_stderr else parts["mi"]


def _width(z, rule, *, k: int, gamma: float, chunk: int = 1024, d2=None):
    """The kernel width of z (n, d) by ``rule`` (a number, "knn" or "silverman"), floored as
    the module docstring says; ``d2``: z's (n, n) squared distances if at hand. Traceable."""
    n, d = z.shape
    if isinstance(rule, str) and rule == "silverman":
        return jnp.float32(R.silverman_width(n, d, gamma))
    if isinstance(rule, str):
        w = R.knn_width(z, k, chunk) if d2 is None else R.knn_width_dense(d2, k)
        zc = z - jnp.mean(z, axis=0)
        rms = jnp.sqrt(2.0 * jnp.mean(jnp.sum(zc * zc, axis=1)))
        return jnp.where(w > 0, w, jnp.where(rms > 0, 1e-3 * rms, 1.0))
    return jnp.float32(rule)


def kernel_width(z, rule: str = "knn", *, k: int = 10, gamma: float = 1.0) -> float:
    """The kernel width `MatrixRenyi` uses for the samples z (n, d): ``"knn"``, the mean
    distance to the k-th nearest other sample (Wickstrøm et al. 2019), or ``"silverman"``,
    ``gamma * n^(-1/(4+d))``. Time O(n^2 d) for "knn", memory O(1024 n)."""
    check_choice(rule, "rule", RULES)
    z = _samples(z, "z")
    check_int(k, "k", lo=1, hi=z.shape[0] - 1)
    check_real(gamma, "gamma", lo=0.0, lo_open=True)
    return float(_width(z, rule, k=k, gamma=gamma))


# ---- the estimator ----------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RenyiContext:
    """What `MatrixRenyi.prepare` builds once per probe set: ``probe``; ``ux`` the scaled
    inputs (n, D) float32; ``off`` the label factor between classes; ``sigma_x``, ``s_x``,
    ``s_y`` (nats) and their standard errors ``se_x``, ``se_y``."""

    probe: Probe
    ux: jax.Array
    off: jax.Array
    sigma_x: jax.Array
    s_x: jax.Array
    s_y: jax.Array
    se_x: jax.Array
    se_y: jax.Array


@functools.partial(jax.jit, static_argnames=("est",))
def _prepare_jit(est, x, labels):
    cfg = est.solver(x.shape[0])
    key_x, key_y = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(est.seed), 1))
    rule = est.sigma if est.sigma_x is None else est.sigma_x
    sigma_x = _width(x, rule, k=est.k, gamma=est.gamma, chunk=est.chunk)
    ux = R.scale(x, sigma_x)
    s_x, se_x = R.entropy(R.Gram(us=(ux,)), key_x, cfg)
    off = jnp.float32(math.exp(-1.0 / est.sigma_y**2) if est.label_kernel == "gaussian" else 0.0)
    ux, _ = lax.optimization_barrier((ux, s_x))
    s_y, se_y = R.entropy(R.Gram(us=(), labels=labels, off=off), key_y, cfg)
    return ux, off, sigma_x, s_x, s_y, se_x, se_y


@dataclasses.dataclass(frozen=True)
class MatrixRenyi:
    """Information plane of the matrix-based Rényi α-entropy: (I_alpha(X;T), I_alpha(T;Y))
    (Giraldo et al. 2014; Wickstrøm et al. 2019; Yu et al. 2020; maths: module docstring).

    Args:
      alpha: the order (> 0; default 1.01, the papers' smooth choice near Shannon).
      sigma: the layer's kernel width: a number, "knn" (default) or "silverman".
      sigma_x: the inputs' kernel width (same choices); None: the same as ``sigma``.
      k: the neighbour of the "knn" rule (1 <= k < n; default 10).
      gamma: the scale of the "silverman" rule (> 0; default 1).
      label_kernel: "gaussian" (default, on one-hot labels, width ``sigma_y``) or "linear"
        (Y Y^T). sigma_y: the labels' width (> 0; default 0.1).
      conv: "tensor" (default: one kernel on the flattened map) or "multivariate" (a width per
        channel; needs ``channels`` = C and ``channels_last``: the map was (..., C) or (C, ...)
        before flattening; ``channels=0``, the default, lets the Recorder and
        `infoplane estimate` take C from each layer's shape).
      mode, precision, probes, steps, chunk, cache_mb, seed: the solver (see `matrix_entropy`).
      units: "bits" (default) or "nats".

    ``i_xt`` = I_alpha(X;T), ``i_ty`` = I_alpha(T;Y); ``params`` carries every field and
    ``quantity="matrix_renyi"``. aux: ``s_t``, ``s_x``, ``s_y`` (entropies), ``s_xt``, ``s_ty``
    (joint entropies), ``sigma_t``, ``sigma_x`` (widths used; for "multivariate" the mean
    channel width), ``stderr_xt``, ``stderr_ty`` (SLQ; 0 in exact mode).

    Cost per layer-epoch: three entropies of n rows (T, T o X, T o Y), see `matrix_entropy`,
    plus the width (O(n^2 d) for "knn"); S(X) and S(Y) once per probe set in `prepare`.
    """

    alpha: float = 1.01
    sigma: float | str = "knn"
    sigma_x: float | str | None = None
    k: int = 10
    gamma: float = 1.0
    label_kernel: str = "gaussian"
    sigma_y: float = 0.1
    conv: str = "tensor"
    channels: int = 0
    channels_last: bool = True
    mode: str = "auto"
    precision: str = "float64"
    probes: int = 32
    steps: int = 20
    chunk: int = 1024
    cache_mb: float = 512
    seed: int = 0
    units: str = "bits"

    name: ClassVar[str] = "matrix_renyi"
    epoch_batching: ClassVar[str] = "map"

    def __post_init__(self):
        own = "MatrixRenyi"
        check_units(self.units)
        object.__setattr__(self, "alpha", _check_alpha(self.alpha, own))
        object.__setattr__(self, "sigma", _check_sigma(self.sigma, "sigma", own, rules=True))
        if self.sigma_x is not None:
            object.__setattr__(self, "sigma_x",
                               _check_sigma(self.sigma_x, "sigma_x", own, rules=True))
        check_int(self.k, "k", lo=1, owner=own)
        object.__setattr__(self, "gamma", check_real(self.gamma, "gamma", lo=0.0,
                                                     lo_open=True, owner=own))
        check_choice(self.label_kernel, "label_kernel", LABEL_KERNELS, owner=own)
        object.__setattr__(self, "sigma_y", check_real(self.sigma_y, "sigma_y", lo=0.0,
                                                       lo_open=True, owner=own))
        check_choice(self.conv, "conv", CONVS, owner=own)
        check_int(self.channels, "channels", lo=0, owner=own)
        check_flag(self.channels_last, "channels_last", owner=own)
        _check_solver(self.mode, self.precision, self.probes, self.steps, self.chunk,
                      self.cache_mb, owner=own)
        object.__setattr__(self, "cache_mb", float(self.cache_mb))
        check_seed(self.seed, owner=own)

    def params(self) -> tuple:
        return dataclass_params(self) + (("quantity", "matrix_renyi"),)

    def solver(self, n: int) -> R.Cfg:
        """The static solver configuration for n rows."""
        return _cfg(self.alpha, self.mode, n, self.precision, self.probes, self.steps,
                    self.chunk, self.cache_mb)

    def prepare(self, probe: Probe) -> RenyiContext:
        if probe.n < 2:
            raise ValueError(f"MatrixRenyi needs at least n=2 samples, got n={probe.n}.")
        if self.k >= probe.n and "knn" in (self.sigma, self.sigma_x):
            raise ValueError(
                f"MatrixRenyi k={self.k} needs more samples: the 'knn' width uses the k-th "
                f"nearest other sample, so k < n = {probe.n}. Lower k."
            )
        ux, off, sigma_x, s_x, s_y, se_x, se_y = _prepare_jit(self, probe.x, probe.labels)
        return RenyiContext(probe=probe, ux=ux, off=off, sigma_x=sigma_x, s_x=s_x, s_y=s_y,
                            se_x=se_x, se_y=se_y)

    def _layer_scale(self, t):
        """(scaled layer, width used) for t (n, d)."""
        n, d = t.shape
        if self.conv == "tensor":
            sigma = _width(t, self.sigma, k=self.k, gamma=self.gamma, chunk=self.chunk)
            return R.scale(t, sigma), sigma
        c = self.channels
        if c < 1:
            raise ValueError(
                "MatrixRenyi conv='multivariate' needs channels=C, the layer's channel count "
                "(a width per channel). The Recorder and `infoplane estimate` fill channels=0 "
                "in from each layer's shape; called directly, give channels=C "
                "(conv='tensor' needs none)."
            )
        if d % c:
            raise ValueError(
                f"MatrixRenyi conv='multivariate' with channels={c}: the layer has {d} values "
                f"per sample, not a multiple of {c}. Set channels to the layer's channel count."
            )
        maps = t.reshape(n, -1, c).transpose(2, 0, 1) if self.channels_last else \
            t.reshape(n, c, -1).transpose(1, 0, 2)  # (C, n, P)
        widths = lax.map(lambda m: _width(m, self.sigma, k=self.k, gamma=self.gamma,
                                          chunk=self.chunk), maps)  # (C,)
        per_col = jnp.tile(widths, d // c) if self.channels_last else jnp.repeat(widths, d // c)
        return R.scale(t, per_col), jnp.mean(widths)

    def estimate_layer(self, ctx: RenyiContext, t) -> Estimate:
        t = t.astype(jnp.float32).reshape(t.shape[0], -1)
        n = t.shape[0]
        cfg = self.solver(n)
        k_t, k_xt, k_ty = jax.random.split(jax.random.PRNGKey(self.seed), 3)
        if self.conv == "tensor" and (cfg.mode == "exact" or n * n * 4 <= cfg.cache_mb * 2**20):
            # the Gram fits: the layer's distances once, for its width and all three Grams
            tc = t - jnp.mean(t, axis=0)
            d2 = pairwise_sqdist(tc, tc)
            sigma_t = _width(tc, self.sigma, k=self.k, gamma=self.gamma, d2=d2)
            base = dict(us=(), d2=d2 * (0.5 / (sigma_t * sigma_t)))
        else:
            ut, sigma_t = self._layer_scale(t)
            base = dict(us=(ut,))
        s_t, se_t = R.entropy(R.Gram(**base), k_t, cfg)
        base, _ = lax.optimization_barrier((base, s_t))  # one eigenproblem after the other
        s_xt, se_xt = R.entropy(R.Gram(**{**base, "us": base["us"] + (ctx.ux,)}), k_xt, cfg)
        base, _ = lax.optimization_barrier((base, s_xt))
        s_ty, se_ty = R.entropy(R.Gram(**base, labels=ctx.probe.labels, off=ctx.off), k_ty, cfg)
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        return Estimate(
            i_xt=conv(ctx.s_x + s_t - s_xt),
            i_ty=conv(s_t + ctx.s_y - s_ty),
            aux={
                "s_t": conv(s_t), "s_x": conv(ctx.s_x), "s_y": conv(ctx.s_y),
                "s_xt": conv(s_xt), "s_ty": conv(s_ty),
                "sigma_t": sigma_t, "sigma_x": ctx.sigma_x,
                "stderr_xt": conv(jnp.sqrt(ctx.se_x**2 + se_t**2 + se_xt**2)),
                "stderr_ty": conv(jnp.sqrt(se_t**2 + ctx.se_y**2 + se_ty**2)),
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )
