"""The programs a generation runs, lowered for a mesh from abstract weights (nothing is allocated).

Each builder returns a `Program`: its name, a `lower()` to call under `jax.set_mesh(mesh)`, and the
bytes per chip of the weights that stay loaded beside it while it runs (the other networks of the
pipeline; the encoders are freed after use with --low-memory).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from skyreels_jax.models import DiT, WanVAE
from skyreels_jax.models.clip import CLIPVision
from skyreels_jax.models.quantization import quantize as quantized
from skyreels_jax.models.umt5 import UMT5Encoder
from skyreels_jax.parallel import state_shardings
from skyreels_jax.parallel.memory import param_bytes_per_device
from skyreels_jax.pipelines import diffusion_forcing, sampling
from skyreels_jax.pipelines.conditioning import _decode_uint8
from skyreels_jax.pipelines.df_plan import window_schedule
from skyreels_jax.pipelines.diffusion_forcing import DF_DEFAULTS
from skyreels_jax.pipelines.sampler import guidance_arrays
from skyreels_jax.schedulers import SCHEDULERS, flow_timesteps, flow_unipc, make_guidance

STEPS, SHIFT = 50, 8.0  # the schedule's length only sizes the solver's small tables


@dataclasses.dataclass(frozen=True)
class Program:
    name: str
    lower: Callable[[], object]   # -> jax.stages.Lowered; call under jax.set_mesh(mesh)
    resident: int                 # bytes per chip of the other networks' weights, loaded meanwhile
    key: tuple = ()               # what the compiled program depends on besides the mesh (for a cache)
    weights: int = 0              # bytes per chip of its own network's weights


def abstract_on(make: Callable[[], nnx.Module], mesh, replicated: bool = False):
    """(graphdef, state) of `make()` without building it: ShapeDtypeStructs placed by the rule table (or
    whole on every chip)."""
    graphdef, state = nnx.split(nnx.eval_shape(make))
    shardings = state_shardings(state, mesh)
    for path, var in nnx.to_flat_state(state):
        value = var.get_value()
        sharding = NamedSharding(mesh, P()) if replicated else shardings[path]
        var.set_value(jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding))
    return graphdef, state


def weights_per_chip(make: Callable[[], nnx.Module], mesh, replicated: bool = False) -> int:
    module = nnx.eval_shape(make)
    if replicated:
        return sum(v.get_value().size * v.get_value().dtype.itemsize for _, v in nnx.to_flat_state(nnx.state(module)))
    return param_bytes_per_device(module, mesh)


def _whole(mesh, tree):
    """ShapeDtypeStructs of arrays (or shapes) whole on every chip."""
    rep = NamedSharding(mesh, P())

    def spec(a):
        dtype = a.dtype if isinstance(a, jax.ShapeDtypeStruct) else np.asarray(a).dtype
        return jax.ShapeDtypeStruct(np.shape(a), dtype, sharding=rep)
    return jax.tree.map(spec, tree)


def latent_shape(frames: int, height: int, width: int, channels: int = 16) -> tuple[int, int, int, int, int]:
    return (1, (frames - 1) // 4 + 1, height // 8, width // 8, channels)


class Pipeline:
    """The networks of one generation, abstract, on a mesh; `programs()` lists what it compiles.

    `configs` holds the component configs by name (transformer, text_encoder, vae, and image_encoder for
    image models), as a model folder stores them; `mode` is "T2V", "I2V" or "DF". quantize (models.quantization)
    applies to the DiT and UMT5, as load_pipeline(quantize=) does."""

    def __init__(self, configs: dict, mode: str, video: tuple[int, int, int], mesh, low_memory: bool = False,
                 quantize: str | None = None):
        self.config, self.mode, self.mesh, self.low_memory = configs["transformer"], mode, mesh, low_memory
        self.quantize = quantize
        self.text, self.vae, self.image = configs["text_encoder"], configs["vae"], configs.get("image_encoder")
        self.latents = latent_shape(*video, self.vae.z_dim)
        self.makers = {
            "dit": lambda: quantized(DiT(self.config, rngs=nnx.Rngs(0)), quantize),
            "umt5": lambda: quantized(UMT5Encoder(self.text, rngs=nnx.Rngs(0)), quantize),
            "vae_decoder": lambda: WanVAE(self.vae, rngs=nnx.Rngs(0), parts=("decoder",)),
        }
        if mode == "I2V":
            self.makers["clip"] = lambda: CLIPVision(configs["image_encoder"], rngs=nnx.Rngs(0))
            self.makers["vae_encoder"] = lambda: WanVAE(self.vae, rngs=nnx.Rngs(0), parts=("encoder",))
        self.weights = {name: weights_per_chip(make, mesh, replicated=name.startswith("vae"))
                        for name, make in self.makers.items()}

    def resident(self, running: str) -> int:
        """Weights per chip of the networks other than `running` that are loaded while it runs."""
        encoders = ("umt5", "clip", "vae_encoder")
        return sum(b for name, b in self.weights.items()
                   if name != running and not (self.low_memory and name in encoders))

    def programs(self) -> list[Program]:
        step = self.df_window_step() if self.mode == "DF" else self.denoise_step()
        return [step, self.vae_decode(), self.text_encode()]

    def _dit(self):
        return abstract_on(self.makers["dit"], self.mesh)

    def _context(self):
        """The text context of the prompt and the negative prompt, as the text encoder returns it."""
        return jax.ShapeDtypeStruct((2, self.text.max_length, self.config.text_dim), jnp.dtype(self.text.dtype))

    def _image_context(self):
        """The image encoder's tokens as the DiT takes them: both images' for a first-last-frame model."""
        images = 2 if self.config.variant == "flf2v" else 1
        return jax.ShapeDtypeStruct((1, images * self.image.num_tokens, self.config.image_dim),
                                    jnp.dtype(self.image.dtype))

    def denoise_step(self) -> Program:
        """One solver step with CFG (the pair as one batch of 2), as pipelines/sampling.py runs it."""
        mesh, shape, cfg = self.mesh, self.latents, self.config
        image = self.mode == "I2V"

        def lower():
            graphdef, params = self._dit()
            state = _whole(mesh, SCHEDULERS["unipc"].init(STEPS, SHIFT, shape))
            args = _whole(mesh, dict(latents=np.empty(shape, np.float32),
                                     context=self._context(), image=self._image_context() if image else None,
                                     condition=np.empty((*shape[:4], cfg.in_dim - shape[4]), np.float32),
                                     guidance=guidance_arrays(make_guidance("cfg", 5.0))))
            return sampling._step.lower(graphdef, params, "unipc", args["latents"], state, args["context"],
                                        args["image"], args["condition"] if image else None, args["guidance"])
        return Program(f"{self.mode} step, CFG", lower, self.resident("dit"),
                       (self.config, self.text, self.image, self.latents, self.quantize), self.weights["dit"])

    def df_window_step(self) -> Program:
        """One row of a diffusion-forcing window (per-frame timesteps, CFG), as pipelines/diffusion_forcing.py."""
        mesh, shape = self.mesh, self.latents
        frames = shape[1]

        def lower():
            graphdef, params = self._dit()
            state = _whole(mesh, flow_unipc.init(STEPS, SHIFT, shape, per_frame=frames, df_alias=True))
            timesteps, update = window_schedule(frames, 0, False, flow_timesteps(STEPS, SHIFT),
                                                DF_DEFAULTS["ar_step"], DF_DEFAULTS["causal_block_size"])
            fps = np.zeros((2,), np.int32) if self.config.inject_sample_info else None
            args = _whole(mesh, dict(latents=np.empty(shape, np.float32), timesteps=timesteps[0].astype(np.int32),
                                     update=update[0], history=np.zeros(frames, bool), fps=fps,
                                     addnoise=np.float32(20.0), key=np.zeros(2, np.uint32),
                                     guidance=guidance_arrays(make_guidance("cfg", 6.0))))
            context = _whole(mesh, self._context())
            return diffusion_forcing._row.lower(graphdef, params, "unipc", args["latents"], state, args["timesteps"],
                                                args["update"], args["history"], context, args["fps"], None,
                                                args["addnoise"], args["key"], args["guidance"])
        return Program("DF window step, CFG", lower, self.resident("dit"),
                       (self.config, self.text, self.image, self.latents, self.quantize), self.weights["dit"])

    def vae_decode(self) -> Program:
        return vae_decode(self.vae, self.latents, self.mesh, self.resident("vae_decoder"))

    def text_encode(self) -> Program:
        """UMT5 on the prompt and the negative prompt."""
        mesh = self.mesh

        def lower():
            from skyreels_jax.nn.jit import _apply

            graphdef, state = abstract_on(self.makers["umt5"], mesh)
            ids = _whole(mesh, np.zeros((2, self.text.max_length), np.int32))
            return _apply.lower(graphdef, state, "__call__", ids, ids)
        return Program("UMT5 encode", lower, self.resident("umt5"), (self.text, self.quantize), self.weights["umt5"])


def vae_decode(config, latents: tuple, mesh, resident: int = 0) -> Program:
    """The decode of a window's latents to uint8 frames, split over the mesh as the pipelines split it."""
    def lower():
        graphdef, state = abstract_on(lambda: WanVAE(config, rngs=nnx.Rngs(0), parts=("decoder",)), mesh,
                                      replicated=True)
        return _decode_uint8.lower(graphdef, state, _whole(mesh, np.empty(latents, np.float32)))
    return Program("VAE decode", lower, resident, (config, latents))
