"""Per-channel estimates of a convolutional layer (`PerChannel`).

A conv layer's feature map T of shape (N, H, W, C) is by default estimated as one flattened
variable of H·W·C values. `PerChannel` instead estimates each channel's map T_c (N, H·W) on
its own with the wrapped estimator and reports the mean over channels,

    I(X;T) := (1/C) Σ_c I(X;T_c),    I(T;Y) := (1/C) Σ_c I(T_c;Y),

with every channel's value in ``aux`` (``channel<c>_i_xt``, ``channel<c>_i_ty``; ``c``
zero-padded so the names sort in channel order), their standard deviation over channels
(``channel_std_i_xt`` / ``_i_ty``) and the channel count (``n_channels``). The mean of
per-channel informations is not the information of the whole map (channels share
information, and I(X;T) ≤ Σ_c I(X;T_c) fails in general); it is the per-channel summary of,
e.g., the channel-wise analyses of CNNs (Yu et al. 2020 study channels one by one).

Cost: C runs of the wrapped estimator on (N, H·W) maps, batched with ``vmap`` (or
``lax.map`` where the wrapped estimator maps epochs), so time is C times the estimator's time
at width H·W, and memory that of one channel for ``lax.map`` estimators (C channels at once
for ``vmap`` ones).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from infoplane.estimators._base import Estimate, Estimator, Probe
from infoplane.estimators._wrapper import Wrapper

__all__ = ["PerChannel"]


@dataclasses.dataclass(frozen=True)
class PerChannel(Wrapper):
    """Wrap ``estimator`` to estimate a flattened conv map channel by channel (module
    docstring).

    Args:
      estimator: any estimator instance, e.g. ``KDE()`` or ``Subsample(Compressed())``.
      channels: C, the layer's channel count; the layer passed to `estimate_layer` is the
        flattened map (N, H·W·C).
      channels_last: the map was (N, H, W, C) before flattening (flax, JAX: True) or
        (N, C, H, W) (PyTorch: False).

    Reports the wrapped estimator's name and units (`Wrapper`); its parameters plus
    ``per_channel="mean"`` (the channel count is the layer's, in ``aux["n_channels"]``). Counts
    in aux (``hash_collisions``, ``n_coincident``) are summed over the channels, the
    ``unstable`` bits of any channel kept, other scalars averaged.
    """

    estimator: Any
    channels: int
    channels_last: bool = True

    def __post_init__(self):
        if isinstance(self.estimator, type) or not isinstance(self.estimator, Estimator):
            raise TypeError(
                "PerChannel wraps an estimator instance, e.g. PerChannel(KDE(), channels=32); "
                f"got {self.estimator!r}."
            )
        c = self.channels
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"PerChannel channels must be an integer >= 1, got {c!r}.")
        if not isinstance(self.channels_last, bool):
            raise TypeError(f"PerChannel channels_last must be True or False, got "
                            f"{self.channels_last!r}.")

    def params(self) -> tuple:
        return (*self.estimator.params(), ("per_channel", "mean"))

    def prepare(self, probe: Probe) -> Any:
        return self.estimator.prepare(probe)

    def split(self, t: jax.Array) -> jax.Array:
        """(N, H·W·C) -> (C, N, H·W): each channel's flattened map."""
        n, d = t.shape
        c = self.channels
        if d % c:
            raise ValueError(f"per-channel estimate: the layer has {d} values per sample, not "
                             f"a multiple of its {c} channels.")
        if self.channels_last:
            return jnp.transpose(t.reshape(n, d // c, c), (2, 0, 1))
        return jnp.transpose(t.reshape(n, c, d // c), (1, 0, 2))

    def estimate_layer(self, ctx, t: jax.Array) -> Estimate:
        maps = self.split(t)

        def one(m):
            return self.estimator.estimate_layer(ctx, m)

        r = jax.lax.map(one, maps) if self.epoch_batching == "map" else jax.vmap(one)(maps)
        c = self.channels
        aux = {}
        for key, v in r.aux.items():
            if v.ndim != 1:  # per-unit or per-class arrays of each channel: left out
                continue
            if key in ("hash_collisions", "n_coincident"):  # counts: over all channels
                aux[key] = v.sum()
            elif key == "unstable":  # bit flags: any channel withheld
                aux[key] = jnp.bitwise_or(jnp.max(v.astype(jnp.int32) & 1),
                                          jnp.max(v.astype(jnp.int32) & 2)).astype(v.dtype)
            else:
                aux[key] = jnp.mean(v)
        width = len(str(c - 1))
        for i in range(c):
            aux[f"channel{i:0{width}d}_i_xt"] = r.i_xt[i]
            aux[f"channel{i:0{width}d}_i_ty"] = r.i_ty[i]
        aux["channel_std_i_xt"] = jnp.std(r.i_xt)
        aux["channel_std_i_ty"] = jnp.std(r.i_ty)
        aux["n_channels"] = jnp.asarray(c, dtype=jnp.float32)
        return Estimate(i_xt=jnp.mean(r.i_xt), i_ty=jnp.mean(r.i_ty), aux=aux, units=r.units,
                        estimator=r.estimator, params=self.params())
