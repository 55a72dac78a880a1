"""The `Recorder`'s forward passes: one ``jax.jit``-compiled ``f(state, x) -> {layer: (N, d)}``
per model structure (nnx ``graphdef`` or linen module), so new weights never recompile
(`CaptureFunctions`). What is captured, and how, is `infoplane.recording.capture`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from infoplane.recording import capture as _capture

__all__ = ["CaptureFunctions"]


class CaptureFunctions:
    """The jitted capture functions of one recorder: ``layers``, ``source`` and ``output`` as
    in `infoplane.capture_nnx` / `capture_linen`; ``apply_kwargs`` for a linen ``apply``."""

    def __init__(self, layers: Sequence[str] | Callable[[str], bool] | None, source: str,
                 output: str | None, apply_kwargs: Mapping[str, Any]):
        self.opts = dict(layers=layers, source=source, output=output)
        self.apply_kwargs = dict(apply_kwargs)
        #: model structure (nnx graphdef or linen module) -> jitted function
        self.fns: dict[Any, Callable] = {}

    def __call__(self, model, params):
        """``(fn, state)`` with ``fn(state, x) -> {layer: (N, d)}`` for this model structure."""
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
            fn = self.fns.get(graphdef)
            if fn is None:
                fn = _explained(jax.jit(
                    lambda s, xb: _capture.capture_nnx(nnx.merge(graphdef, s), xb, **opts)))
                self.fns[graphdef] = fn
            return fn, state
        if isinstance(model, nn.Module):
            if params is None:
                raise TypeError(
                    "a flax linen module needs its variables: record(epoch, module, params)."
                )
            fn = self.fns.get(model)
            if fn is None:
                kw = self.apply_kwargs

                def f(v, xb):
                    return _capture.capture_linen(model, v, xb, apply_kwargs=kw, **opts)

                fn = _explained(jax.jit(f))
                self.fns[model] = fn
            return fn, params
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
