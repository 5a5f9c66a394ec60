"""Preprocessing mp4 files into the latent dataset with the tiny I2V pipeline's VAE, UMT5 and CLIP:
stored values equal a direct encode, bad inputs are skipped and counted (or raise), shards split over
processes and a rerun skips finished shards."""
import numpy as np
import pytest

from skyreels_jax import load_image_encoder, load_text_encoder, load_vae
from skyreels_jax.cli import main
from skyreels_jax.media import to_unit_range
from skyreels_jax.pipelines.conditioning import image_condition
from skyreels_jax.training import data, preprocess, videos
from tests.conftest import rel_err
from tests.test_train_videos import make_folder

pytestmark = pytest.mark.filterwarnings("ignore:image\\(s\\).*upscaled")   # 16 px frames, 28 px CLIP
SIZE = ["--frames", "5", "--height", "16", "--width", "16"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from tests.pipeline_fixtures import build_pipeline

    return build_pipeline("i2v", tmp_path_factory.mktemp("pipe"))[0]


def _cli(pipeline, clips, captions, out, *extra):
    return main(["preprocess", "--model", str(pipeline), "--videos", str(clips), "--captions", str(captions),
                 "--out", str(out), *SIZE, "--i2v", "--shard-size", "3", *extra])


def _close(a, b):
    assert np.shape(a) == np.shape(b) and rel_err(a, b) <= 1e-6


def test_preprocess_stores_what_the_encoders_give(pipeline, tmp_path, capsys):
    clips, captions = make_folder(tmp_path)
    out = tmp_path / "out"
    assert _cli(pipeline, clips, captions, out, "--on-bad", "skip") == 0
    log = capsys.readouterr().out
    assert "wrote 3 example(s)" in log and "4 bad input(s) skipped" in log
    source = data.open_source(next((out / "dataset").rglob("dataset_info.json")).parent)
    assert len(source) == 3

    vae, te, ie = load_vae(pipeline / "vae"), load_text_encoder(pipeline), load_image_encoder(pipeline)
    for i in range(3):
        ex = source[i]
        caption = ex["caption"].decode()
        name = {"a ramp": "a.mp4", "a faster ramp": "b.mp4", "": "c.mp4"}[caption]
        clip, fps = videos.read_clip(clips / name, 5, 16, 16)
        assert int(ex["fps"]) == fps
        _close(ex["latents"], vae.encode(to_unit_range(clip)[None])[0])
        n = int(te.tokenize([caption])[1].sum())
        assert ex["context"].shape[0] == n
        _close(ex["context"], te.encode([caption])[0, :n])
        y = image_condition(vae, clip[0], None, 5)[0]
        _close(ex["cond_latents"], y[..., 4:])
        _close(ex["image_context"], ie.encode([clip[0]])[0])

    # a rerun re-encodes only the missing shard and rewrites the dataset
    shards = sorted((out / "shards").iterdir())
    assert [s.name for s in shards] == ["00000", "00001", "00002"]
    kept = {s.name: s.stat().st_mtime_ns for s in shards[1:]}
    import shutil
    shutil.rmtree(shards[0])
    assert _cli(pipeline, clips, captions, out, "--on-bad", "skip") == 0
    assert "shard 1/3: 3 example(s), 0 bad" in capsys.readouterr().out
    assert kept == {s: (out / "shards" / s).stat().st_mtime_ns for s in kept}
    assert len(data.open_source(next((out / "dataset").rglob("dataset_info.json")).parent)) == 3
    assert _cli(pipeline, clips, captions, out, "--shard-size", "2") == 2          # other settings: refused
    assert "other settings" in capsys.readouterr().err

    # on_bad="raise" stops at the first bad input, naming it
    assert _cli(pipeline, clips, captions, tmp_path / "strict") == 2
    assert "bad input 'corrupt.mp4'" in capsys.readouterr().err


def test_processes_take_their_shards(pipeline, tmp_path):
    clips, captions = make_folder(tmp_path)
    inputs = videos.FolderClips(clips, captions, frames=5, height=16, width=16)
    enc = preprocess.Encoders.load(pipeline)                          # text-to-video: no CLIP features
    # batches of 2 (the other test encodes one clip at a time)
    out = tmp_path / "out"
    kw = dict(batch_size=2, shard_size=2, on_bad="skip", process_count=2, log=lambda _: None)
    stats = preprocess.encode_shards(inputs, enc, out, process_index=1, **kw)
    assert stats == dict(encoded=2, skipped=0, examples=1, bad=2)    # shards 1 (c, corrupt) and 3 (short)
    assert preprocess.missing_shards(out) == [0, 2]
    with pytest.raises(FileNotFoundError, match="2 shard"):
        preprocess.assemble(out)
    assert preprocess.encode_shards(inputs, enc, out, process_index=0, **kw)["encoded"] == 2
    builder = preprocess.assemble(out, on_bad="skip")
    ex = builder.as_data_source()["train"][0]
    assert "image_context" not in ex and len(builder.bad) == 4


def test_fine_tune_the_i2v_model_on_preprocessed_mp4s(pipeline, tmp_path):
    """End to end: mp4 files -> preprocess (--i2v) -> fine-tune the pipeline's own I2V DiT from its checkpoint."""
    from pathlib import Path

    from skyreels_jax.training.loop import load_config, train

    clips, captions = make_folder(tmp_path)
    out = tmp_path / "latents"
    assert _cli(pipeline, clips, captions, out, "--on-bad", "skip") == 0
    dataset = next((out / "dataset").rglob("dataset_info.json")).parent
    config = Path(__file__).parents[1] / "configs" / "train" / "tiny_i2v.py"
    cfg = load_config(config, {"workdir": str(tmp_path / "run"), "init_checkpoint": str(pipeline / "transformer"),
                               "data.dir": str(dataset), "data.batch_size": 2, "data.text_len": 32,
                               "total_steps": 3, "log_every": 1, "checkpoint.every": 3})
    result = train(cfg, verbose=False)
    assert int(result["state"]["step"]) == 3 and np.isfinite(result["metrics"]["loss"])
