"""One mesh over (data, fsdp, context, tensor), from explicit sizes or the devices present."""
from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

MESH_AXES = ("data", "fsdp", "context", "tensor")


def make_mesh(data: int = 1, fsdp: int = -1, context: int = 1, tensor: int = 1, devices=None) -> Mesh:
    """A mesh with the four named axes. One size may be -1: it takes the devices left over.

    The default puts every device on `fsdp` (parameters sharded, batch replicated).
    Axes are Auto (GSPMD): shardings are propagated from the parameters and inputs.
    """
    devices = np.asarray(jax.devices() if devices is None else devices)
    sizes = [data, fsdp, context, tensor]
    if sizes.count(-1) > 1:
        raise ValueError(f"at most one mesh axis may be -1, got {dict(zip(MESH_AXES, sizes))}")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if devices.size % known:
            raise ValueError(f"{devices.size} devices do not split over the fixed axes "
                             f"{dict(zip(MESH_AXES, sizes))}")
        sizes[sizes.index(-1)] = devices.size // known
    if math.prod(sizes) != devices.size:
        raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices, "
                         f"but {devices.size} are present")
    return Mesh(devices.reshape(sizes), MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def current_mesh():
    """The mesh set with `jax.set_mesh` (inside jit too) when it has our four axes, else None."""
    mesh = jax.sharding.get_abstract_mesh()
    return None if mesh.empty or not set(MESH_AXES) <= set(mesh.axis_names) else mesh
