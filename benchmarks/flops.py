"""Matmul FLOPs of a DiT forward, for MFU (docs/performance.md writes the formula out).

Counted: every matrix product, 2 FLOPs per multiply-add, attention over all token pairs (no mask
savings); not counted: norms, softmax, RoPE, modulation and other elementwise work (~1-3 %).
"""
from __future__ import annotations


def dit_forward_flops(cfg, frames: int, height: int, width: int, text_len: int = 512, image_len: int = 0,
                      batch: int = 1) -> int:
    """FLOPs of one DiT forward on a latent [batch, frames, height, width, in_dim] (cfg: a DiTConfig)."""
    pt, ph, pw = cfg.patch_size
    p = pt * ph * pw
    f = frames // pt
    L = f * (height // ph) * (width // pw)          # video tokens
    D, Dff, Lt, Li = cfg.dim, cfg.ffn_dim, text_len, image_len if cfg.image_dim else 0
    block = (8 * L * D * D                          # self-attention q, k, v, o
             + 4 * L * L * D                        # self-attention scores and weighted sum
             + 4 * L * D * D + 4 * Lt * D * D       # cross-attention q, o; text k, v
             + 4 * L * Lt * D                       # cross-attention over text
             + 4 * Li * D * D + 4 * L * Li * D      # image k, v and attention over image tokens (I2V)
             + 4 * L * D * Dff)                     # FFN
    outside = (2 * L * p * cfg.in_dim * D           # patch embedding
               + 2 * Lt * (cfg.text_dim * D + D * D)  # text MLP
               + 2 * f * (cfg.freq_dim * D + D * D + 6 * D * D)  # time MLP and 6-way projection, per frame
               + 2 * L * D * p * cfg.out_dim)       # head
    if Li:
        outside += 2 * Li * (cfg.image_dim * cfg.image_dim + cfg.image_dim * D)  # image MLP
    if cfg.inject_sample_info:
        outside += 2 * (D * D + 6 * D * D)          # fps MLP
    return batch * (cfg.num_layers * block + outside)


def jaxpr_flops(fn, *args) -> int:
    """Matrix-product FLOPs of fn(*args) (arrays or jax.ShapeDtypeStruct), counted on its jaxpr: every
    dot_general and conv_general_dilated, 2 per multiply-add, a scan's body times its length (XLA's
    cost analysis counts a loop body once). Nothing runs; use it for models without a formula (the VAE)."""
    import jax

    return _count(jax.make_jaxpr(fn)(*args).jaxpr)


def _count(jaxpr) -> int:
    import math

    from jax.extend.core import jaxprs_in_params

    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (contract, _), (batch, _) = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            k = math.prod(lhs[d] for d in contract)
            total += 2 * k * math.prod(eqn.outvars[0].aval.shape)
        elif name == "conv_general_dilated":
            rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out, in, *spatial) positions
            rhs = eqn.invars[1].aval.shape
            per_output = rhs[rhs_spec[1]] * math.prod(rhs[d] for d in rhs_spec[2:])
            total += 2 * per_output * math.prod(eqn.outvars[0].aval.shape)  # rhs "in" is per group already
        times = eqn.params.get("length", 1) if name == "scan" else 1
        if name == "while":
            raise ValueError("a while loop's trip count is unknown: count its body by hand")
        if name == "cond":  # the costliest branch
            total += max(_count(b.jaxpr) for b in eqn.params["branches"])
            continue
        for sub in jaxprs_in_params(eqn.params):
            total += times * _count(sub)
    return total
