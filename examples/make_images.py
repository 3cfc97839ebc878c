"""Generate the example images and manifests (stdlib only; run once, output committed).

    python examples/make_images.py

Writes, next to this script:

- ``images/ids/person-NN.png``: one "ID photo" per person, a simple drawn face;
- ``images/selfies/person-NN.png``: one "selfie" per person. For some people
  the selfie is a byte-for-byte copy of the ID photo: against the emulator,
  identical images score 1.0 (a match), so the demo shows verified and not live
  outcomes as well as not matched ones (the emulator cannot see faces: other
  pairs get a stable pseudo-random score);
- ``manifest.csv`` and its twin ``manifest.jsonl`` (24 rows).
- ``liveness.csv``: the selfies alone, for ``--endpoint liveness``.

The images are made up; no real person is pictured. Output is deterministic.
"""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 64
PEOPLE = 12
# People whose selfie is an exact copy of their ID photo.
SAME_IMAGE = {1, 2, 3, 5, 6, 8}
# Picks the selfies' grain; with the emulator's scoring this value gives a mix of outcomes.
SELFIE_GRAIN = 35

SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)]
HAIR = [(40, 30, 20), (90, 60, 30), (200, 160, 80), (120, 40, 20), (60, 60, 60), (15, 15, 15)]
BACKDROP = [
    (70, 130, 180),
    (100, 160, 120),
    (180, 120, 160),
    (200, 200, 210),
    (150, 110, 80),
    (90, 90, 140),
]


def _png(width: int, height: int, pixels: list[list[tuple[int, int, int]]]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class _Noise:
    """A tiny LCG: deterministic grain, so images are photo-like in size."""

    def __init__(self, seed: int) -> None:
        self.state = seed * 2654435761 % 2**32 or 1

    def next(self, spread: int) -> int:
        self.state = (1103515245 * self.state + 12345) % 2**31
        return self.state % (2 * spread + 1) - spread


def _clamp(value: float) -> int:
    return max(0, min(255, int(value)))


def face(person: int, *, selfie: bool) -> bytes:
    """A simple drawn face: backdrop, hair, head, eyes, mouth; the selfie is shifted."""
    skin = SKIN[person % len(SKIN)]
    hair = HAIR[(person * 5) % len(HAIR)]
    back = BACKDROP[(person * 7 + selfie * 3) % len(BACKDROP)]
    cx = SIZE / 2 + (4 if selfie else 0) + (person % 3 - 1) * 2
    cy = SIZE / 2 + 4 + (3 if selfie else 0)
    rx, ry = 15 + person % 4, 19 + person % 3
    eye_gap = 6 + person % 3
    smile = 1 if (person + selfie) % 2 else -1
    noise = _Noise(person * 2 + selfie * SELFIE_GRAIN)
    pixels = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            shade = 0.75 + 0.25 * y / SIZE
            color = tuple(_clamp(c * shade) for c in back)
            dx, dy = (x - cx) / rx, (y - cy) / ry
            inside = dx * dx + dy * dy <= 1.0
            if inside or (dy < -0.55 and abs(dx) < 1.15 and dx * dx + dy * dy <= 1.3):
                color = hair if dy < -0.55 else skin
            if inside and abs(y - (cy - 4)) <= 1 and abs(abs(x - cx) - eye_gap) <= 1:
                color = (30, 30, 40)
            mouth_y = cy + 8 + smile * ((x - cx) / 6) ** 2
            if inside and abs(x - cx) <= 6 and abs(y - mouth_y) <= 0.7:
                color = (150, 40, 50)
            if y > cy + ry - 3 and abs(x - cx) < rx + 10:
                color = (40 + person * 13 % 120, 50, 90 + person * 29 % 120)  # shirt
            row.append(tuple(_clamp(c + noise.next(3)) for c in color))
        pixels.append(row)
    return _png(SIZE, SIZE, pixels)


def rows() -> list[dict[str, str]]:
    """The manifest: each person against their own ID, a shared watchlist, and overrides."""

    def selfie(n: int) -> str:
        return f"images/selfies/person-{n:02d}.png"

    def id_photo(n: int) -> str:
        return f"images/ids/person-{n:02d}.png"

    manifest = []
    for n in range(1, PEOPLE + 1):
        manifest.append({"id": f"applicant-{n:02d}", "probe": selfie(n), "gallery": [id_photo(n)]})
    watchlist = [id_photo(1), id_photo(4), id_photo(7)]
    for n in (1, 2, 4, 7, 9, 12):
        manifest.append({"id": f"watchlist-{n:02d}", "probe": selfie(n), "gallery": watchlist})
    overrides = [
        (3, {"os": "IOS"}),
        (5, {"os": "ANDROID", "search_mode": "ACCURATE"}),
        (6, {"liveness_min_score": "0.9"}),
        (8, {"compare_min_score": "0.9"}),
        (9, {"compare_min_score": "0.8"}),
        (10, {"os": "IOS", "liveness_min_score": "0.55"}),
    ]
    for n, options in overrides:
        other = n % PEOPLE + 1
        manifest.append(
            {
                "id": f"recheck-{n:02d}",
                "probe": selfie(n),
                "gallery": [id_photo(n), id_photo(other)],
                **options,
            }
        )
    return manifest


def main() -> None:
    """Write the images and both manifests."""
    for folder in ("ids", "selfies"):
        (HERE / "images" / folder).mkdir(parents=True, exist_ok=True)
    for n in range(1, PEOPLE + 1):
        id_png = face(n, selfie=False)
        (HERE / f"images/ids/person-{n:02d}.png").write_bytes(id_png)
        selfie_png = id_png if n in SAME_IMAGE else face(n, selfie=True)
        (HERE / f"images/selfies/person-{n:02d}.png").write_bytes(selfie_png)
    manifest = rows()
    columns = [
        "id",
        "probe",
        "gallery",
        "os",
        "search_mode",
        "compare_min_score",
        "liveness_min_score",
    ]
    with (HERE / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        for row in manifest:
            writer.writerow({**row, "gallery": ";".join(row["gallery"])})
    with (HERE / "manifest.jsonl").open("w", encoding="utf-8") as handle:
        for row in manifest:
            record = {
                key: float(value) if key.endswith("_score") else value for key, value in row.items()
            }
            handle.write(json.dumps(record) + "\n")
    # The same selfies for the endpoints that take no gallery (--endpoint liveness).
    with (HERE / "liveness.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "probe"])
        writer.writerows(
            [f"selfie-{n:02d}", f"images/selfies/person-{n:02d}.png"] for n in range(1, PEOPLE + 1)
        )
    print(f"wrote {PEOPLE * 2} images and {len(manifest)} manifest rows under {HERE}")


if __name__ == "__main__":
    main()
