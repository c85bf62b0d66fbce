"""Read and write safetensors files from the scripts without the safetensors package.

Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON header
mapping each tensor name to dtype, shape and [begin, end) byte offsets into the data that follows (plus an
optional "__metadata__" of strings), then the raw little-endian tensor data.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path, keep=None):
    """(tensors, metadata) from the file at `path`, tensors in their stored dtype; `keep(name)` filters names.
    A malformed file ends the script with a message naming it."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        sys.exit(f"{path}: too short for a safetensors file ({len(data)} bytes)")
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        sys.exit(f"{path}: header length {length} runs past the end of the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, info in header.items():
        if keep and not keep(name):
            continue
        if info["dtype"] not in DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}, expected one of {sorted(DTYPES)}")
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata, half=False):
    """Write `tensors` as F32 (F16 with `half`), keys sorted, header padded with spaces to a multiple of 8."""
    dtype, tag = (torch.float16, "F16") if half else (torch.float32, "F32")
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(dtype).contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": tag, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
