"""Read tensors one at a time from the .safetensors files of a folder (one file or many shards)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import safe_open


class SafetensorsFolder:
    """Key → file index over every *.safetensors file in a folder; tensors are read lazily.

    Only the headers are read up front, so a 14B checkpoint costs no memory until each tensor
    is asked for.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        files = sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no .safetensors files in {self.folder}")
        self._handles = {}
        self._file_of: dict[str, Path] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        for path in files:
            handle = safe_open(str(path), framework="numpy")
            self._handles[path] = handle
            for key in handle.keys():
                if key in self._file_of:
                    raise ValueError(f"key {key!r} appears in both {self._file_of[key].name} and {path.name}")
                self._file_of[key] = path
                self._shapes[key] = tuple(handle.get_slice(key).get_shape())

    def keys(self) -> list[str]:
        return list(self._file_of)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def read(self, key: str) -> np.ndarray:
        return self._handles[self._file_of[key]].get_tensor(key)
