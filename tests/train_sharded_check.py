"""Run in a subprocess with 8 virtual CPU devices (test_train_loop.py, slow): three train steps
with the state sharded over a (data 2, fsdp 2, tensor 2) mesh give the losses of one device."""
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from skyreels_jax.parallel import make_mesh  # noqa: E402
from skyreels_jax.training import sharding  # noqa: E402
from skyreels_jax.training.objectives import Objective  # noqa: E402
from skyreels_jax.training.step import make_train_step  # noqa: E402
from tests.test_train_step import _batch, _setup  # noqa: E402


def main() -> None:
    assert jax.device_count() == 8
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    obj = Objective("diffusion_forcing", non_decreasing=True, max_prefix=1)
    losses = {}
    for name in ("single", "sharded"):
        graphdef, rest, tx, schedule, state = _setup(ema=True)
        batch = _batch(n=4, frames=4)
        if name == "sharded":
            state = sharding.place(state, mesh)
            rows = sharding.local_rows(mesh, 4)
            batch = sharding.global_batch(jax.tree.map(lambda x: np.asarray(x)[rows[0]:rows[1]], batch), mesh, 4)
        step = make_train_step(graphdef, rest, tx, schedule, obj, ema_decay=0.9)
        out = []
        for _ in range(3):
            state, m = step(state, batch)
            out.append(float(m["loss"]))
        losses[name] = out
        if name == "sharded":
            k = state["params"]["blocks"]["ffn"]["fc1"]["kernel"][...]
            assert tuple(k.sharding.spec) == (None, "fsdp", "tensor"), k.sharding.spec
            mu = jax.tree.leaves(state["opt_state"])[2]
            assert len(mu.sharding.device_set) > 1
            assert tuple(m["loss"].sharding.spec) == () and len(m["loss"].sharding.device_set) == 8
    np.testing.assert_allclose(losses["sharded"], losses["single"], rtol=1e-5)
    print(f"losses single {losses['single']} sharded {losses['sharded']}")


if __name__ == "__main__":
    main()
