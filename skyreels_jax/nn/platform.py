"""The platform a program is compiled for: that of the devices of the mesh in context, else the default
backend's. A program compiled from a CPU host for a TPU topology (the planner) is a TPU program, and
chooses its kernels and compiler options as one."""
from __future__ import annotations

import jax


def current_platform() -> str:
    """'cpu', 'cuda', 'rocm' or 'tpu': the platform of the devices of the mesh set with `jax.set_mesh`
    (inside jit and shard_map too), else of the default backend."""
    mesh = jax.sharding.get_abstract_mesh()
    device = None if mesh.empty else mesh.abstract_device
    if device is not None:
        platform = device.platform
    else:
        platform, device = jax.default_backend(), jax.devices()[0]
    if platform in ("gpu", "cuda", "rocm"):
        client = getattr(device, "client", None)  # a mesh's abstract device has none: its kind names the vendor
        vendor = client.platform_version if client is not None else device.device_kind
        return "rocm" if any(w in vendor.lower() for w in ("rocm", "amd", "instinct")) else "cuda"
    return platform
