"""Where a compiled call spends its time on CPU: XLA ops from a jax.profiler trace, summed by name.

    python -m benchmarks.profile_ops dit [--dtype bfloat16] [--layers 4]    # the run_all DiT row
    python -m benchmarks.profile_ops vae-decode | vae-encode                # the run_all VAE rows

Runs the call once to compile, once under jax.profiler.trace, then sums the duration of every
event on XLA's CPU threads by op name (fusions, YNNPACK/oneDNN dots and convolutions, copies)
and prints the top ones with their share of the summed thread time, grouped into kinds (the
executor's own events and loops/conditionals, which contain the ops, are left out).
"""
from __future__ import annotations

import argparse
import collections
import glob
import re
import tempfile

import numpy as np

WRAPPERS = ("ThreadpoolListener", "end: ", "ThunkExecutor", "SlinkyThreadPool", "H2D")  # contain the ops
# by the first pattern that matches the op's name ("convolution", not "conv": converts are elementwise)
KINDS = [("dot / matmul (ynn, onednn, dot)", r"ynn|onednn|dot|gemm|matmul"), ("convolution", r"convolution"),
         ("copy / slice / pad / transpose", r"copy|slice|pad|transpose|concatenate"),
         ("elementwise fusion", r"fusion|wrapped|exp|tanh|add|mul")]


def op_times(fn) -> dict[str, float]:
    """Seconds per XLA op name over one traced call of fn (which must block)."""
    import jax
    from jax.profiler import ProfileData

    fn()
    folder = tempfile.mkdtemp(prefix="profile_ops_")
    with jax.profiler.trace(folder):
        fn()
    data = ProfileData.from_file(sorted(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True))[-1])
    totals = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if not line.name.startswith(("tf_XLA", "XLA")):
                continue
            for event in line.events:
                name = event.name
                if name.startswith(WRAPPERS) or re.fullmatch(r"(while|conditional|call)(\.\d+)?", name):
                    continue
                totals[re.sub(r"[.]\d+$", "", name)] += event.duration_ns / 1e9
    return dict(totals)


def summary(totals: dict[str, float], top: int = 15) -> str:
    whole = sum(totals.values()) or 1.0
    kinds = collections.Counter()
    for name, seconds in totals.items():
        kind = next((k for k, pattern in KINDS if re.search(pattern, name, re.I)), "other")
        kinds[kind] += seconds
    lines = [f"summed XLA thread time {whole:.2f} s", "", "| kind | s | share |", "|---|---|---|"]
    lines += [f"| {k} | {s:.2f} | {s / whole:.0%} |" for k, s in kinds.most_common()]
    lines += ["", "| op | s | share |", "|---|---|---|"]
    lines += [f"| {n} | {s:.3f} | {s / whole:.1%} |" for n, s in collections.Counter(totals).most_common(top)]
    return "\n".join(lines)


def dit_call(dtype: str, layers: int):
    import jax.numpy as jnp
    from flax import nnx

    from benchmarks.dit_forward import config, make_inputs
    from skyreels_jax.models.dit import DiT

    cfg = config("DF-1.3B-540P", layers)
    cfg = type(cfg)(**{**cfg.__dict__, "dtype": dtype, "param_dtype": dtype})
    dit = DiT(cfg, rngs=nnx.Rngs(0))
    inputs = make_inputs(cfg, 5, 30, 52)
    return lambda: np.asarray(dit(**inputs).astype(jnp.float32))


def vae_call(op: str):
    import jax
    from flax import nnx

    from skyreels_jax.models.vae import VAEConfig, WanVAE

    vae = WanVAE(VAEConfig(), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    if op == "decode":
        z = rng.standard_normal((1, 3, 16, 16, 16), dtype=np.float32)
        return lambda: np.asarray(jax.block_until_ready(vae.decode(z)))
    video = rng.uniform(-1, 1, (1, 9, 128, 128, 3)).astype(np.float32)
    return lambda: np.asarray(jax.block_until_ready(vae.encode(video)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["dit", "vae-decode", "vae-encode"])
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    fn = dit_call(a.dtype, a.layers) if a.what == "dit" else vae_call(a.what.split("-")[1])
    print(summary(op_times(fn), a.top))


if __name__ == "__main__":
    main()
