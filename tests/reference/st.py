# SPDX-License-Identifier: MIT
"""st.py - a tiny safetensors writer and reader (struct + json, no PyPI).

save() takes numpy arrays (numpy needed then) or raw (dtype, shape, bytes) tuples (plain
python3, as the test generators of tests/diag and tests/passes use it).

File layout (safetensors): 8-byte little-endian header length, a JSON header mapping
each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
to the data section), the header padded with spaces to a multiple of 8, then the raw
little-endian data. Tensors are written sorted by name, data in the same order, with
no gaps, as the reference writer does.
"""
import json
import struct

try:
    import numpy as np
except ImportError:  # raw tuples only
    np = None

if np is not None:
    # numpy dtype -> safetensors dtype name; BF16 is handled separately (numpy has none).
    _NP2ST = {
        np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
        np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
        np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL",
    }
    _ST2NP = {v: k for k, v in _NP2ST.items()}


class BF16:
    """A float32 array to be stored as BF16 (round to nearest even, like torch)."""

    def __init__(self, a):
        self.f32 = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
        u = self.f32.view(np.uint32).astype(np.uint64)
        rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        self.bits = rounded.reshape(self.f32.shape)
        self.shape = self.f32.shape

    def widened(self):
        """The float32 values the BF16 bits stand for."""
        return (self.bits.astype(np.uint32) << 16).view(np.float32).reshape(self.shape)


def _encode(value):
    if isinstance(value, tuple):  # (dtype, shape, little-endian bytes)
        dtype, shape, data = value
        return dtype, list(shape), data
    if isinstance(value, BF16):
        return "BF16", list(value.shape), value.bits.astype("<u2").tobytes()
    a = np.asarray(value)
    if a.dtype not in _NP2ST:
        raise TypeError("unsupported dtype %s" % a.dtype)
    return _NP2ST[a.dtype], list(a.shape), np.ascontiguousarray(a).astype(
        a.dtype.newbyteorder("<")).tobytes()


def save(path, tensors):
    """Writes a dict name -> numpy array, BF16 or (dtype, shape, bytes) to path,
    deterministically."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, data = _encode(tensors[name])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path):
    """Reads a safetensors file into a dict name -> (st_dtype, numpy array).
    BF16 is returned widened to float32."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        if h["dtype"] == "BF16":
            bits = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).reshape(h["shape"])
        else:
            dt = _ST2NP[h["dtype"]].newbyteorder("<")
            arr = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"]).astype(
                _ST2NP[h["dtype"]])
        out[name] = (h["dtype"], arr)
    return out
