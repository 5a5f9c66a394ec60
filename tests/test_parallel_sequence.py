"""Meshes on 8 virtual CPU devices against one device, in a subprocess (tests/mesh_check.py): sequence-parallel
attention, the DiT, diffusion-forcing sampling, the pipeline and the generate command, the split VAE decode,
parameter bytes per device. Plus the early errors of sequence-parallel and mesh settings."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from skyreels_jax.generate import group_mesh
from skyreels_jax.models import DiTConfig
from skyreels_jax.parallel.sequence_parallel import check_config

ROOT = Path(__file__).resolve().parent.parent


def _mesh_check(*flags):
    result = subprocess.run([sys.executable, "-m", "tests.mesh_check", *flags], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    return result.stdout


def test_two_context_meshes_match_one_device():
    out = _mesh_check("--quick")
    for line in ("attention ulysses/ring", "mesh (1, 2, 4, 1) ulysses", "mesh (2, 1, 4, 1) ring", "same video"):
        assert line in out, out


@pytest.mark.slow
def test_five_meshes_match_one_device():
    """(8,1,1,1), (1,8,1,1), (1,2,4,1), (2,1,4,1), (1,1,2,4); about 3 CPU-minutes."""
    out = _mesh_check()
    assert out.count("mesh (") == 5 and "param bytes per device by fsdp" in out, out


def test_bad_sequence_parallel_name():
    with pytest.raises(ValueError, match="'ulysses' or 'ring'"):
        DiTConfig(sequence_parallel="stripes")


def test_sequence_parallel_needs_a_context_mesh():
    import jax.numpy as jnp

    from skyreels_jax.nn.attention import attention

    q = jnp.ones((1, 4, 2, 8))
    with pytest.raises(ValueError, match="jax.set_mesh"):
        attention(q, q, q, backend="ring")
    with pytest.raises(ValueError, match="pass a mesh with context > 1"):
        check_config(DiTConfig(sequence_parallel="ring"), None)


def _shape(data=1, fsdp=1, context=1, tensor=1):
    return SimpleNamespace(shape=dict(data=data, fsdp=fsdp, context=context, tensor=tensor))


def test_ulysses_heads_must_divide_by_the_context_size():
    ulysses = DiTConfig(num_heads=12, dim=1536, sequence_parallel="ulysses")  # the 1.3B model's 12 heads
    check_config(ulysses, _shape(context=4))
    check_config(ulysses, _shape(context=2, tensor=2))                        # 6 heads per tensor shard, by 2
    with pytest.raises(ValueError, match=r"heads per device \(12 of 12.*context size 8.*'ring'"):
        check_config(ulysses, _shape(context=8))
    with pytest.raises(ValueError, match=r"heads per device \(3 of 12, tensor=4\).*context size 2"):
        check_config(ulysses, _shape(context=2, tensor=4))
    check_config(DiTConfig(num_heads=12, dim=1536, sequence_parallel="ring"), _shape(context=8))


def test_load_pipeline_checks_overrides_and_heads_before_loading(tmp_path):
    from skyreels_jax.pipelines import load_pipeline
    from tests.pipeline_fixtures import build_pipeline

    folder, _ = build_pipeline("t2v", tmp_path)  # 2 heads
    with pytest.raises(ValueError, match="context size 4"):
        load_pipeline(folder, mesh=_shape(context=4), dit_overrides={"sequence_parallel": "ulysses"})
    with pytest.raises(ValueError, match=r"\['num_layers'\] would change the weights"):
        load_pipeline(folder, dit_overrides={"num_layers": 1})


@pytest.mark.parametrize("sizes,sp,message", [
    ("1,2,1,1", None, "needs 2 devices, but 1 are present"),
    ("1,2,4", None, "four sizes DATA,FSDP,CONTEXT,TENSOR"),
    ("a,b,c,d", None, "four sizes"),
    (None, "ring", "--sequence-parallel needs --mesh"),
])
def test_generate_mesh_errors(sizes, sp, message):
    with pytest.raises(ValueError, match=message):
        group_mesh(sizes, sp)


def test_generate_mesh_default_and_context_without_sequence_parallel():
    assert group_mesh(None, None) is None                                # one device: no mesh
    assert dict(group_mesh("1,-1,1,1", None).shape) == dict(data=1, fsdp=1, context=1, tensor=1)
    with pytest.raises(ValueError, match="over context devices: give --sequence-parallel"):
        group_mesh("1,1,4,1", None)
