"""A pipeline call's arguments: the model folder's defaults fill what was left out (None), then every value is
checked, before anything loads, encodes or samples. The command line runs the same function on the folder
alone (no weights read) so that a bad request never loads a model."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from skyreels_jax import values
from skyreels_jax.pipelines.checks import check_call
from skyreels_jax.pipelines.df_plan import check_plan, check_prompt_count

MAX_SIZE = 4096          # pixels per side: beyond it no published model fits in memory
MAX_FRAMES = 1025        # one window (text/image-to-video); longer videos: a diffusion-forcing model
MAX_DF_FRAMES = 100_001  # about 70 minutes at 24 fps; make longer ones by extending (--video)
MAX_STEPS = 1000
MAX_FPS = 240


@dataclasses.dataclass(frozen=True)
class Geometry:
    """What sizes a model takes: the VAE's spatial compression, the DiT's (height, width) patch, latent channels."""

    vae_scale: int
    patch: tuple[int, int]
    z_dim: int


def folder_geometry(folder) -> Geometry:
    """The geometry of a model folder from its config files only (no weights are read)."""
    from skyreels_jax.models.dit.loader import DiTCheckpoint
    from skyreels_jax.models.vae import VAEConfig
    from skyreels_jax.models.vae.loader import config_from_diffusers

    if folder.layout == "converted":
        from skyreels_jax.checkpoints.converted import read_component
        from skyreels_jax.models.components import component_config

        dit, vae = (component_config(read_component(folder.root, n)) for n in ("transformer", "vae"))
    else:
        dit = DiTCheckpoint.open(folder.transformer).config
        vae_dir = Path(folder.vae)
        vae = (config_from_diffusers(json.loads((vae_dir / "config.json").read_text()))
               if (vae_dir / "config.json").exists() else VAEConfig())
    return Geometry(vae.spatial_scale, tuple(dit.patch_size[1:]), vae.z_dim)


def resolve_call(mode: str, defaults: dict, geometry: Geometry, *, prompt, negative_prompt=None, image=None,
                 end_image=None, video=None, video_frames: int | None = None, num_frames=None, height=None,
                 width=None, num_steps=None, guidance_scale=None, shift=None, seed=0, latents=None, fps=24,
                 df_args: dict, teacache_threshold=None) -> dict:
    """The call's values with the folder's defaults filled in, every one checked (ValueError in one line).

    video_frames: the length of the video to extend, where known (an array or a probed file)."""
    df = mode == "diffusion_forcing"
    pick = {k: defaults[k] if v is None else v
            for k, v in dict(num_frames=num_frames, height=height, width=width, guidance_scale=guidance_scale,
                             shift=shift).items()}
    out = dict(
        num_frames=values.integer("num_frames", pick["num_frames"], 1, MAX_DF_FRAMES if df else MAX_FRAMES,
                                  "" if df else " (longer videos: a diffusion-forcing model)"),
        height=values.integer("height", pick["height"], 1, MAX_SIZE),
        width=values.integer("width", pick["width"], 1, MAX_SIZE),
        num_steps=None if num_steps is None else values.integer("num_steps", num_steps, 1, MAX_STEPS),
        guidance_scale=values.real("guidance_scale", pick["guidance_scale"], 0.0, 100.0),
        shift=values.real("shift", pick["shift"], 0.0, 100.0, open_low=True),
        seed=values.seed(seed),
        fps=values.integer("fps", fps, 1, MAX_FPS),
    )
    if negative_prompt is not None:
        values.text("negative_prompt", negative_prompt)
    if teacache_threshold is not None:
        teacache_threshold = values.real("teacache_threshold", teacache_threshold, 0.0, float("inf"),
                                         " (0 never skips a step)")
    df_args = dict(df_args)
    given_base = df_args.get("base_num_frames")
    if given_base is None:
        df_args["base_num_frames"] = defaults.get("base_num_frames", 97)
    df_args["ar_step"] = values.integer("ar_step", df_args["ar_step"], 0, MAX_STEPS)
    df_args["causal_block_size"] = values.integer("causal_block_size", df_args["causal_block_size"], 1, MAX_DF_FRAMES)
    df_args["base_num_frames"] = values.integer("base_num_frames", df_args["base_num_frames"], 1, MAX_DF_FRAMES)
    if df_args["overlap_history"] is not None:
        df_args["overlap_history"] = values.integer("overlap_history", df_args["overlap_history"], 1, MAX_DF_FRAMES)
    df_args["addnoise_condition"] = values.real("addnoise_condition", df_args["addnoise_condition"], 0.0, 999.999,
                                                " (20 is recommended)")
    if df_args["overlap_mode"] not in ("latent", "pixel"):
        raise ValueError(f"overlap_mode must be 'latent' or 'pixel'; got {df_args['overlap_mode']!r}")
    from skyreels_jax.pipelines.diffusion_forcing import DF_DEFAULTS

    # check_call refuses DF options that differ from their defaults on other models; base's default is the folder's
    compared = {**df_args, "base_num_frames": DF_DEFAULTS["base_num_frames"] if given_base is None else given_base}
    check_call(mode, prompt, image, end_image, video, out["num_frames"], out["height"], out["width"], latents,
               geometry.z_dim, compared, teacache_threshold, geometry.vae_scale, geometry.patch)
    if df:
        steps = out["num_steps"] if out["num_steps"] is not None else defaults["num_steps"]
        windows = check_plan(out["num_frames"], df_args["base_num_frames"], df_args["overlap_history"],
                             df_args["causal_block_size"], df_args["ar_step"], steps, 1 if image is not None else 0,
                             video_frames)
        check_prompt_count(len(prompt) if isinstance(prompt, (list, tuple)) else 1, len(windows))
    return {**out, **df_args, "teacache_threshold": teacache_threshold}
