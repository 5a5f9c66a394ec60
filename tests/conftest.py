import numpy as np


def rel_err(out, ref) -> float:
    """‖out−ref‖ / ‖ref‖ in float64."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
