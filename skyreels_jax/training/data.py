"""Training data: tfds builders that need no TensorFlow, read by index and loaded with grain.

Two datasets, both written as array_record files and read back with `as_data_source()`:
- `LatentTextPairs`: precomputed VAE latents [F, H, W, C] (normalised, as the DiT sees them)
  and text-encoder outputs [L, D] trimmed to the prompt's true token count (the loader pads
  them back with zeros, as the encoder does), plus caption and fps.
- `PreferencePairs`: a prompt embedding with a chosen and a rejected latent video (DPO).

Builders take an iterable of (key, example) pairs, where an example is a dict of numpy
arrays or an Exception (a file that failed to read). Bad examples (read errors, missing
fields, wrong shapes, non-finite values) are either skipped and counted
(`on_bad="skip"`; the builder's `.bad` lists each key and reason, and a warning gives the
count) or stop the build with a ValueError naming the example (`on_bad="raise"`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import grain
import numpy as np
import tensorflow_datasets as tfds

log = logging.getLogger(__name__)
_VERSION = tfds.core.Version("1.0.0")


class _Builder(tfds.core.GeneratorBasedBuilder):
    """Common part: shapes fixed at construction, validation, bad-example policy."""

    VERSION = _VERSION
    VIDEO_KEYS: tuple[str, ...] = ()
    TEXT_KEY = "caption"

    def __init__(self, *, latent_shape, text_dim: int, examples: Iterable | None = None,
                 on_bad: str = "raise", dtype: str = "float32", **kwargs):
        if on_bad not in ("raise", "skip"):
            raise ValueError(f"on_bad must be 'raise' or 'skip', got {on_bad!r}")
        self.latent_shape, self.text_dim = tuple(int(s) for s in latent_shape), int(text_dim)
        self.storage_dtype = np.dtype(dtype)
        self._examples, self.on_bad, self.bad = examples, on_bad, []
        super().__init__(file_format="array_record", **kwargs)

    # Nothing is downloaded. tfds would look for a checksums file beside the module through
    # importlib_resources, which is not installed; there are no URLs to check.
    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        return None

    def _info(self):
        features = {k: tfds.features.Tensor(shape=self.latent_shape, dtype=self.storage_dtype)
                    for k in self.VIDEO_KEYS}
        features["context"] = tfds.features.Tensor(shape=(None, self.text_dim), dtype=self.storage_dtype)
        features[self.TEXT_KEY] = tfds.features.Text()
        features["fps"] = tfds.features.Scalar(dtype=np.int32)
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        if self._examples is None:
            raise ValueError(f"{self.name}: pass examples=... to build the dataset")
        return {"train": self._generate_examples()}

    def _problem(self, ex) -> str | None:
        if isinstance(ex, Exception):
            return f"unreadable: {ex}"
        for k in self.VIDEO_KEYS + ("context",):
            if k not in ex:
                return f"missing {k!r}"
        if self.TEXT_KEY not in ex or ex[self.TEXT_KEY] is None:
            return f"missing {self.TEXT_KEY!r}"
        for k in self.VIDEO_KEYS:
            if tuple(np.shape(ex[k])) != self.latent_shape:
                return f"{k} has shape {tuple(np.shape(ex[k]))}, expected {self.latent_shape}"
        ctx = np.asarray(ex["context"])
        if ctx.ndim != 2 or ctx.shape[1] != self.text_dim or ctx.shape[0] == 0:
            return f"context has shape {ctx.shape}, expected (tokens>0, {self.text_dim})"
        for k in self.VIDEO_KEYS + ("context",):
            if not np.all(np.isfinite(np.asarray(ex[k], np.float32))):
                return f"{k} has non-finite values"
        return None

    def _generate_examples(self):
        for key, ex in self._examples:
            problem = self._problem(ex)
            if problem is not None:
                if self.on_bad == "raise":
                    raise ValueError(f"{self.name}: bad example {key!r}: {problem} (set on_bad='skip' to skip it)")
                self.bad.append((str(key), problem))
                continue
            out = {k: np.asarray(ex[k], self.storage_dtype) for k in self.VIDEO_KEYS + ("context",)}
            out[self.TEXT_KEY] = str(ex[self.TEXT_KEY])
            out["fps"] = np.int32(ex.get("fps", 24))
            yield str(key), out
        if self.bad:
            log.warning("%s: skipped %d bad example(s): %s", self.name, len(self.bad), self.bad[:5])


class LatentTextPairs(_Builder):
    """Video-text pairs as latents [F,H,W,C] + text embeddings [tokens, D] (+ caption, fps)."""

    VIDEO_KEYS = ("latents",)


class PreferencePairs(_Builder):
    """Preference pairs: prompt embedding, chosen and rejected latents (+ prompt text, fps)."""

    VIDEO_KEYS = ("chosen", "rejected")
    TEXT_KEY = "prompt"


def npz_examples(folder: str | Path):
    """(key, example) from every *.npz in a folder, sorted; a file that fails to load gives an Exception."""
    for path in sorted(Path(folder).glob("*.npz")):
        try:
            with np.load(path, allow_pickle=False) as f:
                ex = {k: f[k] for k in f.files}
            for k in ("caption", "prompt", "fps"):
                if k in ex:
                    ex[k] = ex[k].item() if k == "fps" else str(ex[k])
            yield path.stem, ex
        except Exception as err:  # noqa: BLE001 - reported as a bad example, never silently
            yield path.stem, err


def build(builder_cls, data_dir: str | Path, examples, **kwargs):
    """Build (once) and return the builder; reuses an already prepared dataset."""
    tfds.disable_progress_bar()
    builder = builder_cls(data_dir=str(data_dir), examples=examples, **kwargs)
    builder.download_and_prepare()
    return builder


def open_source(dataset_dir: str | Path, split: str = "train"):
    """A random-access source over a prepared dataset folder (the one holding dataset_info.json)."""
    return tfds.builder_from_directory(str(dataset_dir)).as_data_source()[split]


class _Prepare(grain.transforms.Map):
    """Pad the context to text_len with zeros, map fps to the DiT's fps index, drop strings."""

    def __init__(self, text_len: int, video_keys):
        self.text_len, self.video_keys = text_len, tuple(video_keys)

    def map(self, ex):
        ctx = np.asarray(ex["context"], np.float32)
        if ctx.shape[0] > self.text_len:
            raise ValueError(f"context has {ctx.shape[0]} tokens, more than text_len={self.text_len}")
        out = {"context": np.pad(ctx, ((0, self.text_len - ctx.shape[0]), (0, 0)))}
        for k in self.video_keys:
            out[k] = np.asarray(ex[k], np.float32)
        out["fps_ids"] = np.int32(int(ex["fps"]) != 16)
        return out


def make_loader(source, *, global_batch: int, text_len: int, seed: int = 0, video_keys=("latents",),
                process_index: int | None = None, process_count: int | None = None,
                read_threads: int = 0) -> grain.IterDataset:
    """An endless iterator of host-local batches: shard by process, shuffle (a fresh order per
    epoch), pad, batch. Its iterator's get_state()/set_state() is the resumable position.

    Each host reads every process_count-th record and yields global_batch/process_count
    examples a step; build global arrays with jax.make_array_from_process_local_data.
    """
    import jax

    pi = jax.process_index() if process_index is None else process_index
    pc = jax.process_count() if process_count is None else process_count
    if global_batch % pc:
        raise ValueError(f"global batch {global_batch} does not split over {pc} hosts")
    ds = grain.MapDataset.source(source)[pi::pc]
    if len(ds) == 0:
        raise ValueError(f"host {pi} of {pc} has no examples (the dataset has {len(source)})")
    ds = ds.shuffle(seed=seed).repeat(None).map(_Prepare(text_len, video_keys))
    ds = ds.batch(global_batch // pc, drop_remainder=True)
    options = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=2 * read_threads)
    return ds.to_iter_dataset(options)
