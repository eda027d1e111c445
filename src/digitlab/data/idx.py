"""The IDX format MNIST ships in: a big-endian header, then raw uint8 values.

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian uint32. Images are (N, 28, 28) with magic 0x00000803, labels (N,) with
magic 0x00000801. Files may be gzipped (by name or by their first two bytes).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitlab.errors import DataError
from digitlab.store.files import atomic_write

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, gunzipped if it is gzip; a truncated gzip is a DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path}: damaged or truncated gzip ({err}); fetch the file again") from err


def parse(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a uint8 array of the shape its header gives."""
    if len(raw) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != UBYTE or not 1 <= ndim <= 4:
        magic = int.from_bytes(raw[:4], "big")
        raise DataError(
            f"{name}: wrong IDX magic 0x{magic:08x} (expected 0x{IMAGES_MAGIC:08x} for images "
            f"or 0x{LABELS_MAGIC:08x} for labels); is this an MNIST IDX file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    payload = len(raw) - header
    if payload != expected:
        raise DataError(
            f"{name}: IDX header promises {expected} values for shape {shape} but the file holds "
            f"{payload}; the file is truncated or damaged"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """(N, 28, 28) uint8 from an IDX images file."""
    array = parse(read_bytes(path), str(path))
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise DataError(
            f"{path}: expected IDX images of shape (N, 28, 28), found {array.shape}"
        )
    return array


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """(N,) uint8 from an IDX labels file, each a digit 0-9."""
    array = parse(read_bytes(path), str(path))
    if array.ndim != 1:
        raise DataError(f"{path}: expected IDX labels of shape (N,), found {array.shape}")
    if array.size and array.max() > 9:
        raise DataError(f"{path}: labels must be digits 0-9, found {int(array.max())}")
    return array


def read_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike):
    """Images and labels that belong together; their counts must agree."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; they must come from the same split"
        )
    return images, labels


def encode(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as IDX, gzipped when the name ends in .gz."""
    data = encode(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_write(path) as f:
        f.write(data)
