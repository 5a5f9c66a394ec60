"""Compile time of a full-depth DiT forward, from abstract weights (nothing is allocated).

    python -m benchmarks.compile_time [--config DF-1.3B-540P] [--dtype float32] [--latent 5 30 52] [--batch 1]

The model is built with nnx.eval_shape (shapes and dtypes only) and its forward is traced,
lowered and compiled for the given latent; the blocks are one scanned layer, so the compile
time hardly depends on the depth. Prints JSON: trace+lower seconds, compile seconds, peak RSS.
"""
from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import vm_mib


def compile_forward(config_name: str, dtype: str, latent: tuple[int, int, int], batch: int,
                    layers: int | None = None) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from benchmarks.dit_forward import config
    from skyreels_jax.models.dit import DiT

    cfg = config(config_name, layers)
    cfg = type(cfg)(**{**cfg.__dict__, "dtype": dtype, "param_dtype": dtype})
    abstract = nnx.eval_shape(lambda: DiT(cfg, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    f, h, w = latent
    def spec(shape, dt=jnp.float32):
        return jax.ShapeDtypeStruct(shape, dt)
    args = [spec((batch, f, h, w, cfg.in_dim)), spec((batch, f)), spec((batch, 512, cfg.text_dim), jnp.dtype(dtype)),
            spec((batch, 257, cfg.image_dim)) if cfg.image_dim else None,
            spec((batch,), jnp.int32) if cfg.inject_sample_info else None]

    @jax.jit
    def forward(state, *inputs):
        return nnx.merge(graphdef, state).forward(*inputs)

    start = time.perf_counter()
    lowered = forward.trace(state, *args).lower()
    lower_s = time.perf_counter() - start
    start = time.perf_counter()
    lowered.compile()
    return dict(config=config_name, layers=cfg.num_layers, dtype=dtype, latent=list(latent), batch=batch,
                tokens=f * (h // 2) * (w // 2), lower_s=lower_s, compile_s=time.perf_counter() - start,
                peak_mib=vm_mib("VmHWM"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="DF-1.3B-540P")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--latent", type=int, nargs=3, default=[5, 30, 52], metavar=("F", "H", "W"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--layers", type=int, default=None)
    a = p.parse_args()
    print(json.dumps(compile_forward(a.config, a.dtype, tuple(a.latent), a.batch, a.layers)))


if __name__ == "__main__":
    main()
