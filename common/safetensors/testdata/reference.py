"""An independent safetensors reader/writer (struct + json + numpy) that the
C++ implementation is checked against.

  reference.py write OUT   writes known tensors, header keys unsorted
  reference.py read IN     prints {name: {dtype, shape, values}} as JSON
"""
import json
import struct
import sys

import numpy as np

NUMPY = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
         "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def bf16_bits(values):
    # bfloat16 is the top half of a float32 (these values are exact in bf16).
    return (np.asarray(values, "<f4").view("<u4") >> 16).astype("<u2")


def write(path):
    tensors = [
        ("weights", "F32", [2, 3], (np.arange(6, dtype="<f4") * 0.5).tobytes()),
        ("ids", "I64", [2], np.array([-1, 2**40], "<i8").tobytes()),
        ("pixels", "U8", [2, 2], np.array([[1, 2], [3, 4]], "u1").tobytes()),
        ("half", "BF16", [2], bf16_bits([1.5, -2.0]).tobytes()),
        ("scalar", "F64", [], np.array(3.25, "<f8").tobytes()),
    ]
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt", "source": "python"}
    # Reverse the key order: readers must go by offsets, not key order.
    text = json.dumps(dict(reversed(list(header.items())))).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            out[name] = t
            continue
        begin, end = t["data_offsets"]
        raw = data[begin:end]
        if t["dtype"] == "BF16":
            bits = np.frombuffer(raw, "<u2").astype("<u4") << 16
            values = bits.view("<f4")
        else:
            values = np.frombuffer(raw, NUMPY[t["dtype"]])
        out[name] = {"dtype": t["dtype"], "shape": t["shape"],
                     "values": [v.item() for v in values]}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
