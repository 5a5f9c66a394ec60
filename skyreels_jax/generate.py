"""`skyreels-jax generate`: one video, or a batch from a prompt file that resumes where it stopped."""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from skyreels_jax import config_files
from skyreels_jax.generate_jobs import Job, conflict_message, file_id, make_jobs, output_state
from skyreels_jax.output_claims import try_claim
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
    p.add_argument("--fps", type=int, help="frame rate of the written file (and of DF models' fps embedding); "
                   "default 24")
    p.add_argument("--output", type=Path, help="output .mp4 (single prompt)")
    p.add_argument("--output-dir", type=Path, help="where videos without --output go (default outputs); in "
                   "batch mode NNNNN-PROMPT.mp4, numbered by prompt line")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output made with another request "
                   "(one made with the same request is always kept)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on accelerators")
    p.add_argument("--quantize", choices=["int8", "fp8", "int8-dynamic", "fp8-dynamic"],
                   help="quantize the DiT's and text encoder's block weights: int8 or fp8 weights (half of bf16), "
                   "-dynamic: activations too (int8: TPU v5e/v6e and CPU int8 units; fp8: GPUs with fp8)")
    p.add_argument("--lora", action="append", default=[], metavar="PATH[:STRENGTH]",
                   help="apply a LoRA file to the DiT (diffusers/PEFT, kohya/ComfyUI or .diff layouts), "
                   "strength 1 by default; repeatable")
    p.add_argument("--lora-mode", choices=["merge", "runtime"], help="merge: added into the float weights (the "
                   "default: the same speed as without); runtime: applied beside the weights, which may be quantized "
                   "(an int8 folder) but not full-weight .diff files")
    p.add_argument("--prompt-enhancer", metavar="PATH", help="rewrite each prompt with this Qwen2.5-Instruct folder "
                   "or Hub id first (text-to-video prompts: refused with --image, which the reference skips; the LM "
                   "is freed before the DiT loads)")
    df = p.add_argument_group("diffusion forcing (DF models)")
    df.add_argument("--video", help="a video file to extend")
    df.add_argument("--ar-step", type=int, default=DF_DEFAULTS["ar_step"],
                    help="0: synchronous; >0: asynchronous (e.g. 5)")
    df.add_argument("--causal-block-size", type=int, default=DF_DEFAULTS["causal_block_size"],
                    help="frames per block of the async schedule")
    df.add_argument("--causal-attention", action="store_true", default=DF_DEFAULTS["causal_attention"],
                    help="also mask attention block-causally")
    df.add_argument("--base-num-frames", type=int, help="frames per window (default: the model's, 97 at 540P)")
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


SAMPLING_FLAGS = {"height": "height", "width": "width", "num_frames": "num_frames", "num_steps": "steps",
                  "guidance_scale": "guidance_scale", "shift": "shift", "fps": "fps"}  # config key: flag
CONFIG_KEYS = ("hub_id", "diffusers_hub_id", "mode", *(f"sampling.{key}" for key in SAMPLING_FLAGS))


def apply_config(args) -> str | None:
    """Fill flags that were not given from --config (model id and sampling defaults); the config's mode."""
    if not args.config:
        if args.set:
            raise ValueError("--set needs --config")
        return None
    cfg = config_files.load_config(args.config, args.set)
    unread = [text.partition("=")[0] for text in args.set if text.partition("=")[0] not in CONFIG_KEYS]
    if unread:
        raise ValueError(f"--set {unread[0]}: generate reads only {', '.join(CONFIG_KEYS)} of a config (the "
                         "networks come from the model folder)")
    args.model = args.model or cfg.get("hub_id") or cfg.get("diffusers_hub_id")
    sampling = cfg.get("sampling", {})
    for key, flag in SAMPLING_FLAGS.items():
        resolution_sets_it = args.resolution and key in ("height", "width")
        if getattr(args, flag) is None and key in sampling and not resolution_sets_it:
            setattr(args, flag, sampling[key])
    return cfg.get("mode")


def _size(args, first_image) -> tuple[int | None, int | None]:
    """(height, width) asked for; None where the model's default applies."""
    if args.resolution:
        height, width = RESOLUTIONS[args.resolution]
        if first_image is not None and first_image.shape[0] > first_image.shape[1]:
            height, width = width, height
        return height, width
    return args.height, args.width


def refuse_conflicts(args) -> None:
    """Flags that another flag given beside them would override or leave unused."""
    from skyreels_jax.schedulers.schedules import NAMES

    if args.resolution and (args.height is not None or args.width is not None):
        raise ValueError("--resolution sets the height and the width: give it or --height/--width, not both")
    if args.output is not None and args.output_dir is not None:
        raise ValueError("--output names the video; --output-dir is for videos without --output: give one")
    if args.shift is not None and args.schedule is not None and args.schedule not in NAMES:
        raise ValueError("--shift does not apply to a schedule file, whose sigmas are used as they are: drop --shift")
    if args.prompt_enhancer and args.image:
        raise ValueError("--prompt-enhancer rewrites text-to-video prompts, not those of a video from --image "
                         "(as the reference): drop one of them")
    enhancer = args.prompt_enhancer
    if enhancer and enhancer.startswith((".", "/", "~")) and not Path(enhancer).expanduser().exists():
        raise ValueError(f"--prompt-enhancer {enhancer} does not exist: give a Qwen2.5-Instruct folder or a Hub id "
                         "such as Qwen/Qwen2.5-7B-Instruct")
    if args.prompt_enhancer and args.prompt and len(args.prompt) > 1:
        raise ValueError("--prompt-enhancer rewrites one prompt per video, not prompt travel: drop one of them")
    if args.work_dir and args.processes_per_group != 1:
        raise ValueError("--work-dir: a group of processes does not resume windows (their disks may disagree on "
                         "what is finished): drop --work-dir")
    distributed.refuse_without_distributed(args)


def refuse_unused_guidance(args, folder, request: dict, choices: dict) -> None:
    """The sampler the request resolves to, checked: step caching needs the same forwards at every step, and
    the guidance flags need a step that runs the unconditional pass."""
    from skyreels_jax.pipelines.sampler import check_step_caching, make_sampler

    sampler = make_sampler(choices.get("scheduler", folder.defaults.get("scheduler")), choices.get("schedule"),
                           choices.get("guidance"), num_steps=request["num_steps"], shift=request["shift"],
                           guidance_scale=request["guidance_scale"], default_steps=folder.defaults["num_steps"])
    check_step_caching(sampler, request["teacache_threshold"])
    given = [flag for flag, value in (("--negative-prompt", args.negative_prompt), ("--guidance-mode",
             args.guidance_mode), ("--guidance-interval", args.guidance_interval)) if value is not None]
    if given and not sampler.uncond.any():
        scale = request["guidance_scale"]
        whose = " (the model's default)" if args.guidance_scale is None else ""
        raise ValueError(f"{', '.join(given)}: no step runs the unconditional pass at guidance scale {scale}{whose}; "
                         "give --guidance-scale above 1 (and an interval that holds steps) or drop them")


def plan(args):
    """Every check of the command, before any model loads: (model folder, jobs, the pipeline call's settings)."""
    from skyreels_jax.hub import resolve
    from skyreels_jax.media import check_writable_folder, load_image, probe_video, read_video
    from skyreels_jax.pipelines.call_args import folder_geometry, resolve_call
    from skyreels_jax.pipelines.components import inspect_folder
    from skyreels_jax.schedulers.schedules import NAMES

    refuse_conflicts(args)
    config_mode = apply_config(args)
    args.fps = 24 if args.fps is None else args.fps
    if not args.model:
        raise ValueError("give --model (a folder or Hub id)" + (": the config names none (hub_id)" if args.config
                                                                 else " or --config"))
    if args.processes_per_group != 1 and not args.distributed:
        raise ValueError("--processes-per-group needs --distributed")
    if args.distributed and args.prompts is None:
        raise ValueError("--distributed is for batch mode: give --prompts FILE")
    choices = sampling.choices(args)
    args.loras = lora_files(args.lora)
    if args.lora_mode and not args.loras:
        raise ValueError("--lora-mode goes with --lora")
    mesh_shape(args.mesh, args.sequence_parallel)
    folder = inspect_folder(resolve(args.model))
    df = folder.mode == "diffusion_forcing"
    if config_mode is not None and config_mode != folder.mode:
        raise ValueError(f"the config is for a {config_mode.replace('_', '-')} model and {args.model} is a "
                         f"{folder.mode.replace('_', '-')} model: give a config or a model of the same kind")
    if args.video and not df:
        raise ValueError("--video (extension) needs a diffusion-forcing model")
    if args.work_dir and not df:
        raise ValueError(f"--work-dir keeps a diffusion-forcing model's finished windows; this is a "
                         f"{folder.mode.replace('_', '-')} model: drop --work-dir")
    args.output_dir = Path("outputs") if args.output_dir is None else args.output_dir
    first = None if args.image is None else load_image(args.image)
    if args.end_image is not None:
        load_image(args.end_image)
    video_frames = None
    if args.video is not None:
        probe_video(args.video)
        video_frames = len(read_video(args.video))
    if args.prompts is not None:
        check_writable_folder(args.output_dir)
    height, width = _size(args, first)
    df_args = dict(ar_step=args.ar_step, causal_block_size=args.causal_block_size,
                   base_num_frames=args.base_num_frames, overlap_history=args.overlap_history,
                   addnoise_condition=args.addnoise_condition, overlap_mode=args.overlap_mode,
                   causal_attention=args.causal_attention)
    geometry = folder_geometry(folder)
    named_schedule = choices.get("schedule") is None or choices["schedule"] in NAMES

    def request_of(prompt) -> dict:
        call = resolve_call(folder.mode, folder.defaults, geometry, prompt=prompt,
                            negative_prompt=args.negative_prompt, image=args.image, end_image=args.end_image,
                            video=args.video, video_frames=video_frames, num_frames=args.num_frames, height=height,
                            width=width, num_steps=args.steps, guidance_scale=args.guidance_scale, shift=args.shift,
                            seed=args.seed, fps=args.fps, df_args=df_args, teacache_threshold=args.teacache)
        steps = call["num_steps"]
        if steps is None and named_schedule:  # a schedule file brings its own length
            steps = folder.defaults["num_steps"]
        request = dict(prompt=prompt, model=str(args.model), mode=folder.mode,
                       negative_prompt=(folder.defaults["negative_prompt"] if args.negative_prompt is None
                                        else args.negative_prompt),
                       image=file_id(args.image), end_image=file_id(args.end_image),
                       num_frames=call["num_frames"], height=call["height"], width=call["width"], num_steps=steps,
                       guidance_scale=call["guidance_scale"], shift=call["shift"], seed=call["seed"],
                       fps=call["fps"], **choices, teacache_threshold=call["teacache_threshold"],
                       dtype=args.dtype, quantize=args.quantize, prompt_enhancer=args.prompt_enhancer)
        if args.loras:
            request["loras"] = [{**file_id(path), "strength": strength} for path, strength in args.loras]
            request["lora_mode"] = args.lora_mode or "merge"
        if not named_schedule:
            request["schedule"] = file_id(choices["schedule"])
        if df:
            request.update(video=file_id(args.video), **{k: call[k] for k in df_args})
        return request

    jobs = make_jobs(args.prompt, args.prompts, args.output, args.output_dir, request_of)
    refuse_unused_guidance(args, folder, jobs[0].request, choices)  # every job has the same settings
    return folder, jobs


def lora_files(texts: list[str]) -> list[tuple[str, float]]:
    """--lora PATH[:STRENGTH] values as (path, strength), each file checked to exist."""
    from skyreels_jax.values import path_and_strength

    loras = [path_and_strength(text) for text in texts]
    for path, _ in loras:
        if not Path(path).is_file():
            raise ValueError(f"--lora {path}: no such file")
    return loras


def _call_settings(job: Job, df: bool) -> dict:
    """The pipeline call's keyword arguments for a job (everything but the prompt)."""
    r = job.request
    settings = dict(negative_prompt=r["negative_prompt"], image=None if r["image"] is None else r["image"]["path"],
                    end_image=None if r["end_image"] is None else r["end_image"]["path"],
                    **{k: r[k] for k in ("num_frames", "height", "width", "num_steps", "guidance_scale", "shift",
                                         "seed", "fps")},
                    **{k: r[k] for k in ("scheduler", "guidance") if k in r})
    if "schedule" in r:
        settings["schedule"] = r["schedule"]["path"] if isinstance(r["schedule"], dict) else r["schedule"]
    if isinstance(settings.get("guidance"), dict) and "interval" in settings["guidance"]:
        settings["guidance"] = {**settings["guidance"], "interval": tuple(settings["guidance"]["interval"])}
    if df:
        settings.update(video=None if r["video"] is None else r["video"]["path"], **{k: r[k] for k in DF_DEFAULTS})
    if r["teacache_threshold"] is not None:
        settings["teacache_threshold"] = r["teacache_threshold"]
    return settings


def run(args) -> int:
    import jax.numpy as jnp

    from skyreels_jax.compilation_cache import enable_compilation_cache
    from skyreels_jax.pipelines import load_pipeline

    folder, jobs = plan(args)  # raises on any bad value before a model loads
    enable_compilation_cache(args.compilation_cache)
    batch = args.prompts is not None
    states = {job.output: output_state(job) for job in jobs}
    conflicts = [] if args.overwrite else [j for j in jobs if states[j.output] in ("different", "unknown")]
    if conflicts and (not batch or args.distributed):
        raise FileExistsError(conflict_message(conflicts, batch))
    todo = [j for j in jobs if j not in conflicts]
    writer, devices = True, None
    if args.distributed:
        todo, writer, devices, done = _join_hosts(args, todo)
    else:
        done = [states[j.output] == "same" for j in todo]
    pending = [job for job, finished in zip(todo, done) if not finished]
    skipped = len(todo) - len(pending)
    if skipped:
        print(f"skipping {skipped} video(s) already written with the same request")
    dtype = None if args.dtype is None else jnp.dtype(args.dtype)
    prompts = {job.output: job.prompt for job in pending}
    if pending and args.prompt_enhancer:
        from skyreels_jax.enhancer import enhance_prompts

        prompts = dict(zip(prompts, enhance_prompts(args.prompt_enhancer, list(prompts.values()), seed=args.seed,
                                                    dtype=dtype)))
    pipe = mesh = None
    made, busy = 0, []
    for job in pending:
        claim = None
        if not args.distributed:  # processes sharing the folder make each video once
            claim = try_claim(job.output)
            if claim is None:
                busy.append(job)
                print(f"{job.output} is being made by another process: left to it")
                continue
            state = output_state(job)  # again: another process may have written it since the first look
            if state == "same" or (state != "new" and not args.overwrite):
                claim.release()
                if state == "same":
                    skipped += 1
                else:
                    conflicts.append(job)
                continue
        try:
            if pipe is None:
                if args.mesh == "auto":
                    size = (job.request["height"], job.request["width"])
                    args.mesh, args.sequence_parallel = auto_mesh(args, devices, size, dtype, folder)
                mesh = group_mesh(args.mesh, args.sequence_parallel, devices)
                overrides = {"sequence_parallel": args.sequence_parallel} if args.sequence_parallel else None
                pipe = load_pipeline(args.model, dtype, mesh=mesh, cache=not args.no_cache,
                                     low_memory=args.low_memory, dit_overrides=overrides, quantize=args.quantize,
                                     loras=args.loras, lora_mode=args.lora_mode or "merge")
            made += _make(args, pipe, mesh, job, prompts[job.output], writer)
        finally:
            if claim is not None:
                claim.release()
    if batch:
        print(f"done: {made} written, {skipped} already there, {len(busy)} made by other processes, "
              f"{len(conflicts)} kept (another request)")
    if conflicts:
        raise FileExistsError(conflict_message(conflicts, batch))
    return _finish(args)


def _make(args, pipe, mesh, job: Job, prompt, writer: bool) -> int:
    """Generate one video and write it with its sidecar; 1 if this process wrote it."""
    from skyreels_jax.media import write_video

    start = time.perf_counter()
    settings = _call_settings(job, pipe.mode == "diffusion_forcing")
    work = None
    if pipe.mode == "diffusion_forcing" and args.processes_per_group == 1:
        # (a group of processes does not resume windows: their disks may disagree on what is finished)
        work = args.work_dir or job.output.with_name(job.output.name + ".work")
    video = pipe(prompt, **settings, **({"work_dir": work} if work else {}))
    if not writer:  # another process of this group writes it
        return 0
    ran = {k: pipe.stats["call"][k] for k in ("num_frames", "height", "width", "guidance_scale", "shift", "seed",
                                               "fps")}
    meta = {"request": job.request, "prompt": prompt, "original_prompt": job.prompt, "model": str(args.model),
            "mode": pipe.mode, **settings, **ran, **sampling.record(pipe.stats),
            "mesh": None if mesh is None else dict(mesh.shape), "sequence_parallel": args.sequence_parallel,
            "quantize": args.quantize, "loras": [[str(path), strength] for path, strength in args.loras],
            "lora_mode": (args.lora_mode or "merge") if args.loras else None,
            "resolved_defaults": pipe.folder.defaults,
            "seconds": round(time.perf_counter() - start, 1)}
    write_video(job.output, video, fps=ran["fps"], metadata=meta)
    if work is not None and args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    skipped = pipe.stats.get("teacache_skipped")
    cached = "" if skipped is None else f", teacache skipped {skipped} of {pipe.stats['steps']} steps"
    print(f"wrote {job.output} ({video.shape[0]} frames, {time.perf_counter() - start:.1f} s{cached})")
    return 1


def auto_mesh(args, devices, size: tuple[int, int], dtype, folder) -> tuple[str | None, str | None]:
    """(--mesh, --sequence-parallel) as the planner chooses them for this model, video size and devices."""
    import jax
    import jax.numpy as jnp

    from skyreels_jax.planning.auto import auto_layout

    devices = jax.devices() if devices is None else devices
    if len(devices) == 1:
        print("--mesh auto: one device, so no mesh")
        return None, None
    frames = args.num_frames or folder.defaults["num_frames"]
    if folder.mode == "diffusion_forcing":
        frames = min(frames, args.base_num_frames or folder.defaults["base_num_frames"])
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
    shape = mesh_shape(sizes, sequence_parallel)
    if shape is None:
        return make_mesh(devices=devices) if len(devices) > 1 else None
    try:
        return make_mesh(*shape, devices=devices)
    except ValueError as e:
        raise ValueError(f"--mesh {sizes}: {e} (in this data-parallel group)") from None


def mesh_shape(sizes: str | None, sequence_parallel: str | None) -> list[int] | None:
    """The four sizes of --mesh D,F,C,T (None without --mesh), checked against --sequence-parallel."""
    if sizes == "auto":
        if sequence_parallel:
            raise ValueError("--mesh auto chooses the sequence parallelism too: drop --sequence-parallel")
        return None
    if sizes is None:
        if sequence_parallel:
            raise ValueError("--sequence-parallel needs --mesh with a context size > 1, e.g. --mesh 1,1,4,1")
        return None
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
    if shape[2] == 1 and sequence_parallel:
        raise ValueError(f"--sequence-parallel splits the video over the mesh's context axis, which is 1 in --mesh "
                         f"{sizes}: give a context size > 1 (e.g. 1,1,2,1) or drop --sequence-parallel")
    return shape


def _join_hosts(args, todo):
    """Initialise jax.distributed; return this group's jobs, whether this process writes them, the
    group's devices, and which of the jobs are finished (as the group's writer sees its disk, so every
    process of a group runs the same calls even where disks are local)."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    from skyreels_jax.parallel.batch import group_devices, group_share
    from skyreels_jax.parallel.distributed import initialize

    initialize(args.coordinator, args.num_processes, args.process_id)
    index, count, per_group = jax.process_index(), jax.process_count(), args.processes_per_group
    mine, writer = group_share(todo, index, count, per_group)
    finished = [output_state(j) == "same" for j in todo]
    done = multihost_utils.process_allgather(np.array(finished + [False]))  # [P, N + 1]
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
