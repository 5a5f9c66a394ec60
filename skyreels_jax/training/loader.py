"""Loading a random-access training source with grain: shuffle, host's rows, pad, batch.

The data order does not depend on the number of hosts: the source is shuffled (a fresh order
per epoch) into one global stream, cut into global batches, and each host reads only its rows
of every global batch (`rows`, by default an equal share per jax process). A run on 4 hosts
therefore sees the same global batches as a run on 1, and its position (the iterator state)
is the same on every host.
"""
from __future__ import annotations

import grain
import numpy as np


class _Prepare(grain.transforms.Map):
    """Pad the context to text_len with zeros, map fps to the DiT's fps index, drop strings."""

    def __init__(self, text_len: int, array_keys):
        self.text_len, self.array_keys = text_len, tuple(array_keys)

    def map(self, ex):
        ctx = np.asarray(ex["context"], np.float32)
        if ctx.shape[0] > self.text_len:
            raise ValueError(f"a text context has {ctx.shape[0]} tokens, more than data.text_len={self.text_len}: "
                             f"--set data.text_len=N with N at least the text encoder's length (512 for UMT5)")
        out = {"context": np.pad(ctx, ((0, self.text_len - ctx.shape[0]), (0, 0)))}
        for k in self.array_keys:
            out[k] = np.asarray(ex[k], np.float32)
        out["fps_ids"] = np.int32(int(ex["fps"]) != 16)
        return out


class _BatchRows(grain.MapDataset):
    """Rows [start, stop) of every global batch of the parent stream, in order."""

    def __init__(self, parent: grain.MapDataset, global_batch: int, start: int, stop: int):
        super().__init__(parent)
        self.global_batch, self.start, self.rows = global_batch, start, stop - start

    def __len__(self) -> int:
        return len(self._parent) // self.global_batch * self.rows

    def _index(self, i: int) -> int:
        step, row = divmod(i, self.rows)
        return step * self.global_batch + self.start + row

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        return self._parent[self._index(index)]

    def __str__(self) -> str:
        return f"_BatchRows[{self.start}:{self.start + self.rows} of {self.global_batch}]"


def process_rows(global_batch: int, process_index: int | None = None,
                 process_count: int | None = None) -> tuple[int, int]:
    """This process's equal share [start, stop) of a global batch."""
    import jax

    pi = jax.process_index() if process_index is None else process_index
    pc = jax.process_count() if process_count is None else process_count
    if global_batch % pc:
        raise ValueError(f"global batch {global_batch} does not split over {pc} hosts")
    local = global_batch // pc
    return pi * local, (pi + 1) * local


def make_loader(source, *, global_batch: int, text_len: int, seed: int = 0, array_keys=("latents",),
                rows: tuple[int, int] | None = None, read_threads: int = 0) -> grain.IterDataset:
    """An endless iterator of this host's batches (rows [start, stop) of each global batch,
    default `process_rows(global_batch)`); its get_state()/set_state() is the resumable position.

    Build the global arrays with jax.make_array_from_process_local_data (training/sharding.py).
    """
    if len(source) == 0:
        raise ValueError("the training dataset is empty")
    start, stop = process_rows(global_batch) if rows is None else rows
    if not 0 <= start < stop <= global_batch:
        raise ValueError(f"rows {start}:{stop} are not inside a global batch of {global_batch}")
    ds = grain.MapDataset.source(source).shuffle(seed=seed).repeat(None)
    ds = _BatchRows(ds, global_batch, start, stop).map(_Prepare(text_len, array_keys))
    ds = ds.batch(stop - start, drop_remainder=True)
    options = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=2 * read_threads)
    return ds.to_iter_dataset(options)
