"""What a pipeline compiles: one program per shape, none per window, none to move host values.

Each compiled program stays in the process (about 1.6 MiB on CPU), so host glue that compiles
(`jnp.asarray` of a numpy array, `jnp.zeros`, a slice or concatenation of a growing array) costs
memory and first-call time. Counted from jax's "Finished XLA compilation of NAME" log lines.
"""
import logging
import re
from collections import Counter

import jax
import numpy as np
import pytest

from skyreels_jax.pipelines import load_pipeline
from tests.pipeline_fixtures import build_df_pipeline

H = W = 32
DF = dict(height=H, width=W, num_steps=2, guidance_scale=5.0, base_num_frames=9, overlap_history=5, progress=False)


class Compiles(logging.Handler):
    """Counter of the programs XLA compiles inside the `with` block, by name."""

    def __enter__(self):
        self.names = Counter()
        self._log = jax.log_compiles(True)
        self._log.__enter__()
        logging.getLogger("jax").addHandler(self)
        return self.names

    def __exit__(self, *exc):
        logging.getLogger("jax").removeHandler(self)
        self._log.__exit__(*exc)

    def emit(self, record):
        found = re.match(r"Finished XLA compilation of (\S+) in", record.getMessage())
        if found:
            self.names[found.group(1)] += 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_df_pipeline(tmp_path_factory.mktemp("df"))[0]


def test_loading_compiles_only_the_layer_writes(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    with Compiles() as names:
        load_pipeline(folder, cache=False)
    # one per stacked parameter shape, nothing per tensor (none when an earlier test compiled those shapes)
    assert set(names) <= {"jit(write_layer)"}, names


def test_diffusion_forcing_compiles_nothing_per_window(folder, tmp_path, monkeypatch):
    """A longer video (more windows) compiles as many programs as a shorter one, and the same call
    again compiles nothing."""
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    pipe = load_pipeline(folder)
    pipe("a cat", num_frames=17, **DF)  # windows of 3 and 2 latent frames: every per-window program
    counts = []
    for num_frames in (25, 41):  # 4 and 8 windows; only the whole video's shape is new
        with Compiles() as names:
            video = pipe("a cat", num_frames=num_frames, **DF)
        assert video.shape == (num_frames, H, W, 3)
        counts.append(names)
    assert counts[0] == counts[1], counts
    assert sum(counts[1].values()) <= 6, counts[1]  # the noise, the track's slice and write, the decode
    with Compiles() as names:
        pipe("a dog", num_frames=41, **DF)
    assert not names, names


def test_text_to_video_second_call_compiles_nothing(tmp_path, monkeypatch):
    from tests.pipeline_fixtures import Z, build_pipeline

    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    pipe = load_pipeline(build_pipeline("t2v", tmp_path / "pipe")[0])
    kw = dict(num_frames=5, height=H, width=W, num_steps=2, guidance_scale=5.0, progress=False)
    with Compiles() as first:
        pipe("a cat", **kw)
    assert max(first.values()) == 1, first  # no program twice, e.g. once per step
    with Compiles() as again:
        video = pipe("a dog", seed=3, latents=np.zeros((1, 2, H // 8, W // 8, Z), np.float32), **kw)
    assert video.shape == (5, H, W, 3) and not again, again
