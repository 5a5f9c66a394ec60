"""Compile a generation's programs for a mesh and read their memory per chip; choose a mesh.

`compile_programs` compiles for any devices: a TPU slice's from libtpu's topology (no TPU needed),
or the devices present. The per-chip figures are the compiler's: arguments, temporaries, outputs
not aliased to an argument, generated code, plus the other networks' weights that stay loaded.
A layout fits when every program's total leaves `SPARE` of the memory free.
"""
from __future__ import annotations

import dataclasses
import math
import time

import jax

from skyreels_jax.parallel import make_mesh
from skyreels_jax.planning.programs import Pipeline

SPARE = 0.10  # of each chip's memory left free: the runtime's own buffers, fragmentation


@dataclasses.dataclass(frozen=True)
class Layout:
    """One data-parallel group's mesh sizes (data, fsdp, context, tensor), its sequence parallelism,
    and how many such groups run side by side (each on its own prompts)."""

    mesh: tuple[int, int, int, int]
    sequence_parallel: str | None = None
    groups: int = 1

    @property
    def data_parallelism(self) -> int:
        """Videos' worth of work done at once: the groups, times the CFG pair split over data."""
        return self.groups * self.mesh[0]

    def __str__(self):
        sp = f" {self.sequence_parallel}" if self.sequence_parallel else ""
        groups = f" ×{self.groups} groups" if self.groups > 1 else ""
        return f"({','.join(map(str, self.mesh))}){sp}{groups}"


@dataclasses.dataclass(frozen=True)
class Compiled:
    program: str
    arguments: int
    temporaries: int
    outputs: int        # not aliased to an argument
    code: int
    resident: int       # the other networks' weights
    seconds: float
    error: str | None = None   # the compiler's refusal (out of memory at compile time), in one line

    @property
    def total(self) -> int:
        return self.arguments + self.temporaries + self.outputs + self.code + self.resident


_COMPILED: dict = {}  # (program, key, mesh) -> Compiled: the VAE and UMT5 are alike for every DiT layout


def compile_program(program, mesh) -> Compiled:
    cache_key = (program.name, program.key, tuple(mesh.shape.items()), mesh.devices.flat[0].device_kind)
    if not program.key:
        return _compile(program, mesh)
    if cache_key not in _COMPILED:
        _COMPILED[cache_key] = _compile(program, mesh)
    return dataclasses.replace(_COMPILED[cache_key], resident=program.resident)


def _compile(program, mesh) -> Compiled:
    start = time.perf_counter()
    try:
        with jax.set_mesh(mesh):
            memory = program.lower().compile().memory_analysis()
    except jax.errors.JaxRuntimeError as e:  # e.g. RESOURCE_EXHAUSTED: the temporaries alone do not fit
        message = str(e).splitlines()[0][:300]
        return Compiled(program.name, 0, 0, 0, 0, program.resident, time.perf_counter() - start, message)
    return Compiled(program.name, memory.argument_size_in_bytes, memory.temp_size_in_bytes,
                    max(0, memory.output_size_in_bytes - memory.alias_size_in_bytes),
                    memory.generated_code_size_in_bytes, program.resident, time.perf_counter() - start)


def fits(results: list[Compiled], capacity: int) -> bool:
    return all(r.error is None and r.total <= (1 - SPARE) * capacity for r in results)


def group_mesh(layout: Layout, devices):
    """The mesh of the layout's first group (the groups are alike)."""
    return make_mesh(*layout.mesh, devices=list(devices)[:math.prod(layout.mesh)])


def compile_layout(model, layout: Layout, devices, capacity: int, low_memory: bool = False,
                   stop_early: bool = True, report=None, step_only: bool = False,
                   quantize: str | None = None) -> list[Compiled]:
    """Compile the programs of `model` = (component configs, mode, (frames, height, width)) for the layout.
    With stop_early the rest is skipped once one program does not fit; step_only compiles the DiT step alone;
    quantize quantizes the DiT and UMT5 (models.quantization)."""
    configs, mode, video = model
    dit = dataclasses.replace(configs["transformer"], sequence_parallel=layout.sequence_parallel)
    mesh = group_mesh(layout, devices)
    results = []
    programs = Pipeline({**configs, "transformer": dit}, mode, video, mesh, low_memory, quantize).programs()
    for program in programs[:1] if step_only else programs:
        if stop_early and program.weights + program.resident > (1 - SPARE) * capacity:  # no need to compile
            results.append(Compiled(program.name, program.weights, 0, 0, 0, program.resident, 0.0,
                                    "the weights alone do not fit"))
        else:
            results.append(compile_program(program, mesh))
        if report:
            report(layout, results[-1])
        if stop_early and not fits(results[-1:], capacity):
            break
    return results


def candidates(chips: int, hosts: int, heads: int, guidance: bool = True) -> list[Layout]:
    """Layouts of `chips` chips, most data parallelism first; within that, groups on fewer hosts, then fsdp
    before context (weights gathered per layer rather than activations exchanged). Groups span whole hosts.
    Context devices split attention with Ulysses where the heads divide, else with ring."""
    per_host = chips // hosts
    out = []
    for group_hosts in (h for h in range(1, hosts + 1) if hosts % h == 0):
        group = per_host * group_hosts
        for data in ((2, 1) if guidance and group % 2 == 0 else (1,)):
            for context in (c for c in range(1, group // data + 1) if (group // data) % c == 0):
                sp = None if context == 1 else "ulysses" if heads % context == 0 else "ring"
                out.append(Layout((data, group // data // context, context, 1), sp, hosts // group_hosts))
    return sorted(out, key=lambda lay: (-lay.data_parallelism, -lay.groups, lay.mesh[2]))


def choose(model, chips: int, hosts: int, devices_of, capacity: int, low_memory: bool = False, report=None,
           every: bool = False, quantize: str | None = None):
    """(layout, [(layout, results) tried]): the first candidate whose programs all fit (None if none does).
    devices_of(n) gives the devices a group of n chips compiles for (topologies.group_devices on a TPU slice).
    With `every`, every candidate is compiled in full."""
    tried, chosen = [], None
    for layout in candidates(chips, hosts, model[0]["transformer"].num_heads):
        results = compile_layout(model, layout, devices_of(math.prod(layout.mesh)), capacity, low_memory,
                                 stop_early=not every, report=report, quantize=quantize)
        tried.append((layout, results))
        if chosen is None and fits(results, capacity):
            chosen = layout
            if not every:
                break
    return chosen, tried
