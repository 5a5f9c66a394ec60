"""A fine-tuned or distilled DiT as a LoRA of its base: the file that `load_pipeline(base, loras=[...])` turns
back into (nearly) the same model, at a fraction of its size.

For every linear kernel the difference W_student - W_teacher (PyTorch layout [out, in]) is cut to its first
`rank` singular values, D ~ B @ A with B = U·√S [out, r] and A = √S·Vᵀ [r, in], and written as
`transformer.<diffusers module>.lora_A.weight` / `.lora_B.weight` with no alpha (scale 1): the diffusers/PEFT
layout that `lora_files` reads and that diffusers' `load_lora_weights` / `load_lora_adapter` read. At
rank >= min(out, in) the factors are exact. Every other parameter that differs (biases, norms, embeddings,
the patch convolution, modulation tables) is written whole, as `.diff` (a weight or a bare parameter) or
`.diff_b` (a bias): our merge path reads them, but runtime LoRAs (lora_mode="runtime") and diffusers do not,
so such a file must be merged; `linear_only=True` leaves them out (the file is then a plain LoRA that
every reader applies, at the cost of the differences it drops).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from flax import nnx

from skyreels_jax.models.dit import keys as dit_keys

PREFIX = "transformer."


def _flat(model) -> dict[tuple, np.ndarray]:
    return {tuple(map(str, p)): v for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def low_rank(difference: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(A [r, in], B [out, r]) with B @ A the best rank-r approximation of difference [out, in] (r <= rank)."""
    u, s, vt = np.linalg.svd(difference.astype(np.float64), full_matrices=False)
    r = min(rank, s.size)
    root = np.sqrt(s[:r])
    return (root[:, None] * vt[:r]).astype(np.float32), (u[:, :r] * root).astype(np.float32)


def lora_tensors(student, teacher, rank: int, linear_only: bool = False) -> dict[str, np.ndarray]:
    """The LoRA that takes `teacher` to `student` (two DiTs of one architecture), as {key: float32 tensor}."""
    if rank < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    s, t = _flat(student), _flat(teacher)
    if s.keys() != t.keys() or any(s[p].get_value().shape != t[p].get_value().shape for p in s):
        raise ValueError("the student and the teacher are not DiTs of one architecture (their parameters differ "
                         "in names or shapes)")
    n = student.config.num_layers
    out = {}
    for path in s:
        difference = np.asarray(s[path].get_value(), np.float32) - np.asarray(t[path].get_value(), np.float32)
        keys = dit_keys.source_keys(path, "diffusers", n)
        for key, d in zip(keys, difference if path[0] == "blocks" else [difference], strict=True):
            if not d.any():
                continue
            d = np.ascontiguousarray(dit_keys.to_torch(path[-1], d))
            if path[-1] == "kernel" and d.ndim == 2:
                name = PREFIX + key.removesuffix(".weight")
                out[name + ".lora_A.weight"], out[name + ".lora_B.weight"] = low_rank(d, rank)
            elif not linear_only:
                name = PREFIX + key.removesuffix(".weight").removesuffix(".bias")
                out[name + (".diff_b" if key.endswith(".bias") else ".diff")] = d
    return out


def save_lora(student, teacher, path: str | Path, rank: int, linear_only: bool = False) -> Path:
    """Write lora_tensors(student, teacher, rank, linear_only) to the safetensors file `path`, atomically
    (a temporary file beside it, then a rename); returns path."""
    from safetensors.numpy import save_file

    tensors = lora_tensors(student, teacher, rank, linear_only)
    if not tensors:
        raise ValueError("the student equals the teacher: there is no difference to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt", "rank": str(rank)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
