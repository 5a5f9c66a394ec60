"""Run in a subprocess with 8 virtual CPU devices (see test_parallel_sequence.py): Ulysses and
ring attention, the sequence-parallel DiT, the split VAE decode and fsdp parameter bytes,
each against one device."""
import os
import sys
import tempfile
from pathlib import Path

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from skyreels_jax import load_transformer, load_vae  # noqa: E402
from skyreels_jax.nn.attention import attention  # noqa: E402
from skyreels_jax.parallel import make_mesh  # noqa: E402
from skyreels_jax.parallel.vae_split import decode_split  # noqa: E402
from tests import vae_fixtures  # noqa: E402
from tests.conftest import rel_err  # noqa: E402
from tests.dit_fixtures import build_reference, save_diffusers  # noqa: E402
from tests.test_dit_parity import make_inputs  # noqa: E402

TOL = 1e-5
MESHES = [(2, 1, 4, 1), (1, 1, 2, 4), (1, 1, 8, 1)]


def check_attention() -> None:
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(key, (2, 30, 8, 16)) for key in keys)  # 30 tokens: padded on 4 and 8
    block = jnp.arange(30) // 7
    plain = attention(q, k, v, backend="xla")
    causal = attention(q, k, v, q_block=block, k_block=block, backend="xla")
    worst = 0.0
    for shape in MESHES:
        with jax.set_mesh(make_mesh(*shape)):
            for backend in ("ulysses", "ring", "ulysses:chunked"):
                out = jax.jit(lambda q, k, v: attention(q, k, v, backend=backend))(q, k, v)
                out_c = jax.jit(lambda q, k, v: attention(q, k, v, q_block=block, k_block=block,
                                                          backend=backend))(q, k, v)
                worst = max(worst, rel_err(np.asarray(out), np.asarray(plain)),
                            rel_err(np.asarray(out_c), np.asarray(causal)))
    assert worst < TOL, worst
    print(f"attention ulysses/ring vs plain over {len(MESHES)} meshes: worst rel {worst:.1e}")
    with jax.set_mesh(make_mesh(1, 1, 8, 1)):
        try:
            attention(q[:, :, :4], k[:, :, :4], v[:, :, :4], backend="ulysses")
        except ValueError as e:
            assert "divide by the context size 8" in str(e), e
            print(f"ulysses error: {e}")
        else:
            raise AssertionError("Ulysses with 4 heads over context 8 did not raise")


def check_dit(tmp: Path) -> None:
    reference = build_reference("df", num_attention_heads=4, attention_head_dim=8)
    folder = save_diffusers(reference, tmp / "dit")
    inputs = make_inputs(reference, "df", 2, fps=16)
    plain = load_transformer(folder)
    expected = np.asarray(plain(**inputs))
    expected_causal = np.asarray(load_transformer(folder, causal_block_size=2)(**inputs))
    for shape, kind in [((2, 1, 4, 1), "ulysses"), ((2, 1, 4, 1), "ring"), ((1, 2, 2, 2), "ulysses"),
                        ((1, 2, 2, 2), "ring")]:
        mesh = make_mesh(*shape)
        with jax.set_mesh(mesh):
            err = rel_err(np.asarray(load_transformer(folder, mesh=mesh, sequence_parallel=kind)(**inputs)), expected)
            causal = load_transformer(folder, mesh=mesh, sequence_parallel=kind, causal_block_size=2)
            err_c = rel_err(np.asarray(causal(**inputs)), expected_causal)
        assert max(err, err_c) < TOL, (shape, kind, err, err_c)
        print(f"dit {kind} mesh {dict(mesh.shape)}: rel {err:.1e}, block-causal rel {err_c:.1e}")


def check_param_bytes(tmp: Path) -> None:
    folder = tmp / "dit"
    full = sum(x.nbytes for x in jax.tree.leaves(load_transformer(folder)) if hasattr(x, "nbytes"))
    for shape in [(1, 1, 1, 1), (1, 2, 1, 1), (1, 4, 1, 1), (1, 8, 1, 1), (1, 4, 1, 2)]:
        devices = np.array(jax.devices()[:int(np.prod(shape))])
        mesh = make_mesh(*shape, devices=devices)
        dit = load_transformer(folder, mesh=mesh)
        per_device = sum(x.addressable_shards[0].data.nbytes for x in jax.tree.leaves(dit) if hasattr(x, "sharding"))
        print(f"param bytes per device fsdp={shape[1]} tensor={shape[3]}: {per_device} of {full} "
              f"({per_device / full:.2f})")


def check_vae(tmp: Path) -> None:
    folder = vae_fixtures.save_diffusers(vae_fixtures.build_reference(), tmp / "vae")
    vae = load_vae(folder)
    z = np.random.default_rng(0).standard_normal((2, 3, 8, 6, vae.config.z_dim)).astype(np.float32)
    expected = np.asarray(vae.decode(z))
    for shape in [(1, 8, 1, 1), (2, 1, 2, 2)]:
        mesh = make_mesh(*shape)
        out = decode_split(vae, z, mesh)
        rows = {s.data.shape[2] for s in out.addressable_shards}
        err = rel_err(np.asarray(out), expected)
        assert err < TOL, (shape, err)
        print(f"vae decode split mesh {dict(mesh.shape)}: rel {err:.1e}, rows per shard {sorted(rows)}")


def main() -> None:
    assert jax.device_count() == 8
    tmp = Path(tempfile.mkdtemp())
    check_attention()
    check_dit(tmp)
    check_param_bytes(tmp)
    check_vae(tmp)


if __name__ == "__main__":
    sys.exit(main())
