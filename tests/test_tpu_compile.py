"""The TPU compiler, run here without a TPU (libtpu from the test extra): a tiny DiT compiled for a v5e:2x2
slice under data, fsdp, Ulysses and ring meshes uses the fused kernel and holds the weights the rules
place on each chip; the planner's slices, candidates and choice."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

pytest.importorskip("libtpu", reason="the TPU compiler: pip install 'skyreels-jax[tpu]'")

from skyreels_jax.models import DiT, DiTConfig  # noqa: E402
from skyreels_jax.nn.platform import current_platform  # noqa: E402
from skyreels_jax.parallel import make_mesh  # noqa: E402
from skyreels_jax.parallel.memory import param_bytes_per_device  # noqa: E402
from skyreels_jax.planning.plan import Layout, candidates, fits  # noqa: E402
from skyreels_jax.planning.programs import abstract_on  # noqa: E402
from skyreels_jax.planning.topologies import slice_of, tpu_devices  # noqa: E402

TINY = DiTConfig(dim=512, num_heads=4, ffn_dim=1024, num_layers=2, text_dim=64, dtype="bfloat16",
                 param_dtype="bfloat16")
LATENTS, TEXT = (2, 3, 16, 16, 16), (2, 24, 64)  # a CFG pair; 3 x 8 x 8 = 192 video tokens


@pytest.fixture(scope="module")
def devices():
    return tpu_devices(slice_of("v5e:2x2"))


def config_for(sp):
    return dataclasses.replace(TINY, sequence_parallel=sp)


def _arguments(config, mesh):
    """(weights, latents, timesteps, text) as ShapeDtypeStructs placed on the mesh."""
    _, params = abstract_on(lambda: DiT(config, rngs=nnx.Rngs(0)), mesh)
    whole = NamedSharding(mesh, P())
    return params, *(jax.ShapeDtypeStruct(s, jnp.float32, sharding=whole) for s in (LATENTS, LATENTS[:2], TEXT))


def _compile(config, mesh):
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: DiT(config, rngs=nnx.Rngs(0))))

    def forward(params, latents, t, context):
        return nnx.merge(graphdef, params).forward(latents, t, context)
    with jax.set_mesh(mesh):
        return jax.jit(forward).lower(*_arguments(config, mesh)).compile()


@pytest.mark.parametrize("shape,sp", [((4, 1, 1, 1), None), ((1, 4, 1, 1), None), ((1, 1, 4, 1), "ulysses"),
                                      ((1, 1, 4, 1), "ring"), ((2, 2, 1, 1), None)])
def test_tiny_dit_compiles_for_a_tpu_mesh_with_splash(devices, shape, sp):
    mesh = make_mesh(*shape, devices=devices)
    with jax.set_mesh(mesh):
        assert current_platform() == "tpu"  # "auto" attention follows the mesh, not this CPU host
    compiled = _compile(config_for(sp), mesh)
    assert "tpu_custom_call" in compiled.as_text()  # splash: a Mosaic kernel, inside a shard_map
    # the chip's arguments are the shards the rules give it, each padded to the TPU tiles of its layout
    formats, shardings = compiled.input_formats[0], compiled.input_shardings[0]
    shapes = jax.tree.leaves(_arguments(config_for(sp), make_mesh(*shape, devices=devices)))
    expected = sum(_padded_bytes(s.sharding.shard_shape(s.shape), s.dtype, f.layout)
                   for s, f in zip(shapes, jax.tree.leaves(formats)))
    assert compiled.memory_analysis().argument_size_in_bytes == expected
    assert all(a.spec == b.spec for a, b in zip(jax.tree.leaves(shardings), (s.sharding for s in shapes)))
    weights = param_bytes_per_device(nnx.eval_shape(lambda: DiT(TINY, rngs=nnx.Rngs(0))), mesh)
    if shape[1] == 4:  # fsdp cuts the weights four ways
        whole = param_bytes_per_device(nnx.eval_shape(lambda: DiT(TINY, rngs=nnx.Rngs(0))),
                                       make_mesh(1, 1, 1, 1, devices=devices[:1]))
        assert weights < whole / 4 * 1.1


def _padded_bytes(shard_shape, dtype, layout) -> int:
    """Bytes of one array in HBM: its minor dimensions rounded up to the layout's first tile."""
    dims = [shard_shape[i] for i in layout.major_to_minor]
    tile = layout.tiling[0] if layout.tiling else ()
    for i, t in enumerate(tile, start=len(dims) - len(tile)):
        dims[i] = -(-dims[i] // t) * t
    return int(np.prod(dims)) * np.dtype(dtype).itemsize


def test_slices_by_name():
    v5e, v5p, big = slice_of("v5e-8"), slice_of("v5p-8"), slice_of("v6e:4x4")
    assert (v5e.layout, v5e.chips, v5e.hosts, v5e.hbm) == ("v5e:2x4", 8, 1, 16 * 2**30)
    assert (v5p.layout, v5p.chips, v5p.hosts) == ("v5p:2x2x1", 4, 1)  # v5p counts TensorCores
    assert (big.name, big.chips, big.hosts) == ("v6e-16", 16, 4)
    for bad, message in (("v4-8", "unknown TPU slice"), ("v5e-6", "have 1, 4, 8"), ("v5e", "unknown TPU slice")):
        with pytest.raises(ValueError, match=message):
            slice_of(bad)


def test_the_printed_generate_command_carries_the_planned_settings():
    import argparse

    from skyreels_jax.planning.cli import _command

    args = argparse.Namespace(model="T2V-1.3B-540P", resolution="540P", low_memory=True, quantize="int8",
                              dtype="float32")
    command = _command(args, Layout((1, 2, 2, 1), "ulysses"), hosts=1)
    for flag in ("--mesh 1,2,2,1", "--sequence-parallel ulysses", "--resolution 540P", "--low-memory",
                 "--quantize int8", "--dtype float32"):
        assert flag in command
    assert "--dtype" not in _command(argparse.Namespace(**{**vars(args), "dtype": "bfloat16"}), Layout((1, 4, 1, 1)), 1)


def test_candidates_put_data_parallelism_first():
    layouts = candidates(chips=8, hosts=1, heads=12)
    assert layouts[0] == Layout((2, 4, 1, 1))
    assert all(math.prod(lay.mesh) == 8 and lay.groups == 1 for lay in layouts)
    assert Layout((1, 1, 8, 1), "ring") in layouts  # 12 heads do not divide over 8: ring
    assert Layout((1, 2, 4, 1), "ulysses") in layouts
    multi = candidates(chips=16, hosts=4, heads=40)
    assert multi[0] == Layout((2, 2, 1, 1), None, groups=4)  # one group per host first
    assert all(lay.data_parallelism <= 8 for lay in multi)


def test_fits_leaves_spare_memory():
    from skyreels_jax.planning.plan import Compiled

    def one(total, error=None):
        return Compiled("step", total, 0, 0, 0, 0, 1.0, error)
    assert fits([one(90)], 100) and not fits([one(91)], 100) and not fits([one(1, "RESOURCE_EXHAUSTED")], 100)



def test_a_group_of_a_multi_host_slice_compiles_as_a_slice_of_its_own():
    from skyreels_jax.planning.topologies import group_devices

    v5e16 = slice_of("v5e-16")
    one_host, two_hosts = group_devices(v5e16, 4), group_devices(v5e16, 8)
    assert len(one_host) == 4 and {d.process_index for d in one_host} == {0}
    assert len(two_hosts) == 8 and {d.process_index for d in two_hosts} == {0, 1}
    assert len(group_devices(v5e16, 16)) == 16
    with pytest.raises(ValueError, match="whole number of its hosts"):
        group_devices(v5e16, 2)
    compiled = _compile(config_for(None), make_mesh(2, 2, 1, 1, devices=one_host))
    assert "tpu_custom_call" in compiled.as_text()
