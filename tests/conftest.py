import os

# libtpu is in the test extra (the TPU compiler); the tests run on the CPU, and jax must not probe for a TPU
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402


def rel_err(out, ref) -> float:
    """‖out−ref‖ / ‖ref‖ in float64."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
