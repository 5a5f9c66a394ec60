"""The original's timesteps and sigmas, and the diffusers recipe that reproduces them."""
import numpy as np
import pytest

from skyreels_jax.schedulers import SIGMA_MAX, flow_sigmas, flow_timesteps

SHIFT8_30 = [999, 995, 991, 986, 980, 975, 969, 963, 956, 948, 941, 932, 922, 912, 901, 888, 874, 859, 841,
             822, 799, 773, 743, 708, 666, 615, 551, 470, 363, 216]


def test_shift8_30_steps_exact():
    t = flow_timesteps(30, 8.0)
    assert t.dtype == np.int64 and t.tolist() == SHIFT8_30


def test_other_shifts_match_reference_notes():
    assert flow_timesteps(30, 5.0)[:3].tolist() == [999, 992, 985]
    assert flow_timesteps(30, 5.0)[-3:].tolist() == [356, 262, 146]
    assert flow_timesteps(30, 3.0)[-3:].tolist() == [249, 176, 93]


def test_sigmas_shape_dtype_and_final_zero():
    s = flow_sigmas(30, 8.0)
    assert s.dtype == np.float32 and s.shape == (31,) and s[-1] == 0.0
    assert np.all(np.diff(s) < 0)
    assert SIGMA_MAX == float(np.float32(0.999)) and SIGMA_MAX != 0.999


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 8.0])
def test_diffusers_recipe_gives_identical_schedule(shift):
    """UniPCMultistepScheduler(use_flow_sigmas, flow_shift) with sigmas=linspace(SIGMA_MAX, 0) is exact.

    With linspace(0.999, 0) instead, sigmas differ by an ulp and some timesteps by 1 (e.g. shift 1, 3 steps).
    """
    from diffusers import UniPCMultistepScheduler
    for n in [1, 2, 3, 7, 30, 50, 100]:
        ref = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)
        ref.set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, n + 1)[:-1])
        assert ref.timesteps.numpy().tolist() == flow_timesteps(n, shift).tolist()
        np.testing.assert_array_equal(ref.sigmas.numpy(), flow_sigmas(n, shift))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_steps"):
        flow_sigmas(0, 8.0)
    with pytest.raises(ValueError, match="shift"):
        flow_timesteps(30, 0.0)
