"""The 1.3B DiT at real width, random weights, one forward on a 5×30×52 latent against diffusers.

Slow (about 3 minutes, ~12 GiB on disk and ~7 GiB RAM per side): `make test-slow`.
"""
import pytest

from benchmarks.dit_forward import compare


@pytest.mark.slow
def test_real_size_forward_matches_diffusers(tmp_path):
    records = compare("DF-1.3B-540P", 5, 30, 52, tmp_path, repeats=1)
    print(records)
    assert records["rel_err"] <= 1e-4
