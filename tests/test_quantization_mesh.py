"""A quantized DiT loaded onto a mesh of virtual CPU devices matches one device (tests/quant_mesh_check.py)."""
import os
import subprocess
import sys
from pathlib import Path


def test_sharded_quantized_model_matches_one_device():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "tests.quant_mesh_check"], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "int8-dynamic sharded" in result.stdout and "fp8 sharded" in result.stdout
