"""Distribution matching distillation of the toy DiT into a 4-step student without CFG, then measured.

    python -m skyreels_jax.toy.distill [--model toy] [--workdir outputs/toy_distill] [--steps N]
                                       [--select-every 100] [--prompts 144] [--out DIR]
                                       [--lora-rank R [--lora-linear-only]]
    python -m skyreels_jax.toy.distill --lora-only --student toy-fast --lora-rank R    # the shipped student

1. training data: toy-world clips (seeds the measurement does not use) encoded by the model's VAE,
   with their captions' contexts; the negative prompt's context for the teacher's CFG;
2. DMD (training/distill.py, configs/train/toy_distill.py) from the model's DiT: the teacher is that
   DiT at its guidance scale, the student samples at the shift schedule's first 4 σ with the LCM solver;
3. the student's pipeline folder (work/pipeline: the model's VAE, text encoder and tokenizer, the
   student in bfloat16, generation_defaults.json of 4 steps, guidance 1, scheduler lcm). With
   --select-every N the student is measured every N steps on validation seeds (apart from the
   reported ones) and the best one is kept: where a DMD run is best depends on its length and rate;
4. teacher (30 steps, CFG) and student (4 steps) on the same seeds: prompt adherence
   (toy/evaluate.py), the long diffusion-forcing videos, and seconds per video on this machine;
5. with --lora-rank R: the student as a LoRA of the model (work/student_lora.safetensors,
   models.dit.lora_extract), its size, and its forward error on the inputs the student samples from.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from skyreels_jax.toy.evaluate import LONG_PROMPTS, adherence, long_video

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "toy_distill.py"
TEACHER = dict(num_steps=30)                                      # the toy's guidance scale from its folder
STUDENT = dict(num_steps=4, guidance_scale=1.0, scheduler="lcm")
STUDENT_DEFAULTS = {"num_steps": 4, "guidance_scale": 1.0, "scheduler": "lcm"}
DATA_SEED = 500_000    # training clips: seeds apart from the dataset's train and test clips
VALIDATION_SEED = 50_000  # the selection's sampling seeds: apart from the reported measure's (1000 + i)
PROBE_SEED = 600_000   # the LoRA's forward-error clips


def training_data(model: Path, work: Path, clips: int) -> tuple[Path, Path]:
    """(the LatentTextPairs folder, the negative prompt's context .npy) for a dmd run; skipped when done."""
    from skyreels_jax.pipelines.components import NEGATIVE_PROMPT_DF
    from skyreels_jax.toy.build import _encode_latents
    from skyreels_jax.toy.text import all_captions, text_embeddings
    from skyreels_jax.toy.world import render_clip
    from skyreels_jax.training import data

    folder, uncond = work / "latents", work / "uncond_context.npy"
    work.mkdir(parents=True, exist_ok=True)
    if not folder.exists():
        rendered = [render_clip(DATA_SEED + i) for i in range(clips)]
        z = _encode_latents(model / "vae", np.stack([r[0] for r in rendered]))
        emb = text_embeddings(model, all_captions() + [NEGATIVE_PROMPT_DF])
        np.save(uncond, emb[NEGATIVE_PROMPT_DF])
        examples = ((f"{i:06d}", {"latents": zi, "context": emb[r[1]], "caption": r[1], "fps": 16})
                    for i, (zi, r) in enumerate(zip(z, rendered)))
        data.build(data.LatentTextPairs, folder, examples, latent_shape=z.shape[1:],
                   text_dim=next(iter(emb.values())).shape[1])
    return next(p.parent for p in folder.rglob("dataset_info.json")), uncond


def write_student(model: Path, result: dict, out: Path) -> Path:
    """A pipeline folder: the model's files but its DiT(s), the student's DiT in bfloat16, 4-step defaults."""
    from skyreels_jax.toy.build import save_bfloat16
    from skyreels_jax.toy.export import export_dit

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model, tmp, ignore=shutil.ignore_patterns("transformer*"))
    full = export_dit(result, out.with_name(out.name + ".float32"))
    save_bfloat16(full, tmp / "transformer")
    shutil.rmtree(full)
    defaults = json.loads((model / "generation_defaults.json").read_text())
    (tmp / "generation_defaults.json").write_text(json.dumps({**defaults, **STUDENT_DEFAULTS}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def run_distill(model: Path, work: Path, steps: int | None = None, clips: int = 1024, select_every: int = 0,
                select_prompts: int = 72) -> Path:
    """Data, DMD training (resumes from work/dit), the student's folder work/pipeline: the last step's, or
    with select_every the best on validation seeds of the students every select_every steps."""
    from skyreels_jax.training.loop import load_config, train

    data_dir, uncond = training_data(model, work, clips)
    overrides = {"data.dir": str(data_dir), "workdir": str(work / "dit"), "init_checkpoint": str(model / "transformer"),
                 "distill.uncond_context": str(uncond)}
    defaults = json.loads((model / "generation_defaults.json").read_text())
    overrides["distill.guidance_scale"] = float(defaults["guidance_scale"])
    if steps:
        overrides["total_steps"] = steps
    cfg = load_config(CONFIG, overrides)
    t0 = time.perf_counter()
    if not select_every:
        result = train(cfg)
        print(f"distillation: {cfg.total_steps} steps, {time.perf_counter() - t0:.0f} s in this process", flush=True)
        return write_student(model, result, work / "pipeline")
    return select_student(model, work, cfg, select_every, select_prompts)


def select_student(model: Path, work: Path, cfg, every: int, prompts: int) -> Path:
    """Train in stretches of `every` steps; after each, measure the student's adherence on validation seeds
    and keep the best as work/pipeline. The scores are kept in work/selection.json, so a rerun resumes."""
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.training.loop import train

    record = work / "selection.json"
    scores = {int(k): v for k, v in json.loads(record.read_text()).items()} if record.exists() else {}
    stops = sorted({*range(every, cfg.total_steps, every), cfg.total_steps})
    for stop in (s for s in stops if s not in scores):
        t0 = time.perf_counter()
        result = train(cfg, stop_after=stop)
        candidate = write_student(model, result, work / "candidate")
        scores[stop] = adherence(load_pipeline(candidate, cache=False), prompts, seed=VALIDATION_SEED, **STUDENT)["all"]
        if scores[stop] >= max(scores.values()):
            shutil.rmtree(work / "pipeline", ignore_errors=True)
            candidate.rename(work / "pipeline")
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(scores, indent=2) + "\n")
        tmp.replace(record)
        print(f"step {stop}: validation adherence {scores[stop]:.1%} ({time.perf_counter() - t0:.0f} s)", flush=True)
    best = max(scores, key=scores.get)
    print(f"kept the student of step {best} ({scores[best]:.1%} on {prompts} validation prompts)", flush=True)
    return work / "pipeline"


def probe_inputs(model: Path, clips: int = 8) -> list[dict]:
    """The DiT inputs of the student's sampling steps: toy-world clips encoded by the model's VAE, noised to
    each of the student's σ (the model's shift, 4 steps), with their captions' contexts."""
    from skyreels_jax.models.umt5 import load_text_encoder
    from skyreels_jax.schedulers import make_schedule
    from skyreels_jax.toy.build import _encode_latents
    from skyreels_jax.toy.world import render_clip

    rendered = [render_clip(PROBE_SEED + i) for i in range(clips)]
    x0 = _encode_latents(model / "vae", np.stack([r[0] for r in rendered]))
    context = np.asarray(load_text_encoder(model).encode([r[1] for r in rendered]))
    shift = float(json.loads((model / "generation_defaults.json").read_text())["shift"])
    schedule = make_schedule("shift", STUDENT["num_steps"], shift)
    noise = np.random.default_rng(PROBE_SEED).standard_normal(x0.shape).astype(np.float32)
    return [dict(latents=(1 - s) * x0 + s * noise, timestep=np.full((clips,), t, np.float32), context=context)
            for s, t in zip(schedule.sigmas[:-1], schedule.timesteps)]


def write_student_lora(model: Path, student: Path, out: Path, rank: int, linear_only: bool = False,
                       prompts: int = 0) -> dict:
    """The student's DiT as a LoRA of the model's at `rank` (models.dit.lora_extract), written to `out`; its
    size and the forward error (‖Δ‖/‖student‖ over probe_inputs) of the model with it merged, beside the
    model's own error; with prompts > 0 also the prompt adherence of the model with it merged, sampled at the
    student's settings (toy/evaluate.py)."""
    from skyreels_jax.models.dit import load_transformer
    from skyreels_jax.models.dit.lora_extract import save_lora
    from skyreels_jax.models.dit.lora_files import merge_loras

    teacher, target = load_transformer(model), load_transformer(student)
    save_lora(target, teacher, out, rank, linear_only)
    merged = merge_loras(load_transformer(model), [(out, 1.0)])
    probes = probe_inputs(model)

    def error(dit) -> float:
        pairs = [(np.asarray(dit(**x), np.float64), np.asarray(target(**x), np.float64)) for x in probes]
        return float(np.sqrt(sum(((a - b) ** 2).sum() for a, b in pairs) / sum((b ** 2).sum() for _, b in pairs)))

    figures = dict(rank=rank, linear_only=linear_only, bytes=out.stat().st_size, error=error(merged),
                   teacher_error=error(teacher))
    if prompts:
        from skyreels_jax.pipelines import load_pipeline

        figures["adherence"] = adherence(load_pipeline(model, cache=False, loras=[(out, 1.0)]), prompts, **STUDENT)
    return figures


def seconds_per_video(pipe, n: int = 4, **gen) -> float:
    """Mean wall time of n 17-frame videos (after one untimed call that compiles)."""
    from skyreels_jax.toy.evaluate import GEN

    kw = {**GEN, **gen}
    pipe("a red circle moves right on a black background", num_frames=17, seed=0, **kw)
    t0 = time.perf_counter()
    for i in range(n):
        pipe("a blue square moves up on a black background", num_frames=17, seed=i, **kw)
    return (time.perf_counter() - t0) / n


def long_summary(pipe, frames: int, **gen) -> dict:
    """Over the LONG_PROMPTS' videos: the least share of frames with an object in any chunk, the mean
    share with the captioned colour, and the least path (px) of a full chunk."""
    rows = [long_video(pipe, frames, p, **gen) for p in LONG_PROMPTS]
    full = [r for video in rows for r in video[:-1]]
    return dict(object_min=min(r["object"] for r in full), colour_mean=float(np.mean([r["colour"] for r in full])),
                path_min=min(r["path"] for r in full))


def measure(pipe, prompts: int, frames: int, **gen) -> dict:
    a = adherence(pipe, prompts, **gen)
    return {**a, **long_summary(pipe, frames, **gen), "seconds": seconds_per_video(pipe, **gen),
            "nfe": pipe.stats["sampler"]["nfe"]}


def table(rows: dict) -> str:
    out = ["| model | colour | shape | direction | all three | long video: object (min) / colour (mean) / "
           "path (min px) | s per 17-frame video | model evaluations |", "|---|---|---|---|---|---|---|---|"]
    for name, m in rows.items():
        out.append(f"| {name} | {m['colour_present']:.0%} | {m['shape_ok']:.0%} | {m['direction_ok']:.0%} | "
                   f"**{m['all']:.1%}** | {m['object_min']:.2f} / {m['colour_mean']:.2f} / {m['path_min']:.0f} | "
                   f"{m['seconds']:.2f} | {m['nfe']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy")
    ap.add_argument("--workdir", default="outputs/toy_distill")
    ap.add_argument("--steps", type=int, default=None, help="override the config's total_steps")
    ap.add_argument("--clips", type=int, default=1024, help="training clips")
    ap.add_argument("--select-every", type=int, default=0,
                    help="measure the student every N steps on validation seeds and keep the best (0: the last)")
    ap.add_argument("--prompts", type=int, default=144)
    ap.add_argument("--long-frames", type=int, default=169)
    ap.add_argument("--out", help="also copy the student's folder here (e.g. skyreels_jax/assets/toy_fast)")
    ap.add_argument("--measure-only", action="store_true", help="measure work/pipeline as it is")
    ap.add_argument("--lora-rank", type=int, help="also write the student as a LoRA of the model at this rank: "
                    "work/student_lora.safetensors")
    ap.add_argument("--lora-linear-only", action="store_true",
                    help="the LoRA without the full differences of the non-linear parameters (a plain LoRA that "
                    "runtime LoRAs and diffusers apply; merging the full one is closer)")
    ap.add_argument("--lora-only", action="store_true", help="only write and measure the LoRA (needs --lora-rank)")
    ap.add_argument("--student", help="the student's folder or name for --measure-only / --lora-only "
                    "(default work/pipeline)")
    args = ap.parse_args(argv)
    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline

    if args.lora_only and not args.lora_rank:
        ap.error("--lora-only needs --lora-rank")
    model, work = Path(resolve(args.model)), Path(args.workdir)
    existing = Path(resolve(args.student)) if args.student else work / "pipeline"
    student = existing if args.measure_only or args.lora_only else run_distill(model, work, args.steps, args.clips,
                                                                                 args.select_every)
    if args.lora_rank:
        lora = write_student_lora(model, student, work / "student_lora.safetensors", args.lora_rank,
                                  args.lora_linear_only, args.prompts)
        print(f"{work / 'student_lora.safetensors'}: rank {lora['rank']}"
              f"{' (linear layers only)' if args.lora_linear_only else ''}, {lora['bytes'] / 2**20:.2f} MiB, forward "
              f"error {lora['error']:.2e} vs the student (the model without it: {lora['teacher_error']:.2e})"
              + (f", adherence {lora['adherence']['all']:.1%} at the student's settings" if args.prompts else ""))
        (work / "student_lora.json").write_text(json.dumps(lora, indent=2) + "\n")
        if args.lora_only:
            return 0
    if args.out:
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.copytree(student, args.out)
    rows = {"teacher (30 steps, CFG)": measure(load_pipeline(model, cache=False), args.prompts, args.long_frames,
                                               **TEACHER),
            "teacher at the student's settings (4 steps, no CFG)": measure(
                load_pipeline(model, cache=False), args.prompts, args.long_frames, **STUDENT),
            "student (4 steps, no CFG)": measure(load_pipeline(student, cache=False), args.prompts, args.long_frames,
                                                 **STUDENT)}
    print(table(rows))
    (work / "figures.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
