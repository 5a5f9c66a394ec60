"""Qwen2.5-VL parity with transformers' Qwen2_5_VLForConditionalGeneration on a tiny random folder:
logits of a prompt with an image and a video, and 16 greedy tokens; our preprocessing of an image
against transformers' PIL image processor."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skyreels_jax.models.qwen2_5_vl.generate import VisionInputs, forward, generate
from skyreels_jax.models.qwen2_5_vl.inputs import expand_placeholders, preprocess
from skyreels_jax.models.qwen2_5_vl.loader import load_qwen2_5_vl
from skyreels_jax.models.qwen2_5_vl.vision import vision_layout
from tests.conftest import rel_err
from tests.qwen_vl_fixtures import make_folder, tiny_video

PIXELS = dict(min_pixels=28 * 28, max_pixels=56 * 84)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    folder = make_folder(tmp_path_factory.mktemp("qwen_vl"))
    tok = AutoTokenizer.from_pretrained(str(folder))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "A cat and"},
                                             {"type": "video"}, {"type": "text", "text": "the camera pans."}]}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image, image_grid = preprocess(tiny_video(1, 60, 50, seed=1), **PIXELS)
    video, video_grid = preprocess(tiny_video(4, 56, 84), **PIXELS)
    text = expand_placeholders(expand_placeholders(text, "<|image_pad|>", [image_grid]), "<|video_pad|>", [video_grid])
    ids = np.array([tok(text, add_special_tokens=False).input_ids])
    vision = VisionInputs(image, np.array([image_grid]), video, np.array([video_grid]), [2.0])  # fps 1
    reference = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(folder), attn_implementation="eager").eval()
    torch_inputs = dict(input_ids=torch.tensor(ids), attention_mask=torch.ones_like(torch.tensor(ids)),
                        pixel_values=torch.tensor(image), image_grid_thw=torch.tensor([image_grid]),
                        pixel_values_videos=torch.tensor(video), video_grid_thw=torch.tensor([video_grid]),
                        second_per_grid_ts=torch.tensor([2.0]),
                        mm_token_type_ids=torch.tensor((ids == reference.config.image_token_id) * 1
                                                       + (ids == reference.config.video_token_id) * 2))
    return folder, ids, vision, reference, torch_inputs


def test_inputs_exercise_windows_time_and_preprocessing(setup):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    _, _, vision, reference, _ = setup
    assert vision.video_grid_thw.tolist() == [[2, 4, 6]]
    model = load_qwen2_5_vl(setup[0])
    layout = vision_layout(vision.video_grid_thw, model.config.vision)
    assert len(set(layout.window_ids.tolist())) == 2 * 2  # per frame: one full 2×2-unit window, one partial
    ref = Qwen2VLImageProcessorPil(**PIXELS)(images=[tiny_video(1, 60, 50, seed=1)[0]], return_tensors="np")
    assert ref["image_grid_thw"].tolist() == vision.image_grid_thw.tolist()
    assert np.abs(ref["pixel_values"] - vision.pixel_values).max() < 0.05  # PIL rounding of the resized image


def test_logits_match(setup):
    folder, ids, vision, reference, torch_inputs = setup
    with torch.no_grad():
        ref = reference(**torch_inputs).logits.numpy()
    ours = forward(load_qwen2_5_vl(folder), ids, np.ones_like(ids), vision)
    assert rel_err(ours, ref) <= 1e-5


def test_greedy_tokens_match(setup):
    folder, ids, vision, reference, torch_inputs = setup
    with torch.no_grad():
        ref = reference.generate(**torch_inputs, max_new_tokens=16, do_sample=False, eos_token_id=None,
                                 pad_token_id=0)[0, ids.shape[1]:].numpy()
    ours = generate(load_qwen2_5_vl(folder), ids, np.ones_like(ids), vision, max_new_tokens=16)
    assert ours[0].tolist() == ref.tolist()
