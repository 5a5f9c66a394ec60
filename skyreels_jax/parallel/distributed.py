"""Joining the processes of a multi-host run, from flags or the environment.

On a TPU pod slice (and under SLURM or Open MPI) `jax.distributed.initialize()` finds the
coordinator, process count and process id itself. On a GPU cluster without a scheduler the
three come from flags or from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
"""
from __future__ import annotations

import os

import jax

ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def add_arguments(parser, title: str):
    """The --distributed, --coordinator, --num-processes and --process-id flags, as one argument group."""
    group = parser.add_argument_group(title)
    group.add_argument("--distributed", action="store_true", help="join a multi-host run with jax.distributed: "
                       "automatic on TPU pods (and SLURM/Open MPI); elsewhere give the three flags below or "
                       f"{', '.join(ENV)}")
    group.add_argument("--coordinator", help="host:port of process 0")
    group.add_argument("--num-processes", type=int)
    group.add_argument("--process-id", type=int)
    return group


def refuse_without_distributed(args) -> None:
    """The multi-host flags are read only with --distributed: refuse them without it."""
    given = [flag for flag, value in (("--coordinator", args.coordinator), ("--num-processes", args.num_processes),
                                      ("--process-id", args.process_id)) if value is not None]
    if given and not args.distributed:
        raise ValueError(f"{', '.join(given)} go with --distributed (a multi-host run): add it or drop them")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout: int = 300) -> None:
    """jax.distributed.initialize with checks: all three of coordinator/count/id or none of them."""
    coordinator = _agree("coordinator", coordinator, os.environ.get(ENV[0]) or None, ENV[0])
    num_processes = _agree("num_processes", num_processes, _env_int(ENV[1]), ENV[1])
    process_id = _agree("process_id", process_id, _env_int(ENV[2]), ENV[2])
    given = [x is not None for x in (coordinator, num_processes, process_id)]
    if not any(given):
        jax.distributed.initialize(initialization_timeout=timeout)  # TPU pod, SLURM, Open MPI: auto-detected
        return
    if not all(given):
        raise ValueError("a multi-host run needs the coordinator address (host:port), the number of processes and "
                         f"this process's id, from flags or {', '.join(ENV)}; got coordinator={coordinator}, "
                         f"num_processes={num_processes}, process_id={process_id}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(f"process id {process_id} is not in 0..{num_processes - 1}: give each of the "
                         f"{num_processes} processes a distinct id from 0 to {num_processes - 1}")
    # a duplicate id or a count that differs between processes cannot be seen from here: the join then
    # times out inside jax (DEADLINE_EXCEEDED), so say beforehand what every process must agree on
    print(f"process {process_id} of {num_processes} joining {coordinator} (every process needs the same coordinator "
          f"and count, and its own id in 0..{num_processes - 1}; otherwise the join times out after {timeout} s)",
          flush=True)
    host = coordinator.rpartition(":")[0]
    local = host in ("127.0.0.1", "localhost", "[::1]")  # bind to loopback only when every process is local
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
                               coordinator_bind_address=coordinator if local else None,
                               initialization_timeout=timeout)
    if jax.process_count() != num_processes or jax.process_index() != process_id:
        raise RuntimeError(f"joined as process {jax.process_index()} of {jax.process_count()}, expected "
                           f"{process_id} of {num_processes}")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _agree(name: str, flag, env, env_name: str):
    """The flag's value, or the environment's; both given and different is a mistake worth stopping for."""
    if flag is not None and env is not None and flag != env:
        raise ValueError(f"--{name.replace('_', '-')} {flag} disagrees with {env_name}={env}: unset one of them "
                         "or make them equal")
    return env if flag is None else flag
