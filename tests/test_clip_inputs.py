"""Image inputs of ImageEncoder.encode: accepted forms, non-RGB conversion, tiny images, errors."""
import numpy as np
import pytest
from PIL import Image

from skyreels_jax import load_image_encoder
from tests.conftest import rel_err
from tests.encoder_fixtures import (
    build_clip,
    clip_reference_diffusers,
    clip_reference_original,
    save_clip_diffusers,
    save_clip_original,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ie")
    reference = build_clip()
    orig = load_image_encoder(save_clip_original(reference, root / "orig"))
    pipe = save_clip_diffusers(reference, root / "pipe")
    return reference, orig, load_image_encoder(pipe), pipe / "image_processor"


def rgb(h=40, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pil_list_and_batch_agree(setup):
    _, ie, _, _ = setup
    a, b = rgb(seed=1), rgb(seed=2)
    batch = np.asarray(ie.encode(np.stack([a, b])))
    np.testing.assert_array_equal(np.asarray(ie.encode([Image.fromarray(a), b])), batch)
    assert rel_err(ie.encode(a), batch[:1]) < 1e-5  # another batch size: another XLA kernel, same values
    with pytest.warns(UserWarning, match=r"image\(s\) \[1\] are smaller than 28 px"):
        mixed = np.asarray(ie.encode([rgb(40, 30), rgb(23, 57)]))  # sizes may differ within a list
    assert mixed.shape == (2, 17, 160)


def test_grayscale_and_rgba_are_converted(setup):
    """Grayscale repeats the channel, RGBA drops alpha: the same as PIL's convert("RGB")."""
    _, ie, _, _ = setup
    gray = rgb()[..., 0]
    rgba = np.concatenate([rgb(), np.full((40, 30, 1), 7, np.uint8)], axis=-1)
    as_rgb = np.asarray(ie.encode(np.repeat(gray[..., None], 3, -1)))
    np.testing.assert_array_equal(np.asarray(ie.encode(gray)), as_rgb)
    np.testing.assert_array_equal(np.asarray(ie.encode(gray[..., None])), as_rgb)
    np.testing.assert_array_equal(np.asarray(ie.encode(Image.fromarray(gray, "L"))), as_rgb)
    np.testing.assert_array_equal(np.asarray(ie.encode(rgba)), np.asarray(ie.encode(rgba[..., :3])))
    np.testing.assert_array_equal(np.asarray(ie.encode(Image.fromarray(rgba, "RGBA"))),
                                  np.asarray(ie.encode(rgba[..., :3])))


@pytest.mark.parametrize("bad,match", [
    (np.zeros((8, 8, 2), np.uint8), "shape"),
    (np.zeros((8, 8, 3), np.float32), "uint8"),
    (np.zeros((0, 8, 3), np.uint8), "empty"),
    ([], "non-empty"),
    ("image.png", "non-empty"),
])
def test_bad_images_raise(setup, bad, match):
    with pytest.raises(ValueError, match=match):
        setup[1].encode(bad)


@pytest.mark.parametrize("size", [(1, 1), (3, 5)])
def test_tiny_images_are_upscaled_like_the_references(setup, size):
    reference, orig, pipe, processor_dir = setup
    x = rgb(*size, seed=3)[None]
    with pytest.warns(UserWarning, match="upscaled"):
        ours = np.asarray(orig.encode(x))
    assert rel_err(ours, clip_reference_original(reference, x)) <= 1e-5
    with pytest.warns(UserWarning, match="upscaled"):
        ours = np.asarray(pipe.encode(x))
    assert rel_err(ours, clip_reference_diffusers(reference, processor_dir, x)) <= 1e-5
