"""Capture every layer's representation T of a user's flax model on a probe batch X.

The information plane needs, for every layer, the activations T of shape (N, d) on the probe
inputs X of shape (N, ...). This module records them from an unmodified flax model, NNX or
Linen, as pure functions that can be traced by ``jax.jit``.

Design
------
* ``source="inputs"`` (default). Every call of a *linear-type* layer (Dense/Linear,
  DenseGeneral/LinearGeneral, Conv, ConvTranspose, ConvLocal, Einsum) is intercepted and its
  INPUT recorded. For the usual ``Dense -> activation -> Dense`` stack, the input of the k-th
  linear call is the post-activation representation of the (k-1)-th linear layer (plus
  whatever pooling, flattening or normalisation came in between), so it is named after the
  (k-1)-th layer. The first linear layer's input is X itself and is not recorded; the last
  layer's output is the model output (see ``output``).
* ``source="outputs"``. The OUTPUT of every submodule call (not the root) is recorded under the
  submodule's path. Use it with ``layers=`` to pick custom blocks whose output is already
  post-activation. Entries come in the order the calls *return*, so a block comes after the
  sublayers it calls. Outputs that are not a single array with leading axis N (tuples, carries)
  are skipped.
* ``output``: ``"softmax"`` adds ``"output"`` (softmax of the model's return value over its
  last axis), ``"logits"`` the raw return value, ``None`` nothing.

Names are module paths joined with ``"."``: NNX attribute paths (``"layers.0"``, ``"fc1"``,
``"encoder.dense"``), Linen scope paths without the root (``"Dense_0"``, ``"block.Conv_1"``).
A module called several times in one forward pass (weight sharing) gets ``"#2"``, ``"#3"``
suffixes on its later calls. Values are cast to float32 and flattened to (N, d), in an
``OrderedDict`` (``jax.jit`` sorts a plain dict's keys, losing the forward-call order).

Interception
------------
* Linen: ``nn.intercept_methods`` (thread-local in flax) around ``module.apply`` with nothing
  mutable; only ``__call__`` is intercepted.
* NNX: ``nnx.capture(..., method_outputs=...)`` records outputs only (never inputs), files them
  by path rather than call order and does not instrument inherited ``__call__`` methods. So the
  model is cloned (``nnx.clone``: new Variables, the user's object is never touched), put in
  evaluation mode (``.eval()`` on the clone: Dropout ``deterministic=True``, BatchNorm
  ``use_running_average=True``), and ``__call__`` of the clone's module classes is patched for
  the duration of one forward pass, under a process-wide lock, and restored in ``finally``.
  Special methods are looked up on the type, so patching the class is the only way to see
  ``module(x)`` calls. Instances are mapped to paths by identity; calls of other instances or
  threads pass through.
Nothing is kept after a call (no tracer leaks out of a trace), except the shapes `SHAPES` asks.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import nnx

__all__ = ["capture_linen", "capture_nnx", "layer_names_linen", "layer_names_nnx"]

_SOURCES = ("inputs", "outputs")
_OUTPUTS = ("softmax", "logits", None)

_NNX_LINEAR_NAMES = ("Linear", "LinearGeneral", "Conv", "ConvTranspose", "Einsum")
_LINEN_LINEAR_NAMES = ("Dense", "DenseGeneral", "Conv", "ConvTranspose", "ConvLocal", "Einsum")
NNX_LINEAR_TYPES: tuple[type, ...] = tuple(
    getattr(nnx, n) for n in _NNX_LINEAR_NAMES if hasattr(nnx, n)
)
LINEN_LINEAR_TYPES: tuple[type, ...] = tuple(
    getattr(nn, n) for n in _LINEN_LINEAR_NAMES if hasattr(nn, n)
)

# Held while NNX classes are patched: two captures never patch the same class at once.
_NNX_PATCH_LOCK = threading.RLock()
_MISSING = object()

LayerSelection = Sequence[str] | Callable[[str], bool] | str | None


# --------------------------------------------------------------------------- checks


def _check_options(source: str, output: str | None) -> None:
    if source not in _SOURCES:
        raise ValueError(
            f"source must be 'inputs' (the input of every linear-type layer, i.e. the "
            f"post-activation representation of the layer before it) or 'outputs' (the output "
            f"of every submodule); got {source!r}."
        )
    if output not in _OUTPUTS:
        raise ValueError(
            f"output must be 'softmax', 'logits' or None (no 'output' entry); got {output!r}."
        )


def _check_x(x) -> int:
    """Return N for probe inputs x of shape (N, ...)."""
    if not isinstance(x, jax.Array | np.ndarray):
        raise TypeError(
            f"x must be an array of probe inputs of shape (N, ...) (numpy or jax), got "
            f"{type(x).__name__}. Convert it with jnp.asarray(x)."
        )
    if x.ndim == 0:
        raise ValueError("x must have a leading batch axis, shape (N, ...); got a scalar.")
    return int(x.shape[0])


def _is_batch_array(v, n: int) -> bool:
    return isinstance(v, jax.Array | np.ndarray) and v.ndim >= 1 and v.shape[0] == n


def _flat(v, n: int) -> jax.Array:
    """(N, ...) -> float32 (N, d)."""
    return jnp.asarray(v).astype(jnp.float32).reshape(n, -1)


def _first_arg(args: tuple, kwargs: dict):
    """The input a layer was called with: first positional argument, else ``inputs=``."""
    if args:
        return args[0]
    if "inputs" in kwargs:
        return kwargs["inputs"]
    return next(iter(kwargs.values()), None)


# --------------------------------------------------------------------------- recording

#: A dict while set (in a trace): every recorded layer's per-sample shape before flattening.
SHAPES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("SHAPES", default=None)


class _Recorder:
    """Collects (name, (N, d) float32) entries of one forward pass, in recording order."""

    def __init__(self, source: str, n: int):
        self.source = source
        self.n = n
        self.entries: list[tuple[str, jax.Array]] = []
        self._calls: dict[str, int] = {}
        self._previous: str | None = None  # "inputs": name of the last linear-layer call

    def call_name(self, path: str) -> str:
        """Name of this call of the module at ``path``: path, then path#2, path#3, ..."""
        k = self._calls.get(path, 0) + 1
        self._calls[path] = k
        return path if k == 1 else f"{path}#{k}"

    def add(self, name: str, value) -> None:
        if _is_batch_array(value, self.n):
            self.entries.append((name, _flat(value, self.n)))
            if (sink := SHAPES.get()) is not None:  # `CaptureFunctions.shapes`
                sink[name] = tuple(int(s) for s in value.shape[1:])

    def layer_input(self, name: str, value) -> None:
        """A linear layer ``name`` received ``value``: it is the previous layer's T."""
        if self._previous is not None:
            self.add(self._previous, value)
        self._previous = name

    def call(self, name: str, fn: Callable[[], Any], args: tuple, kwargs: dict):
        """Run one intercepted call ``fn()`` and record what ``source`` asks for."""
        if self.source == "inputs":
            self.layer_input(name, _first_arg(args, kwargs))
        out = fn()
        if self.source == "outputs":
            self.add(name, out)
        return out


def _describe_source(source: str, linear_types: tuple[type, ...]) -> str:
    if source == "inputs":
        kinds = ", ".join(t.__name__ for t in linear_types)
        return (
            f"source='inputs': the inputs of linear-type layers ({kinds}), each named after "
            "the linear layer called before it"
        )
    return "source='outputs': the outputs of submodule calls, named by their paths"


def _select(
    entries: dict[str, jax.Array], layers: LayerSelection, output: str | None, described: str
) -> dict[str, jax.Array]:
    """Keep the entries chosen by ``layers``, in forward-call order.

    A list of names may include "output" when ``output`` adds that entry anyway; a callable
    filters the layers only ("output" is governed by ``output``).
    """
    if layers is None:
        return entries
    available = list(entries)
    if callable(layers):
        chosen = {k: v for k, v in entries.items() if layers(k)}
        if not chosen:
            raise ValueError(
                f"The layers filter selected none of the captured layers; available "
                f"({described}): {available}."
            )
        return chosen
    wanted = [layers] if isinstance(layers, str) else list(layers)
    bad = [w for w in wanted if not isinstance(w, str)]
    if bad or not wanted:
        raise TypeError(
            f"layers must be None, a non-empty list of layer names or a callable name -> bool; "
            f"got {layers!r}. Available ({described}): {available}."
        )
    if output is not None:
        wanted = [w for w in wanted if w != "output"]
    unknown = [w for w in wanted if w not in entries]
    if unknown:
        raise ValueError(f"Unknown layer name(s) {unknown}; available ({described}): {available}.")
    keep = set(wanted)
    return {k: v for k, v in entries.items() if k in keep}


def _finish(
    rec: _Recorder,
    model_out,
    *,
    layers: LayerSelection,
    output: str | None,
    linear_types: tuple[type, ...],
) -> dict[str, jax.Array]:
    """Entries -> selected dict name -> (N, d), plus the "output" entry."""
    described = _describe_source(rec.source, linear_types)
    entries = dict(rec.entries)
    if not entries:
        if rec.source == "inputs":
            raise ValueError(
                f"No layer was captured ({described}). The input of the first linear layer is "
                "X itself and is skipped, so at least two linear-layer calls are needed. If "
                "your layers are custom modules, pass source='outputs' to record every "
                "submodule's output."
            )
        raise ValueError(
            f"No layer was captured ({described}): no submodule call returned an array of "
            f"shape (N, ...) with N = {rec.n}."
        )
    if output is not None and "output" in entries:
        raise ValueError(
            "A layer of the model is named 'output', which clashes with the model-output "
            "entry; pass output=None (and read that layer under its own name)."
        )
    # OrderedDict, not dict: JAX flattens a plain dict in sorted-key order, so a dict returned
    # from jax.jit or jax.eval_shape would lose the forward-call order; OrderedDict keeps it.
    selected = OrderedDict(_select(entries, layers, output, described))
    if output is not None:
        selected["output"] = _model_output(model_out, rec.n, output)
    return selected


def _model_output(out, n: int, output: str) -> jax.Array:
    """The model's return value (N, ...) -> (N, d) logits or softmax over the last axis."""
    if not isinstance(out, jax.Array | np.ndarray):
        raise TypeError(
            f"The model returned {type(out).__name__}, not an array of shape (N, ...); "
            "pass output=None to capture the layers only."
        )
    if out.ndim == 0 or out.shape[0] != n:
        raise ValueError(
            f"The model returned shape {tuple(out.shape)}, expected a leading batch axis of "
            f"N = {n}; pass output=None to capture the layers only."
        )
    out = jnp.asarray(out).astype(jnp.float32)
    if output == "softmax":
        out = jax.nn.softmax(out, axis=-1)
    return out.reshape(n, -1)


# --------------------------------------------------------------------------- NNX


def _own_call(cls: type):
    """The ``__call__`` an instance of ``cls`` would run, or None if it has none."""
    for klass in cls.__mro__:
        if klass is object:
            break
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None


def _make_wrapper(cls: type, original, hook):
    def __call__(self, *args, **kwargs):  # noqa: N807
        if type(self) is not cls:  # e.g. a subclass's super().__call__: its own wrapper records
            return original(self, *args, **kwargs)
        return hook(self, original, args, kwargs)

    __call__.__wrapped__ = original
    return __call__


@contextlib.contextmanager
def _patched_calls(classes: set[type], hook) -> Iterator[None]:
    """Temporarily route ``instance(...)`` of every class in ``classes`` through ``hook``."""
    with _NNX_PATCH_LOCK:
        saved = {cls: cls.__dict__.get("__call__", _MISSING) for cls in classes}
        originals = {cls: _own_call(cls) for cls in classes}  # resolved before any patching
        try:
            for cls in classes:
                cls.__call__ = _make_wrapper(cls, originals[cls], hook)
            yield
        finally:
            for cls, own in saved.items():
                if own is _MISSING:
                    if "__call__" in cls.__dict__:
                        delattr(cls, "__call__")
                else:
                    cls.__call__ = own


def _nnx_targets(model: nnx.Module, source: str) -> dict[int, tuple[str, nnx.Module]]:
    """id(module) -> (dotted path, module) for the modules whose calls are recorded."""
    targets = {}
    for path, module in nnx.iter_modules(model):
        if not path or _own_call(type(module)) is None:
            continue  # the root is the model; containers like nnx.List are never called
        if source == "inputs" and not isinstance(module, NNX_LINEAR_TYPES):
            continue
        targets[id(module)] = (".".join(str(p) for p in path), module)
    return targets


def _run_nnx(model: nnx.Module, x, source: str, n: int) -> tuple[_Recorder, Any]:
    """One eval-mode forward pass of a clone of ``model``, recording its layers."""
    work = nnx.clone(model)
    work.eval()
    targets = _nnx_targets(work, source)
    rec = _Recorder(source, n)
    owner = threading.get_ident()

    def hook(module, original, args, kwargs):
        target = targets.get(id(module))
        if target is None or target[1] is not module or threading.get_ident() != owner:
            return original(module, *args, **kwargs)
        name = rec.call_name(target[0])
        return rec.call(name, lambda: original(module, *args, **kwargs), args, kwargs)

    classes = {type(m) for _, m in targets.values()}
    with _patched_calls(classes, hook):
        out = work(x)
    return rec, out


def _check_nnx(model) -> None:
    if not isinstance(model, nnx.Module):
        hint = (
            " For a Linen module use capture_linen(module, variables, x)."
            if isinstance(model, nn.Module)
            else ""
        )
        raise TypeError(f"model must be a flax nnx.Module, got {type(model).__name__}.{hint}")


def capture_nnx(
    model: nnx.Module,
    x,
    *,
    layers: LayerSelection = None,
    source: str = "inputs",
    output: str | None = "softmax",
) -> dict[str, jax.Array]:
    """Every layer's representation of an NNX ``model`` on probe inputs ``x``.

    Args:
      model: an ``nnx.Module`` whose ``__call__(x)`` returns an array (N, ...). It is not
        modified: a clone runs in evaluation mode.
      x: probe inputs, shape (N, ...).
      layers: None (all), names, or a callable name -> bool selecting entries.
      source: "inputs" (inputs of linear-type layers, named after the preceding linear layer)
        or "outputs" (outputs of every submodule call).
      output: "softmax", "logits" or None: the "output" entry computed from the return value.

    Returns OrderedDict name -> float32 array (N, d), in forward-call order, "output" last.
    Pure and traceable: ``jax.jit(lambda s, x: capture_nnx(nnx.merge(graphdef, s), x))``.
    """
    _check_nnx(model)
    _check_options(source, output)
    n = _check_x(x)
    rec, out = _run_nnx(model, x, source, n)
    return _finish(rec, out, layers=layers, output=output, linear_types=NNX_LINEAR_TYPES)


def layer_names_nnx(
    model: nnx.Module, x, *, source: str = "inputs", output: str | None = "softmax"
) -> list[str]:
    """The names ``capture_nnx`` would return, in order, found cheaply with ``jax.eval_shape``."""
    _check_nnx(model)
    graphdef, state = nnx.split(model)
    shapes = jax.eval_shape(
        lambda s, xx: capture_nnx(nnx.merge(graphdef, s), xx, source=source, output=output),
        state,
        x,
    )
    return list(shapes)


# --------------------------------------------------------------------------- Linen


def _check_linen(module) -> None:
    if not isinstance(module, nn.Module):
        hint = (
            " For an NNX model use capture_nnx(model, x)." if isinstance(module, nnx.Module) else ""
        )
        raise TypeError(f"module must be a flax linen Module, got {type(module).__name__}.{hint}")


def _as_variables(variables) -> Mapping:
    """Full variables {"params": ..., "batch_stats": ...} or a bare params tree -> variables."""
    if not isinstance(variables, Mapping):
        raise TypeError(
            f"variables must be the dict returned by module.init (or its 'params'), got "
            f"{type(variables).__name__}."
        )
    return variables if "params" in variables else {"params": variables}


def _apply_kwargs(apply_kwargs: Mapping | None) -> dict:
    kwargs = dict(apply_kwargs or {})
    clash = sorted({"mutable", "capture_intermediates", "method"} & set(kwargs))
    if clash:
        raise ValueError(
            f"apply_kwargs may not set {clash}: capture runs module.apply(variables, x, ...) "
            "with nothing mutable and records the layers itself."
        )
    return kwargs


def _run_linen(module, variables, x, source: str, n: int, kwargs: dict):
    """One ``module.apply`` with an interceptor recording the layers."""
    rec = _Recorder(source, n)

    def interceptor(next_fun, args, kw, context):
        mod = context.module
        if context.method_name != "__call__" or not mod.path:
            return next_fun(*args, **kw)
        if source == "inputs" and not isinstance(mod, LINEN_LINEAR_TYPES):
            return next_fun(*args, **kw)
        name = rec.call_name(".".join(str(p) for p in mod.path))
        return rec.call(name, lambda: next_fun(*args, **kw), args, kw)

    with nn.intercept_methods(interceptor):
        out = module.apply(variables, x, **kwargs)
    return rec, out


def capture_linen(
    module: nn.Module,
    variables,
    x,
    *,
    layers: LayerSelection = None,
    source: str = "inputs",
    output: str | None = "softmax",
    apply_kwargs: Mapping | None = None,
) -> dict[str, jax.Array]:
    """Every layer's representation of a Linen ``module`` on probe inputs ``x``.

    Args:
      module: an unbound ``nn.Module``; ``module.apply(variables, x, **apply_kwargs)`` must
        return an array (N, ...).
      variables: the variables from ``module.init`` (with "params", maybe "batch_stats") or
        the params tree alone.
      x: probe inputs, shape (N, ...).
      layers, source, output: as in ``capture_nnx``.
      apply_kwargs: extra keyword arguments of ``apply``, e.g. ``{"train": False}``.

    Returns:
      OrderedDict name -> float32 array (N, d), in forward-call order, "output" last.
    """
    _check_linen(module)
    _check_options(source, output)
    n = _check_x(x)
    rec, out = _run_linen(
        module, _as_variables(variables), x, source, n, _apply_kwargs(apply_kwargs)
    )
    return _finish(rec, out, layers=layers, output=output, linear_types=LINEN_LINEAR_TYPES)


def layer_names_linen(
    module: nn.Module,
    variables,
    x,
    *,
    source: str = "inputs",
    output: str | None = "softmax",
    apply_kwargs: Mapping | None = None,
) -> list[str]:
    """The names ``capture_linen`` would return, in order, found with ``jax.eval_shape``."""
    _check_linen(module)
    shapes = jax.eval_shape(
        lambda v, xx: capture_linen(
            module, v, xx, source=source, output=output, apply_kwargs=apply_kwargs
        ),
        _as_variables(variables),
        x,
    )
    return list(shapes)
