"""The diffusion-forcing timestep matrix: the reference's rows, diffusers on a grid, clear errors."""
import itertools

import numpy as np
import pytest

from skyreels_jax.schedulers import flow_timesteps, generate_timestep_matrix


def diffusers_matrix(*args):
    """diffusers' SkyReelsV2DiffusionForcingPipeline.generate_timestep_matrix (it uses no instance state)."""
    import torch
    from diffusers import SkyReelsV2DiffusionForcingPipeline
    frames, template, *rest = args
    out = SkyReelsV2DiffusionForcingPipeline.generate_timestep_matrix(None, frames, torch.as_tensor(template), *rest)
    return out[0].numpy(), out[1].numpy(), out[2].numpy(), [(int(s), int(e)) for s, e in out[3]]


def test_reference_rows_30_steps_25_latents_ar5_cbs5():
    matrix, index, mask, windows = generate_timestep_matrix(25, flow_timesteps(30, 8.0), 25, 5, 0, 5)
    assert matrix.shape == (50, 25) and mask.dtype == bool and matrix.dtype == np.int64
    blocks = matrix[:, ::5]
    assert blocks[0].tolist() == [999] * 5 and mask[0, ::5].tolist() == [True, False, False, False, False]
    assert blocks[6].tolist() == [969, 995, 999, 999, 999]
    assert blocks[20].tolist() == [799, 888, 941, 975, 999]
    assert blocks[34].tolist() == [0, 216, 666, 822, 901]
    assert blocks[49].tolist() == [0, 0, 0, 0, 216]
    assert (mask.sum(0) == 30).all() and windows == [(0, 25)] * 50


def test_row_counts():
    t = flow_timesteps(30, 8.0)
    assert len(generate_timestep_matrix(25, t, 25, 0, 0, 1)[0]) == 30
    assert len(generate_timestep_matrix(25, t, 25, 5, 0, 1)[0]) == 150
    assert len(generate_timestep_matrix(25, t, 25, 5, 5, 5)[0]) == 45


def _grid():
    for steps, cbs, ar, frames_in_blocks, pre_blocks, base_less in itertools.product(
            [1, 3, 10, 30], [1, 2, 5], [0, 1, 3, 5, 40], [1, 2, 5, 7], [0, 1, 3], [0, 1, 3]):
        frames, pre = frames_in_blocks * cbs, pre_blocks * cbs
        base = frames - base_less * cbs
        if pre >= frames or base < cbs or (steps == 30 and cbs == 1 and ar == 40):
            continue
        yield steps, frames, cbs, ar, pre, base


def test_identical_to_diffusers_on_a_grid():
    checked = refused = 0
    for steps, frames, cbs, ar, pre, base in _grid():
        t = flow_timesteps(steps, 5.0)
        args = (frames, t, base, ar, pre, cbs)
        try:
            ours = generate_timestep_matrix(*args)
        except ValueError as err:  # ar_step too small for the window: diffusers refuses too
            assert "ar_step" in str(err)
            with pytest.raises(ValueError, match="ar_step"):
                diffusers_matrix(*args)
            refused += 1
            continue
        ref = diffusers_matrix(*args)
        for a, b in zip(ours[:3], ref[:3]):
            np.testing.assert_array_equal(a, b, err_msg=str(args))
        assert ours[3] == ref[3], args
        checked += 1
    assert checked > 500 and refused > 20, (checked, refused)


def test_shrink_interval_starts_at_the_first_rows_last_update():
    t = flow_timesteps(10, 5.0)
    *_, windows = generate_timestep_matrix(8, t, 4, 5, 0, 1, shrink_interval_with_mask=True)
    assert windows[0] == (0, 1)
    assert all(e - s <= 4 for s, e in windows) and windows[-1] == (4, 8)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_frames=26, causal_block_size=5), "multiple of causal_block_size .*use 25 or 30"),
    (dict(num_pre_ready=1, causal_block_size=5), "num_pre_ready .* multiple of causal_block_size"),
    (dict(num_pre_ready=25), "nothing left to denoise"),
    (dict(base_num_frames=10, ar_step=2), "ar_step .* at least 15"),
    (dict(ar_step=-1), "ar_step must be >= 0"),
    (dict(causal_block_size=0), "causal_block_size must be >= 1"),
    (dict(base_num_frames=3, causal_block_size=5), "at least one causal block"),
    (dict(step_template=[]), "non-empty"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    args = dict(num_frames=25, step_template=flow_timesteps(30, 8.0), base_num_frames=25, ar_step=5,
                num_pre_ready=0, causal_block_size=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        generate_timestep_matrix(**args)


def test_non_integer_counts_raise():
    with pytest.raises(TypeError, match="num_frames must be an integer"):
        generate_timestep_matrix(25.0, [999, 500], 25)
