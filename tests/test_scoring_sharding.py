"""Sharded scoring on 4 fake CPU devices equals single-device scoring (subprocess, XLA flags set before jax loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from tinyjax import scoring
    from tinyjax.scoring.models import GPT2, GPT2Config

    assert jax.device_count() == 4, jax.devices()

    class Chars:
      bos_token_id = 0
      def encode(self, text):
        return [min(ord(c) - 31, 96) if c != "\\n" else 96 for c in text]

    model = GPT2(GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    words = ["cat", "dog", "the", "a", "mat", "sat", "on", "blue", "sky"]
    items = [scoring.MultipleChoice(" ".join(rng.choice(words, rng.integers(1, 12))) + ":",
                                    [" ".join(rng.choice(words, rng.integers(1, 4))) for _ in range(3)], gold=1)
             for _ in range(7)]
    single = scoring.Scorer(model, Chars(), batch_size=4).score(items)

    # Mesh 2 (data) x 2 (model); params sharded along "model" where the last axis divides evenly.
    mesh = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    state = nnx.state(model)
    def place(x):
      spec = P(*([None] * (x.ndim - 1)), "model") if x.ndim == 2 and x.shape[-1] % 2 == 0 else P()
      return jax.device_put(x, NamedSharding(mesh, spec))
    sharded_state = jax.tree.map(place, state)
    before = [str(x.sharding.spec) for x in jax.tree.leaves(sharded_state)]
    scorer = scoring.Scorer(model, Chars(), mesh=mesh, batch_size=4)
    sharded = scorer.score(items, params=sharded_state)
    after = [str(x.sharding.spec) for x in jax.tree.leaves(sharded_state)]

    # Data-only mesh over 4 devices with a plain apply_fn; batch_size 3 is rounded up to 4.
    graphdef = nnx.graphdef(model)
    def apply_fn(params, tokens):
      return nnx.merge(graphdef, params)(tokens)
    mesh4 = jax.make_mesh((4,), ("data",), axis_types=(AxisType.Auto,))
    scorer4 = scoring.Scorer(apply_fn, Chars(), mesh=mesh4, batch_size=3, max_length=64)
    data_only = scorer4.score(items, params=state)
    print(json.dumps({
        "single": single.loglik.tolist(), "sharded": sharded.loglik.tolist(), "data_only": data_only.loglik.tolist(),
        "acc": [single.acc.tolist(), sharded.acc.tolist(), data_only.acc.tolist()],
        "specs_kept": before == after, "n_model_sharded": sum("model" in s for s in before),
        "batch_size4": scorer4.batch_size, "compilations": scorer.compilations,
        "shapes": len(scorer.last_plan.shapes)}))
''')


def test_sharded_equals_single_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  res = json.loads(out.stdout.strip().splitlines()[-1])
  import numpy as np
  single = np.array(res["single"])
  assert np.isfinite(single[:, :3]).all()
  np.testing.assert_allclose(np.array(res["sharded"]), single, rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(np.array(res["data_only"]), single, rtol=2e-5, atol=2e-5)
  assert res["acc"][0] == res["acc"][1] == res["acc"][2]
  assert res["specs_kept"] and res["n_model_sharded"] > 0
  assert res["batch_size4"] == 4
  assert res["compilations"] == res["shapes"]
