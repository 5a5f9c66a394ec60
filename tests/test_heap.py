"""The heap trim after every XLA compile (skyreels_jax/heap.py): on when asked for, unless turned off."""
import os
import subprocess
import sys

CHILD = """
import jax, jax.numpy as jnp
from skyreels_jax import heap
heap.trim_heap_after_compiles()
events = []
jax.monitoring.register_event_duration_secs_listener(lambda event, duration, **kw: events.append(event))
jax.jit(lambda x: jnp.sin(x) + 1)(jnp.ones(3)).block_until_ready()
print(heap._registered, heap._COMPILE_EVENT in events)
"""


def run(env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_on_when_asked_for_and_its_event_fires():
    assert run({}) == "True True"  # the event name is jax's: a rename there would leave the trim dead


def test_turned_off_by_the_environment():
    assert run({"SKYREELS_JAX_TRIM_HEAP": "0"}) == "False True"
