"""The `Recorder`'s forward passes: one ``jax.jit``-compiled ``f(state, x) -> {layer: (N, d)}``
per model structure (nnx ``graphdef`` or linen module), so new weights never recompile
(`CaptureFunctions`). What is captured, and how, is `infoplane.recording.capture`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from infoplane.recording import capture as _capture

__all__ = ["AUTO_BATCH", "AUTO_WHOLE", "CaptureFunctions", "batched_forward", "probe_batch_size"]

#: ``probe_batch=None``: probe sets of at most `AUTO_WHOLE` rows go through the model in one
#: call (as before batching existed: the same numbers, bit for bit), larger ones in batches of
#: `AUTO_BATCH` rows.
AUTO_WHOLE = 8192
AUTO_BATCH = 2048


class CaptureFunctions:
    """The jitted capture functions of one recorder: ``layers``, ``source`` and ``output`` as
    in `infoplane.capture_nnx` / `capture_linen`; ``apply_kwargs`` for a linen ``apply``."""

    def __init__(self, layers: Sequence[str] | Callable[[str], bool] | None, source: str,
                 output: str | None, apply_kwargs: Mapping[str, Any]):
        self.opts = dict(layers=layers, source=source, output=output)
        self.apply_kwargs = dict(apply_kwargs)
        #: model structure (nnx graphdef or linen module) -> (jitted function, raw function)
        self.fns: dict[Any, tuple[Callable, Callable]] = {}

    def __call__(self, model, params):
        """``(fn, state)`` with ``fn(state, x) -> {layer: (N, d)}`` for this model structure."""
        fn, state, _ = self._functions(model, params)
        return fn, state

    def shapes(self, model, params, x) -> dict[str, tuple[int, ...]]:
        """Per-sample shapes of the captured layers before flattening (``{layer: (H, W, C)}``;
        "output" and dense layers ``(d,)``), from an abstract trace: nothing is computed."""
        _, state, raw = self._functions(model, params)
        sink: dict = {}
        token = _capture.SHAPES.set(sink)
        try:
            out = jax.eval_shape(lambda s, xb: raw(s, xb),  # a new function: traced again
                                 state, jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype))
        except (TypeError, ValueError) as err:
            raise ValueError(_mismatch(state, x, err)) from None
        finally:
            _capture.SHAPES.reset(token)
        return {k: sink.get(k, tuple(int(s) for s in v.shape[1:])) for k, v in out.items()}

    def _functions(self, model, params):
        """``(jitted fn, state, raw fn)`` for this model structure."""
        from flax import linen as nn
        from flax import nnx

        opts = self.opts
        if isinstance(model, nnx.Module):
            if params is not None:
                raise TypeError(
                    "record(epoch, model) takes no params for a flax nnx model (its weights "
                    "live in the model); params are for linen: record(epoch, module, params)."
                )
            graphdef, state = nnx.split(model)
            if graphdef not in self.fns:
                def raw(s, xb):
                    return _capture.capture_nnx(nnx.merge(graphdef, s), xb, **opts)

                self.fns[graphdef] = (_explained(jax.jit(raw)), raw)
            fn, raw = self.fns[graphdef]
            return fn, state, raw
        if isinstance(model, nn.Module):
            if params is None:
                raise TypeError(
                    "a flax linen module needs its variables: record(epoch, module, params)."
                )
            if model not in self.fns:
                kw = self.apply_kwargs

                def f(v, xb):
                    return _capture.capture_linen(model, v, xb, apply_kwargs=kw, **opts)

                self.fns[model] = (_explained(jax.jit(f)), f)
            fn, raw = self.fns[model]
            return fn, params, raw
        raise TypeError(
            f"record() expects a flax nnx.Module, or a linen Module plus its params; got "
            f"{type(model).__name__}."
        )


def _explained(fn: Callable) -> Callable:
    """``fn`` whose failure to apply the model to the probe (e.g. XLA's "dot_general requires
    contracting dimensions" for a probe of the wrong width) is a ValueError naming the probe's
    shape and the input the model's first layer expects."""

    def call(state, x):
        try:
            return fn(state, x)
        except (TypeError, ValueError) as err:
            raise ValueError(_mismatch(state, x, err)) from None

    return call


def _mismatch(state, x, err: Exception) -> str:
    shape = tuple(getattr(x, "shape", ()))
    msg = f"the model could not be applied to the probe inputs of shape {shape}"
    kernels = [(jax.tree_util.keystr(path), leaf) for path, leaf
               in jax.tree_util.tree_leaves_with_path(state)
               if "kernel" in jax.tree_util.keystr(path) and getattr(leaf, "ndim", 0) >= 2]
    if kernels:
        where, kernel = kernels[0]
        want = int(kernel.shape[-2])
        msg += (f": its first layer ({where.strip('[]').replace('][', '.')}, kernel "
                f"{tuple(kernel.shape)}) expects inputs with {want} features on the last axis, "
                f"the probe has {shape[-1] if shape else '?'}")
    return (msg + ". Pass probe inputs x in the model's own input format (N, ...), the shape "
            f"it is trained on. (The error was: {str(err).splitlines()[0] if str(err) else err!r})")


def probe_batch_size(probe_batch: int | None, n: int) -> int:
    """Rows per forward call for a probe set of ``n`` rows (``probe_batch``: an integer >= 1,
    or None for `AUTO_WHOLE` / `AUTO_BATCH`)."""
    if probe_batch is None:
        return n if n <= AUTO_WHOLE else AUTO_BATCH
    return min(int(probe_batch), n)


def batched_forward(fn: Callable, state, x, batch: int) -> dict[str, jax.Array]:
    """``fn(state, x)`` computed ``batch`` rows at a time and concatenated: ``{layer: (N, d)}``.

    Every call has the same shape (the last batch is completed with the probe's first rows,
    whose outputs are dropped), so the forward pass compiles once; peak device memory of the
    forward pass (its intermediate maps) is that of ``batch`` rows, not of the whole probe.
    Rows are independent in a model in inference mode, so the result is the whole-probe one
    up to float rounding of differently shaped matrix products.
    """
    import jax.numpy as jnp
    import numpy as np

    n = int(x.shape[0])
    if batch >= n:
        return fn(state, x)
    parts: list[dict] = []
    for start in range(0, n, batch):
        xb = x[start:start + batch]
        short = batch - int(xb.shape[0])
        if short:
            xb = np.concatenate([np.asarray(xb), np.asarray(x[:short])])
        out = fn(state, xb)
        parts.append({k: v[:batch - short] for k, v in out.items()} if short else out)
    return {k: jnp.concatenate([p[k] for p in parts]) for k in parts[0]}
