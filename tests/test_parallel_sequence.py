"""Sequence-parallel attention (Ulysses, ring), the sequence-parallel DiT, the split VAE decode and
fsdp parameter bytes on 8 virtual CPU devices, in a subprocess (tests/sequence_parallel_check.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skyreels_jax.models import DiTConfig


def test_sequence_parallel_matches_one_device():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "tests.sequence_parallel_check"], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for line in ("attention ulysses/ring", "ulysses error", "dit ring", "dit ulysses", "param bytes", "vae decode split"):
        assert line in result.stdout, result.stdout


def test_bad_sequence_parallel_name():
    with pytest.raises(ValueError, match="'ulysses' or 'ring'"):
        DiTConfig(sequence_parallel="stripes")


def test_sequence_parallel_needs_a_context_mesh():
    import jax.numpy as jnp

    from skyreels_jax.nn.attention import attention

    q = jnp.ones((1, 4, 2, 8))
    with pytest.raises(ValueError, match="jax.set_mesh"):
        attention(q, q, q, backend="ring")
