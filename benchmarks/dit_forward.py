"""One real-size DiT forward, skyreels_jax against diffusers, each side in its own process.

    python -m benchmarks.dit_forward [--config DF-1.3B-540P] [--layers 4] [--dtype bfloat16]
                                     [--frames 5 --height 30 --width 52] [--repeats 2]

Builds the diffusers model with its default random init (seed 0) and saves it once as a
diffusers folder (in a child of its own); then each side loads that folder in a fresh process
and runs one forward on the same inputs: a first call (compile + run for jax), then the best of
--repeats warm calls. Prints a table (time, peak memory, ratio) and the relative error.
Needs the test extra (torch, diffusers).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import run_child, timed, torch_threads, vm_mib


def make_inputs(cfg, frames: int, height: int, width: int, seed: int = 0) -> dict:
    """Inputs for a DiTConfig `cfg`: per-frame timesteps, 512 text tokens, CLIP tokens and fps if needed."""
    rng = np.random.default_rng(seed)
    inputs = dict(latents=rng.standard_normal((1, frames, height, width, cfg.in_dim), dtype=np.float32),
                  timestep=np.linspace(999, 600, frames, dtype=np.float32)[None],
                  context=0.1 * rng.standard_normal((1, 512, 4096), dtype=np.float32))
    if cfg.image_dim:
        inputs["image_context"] = rng.standard_normal((1, cfg.image_pos_len or 257, cfg.image_dim), dtype=np.float32)
    if cfg.inject_sample_info:
        inputs["fps"] = [24]
    return inputs


def config(name: str, layers: int | None):
    from configs.models import get_config
    from skyreels_jax import DiTConfig

    fields = dict(get_config(name).dit)
    if layers:
        fields["num_layers"] = layers
    return DiTConfig(**fields)


def prepare(args) -> dict:
    """Save the diffusers model (random init, seed 0) as a folder, once."""
    import torch
    from diffusers import SkyReelsV2Transformer3DModel

    from tests.dit_fixtures import diffusers_kwargs

    if not (Path(args.folder) / "config.json").exists():
        torch.manual_seed(0)
        SkyReelsV2Transformer3DModel(**diffusers_kwargs(config(args.config, args.layers))).save_pretrained(
            args.folder, safe_serialization=True)
    return {}


def run_reference(args) -> dict:
    import torch
    from diffusers import SkyReelsV2Transformer3DModel

    torch_threads()
    dtype = getattr(torch, args.dtype)
    # from_pretrained(torch_dtype=) keeps the model's float32 modules (norms, time embedding) as diffusers intends
    model = SkyReelsV2Transformer3DModel.from_pretrained(args.folder, torch_dtype=dtype).eval()
    inputs = make_inputs(config(args.config, args.layers), args.frames, args.height, args.width)
    kwargs = dict(fps=[1] * len(inputs["fps"])) if "fps" in inputs else {}
    if "image_context" in inputs:
        kwargs["encoder_hidden_states_image"] = torch.from_numpy(inputs["image_context"]).to(dtype)
    latents = torch.from_numpy(inputs["latents"]).permute(0, 4, 1, 2, 3).to(dtype)
    timestep, context = torch.from_numpy(inputs["timestep"]), torch.from_numpy(inputs["context"]).to(dtype)

    def forward():
        with torch.no_grad():
            return model(latents, timestep, context, enable_diffusion_forcing=True, return_dict=False, **kwargs)[0]

    result, out = timed(forward, args.repeats)
    np.save(args.out, out.float().permute(0, 2, 3, 4, 1).numpy())
    return result


def run_ours(args) -> dict:
    import time

    import jax.numpy as jnp

    from skyreels_jax import load_transformer

    start = time.perf_counter()
    dit = load_transformer(args.folder, dtype=jnp.dtype(args.dtype))
    load_s = time.perf_counter() - start
    inputs = make_inputs(dit.config, args.frames, args.height, args.width)
    result, out = timed(lambda: np.asarray(dit(**inputs), np.float32), args.repeats)
    np.save(args.out, out)
    return dict(result, load_s=load_s, rss_loaded_mib=vm_mib())


SIDES = {"prepare": prepare, "reference": run_reference, "ours": run_ours}


def compare(config_name: str, frames: int, height: int, width: int, workdir: Path, layers: int | None = None,
            dtype: str = "float32", repeats: int = 2) -> dict:
    """Run both sides in subprocesses; return their records and the relative error of the outputs."""
    folder = workdir / f"model-{config_name}-{layers or 'all'}"
    common = ["--config", config_name, "--frames", frames, "--height", height, "--width", width, "--folder", folder,
              "--dtype", dtype, "--repeats", repeats] + (["--layers", layers] if layers else [])
    run_child("benchmarks.dit_forward", "--side", "prepare", *common)
    records = {side: run_child("benchmarks.dit_forward", "--side", side, *common, "--out", workdir / f"{side}.npy")
               for side in ("reference", "ours")}
    ours, ref = (np.load(workdir / f"{s}.npy").astype(np.float64) for s in ("ours", "reference"))
    records["rel_err"] = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=sorted(SIDES))
    parser.add_argument("--config", default="DF-1.3B-540P")
    parser.add_argument("--layers", type=int, default=None, help="default: the config's")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--height", type=int, default=30)
    parser.add_argument("--width", type=int, default=52)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.side:
        print(json.dumps(SIDES[args.side](args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        r = compare(args.config, args.frames, args.height, args.width, Path(tmp), args.layers, args.dtype,
                    args.repeats)
    ref, ours = r["reference"], r["ours"]
    print(f"{args.config} ({args.layers or 'all'} layers), latent {args.frames}×{args.height}×{args.width}, "
          f"{args.dtype}")
    print("| | diffusers (torch CPU) | skyreels_jax | ratio |\n|---|---|---|---|")
    print(f"| forward (warm) | {ref['time_s']:.2f} s | {ours['time_s']:.2f} s | {ours['time_s'] / ref['time_s']:.2f} |")
    print(f"| peak RSS | {ref['peak_mib']:.0f} MiB | {ours['peak_mib']:.0f} MiB "
          f"| {ours['peak_mib'] / ref['peak_mib']:.2f} |")
    print(f"| load; first call (compile + run) | – | {ours['load_s']:.1f} s; {ours['first_s']:.1f} s | |")
    print(f"relative error ‖ours−ref‖/‖ref‖ = {r['rel_err']:.2e}")


if __name__ == "__main__":
    main()
