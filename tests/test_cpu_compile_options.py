"""On CPU a compiled bf16 DiT, forward or train step, must not hold a float32 copy of its whole layer
stack (nn/jit.py)."""
import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.nn.jit import _apply
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import init_train_state, make_optimizer, make_train_step, split_model

CONFIG = DiTConfig(dim=256, num_heads=2, ffn_dim=2048, num_layers=6, text_dim=64, dtype="bfloat16",
                   param_dtype="bfloat16")
spec = jax.ShapeDtypeStruct


def test_bf16_layer_stack_is_not_upcast_at_once():
    graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(CONFIG, rngs=nnx.Rngs(0))))
    args = (spec((1, 2, 8, 8, 16), jnp.float32), spec((1, 2), jnp.float32), spec((1, 16, 64), jnp.float32))
    memory = _apply.lower(graphdef, state, "forward", *args).compile().memory_analysis()
    weights = memory.argument_size_in_bytes
    # hoisted out of the layer loop, the float32 copy of the stack alone would be ~2× the bf16 weights
    assert memory.temp_size_in_bytes < 0.5 * weights, (memory.temp_size_in_bytes, weights)


def test_bf16_train_step_does_not_upcast_the_layer_stack_at_once():
    graphdef, params, rest = split_model(nnx.eval_shape(lambda: DiT(CONFIG, rngs=nnx.Rngs(0))))
    tx, schedule = make_optimizer(1e-4, 10)
    state = jax.eval_shape(lambda p: init_train_state(p, tx), params)
    batch = {"latents": spec((1, 2, 8, 8, 16), jnp.float32), "context": spec((1, 16, 64), jnp.float32),
             "fps_ids": spec((1,), jnp.int32)}
    lowered = make_train_step(graphdef, rest, tx, schedule, Objective("flow")).lower(state, batch)
    ours = lowered.compile().memory_analysis().temp_size_in_bytes
    hoisting = lowered.compile(compiler_options={"xla_disable_hlo_passes": ""}).memory_analysis().temp_size_in_bytes
    stack_f32 = 4 * sum(x.size for x in jax.tree.leaves(params["blocks"]))
    # the same program with loop-invariant code motion on holds (most of) a float32 copy of the stack more
    assert ours < hoisting - 0.5 * stack_f32, (ours, hoisting, stack_f32)
