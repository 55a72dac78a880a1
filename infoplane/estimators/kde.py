"""Kernel-density (pairwise-distance) bounds on MI (Kolchinsky & Tracey 2017; Saxe et al. 2018).

Model: the layer is observed through Gaussian noise, T' = T + N(0, sigma2 I). T' is then a
mixture of N Gaussians centred on the samples' activations, whose entropy is bounded by
pairwise distances (Kolchinsky & Tracey, "Estimating mixture entropy with pairwise
distances", Entropy 2017). With D_ij = ||t_i - t_j||^2 and the Gaussian constants cancelling:

    I_upper(X;T') = - mean_i log mean_j exp(-D_ij / (2 sigma2))      (KL divergence)
    I_lower(X;T') = - mean_i log mean_j exp(-D_ij / (8 sigma2))      (Bhattacharyya)

    I(T';Y) = H(T') - sum_y p(y) H(T' | Y=y), each entropy with the same bound on the class's
    samples:  I_b(T';Y) = I_b(X;T') - sum_y p(y) [ - mean_{i in y} log mean_{j in y} K_b(i,j) ].

(As in Saxe et al., I(T';Y) uses the same bound type in both terms; it is an estimate, not a
strict bound.) The class terms are masked sums over the one distance matrix: with K the kernel
matrix and Y1 the one-hot labels, S = K @ Y1 gives every row's per-class sums at once.
Memory is O(chunk * N): rows are processed in blocks of ``chunk``.

``adaptive=True`` (adaptive KDE of Chelombiev et al. 2019) uses the noise variance
``sigma2 * max|T|^2``, i.e. a noise standard deviation proportional to the layer's maximum
absolute activation, which makes the estimate invariant to rescaling the layer.

Fixed-noise preprocessing of Chelombiev et al.'s code (``input_noise``, ``abs_values``): before
the bound, the activations get Gaussian noise of standard deviation ``input_noise`` (they use
0.01), drawn from ``jax.random.PRNGKey(noise_seed)`` -- the same noise for every call and epoch,
so results are deterministic given the seed (and the JAX version's PRNG) -- and then, with
``abs_values=True``, their absolute values: ``t' = |t + input_noise * eps|``, eps ~ N(0, I).
``KDE(input_noise=0.01, abs_values=True)`` is their setting; both off by default.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from infoplane.estimators._base import (
    Estimate,
    Probe,
    check_units,
    dataclass_params,
    nats_to,
)
from infoplane.estimators._numerics import pairwise_sqdist
from infoplane.estimators.validate import check_flag, check_int, check_real, check_seed


def kernel_row_sums(t, onehot, inv_scales: tuple[float, ...], chunk: int, s2):
    """Per-row, per-class kernel sums for several kernel widths, in row blocks.

    t: (N, d); onehot: (N, C) float32; s2: scalar noise variance.
    For each c in inv_scales: K_ij = exp(-D_ij * c / s2). Returns (len(inv_scales), N, C) with
    S[b, i, y] = sum_{j: y_j = y} K_b(i, j).
    """
    n, d = t.shape
    n_blocks = -(-n // chunk)
    pad = n_blocks * chunk - n
    tp = jnp.concatenate([t, jnp.zeros((pad, d), t.dtype)]) if pad else t
    blocks = tp.reshape(n_blocks, chunk, d)

    def block(tb):  # (chunk, d) -> (n_scales, chunk, C)
        dist = pairwise_sqdist(tb, t, exact=True)  # (chunk, N); exact self-distance 0
        return jnp.stack(
            [
                jnp.dot(jnp.exp(-dist * (c / s2)), onehot, precision=lax.Precision.HIGHEST)
                for c in inv_scales
            ]
        )

    out = lax.map(block, blocks)  # (n_blocks, n_scales, chunk, C)
    out = jnp.moveaxis(out, 1, 0).reshape(len(inv_scales), n_blocks * chunk, -1)
    return out[:, :n]


@dataclasses.dataclass(frozen=True)
class KDE:
    """Kolchinsky–Tracey KDE upper/lower bounds on I(X;T) and estimates of I(T;Y).

    Args:
      sigma2: noise variance sigma^2 added to the layer (1e-3 for the small network of Saxe et
        al., 0.1 for MNIST in their notebooks). Must be > 0. Always recorded.
      bound: which bound ``i_xt`` / ``i_ty`` report: "upper" (default) or "lower"; both are
        always in ``aux`` (``i_xt_upper``, ``i_xt_lower``, ``i_ty_upper``, ``i_ty_lower``).
      adaptive: if True, use sigma2 * max|T|^2 (adaptive KDE, Chelombiev et al. 2019).
      input_noise: standard deviation of Gaussian noise added to the activations before the
        bound (Chelombiev et al.'s fixed-noise KDE uses 0.01); 0 (default) = none.
      abs_values: if True, take |t| (after the noise) before the bound, as Chelombiev et al.
      noise_seed: seed of the ``input_noise`` draw (``jax.random.PRNGKey(noise_seed)``).
      chunk: rows per block of the distance matrix (memory O(chunk * N)); no effect on results.
      units: "bits" (default) or "nats".

    ``estimate_layer(probe, t)``: t (N, d) -> `Estimate`; aux also has ``sigma2`` (the variance
    used). 0 <= I_lower <= I_upper <= log N.

    Cost: time O(N^2 (d + C)) (C classes), memory O(chunk N + N C) beyond the layer, compile
    time independent of d.
    Distances are explicit differences at every width (`pairwise_sqdist(exact=True)`): a
    point's distance to itself is exactly 0 and the error is relative to each distance, so
    the bounds stay within float32 rounding of a float64 computation at any d.
    """

    sigma2: float = 1e-3
    bound: str = "upper"
    adaptive: bool = False
    input_noise: float = 0.0
    abs_values: bool = False
    noise_seed: int = 0
    chunk: int = 512
    units: str = "bits"

    name: ClassVar[str] = "kde"
    epoch_batching: ClassVar[str] = "map"

    def __post_init__(self):
        check_units(self.units)
        check_real(self.sigma2, "sigma2", lo=0.0, lo_open=True, owner="KDE",
                   hint="KDE needs a noise variance sigma2 > 0: Saxe et al. use sigma2=1e-3 "
                   "for the small network and 0.1 for MNIST.")
        if not isinstance(self.bound, str) or self.bound not in ("upper", "lower"):
            raise ValueError(f"KDE bound must be 'upper' or 'lower', got {self.bound!r}.")
        check_flag(self.adaptive, "adaptive", owner="KDE")
        check_real(self.input_noise, "input_noise", lo=0.0, owner="KDE",
                   hint="It is a standard deviation: Chelombiev et al.'s fixed-noise KDE uses "
                   "input_noise=0.01; 0 adds none.")
        check_flag(self.abs_values, "abs_values", owner="KDE")
        check_seed(self.noise_seed, "noise_seed", owner="KDE")
        check_int(self.chunk, "chunk", lo=1, owner="KDE")

    def params(self) -> tuple:
        return dataclass_params(self)

    def prepare(self, probe: Probe) -> Probe:
        return probe

    def preprocess(self, t):
        """The activations the bound sees: ``|t + input_noise * eps|`` (each part only when
        set). t: (N, d) -> (N, d) float32; the noise is the same for every call."""
        t = t.astype(jnp.float32)
        if self.input_noise > 0:
            eps = jax.random.normal(jax.random.PRNGKey(self.noise_seed), t.shape, jnp.float32)
            t = t + jnp.float32(self.input_noise) * eps
        return jnp.abs(t) if self.abs_values else t

    def estimate_layer(self, probe: Probe, t) -> Estimate:
        t = self.preprocess(t)
        n = t.shape[0]
        s2 = jnp.float32(self.sigma2)
        if self.adaptive:
            # noise variance sigma2 * m^2, applied as t / m with sigma2: the same kernel
            # exp(-D / (2 sigma2 m^2)), without m^2 overflowing (|t| ~ 1e19) or underflowing
            m = jnp.max(jnp.abs(t))
            m = jnp.where((m > 0) & jnp.isfinite(m), m, 1.0)
            t = t / m
            s2_used = s2 * m * m
        else:
            s2_used = s2
        onehot = jax.nn.one_hot(probe.labels, probe.n_classes, dtype=jnp.float32)  # (N, C)
        n_c = jnp.sum(onehot, axis=0)  # (C,)
        chunk = min(self.chunk, n)
        sums = kernel_row_sums(t, onehot, (0.5, 0.125), chunk, s2)  # (2, N, C)
        total = jnp.sum(sums, axis=-1)  # (2, N)
        own = jnp.sum(sums * onehot, axis=-1)  # (2, N): sum over the row's own class
        # I(X;T') bound: -mean_i log(total_i / N); class term: -mean_i log(own_i / n_{y_i}).
        i_xt = -jnp.mean(jnp.log(total / n), axis=-1)  # (2,) [upper, lower]
        h_cond = -jnp.mean(jnp.log(own / (onehot @ n_c)), axis=-1)  # (2,)
        i_ty = i_xt - h_cond
        conv = lambda v: nats_to(self.units, v)  # noqa: E731
        pick = 0 if self.bound == "upper" else 1
        return Estimate(
            i_xt=conv(i_xt[pick]),
            i_ty=conv(i_ty[pick]),
            aux={
                "i_xt_upper": conv(i_xt[0]),
                "i_xt_lower": conv(i_xt[1]),
                "i_ty_upper": conv(i_ty[0]),
                "i_ty_lower": conv(i_ty[1]),
                "sigma2": s2_used,
            },
            units=self.units,
            estimator=self.name,
            params=self.params(),
        )
