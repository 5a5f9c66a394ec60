"""Importing a folder of mp4 files with captions: size, length, fps stride, and bad data skipped or raised."""
import json

import numpy as np
import pytest

from skyreels_jax.media import resize_crop, write_video
from skyreels_jax.training import data, videos


def _levels(n, height=24, width=32):
    """n frames, frame i a flat grey of level 20·i (+ a horizontal ramp), easy for H.264 to keep."""
    ramp = np.linspace(0, 40, width)[None, :, None]
    return np.stack([np.broadcast_to(20 * i + ramp, (height, width, 3)) for i in range(n)]).astype(np.uint8)


def make_folder(root):
    """Three good clips, one too short, one corrupt, one without a caption, one caption without a file."""
    folder = root / "clips"
    for name, n, fps in [("a.mp4", 9, 24), ("b.mp4", 11, 32), ("c.mp4", 9, 24), ("short.mp4", 3, 24),
                         ("nocaption.mp4", 9, 24)]:
        write_video(folder / name, _levels(n), fps=fps)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00 ftypisom" + b"garbage" * 50)
    captions = {"a.mp4": "a ramp", "b.mp4": "a faster ramp", "c.mp4": "", "short.mp4": "too short",
                "corrupt.mp4": "broken", "gone.mp4": "no such file"}
    (root / "captions.jsonl").write_text("".join(json.dumps({"file": k, "caption": v}) + "\n"
                                                 for k, v in captions.items()))
    return folder, root / "captions.jsonl"


def test_read_clip_resizes_crops_and_strides(tmp_path):
    write_video(tmp_path / "x.mp4", _levels(11), fps=32)
    clip, fps = videos.read_clip(tmp_path / "x.mp4", frames=5, height=16, width=16)
    assert clip.shape == (5, 16, 16, 3) and clip.dtype == np.uint8 and fps == 32
    want = np.stack([resize_crop(f, 16, 16) for f in _levels(5)]).astype(np.float32)
    assert np.abs(clip - want).mean() < 3.0                   # H.264 is lossy; the content is the same
    strided, fps = videos.read_clip(tmp_path / "x.mp4", frames=5, height=16, width=16, fps=16)
    assert fps == 16
    np.testing.assert_allclose(strided.mean(axis=(1, 2, 3)) - clip.mean(axis=(1, 2, 3))[0],
                               [0, 40, 80, 120, 160], atol=4)  # frames 0, 2, 4, 6, 8
    with pytest.raises(ValueError, match="has 6 frames at stride 2, needs 7"):
        videos.read_clip(tmp_path / "x.mp4", frames=7, height=16, width=16, fps=16)


def test_captions_files(tmp_path):
    (tmp_path / "c.csv").write_text('file,caption\nx.mp4,"a, b"\nsub/y.mp4,z\n')
    assert videos.read_captions(tmp_path / "c.csv") == {"x.mp4": "a, b", "y.mp4": "z"}
    (tmp_path / "d.jsonl").write_text('{"file": "x.mp4", "caption": "a"}\n{"file": "x.mp4", "caption": "b"}\n')
    with pytest.raises(ValueError, match="captioned twice"):
        videos.read_captions(tmp_path / "d.jsonl")
    (tmp_path / "e.jsonl").write_text('{"video": "x.mp4", "caption": "a"}\n')
    with pytest.raises(ValueError, match="entry 1 needs a 'file'"):
        videos.read_captions(tmp_path / "e.jsonl")


def test_import_folder_skips_and_counts_or_raises(tmp_path):
    folder, captions = make_folder(tmp_path)
    size = dict(frames=5, height=16, width=16)
    with pytest.raises(ValueError, match="bad example 'corrupt.mp4': unreadable: cannot read video"):
        videos.import_videos(folder, captions, tmp_path / "raise", **size)
    builder = videos.import_videos(folder, captions, tmp_path / "skip", on_bad="skip", **size)
    reasons = dict(builder.bad)
    assert sorted(reasons) == ["corrupt.mp4", "gone.mp4", "nocaption.mp4", "short.mp4"]
    assert "has no caption" in reasons["nocaption.mp4"] and "needs 5" in reasons["short.mp4"]
    assert "not in" in reasons["gone.mp4"]
    source = data.open_source(builder.data_dir)
    rows = sorted((source[i]["caption"].decode(), int(source[i]["fps"]), source[i]["video"].shape)
                  for i in range(len(source)))
    assert rows == [("", 24, (5, 16, 16, 3)), ("a faster ramp", 32, (5, 16, 16, 3)), ("a ramp", 24, (5, 16, 16, 3))]
    with pytest.raises(ValueError, match="4k\\+1"):
        videos.import_videos(folder, captions, tmp_path / "bad", frames=6, height=16, width=16)
