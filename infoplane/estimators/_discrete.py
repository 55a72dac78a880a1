"""Plug-in information of binned (discrete) layer states: the core of the binning family.

Given each sample's bin indices ``b`` (N, d), the layer state T~ is the row of ``b``. With
counts over the probe set (Shwartz-Ziv & Tishby 2017, eq. in Sec. 3; estimators.md §1):

    H(T~)        = -sum_t p(t) log p(t)
    H(T~ | Y)    = H(T~, Y) - H(Y)
    H(T~ | X)    = H(T~, X) - H(X)        (0 when every input row is distinct)
    I(X; T~)     = H(T~) - H(T~ | X)
    I(T~; Y)     = H(T~) - H(T~ | Y)

Implementation: every joint distribution is counted from one sorted array of uint32 keys
(single-operand sorts are ~7x cheaper than payload or multi-key sorts on XLA:CPU). A row is
packed exactly into its key when ``d * bits`` fits; otherwise it is hashed, and the grouping is
verified exactly (`count_collisions`): ``aux["hash_collisions"] > 0`` tells the caller to retry
with another hash seed, which `infoplane.estimate` does automatically.
"""

from __future__ import annotations

import jax.numpy as jnp

from infoplane.estimators._base import Probe
from infoplane.estimators._numerics import (
    ceil_log2,
    count_collisions,
    entropy_of_labels,
    entropy_of_sorted,
    first_index_of_group,
    hash_rows,
    pack_rows,
)

_U32 = jnp.uint32


def binned_information(b, probe: Probe, *, bits: int | None, seed: int) -> dict:
    """Entropies and MI (nats) of the discrete layer state given by bin indices.

    Args:
      b: (N, d) int32 bin indices (any integers when ``bits`` is None).
      probe: the probe set (labels, ids of distinct inputs).
      bits: static bound on the bits of one index (indices in 0..2**bits-1), or None when the
        indices are unbounded (fixed-width bins): then rows are hashed.
      seed: static hash seed (used only when rows are hashed).

    Returns a dict of scalars: ``i_xt``, ``i_ty``, ``h_t``, ``h_t_given_x``, ``h_t_given_y``
    (nats), ``n_states`` (distinct layer states) and ``hash_collisions`` (0 = exact).
    """
    n, d = b.shape
    lb = ceil_log2(probe.n_classes)
    nb = ceil_log2(n)
    y = probe.labels.astype(_U32)
    exact = bits is not None and d * bits + lb <= 32
    # One sort of (state | label) keys when the hash keeps collisions rare (< 1/64 expected);
    # otherwise first dense state ids from a full 32-bit hash sort, then the joint sort.
    single_sort = exact or 2 * nb + 6 <= 32 - lb

    if exact:
        key_t = pack_rows(b, bits)
        joint = (key_t << lb) | y if lb else key_t
    else:
        key_t = hash_rows(b, seed)
        if single_sort:
            key_t = key_t >> lb if lb else key_t
            joint = (key_t << lb) | y if lb else key_t

    pos = None
    if single_sort:
        s = jnp.sort(joint)
        s_t = s >> lb if lb else s
        h_t, n_states = entropy_of_sorted(s_t)
        h_ty, _ = entropy_of_sorted(s)
        if not exact or not probe.inputs_unique:
            pos = first_index_of_group(s_t, key_t)
    else:
        s_t = jnp.sort(key_t)
        h_t, n_states = entropy_of_sorted(s_t)
        pos = first_index_of_group(s_t, key_t)  # exact state ids in 0..N-1 (if no collision)
        s = jnp.sort((pos.astype(_U32) << lb) | y if lb else pos.astype(_U32))
        h_ty, _ = entropy_of_sorted(s)

    collisions = jnp.int32(0) if exact else count_collisions(b, pos)
    h_t_given_y = h_ty - entropy_of_labels(probe.labels, probe.n_classes)

    if probe.inputs_unique:
        h_t_given_x = jnp.float32(0.0)
    else:
        xb = ceil_log2(probe.n_inputs)
        if nb + xb > 32:
            raise ValueError(
                f"Probe too large for exact H(T|X): N={n} samples with {probe.n_inputs} "
                "distinct inputs need more than 32 bits of key. Use at most 65536 samples."
            )
        s_x = jnp.sort((pos.astype(_U32) << xb) | probe.x_ids.astype(_U32))
        h_tx, _ = entropy_of_sorted(s_x)
        h_t_given_x = h_tx - entropy_of_labels(probe.x_ids, probe.n_inputs)

    return {
        "i_xt": h_t - h_t_given_x,
        "i_ty": h_t - h_t_given_y,
        "h_t": h_t,
        "h_t_given_x": h_t_given_x,
        "h_t_given_y": h_t_given_y,
        "n_states": n_states.astype(jnp.int32),
        "hash_collisions": collisions,
    }
