"""`skyreels-jax caption VIDEO_OR_FOLDER...`: SkyCaptioner-V1 structured captions and fused prompts, as JSONL.

Without --out each record is printed; with --out records are appended to that JSONL file and
videos already captioned there are skipped (a batch resumes where it stopped; failed videos are
tried again).
"""
from __future__ import annotations

import json
import sys

from skyreels_jax import cli_types


def add_parser(commands) -> None:
    p = commands.add_parser("caption", help="caption videos with SkyCaptioner-V1 (structured JSON + fused prompt)")
    p.add_argument("videos", nargs="+", help="video files and/or folders of videos")
    p.add_argument("--model", required=True, help="local SkyCaptioner-V1 (Qwen2.5-VL) folder")
    p.add_argument("--fusion-model", help="Qwen2.5-Instruct folder for the fusion step (default: the captioner's LM)")
    p.add_argument("--task", choices=["t2v", "i2v", "both", "none"], default="t2v",
                   help="which fused prompts to write (none: the structured caption only)")
    p.add_argument("--out", help="JSONL file to append to and resume from")
    p.add_argument("--retries", type=int, default=2, help="extra tries when the output holds no valid JSON")
    p.add_argument("--greedy", action="store_true", help="argmax decoding instead of temperature 0.05 / 0.1")
    p.add_argument("--seed", type=cli_types.seed, default=0)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on accelerators")


def run(args) -> int:
    import jax.numpy as jnp

    from skyreels_jax.captioner import caption_folder, list_videos, load_captioner

    if args.retries < 0:
        raise ValueError(f"--retries must be >= 0, got {args.retries}")
    tasks = {"t2v": ("t2v",), "i2v": ("i2v",), "both": ("t2v", "i2v"), "none": ()}[args.task]
    videos = list_videos(args.videos)
    dtype = None if args.dtype is None else jnp.dtype(args.dtype)
    with load_captioner(args.model, args.fusion_model, dtype, greedy=args.greedy, retries=args.retries) as captioner:
        if args.out:
            counts = caption_folder(videos, args.out, captioner, tasks, args.seed,
                                    log=lambda m: print(m, file=sys.stderr))
            print(f"{counts['done']} captioned, {counts['skipped']} already in {args.out}, {counts['failed']} failed")
            return 1 if counts["failed"] else 0
        for video in videos:
            caption = captioner.caption(video, args.seed)
            record = {"path": str(video), "structural_caption": caption,
                      **{f"{t}_fusion_caption": captioner.prompt(caption, t, args.seed) for t in tasks}}
            print(json.dumps(record, ensure_ascii=False))
    return 0
