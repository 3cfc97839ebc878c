"""Manifest parsing, pure: CSV or JSONL lines in, one row (or one problem) per record out.

A manifest names one job per record: ``id``, ``probe`` (a path), ``gallery``
(paths; in CSV joined by ``;``, in JSONL a list) and optional overrides of the
request options (``os``, ``search_mode``, ``compare_min_score``,
``liveness_min_score``). Nothing here opens files or builds requests:
:func:`parse_csv` and :func:`parse_jsonl` take an iterable of text lines (read
with ``errors="surrogateescape"`` so bad UTF-8 reaches us as lone surrogates)
and yield lazily, so a million-row manifest streams in flat memory.

A record yields a :class:`ManifestRow`; ``problem`` says why that row cannot
run (missing value, bad number, bad encoding) and becomes an error line in the
output. A record with no usable id yields an :class:`UnkeyedRecord`: the whole
manifest is refused, since output lines and ``--resume`` are keyed by id.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs

__all__ = [
    "OPTION_FIELDS",
    "REQUIRED_FIELDS",
    "ManifestError",
    "ManifestFormat",
    "ManifestRow",
    "ScanReport",
    "UnkeyedRecord",
    "detect_format",
    "parse",
    "parse_csv",
    "parse_jsonl",
    "printable_key",
    "scan",
]

ManifestFormat = Literal["csv", "jsonl"]

REQUIRED_FIELDS: Final = ("id", "probe", "gallery")
OPTION_FIELDS: Final = ("os", "search_mode", "compare_min_score", "liveness_min_score")
_SCORE_FIELDS: Final = frozenset({"compare_min_score", "liveness_min_score"})
_KNOWN_FIELDS: Final = frozenset(REQUIRED_FIELDS + OPTION_FIELDS)
GALLERY_SEPARATOR: Final = ";"
_JSONL_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json"})
_MAX_LISTED: Final = 20


class ManifestError(Exception):
    """The manifest as a whole cannot be used; ``problems`` lists why, one per line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@attrs.frozen
class ManifestRow:
    """One job of the manifest.

    ``line`` is the 1-based line the record starts on. ``probe`` and
    ``gallery`` are paths as written (relative to the manifest's folder unless
    absolute). ``options`` holds the row's overrides, already typed (scores
    as floats). ``problem`` is set when the row cannot run. ``ignored``
    names the record's fields that the format does not know.
    """

    line: int
    key: str
    probe: str | None = None
    gallery: tuple[str, ...] = ()
    options: Mapping[str, Any] = attrs.field(factory=dict)
    problem: str | None = None
    ignored: tuple[str, ...] = ()


@attrs.frozen
class UnkeyedRecord:
    """A record without a usable id (or not readable at all): the manifest is refused."""

    line: int
    problem: str


Record = ManifestRow | UnkeyedRecord


def detect_format(path: Path, first_line: str = "") -> ManifestFormat:
    """``jsonl`` for .jsonl/.ndjson/.json or a first line opening ``{``; else ``csv``."""
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return "jsonl"
    if path.suffix.lower() == ".csv":
        return "csv"
    return "jsonl" if first_line.lstrip("\ufeff \t").startswith("{") else "csv"


def parse(lines: Iterable[str], fmt: ManifestFormat) -> Iterator[Record]:
    """Parse ``lines`` as ``fmt``; see :func:`parse_csv` and :func:`parse_jsonl`."""
    return parse_csv(lines) if fmt == "csv" else parse_jsonl(lines)


# -- helpers shared by both formats ---------------------------------------------------


# surrogateescape maps each undecodable byte to U+DC80..U+DCFF.
_UNDECODED: Final = re.compile("[\udc80-\udcff]")


def _has_bad_encoding(text: str) -> bool:
    return not text.isascii() and _UNDECODED.search(text) is not None


def printable_key(raw: str) -> str:
    """The id as valid text: undecodable bytes become U+FFFD (stable across runs)."""
    if not _has_bad_encoding(raw):
        return raw
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _split_gallery(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(GALLERY_SEPARATOR) if part.strip())


class _RowProblem(Exception):
    """Why one row cannot run; its text goes into ``ManifestRow.problem``."""


def _parse_score(field: str, value: Any) -> float:
    """A score override as a float; range checks belong to the request itself."""
    if isinstance(value, bool):
        raise _RowProblem(f"{field}: must be a number, got {json.dumps(value)}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _RowProblem(f"{field}: must be a number, got {value.strip()!r}") from None
    else:
        raise _RowProblem(f"{field}: must be a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise _RowProblem(f"{field}: must be a finite number, got {value!r}")
    return number


def _parse_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed overrides from a record; blank or null means "use the default"."""
    options: dict[str, Any] = {}
    for field in OPTION_FIELDS:
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if field in _SCORE_FIELDS:
            options[field] = _parse_score(field, value)
        elif isinstance(value, str):
            options[field] = value.strip()
        else:
            raise _RowProblem(f"{field}: must be a string, got {json.dumps(value)}")
    return options


def _row(line: int, key: str, probe: Any, gallery: Any, values: Mapping[str, Any]) -> ManifestRow:
    """Check a keyed record's fields; every problem lands in ``ManifestRow.problem``."""
    if not isinstance(probe, str) or not probe.strip():
        return ManifestRow(line, key, problem="probe: is missing")
    if isinstance(gallery, str):
        paths = _split_gallery(gallery)
    elif isinstance(gallery, list) and all(isinstance(item, str) for item in gallery):
        paths = tuple(item.strip() for item in gallery if item.strip())
    elif gallery is None:
        paths = ()
    else:
        return ManifestRow(line, key, problem="gallery: must be a list of paths")
    if not paths:
        return ManifestRow(line, key, problem="gallery: is missing (give one or more paths)")
    if "\x00" in probe or any("\x00" in path for path in paths):
        return ManifestRow(line, key, problem="a path contains a NUL character")
    try:
        options = _parse_options(values)
    except _RowProblem as exc:
        return ManifestRow(line, key, problem=str(exc))
    return ManifestRow(line, key, probe.strip(), paths, options)


# -- CSV --------------------------------------------------------------------------------


def _csv_header(fields: list[str]) -> list[str]:
    header = [name.strip().lstrip("\ufeff").lower() for name in fields]
    problems = []
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    if missing:
        problems.append(
            f"line 1: the header lacks the column(s) {', '.join(missing)}; "
            f"a manifest needs {', '.join(REQUIRED_FIELDS)}"
        )
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(f"line 1: the header repeats the column(s) {', '.join(repeated)}")
    if problems:
        raise ManifestError(problems)
    return header


def parse_csv(lines: Iterable[str]) -> Iterator[Record]:
    """Parse a CSV manifest whose first record is the header.

    Column names are matched without case or surrounding space; unknown
    columns are ignored (and named in ``ManifestRow.ignored``). Raises
    :class:`ManifestError` for an empty file or a header without ``id``,
    ``probe`` and ``gallery``.
    """
    reader = csv.reader(iter(lines))
    try:
        first = next(reader)
    except StopIteration:
        raise ManifestError(["the manifest is empty: it needs a header line"]) from None
    except csv.Error as exc:
        raise ManifestError([f"line 1: unreadable CSV header ({exc})"]) from None
    header = _csv_header(first)
    width = len(header)
    ignored = unknown_fields(header)
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            previous_end = reader.line_num
            yield UnkeyedRecord(start, f"unreadable CSV ({exc})")
            continue
        previous_end = reader.line_num
        if not any(field.strip() for field in fields):
            continue  # blank line
        record = _csv_record(start, header, width, fields)
        yield (
            attrs.evolve(record, ignored=ignored)
            if ignored and isinstance(record, ManifestRow)
            else record
        )


def _csv_record(line: int, header: list[str], width: int, fields: list[str]) -> Record:
    values = dict(zip(header, fields, strict=False))
    raw_key = values.get("id", "").strip()
    if not raw_key:
        return UnkeyedRecord(line, "the id is missing")
    key = printable_key(raw_key)
    if _has_bad_encoding("".join(fields)):
        return ManifestRow(line, key, problem="the line is not valid UTF-8")
    if len(fields) > width:
        return ManifestRow(
            line, key, problem=f"has {len(fields)} fields but the header has {width} columns"
        )
    return _row(line, key, values.get("probe"), values.get("gallery"), values)


# -- JSONL --------------------------------------------------------------------------------


def parse_jsonl(lines: Iterable[str]) -> Iterator[Record]:
    """Parse a JSON Lines manifest: one object per line, blank lines skipped.

    ``gallery`` is a list of paths (a ``;``-joined string is accepted too);
    ``id`` a string or an integer (written back as a string).
    """
    for number, text in enumerate(lines, start=1):
        stripped = text.strip().lstrip("\ufeff")
        if not stripped:
            continue
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            yield UnkeyedRecord(number, "is not valid JSON")
            continue
        if not isinstance(value, dict):
            yield UnkeyedRecord(number, "is not a JSON object")
            continue
        yield _jsonl_record(number, value, stripped)


def _jsonl_record(line: int, value: dict[str, Any], text: str) -> Record:
    raw_key = value.get("id")
    if isinstance(raw_key, bool) or not isinstance(raw_key, str | int) or raw_key == "":
        return UnkeyedRecord(line, "the id is missing (give a non-empty string or an integer)")
    key = printable_key(str(raw_key).strip())
    if not key:
        return UnkeyedRecord(line, "the id is missing")
    if _has_bad_encoding(text):
        return ManifestRow(line, key, problem="the line is not valid UTF-8")
    row = _row(line, key, value.get("probe"), value.get("gallery"), value)
    ignored = unknown_fields(value)
    return attrs.evolve(row, ignored=ignored) if ignored else row


def unknown_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """The names among ``fields`` that the manifest format does not know, sorted."""
    return tuple(sorted({name for name in fields if name and name not in _KNOWN_FIELDS}))


# -- the up-front pass -----------------------------------------------------------------


@attrs.frozen
class ScanReport:
    """What one pass over the whole manifest found, before any call.

    ``rows`` counts rows, ``skipped`` those whose id is in ``done``
    (``--resume``), ``bad_rows`` the rest that will become error lines, and
    ``ignored_fields`` the unknown column or key names seen.
    """

    rows: int
    skipped: int
    bad_rows: int
    ignored_fields: tuple[str, ...] = ()

    @property
    def to_run(self) -> int:
        """How many rows this run will process."""
        return self.rows - self.skipped


def scan(
    read: Callable[[], Iterable[Record]], done: set[str] | frozenset[str] = frozenset()
) -> ScanReport:
    """Check every record up front: each has an id, and no id repeats.

    ``read()`` returns the records from the start; it is called once, and a
    second time only to find where repeated ids first occur. Memory: the set
    of ids. Raises :class:`ManifestError` listing unreadable records and
    duplicate ids with all their line numbers.
    """
    seen: set[str] = set()
    repeats: dict[str, list[int]] = {}
    unkeyed: list[UnkeyedRecord] = []
    ignored: set[str] = set()
    rows = skipped = bad_rows = 0
    for record in read():
        if isinstance(record, UnkeyedRecord):
            unkeyed.append(record)
            continue
        rows += 1
        if record.key in seen:
            repeats.setdefault(record.key, []).append(record.line)
            continue
        seen.add(record.key)
        if len(ignored) < _MAX_LISTED:
            ignored.update(record.ignored)
        if record.key in done:
            skipped += 1
        elif record.problem is not None:
            bad_rows += 1
    if unkeyed or repeats:
        first = _first_lines(read(), set(repeats)) if repeats else {}
        duplicates = {key: [first.get(key, 0), *lines] for key, lines in repeats.items()}
        raise ManifestError(_describe(unkeyed, duplicates))
    return ScanReport(rows, skipped, bad_rows, tuple(sorted(ignored)))


def _first_lines(records: Iterable[Record], keys: set[str]) -> dict[str, int]:
    first: dict[str, int] = {}
    for record in records:
        if isinstance(record, ManifestRow) and record.key in keys and record.key not in first:
            first[record.key] = record.line
            if len(first) == len(keys):
                break
    return first


def _limited(items: list[str], what: str) -> list[str]:
    if len(items) <= _MAX_LISTED:
        return items
    return [*items[:_MAX_LISTED], f"... and {len(items) - _MAX_LISTED} more {what}"]


def _describe(unkeyed: list[UnkeyedRecord], duplicates: dict[str, list[int]]) -> list[str]:
    problems = _limited(
        [f"line {record.line}: {record.problem}" for record in unkeyed], "unreadable records"
    )
    problems += _limited(
        [
            f"duplicate id {key!r} on lines {', '.join(map(str, lines))}"
            for key, lines in duplicates.items()
        ],
        "duplicate ids",
    )
    return problems
