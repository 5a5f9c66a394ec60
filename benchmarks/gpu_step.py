"""One denoising step with CFG of the 1.3B DiT at 540P on a GPU, bf16: skyreels_jax against diffusers (SDPA).

    python -m benchmarks.gpu_step [--frames 97 --height 544 --width 960] [--repeats 5] [--peak-tflops 989]
    python -m benchmarks.gpu_step --dry-run        # sizes and FLOPs only (any machine)
    python -m benchmarks.gpu_step --tiny           # a tiny DiT on whatever device there is (a smoke test)

Model: the 1.3B architecture (dim 1536, 12 heads, ffn 8960, 30 layers; the DF-1.3B config without
its fps embedding, i.e. Wan2.1-T2V-1.3B), random weights, bfloat16 with float32 norms and
modulation on both sides. 97 frames at 544×960 give a 25×68×120 latent: 51,000 video tokens,
plus 512 text tokens.
- skyreels_jax: the pipeline's own compiled step (pipelines/sampling.py: CFG as one batch-2
  forward, then the flow-UniPC update), attention chosen by "auto" (cuDNN flash on a CUDA GPU).
- diffusers: what SkyReelsV2Pipeline does per step: a conditional and an unconditional forward
  (batch 1 each), the CFG combination, then UniPCMultistepScheduler.step; attention by
  F.scaled_dot_product_attention (flash / memory-efficient kernels on a GPU).
Each side runs in its own process. Reported: the best and median step time of --repeats warm
steps, MFU = FLOPs / time / peak (FLOPs: benchmarks/flops.py, 2 forwards per step; the formula
is in docs/performance.md), the device's peak memory, and jax's compile time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "H800": 989.4, "A100": 312.0, "L4": 121.0, "A10": 125.0}  # dense bf16
TINY = dict(dim=64, num_heads=2, ffn_dim=128, num_layers=2, text_dim=32)


def model_config(tiny: bool):
    from benchmarks.dit_forward import config

    cfg = config("DF-1.3B-540P", None)
    fields = {**cfg.__dict__, "inject_sample_info": False, "dtype": "bfloat16", "param_dtype": "bfloat16"}
    return type(cfg)(**{**fields, **(TINY if tiny else {})})


def latent_shape(a) -> tuple[int, int, int]:
    return (a.frames - 1) // 4 + 1, a.height // 8, a.width // 8


def run_ours(a) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from skyreels_jax.models.dit import DiT
    from skyreels_jax.pipelines.sampler import guidance_arrays
    from skyreels_jax.pipelines.sampling import _step
    from skyreels_jax.schedulers import flow_unipc, make_guidance

    cfg = model_config(a.tiny)
    graphdef, params = nnx.split(nnx.jit(lambda: DiT(cfg, rngs=nnx.Rngs(0)))())
    f, h, w = latent_shape(a)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    latents = jax.random.normal(keys[0], (1, f, h, w, cfg.in_dim), jnp.float32)
    context = (0.1 * jax.random.normal(keys[1], (2, 512, cfg.text_dim))).astype(jnp.bfloat16)
    state = flow_unipc.init(30, 8.0, latents.shape)
    guidance = guidance_arrays(make_guidance("cfg", 6.0))
    def step(x, s):
        return _step(graphdef, params, "unipc", x, s, context, None, None, guidance)[:2]  # (latents, state)
    start = time.perf_counter()
    latents, state = step(latents, state)
    latents.block_until_ready()
    first = time.perf_counter() - start
    times = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        latents, state = step(latents, state)
        latents.block_until_ready()
        times.append(time.perf_counter() - start)
    dev = jax.devices()[0]
    stats = dev.memory_stats() or {}
    return dict(side="skyreels_jax", device=dev.device_kind, times=times, first_s=first,
                peak_gib=stats.get("peak_bytes_in_use", 0) / 2**30)


def run_reference(a) -> dict:
    import torch
    from diffusers import SkyReelsV2Transformer3DModel, UniPCMultistepScheduler

    from tests.dit_fixtures import diffusers_kwargs

    cfg = model_config(a.tiny)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = SkyReelsV2Transformer3DModel(**diffusers_kwargs(cfg)).to(torch.bfloat16).eval()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:  # as from_pretrained(torch_dtype=)
        if any(key in name.split(".") for key in model._keep_in_fp32_modules):
            tensor.data = tensor.data.float()
    f, h, w = latent_shape(a)
    latents = torch.randn((1, cfg.in_dim, f, h, w), device=device, dtype=torch.float32)
    cond, uncond = ((0.1 * torch.randn((1, 512, cfg.text_dim), device=device)).to(torch.bfloat16) for _ in range(2))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0,
                                        solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True,
                                        final_sigmas_type="zero")
    scheduler.set_timesteps(30, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step(i, latents):
        t = scheduler.timesteps[i]
        x = latents.to(torch.bfloat16)
        with torch.no_grad():
            v_cond = model(x, t.expand(1), cond, return_dict=False)[0]
            v_uncond = model(x, t.expand(1), uncond, return_dict=False)[0]
        v = v_uncond + 6.0 * (v_cond - v_uncond)
        return scheduler.step(v.float(), t, latents, return_dict=False)[0]

    times = []
    for i in range(a.repeats + 1):
        sync()
        start = time.perf_counter()
        latents = step(i, latents)
        sync()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return dict(side="diffusers", device=name, times=times[1:], first_s=times[0], peak_gib=peak)


def step_flops(a) -> int:
    from benchmarks.flops import dit_forward_flops

    cfg = model_config(a.tiny)
    return dit_forward_flops(cfg, *latent_shape(a), text_len=512, batch=2)  # cond + uncond


def peak_tflops(device: str, given: float | None) -> float | None:
    return given or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=97)
    p.add_argument("--height", type=int, default=544)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: by device name)")
    p.add_argument("--tiny", action="store_true", help="a tiny DiT (smoke test, runs on CPU too)")
    p.add_argument("--dry-run", action="store_true", help="print sizes and FLOPs only")
    p.add_argument("--side", choices=["ours", "reference"])
    a = p.parse_args()
    f, h, w = latent_shape(a)
    flops = step_flops(a)
    if a.dry_run:
        print(json.dumps(dict(latent=[f, h, w], tokens=f * (h // 2) * (w // 2), step_tflop=flops / 1e12)))
        return
    if a.side:
        print(json.dumps((run_ours if a.side == "ours" else run_reference)(a)))
        return
    from benchmarks.common import run_child

    flags = [f"--frames={a.frames}", f"--height={a.height}", f"--width={a.width}", f"--repeats={a.repeats}"]
    flags += ["--tiny"] if a.tiny else []
    print(f"latent {f}×{h}×{w} = {f * (h // 2) * (w // 2)} tokens; one step with CFG = {flops / 1e12:.1f} TFLOP")
    print("| side | device | best step (s) | median (s) | MFU | peak device memory (GiB) | first step (s) |")
    print("|---|---|---|---|---|---|---|")
    for side in ("reference", "ours"):
        r = run_child("benchmarks.gpu_step", "--side", side, *flags)
        best, peak = min(r["times"]), peak_tflops(r["device"], a.peak_tflops)
        mfu = f"{flops / best / (peak * 1e12):.1%}" if peak else "– (give --peak-tflops)"
        print(f"| {r['side']} | {r['device']} | {best:.3f} | {statistics.median(r['times']):.3f} | {mfu} | "
              f"{r['peak_gib']:.1f} | {r['first_s']:.1f} |")


if __name__ == "__main__":
    main()
