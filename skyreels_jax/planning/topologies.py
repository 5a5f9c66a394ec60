"""TPU slices, as libtpu describes them: the planner compiles for their devices on any machine.

A slice is named as Cloud TPU names it ("v5e-8", "v6e-16", "v5p-8": v5p counts TensorCores, two
per chip) or by its chip layout ("v5e:2x4"). Hosts hold 8 chips on single-host v5e/v6e slices, 4
on larger ones and on v5p.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os

GiB = 2**30
HBM_GIB = {"v5e": 16, "v6e": 32, "v5p": 95}  # per chip
_GRIDS = {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8", 128: "8x16", 256: "16x16"}
_V5P_GRIDS = {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4", 64: "4x4x4", 128: "4x4x8"}


@dataclasses.dataclass(frozen=True)
class Slice:
    name: str                            # "v5e-8"
    layout: str                          # libtpu's topology name, "v5e:2x4"
    chips_per_host: tuple[int, int, int]

    @property
    def generation(self) -> str:
        return self.layout.split(":")[0]

    @property
    def chips(self) -> int:
        return math.prod(int(n) for n in self.layout.split(":")[1].split("x"))

    @property
    def hosts(self) -> int:
        return self.chips // math.prod(self.chips_per_host)

    @property
    def hbm(self) -> int:
        """Bytes of HBM per chip."""
        return HBM_GIB[self.generation] * GiB


def slice_of(name: str) -> Slice:
    """The slice named "v5e-8" (Cloud TPU's name) or "v5e:2x4" (its chip layout)."""
    generation, sep, size = name.replace(":", "-", 1).partition("-")
    grids = _V5P_GRIDS if generation == "v5p" else _GRIDS
    if generation not in HBM_GIB or not sep:
        raise ValueError(f"unknown TPU slice {name!r}: use e.g. v5e-8, v6e-8, v5p-8 or a layout such as v6e:2x4")
    if "x" in size:
        chips = math.prod(int(n) for n in size.split("x"))
    else:
        chips = int(size) // (2 if generation == "v5p" else 1)
    if chips not in grids:
        sizes = sorted(n * (2 if generation == "v5p" else 1) for n in grids)
        raise ValueError(f"TPU slice {name!r}: {generation} slices have {', '.join(map(str, sizes))} "
                         f"{'TensorCores' if generation == 'v5p' else 'chips'}")
    per_host = (2, 2, 1) if generation == "v5p" or chips > 8 else {1: (1, 1, 1), 4: (2, 2, 1), 8: (2, 4, 1)}[chips]
    count = chips * (2 if generation == "v5p" else 1)
    return Slice(f"{generation}-{count}", f"{generation}:{grids[chips]}", per_host)


def quiet_libtpu(slice_: Slice) -> None:
    """Environment for compiling TPU programs on a machine without a TPU: jax itself runs on the CPU, and
    libtpu is told which slice it serves, so that it neither probes for chips nor warns. Call before
    jax starts its backends; explicit settings are kept."""
    if "JAX_PLATFORMS" not in os.environ:
        import jax

        os.environ["JAX_PLATFORMS"] = "cpu"  # for child processes
        jax.config.update("jax_platforms", "cpu")  # jax read the environment when it was imported
    os.environ.setdefault("TPU_ACCELERATOR_TYPE", slice_.name.replace("v5e", "v5litepod"))
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no chip to guard: planners may run side by side


def tpu_devices(slice_: Slice) -> list:
    """The slice's devices, for a mesh to compile for (they run nothing)."""
    from jax.experimental import topologies

    quiet_libtpu(slice_)
    try:
        topology = topologies.get_topology_desc(topology_name=slice_.layout, platform="tpu",
                                                chips_per_host_bounds=slice_.chips_per_host)
    except Exception as e:  # libtpu missing, or too old for this generation
        raise ImportError(f"cannot describe the TPU slice {slice_.name} ({e}); install the TPU compiler: "
                           "pip install 'skyreels-jax[tpu]'") from None
    return list(topology.devices)


@functools.cache  # choose() asks once per candidate layout; each answer is a libtpu topology
def group_devices(slice_: Slice, chips: int) -> tuple:
    """The devices one data-parallel group of `chips` chips compiles for. On a multi-host slice a group of whole
    hosts is described as a slice of its own (same chips per host): libtpu cannot compile a program for some of
    a multi-host topology's chips (it aborts on their device ids), and a group only ever talks among its own."""
    if chips == slice_.chips or slice_.hosts == 1:
        return tuple(tpu_devices(slice_)[:chips])
    grids = _V5P_GRIDS if slice_.generation == "v5p" else _GRIDS
    per_host = math.prod(slice_.chips_per_host)
    if chips % per_host or chips not in grids:
        raise ValueError(f"a group of {chips} chips on {slice_.name} is not a whole number of its hosts")
    group = Slice(f"{slice_.name} (a group of {chips} chips)", f"{slice_.generation}:{grids[chips]}",
                  slice_.chips_per_host)
    return tuple(tpu_devices(group))
