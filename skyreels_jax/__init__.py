"""skyreels_jax: SkyReels-V2 video generation in JAX/Flax. The stable public names are below (docs/api.md).

Importing the package changes no process-wide state. The `skyreels-jax` command turns on the persistent
compilation cache and the heap trim; a library user calls `enable_compilation_cache()` and
`trim_heap_after_compiles()` where wanted.
"""
from skyreels_jax import parallel, schedulers
from skyreels_jax.captioner import load_captioner
from skyreels_jax.checkpoints import CheckpointError
from skyreels_jax.compilation_cache import enable_compilation_cache
from skyreels_jax.enhancer import PromptEnhancer, load_prompt_enhancer
from skyreels_jax.heap import trim_heap_after_compiles
from skyreels_jax.models.clip import load_image_encoder
from skyreels_jax.models.dit import DiT, DiTConfig, load_transformer
from skyreels_jax.models.quantization import quantize
from skyreels_jax.models.umt5 import load_text_encoder
from skyreels_jax.models.vae import VAEConfig, WanVAE, load_vae
from skyreels_jax.pipelines import Pipeline, load_pipeline

__all__ = ["CheckpointError", "DiT", "DiTConfig", "Pipeline", "PromptEnhancer", "VAEConfig", "WanVAE",
           "enable_compilation_cache", "load_captioner", "load_image_encoder", "load_pipeline", "load_prompt_enhancer",
           "load_text_encoder", "load_transformer", "load_vae", "parallel", "quantize", "schedulers",
           "trim_heap_after_compiles"]
__version__ = "0.1.0"
