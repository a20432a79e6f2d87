"""Writes torch tensors as safetensors, for the Python references of tests
(the format as reference.py documents it: an 8-byte little-endian header
length, a JSON header of dtype/shape/byte range, then the raw bytes)."""
import json
import struct

import torch

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors(path, tensors, metadata=None, float64_as_float32=False):
    """Writes `tensors` (name -> tensor, in order). References that compute
    in float64 pass float64_as_float32 so the C++ side compares in float32."""
    header, data = {}, b""
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu()
        if float64_as_float32 and tensor.dtype == torch.float64:
            tensor = tensor.float()
        raw = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": DTYPES[tensor.dtype],
                        "shape": list(tensor.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
