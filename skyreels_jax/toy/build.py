"""Build the toy model from nothing, in one command (stages already done in WORKDIR are skipped):

    python -m skyreels_jax.toy.build [--workdir outputs/toy] [--out skyreels_jax/assets/toy]

1. render the MovingShapes tfds dataset (train + held-out test clips);
2. train the toy VAE (skyreels_jax.toy.vae_train): --vae-steps on 5-frame windows, --vae-clip-steps
   on whole 17-frame clips, --vae-long-steps decoder-only on 33-frame clips, then --vae-sharpen-rounds
   warm restarts of --vae-sharpen-steps decoder-only steps on 17-frame clips;
3. train a caption tokenizer and save a frozen random tiny UMT5 (skyreels_jax.toy.text);
4. precompute normalised latents and text embeddings of the 2048 train clips (with --hold-out, less
   those of the 12 caption combinations of world.held_out) as a LatentTextPairs tfds dataset, plus
   unconditional copies (the default negative prompt's embedding) for classifier-free guidance;
5. train the DiT with diffusion forcing via the project's training loop
   (configs/train/toy_df.py, the same as `skyreels-jax train --config configs/train/toy_df.py`);
6. export the DiT (EMA weights);
7. flow-DPO on pairs of the DiT's own samples, the one that follows its caption better chosen
   (steadier motion the captioned way, the captioned colour and shape; skyreels_jax.toy.dpo,
   configs/train/toy_dpo.py); write the diffusers pipeline folder with the
   tuned DiT to --out, and the DiT before DPO beside it (transformer_pre_dpo/, bfloat16).
Needs the test extra (torch, diffusers) for stages 2 and 3.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from skyreels_jax.toy import dataset
from skyreels_jax.toy.text import TEXT_LEN
from skyreels_jax.toy.world import held_out, render_clip

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "toy_df.py"
PRE_DPO = "transformer_pre_dpo"  # the DiT before flow-DPO, kept in bfloat16 to compare against
PIPELINE_CLASS = "SkyReelsV2DiffusionForcingPipeline"


def _videos(builder, split: str) -> np.ndarray:
    src = builder.as_data_source()[split]
    return np.stack([src[i]["video"] for i in range(len(src))])


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _captions(builder, split: str) -> list[str]:
    src = builder.as_data_source()[split]
    return [_text(src[i]["caption"]) for i in range(len(src))]


def _trained_on(builder, split: str) -> np.ndarray:
    """bool [N]: the clips whose (colour, shape, direction) the DiT may see (not world.held_out)."""
    src = builder.as_data_source()[split]
    return np.asarray([not held_out(*(_text(src[i][k]) for k in ("colour", "shape", "direction")))
                       for i in range(len(src))])


def _encode_latents(vae_dir: Path, clips: np.ndarray) -> np.ndarray:
    """Normalised posterior means [N, F_lat, h, w, z] (PyTorch forward of the saved VAE)."""
    import torch
    from diffusers import AutoencoderKLWan

    torch.set_num_threads(1)  # see vae_train.train_vae: far faster than 2 threads on a shared machine
    vae = AutoencoderKLWan.from_pretrained(vae_dir).eval()
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(clips), 16):
            x = torch.from_numpy(clips[i:i + 16].astype(np.float32) / 127.5 - 1.0).permute(0, 4, 1, 2, 3)
            out.append(((vae.encode(x).latent_dist.mode() - mean) / std).permute(0, 2, 3, 4, 1).numpy())
    return np.concatenate(out)


def latent_examples(latents, captions, embeddings, negative: str, uncond_every: int = 8):
    """(key, example) for LatentTextPairs: each clip with its caption, and every uncond_every-th clip
    again with the negative prompt (what guidance subtracts)."""
    for i, (z, cap) in enumerate(zip(latents, captions)):
        yield f"{i:06d}", {"latents": z, "context": embeddings[cap], "caption": cap, "fps": 16}
        if i % uncond_every == 0:
            yield f"{i:06d}u", {"latents": z, "context": embeddings[negative], "caption": "", "fps": 16}


def write_pipeline_files(folder: Path, shift: float) -> None:
    """model_index.json and scheduler/scheduler_config.json of a diffusers DF pipeline folder."""
    index = {"_class_name": PIPELINE_CLASS, "_diffusers_version": "0.42.1",
             "scheduler": ["diffusers", "UniPCMultistepScheduler"],
             "text_encoder": ["transformers", "UMT5EncoderModel"],
             "tokenizer": ["transformers", "T5Tokenizer"],
             "transformer": ["diffusers", "SkyReelsV2Transformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (folder / "scheduler").mkdir(exist_ok=True)
    sched = {"_class_name": "UniPCMultistepScheduler", "_diffusers_version": "0.42.1", "flow_shift": shift,
             "prediction_type": "flow_prediction", "use_flow_sigmas": True, "solver_order": 2,
             "solver_type": "bh2", "predict_x0": True, "lower_order_final": True, "final_sigmas_type": "zero",
             "num_train_timesteps": 1000}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="outputs/toy")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "assets" / "toy"))
    ap.add_argument("--num-train", type=int, default=2048)
    ap.add_argument("--num-latents", type=int, default=2048, help="clips encoded for the DiT")
    ap.add_argument("--vae-steps", type=int, default=2000, help="VAE steps on 5-frame windows")
    ap.add_argument("--vae-clip-steps", type=int, default=500, help="VAE steps on whole 17-frame clips")
    ap.add_argument("--vae-long-steps", type=int, default=200, help="decoder-only steps on 33-frame clips")
    ap.add_argument("--vae-sharpen-rounds", type=int, default=3, help="rounds of decoder-only steps on 17-frame clips")
    ap.add_argument("--vae-sharpen-steps", type=int, default=800, help="steps per sharpening round")
    ap.add_argument("--dit-steps", type=int, default=None, help="override the config's total_steps")
    ap.add_argument("--hold-out", action="store_true",
                    help="keep the 12 caption combinations of world.held_out from the DiT")
    ap.add_argument("--dpo-pairs", type=int, default=256, help="preference pairs for the flow-DPO stage")
    ap.add_argument("--stop-after", choices=["vae", "latents", "dit"], help="stop after this stage")
    args = ap.parse_args(argv)
    work, t0 = Path(args.workdir), time.perf_counter()
    def stage(name):
        return print(f"[{time.perf_counter() - t0:6.0f} s] {name}", flush=True)
    pipe = work / "pipeline"

    stage("render dataset")
    ds = dataset.build(work / "data", num_train=args.num_train)
    clips = _videos(ds, "train")
    def done(folder):
        return (folder / "config.json").exists()  # stages save atomically: rerunning resumes
    if not done(pipe / "vae"):
        from skyreels_jax.toy.vae_train import save_atomically, train_vae

        first, second = work / "vae_windows", work / "vae_clips"
        if not done(first):
            stage("train VAE on 5-frame windows")
            train_vae(clips[:512], first, steps=args.vae_steps)
        if not done(second):
            stage("train VAE on whole 17-frame clips")
            train_vae(clips[:512], second, steps=args.vae_clip_steps, batch=4, frames=17, lr=1e-3, init=first, seed=1)
        # long videos are decoded in one pass: the decoder's causal cache must stay good past 17 frames
        long_dir = work / "vae_long"
        if not done(long_dir):
            stage("train the VAE's decoder alone on 33-frame clips")
            long = np.stack([render_clip(seed, frames=33)[0] for seed in range(256)])
            train_vae(long, long_dir, steps=args.vae_long_steps, batch=2, frames=33, lr=5e-4, init=second, seed=2,
                      decoder_only=True)
        # then sharpen the outlines (the squares' corners): rounds of decoder-only steps, each a warm restart
        previous = long_dir
        for i in range(args.vae_sharpen_rounds):
            sharp = work / f"vae_sharpen{i}"
            if not done(sharp):
                stage(f"sharpen the VAE's decoder on 17-frame clips, round {i + 1}/{args.vae_sharpen_rounds}")
                train_vae(clips[:512], sharp, steps=args.vae_sharpen_steps, batch=4, frames=17, lr=5e-4,
                          init=previous, seed=5 + i, decoder_only=True)
            previous = sharp
        save_atomically(pipe / "vae", lambda folder: shutil.copytree(previous, folder))
    if args.stop_after == "vae":
        return 0
    if not (pipe / "text_encoder" / "config.json").exists():
        from skyreels_jax.toy.text import make_text_encoder, make_tokenizer

        stage("tokenizer and text encoder")
        from transformers import T5Tokenizer

        tok = T5Tokenizer.from_pretrained(str(make_tokenizer(pipe / "tokenizer", max_length=TEXT_LEN)))
        make_text_encoder(pipe / "text_encoder", len(tok))
        write_pipeline_files(pipe, shift=3.0)
    latents_dir = work / "latents"
    if not latents_dir.exists():
        from skyreels_jax.pipelines.components import NEGATIVE_PROMPT_DF
        from skyreels_jax.toy.text import all_captions, text_embeddings
        from skyreels_jax.training import data

        stage("encode latents and captions")
        keep = np.arange(min(args.num_latents, len(clips)))
        if args.hold_out:
            keep = keep[_trained_on(ds, "train")[keep]]
        captions = _captions(ds, "train")
        z, captions = _encode_latents(pipe / "vae", clips[keep]), [captions[i] for i in keep]
        emb = text_embeddings(pipe, all_captions() + [NEGATIVE_PROMPT_DF])
        examples = latent_examples(z, captions, emb, NEGATIVE_PROMPT_DF)
        data.build(data.LatentTextPairs, latents_dir, examples, latent_shape=z.shape[1:],
                   text_dim=next(iter(emb.values())).shape[1])
    if args.stop_after == "latents":
        return 0

    from skyreels_jax.toy.export import export_dit
    from skyreels_jax.training.loop import load_config, train

    stage("train DiT (diffusion forcing)")
    dataset_dir = next(p.parent for p in latents_dir.rglob("dataset_info.json"))
    overrides = {"data.dir": str(dataset_dir), "workdir": str(work / "dit")}
    if args.dit_steps:
        overrides["total_steps"] = args.dit_steps
    cfg = load_config(CONFIG, overrides)
    result = train(cfg)
    stage("export")
    export_dit(result, pipe / "transformer")
    if args.stop_after == "dit":
        return 0

    from skyreels_jax.toy.dpo import run_dpo

    stage("flow-DPO on pairs of the DiT's own samples")
    tuned = run_dpo(pipe, work / "dpo", pairs=args.dpo_pairs)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(tuned, out)
    save_bfloat16(pipe / "transformer", out / PRE_DPO)
    stage(f"wrote {out}")
    return 0


def save_bfloat16(src: Path, dst: Path) -> Path:
    """A copy of a diffusers transformer folder with its weights rounded to bfloat16 (half the bytes)."""
    import torch
    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "config.json", dst / "config.json")
    name = "diffusion_pytorch_model.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(str(src / name)).items()}, str(dst / name))
    return dst


if __name__ == "__main__":
    raise SystemExit(main())
