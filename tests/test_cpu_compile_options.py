"""On CPU the compiled bf16 DiT must not hold a float32 copy of its whole layer stack (nn/jit.py)."""
import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.nn.jit import _apply


def test_bf16_layer_stack_is_not_upcast_at_once():
    cfg = DiTConfig(dim=256, num_heads=2, ffn_dim=2048, num_layers=6, text_dim=64, dtype="bfloat16",
                    param_dtype="bfloat16")
    graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(cfg, rngs=nnx.Rngs(0))))
    spec = jax.ShapeDtypeStruct
    args = (spec((1, 2, 8, 8, 16), jnp.float32), spec((1, 2), jnp.float32), spec((1, 16, 64), jnp.float32))
    memory = _apply.lower(graphdef, state, "forward", *args).compile().memory_analysis()
    weights = memory.argument_size_in_bytes
    # hoisted out of the layer loop, the float32 copy of the stack alone would be ~2× the bf16 weights
    assert memory.temp_size_in_bytes < 0.5 * weights, (memory.temp_size_in_bytes, weights)
