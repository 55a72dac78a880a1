"""How ``infoplane run`` and ``infoplane estimate`` set JAX up for this process: the CPU cores
as JAX devices (`use_cpu_cores`) and a persistent compilation cache
(`enable_compilation_cache`). Both must run before JAX starts its backends.
"""

from __future__ import annotations

import os

__all__ = ["cpu_cores", "enable_compilation_cache", "use_cpu_cores"]


def enable_compilation_cache() -> None:
    """Keep XLA's compiled estimators between runs (``~/.cache/infoplane/jax``), unless the user
    configured a cache (JAX_COMPILATION_CACHE_DIR) or disabled it (INFOPLANE_NO_CACHE=1)."""
    if os.environ.get("INFOPLANE_NO_CACHE") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    path = os.path.join(os.path.expanduser("~"), ".cache", "infoplane", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_cpu_cores() -> None:
    """Expose the CPU cores as JAX CPU devices (``jax_num_cpu_devices``) so that, on a machine
    without an accelerator, the `Recorder` estimates several layers at once, one per core. On
    a GPU machine the estimation runs on the GPU(s) and this changes nothing.
    ``INFOPLANE_CPU_DEVICES=N`` sets the number (1: one device; not an integer: ValueError),
    and an ``XLA_FLAGS`` with ``--xla_force_host_platform_device_count`` is respected. Must run
    before JAX starts its backends; later (e.g. in a process already using JAX) it does
    nothing.
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        n = int(os.environ.get("INFOPLANE_CPU_DEVICES", cpu_cores()))
    except ValueError:
        raise ValueError("INFOPLANE_CPU_DEVICES must be an integer") from None
    import jax

    try:
        if n > 1 and jax.config.jax_num_cpu_devices in (-1, 1):
            jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # the backends are already initialised: keep what they have
        pass
