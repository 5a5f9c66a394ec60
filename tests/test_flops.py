"""The DiT FLOPs formula of the benchmarks (MFU) against a hand count and against XLA's own count."""
import jax
import jax.numpy as jnp
from flax import nnx

from benchmarks.flops import dit_forward_flops
from skyreels_jax.models.dit import DiT, DiTConfig


def test_hand_count_tiny_config():
    cfg = DiTConfig(dim=4, num_heads=2, ffn_dim=8, num_layers=3, in_dim=2, out_dim=2, text_dim=6, freq_dim=4)
    # latent 2×4×2, patch 1×2×2: L = 2·2·1 = 4 tokens, 2 frames; 3 text tokens
    block = (4 * (2 * 4 * 4 * 4)        # self-attention q, k, v, o: 4 × 128
             + 2 * (2 * 4 * 4 * 4)      # q·kᵀ and p·v over 4 keys: 2 × 128
             + 2 * (2 * 4 * 4 * 4)      # cross-attention q and o: 2 × 128
             + 2 * (2 * 3 * 4 * 4)      # text k and v: 2 × 96
             + 2 * (2 * 4 * 3 * 4)      # q·kᵀ and p·v over 3 text keys: 2 × 96
             + 2 * (2 * 4 * 4 * 8))     # FFN up and down: 2 × 256
    assert block == 1920
    outside = (2 * 4 * 8 * 4            # patch embedding: 4 tokens × (4 pixels × 2 channels) -> 4
               + 2 * 3 * (6 * 4 + 4 * 4)  # text MLP 6 -> 4 -> 4 on 3 tokens
               + 2 * 2 * (4 * 4 + 4 * 4 + 4 * 24)  # time MLP 4 -> 4 -> 4 and projection 4 -> 24, per frame
               + 2 * 4 * 4 * 8)         # head 4 -> 8 per token
    assert outside == 1264
    assert dit_forward_flops(cfg, 2, 4, 2, text_len=3) == 3 * 1920 + 1264 == 7024
    assert dit_forward_flops(cfg, 2, 4, 2, text_len=3, batch=2) == 2 * 7024


def test_close_to_xla_cost_analysis():
    """XLA also counts elementwise work, so it may be a little higher, never lower."""
    # XLA counts a loop body once: one layer, and plain attention (the chunked one maps over the heads)
    cfg = DiTConfig(dim=256, num_heads=2, ffn_dim=1024, num_layers=1, text_dim=64, attention="xla")
    graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(cfg, rngs=nnx.Rngs(0))))
    f, h, w, lt = 3, 16, 16, 40
    args = (jax.ShapeDtypeStruct((1, f, h, w, 16), jnp.float32), jax.ShapeDtypeStruct((1, f), jnp.float32),
            jax.ShapeDtypeStruct((1, lt, 64), jnp.float32))
    fn = jax.jit(lambda state, *a: nnx.merge(graphdef, state).forward(*a))
    cost = fn.lower(state, *args).compile().cost_analysis()
    xla = (cost[0] if isinstance(cost, list) else cost)["flops"]
    ours = dit_forward_flops(cfg, f, h, w, text_len=lt)
    assert 1.0 <= xla / ours < 1.1, (xla, ours)


def test_gpu_step_script_sizes_and_tiny_run():
    """benchmarks/gpu_step.py needs a GPU for its numbers; here: its sizes, and its jax side on a tiny DiT."""
    from argparse import Namespace

    from benchmarks import gpu_step

    full = Namespace(frames=97, height=544, width=960, tiny=False)
    assert gpu_step.latent_shape(full) == (25, 68, 120)
    cfg = gpu_step.model_config(False)
    assert (cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.num_layers, cfg.dtype) == (1536, 12, 8960, 30, "bfloat16")
    assert gpu_step.step_flops(full) == 2 * dit_forward_flops(cfg, 25, 68, 120)
    result = gpu_step.run_ours(Namespace(frames=5, height=32, width=32, tiny=True, repeats=1))
    assert len(result["times"]) == 1 and result["first_s"] > 0


def test_jaxpr_count_of_a_conv_a_dot_and_a_scan():
    """The counter the VAE rows use: 2 per multiply-add, a scan's body times its length."""
    from benchmarks.flops import jaxpr_flops

    x, k = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32), jax.ShapeDtypeStruct((3, 3, 3, 5), jnp.float32)

    def conv(x, k):
        return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    assert jaxpr_flops(conv, x, k) == 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3)
    a, b = jax.ShapeDtypeStruct((4, 6), jnp.float32), jax.ShapeDtypeStruct((6, 7), jnp.float32)
    assert jaxpr_flops(jnp.matmul, a, b) == 2 * 4 * 6 * 7

    def scanned(a, b):
        return jax.lax.scan(lambda c, _: (c, jnp.matmul(a, b)), 0.0, None, length=3)[1]

    assert jaxpr_flops(jax.jit(scanned), a, b) == 3 * 2 * 4 * 6 * 7


def test_benchmark_calls_alternate_between_the_sides():
    from benchmarks.duel import alternating

    assert alternating(["R", "C"], 3) == ["R", "C", "C", "R", "R", "C"]
    assert alternating(["R", "C", "K"], 2) == ["R", "C", "K", "K", "C", "R"]
