"""Diffusion forcing: every latent frame on its own noise level, synchronous or
asynchronous schedules, videos of any length by overlapping windows, start/end images, video
extension, prompt travel, and long runs that resume after a crash.

One jitted function runs one row of a window's timestep matrix: the DiT on the whole window
(CFG as a batch of 2 where the row needs it), guidance, then a per-frame solver step of the frames
the row updates. The matrix runs over the solver's model evaluations (Heun: two a step), and
ar_step counts solver steps.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from skyreels_jax.media import to_unit_range
from skyreels_jax.models.dit import fps_index
from skyreels_jax.nn.jit import jit
from skyreels_jax.parallel.placement import to_device
from skyreels_jax.pipelines.conditioning import decode_to_uint8
from skyreels_jax.pipelines.df_plan import check_plan, check_prompt_count, latent_count, window_plan
from skyreels_jax.pipelines.sampler import Sampler, guidance_arrays, make_sampler
from skyreels_jax.schedulers import get_solver, guide, init_guidance, sigmas_of, step_index

# The diffusion-forcing options of a pipeline call and their defaults (the original CLI's): the one place
# that DFSettings, the call's signature and checks, and the command line read them from.
DF_DEFAULTS = dict(ar_step=0, causal_block_size=1, base_num_frames=97, overlap_history=None, addnoise_condition=0.0,
                   overlap_mode="latent", causal_attention=False)


@dataclasses.dataclass(frozen=True)
class DFSettings:
    """What sampling one window needs: the schedule, guidance and the DF options that act per window."""

    num_steps: int
    shift: float
    guidance: float
    ar_step: int = DF_DEFAULTS["ar_step"]
    causal_block_size: int = DF_DEFAULTS["causal_block_size"]
    addnoise_condition: float = DF_DEFAULTS["addnoise_condition"]
    causal_attention: bool = DF_DEFAULTS["causal_attention"]  # also mask attention block-causally (as diffusers)
    sampler: Sampler | None = None  # solver, schedule, guidance (None: unipc, shift, CFG of the fields above)

    def resolved(self) -> Sampler:
        if self.sampler is not None:
            return self.sampler
        return make_sampler(num_steps=self.num_steps, shift=self.shift, guidance_scale=self.guidance)


def addnoise_key(seed: int, window: int, row: int) -> jax.Array:
    """The key of the noise added to the clean history at one row (reproducible, e.g. by tests)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 1_000_003 + window), row)


def solver_key(seed: int, window: int) -> jax.Array:
    """The key of a stochastic solver's noise in one window."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 2_000_003 + window)


@jit(static_argnums=(0, 2, 10), donate_argnums=(3, 14))
def _row(graphdef, params, scheduler, latents, state, timesteps, update, history, context, fps_ids, causal, addnoise,
         key, guidance, guidance_state=None):
    """One row: returns (latents, solver state, guidance state). scheduler: a SCHEDULERS name or solver."""
    solver = get_solver(scheduler) if isinstance(scheduler, str) else scheduler
    dit = nnx.merge(graphdef, params)
    batch, frames = context.shape[0], latents.shape[1]
    t = timesteps.astype(jnp.float32)
    noisy = history & (addnoise > 0)  # re-noise the clean history a little, on a copy
    a = addnoise / 1000.0
    x = jnp.where(noisy[None, :, None, None, None],
                  latents * (1 - a) + jax.random.normal(key, latents.shape) * a, latents)
    t = jnp.where(noisy, addnoise, t)
    v = dit.forward(jnp.broadcast_to(x, (batch, *x.shape[1:])), jnp.broadcast_to(t, (batch, frames)), context,
                    None, fps_ids, causal_block_size=causal)
    cond, uncond = (v[:1], v[1:]) if batch == 2 else (v, None)
    v, guidance_state = guide(guidance, guidance_state, cond, uncond, sample=latents, sigma=sigmas_of(state),
                              step=step_index(state), update_mask=update)
    return (*solver.step(state, v, latents, update_mask=update), guidance_state)


def sample_window(dit, latents, prefix: int, end_latent, context, fps_ids, s: DFSettings, seed: int, window: int,
                  progress: bool = True, stats: dict | None = None) -> jax.Array:
    """Denoise one window [1, T, h, w, C] whose first `prefix` frames are clean history. context is
    [2, L, D] (prompt, negative) where some row runs CFG's second pass, else [1, L, D]; stats, if
    given, has its "nfe" raised by the forwards this window runs."""
    sampler = s.resolved()
    length = latents.shape[1]
    if end_latent is not None:
        latents = jnp.concatenate([latents, end_latent], axis=1)
    timesteps, update, evaluation = window_plan(length, prefix, end_latent is not None, sampler.timesteps,
                                                s.ar_step * sampler.evals_per_step, s.causal_block_size)
    if np.issubdtype(timesteps.dtype, np.floating):
        timesteps = timesteps.astype(np.float32)  # float schedules (only "shift" truncates to integers)
    pair = [bool(sampler.uncond[e[e >= 0]].any()) for e in evaluation]  # rows that run the second pass
    if any(pair) and context.shape[0] != 2:
        raise ValueError("this sampler's guidance needs the negative prompt's context: pass [prompt, negative]")
    single = context[:1] if context.shape[0] == 2 and not all(pair) else context
    if stats is not None:
        stats["nfe"] = stats.get("nfe", 0) + len(pair) + sum(pair)
    key = solver_key(seed, window) if getattr(sampler.solver, "stochastic", False) else None
    state = jax.tree.map(to_device, sampler.init(latents.shape, per_frame=latents.shape[1], key=key))
    history = to_device(np.arange(latents.shape[1]) < prefix)
    causal = s.causal_block_size if s.causal_attention else None
    graphdef, params = nnx.split(dit)
    latents = jnp.array(latents, jnp.float32)  # a copy: the row donates its input
    pending, addnoise = None, to_device(s.addnoise_condition, np.float32)
    guidance = jax.tree.map(to_device, guidance_arrays(sampler.guidance))
    guidance_state = init_guidance(sampler.guidance, latents.shape)
    for r in tqdm(range(len(timesteps)), desc=f"window {window}", disable=not progress, leave=False):
        latents, state, guidance_state = _row(
            graphdef, params, sampler.static, latents, state, to_device(timesteps[r]), to_device(update[r]), history,
            context if pair[r] else single, fps_ids, causal, addnoise, addnoise_key(seed, window, r), guidance,
            guidance_state)
        if progress and pending is not None:
            pending.block_until_ready()  # the row before: real progress, and one row stays queued
        pending = state.step
    return latents[:, :length]


class WorkFolder:
    """Finished windows' latents on disk, so that a rerun of the same call continues after a crash."""

    def __init__(self, root: str | Path | None, identity: dict):
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.folder = None if root is None else Path(root) / key

    def load(self, index: int):
        path = None if self.folder is None else self.folder / f"window_{index:04d}.npy"
        return None if path is None or not path.exists() else to_device(np.load(path))

    def save(self, index: int, latents) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npy", dir=self.folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.asarray(latents))
        os.replace(tmp, self.folder / f"window_{index:04d}.npy")


def generate(dit, vae, encode_text, encode_video, *, prompts: list[str], negative: str, image, end_image, video,
             num_frames: int, height: int, width: int, settings: DFSettings, seed: int, latents, base_num_frames: int,
             overlap_history: int | None, fps: int, overlap_mode: str, work_dir, identity: dict,
             progress: bool = True, output: str = "frames", stats: dict | None = None) -> np.ndarray:
    """The generated frames, uint8 [F, H, W, 3] (for an extension: the new frames only); with
    output="latents" the whole video's final latents, float32 [1, F_lat, h, w, z] (for an extension
    they start with the overlap history taken from the video). stats gets "nfe" (model forwards).

    image / end_image: float frames [H, W, 3] in [-1, 1] at the video size (or None); video: the
    uint8 frames [N, H, W, 3] to extend (or None). encode_text(list of prompts) -> [n, 512, D];
    encode_video(frames [1, N, H, W, 3] in [-1, 1]) -> latents [1, n, h, w, z]; vae decodes.
    """
    if overlap_mode not in ("latent", "pixel"):
        raise ValueError(f"overlap_mode must be 'latent' or 'pixel', got {overlap_mode!r}")
    first_prefix = 1 if image is not None else 0
    sampler = settings.resolved()
    windows = check_plan(num_frames, base_num_frames, overlap_history, settings.causal_block_size,
                         settings.ar_step, sampler.num_steps, first_prefix, None if video is None else len(video))
    check_prompt_count(len(prompts), len(windows))
    settings = dataclasses.replace(settings, sampler=sampler)
    contexts = _contexts(encode_text, prompts, negative, bool(sampler.uncond.any()), len(windows))
    fps_ids = (fps_index(np.full((contexts[0].shape[0],), fps)) if dit.config.inject_sample_info else None)

    z, s = vae.config.z_dim, vae.config.spatial_scale
    shape = (1, latent_count(num_frames), height // s, width // s, z)
    # the whole video's latents: noise until a window writes its frames. In latent overlap mode a window's
    # history is the frames the window before wrote last, already in place; the track is decoded at the end.
    track = jax.random.normal(jax.random.PRNGKey(seed), shape) if latents is None else to_device(latents, np.float32)
    def encode(frames):
        return encode_video(frames[None])  # [N, H, W, 3] -> [1, n, h, w, z]
    start = (encode(image[None]) if image is not None else
             encode(to_unit_range(video[-overlap_history:])) if video is not None else None)
    end = encode(end_image[None]) if end_image is not None else None

    work = WorkFolder(work_dir, identity)
    pixels = []
    for w in tqdm(windows, desc="windows", disable=not progress or len(windows) == 1):
        out = work.load(w.index)
        if out is None:
            x = _window_of(track, w.start, w.length)
            if w.index == 0 and start is not None:
                x = _put_frames(x, start, 0)
            elif w.index > 0 and overlap_mode == "pixel":
                x = _put_frames(x, encode(to_unit_range(
                    np.concatenate(([video] if video is not None else []) + pixels)[-overlap_history:])), 0)
            out = sample_window(dit, x, w.prefix, end if w is windows[-1] else None, contexts[w.index], fps_ids,
                                settings, seed, w.index, progress, stats)
            work.save(w.index, out)
        track = _put_frames(track, out, w.start)  # its history frames come back unchanged (never updated)
        if overlap_mode == "pixel":  # the original: decode each window, drop the frames it re-generated
            decoded = decode_to_uint8(vae, out)
            pixels.append(decoded if w.index == 0 and video is None else decoded[overlap_history:])
    if output == "latents":
        return np.asarray(track, np.float32)
    if overlap_mode == "latent":
        frames = decode_to_uint8(vae, track)
        pixels = [frames if video is None else frames[overlap_history:]]
    return np.concatenate(pixels)


@functools.partial(jax.jit, static_argnums=2)
def _window_of(track, start, length: int):
    """track[:, start:start + length], compiled once per length (start is traced)."""
    return jax.lax.dynamic_slice_in_dim(track, start, length, axis=1)


@functools.partial(jax.jit, donate_argnums=0)
def _put_frames(latents, frames, start):
    """latents[:, start:start + len(frames)] = frames, in place (latents is donated)."""
    return jax.lax.dynamic_update_slice_in_dim(latents, frames.astype(latents.dtype), start, axis=1)


def _contexts(encode_text, prompts, negative, with_negative: bool, count):
    """Per window: [2, L, D] (prompt, negative) when the guidance runs a second pass, else [1, L, D]."""
    unique = list(dict.fromkeys(prompts))
    texts = unique + ([negative] if with_negative else [])
    encoded = encode_text(texts)
    by_prompt = {p: encoded[i:i + 1] for i, p in enumerate(unique)}
    tail = [encoded[-1:]] if with_negative else []
    per_window = prompts if len(prompts) == count else prompts * count
    return [jnp.concatenate([by_prompt[p]] + tail) for p in per_window]

