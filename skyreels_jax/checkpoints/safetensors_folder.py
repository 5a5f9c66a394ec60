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

from skyreels_jax.checkpoints.errors import CheckpointError

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
            header_len, header = read_header(path)
            for key, info in header.items():
                if key in self._entries:
                    raise CheckpointError(f"key {key!r} appears in both {self._entries[key][0].name} and "
                                          f"{path.name}")
                if info["dtype"] not in _DTYPES:
                    raise CheckpointError(f"{path}: tensor {key!r} has unsupported dtype {info['dtype']}")
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


MAX_HEADER = 100 * 2**20  # far above any real header (the 14B models' are ~100 KB)


def read_header(path: Path) -> tuple[int, dict]:
    """(header length, {key: entry}) of one .safetensors file, checked: a corrupt or truncated file is refused
    in one line naming it, before any tensor is read."""
    size = path.stat().st_size
    bad = f"{path} is not a valid safetensors file"
    with open(path, "rb") as f:
        start = f.read(8)
        if len(start) < 8:
            raise CheckpointError(f"{bad}: it has {size} bytes, fewer than a header needs (download it again)")
        (header_len,) = struct.unpack("<Q", start)
        if header_len > min(MAX_HEADER, size - 8):
            raise CheckpointError(f"{bad}: its header claims {header_len} bytes in a file of {size} (corrupt or "
                                  "truncated; download it again)")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, ValueError):
            raise CheckpointError(f"{bad}: its header is not JSON (corrupt; download it again)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{bad}: its header is not a JSON object (corrupt; download it again)")
    header.pop("__metadata__", None)
    data = size - 8 - header_len
    for key, info in header.items():
        try:
            begin, end = (int(x) for x in info["data_offsets"])
            ok = isinstance(info["dtype"], str) and all(isinstance(d, int) and d >= 0 for d in info["shape"])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not 0 <= begin <= end:
            raise CheckpointError(f"{bad}: the entry of {key!r} is malformed (corrupt; download it again)")
        if end > data:
            raise CheckpointError(f"{path} is truncated: tensor {key!r} ends at byte {end} of {data} data bytes "
                                  "(download it again)")
    return header_len, header


def read_config_json(path: Path) -> dict:
    """A checkpoint's config.json as a dict; CheckpointError naming the file if it is not a JSON object."""
    try:
        config = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object of config fields, got {type(config).__name__}")
    return config
