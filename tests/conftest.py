"""Shared test helpers: real small images, made in memory."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import pytest


def make_png(seed: int, size: int = 8) -> bytes:
    """A valid RGB PNG of ``size`` x ``size`` pixels whose colours depend on ``seed``."""
    rows = b"".join(
        b"\x00"
        + bytes((seed * 37 + x * 11 + y * 7 + c * 101) % 256 for x in range(size) for c in range(3))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 0))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def png() -> Callable[..., bytes]:
    """Make a distinct real PNG per seed: ``png(1)``, ``png(2)``..."""
    return make_png
