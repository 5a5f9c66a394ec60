"""`skyreels-jax preprocess`: video-text pairs -> the precomputed dataset `skyreels-jax train` reads.

    skyreels-jax preprocess --model PATH --videos DIR --captions captions.jsonl --out data/latents \\
        --frames 97 --height 544 --width 960 [--fps 24] [--i2v] [--batch-size 2] [--on-bad skip]
    skyreels-jax train --config ... --set data.dir=data/latents/dataset/latent_text_pairs/1.0.0

A rerun skips finished shards; with --distributed every process encodes its share of the shards
and process 0 writes the dataset. --import-only writes the decoded clips as a VideoTextPairs
dataset instead (no model needed), which a later run can encode with --dataset.
"""
from __future__ import annotations

import argparse

from skyreels_jax import cli_types
from skyreels_jax.parallel import distributed


def add_parser(subparsers):
    p = subparsers.add_parser("preprocess", help="encode video-text pairs into latents and text embeddings",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("inputs (a folder of mp4 files with a captions file, or a VideoTextPairs dataset)")
    src.add_argument("--videos", help="folder of .mp4 files")
    src.add_argument("--captions", help=".jsonl ({\"file\", \"caption\"} per line) or .csv (file,caption)")
    src.add_argument("--dataset", help="a prepared VideoTextPairs dataset folder (from --import-only)")
    p.add_argument("--out", required=True, help="output folder (shards/ and dataset/ go there)")
    p.add_argument("--frames", type=cli_types.count(1, 100_001), default=97, help="frames per clip, 4k+1")
    p.add_argument("--height", type=cli_types.count(1, 4096), default=544)
    p.add_argument("--width", type=cli_types.count(1, 4096), default=960)
    p.add_argument("--fps", type=cli_types.count(1, 1000),
                   help="take every round(source fps / FPS)-th frame (default: every frame)")
    enc = p.add_argument_group("encoders")
    enc.add_argument("--model", help="a model folder: its VAE, text encoder (and image encoder with --i2v)")
    enc.add_argument("--vae", help="a VAE folder or Wan2.1_VAE.pth (overrides the model's)")
    enc.add_argument("--text-encoder", help="a UMT5 folder (overrides the model's)")
    enc.add_argument("--image-encoder", help="a CLIP vision folder (overrides the model's)")
    enc.add_argument("--i2v", action="store_true", help="also store condition latents and CLIP features")
    p.add_argument("--batch-size", type=cli_types.count(), default=1, help="clips encoded together")
    p.add_argument("--shard-size", type=cli_types.count(), default=64, help="inputs per shard (the unit of resuming)")
    p.add_argument("--on-bad", choices=["raise", "skip"], default="raise",
                   help="a corrupt or short video or a missing caption: stop (raise) or skip and count it")
    p.add_argument("--import-only", action="store_true", help="write the decoded clips (VideoTextPairs), no encoding")
    distributed.add_arguments(p, "multi-host (each process encodes every N-th shard)")
    return p


def run(args) -> int:
    from pathlib import Path

    from skyreels_jax.training import preprocess, videos

    distributed.refuse_without_distributed(args)
    if bool(args.videos) == bool(args.dataset) or bool(args.videos) != bool(args.captions):
        raise ValueError("give either --videos DIR with --captions FILE, or --dataset DIR")
    out = Path(args.out)
    if args.import_only:
        if not args.videos:
            raise ValueError("--import-only reads --videos and --captions")
        b = videos.import_videos(args.videos, args.captions, out / "videos", frames=args.frames, height=args.height,
                                 width=args.width, fps=args.fps, on_bad=args.on_bad)
        print(f"wrote {len(b.as_data_source()['train'])} clip(s) to {b.data_dir} ({len(b.bad)} bad: {b.bad[:5]})")
        return 0
    pi, pc = 0, 1
    if args.distributed:
        import jax

        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
        pi, pc = jax.process_index(), jax.process_count()
    if args.videos:
        clips = videos.FolderClips(args.videos, args.captions, frames=args.frames, height=args.height,
                                   width=args.width, fps=args.fps)
    else:
        clips = videos.DatasetClips(args.dataset)
    enc = preprocess.Encoders.load(args.model, vae=args.vae, text_encoder=args.text_encoder,
                                   image_encoder=args.image_encoder, i2v=args.i2v)
    stats = preprocess.encode_shards(clips, enc, out, batch_size=args.batch_size, shard_size=args.shard_size,
                                     on_bad=args.on_bad, process_index=pi, process_count=pc)
    print(f"process {pi} of {pc}: {stats}")
    if args.distributed:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("skyreels-jax preprocess: shards")
    if pi == 0:
        missing = preprocess.missing_shards(out)
        if missing:
            print(f"{len(missing)} shard(s) still to encode; rerun to finish")
        else:
            b = preprocess.assemble(out, on_bad=args.on_bad)
            n = len(b.as_data_source()["train"])
            print(f"wrote {n} example(s) to {b.data_dir} ({len(b.bad)} bad input(s) skipped: {b.bad[:5]})")
    if args.distributed:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("skyreels-jax preprocess: dataset")
    return 0
