"""`import skyreels_jax` leaves jax's configuration and monitoring listeners as it found them."""
import os
import subprocess
import sys

CHILD = """
import jax
from jax._src import monitoring

def snapshot():
    listeners = [len(getattr(monitoring, name)) for name in sorted(vars(monitoring))
                 if name.startswith("_") and name.endswith("_listeners")]
    return dict(jax.config.values), listeners

before = snapshot()
import skyreels_jax
after = snapshot()
changed = sorted(k for k in before[0].keys() | after[0].keys() if before[0].get(k) != after[0].get(k))
print(changed, before[1] == after[1], len(before[1]) > 0)
"""


def test_import_changes_no_jax_config_and_registers_no_listener():
    env = {**os.environ, "SKYREELS_JAX_CACHE_DIR": "/tmp/skyreels-import-test"}  # was read on import before
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True", "True"], out.stdout + out.stderr
