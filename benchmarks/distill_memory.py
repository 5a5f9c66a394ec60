"""Compiled memory per chip of one distillation train step (DMD: critic updates, then a generator update)
of a published DiT on a TPU slice, compiled by the TPU compiler on any machine (nothing is allocated).

    python -m benchmarks.distill_memory --topology v5p-8 --model DF-1.3B-540P [--batch 8] [--critic-steps 5]

The step is configs/train/distill_df.py's: its model dtypes and remat, its distillation settings and
optimizers (training.run_config), its EMA and its text length. The state holds the generator, its AdamW
moments and its EMA, the critic and its moments, and the frozen teacher, all sharded over one fsdp axis of
the whole slice.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train" / "distill_df.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", default="v5p-8")
    ap.add_argument("--model", default="DF-1.3B-540P")
    ap.add_argument("--batch", type=int, default=0, help="global batch (default: one video per chip)")
    ap.add_argument("--critic-steps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=0, help="video frames (default: the model's resolution's)")
    args = ap.parse_args()

    from skyreels_jax.planning.topologies import GiB, quiet_libtpu, slice_of

    slice_ = slice_of(args.topology)
    quiet_libtpu(slice_)
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec

    from skyreels_jax.models import DiT
    from skyreels_jax.parallel import make_mesh
    from skyreels_jax.planning.plan import compile_program
    from skyreels_jax.planning.programs import Program
    from skyreels_jax.planning.published import RESOLUTIONS, configs, parse_model
    from skyreels_jax.planning.topologies import tpu_devices
    from skyreels_jax.training import sharding
    from skyreels_jax.training.distill import init_distill_state, make_distill_step
    from skyreels_jax.training.loop import load_config
    from skyreels_jax.training.run_config import distillation, optimizer

    cfg = load_config(CONFIG, {"distill.critic_steps": args.critic_steps})
    mode, size, resolution = parse_model(args.model)
    frames, height, width = RESOLUTIONS[resolution]
    frames = args.frames or frames
    m = cfg.model
    dit_cfg = dataclasses.replace(configs(mode, size)["transformer"], param_dtype=m.param_dtype, dtype=m.dtype,
                                  remat=m.remat)
    mesh = make_mesh(fsdp=-1, devices=tpu_devices(slice_))
    batch = args.batch or slice_.chips * (2 if slice_.name.startswith("v5p") else 1)
    graphdef, params, rest = nnx.split(nnx.eval_shape(lambda: DiT(dit_cfg, rngs=nnx.Rngs(0))), nnx.Param, ...)
    (tx, schedule), (critic_tx, _) = optimizer(cfg), optimizer(cfg, critic=True)
    d, uncond = distillation(cfg, dit_cfg)
    ema = cfg.optim.ema_decay
    shapes = jax.eval_shape(lambda p: init_distill_state(p, tx, critic_tx, uncond, ema=ema > 0), params)
    shardings = sharding.tree_shardings(shapes, mesh)

    def placed(sh, s):
        v = s.get_value() if isinstance(s, nnx.Variable) else s
        spec = jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sh)
        return s.replace(spec) if isinstance(s, nnx.Variable) else spec
    abstract_state = jax.tree.map(placed, shardings, shapes, is_leaf=lambda x: isinstance(x, nnx.Variable))
    f_lat = (frames - 1) // 4 + 1
    rows = sharding.batch_sharding(mesh, 5)

    def arr(shape, dtype, ndim):
        return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding.batch_sharding(mesh, ndim))
    batch_spec = {"latents": jax.ShapeDtypeStruct((batch, f_lat, height // 8, width // 8, 16), jnp.float32,
                                                  sharding=rows),
                  "context": arr((batch, cfg.data.text_len, dit_cfg.text_dim), jnp.float32, 3),
                  "fps_ids": arr((batch,), jnp.int32, 1)}
    step = make_distill_step(graphdef, rest, tx, critic_tx, schedule, d, ema_decay=ema,
                             out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())))
    start = time.perf_counter()
    result = compile_program(Program("distill step", lambda: step.lower(abstract_state, batch_spec), 0), mesh)
    if result.error:
        print(f"{args.model} on {slice_.name}, batch {batch}: does not compile: {result.error}")
        return
    print(f"| {args.model} ({frames} frames) | {slice_.name} (fsdp {slice_.chips}) | {batch} | {args.critic_steps} | "
          f"{result.arguments / GiB:.1f} | {result.temporaries / GiB:.1f} | {result.total / GiB:.1f} | "
          f"{slice_.hbm / GiB:.0f} | {time.perf_counter() - start:.0f} s |")


if __name__ == "__main__":
    main()
