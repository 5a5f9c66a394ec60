"""The persistent compilation cache: SKYREELS_JAX_CACHE_DIR fills a directory that a second process reuses."""
import os
import subprocess
import sys

from skyreels_jax.generate import main_args

CHILD = """
import jax, jax.numpy as jnp, skyreels_jax
skyreels_jax.enable_compilation_cache(min_compile_seconds=0)
jax.jit(lambda x: jnp.sin(x) @ x.T + 3)(jnp.ones((64, 64))).block_until_ready()
"""


def test_compilation_cache_is_reused(tmp_path):
    env = {**os.environ, "SKYREELS_JAX_CACHE_DIR": str(tmp_path / "xla")}
    def run():
        return subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True)
    run()
    first = sorted(os.listdir(tmp_path / "xla"))
    assert any(name.startswith("jit__lambda") for name in first), first
    run()
    assert sorted(os.listdir(tmp_path / "xla")) == first  # served from the cache: nothing new written


def test_generate_options():
    args = main_args(["--model", "m", "--prompt", "p", "--teacache", "0.2", "--compilation-cache", "/tmp/x"])
    assert args.teacache == 0.2 and args.compilation_cache == "/tmp/x"
    assert main_args(["--model", "m", "--prompt", "p"]).teacache is None
