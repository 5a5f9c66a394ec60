"""`skyreels-jax generate`: one video, or a batch from a prompt file that resumes where it stopped."""
from __future__ import annotations

import argparse
import re
import shutil
import time
from pathlib import Path

from skyreels_jax import config_files
from skyreels_jax.parallel import distributed
from skyreels_jax.pipelines import sampler_args as sampling
from skyreels_jax.pipelines.diffusion_forcing import DF_DEFAULTS

RESOLUTIONS = {"540P": (544, 960), "720P": (720, 1280)}


def add_parser(commands) -> None:
    p = commands.add_parser("generate", help="generate a video (or a batch) from a prompt")
    p.add_argument("--model", help="model folder (diffusers or original layout) or Hub id")
    config_files.add_arguments(p, "configs/models.py:T2V-14B-540P (its model and sampling defaults; flags given "
                               "here win)")
    p.add_argument("--prompt", action="append", help="the prompt (or use --prompts FILE); give it several times "
                   "for prompt travel on a diffusion-forcing model, one per window")
    p.add_argument("--prompts", type=Path, help="a text file, one prompt per line: batch mode")
    p.add_argument("--negative-prompt", default=None, help="default: the model's; '' for none")
    p.add_argument("--image", help="first frame (image-to-video)")
    p.add_argument("--end-image", help="last frame (first/last-frame models)")
    p.add_argument("--resolution", choices=sorted(RESOLUTIONS), help="540P (544×960) or 720P (720×1280); "
                   "swapped to portrait when --image is portrait, as the reference does")
    p.add_argument("--height", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--num-frames", type=int, help="4k+1 frames (default 97)")
    p.add_argument("--steps", type=int, help="default: the model's (30)")
    p.add_argument("--guidance-scale", type=float, help="default: the model's (6 T2V/DF, 5 I2V)")
    p.add_argument("--shift", type=float, help="default: the model's (8 T2V/DF, 5 I2V)")
    p.add_argument("--seed", type=int, default=0)
    sampling.add_arguments(p)
    p.add_argument("--fps", type=int, default=24, help="frame rate of the written file")
    p.add_argument("--output", type=Path, help="output .mp4 (single prompt)")
    p.add_argument("--output-dir", type=Path, default=Path("outputs"), help="batch mode: where the videos go")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on accelerators")
    p.add_argument("--quantize", choices=["int8", "fp8", "int8-dynamic", "fp8-dynamic"],
                   help="quantize the DiT's and text encoder's block weights: int8 or fp8 weights (half of bf16), "
                   "-dynamic: activations too (int8: TPU v5e/v6e and CPU int8 units; fp8: GPUs with fp8)")
    p.add_argument("--lora", action="append", default=[], metavar="PATH[:STRENGTH]",
                   help="merge a LoRA file into the DiT (diffusers/PEFT, kohya/ComfyUI or .diff layouts), "
                   "strength 1 by default; repeatable")
    p.add_argument("--prompt-enhancer", metavar="PATH", help="rewrite each prompt with this Qwen2.5-Instruct folder "
                   "or Hub id first (not with --image, as the reference; the LM is freed before the DiT loads)")
    df = p.add_argument_group("diffusion forcing (DF models)")
    df.add_argument("--video", help="a video file to extend")
    df.add_argument("--ar-step", type=int, default=DF_DEFAULTS["ar_step"],
                    help="0: synchronous; >0: asynchronous (e.g. 5)")
    df.add_argument("--causal-block-size", type=int, default=DF_DEFAULTS["causal_block_size"],
                    help="frames per block of the async schedule")
    df.add_argument("--causal-attention", action="store_true", default=DF_DEFAULTS["causal_attention"],
                    help="also mask attention block-causally")
    df.add_argument("--base-num-frames", type=int, default=DF_DEFAULTS["base_num_frames"], help="frames per window")
    df.add_argument("--overlap-history", type=int, default=DF_DEFAULTS["overlap_history"],
                    help="frames shared by consecutive windows (e.g. 17)")
    df.add_argument("--addnoise-condition", type=float, default=DF_DEFAULTS["addnoise_condition"],
                    help="noise on the history (20 recommended)")
    df.add_argument("--overlap-mode", choices=["latent", "pixel"], default=DF_DEFAULTS["overlap_mode"],
                    help="latent: reuse history latents (no drift); pixel: decode and re-encode, as the original")
    df.add_argument("--work-dir", type=Path, help="where finished windows are kept so a rerun resumes "
                    "(default: OUTPUT.work next to the output, removed when the video is written)")
    dev = p.add_argument_group("devices (one mesh per data-parallel group; default: every device on fsdp)")
    dev.add_argument("--mesh", metavar="D,F,C,T|auto", help="mesh sizes over (data, fsdp, context, tensor), one may be "
                     "-1, e.g. 1,2,4,1; data splits the CFG pair (1 or 2), fsdp shards the weights, context the "
                     "video tokens (with --sequence-parallel), tensor the heads and FFN. auto: compile the "
                     "candidates first and take the one with the most data parallelism that fits the devices' "
                     "memory with 10%% spare (as `skyreels-jax plan` does for a TPU slice)")
    dev.add_argument("--sequence-parallel", choices=["ulysses", "ring"], help="split the DiT's self-attention over "
                     "the mesh's context axis: ulysses (all-to-all; the heads per tensor shard must divide by "
                     "the context size) or ring (any size)")
    mh = distributed.add_arguments(p, "multi-host (batch mode: each data-parallel group takes every N-th prompt)")
    mh.add_argument("--processes-per-group", type=int, default=1, help="processes that run one model together "
                    "(its mesh spans their devices), e.g. when a model needs more than one host; they all run the "
                    "group's prompts and the first of them writes the videos")
    p.add_argument("--teacache", type=float, metavar="THRESHOLD",
                   help="step caching (text/image-to-video): skip the DiT blocks while the summed relative L1 "
                        "change of their input stays below THRESHOLD (0: never skip; try 0.1-0.3)")
    p.add_argument("--compilation-cache", metavar="DIR",
                   help="keep compiled XLA programs in DIR across runs (default: $SKYREELS_JAX_CACHE_DIR, else off)")
    p.add_argument("--low-memory", action="store_true", help="free the encoders after each use")
    p.add_argument("--no-cache", action="store_true", help="do not cache the converted DiT")


def apply_config(args) -> None:
    """Fill flags that were not given from --config (model id and sampling defaults)."""
    if not args.config:
        if args.set:
            raise ValueError("--set needs --config")
        return
    cfg = config_files.load_config(args.config, args.set)
    args.model = args.model or cfg.get("hub_id") or cfg.get("diffusers_hub_id")
    sampling = cfg.get("sampling", {})
    for flag, key in (("height", "height"), ("width", "width"), ("steps", "num_steps"),
                      ("guidance_scale", "guidance_scale"), ("shift", "shift")):
        if getattr(args, flag) is None and key in sampling:
            setattr(args, flag, sampling[key])
    if "num_frames" in sampling and args.num_frames is None:
        args.num_frames = sampling["num_frames"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60].lower() or "video"


def _size(args):
    if args.resolution:
        height, width = RESOLUTIONS[args.resolution]
        if args.image:
            from skyreels_jax.media import load_image

            h, w = load_image(args.image).shape[:2]
            if h > w:
                height, width = width, height
        return args.height or height, args.width or width
    return args.height or 544, args.width or 960


def jobs(args) -> list[tuple[str, Path]]:
    """(prompt, output path) for every video to make; batch outputs are numbered by line."""
    if (args.prompt is None) == (args.prompts is None):
        raise ValueError("give either --prompt or --prompts FILE")
    if args.prompt is not None:
        prompt = args.prompt[0] if len(args.prompt) == 1 else args.prompt
        return [(prompt, args.output or Path("outputs") / f"{_slug(args.prompt[0])}-{args.seed}.mp4")]
    if not args.prompts.exists():
        raise FileNotFoundError(f"prompt file {args.prompts} does not exist")
    lines = [line.strip() for line in args.prompts.read_text().splitlines()]
    return [(p, args.output_dir / f"{i:05d}-{_slug(p)}.mp4") for i, p in enumerate(lines) if p]


def run(args) -> int:
    import jax.numpy as jnp

    from skyreels_jax.media import write_video
    from skyreels_jax.pipelines import load_pipeline

    apply_config(args)
    from skyreels_jax.compilation_cache import enable_compilation_cache

    enable_compilation_cache(args.compilation_cache)
    if not args.model:
        raise ValueError("give --model (a folder or Hub id) or --config")
    args.num_frames = args.num_frames or 97
    choices = sampling.choices(args)  # checked before anything loads
    todo = jobs(args)
    writer, devices = True, None
    if args.distributed:
        todo, writer, devices, done = _join_hosts(args, todo)
    else:
        if args.processes_per_group != 1:
            raise ValueError("--processes-per-group needs --distributed")
        done = [out.exists() for _, out in todo]
    height, width = _size(args)
    pending = [job for job, finished in zip(todo, done) if not finished]
    if len(pending) < len(todo):
        print(f"skipping {len(todo) - len(pending)} video(s) already written")
    if not pending:
        return _finish(args)
    dtype = None if args.dtype is None else jnp.dtype(args.dtype)
    originals = {out: prompt for prompt, out in pending}
    if args.prompt_enhancer:
        if args.image:
            print("--prompt-enhancer is skipped with --image (as the reference does)")
        else:
            from skyreels_jax.enhancer import enhance_prompts

            texts = [p if isinstance(p, str) else " ".join(p) for p, _ in pending]
            enhanced = enhance_prompts(args.prompt_enhancer, texts, seed=args.seed, dtype=dtype)
            pending = [(e, out) for e, (_, out) in zip(enhanced, pending)]
    from skyreels_jax.models.dit.lora_files import parse_lora_arg

    loras = [parse_lora_arg(text) for text in args.lora]
    for path, _ in loras:
        if not Path(path).is_file():
            raise ValueError(f"--lora {path}: no such file")
    if args.mesh == "auto":
        args.mesh, args.sequence_parallel = auto_mesh(args, devices, (height, width), dtype)
    mesh = group_mesh(args.mesh, args.sequence_parallel, devices)
    overrides = {"sequence_parallel": args.sequence_parallel} if args.sequence_parallel else None
    pipe = load_pipeline(args.model, dtype, mesh=mesh, cache=not args.no_cache, low_memory=args.low_memory,
                         dit_overrides=overrides, quantize=args.quantize, loras=loras)
    settings = dict(negative_prompt=args.negative_prompt, image=args.image, end_image=args.end_image,
                    num_frames=args.num_frames, height=height, width=width, num_steps=args.steps,
                    guidance_scale=args.guidance_scale, shift=args.shift, seed=args.seed, **choices)
    if pipe.mode == "diffusion_forcing":
        settings.update(video=args.video, ar_step=args.ar_step, causal_block_size=args.causal_block_size,
                        causal_attention=args.causal_attention, base_num_frames=args.base_num_frames,
                        overlap_history=args.overlap_history, addnoise_condition=args.addnoise_condition,
                        overlap_mode=args.overlap_mode, fps=args.fps)
    elif args.video:
        raise ValueError("--video (extension) needs a diffusion-forcing model")
    if args.teacache is not None:
        settings["teacache_threshold"] = args.teacache
    for prompt, out in pending:
        start = time.perf_counter()
        work = None
        if pipe.mode == "diffusion_forcing" and args.processes_per_group == 1:
            # (a group of processes does not resume windows: their disks may disagree on what is finished)
            work = args.work_dir or out.with_name(out.name + ".work")
        video = pipe(prompt, **settings, **({"work_dir": work} if work else {}))
        if not writer:  # another process of this group writes it
            continue
        meta = dict(prompt=prompt, original_prompt=originals[out], model=str(args.model), mode=pipe.mode,
                    **{**settings, "fps": args.fps, **sampling.record(pipe.stats)},
                    mesh=None if mesh is None else dict(mesh.shape),
                    sequence_parallel=args.sequence_parallel, quantize=args.quantize,
                    loras=[[str(path), strength] for path, strength in loras],
                    resolved_defaults=pipe.folder.defaults,
                    seconds=round(time.perf_counter() - start, 1))
        write_video(out, video, fps=args.fps, metadata=meta)
        if work is not None and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        skipped = pipe.stats.get("teacache_skipped")
        cached = "" if skipped is None else f", teacache skipped {skipped} of {pipe.stats['steps']} steps"
        print(f"wrote {out} ({video.shape[0]} frames, {time.perf_counter() - start:.1f} s{cached})")
    return _finish(args)


def auto_mesh(args, devices, size: tuple[int, int], dtype) -> tuple[str | None, str | None]:
    """(--mesh, --sequence-parallel) as the planner chooses them for this model, video size and devices."""
    import jax
    import jax.numpy as jnp

    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines.components import inspect_folder
    from skyreels_jax.planning.auto import auto_layout

    if args.sequence_parallel:
        raise ValueError("--mesh auto chooses the sequence parallelism too: drop --sequence-parallel")
    devices = jax.devices() if devices is None else devices
    if len(devices) == 1:
        return None, None
    folder = inspect_folder(resolve(args.model))
    frames = min(args.num_frames, args.base_num_frames) if folder.mode == "diffusion_forcing" else args.num_frames
    dtype = dtype or (jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16)
    print(f"--mesh auto: compiling the programs of {frames} frames of {size[0]}x{size[1]} for {len(devices)} devices")
    layout = auto_layout(folder, jnp.dtype(dtype), (frames, *size), devices, args.low_memory,
                         report=lambda lay, r: print(f"  {lay}: {r.program}: "
                                                     f"{r.error or f'{r.total / 2**30:.2f} GiB per device'}"),
                         quantize=args.quantize)
    print(f"--mesh auto: {layout}")
    return ",".join(map(str, layout.mesh)), layout.sequence_parallel


def group_mesh(sizes: str | None, sequence_parallel: str | None, devices=None):
    """The mesh of --mesh D,F,C,T over `devices` (default: all); without --mesh, every device on fsdp
    (no mesh at all on one device)."""
    import jax

    from skyreels_jax.parallel import make_mesh

    devices = jax.devices() if devices is None else devices
    if sizes is None:
        if sequence_parallel:
            raise ValueError("--sequence-parallel needs --mesh with a context size > 1, e.g. --mesh 1,1,4,1")
        return make_mesh(devices=devices) if len(devices) > 1 else None
    try:
        shape = [int(x) for x in sizes.split(",")]
    except ValueError:
        shape = []
    if len(shape) != 4:
        raise ValueError(f"--mesh takes four sizes DATA,FSDP,CONTEXT,TENSOR (one may be -1), e.g. 1,2,4,1; "
                         f"got {sizes!r}")
    if shape[2] != 1 and not sequence_parallel:  # the context devices would idle
        raise ValueError(f"--mesh {sizes} splits the video over context devices: give --sequence-parallel ulysses "
                         "or ring (or a context size of 1)")
    try:
        return make_mesh(*shape, devices=devices)
    except ValueError as e:
        raise ValueError(f"--mesh {sizes}: {e} (in this data-parallel group)") from None


def _join_hosts(args, todo):
    """Initialise jax.distributed; return this group's jobs, whether this process writes them, the
    group's devices, and which of the jobs are finished (as the group's writer sees its disk, so every
    process of a group runs the same calls even where disks are local)."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    from skyreels_jax.parallel.batch import group_devices, group_share
    from skyreels_jax.parallel.distributed import initialize

    if args.prompts is None:
        raise ValueError("--distributed is for batch mode: give --prompts FILE")
    initialize(args.coordinator, args.num_processes, args.process_id)
    index, count, per_group = jax.process_index(), jax.process_count(), args.processes_per_group
    mine, writer = group_share(todo, index, count, per_group)
    done = multihost_utils.process_allgather(np.array([out.exists() for _, out in todo] + [False]))  # [P, N + 1]
    group = index // per_group
    done, _ = group_share(done[group * per_group][:-1].tolist(), index, count, per_group)
    print(f"process {index} of {count} (group {group}): {len(mine)} of {len(todo)} video(s)")
    return mine, writer, group_devices(jax.devices(), group, per_group), done


def _finish(args) -> int:
    """In a multi-host run, wait for every process, so the coordinator does not leave first."""
    if args.distributed:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("skyreels-jax generate done")
    return 0


def main_args(argv) -> argparse.Namespace:  # for tests
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["generate", *argv])
