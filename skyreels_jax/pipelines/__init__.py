"""Pipelines: text-to-video, image-to-video, first/last frame and diffusion forcing."""
from skyreels_jax.pipelines.pipeline import Pipeline, load_pipeline

__all__ = ["Pipeline", "load_pipeline"]
