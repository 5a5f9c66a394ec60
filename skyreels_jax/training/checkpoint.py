"""Orbax checkpoints of a training run: the train state pytree plus JSON metadata.

One checkpoint per saved step under `directory/<step>/`: `state` (params, optimizer state,
EMA, reference params, step, RNG key; sharded arrays are written by every host) and
`meta` (the data iterator position and anything JSON-serialisable). Saves are periodic,
asynchronous by default, and keep the last `max_to_keep`.
"""
from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str | Path, *, save_every: int = 100, max_to_keep: int = 3,
                 async_save: bool = True):
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                               enable_async_checkpointing=async_save, create=True)
        self.directory, self.save_every = Path(directory).absolute(), save_every
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, meta: dict, *, force: bool = False) -> bool:
        """Save if `step` is a multiple of save_every (or force); returns whether it saved."""
        if not force and step % self.save_every:
            return False
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        return self.manager.save(step, args=args, force=True)

    def restore(self, template, step: int | None = None):
        """(state, meta) of `step` (default: the latest). `template` gives the tree structure,
        shapes, dtypes and shardings (concrete or abstract arrays); restored arrays take them."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.close()
