"""Bad inputs fail before any request with a typed error naming the field; good forms all work."""

from __future__ import annotations

import base64
import inspect
import math
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import attrs
import pytest

from verifik_async import (
    ClientConfig,
    Image,
    ImageError,
    ImageFormat,
    InputError,
    RetryPolicy,
    Timeout,
    VerifikClient,
)
from verifik_async.testing import EmulatorServer

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
MAX_IMAGE = 50_000
MAX_GALLERY = 5
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PATH = "/v2/face-recognition/compare-with-liveness"


def b64(data: bytes) -> str:
    """Standard base64 of ``data`` as text."""
    return base64.b64encode(data).decode("ascii")


@attrs.frozen
class Ctx:
    """What a bad-input case may use: images, a scratch directory, a client, the server."""

    png: Png
    tmp: pathlib.Path
    client: VerifikClient
    server: EmulatorServer

    def call(self, probe: Any = None, gallery: Any = None, **options: Any) -> Any:
        """compare_with_liveness with good defaults for whatever is not given."""
        probe = self.png(1) if probe is None else probe
        gallery = [self.png(2)] if gallery is None else gallery
        return self.client.compare_with_liveness(probe, gallery, **options)

    def text_file(self) -> pathlib.Path:
        """A file holding text, not an image."""
        path = self.tmp / "notes.txt"
        path.write_text("not a face\n" * 20)
        return path

    def big_file(self) -> pathlib.Path:
        """A PNG-headed file over the client's size cap."""
        path = self.tmp / "huge.png"
        path.write_bytes(PNG_SIGNATURE + bytes(MAX_IMAGE))
        return path


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """A running emulator."""
    async with EmulatorServer() as running:
        yield running


@pytest.fixture
async def ctx(server: EmulatorServer, png: Png, tmp_path: pathlib.Path) -> AsyncIterator[Ctx]:
    """A context whose client caps images at 50 kB and galleries at 5 images."""
    config = ClientConfig(
        token=server.token,
        base_url=server.base_url,
        max_image_bytes=MAX_IMAGE,
        max_gallery_images=MAX_GALLERY,
    )
    async with VerifikClient(config=config) as client:
        yield Ctx(png, tmp_path, client, server)


# id, error class, field, action (may return an awaitable)
BAD_INPUTS: list[tuple[str, type[InputError], str, Callable[[Ctx], Any]]] = [
    ("empty bytes", ImageError, "probe", lambda c: c.call(probe=b"")),
    ("empty str", ImageError, "probe", lambda c: c.call(probe="")),
    ("truncated png", ImageError, "probe", lambda c: c.call(probe=c.png(1)[:6])),
    ("non-image bytes", ImageError, "probe", lambda c: c.call(probe=b"hello world" * 10)),
    ("gif", ImageError, "probe", lambda c: c.call(probe=b"GIF89a" + bytes(100))),
    ("text file", ImageError, "gallery[0]", lambda c: c.call(gallery=[c.text_file()])),
    (
        "invalid base64",
        ImageError,
        "probe",
        lambda c: c.call(probe=b64(c.png(1))[:40] + "*&^%" + b64(c.png(1))[40:]),
    ),
    ("base64 of text", ImageError, "probe", lambda c: c.call(probe=b64(b"just text, no face"))),
    (
        "long base64 of a non-image",
        ImageError,
        "gallery[0]",
        lambda c: c.call(gallery=[b64(bytes(range(256)) * 4)]),
    ),
    (
        "data URI text/plain",
        ImageError,
        "probe",
        lambda c: c.call(probe="data:text/plain;base64," + b64(b"hello")),
    ),
    (
        "data URI not base64",
        ImageError,
        "probe",
        lambda c: c.call(probe="data:image/png,%89PNG%0D%0A"),
    ),
    (
        "data URI without comma",
        ImageError,
        "gallery[0]",
        lambda c: c.call(gallery=["data:image/png;base64"]),
    ),
    (
        "data URI of non-image",
        ImageError,
        "probe",
        lambda c: c.call(probe="data:image/png;base64," + b64(b"plain text here!!")),
    ),
    (
        "missing file str",
        ImageError,
        "gallery[1]",
        lambda c: c.call(gallery=[c.png(2), str(c.tmp / "nope.jpg")]),
    ),
    ("missing file Path", ImageError, "probe", lambda c: c.call(probe=c.tmp / "nope.png")),
    ("directory", ImageError, "probe", lambda c: c.call(probe=c.tmp)),
    (
        "image over cap (bytes)",
        ImageError,
        "gallery[3]",
        lambda c: c.call(gallery=[c.png(2), c.png(3), c.png(4), PNG_SIGNATURE + bytes(MAX_IMAGE)]),
    ),
    ("image over cap (file)", ImageError, "probe", lambda c: c.call(probe=c.big_file())),
    (
        "image over cap (base64)",
        ImageError,
        "probe",
        lambda c: c.call(probe=b64(PNG_SIGNATURE + bytes(MAX_IMAGE))),
    ),
    ("empty gallery", InputError, "gallery", lambda c: c.call(gallery=[])),
    (
        "gallery over the limit",
        InputError,
        "gallery",
        lambda c: c.call(gallery=[c.png(i) for i in range(MAX_GALLERY + 1)]),
    ),
    (
        "empty image inside gallery",
        ImageError,
        "gallery[3]",
        lambda c: c.call(gallery=[c.png(2), c.png(3), c.png(4), b""]),
    ),
    ("None probe", InputError, "probe", lambda c: c.client.compare_with_liveness(None, [b"x"])),  # type: ignore[arg-type]
    ("None gallery", InputError, "gallery", lambda c: c.client.compare_with_liveness(b"x", None)),
    ("int probe", ImageError, "probe", lambda c: c.call(probe=42)),
    ("dict in gallery", ImageError, "gallery[1]", lambda c: c.call(gallery=[c.png(2), {}])),
    ("int gallery", InputError, "gallery", lambda c: c.call(gallery=5)),
    (
        "NaN compare score",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score=math.nan),
    ),
    (
        "inf compare score",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score=math.inf),
    ),
    (
        "negative liveness score",
        InputError,
        "liveness_min_score",
        lambda c: c.call(liveness_min_score=-0.6),
    ),
    (
        "compare score below range",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score=0.66),
    ),
    (
        "compare score above range",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score=0.96),
    ),
    (
        "liveness score above range",
        InputError,
        "liveness_min_score",
        lambda c: c.call(liveness_min_score=1.01),
    ),
    (
        "liveness score as percent",
        InputError,
        "liveness_min_score",
        lambda c: c.call(liveness_min_score=60),
    ),
    (
        "bool as score",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score=True),
    ),
    (
        "string as score",
        InputError,
        "compare_min_score",
        lambda c: c.call(compare_min_score="0.8"),
    ),
    ("unknown os", InputError, "os", lambda c: c.call(os="WINDOWS")),
    ("int os", InputError, "os", lambda c: c.call(os=3)),
    ("unknown search_mode", InputError, "search_mode", lambda c: c.call(search_mode="SLOW")),
    ("crop_face as str", InputError, "crop_face", lambda c: c.call(crop_face="yes")),
    ("crop_face as int", InputError, "crop_face", lambda c: c.call(crop_face=1)),
    ("per-call timeout negative", InputError, "timeout", lambda c: c.call(timeout=-1)),
    (
        "empty token",
        InputError,
        "token",
        lambda c: VerifikClient(token="", base_url=c.server.base_url),
    ),
    (
        "token with spaces",
        InputError,
        "token",
        lambda c: VerifikClient(token="Bearer abc", base_url=c.server.base_url),
    ),
    (
        "http to a public host",
        InputError,
        "base_url",
        lambda c: VerifikClient(token=c.server.token, base_url="http://api.verifik.co/v2/"),
    ),
    (
        "ftp base URL",
        InputError,
        "base_url",
        lambda c: VerifikClient(token=c.server.token, base_url="ftp://127.0.0.1/v2/"),
    ),
    (
        "base URL with credentials",
        InputError,
        "base_url",
        lambda c: VerifikClient(token=c.server.token, base_url="https://u:p@api.verifik.co/v2/"),
    ),
    (
        "zero image cap",
        InputError,
        "max_image_bytes",
        lambda c: VerifikClient(
            token=c.server.token, base_url=c.server.base_url, max_image_bytes=0
        ),
    ),
    ("zero timeout", InputError, "total", lambda c: Timeout(total=0)),
    ("zero attempts", InputError, "max_attempts", lambda c: RetryPolicy(max_attempts=0)),
    ("negative backoff", InputError, "backoff_initial", lambda c: RetryPolicy(backoff_initial=-1)),
]


@pytest.mark.parametrize(
    ("error", "field", "action"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
async def test_bad_input_is_a_typed_error_naming_the_field(
    ctx: Ctx, error: type[InputError], field: str, action: Callable[[Ctx], Any]
) -> None:
    """Each bad input raises its typed error (also a ValueError) naming the field; no request."""
    with pytest.raises(error) as caught:
        outcome = action(ctx)
        if inspect.isawaitable(outcome):
            await outcome
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert caught.value.attempts == 0
    assert str(caught.value).startswith(f"{field}: ")
    assert len(str(caught.value)) < 300  # names the problem; never echoes image data
    assert ctx.server.requests == []


def test_the_table_is_big_enough() -> None:
    """The bad-input table holds at least 20 cases, all with distinct ids."""
    assert len(BAD_INPUTS) >= 20
    assert len({case[0] for case in BAD_INPUTS}) == len(BAD_INPUTS)


async def test_client_stays_usable_after_bad_input(ctx: Ctx) -> None:
    """An InputError does not harm the client: a good call right after succeeds."""
    with pytest.raises(ImageError):
        await ctx.call(probe=b"")
    result = await ctx.call(probe=ctx.png(1), gallery=[ctx.png(1)])
    assert result.score == 1.0
    assert len(ctx.server.requests) == 1


# -- accepted forms ---------------------------------------------------------------


def _mime(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


ACCEPTED: list[tuple[str, Callable[[bytes, pathlib.Path], Any]]] = [
    ("bytes", lambda data, tmp: data),
    ("bytearray", lambda data, tmp: bytearray(data)),
    ("memoryview", lambda data, tmp: memoryview(data)),
    ("str path", lambda data, tmp: str(_write(tmp, data))),
    ("pathlib.Path", lambda data, tmp: _write(tmp, data)),
    ("base64 str", lambda data, tmp: b64(data)),
    ("base64 with trailing newline", lambda data, tmp: b64(data) + "\n"),
    ("base64 with leading white space", lambda data, tmp: "\n  " + b64(data)),
    ("data URI with white space", lambda data, tmp: " data:image/png;base64," + b64(data) + "\n"),
    ("MIME-wrapped base64", lambda data, tmp: _mime(data)),
    ("data URI", lambda data, tmp: "data:image/png;base64," + b64(data)),
    ("data URI MIME-wrapped", lambda data, tmp: "data:image/png;base64," + _mime(data)),
    ("Image.from_bytes", lambda data, tmp: Image.from_bytes(data)),
    ("Image.from_path", lambda data, tmp: Image.from_path(_write(tmp, data))),
    ("Image.from_base64", lambda data, tmp: Image.from_base64(b64(data))),
    (
        "Image.from_data_uri",
        lambda data, tmp: Image.from_data_uri("data:image/png;base64," + b64(data)),
    ),
]


def _write(tmp: pathlib.Path, data: bytes) -> pathlib.Path:
    path = tmp / "face.png"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make", [make for _, make in ACCEPTED], ids=[name for name, _ in ACCEPTED])
async def test_accepted_image_forms(
    verifik_emulator: EmulatorServer,
    verifik_client: VerifikClient,
    png: Png,
    tmp_path: pathlib.Path,
    make: Callable[[bytes, pathlib.Path], Any],
) -> None:
    """Every accepted form of an image is sent as the same one-line standard base64."""
    data = png(21, size=24)
    probe = make(data, tmp_path)
    result = await verifik_client.compare_with_liveness(probe, [probe])
    assert result.score == 1.0
    [seen] = verifik_emulator.requests
    assert seen.json["probe"] == b64(data)
    assert seen.json["gallery"] == [b64(data)]


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200), ImageFormat.JPEG),
        (PNG_SIGNATURE + bytes(200), ImageFormat.PNG),
        (b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(200), ImageFormat.WEBP),
    ],
    ids=["jpeg", "png", "webp"],
)
async def test_formats_are_sniffed(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, data: bytes, fmt: ImageFormat
) -> None:
    """JPEG, PNG and WebP are recognised by their first bytes and sent."""
    image = Image.from_bytes(data)
    await verifik_client.compare_with_liveness(image, [image])
    assert image.format is fmt
    assert verifik_emulator.requests[0].json["probe"] == b64(data)


async def test_gallery_as_a_single_image_or_generator(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """A gallery may be one image or any iterable of images."""
    await verifik_client.compare_with_liveness(png(1), png(2))
    await verifik_client.compare_with_liveness(png(1), (png(i) for i in (3, 4)))
    galleries = [r.json["gallery"] for r in verifik_emulator.requests]
    assert galleries == [[b64(png(2))], [b64(png(3)), b64(png(4))]]


async def test_shared_gallery_image_is_encoded_once(
    verifik_emulator: EmulatorServer,
    verifik_client: VerifikClient,
    png: Png,
    tmp_path: pathlib.Path,
) -> None:
    """One gallery Image used by many calls is read and encoded once, then reused as is."""
    path = _write(tmp_path, png(30))
    gallery = Image.from_path(path)
    assert gallery.format is None
    await verifik_client.compare_with_liveness(png(31), [gallery])
    encoded = gallery.base64
    assert gallery.format is ImageFormat.PNG
    # The file is gone: later calls can only succeed from the kept encoding.
    path.unlink()

    async with anyio.create_task_group() as tg:
        for seed in range(32, 42):
            tg.start_soon(verifik_client.compare_with_liveness, png(seed), [gallery])

    assert gallery.base64 is encoded
    assert len(verifik_emulator.requests) == 11
    assert {r.json["gallery"][0] for r in verifik_emulator.requests} == {b64(png(30))}


async def test_concurrent_first_use_of_a_shared_big_image(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, tmp_path: pathlib.Path
) -> None:
    """Many calls starting together with one big unread Image all send the same encoding."""
    data = PNG_SIGNATURE + bytes(range(256)) * 4096  # 1 MiB: encoded in a worker thread
    gallery = Image.from_path(_write(tmp_path, data))
    async with anyio.create_task_group() as tg:
        for seed in range(8):
            probe = PNG_SIGNATURE + bytes([seed]) * 100
            tg.start_soon(verifik_client.compare_with_liveness, probe, [gallery])
    assert gallery.base64 == b64(data)
    assert {r.json["gallery"][0] for r in verifik_emulator.requests} == {b64(data)}
    assert len(verifik_emulator.requests) == 8


async def test_big_file_is_read_off_the_event_loop(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, tmp_path: pathlib.Path
) -> None:
    """A 4 MB image file (under the 5 MB default cap) is read, encoded and sent whole."""
    data = PNG_SIGNATURE + bytes(range(256)) * (4 * 1024 * 4)
    path = _write(tmp_path, data)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        result = await verifik_client.compare_with_liveness(path, [path])
        tg.cancel_scope.cancel()
    assert result.score == 1.0
    assert ticks > 0
    assert verifik_emulator.requests[0].json["probe"] == b64(data)


async def test_default_cap_is_five_megabytes(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient
) -> None:
    """The default client refuses an image just over 5 MiB and names the field."""
    data = PNG_SIGNATURE + bytes(5 * 1024 * 1024)
    with pytest.raises(ImageError) as caught:
        await verifik_client.compare_with_liveness(data, [data])
    assert caught.value.field == "probe"
    assert verifik_emulator.requests == []


def test_image_repr_shows_no_content(png: Png) -> None:
    """An Image's repr names its kind and size, never its bytes or base64."""
    data = png(40)
    for image in (Image.from_bytes(data), Image.from_base64(b64(data))):
        text = repr(image)
        assert b64(data)[12:40] not in text
        assert "bytes" in text or "base64" in text


@pytest.mark.parametrize("make", [make for _, make in ACCEPTED], ids=[name for name, _ in ACCEPTED])
async def test_size_cap_is_exact_in_every_form(
    verifik_emulator: EmulatorServer,
    png: Png,
    tmp_path: pathlib.Path,
    make: Callable[[bytes, pathlib.Path], Any],
) -> None:
    """An image of exactly max_image_bytes is accepted in every form; one byte more is refused."""
    data = png(50, size=24)
    async with VerifikClient(
        token=verifik_emulator.token,
        base_url=verifik_emulator.base_url,
        max_image_bytes=len(data),
    ) as client:
        result = await client.compare_with_liveness(make(data, tmp_path), [data])
        assert result.score == 1.0
        over = data + b"\0"
        with pytest.raises(ImageError) as caught:
            await client.compare_with_liveness(make(over, tmp_path), [data])
    assert caught.value.field == "probe"
    assert "limit" in str(caught.value)
    assert len(verifik_emulator.requests) == 1
