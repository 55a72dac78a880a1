"""Estimation sharded over several (virtual CPU) devices equals one device, bit for bit: the
public `estimate_epochs` and the `Recorder` built on it."""

import os
import subprocess
import sys
import textwrap


def test_sharded_epochs_equal_single_device():
    code = textwrap.dedent(
        """
        import numpy as np, jax, infoplane
        from infoplane.estimators import Binning, AdaptiveBinning, KDE
        assert jax.local_device_count() == 4, jax.devices()
        rng = np.random.default_rng(0)
        n = 256
        x = rng.normal(size=(n, 3)); y = rng.integers(0, 3, n)
        ts = np.tanh(rng.normal(size=(10, n, 5)) * np.linspace(0.3, 4, 10)[:, None, None])
        ts = ts.astype(np.float32)  # 10 epochs: not a multiple of 4 devices (padding path)
        for est in (Binning(), AdaptiveBinning(), KDE(sigma2=0.05)):
            a = infoplane.estimate_epochs(est, x, ts, y)            # sharded over 4 devices
            b = infoplane.estimate_epochs(est, x, ts, y, shard=False)
            assert a.i_xt.shape == (10,)
            np.testing.assert_array_equal(np.asarray(a.i_xt), np.asarray(b.i_xt))
            np.testing.assert_array_equal(np.asarray(a.i_ty), np.asarray(b.i_ty))
            float(a.i_xt[3])  # results index like ordinary arrays
        print("OK")
        """
    )
    _run_on_4_devices(code)


def _run_on_4_devices(code: str) -> None:
    """Run ``code`` in a fresh process with 4 virtual CPU devices; it must print OK."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout


def test_sharded_recorder_equals_single_device():
    code = textwrap.dedent(
        """
        import numpy as np, jax, jax.numpy as jnp
        from flax import nnx
        from infoplane.recording.recorder import Recorder
        assert jax.local_device_count() == 4
        class M(nnx.Module):
            def __init__(self, rngs):
                self.a = nnx.Linear(4, 6, rngs=rngs); self.b = nnx.Linear(6, 2, rngs=rngs)
            def __call__(self, x):
                return self.b(jnp.tanh(self.a(x)))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 4)).astype(np.float32); y = rng.integers(0, 2, 300)
        m = M(nnx.Rngs(0))
        out = []
        for shard in (None, False):
            rec = Recorder(x, y, ["binning", "adaptive_binning", "kde"], None, buffer=5,
                           shard=shard)
            for e in range(7):
                m.a.kernel[...] = m.a.kernel[...] * 1.2
                rec.record(e, m)
            rec.close()
            out.append(sorted((r["epoch"], r["layer"], r["estimator"], r["i_xt"], r["i_ty"])
                              for r in rec.results().rows()))
            m = M(nnx.Rngs(0))
        assert out[0] == out[1] and len(out[0]) == 7 * 2 * 3

        # at least as many layers as devices: whole layers spread over the devices instead
        class Deep(nnx.Module):
            def __init__(self, rngs):
                w = [4, 9, 7, 6, 5, 3, 2]
                self.fc = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(w, w[1:])])
            def __call__(self, x):
                for f in self.fc[:-1]:
                    x = jnp.tanh(f(x))
                return self.fc[-1](x)
        out = []
        for shard in (None, False):
            m = Deep(nnx.Rngs(1))
            rec = Recorder(x, y, ["binning", "adaptive_binning"], None, buffer=3, shard=shard)
            for e in range(4):
                m.fc[0].kernel[...] = m.fc[0].kernel[...] * 1.3
                rec.record(e, m)
            place = rec._placement()
            rec.close()
            if shard is None:  # 6 layers on 4 devices, widest first onto the least loaded
                assert len(place) == 6 and len({d.id for d in place.values()}) == 4, place
            else:
                assert set(place.values()) == {None}
            out.append(sorted((r["epoch"], r["layer"], r["estimator"], r["i_xt"], r["i_ty"])
                              for r in rec.results().rows()))
        assert out[0] == out[1] and len(out[0]) == 4 * 6 * 2

        # a layer's buffered epochs are stacked onto the device it is estimated on
        from infoplane.recording.buffer import Entry as _Entry
        from infoplane.recording.placement import stack_epochs as _stack_epochs
        ents = [_Entry(0, "train", e, {"l": jnp.full((5, 2), e, jnp.float32)}) for e in range(3)]
        d3 = jax.devices()[3]
        st = _stack_epochs(ents, ("l",), {"l": d3})["l"]
        assert st.devices() == {d3} and np.asarray(st)[:, 0, 0].tolist() == [0, 1, 2]
        print("OK")
        """
    )
    _run_on_4_devices(code)
