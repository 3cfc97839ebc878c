"""Image inputs: bytes, a path, a base64 string or a data URI, checked and encoded once."""

from __future__ import annotations

import base64
import binascii
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

import anyio
import anyio.to_thread

from ._errors import ImageError

__all__ = ["Image", "ImageFormat", "ImageInput", "sniff_format"]

# Encoding in a worker thread costs a thread hop; only worth it for large images,
# where doing it on the event loop would stall every other request.
_THREAD_THRESHOLD = 512 * 1024
_SNIFF_B64_CHARS = 16  # 12 decoded bytes: enough for every signature below
_SHORT_TEXT = 255
# Paths longer than this are not echoed: real ones rarely are, data often is.
_SHOWN_PATH = 160
_PATH_MAX = 4096
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class ImageFormat(StrEnum):
    """The image formats the API accepts."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"


def sniff_format(head: bytes) -> ImageFormat | None:
    """The format named by an image's first bytes, or None if it is none we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None


def _b64_decoded_size(text: str, blanks: int = 0) -> int:
    """Decoded size of base64 ``text`` holding ``blanks`` white-space characters."""
    return (len(text) - blanks) * 3 // 4 - text.endswith("=") - text.endswith("==")


def _decode_head(text: str) -> bytes:
    head = text[:_SNIFF_B64_CHARS]
    try:
        return base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return b""


def _looks_like_base64_image(text: str) -> bool:
    return len(text) >= _SNIFF_B64_CHARS and sniff_format(_decode_head(text)) is not None


def _could_be_path(text: str) -> bool:
    # Text that is image data gone wrong (base64 of a non-image, say) must not be
    # read as a path: the "file not found" message would echo it, base64 and all.
    # Paths hold no line breaks, fit in PATH_MAX, and long ones have a dot, dash,
    # underscore or space somewhere; long pure-alphabet base64 has none. Short
    # text of the base64 alphabet, padded to a multiple of 4, is read as base64
    # too (pass a pathlib.Path for such a file name).
    if len(text) > _PATH_MAX or "\n" in text or "\r" in text:
        return False
    if _BASE64_TEXT.fullmatch(text) is None:
        return True
    return len(text) <= _SHORT_TEXT and (len(text) < _SNIFF_B64_CHARS or len(text) % 4 != 0)


class Image:
    """One image to send, from bytes, a file path, a base64 string or a data URI.

    Build one with ``Image.from_bytes``, ``Image.from_path``,
    ``Image.from_base64`` or ``Image.from_data_uri``, or let the client call
    ``Image.coerce`` on whatever you pass. The image is read, checked and
    base64-encoded on first use and the encoding is kept: reuse one Image
    object (a shared gallery, say) and it is encoded only once.

    Checked: not empty, valid base64, a JPEG, PNG or WebP by its first bytes,
    and no larger than the client's ``max_image_bytes``. Problems raise
    :class:`ImageError` naming the field (``probe``, ``gallery[3]``).
    The repr never shows image content.
    """

    __slots__ = ("_b64", "_data", "_format", "_lock", "_path", "_text")

    def __init__(
        self,
        *,
        data: bytes | None = None,
        path: Path | None = None,
        text: str | None = None,
    ) -> None:
        if (data is None) + (path is None) + (text is None) != 2:
            raise TypeError("Image takes exactly one of data=, path=, text=")
        self._data = data
        self._path = path
        self._text = text
        self._b64: str | None = None
        self._format: ImageFormat | None = None
        self._lock: anyio.Lock | None = None

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Image:
        """An image from its raw bytes."""
        return cls(data=bytes(data))

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Image:
        """An image read from a file when first used (in a worker thread)."""
        return cls(path=Path(path))

    @classmethod
    def from_base64(cls, text: str) -> Image:
        """An image already encoded as standard base64 (white space is ignored)."""
        return cls(text=text)

    @classmethod
    def from_data_uri(cls, uri: str) -> Image:
        """An image from a ``data:image/...;base64,...`` URI."""
        return cls(text=uri)

    @classmethod
    def coerce(cls, value: ImageInput, field: str) -> Image:
        """Turn any accepted image input into an Image.

        A ``str`` is a data URI if it starts with ``data:``, base64 if it
        decodes to an image signature (or cannot be a path), and a file path
        otherwise. White space around base64 or a data URI is ignored.
        """
        if isinstance(value, Image):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return cls.from_bytes(value)
        if isinstance(value, os.PathLike):
            return cls.from_path(value)
        if isinstance(value, str):
            text = value.strip()
            if not text:
                raise ImageError(field, "is empty")
            if (
                text.startswith("data:")
                or _looks_like_base64_image(text)
                or not _could_be_path(text)
            ):
                return cls(text=text)
            return cls.from_path(value)
        raise ImageError(
            field,
            f"must be bytes, a path, a base64 string or a data URI, not {type(value).__name__}",
        )

    def __repr__(self) -> str:
        if self._path is not None:
            shown = _shown(self._path)
            return f"Image(path={shown!r})" if shown == str(self._path) else f"Image({shown})"
        if self._data is not None:
            return f"Image(<{len(self._data)} bytes>)"
        assert self._text is not None
        kind = "data URI" if self._text.startswith("data:") else "base64"
        return f"Image(<{kind}, {len(self._text)} chars>)"

    @property
    def format(self) -> ImageFormat | None:
        """The sniffed format, once the image has been prepared."""
        return self._format

    @property
    def base64(self) -> str:
        """The standard base64 encoding; only after ``prepare`` has run."""
        if self._b64 is None:
            raise RuntimeError("Image.base64 read before Image.prepare()")
        return self._b64

    def prepare_now(self, field: str, max_bytes: int) -> str | None:
        """Check and encode without blocking I/O; None if that needs ``prepare``."""
        if self._b64 is None:
            if self._path is not None:
                return None
            if self._data is not None:
                if len(self._data) > _THREAD_THRESHOLD:
                    return None
                self._b64, self._format = _encode(self._data, field, max_bytes)
            else:
                assert self._text is not None
                if len(self._text) > _THREAD_THRESHOLD:
                    return None
                self._b64, self._format = _check_text(self._text, field, max_bytes)
        _check_size(_b64_decoded_size(self._b64), field, max_bytes)
        return self._b64

    async def prepare(self, field: str, max_bytes: int) -> str:
        """Read, check and encode the image once; return its base64."""
        if (encoded := self.prepare_now(field, max_bytes)) is not None:
            return encoded
        # One encoder per image: a gallery shared by a hundred concurrent
        # calls is read and encoded once, not a hundred times at once.
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            encoded = self._b64
            if encoded is None:
                loaded = await anyio.to_thread.run_sync(self._load_and_encode, field, max_bytes)
                self._b64 = encoded = loaded[0]
                self._format = loaded[1]
        _check_size(_b64_decoded_size(encoded), field, max_bytes)
        return encoded

    def _load_and_encode(self, field: str, max_bytes: int) -> tuple[str, ImageFormat]:
        if self._data is not None:
            return _encode(self._data, field, max_bytes)
        if self._text is not None:
            return _check_text(self._text, field, max_bytes)
        assert self._path is not None
        return _encode(_read_file(self._path, field, max_bytes), field, max_bytes)


def _shown(path: Path) -> str:
    """A path for a message or repr; a long one may be image data passed by mistake."""
    text = str(path)
    if len(text) <= _SHOWN_PATH:
        return text
    return f"<a path of {len(text)} characters, not shown: image data passed as a str?>"


def _read_file(path: Path, field: str, max_bytes: int) -> bytes:
    shown = _shown(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ImageError(field, f"is a directory, not an image file: {shown}")
        _check_size(size, field, max_bytes)
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(field, f"file not found: {shown}") from None
    except PermissionError:
        raise ImageError(field, f"permission denied reading {shown}") from None
    except OSError as exc:
        raise ImageError(field, f"cannot read {shown}: {exc.strerror or exc}") from None


def _check_size(size: int, field: str, max_bytes: int) -> None:
    if size == 0:
        raise ImageError(field, "is empty")
    if size > max_bytes:
        raise ImageError(field, f"is {size} bytes, over the {max_bytes}-byte limit")


def _check_format(head: bytes, field: str) -> ImageFormat:
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageError(field, "is not a JPEG, PNG or WebP image")
    return fmt


def _encode(data: bytes, field: str, max_bytes: int) -> tuple[str, ImageFormat]:
    _check_size(len(data), field, max_bytes)
    fmt = _check_format(data[:12], field)
    return base64.b64encode(data).decode("ascii"), fmt


def _check_text(text: str, field: str, max_bytes: int) -> tuple[str, ImageFormat]:
    text = text.strip()
    if text.startswith("data:"):
        text = _strip_data_uri(text, field)
    if not text.isascii():
        raise ImageError(field, "is not valid base64 (non-ASCII characters)")
    # Decoding is the only full check of base64; the size bound comes first so
    # an oversized string is refused without decoding it. Line breaks of
    # MIME-wrapped base64 carry no data and must not count against the cap.
    blanks = text.count("\n") + text.count("\r") + text.count(" ") + text.count("\t")
    _check_size(_b64_decoded_size(text, blanks), field, max_bytes)
    try:
        head = binascii.a2b_base64(text, strict_mode=True)[:12]
    except binascii.Error:
        # MIME-style base64 wraps lines; the API wants one unbroken string.
        unwrapped = "".join(text.split())
        if unwrapped == text:
            raise ImageError(field, "is not valid base64") from None
        return _check_text(unwrapped, field, max_bytes)
    return text, _check_format(head, field)


def _strip_data_uri(uri: str, field: str) -> str:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise ImageError(field, "is a data URI without a comma before its data")
    media = header[len("data:") :].split(";")
    if not media[0].startswith("image/"):
        raise ImageError(field, f"is a data URI of type {media[0] or 'text/plain'!r}, not an image")
    if "base64" not in media[1:]:
        raise ImageError(field, "is a data URI that is not base64-encoded")
    return payload


ImageInput: TypeAlias = Image | bytes | bytearray | memoryview | str | os.PathLike[str]
