"""Read tensors one at a time from the .safetensors files of a folder (one file or many shards).

The format is an 8-byte header length, a JSON header (dtype, shape, byte offsets per key) and
the raw data. Tensors are read with plain file reads into a fresh buffer, not through a
memory map: mapped pages of a 28 GB checkpoint would count as resident memory beside the
model being built.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


class SafetensorsFolder:
    """Key → (file, dtype, shape, offset) index over every *.safetensors file in a folder.

    Only the headers are read up front; `read(key)` reads one tensor.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        files = sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no .safetensors files in {self.folder}")
        self._entries: dict[str, tuple[Path, str, tuple[int, ...], int, int]] = {}
        for path in files:
            with open(path, "rb") as f:
                (header_len,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(header_len))
            for key, info in header.items():
                if key == "__metadata__":
                    continue
                if key in self._entries:
                    raise ValueError(f"key {key!r} appears in both {self._entries[key][0].name} and {path.name}")
                if info["dtype"] not in _DTYPES:
                    raise ValueError(f"{path.name}: tensor {key!r} has unsupported dtype {info['dtype']}")
                begin, end = info["data_offsets"]
                self._entries[key] = (path, info["dtype"], tuple(info["shape"]), 8 + header_len + begin, end - begin)

    def keys(self) -> list[str]:
        return list(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key][2]

    def dtype(self, key: str) -> str:
        return np.dtype(_DTYPES[self._entries[key][1]]).name

    def read(self, key: str) -> np.ndarray:
        path, dtype, shape, offset, nbytes = self._entries[key]
        out = np.empty(shape, _DTYPES[dtype])
        if out.nbytes != nbytes:
            raise ValueError(f"{path.name}: tensor {key!r} has {nbytes} bytes, expected {out.nbytes} for "
                             f"{dtype}{list(shape)}")
        with open(path, "rb") as f:
            f.seek(offset)
            if f.readinto(out.reshape(-1).view(np.uint8)) != nbytes:
                raise ValueError(f"{path.name} is truncated: tensor {key!r} is cut short")
        return out
