"""Read tensors from a PyTorch .pth file (the original VAE, T5 and CLIP checkpoints).

torch is needed only here, to unpickle; the file is memory-mapped and each tensor is
converted to numpy when asked for, so the source is never held twice.
"""
from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

from skyreels_jax.checkpoints.errors import CheckpointError


def _import_torch():
    try:
        import torch
    except ImportError as e:  # the library runs without torch; only .pth conversion needs it
        raise ImportError("reading a .pth checkpoint needs PyTorch: pip install 'skyreels-jax[convert]' "
                          "(torch==2.13.0, the CPU build), or use the diffusers (safetensors) layout") from e
    return torch


def _load_weights_only(torch, path: Path):
    """torch.load that never runs code from the file: a pickle that needs more than tensors is refused."""
    import pickle

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} holds a pickle that would run code to load (only plain tensors are read "
                              "from .pth files): use a safetensors file, or convert it") from None
    except (RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({str(e).splitlines()[0]}): "
                              "download it again, or use a safetensors file") from None


class PthFile:
    """Same interface as SafetensorsFolder: keys(), shape(key), read(key) -> numpy."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist")
        torch = _import_torch()
        state = _load_weights_only(torch, self.path)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        self._tensors = {k: v for k, v in state.items() if hasattr(v, "shape")}

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._tensors[key].shape)

    def dtype(self, key: str) -> str:
        return str(self._tensors[key].dtype).removeprefix("torch.")

    def read(self, key: str) -> np.ndarray:
        torch = _import_torch()
        t = self._tensors[key].detach()
        if t.dtype == torch.bfloat16:  # numpy has no bf16: reinterpret the bits
            return t.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()
