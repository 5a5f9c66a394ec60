"""Sigma schedules: the original's kept exactly, the others' defining spacings, files and arrays,
and one-line errors for everything a user can get wrong (karras, exponential and beta against
diffusers' builders: test_sched_parity)."""
import json

import numpy as np
import pytest

from skyreels_jax.schedulers import (
    SCHEDULERS,
    SIGMA_MAX,
    flow_sigmas,
    flow_timesteps,
    get_solver,
    load_schedule,
    make_schedule,
    save_schedule,
    schedule_sigmas,
    shift_sigmas,
    timesteps_of,
)
from skyreels_jax.schedulers.schedules import NAMES, beta_quantile


def test_shift_is_the_original_schedule_exactly():
    s = make_schedule("shift", 30, 8.0)
    assert s.timesteps.dtype == np.int64 and s.timesteps.tolist() == flow_timesteps(30, 8.0).tolist()
    np.testing.assert_array_equal(s.sigmas, flow_sigmas(30, 8.0))


def test_simple_is_shift_with_float_timesteps():
    s = make_schedule("simple", 30, 8.0)
    np.testing.assert_array_equal(s.sigmas, flow_sigmas(30, 8.0))
    assert s.timesteps.dtype == np.float32 and np.allclose(s.timesteps, 1000 * s.sigmas[:-1])
    assert s.timesteps[-1] != int(s.timesteps[-1])  # 216.96…, not 216


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_every_named_schedule_is_valid(name, n):
    s = make_schedule(name, n, 5.0)
    assert s.sigmas.shape == (n + 1,) and s.timesteps.shape == (n,) and s.sigmas[-1] == 0
    assert np.all(np.diff(s.sigmas) < 0) and s.sigmas[0] == np.float32(shift_sigmas(SIGMA_MAX, 5.0))
    for solver in SCHEDULERS.values():  # every solver takes every named schedule, timesteps unrounded
        state = solver.init_with_sigmas(*s, (1, 1, 1, 1, 1))
        assert float(timesteps_of(state)) == np.float32(s.timesteps[0])


def test_spacings():
    top, bottom, n = float(shift_sigmas(SIGMA_MAX, 8.0)), float(shift_sigmas(1e-3, 8.0)), 9
    def even(a):
        return np.allclose(np.diff(a), np.diff(a)[0])
    assert even(schedule_sigmas("karras", n, 8.0)[:-1] ** (1 / 7))
    assert even(schedule_sigmas("karras", n, 8.0, rho=3)[:-1] ** (1 / 3))
    assert even(np.log(schedule_sigmas("exponential", n, 8.0)[:-1]))
    assert even(np.arctan(schedule_sigmas("kl_optimal", n, 8.0)[:-1]))
    for name in ("karras", "exponential", "beta", "kl_optimal"):
        s = schedule_sigmas(name, n, 8.0)
        assert np.isclose(s[0], top) and np.isclose(s[-2], bottom)
    t = np.append(1 - schedule_sigmas("linear_quadratic", 10, 8.0, threshold=0.05)[:-1] / top, 1.0)
    np.testing.assert_allclose(t[:6], 0.05 * np.arange(6) / 5)  # linear up to the threshold, over 5 steps
    curve, slope, start = np.polyfit(np.arange(6), t[5:], 2)  # then quadratic up to 1 ...
    np.testing.assert_allclose(np.polyval([curve, slope, start], np.arange(6)), t[5:])
    assert np.isclose(start, 0.05) and np.isclose(slope, 0.01)  # ... leaving with the same slope


@pytest.mark.parametrize("a, b", [(0.6, 0.6), (0.5, 2.0), (3.0, 0.7), (1.0, 1.0)])
def test_beta_quantile_matches_scipy(a, b):
    from scipy.stats import beta
    p = np.linspace(0, 1, 41)
    np.testing.assert_allclose(beta_quantile(p, a, b), beta.ppf(p, a, b), rtol=0, atol=1e-10)


def test_arrays_and_files(tmp_path):
    sigmas = [0.95, 0.7, 0.4, 0.1, 0.0]
    s = make_schedule(np.asarray(sigmas), 4)
    np.testing.assert_array_equal(s.sigmas, np.float32(sigmas))
    np.testing.assert_allclose(s.timesteps, [950, 700, 400, 100], rtol=1e-6)
    path = tmp_path / "searched.json"
    save_schedule(path, sigmas, note="6 NFE, toy model")
    assert json.loads(path.read_text()) == {"sigmas": sigmas, "note": "6 NFE, toy model"}
    np.testing.assert_array_equal(make_schedule(str(path)).sigmas, s.sigmas)
    np.testing.assert_array_equal(load_schedule(path), sigmas)


@pytest.mark.parametrize("call, match", [
    (lambda: make_schedule("karas", 10), "unknown schedule 'karas'"),
    (lambda: make_schedule("karras"), "needs num_steps"),
    (lambda: make_schedule("karras", 10, rho=7, tau=2), "unexpected keyword"),
    (lambda: make_schedule("shift", 10, rho=7), "takes no options"),
    (lambda: make_schedule("karras", 10, sigma_min=0.9, sigma_max=0.5), "sigma_min < sigma_max"),
    (lambda: make_schedule("beta", 0), "num_steps must be a positive integer"),
    (lambda: make_schedule("shift", 10, shift=0.0), "shift must be > 0"),
    (lambda: make_schedule([0.9, 0.5, 0.1]), "must end in 0"),
    (lambda: make_schedule([0.9, 0.5, 0.6, 0.0]), "strictly decreasing, got 0.5 then 0.6 at index 1"),
    (lambda: make_schedule([0.9, float("nan"), 0.0]), "finite"),
    (lambda: make_schedule([1.5, 0.5, 0.0]), "lie in \\[0, 1\\]"),
    (lambda: make_schedule([[0.9, 0.0]]), "1-D"),
    (lambda: make_schedule([0.9, 0.5, 0.0], num_steps=30), "has 2 steps .* but num_steps=30"),
    (lambda: make_schedule(["a", "b"]), "numbers"),
    (lambda: make_schedule("missing.json"), "cannot read the schedule file"),
    (lambda: get_solver("dpm++"), "unknown scheduler 'dpm\\+\\+': use one of unipc, "),
    (lambda: SCHEDULERS["dpmpp_2m"].init_with_sigmas([1.0, 0.5, 0.0], [1000, 500], (1, 1)), "sigmas < 1"),
    (lambda: SCHEDULERS["heun"].init_with_sigmas([0.5, 0.7, 0.0], [500, 700], (1, 1)), "strictly decreasing"),
])
def test_bad_schedules_are_one_line_errors(call, match):
    with pytest.raises(ValueError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_bad_schedule_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"sigma": [0.5, 0.0]}))
    with pytest.raises(ValueError, match="'sigmas' list"):
        make_schedule(path)
