"""Train the toy Wan VAE (the Wan2.1 architecture at small widths) on toy-world clips.

It trains the diffusers `AutoencoderKLWan` with PyTorch and saves it with `save_pretrained`, so the
shipped `vae/` folder is the published layout that `skyreels_jax.load_vae` reads. Why PyTorch:
on this 2-core CPU a batch-8 training step of the same VAE took 12.2 s through XLA:CPU's
conv3d gradient and 1.4 s through PyTorch's (measured while building the toy model).

Loss: L1 + L2 with the pixels within `outline` px of the shape weighted 5x (they are a small part of
each frame; weighting the shape's own pixels alone made spilling past an edge cheap, and every shape
decoded as a round blob), the squared error of the shape's mean colour per frame (weight 4; without
it, after 1000 steps a fifth of the yellow and magenta pixels still decoded as red), plus a small
latent-norm penalty on the posterior means. The decoder sees the posterior means themselves: adding
noise of 0.1 or 0.03 times their RMS (an earlier recipe's way to make it tolerant of imprecise
latents) blurred the outlines (after 2000 steps on 5-frame windows, the round trip's PSNR / share of clips whose shape
`metrics.shape_of` reads right: noise 0.1 (1000 steps) 24.9 dB / 29 %, 0.03 27.4 dB / 71 %,
none 28.1 dB / 71 %, none with the 2 px outline weight 31.5 dB / 92 %). Finally
`latents_mean`/`latents_std` are set per channel from the training clips' posterior means, so
the normalised latents the DiT sees have unit scale.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

# two spatial downsamplings, not Wan's three: 32x32 frames give an 8x8 latent. A 4x4 latent (8x) decoded
# every shape as the same round blob.
VAE_KW = dict(base_dim=8, z_dim=8, dim_mult=[1, 2, 4], num_res_blocks=1, temperal_downsample=[True, True],
              scale_factor_spatial=4)


def _batch(clips: np.ndarray, rng, batch: int, frames: int):
    """A torch batch [B, 3, frames, H, W] in [-1, 1] of random clips and time windows."""
    idx = rng.integers(0, len(clips), batch)
    start = rng.integers(0, clips.shape[1] - frames + 1, batch)
    x = np.stack([clips[i, s:s + frames] for i, s in zip(idx, start)])
    return torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0).permute(0, 4, 1, 2, 3)


def _decode_unclamped(vae, z):
    """diffusers' AutoencoderKLWan decode without its final clamp to [-1, 1], which has no gradient
    where the output overshoots: the black background would pull every pixel below -1 and stick."""
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    out = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        out.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx, first_chunk=i == 0))
    vae.clear_cache()
    return torch.cat(out, 2)


def train_vae(clips: np.ndarray, out: Path, *, steps: int = 300, batch: int = 8, frames: int = 5,
              lr: float = 2e-3, latent_weight: float = 1e-3, init: Path | None = None,
              decoder_only: bool = False, shape_weight: float = 5.0,
              colour_weight: float = 4.0, outline: int = 2, seed: int = 0, log_every: int = 10,
              threads: int = 1) -> Path:
    """Train on uint8 clips [N, F, H, W, 3] (from `init`, a saved VAE folder, if given) and save the
    diffusers folder `out`; returns `out`. decoder_only trains the decoder alone and keeps the
    encoder and the latent statistics, so latents encoded before stay valid. threads: PyTorch's intra-op
    threads; with other jobs on the machine one thread ran a step 6x faster than two (spinning threads
    wait for busy cores)."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    vae = (AutoencoderKLWan.from_pretrained(init) if init else
           AutoencoderKLWan(**VAE_KW, latents_mean=[0.0] * VAE_KW["z_dim"], latents_std=[1.0] * VAE_KW["z_dim"]))
    if decoder_only:
        for module in (vae.encoder, vae.quant_conv):
            module.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        x = _batch(clips, rng, batch, frames)
        mu = vae.encode(x).latent_dist.mode()
        y = _decode_unclamped(vae, mu)
        shape = (x.amax(dim=1, keepdim=True) > -0.9).float()
        # the weight covers the outline on both sides, so spilling past an edge costs as much as falling short
        near = torch.nn.functional.max_pool3d(shape, (1, 2 * outline + 1, 2 * outline + 1), 1, (0, outline, outline))
        weight = 1.0 + (shape_weight - 1.0) * near
        err = y - x
        rec = (weight * (err.abs() + err ** 2)).mean()
        # the shape's mean colour per frame: a global term, or the decoder settles on two hues
        area = shape.sum(dim=(3, 4))
        def hue(v):
            return (v * shape).sum(dim=(3, 4)) / area.clamp(min=1.0)
        colour = ((hue(y) - hue(x)) ** 2 * (area > 0)).mean()
        norm = (mu ** 2).mean()
        loss = rec + colour_weight * colour + latent_weight * norm
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            print(f"vae step {step}/{steps} rec={rec.item():.4f} colour={colour.item():.4f} "
                  f"latent_ms={norm.item():.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    vae.eval()
    if decoder_only:
        return save_atomically(out, vae.save_pretrained)
    with torch.no_grad():  # per-channel statistics of the posterior means over whole clips
        x = torch.from_numpy(clips[:32].astype(np.float32) / 127.5 - 1.0).permute(0, 4, 1, 2, 3)
        mu = torch.cat([vae.encode(x[i:i + 8]).latent_dist.mode() for i in range(0, len(x), 8)])
    vae.register_to_config(latents_mean=mu.mean(dim=(0, 2, 3, 4)).tolist(),
                           latents_std=mu.std(dim=(0, 2, 3, 4)).tolist())
    return save_atomically(out, vae.save_pretrained)


def save_atomically(out: Path, write) -> Path:
    """write(folder) into a folder beside `out`, then rename it to `out`: the folder is there whole
    or not at all, so a build that crashed mid-save redoes the stage."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out
