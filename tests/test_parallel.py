"""Meshes, the logical-axis rules, and loading straight onto a mesh."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from jax.sharding import PartitionSpec as P

from skyreels_jax.parallel import make_mesh, partition_spec

MESH = SimpleNamespace(shape={"data": 2, "fsdp": 4, "context": 1, "tensor": 2})


def test_rules_map_logical_axes_to_the_mesh():
    assert partition_spec(("embed", "heads"), (64, 32), MESH) == P("fsdp", "tensor")
    assert partition_spec(("heads", "embed"), (32, 64), MESH) == P("tensor", "fsdp")
    assert partition_spec(("embed", "mlp"), (3, 8), MESH) == P(None, "tensor")       # 3 is not divisible by 4
    assert partition_spec(("embed", "embed"), (8, 8), MESH) == P("fsdp", None)       # one mesh axis per array
    assert partition_spec(("embed", "heads"), (5, 64, 32), MESH) == P(None, "fsdp", "tensor")  # stacked layers
    assert partition_spec((None,), (7,), MESH) == P(None)
    with pytest.raises(ValueError, match="do not fit"):
        partition_spec(("embed",), (2, 3, 4), MESH)


def test_make_mesh_sizes_and_errors():
    mesh = make_mesh()
    assert mesh.axis_names == ("data", "fsdp", "context", "tensor") and mesh.devices.size == 1
    with pytest.raises(ValueError, match="needs 2 devices, but 1 are present"):
        make_mesh(fsdp=2)
    with pytest.raises(ValueError, match="at most one mesh axis may be -1"):
        make_mesh(data=-1, fsdp=-1)


def test_loading_onto_a_mesh_matches_one_device():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "tests.sharded_check"], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dit sharded" in result.stdout and "umt5 sharded" in result.stdout
