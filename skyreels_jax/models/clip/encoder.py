"""Images to CLIP features: input checks, the two references' preprocessing, the ImageEncoder object.

Inputs: uint8 [B, H, W, 3], one uint8 [H, W, 3], a PIL image, or a list of those (sizes may
differ). Grayscale and RGBA inputs are converted: PIL images of any mode with
`.convert("RGB")` (as both reference pipelines load images), grayscale arrays ([H, W] or
[H, W, 1]) by repeating the channel, RGBA arrays by dropping alpha (what PIL's convert does).
Other channel counts, non-uint8 arrays and empty images raise ValueError. Small images are
upscaled, as both references do (any size from 1×1), with a warning when an image is smaller
than the model's input.

Preprocessing:
- "original" (Wan's open-clip .pth): torch's bicubic interpolate (a = −0.75, no antialias,
  align_corners=False) of the whole image to image_size² (the aspect ratio is not kept: the
  reference pipeline passes the image already cropped to the video's shape), then CLIP
  mean/std normalisation.
- "clip" (a diffusers/transformers folder): CLIPImageProcessor semantics from
  preprocessor_config.json: resize the short edge with PIL bicubic, centre crop, rescale,
  normalise.
"""
from __future__ import annotations

import dataclasses
import warnings

import jax
import numpy as np

from skyreels_jax.models.clip.model import CLIPVision
from skyreels_jax.nn.jit import free, jit_call
from skyreels_jax.parallel.placement import to_device

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def as_rgb_list(images) -> list[np.ndarray]:
    """Any accepted image input to a list of uint8 [H, W, 3] arrays (see the module docstring)."""
    from PIL import Image

    if isinstance(images, Image.Image):
        images = [images]
    elif hasattr(images, "__array__"):  # numpy or jax: [B, H, W, C] is a batch, anything else one image
        images = np.asarray(images)
        images = list(images) if images.ndim == 4 else [images]
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError("give images as uint8 [B, H, W, 3], one [H, W, 3] array, a PIL image, or a non-empty list")
    out = []
    for i, image in enumerate(images):
        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB"))
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise ValueError(f"image {i} is {image.dtype}; give uint8 pixels in [0, 255]")
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
            raise ValueError(f"image {i} has shape {image.shape}; expected [H, W, 3] "
                             "(also [H, W], [H, W, 1], [H, W, 4])")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"image {i} is empty ({image.shape[0]}×{image.shape[1]})")
        image = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
        out.append(np.ascontiguousarray(image))
    return out


def _cubic_weights(in_size: int, out_size: int, a: float = -0.75) -> np.ndarray:
    """[out, in] matrix of torch's bicubic interpolate (align_corners=False, edge pixels repeated)."""
    a = np.float32(a)
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1          # the kernel for |x| <= 1
    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a     # the kernel for 1 < |x| < 2
    # as torch's CPU kernel rounds it: float32 scale, one fused multiply-add, float32 result
    scale = np.float64(np.float32(in_size / out_size))
    src = (scale * (np.arange(out_size) + 0.5) - 0.5).astype(np.float32)
    base = np.floor(src)
    t = src - base
    taps = (far(t + 1), near(t), near(1 - t), far(2 - t))
    matrix = np.zeros((out_size, in_size), np.float32)
    for k, w in enumerate(taps):
        idx = np.clip(base + k - 1, 0, in_size - 1).astype(int)
        np.add.at(matrix, (np.arange(out_size), idx), w)
    return matrix


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How uint8 RGB images become the model's normalised [image_size, image_size, 3] input."""

    mode: str = "original"                   # "original" or "clip" (see the module docstring)
    image_size: int = 224
    resize: dict | None = None               # clip: {"shortest_edge": n} or {"height": h, "width": w}
    crop: tuple[int, int] | None = None      # clip: centre crop (height, width), None for no crop
    resample: int = 3                        # clip: PIL resample filter (3 = bicubic)
    rescale: float = 1 / 255
    mean: tuple[float, ...] = CLIP_MEAN
    std: tuple[float, ...] = CLIP_STD

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.mode == "original":
            x = image.astype(np.float32) / 255.0
            x = np.einsum("oh,hwc,pw->opc", _cubic_weights(image.shape[0], self.image_size), x,
                          _cubic_weights(image.shape[1], self.image_size))
        else:
            x = self._clip_resize_crop(image).astype(np.float64) * self.rescale
        return ((x.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def _clip_resize_crop(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        h, w = image.shape[:2]
        if self.resize is not None:
            if "shortest_edge" in self.resize:  # transformers' get_resize_output_image_size
                short, long = min(h, w), max(h, w)
                new_short, new_long = self.resize["shortest_edge"], int(self.resize["shortest_edge"] * long / short)
                h, w = (new_long, new_short) if w <= h else (new_short, new_long)
            else:
                h, w = self.resize["height"], self.resize["width"]
            image = np.asarray(Image.fromarray(image).resize((w, h), resample=self.resample))
        if self.crop is not None:
            ch, cw = self.crop
            if h < ch or w < cw:
                raise ValueError(f"image is {h}×{w} after resizing, smaller than the {ch}×{cw} crop; "
                                 "the preprocessor config does not resize it enough")
            top, left = (h - ch) // 2, (w - cw) // 2
            image = image[top:top + ch, left:left + cw]
        if image.shape[:2] != (self.image_size, self.image_size):
            raise ValueError(f"preprocessing gives {image.shape[0]}×{image.shape[1]} images but the model takes "
                             f"{self.image_size}×{self.image_size}; check preprocessor_config.json")
        return image


def preprocess_from_config(cfg: dict, image_size: int) -> Preprocess:
    """CLIPImageProcessor fields (preprocessor_config.json; {} for its defaults) to a Preprocess."""
    size = cfg.get("size", {"shortest_edge": image_size})
    size = {"shortest_edge": size} if isinstance(size, int) else size
    crop = cfg.get("crop_size", {"height": image_size, "width": image_size})
    crop = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"])
    return Preprocess(mode="clip", image_size=image_size, resize=size if cfg.get("do_resize", True) else None,
                      crop=crop if cfg.get("do_center_crop", True) else None, resample=int(cfg.get("resample", 3)),
                      rescale=cfg.get("rescale_factor", 1 / 255) if cfg.get("do_rescale", True) else 1.0,
                      mean=tuple(cfg.get("image_mean", CLIP_MEAN)) if cfg.get("do_normalize", True) else (0.0,) * 3,
                      std=tuple(cfg.get("image_std", CLIP_STD)) if cfg.get("do_normalize", True) else (1.0,) * 3)


class ImageEncoder:
    """`encode(images)` -> penultimate CLIP hidden states [B, 257, 1280] for ViT-H/14.

    Call `close()` (or drop every reference) to free the parameters' device memory.
    """

    def __init__(self, model: CLIPVision, preprocess: Preprocess):
        self.model = model
        self.preprocess = preprocess
        self.config = model.config

    def pixels(self, images) -> np.ndarray:
        """The model input for `images`: [B, image_size, image_size, 3] float32."""
        images = as_rgb_list(images)
        small = [i for i, im in enumerate(images) if min(im.shape[:2]) < self.config.image_size]
        if small:
            warnings.warn(f"image(s) {small[:5]} are smaller than {self.config.image_size} px and are upscaled",
                          stacklevel=3)
        return np.stack([self.preprocess(im) for im in images])

    def encode(self, images) -> jax.Array:
        if self.model is None:
            raise RuntimeError("this ImageEncoder was closed; load it again with load_image_encoder")
        return jit_call(self.model, "__call__", to_device(self.pixels(images)))

    def close(self) -> None:
        """Free the parameters' device buffers now, whoever else still refers to them."""
        if self.model is not None:
            free(self.model)
            self.model = None
