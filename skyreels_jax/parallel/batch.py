"""Each data-parallel group's share of a batch of videos, and who writes them.

A group is `processes_per_group` consecutive processes that run one model together (one
process per group when a model fits on one host's devices); its mesh spans their devices,
and all of them make the group's videos together. Jobs are dealt round-robin by their index
in the full list, not by what is still missing, so every process agrees on the split without
talking; a rerun then skips the outputs that exist. Only the first process of a group writes,
so each video is written once (atomically, by skyreels_jax.media.write_video).
"""
from __future__ import annotations


def group_share(jobs: list, process_index: int, process_count: int, processes_per_group: int = 1):
    """(this group's jobs, whether this process writes them)."""
    if processes_per_group < 1 or process_count % processes_per_group:
        raise ValueError(f"{process_count} processes do not split into groups of {processes_per_group}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process index {process_index} is not in 0..{process_count - 1}")
    groups = process_count // processes_per_group
    group = process_index // processes_per_group
    return jobs[group::groups], process_index % processes_per_group == 0


def group_devices(devices: list, group: int, processes_per_group: int = 1) -> list:
    """The devices of one data-parallel group: those of its processes, in the given order."""
    first = group * processes_per_group
    return [d for d in devices if first <= d.process_index < first + processes_per_group]
