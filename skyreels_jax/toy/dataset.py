"""`MovingShapes`: a tfds builder (no TensorFlow needed) of rendered toy-world clips and captions.

Example i of split "train" is `render_clip(seed + i)`; "test" uses seeds from `seed + 1_000_000`
(held-out positions and speeds, same vocabulary). Written as array_record, read back with
`as_data_source()`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from skyreels_jax.toy.world import render_clip

TEST_OFFSET = 1_000_000


class MovingShapes(tfds.core.GeneratorBasedBuilder):
    """Clips uint8 [frames, size, size, 3] with caption, colour, shape and direction."""

    VERSION = tfds.core.Version("1.0.0")

    def __init__(self, *, num_train: int = 512, num_test: int = 64, frames: int = 17, size: int = 32,
                 seed: int = 0, **kwargs):
        self.num_train, self.num_test, self.frames, self.size, self.seed = num_train, num_test, frames, size, seed
        super().__init__(file_format="array_record", **kwargs)

    # Nothing is downloaded (tfds would otherwise look for a checksums file beside the module).
    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        return None

    def _info(self):
        text = tfds.features.Text()
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "video": tfds.features.Tensor(shape=(self.frames, self.size, self.size, 3), dtype=np.uint8),
            "caption": text, "colour": text, "shape": text, "direction": text}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(self.seed, self.num_train),
                "test": self._generate_examples(self.seed + TEST_OFFSET, self.num_test)}

    def _generate_examples(self, first: int, n: int):
        for seed in range(first, first + n):
            video, cap, s = render_clip(seed, frames=self.frames, size=self.size)
            yield str(seed), {"video": video, "caption": cap, "colour": s["colour"], "shape": s["shape"],
                              "direction": s["direction"]}


def build(data_dir: str | Path, **kwargs) -> MovingShapes:
    """Render (once) and return the builder; an already prepared folder is reused."""
    tfds.disable_progress_bar()
    builder = MovingShapes(data_dir=str(data_dir), **kwargs)
    builder.download_and_prepare()
    return builder
