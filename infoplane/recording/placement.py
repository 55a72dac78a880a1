"""Where each layer is estimated: whole layers spread over the local devices (`placement`), and
each layer's buffered epochs stacked on its device (`stack_epochs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["in_host_memory", "placement", "stack_epochs"]


def placement(layer_names: Sequence[str], widths: Mapping[str, int], shard: bool | None,
              devices: Sequence[Any] | None = None) -> dict[str, Any]:
    """Device of each layer's estimation: ``{layer: device or None}``.

    With several local devices (GPUs, or CPU cores exposed as devices) and at least as many
    layers as devices, whole layers go to devices, largest first onto the least loaded one
    (cost ~ width), and the calls run at once (asynchronous dispatch): no padding, no
    collective. With fewer layers than devices, or ``shard`` given (True/False), every layer
    gets None: the epochs axis of each call is sharded instead, or not
    (`infoplane.estimate_epochs`). Results are identical either way.
    """
    devices = jax.local_devices() if devices is None else list(devices)
    names = layer_names or ()
    if shard is not None or len(devices) < 2 or len(names) < len(devices):
        return dict.fromkeys(names)
    load = [0] * len(devices)
    place = {}
    for name in sorted(names, key=lambda n: -widths.get(n, 1)):
        k = load.index(min(load))
        place[name] = devices[k]
        load[k] += widths.get(name, 1)
    return place


def stack_epochs(group: Sequence[Any], layers: Sequence[str], place: Mapping[str, Any]
                 ) -> dict[str, jax.Array]:
    """Each layer's buffered epochs (``group``: `Entry` objects, ``.acts`` {layer: (N, d)}) as
    one (E, N, d) array on the device it is estimated on (``place[layer]``; None: the default
    device). Activations held in host memory (the CPU backend) are stacked by NumPy, which no
    device queue holds up; others on their device."""
    out = {}
    for layer in layers:
        arrs = [e.acts[layer] for e in group]
        stacked = (np.stack([np.asarray(a) for a in arrs])
                   if all(in_host_memory(a) for a in arrs) else jnp.stack(arrs))
        out[layer] = jax.device_put(stacked, place.get(layer))  # None: leaves a jax array as is
    return out


def in_host_memory(a) -> bool:
    """Whether ``a`` (a NumPy array, or a jax array on CPU devices) is in host memory."""
    return isinstance(a, np.ndarray) or all(d.platform == "cpu" for d in a.devices())
