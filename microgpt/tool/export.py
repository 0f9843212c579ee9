"""Export: a checkpoint's weights as a .safetensors file, for PyTorch and the tools that read that format.

The JSON checkpoint (checkpoint.py) stays the format of record: it alone holds the optimizer, the random
stream and the data's identity, and only it can be resumed. This writes the weights once more in the
format most other software reads. safetensors is simple enough to write with the standard library:

    8 bytes      N, the length of the header, an unsigned little-endian integer
    N bytes      a JSON object: for each tensor {"dtype": "F64", "shape": [rows, cols],
                 "data_offsets": [begin, end]} (byte offsets into what follows), and "__metadata__",
                 an object of strings; padded with spaces so that the data starts 8-byte aligned
    the rest     every tensor's numbers, row-major little-endian floats, one after another, no gaps

Tensors are named as everywhere here (wte, wpe, lm_head, layer0.attn_wq, ...; see model.param_shapes),
in init order; each matrix is (n_out rows, n_in cols), so `x @ w.T` applies it. The metadata holds
model.GPTConfig field by field (n_layer, n_embd, ...), the vocabulary as JSON (BOS is token len(vocab)),
the step and the training configuration as JSON; with a BPE tokenizer also "tokenizer": "bpe" and the
merges as JSON ([[a, b], ...]: token 256 + i is bytes a then bytes b; tokens 0..255 are the bytes; vocab
is []), and "bos" is 256 + len(merges). F64 keeps every bit of the checkpoint; F32 rounds each
weight to the nearest float32. Left out: reading the format back (torch or the safetensors package do).
"""

import math
import os
import struct
import sys
from array import array
from dataclasses import asdict

from .. import __version__
from ..errors import MicroGPTError
from ..model import param_shapes
from . import checkpoint
from .files import json_text, not_written, write_atomic
from .runs import CHECKPOINT

DTYPES = {"float64": ("d", "F64"), "float32": ("f", "F32")}  # array typecode, safetensors dtype


def metadata(ck):
    """The strings of "__metadata__": what a reader needs to rebuild the model around the weights."""
    meta = {"format": "microgpt", "microgpt": __version__, "step": str(ck.step),
            "vocab": json_text(ck.vocab), "bos": str(len(ck.vocab)), "config": json_text(asdict(ck.config))}
    if ck.merges is not None:
        meta.update(tokenizer="bpe", merges=json_text(ck.merges), bos=str(256 + len(ck.merges)))
    meta.update((name, str(value)) for name, value in asdict(ck.model).items())
    return meta


def safetensors_bytes(ck, dtype="float64"):
    """The whole .safetensors file for checkpoint `ck`, as bytes."""
    code, kind = DTYPES[dtype]
    header, blobs, offset, start = {"__metadata__": metadata(ck)}, [], 0, 0
    for name, rows, cols in param_shapes(ck.model):
        values = array(code, ck.params[start:start + rows * cols])
        start += rows * cols
        if not all(map(math.isfinite, values)):  # array("f") turns a float64 beyond float32's range into inf
            raise MicroGPTError("%s holds a weight too large for float32; export with --dtype float64" % name)
        if sys.byteorder == "big":
            values.byteswap()
        blobs.append(values.tobytes())
        header[name] = {"dtype": kind, "shape": [rows, cols], "data_offsets": [offset, offset + len(blobs[-1])]}
        offset += len(blobs[-1])
    text = json_text(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # 8 + len(text) a multiple of 8: the floats start aligned
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def export(run, out=None, dtype="float64", overwrite=False, say=print):
    """Write the checkpoint of `run` (a run directory or a checkpoint file) to `out` as safetensors."""
    path = run if os.path.exists(run) and not os.path.isdir(run) else os.path.join(run, CHECKPOINT)
    ck = checkpoint.load(path)  # a FIFO or a device is refused there, as not a regular file
    out = out or os.path.join(os.path.dirname(path), "model.safetensors")
    if os.path.isdir(out):
        raise MicroGPTError("%s is a directory; pass --out FILE" % out)
    if os.path.exists(out) and os.path.samefile(out, path):  # even with --overwrite: it is the format of record
        raise MicroGPTError("%s is the checkpoint being exported; choose another --out" % out)
    if os.path.lexists(out) and not overwrite:
        raise MicroGPTError("%s already exists; pass --overwrite to replace it, or choose another --out" % out)
    if os.path.exists(out) and not os.path.isfile(out):  # the file would replace a FIFO, a device, /dev/full...
        raise MicroGPTError("%s is not a regular file; export replaces files only, choose another --out" % out)
    blob = safetensors_bytes(ck, dtype)
    try:
        write_atomic(out, blob)
    except OSError as e:
        raise MicroGPTError("cannot write %s: %s" % (out, not_written(e)))
    say("wrote %s: %d tensors, %d %s weights, %d bytes (step %d of %s)"
        % (out, len(param_shapes(ck.model)), len(ck.params), DTYPES[dtype][1], len(blob), ck.step, path))
    return out
