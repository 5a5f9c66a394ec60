"""The captioner's JSON handling, fusion and batch resume, with stub generators; and one run of the real
tiny model through load_captioner."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from skyreels_jax.captioner import (
    Captioner,
    CaptionError,
    caption_folder,
    clean_for_fusion,
    fuse,
    list_videos,
    parse_caption,
    sample_frame_indices,
)
from tests.qwen_vl_fixtures import make_folder, tiny_video

GOOD = {"subjects": [{"appearance": "a grey cat", "action": " walks ", "expression": "calm", "position": "center",
                      "TYPES": {"type": "Animal", "sub_type": "Cat"}, "is_main_subject": True},
                     {"appearance": "a red ball", "action": "", "expression": "happy", "position": "left",
                      "TYPES": {"type": "Object", "sub_type": "Ball"}, "is_main_subject": False}],
        "shot_type": "medium_shot", "shot_angle": "eye level", "shot_position": "sideways",
        "camera_motion": "the camera pans right", "environment": "a garden", "lighting": "sunny"}
VIDEO = tiny_video(5, 32, 40)


def test_parse_repairs_and_rejects():
    caption = parse_caption("Sure! ```json\n" + json.dumps(GOOD) + "\n```")
    assert caption["shot_angle"] == "eye_level" and caption["shot_position"] == "other"
    assert caption["subjects"][0]["action"] == "walks" and caption["subjects"][0]["TYPES"]["sub_type"] == "Cat"
    assert parse_caption('{"subjects": [{}]}')["subjects"][0]["appearance"] == ""
    for bad in ("no json here", '{"subjects": [1, 2', '{"subjects": "cat"}'):
        with pytest.raises(CaptionError):
            parse_caption(bad)


def test_clean_and_fuse_follow_the_reference():
    caption = parse_caption(json.dumps(GOOD))
    i2v = clean_for_fusion(caption, "i2v", random.Random(0))
    assert i2v == {"num_subjects": 1, "subjects": [{"action": "walks", "expression": "calm", "name": "Cat"}]}
    seen = []
    prompt = fuse(caption, "t2v", lambda messages, seed: seen.append(messages) or "A cat walks.\n\nextra", seed=3)
    assert prompt == "A cat walks. The camera pans right."
    assert '"shot_type": "medium_shot"' in seen[0][0]["content"] and '"expression": ""' in seen[0][0]["content"]
    assert fuse({**caption, "subjects": []}, "i2v", lambda m, s: "unused") == "The camera pans right."
    assert sample_frame_indices(10, 4) == [0, 2, 4, 7] and sample_frame_indices(2, 4) == [0, 0, 0, 1]


def test_malformed_output_is_retried_then_reported(tmp_path):
    outputs = iter(["not json", json.dumps(GOOD)])
    captioner = Captioner(lambda frames, seed: next(outputs), lambda m, s: "A cat.", retries=1, num_frames=4,
                          frame_size=(16, 20))
    assert captioner.caption(VIDEO)["shot_type"] == "medium_shot"
    broken = Captioner(lambda frames, seed: "{oops", None, retries=2, num_frames=4, frame_size=(16, 20))
    with pytest.raises(CaptionError) as e:
        broken.caption(VIDEO)
    assert e.value.raw == "{oops"


def test_batch_records_errors_and_resumes(tmp_path):
    from skyreels_jax.media import write_video

    videos = [write_video(tmp_path / f"{i}.mp4", VIDEO) for i in range(3)]
    (tmp_path / "notes.txt").write_text("not a video")
    outputs = iter(["garbage", json.dumps(GOOD)])  # video 1 gives no JSON, video 2 a caption
    captioner = Captioner(lambda frames, seed: next(outputs), lambda m, s: "A cat walks.", retries=0, num_frames=4,
                          frame_size=(16, 20))
    out = tmp_path / "captions.jsonl"
    out.write_text(json.dumps({"path": str(videos[0]), "structural_caption": GOOD}) + "\n{torn\n")
    counts = caption_folder(list_videos([tmp_path]), out, captioner, tasks=("t2v", "i2v"), log=lambda *_: None)
    assert counts == {"done": 1, "skipped": 1, "failed": 1}
    records = [json.loads(line) for line in out.read_text().splitlines()[2:]]
    assert records[0]["path"] == str(videos[1]) and records[0]["error"].startswith("CaptionError")
    assert records[0]["raw"] == "garbage"
    assert records[1]["t2v_fusion_caption"] == "A cat walks. The camera pans right."
    assert records[1]["i2v_fusion_caption"] == "A cat walks. The camera pans right."
    outputs = iter([json.dumps(GOOD)])  # a second run retries only the failed video
    assert caption_folder(list_videos([tmp_path]), out, captioner, log=lambda *_: None) == \
        {"done": 1, "skipped": 2, "failed": 0}


def test_real_tiny_model_end_to_end(tmp_path):
    from skyreels_jax.captioner import load_captioner

    folder = make_folder(tmp_path / "vl")
    with load_captioner(folder, greedy=True, max_new_tokens=8, fusion_max_new_tokens=4, max_pixels=56 * 56,
                        num_frames=4, frame_size=(56, 56), retries=0) as captioner:
        text = captioner.struct_fn(np.zeros((4, 56, 56, 3), np.uint8), 0)
        assert isinstance(text, str)
        assert isinstance(captioner.prompt(parse_caption(json.dumps(GOOD)), "t2v"), str)


def test_cli_parses():
    import argparse

    from skyreels_jax import captioner_cli

    parser = argparse.ArgumentParser()
    captioner_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["caption", "a.mp4", "dir", "--model", "m", "--task", "both", "--out", "c.jsonl"])
    assert args.videos == ["a.mp4", "dir"] and args.task == "both" and args.retries == 2
