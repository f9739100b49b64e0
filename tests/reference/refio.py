"""Writes the small versioned binary files that the C++ tests read (tests/reference.h).

Format "SSMTLREF" version 1, little endian:
  magic[8] = b"SSMTLREF", u32 version = 1, u32 count,
  then per tensor: u32 name_len, name (utf-8), u32 ndim, i64 dims[ndim], f32 data[prod(dims)].
"""
import os
import struct

import numpy as np

VERSION = 1
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def write(name, tensors):
    """name: file stem under tests/data; tensors: dict str -> array-like (torch tensors are detached)."""
    path = os.path.join(OUT_DIR, name + ".bin")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"SSMTLREF")
        f.write(struct.pack("<II", VERSION, len(tensors)))
        for key, value in tensors.items():
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            arr = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
            kb = key.encode("utf-8")
            f.write(struct.pack("<I", len(kb)))
            f.write(kb)
            f.write(struct.pack("<I", arr.ndim))
            f.write(struct.pack("<%dq" % arr.ndim, *arr.shape))
            f.write(arr.astype("<f4").tobytes())
    os.replace(tmp, path)
    print("wrote", os.path.relpath(path), "(%d tensors)" % len(tensors))
