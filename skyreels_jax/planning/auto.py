"""`generate --mesh auto`: the planner's choice on the devices at hand, for a model folder and a video size.

The same candidates and the same test as `skyreels-jax plan`, with the folder's own component configs
and the devices' own memory (`bytes_limit` where the runtime reports it; on CPU, the host's memory
shared among the devices).
"""
from __future__ import annotations

import dataclasses
import os

from skyreels_jax.planning.plan import Layout, choose

MODES = {"text_to_video": "T2V", "image_to_video": "I2V", "first_last_frame": "I2V", "diffusion_forcing": "DF"}


def folder_configs(folder, dtype) -> dict:
    """{component: config} of a model folder (pipelines.inspect_folder), the networks in `dtype`, the VAE as
    stored; reads configs and headers only."""
    from skyreels_jax.checkpoints.converted import read_component
    from skyreels_jax.models.components import component_config, find_components, open_source

    names = ["transformer", "text_encoder", "vae"] + (["image_encoder"] if folder.image_encoder else [])
    if folder.layout == "converted":
        configs = {n: component_config(read_component(folder.root, n)) for n in names}
    else:
        found = find_components(folder.root)
        configs = {n: open_source(n, found[n]).config for n in names}
    name = dtype.name if hasattr(dtype, "name") else str(dtype)
    return {n: c if n == "vae" else dataclasses.replace(c, dtype=name, param_dtype=name) for n, c in configs.items()}


def device_memory(device) -> int:
    """Bytes one device may hold: the runtime's limit, or on CPU the host's memory over its devices."""
    import jax

    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // max(1, jax.local_device_count())


def auto_layout(folder, dtype, video: tuple[int, int, int], devices, low_memory: bool = False,
                report=None, quantize: str | None = None) -> Layout:
    """The layout of `devices` (one data-parallel group) with the most data parallelism whose programs fit."""
    model = folder_configs(folder, dtype), MODES[folder.mode], video
    chosen, tried = choose(model, len(devices), 1, lambda n: devices, device_memory(devices[0]), low_memory, report,
                           quantize=quantize)
    if chosen is None:
        frames, height, width = video
        raise ValueError(f"no mesh of {len(devices)} device(s) fits this model at {frames} frames of {height}x{width}: "
                         "try --low-memory, fewer frames or a smaller size, or more devices")
    return chosen
