"""The JSONL results file: one line per outcome, each written whole and flushed at once.

A line holds the common fields (:data:`LEADING_FIELDS`, then the endpoint's
own fields, then :data:`TRAILING_FIELDS`). A line is one ``write`` of the
complete record and its newline, so a crash leaves at most the last line
torn. :func:`read_results` finds the ids already done for ``--resume`` and
where a torn last line starts; :class:`ResultsWriter` cuts it off before
appending.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Final

import attrs

from .._errors import VerifikError

__all__ = [
    "LEADING_FIELDS",
    "TRAILING_FIELDS",
    "OutputField",
    "ResultsFileError",
    "ResultsState",
    "ResultsWriter",
    "line_fields",
    "read_results",
    "result_record",
    "safe_message",
]

LEADING_FIELDS: Final = ("id", "status", "verdict")
TRAILING_FIELDS: Final = ("error_code", "error_message", "attempts", "elapsed")
_MAX_MESSAGE: Final = 500
# A long unbroken run of base64 characters in a message can only be data the
# server echoed (an image, say); it never belongs in a results file.
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/=_-]{120,}")


class ResultsFileError(Exception):
    """The results file cannot be resumed (a damaged line that is not the last)."""


@attrs.frozen
class OutputField:
    """One endpoint-specific field of an output line: its name and how to read it off a result."""

    name: str
    value: Callable[[Any], Any]


def line_fields(outputs: Sequence[OutputField]) -> tuple[str, ...]:
    """Every field of an output line, in order, for an endpoint with ``outputs``."""
    return (*LEADING_FIELDS, *(field.name for field in outputs), *TRAILING_FIELDS)


def safe_message(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """An error's text fit for the results file: one line, bounded, no secrets or data."""
    text = " ".join(str(error).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _BASE64_RUN.sub("[data omitted]", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def result_record(
    key: str | None,
    result: Any,
    error: VerifikError | None,
    *,
    outputs: Sequence[OutputField],
    attempts: int,
    elapsed: float,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """The output line for one outcome, as a dict with :func:`line_fields` in order.

    ``result`` is the endpoint's result (None when ``error`` is set); each of
    ``outputs`` reads one field off it. Fields that do not apply are None; no
    image data or token ever appears.
    """
    record: dict[str, Any] = dict.fromkeys(line_fields(outputs))
    record["id"] = key
    if error is None and result is not None:
        record["status"] = "ok"
        record["verdict"] = str(result.verdict)
        for field in outputs:
            record[field.name] = field.value(result)
    else:
        record.update(
            status="error",
            error_code=error.code if error is not None else "NoResult",
            error_message=safe_message(error, secrets) if error is not None else None,
        )
    record["attempts"] = attempts
    record["elapsed"] = round(elapsed, 4)
    return record


def encode_record(record: dict[str, Any]) -> bytes:
    """One results line: compact JSON and a newline."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@attrs.frozen
class ResultsState:
    """What an existing results file holds.

    ``done`` is the set of ids with a complete line, ``errors`` how many of
    those lines are errors. ``good_size`` is the byte length of the complete
    lines; ``torn`` is True when bytes after it are a partial line.
    ``needs_newline`` is True when the last line is complete JSON that only
    lacks its newline (kept, not cut). ``fields`` are the field names of the
    first line (None for an empty file): they tell which endpoint wrote it.
    """

    done: frozenset[str]
    errors: int
    good_size: int
    torn: bool
    needs_newline: bool = False
    fields: tuple[str, ...] | None = None


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """A complete results line as a dict with a string id, or None if it is not one."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    return value


def read_results(path: Path) -> ResultsState:
    """Read a results file for ``--resume``, in one streaming pass.

    A damaged last line (a crash mid-write) is reported as ``torn``; a
    damaged line anywhere else raises :class:`ResultsFileError`, since the
    file was then not written by this tool alone. A missing file is empty.
    """
    done: set[str] = set()
    errors = 0
    good_size = 0
    bad_line: int | None = None
    needs_newline = False
    fields: tuple[str, ...] | None = None
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return ResultsState(frozenset(), 0, 0, torn=False)
    with handle:
        for number, raw in enumerate(handle, start=1):
            if bad_line is not None:
                raise ResultsFileError(
                    f"{path}: line {bad_line} is not a results line; "
                    "remove or fix it, then resume again"
                )
            if not raw.strip():
                good_size += len(raw)
                continue
            parsed = _parse_line(raw)
            if parsed is None:
                bad_line = number
                continue
            if fields is None:
                fields = tuple(parsed)
            done.add(parsed["id"])
            errors += parsed.get("status") != "ok"
            good_size += len(raw)
            needs_newline = not raw.endswith(b"\n")
    return ResultsState(
        frozenset(done),
        errors,
        good_size,
        torn=bad_line is not None,
        needs_newline=needs_newline,
        fields=fields,
    )


class ResultsWriter:
    """Appends results lines; each is one unbuffered write, flushed to the OS at once.

    Open with ``truncate_to`` to cut a torn last line (``--resume``), or
    ``overwrite`` to start afresh. Use as a context manager.
    """

    def __init__(
        self,
        path: Path,
        *,
        overwrite: bool = False,
        truncate_to: int | None = None,
        add_newline: bool = False,
    ) -> None:
        self._path = path
        self._overwrite = overwrite
        self._truncate_to = truncate_to
        self._add_newline = add_newline
        self._file: IO[bytes] | None = None
        self.written = 0

    def __enter__(self) -> ResultsWriter:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if self._overwrite:
            flags |= os.O_TRUNC
        fd = os.open(self._path, flags, 0o644)
        try:
            if self._truncate_to is not None and os.fstat(fd).st_size > self._truncate_to:
                os.ftruncate(fd, self._truncate_to)
            self._file = os.fdopen(fd, "ab", buffering=0)
        except BaseException:
            os.close(fd)
            raise
        if self._add_newline:
            self._write_all(b"\n")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write_all(self, data: bytes) -> None:
        assert self._file is not None, "use the writer as a context manager"
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a line."""
        self._write_all(encode_record(record))
        self.written += 1
