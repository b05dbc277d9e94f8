"""The sharded IRT fit equals the single-device fit (4 fake CPU devices, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    from jax.sharding import AxisType
    import tinyjax as tj
    from tinyjax.synthetic import simulate_2pl
    assert jax.device_count() == 4, jax.devices()
    y, *_ = simulate_2pl(42, 30, dim=2, missing=0.1, seed=1)     # 42 rows: uneven over 4 and 2 shards
    kw = dict(dim=2, seed=0, dtype="float64", ftol=1e-13, progress=False)   # converge fully: compare optima
    ref = tj.fit_irt(y, **kw)
    mesh = jax.make_mesh((4,), ("models",), axis_types=(AxisType.Auto,))
    rows = tj.fit_irt(y, mesh=mesh, **kw)
    mesh2 = jax.make_mesh((2, 2), ("models", "items"), axis_types=(AxisType.Auto,) * 2)
    both = tj.fit_irt(y, mesh=mesh2, mesh_axes=("models", "items"), **kw)
    for m in (rows, both):
        assert m.theta.shape == ref.theta.shape and m.a.shape == ref.a.shape
        np.testing.assert_allclose(m.predict_proba(m.theta), ref.predict_proba(ref.theta), atol=1e-4)
        np.testing.assert_allclose(m.fit_info.objective, ref.fit_info.objective, rtol=1e-7)
    print("SHARDED_OK", rows.fit_info.n_iter, ref.fit_info.n_iter)
""")


def test_sharded_fit_matches_single_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-4000:]
  assert "SHARDED_OK" in out.stdout
