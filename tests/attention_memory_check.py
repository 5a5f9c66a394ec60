"""Child process of test_attention_long: chunked self-attention over N tokens, its peak memory and error.

    python -m tests.attention_memory_check N [CHUNK]

Prints one JSON line: the RSS high-water mark added by the call (VmHWM reset after the inputs are
made and the function is compiled), what plain attention's float32 score matrix alone would need,
and the relative error of 256 query rows (spread over the sequence) against float64 numpy.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.nn.attention import attention

HEADS, HEAD_DIM = 1, 64


def _vm_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def main(n: int, chunk: int) -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, n, HEADS, HEAD_DIM), dtype=np.float32) for _ in range(3))
    fn = jax.jit(lambda q, k, v: attention(q, k, v, backend="chunked", chunk=chunk))
    args = [jnp.asarray(x) for x in (q, k, v)]
    compiled = fn.lower(*args).compile()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base = _vm_mib("VmRSS")
    start = time.perf_counter()
    out = np.asarray(compiled(*args))
    seconds = time.perf_counter() - start
    added = _vm_mib("VmHWM") - base
    rows = np.linspace(0, n - 1, 256).astype(int)
    q64, k64, v64 = (x[0].astype(np.float64).transpose(1, 0, 2) for x in (q, k, v))  # [heads, n, d]
    logits = np.einsum("hqd,hkd->hqk", q64[:, rows], k64) / np.sqrt(HEAD_DIM)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    ref = np.einsum("hqk,hkd->qhd", p / p.sum(-1, keepdims=True), v64)
    got = out[0, rows].astype(np.float64)
    rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    print(json.dumps(dict(n=n, chunk=chunk, added_mib=added, scores_mib=HEADS * n * n * 4 / 2**20, rel=rel,
                          seconds=seconds)))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1024)
