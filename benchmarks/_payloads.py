"""The images every client sends: deterministic, JPEG-shaped, realistic sizes.

The bytes start with a JFIF header (so the library's format sniffing accepts
them) followed by seeded random bytes, which base64-encode and serialise
exactly like a real photo of that size would (random data is the worst case
for nothing here: base64 and JSON costs depend only on length).

A :class:`Workload` holds a few distinct probes and one gallery. Call ``i``
sends ``probes[i % len(probes)]`` against the gallery, for every client alike,
so each client sends the same requests in the same order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

KB: Final = 1000
MB: Final = 1000 * KB

_JFIF_HEAD: Final = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_JPEG_END: Final = b"\xff\xd9"


def fake_jpeg(size: int, seed: int) -> bytes:
    """``size`` bytes that look like a JPEG by their header, random after it."""
    body = random.Random(seed).randbytes(max(0, size - len(_JFIF_HEAD) - len(_JPEG_END)))
    return _JFIF_HEAD + body + _JPEG_END


@dataclass(frozen=True)
class Workload:
    """Distinct probes and one gallery; ``probe(i)`` is the probe of call ``i``."""

    name: str
    probes: tuple[bytes, ...]
    gallery: tuple[bytes, ...]

    def probe(self, i: int) -> bytes:
        """The probe of call number ``i``."""
        return self.probes[i % len(self.probes)]

    @property
    def body_bytes(self) -> int:
        """Approximate JSON body size of one call (base64 is 4/3 of the bytes)."""
        raw = len(self.probes[0]) + sum(len(g) for g in self.gallery)
        return raw * 4 // 3

    def describe(self) -> str:
        """A one-line summary of the sizes, for the report."""
        sizes = [f"{len(g) / KB:.0f} KB" for g in self.gallery]
        gallery = ", ".join(sizes)
        if len(sizes) > 1 and len(set(sizes)) == 1:
            gallery = f"{len(sizes)} x {sizes[0]}"
        return (
            f"probe {len(self.probes[0]) / KB:.0f} KB ({len(self.probes)} distinct), "
            f"gallery {gallery}, JSON body ~{self.body_bytes / KB:.0f} KB"
        )


def typical(probe_size: int = 100 * KB, gallery_size: int = 100 * KB) -> Workload:
    """The everyday call: a ~100 KB selfie against a gallery of two ~100 KB photos."""
    return Workload(
        "typical",
        probes=tuple(fake_jpeg(probe_size + i, seed=100 + i) for i in range(8)),
        gallery=(fake_jpeg(gallery_size, seed=1), fake_jpeg(gallery_size + 7, seed=2)),
    )


def tiny() -> Workload:
    """Small images, for figures about the runner itself (memory, many jobs)."""
    return Workload(
        "tiny",
        probes=tuple(fake_jpeg(2 * KB + i, seed=200 + i) for i in range(8)),
        gallery=(fake_jpeg(2 * KB, seed=3),),
    )


def large() -> Workload:
    """One heavy call: a 5 MB probe (just under the 5 MiB limit) and ten ~400 KB photos."""
    return Workload(
        "large",
        probes=(fake_jpeg(5 * MB, seed=300),),
        gallery=tuple(fake_jpeg(400 * KB + i, seed=400 + i) for i in range(10)),
    )
