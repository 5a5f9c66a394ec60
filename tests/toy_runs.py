"""Running `generate` in this process with the embedded toy model loaded once (tests that make many videos)."""
from __future__ import annotations

import functools

import pytest

import skyreels_jax.pipelines as pipelines
from skyreels_jax.cli import main

PROMPT = "a red circle moves right on a black background"
FAST = ["--steps", "2"]  # the toy's own size and length (32×32, 17 frames), two steps


@functools.lru_cache(maxsize=None)
def _loaded(model: str, *args):
    return pipelines.pipeline.load_pipeline(model, *args)


@pytest.fixture(scope="module")
def toy_loaded_once():
    """load_pipeline("toy") returns one shared pipeline (its compiled programs too) for the module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipelines, "load_pipeline", lambda model, dtype=None, **kw: _loaded(str(model), dtype))
        yield


def generate(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `skyreels-jax generate ARGV`."""
    try:
        code = main(["generate", *map(str, argv)])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err.strip()
