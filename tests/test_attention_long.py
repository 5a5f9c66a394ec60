"""Chunked attention over long sequences on CPU: bounded memory, and equal to plain attention.

Each size runs in its own process (tests/attention_memory_check.py) so that its RSS high-water
mark is its own. Plain attention would hold an N×N float32 score matrix per head (4 GiB at 32k).
"""
import json
import subprocess
import sys


def _run(n: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.attention_memory_check", str(n)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_chunked_attention_32k_tokens():
    """~8 s on 2 cores: a 32k-token self-attention adds ~40 MiB (plain attention's scores: 4 GiB)."""
    r = _run(32768)
    print(r)
    assert r["rel"] <= 1e-5, r
    # O(N·chunk): a few chunk×chunk score tiles and the N-long inputs/outputs, far below the N×N scores
    assert r["added_mib"] < 64 + r["scores_mib"] / 16, r
