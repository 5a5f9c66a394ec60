"""Training data: tfds builders that need no TensorFlow, read by index and loaded with grain.

Datasets written as array_record files and read back with `as_data_source()`:
- `LatentTextPairs`: precomputed VAE latents [F, H, W, C] (normalised, as the DiT sees them)
  and text-encoder outputs [L, D] trimmed to the prompt's true token count (the loader pads
  them back with zeros, as the encoder does), plus caption and fps; for image-to-video also
  the condition latents and CLIP features (written by training/preprocess.py);
- `PreferencePairs`: a prompt embedding with a chosen and a rejected latent video (DPO);
- `VideoTextPairs` (training/videos.py): uint8 clips and captions imported from mp4 files.

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

import numpy as np
import tensorflow_datasets as tfds

log = logging.getLogger(__name__)
_VERSION = tfds.core.Version("1.0.0")


class _Builder(tfds.core.GeneratorBasedBuilder):
    """Common part: array features fixed at construction, validation, bad-example policy.

    Subclasses say which arrays an example holds (`_arrays`: name -> (shape, dtype), None for a
    free dimension); every example also has a text field and an fps.
    """

    VERSION = _VERSION
    TEXT_KEY = "caption"

    def __init__(self, *, examples: Iterable | None = None, on_bad: str = "raise", **kwargs):
        if on_bad not in ("raise", "skip"):
            raise ValueError(f"on_bad must be 'raise' or 'skip', got {on_bad!r}")
        self._examples, self.on_bad, self.bad = examples, on_bad, []
        super().__init__(file_format="array_record", **kwargs)

    def _arrays(self) -> dict[str, tuple[tuple, np.dtype]]:
        raise NotImplementedError

    # Nothing is downloaded. tfds would look for a checksums file beside the module through
    # importlib_resources, which is not installed; there are no URLs to check.
    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        return None

    def _info(self):
        features = {k: tfds.features.Tensor(shape=shape, dtype=dtype) for k, (shape, dtype) in self._arrays().items()}
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
        arrays = self._arrays()
        for k in arrays:
            if k not in ex:
                return f"missing {k!r}"
        if ex.get(self.TEXT_KEY) is None:
            return f"missing {self.TEXT_KEY!r}"
        for k, (shape, dtype) in arrays.items():
            got = tuple(np.shape(ex[k]))
            if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
                want = tuple("any" if s is None else s for s in shape)
                return f"{k} has shape {got}, expected {want}"
            if None in shape and 0 in got:
                return f"{k} is empty (shape {got})"
            if np.issubdtype(dtype, np.floating) and not np.all(np.isfinite(np.asarray(ex[k], np.float32))):
                return f"{k} has non-finite values"
        return None

    def _generate_examples(self):
        arrays = self._arrays()
        for key, ex in self._examples:
            problem = self._problem(ex)
            if problem is not None:
                if self.on_bad == "raise":
                    raise ValueError(f"{self.name}: bad example {key!r}: {problem} (set on_bad='skip' to skip it)")
                self.bad.append((str(key), problem))
                continue
            out = {k: np.asarray(ex[k], dtype) for k, (_, dtype) in arrays.items()}
            out[self.TEXT_KEY] = str(ex[self.TEXT_KEY])
            out["fps"] = np.int32(ex.get("fps", 24))
            yield str(key), out
        if self.bad:
            log.warning("%s: skipped %d bad example(s): %s", self.name, len(self.bad), self.bad[:5])


class _LatentBuilder(_Builder):
    """Latent videos of one fixed shape [F, H, W, C] and a text embedding [tokens, text_dim]."""

    VIDEO_KEYS: tuple[str, ...] = ()

    def __init__(self, *, latent_shape, text_dim: int, dtype: str = "float32", **kwargs):
        self.latent_shape, self.text_dim = tuple(int(s) for s in latent_shape), int(text_dim)
        self.storage_dtype = np.dtype(dtype)
        super().__init__(**kwargs)

    def _arrays(self):
        out = {k: (self.latent_shape, self.storage_dtype) for k in self.VIDEO_KEYS}
        out["context"] = ((None, self.text_dim), self.storage_dtype)
        return out


class LatentTextPairs(_LatentBuilder):
    """Video-text pairs as latents [F,H,W,C] + text embeddings [tokens, D] (+ caption, fps).

    With image_dim (image-to-video training) each example also holds `cond_latents`
    [F,H,W,C], the VAE latents of the condition video (first frame, then zeros), and
    `image_context` [tokens, image_dim], the CLIP features of the first frame.
    """

    VIDEO_KEYS = ("latents",)

    def __init__(self, *, image_dim: int | None = None, **kwargs):
        self.image_dim = image_dim
        super().__init__(**kwargs)

    def _arrays(self):
        out = super()._arrays()
        if self.image_dim:
            out["cond_latents"] = (self.latent_shape, self.storage_dtype)
            out["image_context"] = ((None, int(self.image_dim)), self.storage_dtype)
        return out


class PreferencePairs(_LatentBuilder):
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


from skyreels_jax.training.loader import make_loader  # noqa: E402,F401  (its old home)
