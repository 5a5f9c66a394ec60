"""load_pipeline and the pipeline call: prompt (and images or a video) in, uint8 video out."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from skyreels_jax.hub import resolve
from skyreels_jax.media import load_image, load_video, resize_crop, to_unit_range
from skyreels_jax.models.clip import load_image_encoder
from skyreels_jax.models.components import load_converted
from skyreels_jax.models.dit.loader import check_overrides, load_transformer_cached
from skyreels_jax.models.dit.lora_files import merge_loras
from skyreels_jax.models.dit.lora_runtime import LORA_MODES, attach_loras, set_lora_strengths
from skyreels_jax.models.quantization import quantization_of
from skyreels_jax.models.quantization import quantize as quantize_model
from skyreels_jax.models.umt5 import load_text_encoder
from skyreels_jax.models.vae import load_vae
from skyreels_jax.nn.quant import check_mode
from skyreels_jax.parallel.placement import to_device
from skyreels_jax.pipelines import diffusion_forcing
from skyreels_jax.pipelines.call_args import Geometry, resolve_call
from skyreels_jax.pipelines.components import ModelFolder, inspect_folder
from skyreels_jax.pipelines.conditioning import decode_to_uint8, image_condition
from skyreels_jax.pipelines.diffusion_forcing import DF_DEFAULTS
from skyreels_jax.pipelines.sampler import make_sampler
from skyreels_jax.pipelines.sampling import denoise, denoise_key


class Lazy:
    """A component loaded on first use, and optionally freed after each call to save memory."""

    def __init__(self, load: Callable[[], object]):
        self._load, self._value = load, None

    def get(self):
        if self._value is None:
            self._value = self._load()
        return self._value

    def free(self) -> None:
        if self._value is not None and hasattr(self._value, "close"):
            self._value.close()
        self._value = None


def _under_mesh(method):
    """Run a Pipeline method with jax.set_mesh(self.mesh) when the pipeline has a mesh."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with contextlib.nullcontext() if self.mesh is None else jax.set_mesh(self.mesh):
            return method(self, *args, **kwargs)
    return wrapper


@dataclasses.dataclass
class Pipeline:
    """A loaded model folder: call it with a prompt (and images) to get a uint8 video [F, H, W, 3]."""

    folder: ModelFolder
    dit: object
    vae: object                  # the VAE's decoder half where vae_encoder is given, else the whole VAE
    text_encoder: Lazy
    image_encoder: Lazy | None
    scheduler: str = "unipc"
    low_memory: bool = False     # free the encoders after each use (they reload on the next call)
    mesh: Mesh | None = None     # the mesh the weights live on; calls run under it (sequence parallel needs it)
    vae_encoder: Lazy | None = None  # the VAE's encoder half, loaded on the first image/video to encode
    stats: dict = dataclasses.field(default_factory=dict)  # about the last call (e.g. teacache_skipped)
    quantize: str | None = None  # the DiT's and text encoder's quantization (models.quantization)

    @property
    def mode(self) -> str:
        return self.folder.mode

    def encode_text(self, prompts: list[str]):
        context = self.text_encoder.get().encode(prompts)
        if self.low_memory:
            self.text_encoder.free()
        return context

    def set_lora_strengths(self, strengths) -> None:
        """New strengths for the LoRA files loaded with lora_mode="runtime", in their order; the next call uses
        them without reloading or recompiling."""
        set_lora_strengths(self.dit, strengths)

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.vae.config.spatial_scale, tuple(self.dit.config.patch_size[1:]), self.vae.config.z_dim)

    @property
    def encoding_vae(self):
        """The VAE that encodes images and videos: its encoder half, loaded on first use. A call
        without an image or a video to extend never loads it (it is about 40 % of the VAE)."""
        return self.vae if self.vae_encoder is None else self.vae_encoder.get()

    def _release_encoding_vae(self) -> None:
        if self.low_memory and self.vae_encoder is not None:
            self.vae_encoder.free()

    @_under_mesh
    def __call__(self, prompt: str | list[str], negative_prompt: str | None = None, image=None, end_image=None,
                 video=None, num_frames: int | None = None, height: int | None = None, width: int | None = None,
                 num_steps: int | None = None,
                 guidance_scale: float | None = None, shift: float | None = None, seed: int = 0, latents=None,
                 ar_step: int = DF_DEFAULTS["ar_step"], causal_block_size: int = DF_DEFAULTS["causal_block_size"],
                 base_num_frames: int | None = None,
                 overlap_history: int | None = DF_DEFAULTS["overlap_history"],
                 addnoise_condition: float = DF_DEFAULTS["addnoise_condition"], fps: int = 24,
                 overlap_mode: str = DF_DEFAULTS["overlap_mode"],
                 causal_attention: bool = DF_DEFAULTS["causal_attention"], work_dir=None,
                 progress: bool = True, teacache_threshold: float | None = None, scheduler=None, schedule=None,
                 guidance=None, output: str = "frames") -> np.ndarray:
        """See docs/api.md. For diffusion-forcing models, work_dir keeps finished windows so that a rerun
        of the same call after a crash continues where it stopped. teacache_threshold (text/image-
        to-video only; None: off) skips the DiT's block stack on steps whose input changed by less
        (pipelines.step_cache); `self.stats["teacache_skipped"]` then says how many steps it skipped.

        scheduler (default: the pipeline's), schedule and guidance choose the sampler (pipelines.sampler);
        `self.stats["sampler"]` describes it and `self.stats["nfe"]` counts the model forwards run.
        output="latents" returns the final latents, float32 [1, F_lat, h, w, z], instead of frames."""
        df_args = dict(ar_step=ar_step, causal_block_size=causal_block_size, base_num_frames=base_num_frames,
                       overlap_history=overlap_history, addnoise_condition=addnoise_condition,
                       overlap_mode=overlap_mode, causal_attention=causal_attention)
        if output not in ("frames", "latents"):
            raise ValueError(f"output must be 'frames' or 'latents', got {output!r}")
        frames_given = None if video is None or isinstance(video, (str, Path)) else len(video)
        call = resolve_call(self.mode, self.folder.defaults, self.geometry, prompt=prompt,
                            negative_prompt=negative_prompt, image=image, end_image=end_image, video=video,
                            video_frames=frames_given, num_frames=num_frames, height=height, width=width,
                            num_steps=num_steps, guidance_scale=guidance_scale, shift=shift, seed=seed,
                            latents=latents, fps=fps, df_args=df_args, teacache_threshold=teacache_threshold)
        num_frames, height, width, seed, fps = (call[k] for k in ("num_frames", "height", "width", "seed", "fps"))
        guidance_scale, shift, base_num_frames = call["guidance_scale"], call["shift"], call["base_num_frames"]
        ar_step, causal_block_size = call["ar_step"], call["causal_block_size"]
        overlap_history, addnoise_condition = call["overlap_history"], call["addnoise_condition"]
        self.stats = {"call": call}  # what this call ran with, the folder's defaults filled in
        sampler = make_sampler(self.scheduler if scheduler is None else scheduler, schedule, guidance,
                               num_steps=num_steps, shift=shift, guidance_scale=guidance_scale,
                               default_steps=self.folder.defaults["num_steps"])
        num_steps, guidance = sampler.num_steps, sampler.guidance.scale
        self.stats["sampler"] = sampler.describe()
        negative = self.folder.defaults["negative_prompt"] if negative_prompt is None else negative_prompt
        first = None if image is None else resize_crop(load_image(image), height, width)
        last = None if end_image is None else resize_crop(load_image(end_image), height, width)

        if self.mode == "diffusion_forcing":
            frames = None if video is None else load_video(video, height, width)
            settings = diffusion_forcing.DFSettings(num_steps, shift, guidance, ar_step, causal_block_size,
                                                    addnoise_condition, causal_attention, sampler)
            identity = dict(model=str(self.folder.root), prompt=prompt, negative=negative, settings=settings,
                            seed=seed, num_frames=num_frames, size=(height, width), base=base_num_frames,
                            overlap=overlap_history, fps=fps, mode=overlap_mode,
                            inputs=[_digest(x) for x in (first, last, frames, latents)])
            out = diffusion_forcing.generate(
                self.dit, self.vae, self.encode_text, lambda frames: self.encoding_vae.encode(frames),
                prompts=[prompt] if isinstance(prompt, str) else list(prompt),
                negative=negative, image=None if first is None else to_unit_range(first),
                end_image=None if last is None else to_unit_range(last),
                video=frames, num_frames=num_frames, height=height,
                width=width, settings=settings, seed=seed, latents=latents, base_num_frames=base_num_frames,
                overlap_history=overlap_history, fps=fps, overlap_mode=overlap_mode, work_dir=work_dir,
                identity=identity, progress=progress, output=output, stats=self.stats)
            self._release_encoding_vae()
            return out if frames is None or output == "latents" else np.concatenate([frames, out])

        s = self.vae.config.spatial_scale
        shape = (1, (num_frames - 1) // 4 + 1, height // s, width // s, self.vae.config.z_dim)
        noise = (jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32) if latents is None
                 else to_device(latents, np.float32))
        context = self.encode_text([prompt, negative] if sampler.uncond.any() else [prompt])
        image_context = condition = None
        if self.mode in ("image_to_video", "first_last_frame"):
            tokens = self.image_encoder.get().encode([first] if last is None else [first, last])  # [1|2, 257, 1280]
            if self.low_memory:
                self.image_encoder.free()
            image_context = tokens.reshape(1, -1, tokens.shape[-1])  # FLF2V: both images' tokens
            condition = image_condition(self.encoding_vae, first, last, num_frames)
            self._release_encoding_vae()
        out = denoise(self.dit, noise, context, num_steps, shift, guidance, image_context=image_context,
                      condition=condition, progress=progress, teacache_threshold=teacache_threshold, stats=self.stats,
                      sampler=sampler, key=denoise_key(seed) if getattr(sampler.solver, "stochastic", False) else None)
        return np.asarray(out, np.float32) if output == "latents" else decode_to_uint8(self.vae, out)


def _digest(array) -> str | None:
    import hashlib

    return None if array is None else hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()[:16]


def load_pipeline(path_or_hub_id: str | Path, dtype=None, *, mesh=None, cache: bool = True,
                  scheduler: str | None = None, low_memory: bool = False,
                  dit_overrides: Mapping | None = None, quantize: str | None = None,
                  loras=(), lora_mode: str = "merge", allow_unmatched_lora_keys: bool = False) -> Pipeline:
    """A pipeline from a diffusers pipeline folder, an original SkyReels-V2 folder, or a Hub id.

    dtype is the DiT's and encoders' dtype (default bfloat16 on accelerators, float32 on CPU);
    the VAE runs in float32 as in the reference. With cache=True the converted DiT is kept as
    an Orbax checkpoint so that the next start skips the conversion (see checkpoints.cache).
    With a mesh (skyreels_jax.parallel.make_mesh) the DiT and encoders are sharded over it and
    every call runs under it. scheduler (None: the folder's generation_defaults.json names it, else
    "unipc") is the default solver of the calls. dit_overrides sets DiTConfig fields that do not change the weights
    (models.dit.loader.RUNTIME_FIELDS), e.g. {"sequence_parallel": "ulysses"} with a mesh whose context > 1.
    quantize ("int8", "fp8", "int8-dynamic", "fp8-dynamic") quantizes the DiT's and the text encoder's block
    weights (models.quantization); the VAE and the image encoder stay float.
    loras: [(LoRA file, strength), ...] (models.dit.lora_files: diffusers/PEFT, kohya/ComfyUI and full-difference
    layouts). lora_mode "merge" adds them into the DiT's float weights before any quantization: the same speed
    as without. "runtime" keeps their factors beside the weights (models.dit.lora_runtime), float or quantized,
    so that `set_lora_strengths` switches strengths between calls. A LoRA key that matches no layer is an error
    unless allow_unmatched_lora_keys.
    """
    check_mode(quantize)
    if lora_mode not in LORA_MODES:
        raise ValueError(f"lora_mode {lora_mode!r}: choose one of {', '.join(LORA_MODES)}")
    folder = inspect_folder(resolve(path_or_hub_id))
    if scheduler is None:   # the folder's own (a distilled model's generation_defaults.json), else UniPC
        scheduler = folder.defaults.get("scheduler", "unipc")
    merge = bool(loras) and lora_mode == "merge"
    dit_quantize = None if merge else quantize   # LoRAs merge into float weights, quantized afterwards

    def with_loras(dit):
        if not loras:
            return dit
        if not merge:
            return attach_loras(dit, loras, allow_unmatched_lora_keys)
        return quantize_model(merge_loras(dit, loras, allow_unmatched_lora_keys), quantize)

    if dtype is None:
        dtype = jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    if folder.layout == "converted":  # Orbax checkpoints from `python -m convert`: restored onto the mesh
        def load(name, dt=dtype, **kw):
            return load_converted(folder.root, name, dt, **kw)
        dit = with_loras(load("transformer", mesh=mesh, quantize=dit_quantize, **check_overrides(dit_overrides)))
        return Pipeline(folder, dit, load("vae", jnp.float32, parts=("decoder",)),
                        Lazy(lambda: load("text_encoder", mesh=mesh, quantize=quantize)),
                        Lazy(lambda: load("image_encoder", mesh=mesh)) if folder.image_encoder else None,
                        scheduler, low_memory, mesh, Lazy(lambda: load("vae", jnp.float32, parts=("encoder",))),
                        quantize=quantization_of(dit))   # a quantized folder runs in its stored mode
    dit = with_loras(load_transformer_cached(folder.transformer, dtype, mesh=mesh, cache=cache, quantize=dit_quantize,
                                             **check_overrides(dit_overrides)))
    vae = load_vae(folder.vae, parts=("decoder",))
    vae_encoder = Lazy(lambda: load_vae(folder.vae, parts=("encoder",)))
    text_encoder = Lazy(lambda: load_text_encoder(folder.text_encoder, dtype, mesh=mesh, quantize=quantize))
    image_encoder = (Lazy(lambda: load_image_encoder(folder.image_encoder, dtype, mesh=mesh))
                     if folder.image_encoder else None)
    return Pipeline(folder, dit, vae, text_encoder, image_encoder, scheduler, low_memory, mesh, vae_encoder,
                    quantize=quantize)
