"""One-file snapshots of named arrays (a blob-store object): a JSON header, then each array raw and
64-byte aligned, so a reader can memory-map the large ones instead of reading them.

Layout: ``EVIX``, version (u32), header length (u64), header JSON {"meta", "arrays": {name: [dtype,
shape, offset]}}, arrays.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

MAGIC = b"EVIX"
VERSION = 1
_PREFIX = struct.Struct("<4sIQ")
ALIGN = 64


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def write(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON-able) and ``arrays`` to ``path``."""
    table, offset = {}, 0
    for name, a in arrays.items():
        table[name] = [a.dtype.str, list(a.shape), offset]
        offset = _aligned(offset + a.nbytes)
    header = json.dumps({"meta": meta, "arrays": table}).encode()
    start = _aligned(_PREFIX.size + len(header))
    with open(path, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, VERSION, len(header)) + header)
        for name, a in arrays.items():
            f.seek(start + table[name][2])
            f.write(np.ascontiguousarray(a).tobytes())
        f.truncate(start + offset)


def read(path: Path, mmap: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of a snapshot; with ``mmap`` the arrays are memory-mapped read-only."""
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        magic, version, size = _PREFIX.unpack(prefix) if len(prefix) == _PREFIX.size else (b"", 0, 0)
        if magic != MAGIC or version != VERSION:
            raise ValueError(f"{path}: not an index snapshot of version {VERSION}")
        header = json.loads(f.read(size))
        start = _aligned(_PREFIX.size + size)
        arrays = {}
        for name, (dtype, shape, offset) in header["arrays"].items():
            count = int(np.prod(shape))
            if mmap and count:
                arrays[name] = np.memmap(path, dtype, "r", start + offset, tuple(shape))
            else:
                f.seek(start + offset)
                arrays[name] = np.fromfile(f, dtype, count).reshape(shape)
    return header["meta"], arrays
