"""The checks behind `Compressed`'s withheld ("unstable") estimates (`infoplane.estimators.
compressed`, module docstring step 6).

- `unstable`: an estimate that is not finite or whose per-sample standard error is too large.
- `coincident`: noisy codes that coincide at float32 resolution, so a kNN radius the entropy
  uses is 0 (log 0 = -inf, or hugely negative junk under jit). Relative noise, t + sigma t eps,
  leaves exact zeros at zero: samples whose (ReLU) units are all dead share one code, and a
  unit dead on every probe sample leaves a principal direction of the code without variance,
  which whitening then blows up by 1/sqrt(float32 tiny) (~100 bits of junk per direction).
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["RESOLUTION", "coincident", "unstable"]

#: Relative float32 resolution below which codes count as coinciding: 16 ulps of 1.
RESOLUTION = 16.0 * float(jnp.finfo(jnp.float32).eps)


def unstable(value, stderr, rel: float):
    """Flag (bool array) for a value in nats: not finite, or stderr > rel * max(|value|, 1)."""
    return ~jnp.isfinite(value) | ~(stderr <= rel * jnp.maximum(jnp.abs(value), 1.0))


def coincident(codes, lam, r2, weights) -> tuple:
    """Coincident noisy codes of one layer -> (n_coincident int32 (), flat bool ()).

    codes: (N, m) the codes the kNN radii were measured in; lam: (m,) the noisy layer's PCA
    variances (before whitening); r2: (N, k) squared distances to the k nearest other codes,
    ascending; weights: the k neighbour weights of the entropy (a radius of weight 0 is
    unused). A sample coincides when its smallest used radius is at most RESOLUTION times the
    scale of its distances, sqrt(|z_i|^2 + mean_j |z_j|^2) (exact duplicates give 0).
    ``flat``: a principal direction holds no variance (lam_j <= RESOLUTION^2 sum(lam)): every
    sample coincides along it, and n_coincident is N.
    """
    used = [j for j, w in enumerate(weights) if w != 0.0]
    r = jnp.min(r2[:, jnp.asarray(used)], axis=1)
    norm2 = jnp.sum(codes * codes, axis=1)
    close = r <= jnp.float32(RESOLUTION**2) * (norm2 + jnp.mean(norm2))
    flat = jnp.any(lam <= jnp.float32(RESOLUTION**2) * jnp.sum(jnp.maximum(lam, 0.0)))
    n = jnp.where(flat, codes.shape[0], jnp.sum(close)).astype(jnp.int32)
    return n, flat
