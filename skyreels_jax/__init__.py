"""skyreels_jax: SkyReels-V2 video generation in JAX/Flax. The stable public names are below (see API.md)."""
from skyreels_jax import parallel, schedulers
from skyreels_jax.captioner import load_captioner
from skyreels_jax.compilation_cache import enable_compilation_cache
from skyreels_jax.checkpoints import CheckpointError
from skyreels_jax.enhancer import PromptEnhancer, load_prompt_enhancer
from skyreels_jax.heap import trim_heap_after_compiles
from skyreels_jax.models.clip import load_image_encoder
from skyreels_jax.models.dit import DiT, DiTConfig, load_transformer
from skyreels_jax.models.umt5 import load_text_encoder
from skyreels_jax.models.vae import VAEConfig, WanVAE, load_vae
from skyreels_jax.pipelines import Pipeline, load_pipeline

__all__ = ["CheckpointError", "DiT", "DiTConfig", "Pipeline", "PromptEnhancer", "VAEConfig", "WanVAE",
           "enable_compilation_cache", "load_captioner", "load_image_encoder", "load_pipeline", "load_prompt_enhancer", "load_text_encoder",
           "load_transformer", "load_vae", "parallel", "schedulers"]
__version__ = "0.1.0"

enable_compilation_cache()  # only where $SKYREELS_JAX_CACHE_DIR is set
trim_heap_after_compiles()  # unless $SKYREELS_JAX_TRIM_HEAP=0
