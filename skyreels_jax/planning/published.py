"""The published SkyReels-V2 models as the planner builds them: architecture, mode and video size.

The FLF2V models are I2V models with a position table for two images' tokens; their programs are
the I2V ones.
"""
from __future__ import annotations

ARCHITECTURES = {"1.3B": dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30),
                 "14B": dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)}
RESOLUTIONS = {"540P": (97, 544, 960), "720P": (121, 720, 1280)}  # frames, height, width (the recommended)
PUBLISHED = ("T2V-1.3B-540P", "T2V-14B-540P", "T2V-14B-720P", "I2V-1.3B-540P", "I2V-14B-540P", "I2V-14B-720P",
             "DF-1.3B-540P", "DF-14B-540P", "DF-14B-720P")


def parse_model(name: str, resolution: str | None = None) -> tuple[str, str, str]:
    """(mode "T2V"/"I2V"/"DF", size "1.3B"/"14B", resolution) of a published name such as "T2V-14B-720P"
    (a "Skywork/SkyReels-V2-" prefix and a "-Diffusers" suffix are fine); `resolution` overrides its own."""
    short = name.rsplit("/", 1)[-1].removeprefix("SkyReels-V2-").removesuffix("-Diffusers")
    parts = short.split("-")
    if len(parts) != 3 or parts[0] not in ("T2V", "I2V", "DF", "FLF2V") or parts[1] not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(PUBLISHED)}")
    resolution = resolution or parts[2]
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}: use {' or '.join(RESOLUTIONS)}")
    return ("I2V" if parts[0] == "FLF2V" else parts[0]), parts[1], resolution


def configs(mode: str, size: str, dtype: str = "bfloat16") -> dict:
    """The component configs of a published model, its networks in `dtype` (the VAE in float32, as loaded)."""
    from skyreels_jax.models import DiTConfig, VAEConfig
    from skyreels_jax.models.clip import CLIPVisionConfig
    from skyreels_jax.models.umt5 import UMT5Config

    image = dict(in_dim=36, image_dim=1280) if mode == "I2V" else {}
    fps = dict(inject_sample_info=True) if (mode, size) == ("DF", "1.3B") else {}
    out = dict(transformer=DiTConfig(**ARCHITECTURES[size], **image, **fps, dtype=dtype, param_dtype=dtype),
               text_encoder=UMT5Config(dtype=dtype, param_dtype=dtype), vae=VAEConfig())
    if mode == "I2V":
        out["image_encoder"] = CLIPVisionConfig(dtype=dtype, param_dtype=dtype)
    return out
