"""Manifest parsing, pure: CSV or JSONL lines in, one row (or one problem) per record out.

A manifest names one job per record: ``id``, ``probe`` (a path), for some
endpoints ``gallery`` (paths; in CSV joined by ``;``, in JSONL a list), and
request options (``os``, ``search_mode``, ``compare_min_score``,
``liveness_min_score``, ``min_score``, ``collection_id``, ``max_results``).
Which of these an endpoint takes is a :class:`ManifestColumns`. Nothing here
opens files or builds requests: :func:`parse_csv` and :func:`parse_jsonl`
take an iterable of text lines (read with ``errors="surrogateescape"`` so bad
UTF-8 reaches us as lone surrogates) and yield lazily, so a million-row
manifest streams in flat memory.

A record yields a :class:`ManifestRow`; ``problem`` says why that row cannot
run (missing value, bad number, bad encoding, a value in a column the
endpoint does not use) and becomes an error line in the output. A record with
no usable id yields an :class:`UnkeyedRecord`: the whole manifest is refused,
since output lines and ``--resume`` are keyed by id.
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
    "KNOWN_FIELDS",
    "OPTION_FIELDS",
    "ManifestColumns",
    "ManifestError",
    "ManifestFormat",
    "ManifestRow",
    "ScanReport",
    "UnkeyedRecord",
    "detect_format",
    "flag_of",
    "parse",
    "parse_csv",
    "parse_jsonl",
    "printable_key",
    "scan",
]

ManifestFormat = Literal["csv", "jsonl"]

OPTION_FIELDS: Final = (
    "os",
    "search_mode",
    "compare_min_score",
    "liveness_min_score",
    "min_score",
    "collection_id",
    "max_results",
)
"""Request options a row may set; each has a command-line flag (see :func:`flag_of`)."""
KNOWN_FIELDS: Final = frozenset(("id", "probe", "gallery", *OPTION_FIELDS))
GALLERY_SEPARATOR: Final = ";"
MANIFEST_SUFFIXES: Final = (".csv", ".jsonl", ".ndjson", ".json")
_CSV_SUFFIXES: Final = frozenset(MANIFEST_SUFFIXES[:1])
_JSONL_SUFFIXES: Final = frozenset(MANIFEST_SUFFIXES[1:])
_MAX_LISTED: Final = 20


class ManifestError(Exception):
    """The manifest as a whole cannot be used; ``problems`` lists why, one per line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def flag_of(field: str) -> str:
    """The command-line flag that gives ``field`` a default: ``min_score`` -> ``--min-score``."""
    return "--" + field.replace("_", "-")


@attrs.frozen
class ManifestColumns:
    """The fields one endpoint takes from a manifest.

    ``required`` must hold a value in every row (``id`` always does too);
    ``allowed`` may hold one (``required`` included). A known field outside
    ``allowed`` that holds a value makes its row an error naming the field
    and ``endpoint``; an empty one is fine, so one manifest can serve several
    endpoints.
    """

    endpoint: str
    required: tuple[str, ...]
    allowed: frozenset[str]

    @property
    def header(self) -> tuple[str, ...]:
        """The columns a CSV header must have."""
        return ("id", *self.required)


@attrs.frozen
class ManifestRow:
    """One job of the manifest.

    ``line`` is the 1-based line the record starts on. ``probe`` and
    ``gallery`` are paths as written (relative to the manifest's folder unless
    absolute; ``gallery`` empty for endpoints without one). ``options`` holds
    the row's request options, already typed (scores as floats,
    ``max_results`` as an int). ``problem`` is set when the row cannot run.
    ``ignored`` names the record's fields that the format does not know.
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


def detect_format(path: Path, first_line: str = "") -> ManifestFormat | None:
    """The format of the manifest at ``path`` whose first line is ``first_line``.

    The suffix decides (.csv; .jsonl, .ndjson or .json); a name without a
    suffix is JSONL when its first line opens ``{``, else CSV. Any other
    suffix gives None: the file is not a manifest.
    """
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix:
        return None
    return "jsonl" if first_line.lstrip("\ufeff \t").startswith("{") else "csv"


def parse(lines: Iterable[str], fmt: ManifestFormat, columns: ManifestColumns) -> Iterator[Record]:
    """Parse ``lines`` as ``fmt`` for ``columns``; see :func:`parse_csv` and :func:`parse_jsonl`."""
    return parse_csv(lines, columns) if fmt == "csv" else parse_jsonl(lines, columns)


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


def _given(value: Any) -> bool:
    """Whether a field holds a value: blank text, null and [] mean "not given"."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, list) and not value)


def _parse_score(field: str, value: Any) -> float:
    """A score as a float; range checks belong to the request itself."""
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


def _parse_whole(field: str, value: Any) -> int:
    """A whole number; range checks belong to the request itself."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _RowProblem(f"{field}: must be a whole number, got {value.strip()!r}") from None
    raise _RowProblem(f"{field}: must be a whole number, got {json.dumps(value)}")


def _parse_text(field: str, value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    raise _RowProblem(f"{field}: must be a string, got {json.dumps(value)}")


_OPTION_PARSERS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "os": _parse_text,
    "search_mode": _parse_text,
    "compare_min_score": _parse_score,
    "liveness_min_score": _parse_score,
    "min_score": _parse_score,
    "collection_id": _parse_text,
    "max_results": _parse_whole,
}


def _unused(field: str, columns: ManifestColumns) -> _RowProblem:
    return _RowProblem(
        f"{field}: is not used by --endpoint {columns.endpoint} (leave it empty or remove it)"
    )


def _gallery(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _split_gallery(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value if item.strip())
    raise _RowProblem("gallery: must be a list of paths")


def _fields(
    values: Mapping[str, Any], columns: ManifestColumns
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """``(probe, gallery, options)`` of a record; raises _RowProblem naming the field."""
    probe = values.get("probe")
    if not _given(probe):
        raise _RowProblem("probe: is missing")
    if not isinstance(probe, str):
        raise _RowProblem(f"probe: must be a path, got {json.dumps(probe)}")
    gallery = _gallery(values.get("gallery"))
    if gallery and "gallery" not in columns.allowed:
        raise _unused("gallery", columns)
    if not gallery and "gallery" in columns.required:
        raise _RowProblem("gallery: is missing (give one or more paths)")
    if "\x00" in probe or any("\x00" in path for path in gallery):
        raise _RowProblem("a path contains a NUL character")
    options: dict[str, Any] = {}
    for field, parse_value in _OPTION_PARSERS.items():
        value = values.get(field)
        if not _given(value):
            if field in columns.required:
                raise _RowProblem(
                    f"{field}: is missing (give it in this row, "
                    f"or pass {flag_of(field)} for every row)"
                )
            continue
        if field not in columns.allowed:
            raise _unused(field, columns)
        options[field] = parse_value(field, value)
    return probe.strip(), gallery, options


def _row(line: int, key: str, values: Mapping[str, Any], columns: ManifestColumns) -> ManifestRow:
    """Check a keyed record's fields; every problem lands in ``ManifestRow.problem``."""
    try:
        probe, gallery, options = _fields(values, columns)
    except _RowProblem as exc:
        return ManifestRow(line, key, problem=str(exc))
    return ManifestRow(line, key, probe, gallery, options)


# -- CSV --------------------------------------------------------------------------------


def _csv_header(fields: list[str], columns: ManifestColumns) -> list[str]:
    header = [name.strip().lstrip("\ufeff").lower() for name in fields]
    problems = []
    missing = [name for name in columns.header if name not in header]
    if missing:
        problem = (
            f"line 1: the header lacks the column(s) {', '.join(missing)}; "
            f"--endpoint {columns.endpoint} needs {', '.join(columns.header)}"
        )
        flags = [flag_of(name) for name in missing if name in OPTION_FIELDS]
        if flags:
            problem += f" (or pass {', '.join(flags)} to use one value for every row)"
        if fields and fields[0].lstrip("\ufeff \t").startswith("{"):
            problem += "; the file looks like JSON Lines: name it .jsonl"
        problems.append(problem)
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(f"line 1: the header repeats the column(s) {', '.join(repeated)}")
    if problems:
        raise ManifestError(problems)
    return header


def parse_csv(lines: Iterable[str], columns: ManifestColumns) -> Iterator[Record]:
    """Parse a CSV manifest whose first record is the header.

    Column names are matched without case or surrounding space; unknown
    columns are ignored (and named in ``ManifestRow.ignored``). Raises
    :class:`ManifestError` for an empty file or a header without the columns
    ``columns`` requires.
    """
    reader = csv.reader(iter(lines))
    try:
        first = next(reader)
    except StopIteration:
        raise ManifestError(["the manifest is empty: it needs a header line"]) from None
    except csv.Error as exc:
        raise ManifestError([f"line 1: unreadable CSV header ({exc})"]) from None
    header = _csv_header(first, columns)
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
        record = _csv_record(start, header, width, fields, columns)
        yield (
            attrs.evolve(record, ignored=ignored)
            if ignored and isinstance(record, ManifestRow)
            else record
        )


def _csv_record(
    line: int, header: list[str], width: int, fields: list[str], columns: ManifestColumns
) -> Record:
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
    return _row(line, key, values, columns)


# -- JSONL --------------------------------------------------------------------------------


def parse_jsonl(lines: Iterable[str], columns: ManifestColumns) -> Iterator[Record]:
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
        yield _jsonl_record(number, value, stripped, columns)


def _jsonl_record(line: int, value: dict[str, Any], text: str, columns: ManifestColumns) -> Record:
    raw_key = value.get("id")
    if isinstance(raw_key, bool) or not isinstance(raw_key, str | int) or raw_key == "":
        return UnkeyedRecord(line, "the id is missing (give a non-empty string or an integer)")
    key = printable_key(str(raw_key).strip())
    if not key:
        return UnkeyedRecord(line, "the id is missing")
    if _has_bad_encoding(text):
        return ManifestRow(line, key, problem="the line is not valid UTF-8")
    row = _row(line, key, value, columns)
    ignored = unknown_fields(value)
    return attrs.evolve(row, ignored=ignored) if ignored else row


def unknown_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """The names among ``fields`` that the manifest format does not know, sorted."""
    return tuple(sorted({name for name in fields if name and name not in KNOWN_FIELDS}))


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
