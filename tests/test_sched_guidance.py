"""Guidance: CFG as the pipelines compute it, CFG-Zero* and APG against diffusers' guiders, the
guidance interval, per-frame use in diffusion forcing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import SCHEDULERS, guide, init_guidance, make_guidance, make_schedule, needs_uncond, nfe

SHAPE = (1, 3, 4, 4, 8)


def predictions(seed=0):
    rng = np.random.default_rng(seed)
    cond, uncond, x = (jnp.asarray(rng.normal(size=SHAPE), jnp.float32) for _ in range(3))
    return cond, 0.8 * cond + 0.3 * uncond, x


def test_cfg_is_the_pipelines_formula():
    cond, uncond, _ = predictions()
    out, state = guide(make_guidance("cfg", 6.0), None, cond, uncond)
    np.testing.assert_array_equal(out, uncond + 6.0 * (cond - uncond))
    assert state is None


def test_cfg_zero_star_matches_diffusers():
    import torch
    from diffusers import ClassifierFreeZeroStarGuidance
    cond, uncond, _ = predictions()
    g = make_guidance("cfg_zero_star", 5.0)
    ref = ClassifierFreeZeroStarGuidance(guidance_scale=5.0, zero_init_steps=1)
    for step in range(3):
        ref.set_state(step, 10, None)
        want = ref.forward(torch.from_numpy(np.array(cond)), torch.from_numpy(np.array(uncond))).pred.numpy()
        out, _ = guide(g, None, cond, uncond, step=step)
        np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
        assert (step == 0) == (not np.asarray(out).any())  # the first step is zeroed
        assert bool(needs_uncond(g, 0.5, step)) == (step > 0)


@pytest.mark.parametrize("per_frame", [False, True])
@pytest.mark.parametrize("eta, threshold, momentum", [(0.0, 0.0, -0.5), (0.3, 4.0, 0.0), (1.0, 0.0, 0.0)])
def test_apg_matches_diffusers_on_x0(eta, threshold, momentum, per_frame):
    """The paper's APG on x0 predictions, as diffusers' normalized_guidance with the original
    formulation (x0_c + w·update, w = scale − 1) and a momentum buffer, over three steps."""
    import torch
    from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer, normalized_guidance
    g = make_guidance("apg", 4.0, eta=eta, norm_threshold=threshold, momentum=momentum)
    state = init_guidance(g, SHAPE)
    buffer = MomentumBuffer(momentum) if momentum else None
    sigma = np.array([0.9, 0.5, 0.2], np.float32) if per_frame else np.float32(0.6)
    s = sigma.reshape(1, -1, 1, 1, 1) if per_frame else sigma
    for k in range(3):
        cond, uncond, x = predictions(k)
        def x0(v):
            return torch.from_numpy(np.asarray(x - s * v, np.float64))
        want = normalized_guidance(x0(cond), x0(uncond), 3.0, buffer, eta, threshold, True,
                                   (2, 3, 4) if per_frame else None).numpy()
        out, state = guide(g, state, cond, uncond, sample=x, sigma=sigma)
        np.testing.assert_allclose(x - s * out, want, rtol=0, atol=2e-5)


def test_apg_with_neutral_settings_is_cfg():
    cond, uncond, x = predictions()
    g = make_guidance("apg", 6.0, eta=1.0, momentum=0.0)
    out, _ = guide(g, init_guidance(g, SHAPE), cond, uncond, sample=x, sigma=0.7)
    np.testing.assert_allclose(out, uncond + 6.0 * (cond - uncond), rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["cfg", "cfg_zero_star", "apg"])
def test_interval_per_frame(mode):
    """Frames outside [σ_lo, σ_hi] get cond; the uncond pass is needed while one frame is inside;
    APG's momentum moves only for frames inside and in the update mask."""
    g = make_guidance(mode, 5.0, interval=(0.3, 0.8))
    cond, uncond, x = predictions()
    sigma, step = np.array([0.9, 0.5, 0.1], np.float32), np.array([3, 3, 3])
    state = init_guidance(g, SHAPE)
    out, new = guide(g, state, cond, uncond, sample=x, sigma=sigma, step=step,
                     update_mask=np.array([True, False, True]))
    np.testing.assert_array_equal(np.asarray(out)[:, [0, 2]], np.asarray(cond)[:, [0, 2]])
    assert np.abs(np.asarray(out)[:, 1] - np.asarray(cond)[:, 1]).max() > 0.1
    assert bool(needs_uncond(g, sigma, step)) and not bool(needs_uncond(g, np.array([0.9, 0.1]), step[:2]))
    if mode == "apg":
        assert not np.asarray(new).any()  # frame 1 is inside but not updated; 0 and 2 are outside
    one, _ = guide(g, state, cond, None, sample=x, sigma=0.9, step=3)  # outside: no uncond at all
    np.testing.assert_array_equal(one, cond)


def test_guidance_is_a_pytree_so_the_scale_does_not_recompile():
    cond, uncond, _ = predictions()
    traces = []

    @jax.jit
    def f(g, c, u):
        traces.append(1)
        return guide(g, None, c, u)[0]

    for scale in (3.0, 7.0):
        np.testing.assert_allclose(f(make_guidance("cfg", scale), cond, uncond), uncond + scale * (cond - uncond),
                                   rtol=1e-6)
    assert len(traces) == 1


def test_nfe_counts_every_forward():
    sigmas = make_schedule("shift", 10, 8.0).sigmas
    unipc, heun = SCHEDULERS["unipc"], SCHEDULERS["heun"]
    assert nfe(unipc, 10) == nfe(unipc, sigmas) == 10 and nfe(heun, 10) == 19  # Heun's last step is Euler
    assert nfe(unipc, sigmas, make_guidance("cfg", 6.0)) == 20 and nfe(unipc, sigmas, make_guidance("cfg", 1.0)) == 10
    assert nfe(unipc, sigmas, make_guidance("cfg_zero_star", 6.0)) == 19  # step 0 is zeroed: no forward for uncond
    assert nfe(heun, sigmas, make_guidance("cfg_zero_star", 6.0)) == 19 + 17  # both evaluations of step 0
    inside = int(((sigmas[:-1] >= 0.3) & (sigmas[:-1] <= 0.9)).sum())
    assert 0 < inside < 10 and nfe(unipc, sigmas, make_guidance("cfg", 6.0, interval=(0.3, 0.9))) == 10 + inside


@pytest.mark.parametrize("call, match", [
    (lambda: nfe(SCHEDULERS["unipc"], 10, make_guidance()), "needs the sigmas"),
    (lambda: make_guidance("pag"), "unknown guidance mode 'pag'"),
    (lambda: make_guidance("cfg", eta=0.5), "takes no option"),
    (lambda: make_guidance("cfg", interval=(0.8, 0.2)), "interval"),
    (lambda: make_guidance("apg", norm_threshold=-1.0), "finite"),
    (lambda: make_guidance("cfg_zero_star", zero_steps=1.5), "zero_steps"),
    (lambda: guide(make_guidance("apg"), None, *predictions()[:2]), "apg guidance needs sample"),
    (lambda: guide(make_guidance("cfg_zero_star"), None, *predictions()[:2]), "needs step"),
])
def test_bad_guidance_is_a_one_line_error(call, match):
    with pytest.raises(ValueError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
