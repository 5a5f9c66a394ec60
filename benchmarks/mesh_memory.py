"""Memory per device of the published models on meshes, without allocating them: parameter bytes
from abstract models and the rule table, and the DiT forward's activations (XLA temporaries) from
the compiled program on 8 virtual CPU devices. The figures in docs/scale_out.md come from here.

    python -m benchmarks.mesh_memory            # parameters (seconds) and activations (~10 s per row)
    python -m benchmarks.mesh_memory --params   # parameters only

Activations are measured in float32 (on CPU, bf16 matmuls would add float32 copies of the weights
that TPUs and GPUs do not make); in bfloat16 they are about half. The CFG pair is one batch of 2.
"""
from __future__ import annotations

import math
import os
import sys
from types import SimpleNamespace

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

from skyreels_jax.models import DiT, DiTConfig, VAEConfig, WanVAE  # noqa: E402
from skyreels_jax.models.clip import CLIPVision, CLIPVisionConfig  # noqa: E402
from skyreels_jax.models.umt5 import UMT5Config, UMT5Encoder  # noqa: E402
from skyreels_jax.parallel import MESH_AXES, make_mesh, state_shardings  # noqa: E402
from skyreels_jax.parallel.memory import param_bytes_per_device  # noqa: E402

BF16 = dict(dtype="bfloat16", param_dtype="bfloat16")
DIT_14B = dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)
PARAM_MESHES = [(1, 1, 1, 1), (1, 2, 1, 1), (1, 4, 1, 1), (1, 8, 1, 1), (1, 16, 1, 1), (1, 32, 1, 1), (1, 4, 1, 2)]
# (mesh, sequence parallel); 540P 97 frames = 25 latent frames of 34×60 tokens, 720P 121 frames = 31 of 45×80
ACTIVATION_MESHES = [((1, 1, 1, 1), None), ((1, 8, 1, 1), None), ((2, 1, 1, 1), None), ((2, 4, 1, 1), None),
                     ((1, 1, 5, 1), "ulysses"), ((1, 1, 8, 1), "ulysses"), ((1, 1, 8, 1), "ring"),
                     ((2, 1, 4, 1), "ulysses"), ((2, 2, 2, 1), "ulysses")]
VIDEOS = {"540P, 97 frames": (25, 68, 120), "720P, 121 frames": (31, 90, 160)}


def _shape(sizes):
    return SimpleNamespace(shape=dict(zip(MESH_AXES, sizes)))


def parameters() -> None:
    models = {"DiT 14B, bf16": lambda: DiT(DiTConfig(**DIT_14B, **BF16), rngs=nnx.Rngs(0)),
              "DiT 1.3B, bf16": lambda: DiT(DiTConfig(**BF16), rngs=nnx.Rngs(0)),
              "UMT5-XXL encoder, bf16": lambda: UMT5Encoder(UMT5Config(**BF16), rngs=nnx.Rngs(0)),
              "CLIP ViT-H/14, bf16": lambda: CLIPVision(CLIPVisionConfig(**BF16), rngs=nnx.Rngs(0)),
              "Wan VAE, float32 (not sharded)": lambda: WanVAE(VAEConfig(), rngs=nnx.Rngs(0))}
    print("parameter GB (1e9 B) per device; mesh = data,fsdp,context,tensor")
    print("| model | " + " | ".join(",".join(map(str, m)) for m in PARAM_MESHES) + " |")
    for name, build in models.items():
        model = nnx.eval_shape(build)
        print(f"| {name} | " + " | ".join(f"{param_bytes_per_device(model, _shape(m)) / 1e9:.2f}"
                                          for m in PARAM_MESHES) + " |")


def activation_bytes(sizes, sequence_parallel, video) -> int:
    """XLA temporaries per device of one compiled 14B forward (CFG batch of 2, float32), abstract inputs."""
    config = DiTConfig(**DIT_14B, sequence_parallel=sequence_parallel)
    mesh = make_mesh(*sizes, devices=jax.devices()[:math.prod(sizes)])
    graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(config, rngs=nnx.Rngs(0))))
    shardings = state_shardings(state, mesh)
    for path, var in nnx.to_flat_state(state):
        value = var.get_value()
        var.set_value(jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=shardings[path]))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    frames, h, w = video
    inputs = [jax.ShapeDtypeStruct(s, jnp.float32, sharding=replicated)
              for s in ((2, frames, h, w, 16), (2, frames), (2, 512, 4096))]
    forward = jax.jit(lambda state, x, t, c: nnx.merge(graphdef, state).forward(x, t, c))
    with jax.set_mesh(mesh):
        return forward.lower(state, *inputs).compile().memory_analysis().temp_size_in_bytes


def activations() -> None:
    print("\nDiT 14B forward, XLA temporaries GB per device (float32; bf16 about half)")
    print("| mesh | sequence parallel | " + " | ".join(VIDEOS) + " |")
    for sizes, sp in ACTIVATION_MESHES:
        row = [activation_bytes(sizes, sp, video) / 1e9 for video in VIDEOS.values()]
        print(f"| {','.join(map(str, sizes))} | {sp or '-'} | " + " | ".join(f"{x:.1f}" for x in row) + " |",
              flush=True)


if __name__ == "__main__":
    parameters()
    if "--params" not in sys.argv:
        activations()
