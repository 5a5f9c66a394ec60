"""tfds builders (no TensorFlow) and grain loading: round trip, host sharding, resume, bad data."""
import sys

import numpy as np
import pytest

from skyreels_jax.training import data, synthetic
from skyreels_jax.training.loader import process_rows

SHAPE = (3, 8, 8, 16)


def _latent_builder(tmp_path, n=10, **kw):
    return data.build(data.LatentTextPairs, tmp_path, synthetic.latent_text_examples(n, tokens=4), latent_shape=SHAPE,
                      text_dim=24, **kw)


def test_latent_pairs_round_trip_and_loader(tmp_path):
    builder = _latent_builder(tmp_path)
    assert "tensorflow" not in sys.modules
    source = data.open_source(builder.data_dir)            # read back without the builder class
    assert len(source) == 10
    ex = source[0]
    assert ex["latents"].shape == SHAPE and ex["context"].shape == (4, 24)
    originals = {e["caption"]: e for _, e in synthetic.latent_text_examples(10, tokens=4)}
    np.testing.assert_array_equal(ex["latents"], originals[ex["caption"].decode()]["latents"])

    it = iter(data.make_loader(source, global_batch=4, text_len=6, seed=0))
    batch = next(it)
    assert batch["latents"].shape == (4,) + SHAPE and batch["latents"].dtype == np.float32
    assert batch["context"].shape == (4, 6, 24)
    np.testing.assert_array_equal(batch["context"][:, 4:], 0.0)    # zero padding past the true tokens
    np.testing.assert_array_equal(batch["fps_ids"], 1)              # 24 fps -> row 1
    with pytest.raises(ValueError, match="text_len"):
        next(iter(data.make_loader(source, global_batch=2, text_len=3)))


def test_loader_resumes_from_its_state_and_reshuffles_epochs(tmp_path):
    source = data.open_source(_latent_builder(tmp_path).data_dir)
    it = iter(data.make_loader(source, global_batch=2, text_len=4, seed=3))
    for _ in range(3):
        next(it)
    saved = it.get_state()
    expected = [next(it)["latents"] for _ in range(4)]
    it2 = iter(data.make_loader(source, global_batch=2, text_len=4, seed=3))
    it2.set_state(saved)
    for want in expected:
        np.testing.assert_array_equal(next(it2)["latents"], want)
    # an epoch (5 batches of 2) visits every example once; the next epoch has another order
    it3 = iter(data.make_loader(source, global_batch=2, text_len=4, seed=3))
    first = [tuple(next(it3)["latents"][:, 0, 0, 0, 0]) for _ in range(5)]
    second = [tuple(next(it3)["latents"][:, 0, 0, 0, 0]) for _ in range(5)]
    assert len(set(np.ravel(first))) == 10 and sorted(np.ravel(first)) == sorted(np.ravel(second))
    assert first != second


def test_hosts_read_their_rows_of_the_same_global_batches(tmp_path):
    source = data.open_source(_latent_builder(tmp_path).data_dir)
    one = iter(data.make_loader(source, global_batch=4, text_len=4, seed=2))
    hosts = [iter(data.make_loader(source, global_batch=4, text_len=4, seed=2, rows=process_rows(4, i, 2)))
             for i in range(2)]
    for _ in range(6):                       # over two epochs: the order does not depend on the host count
        whole = next(one)
        parts = [next(h) for h in hosts]
        for k in whole:
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), whole[k])
    assert process_rows(6, 2, 3) == (4, 6)
    with pytest.raises(ValueError, match="hosts"):
        process_rows(3, 0, 2)
    with pytest.raises(ValueError, match="rows 2:5"):
        data.make_loader(source, global_batch=4, text_len=4, rows=(2, 5))


def _bad_examples():
    good = list(synthetic.latent_text_examples(4, tokens=4))
    wrong_shape = ("wrong_shape", {**good[1][1], "latents": np.zeros((2, 8, 8, 16), np.float32)})
    no_caption = ("no_caption", {k: v for k, v in good[2][1].items() if k != "caption"})
    nan = ("nan", {**good[3][1], "context": np.full((4, 24), np.nan, np.float32)})
    return [good[0], wrong_shape, no_caption, ("unreadable", OSError("truncated file")), nan]


def test_bad_examples_raise_or_are_skipped_and_counted(tmp_path):
    with pytest.raises(ValueError, match="wrong_shape.*expected"):
        data.build(data.LatentTextPairs, tmp_path / "a", _bad_examples(), latent_shape=SHAPE, text_dim=24)
    builder = data.build(data.LatentTextPairs, tmp_path / "b", _bad_examples(), latent_shape=SHAPE, text_dim=24,
                         on_bad="skip")
    assert len(builder.as_data_source()["train"]) == 1
    assert [k for k, _ in builder.bad] == ["wrong_shape", "no_caption", "unreadable", "nan"]


def test_npz_folder_and_preference_pairs(tmp_path):
    folder = tmp_path / "npz"
    folder.mkdir()
    for key, ex in synthetic.preference_examples(3, tokens=5):
        np.savez(folder / f"{key}.npz", **ex)
    (folder / "broken.npz").write_bytes(b"not a zip")
    builder = data.build(data.PreferencePairs, tmp_path / "ds", data.npz_examples(folder), latent_shape=SHAPE,
                         text_dim=24, on_bad="skip")
    assert [k for k, _ in builder.bad] == ["broken"]
    source = builder.as_data_source()["train"]
    assert len(source) == 3 and source[0]["prompt"].startswith(b"pattern")
    batch = next(iter(data.make_loader(source, global_batch=2, text_len=8, array_keys=("chosen", "rejected"))))
    assert batch["chosen"].shape == batch["rejected"].shape == (2,) + SHAPE
    assert not np.array_equal(batch["chosen"], batch["rejected"])
