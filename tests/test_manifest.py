"""Manifest parsing is pure, lazy, and turns every bad record into a row problem or a refusal."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import pytest

from verifik_async import (
    CompareLivenessRequest,
    CompareRequest,
    ImageError,
    InputError,
    LivenessRequest,
    SearchRequest,
)
from verifik_async.cli._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS
from verifik_async.cli._jobs import JobFactory, RowKey
from verifik_async.cli._manifest import (
    ManifestColumns,
    ManifestError,
    ManifestRow,
    Record,
    UnkeyedRecord,
    detect_format,
    scan,
)
from verifik_async.cli._manifest import parse_csv as parse_csv_for
from verifik_async.cli._manifest import parse_jsonl as parse_jsonl_for

CLASSIC = ENDPOINTS[COMPARE_WITH_LIVENESS].columns({})


def parse_csv(lines: Iterable[str], columns: ManifestColumns = CLASSIC) -> Iterator[Record]:
    """parse_csv with compare-with-liveness's columns unless told otherwise."""
    return parse_csv_for(lines, columns)


def parse_jsonl(lines: Iterable[str], columns: ManifestColumns = CLASSIC) -> Iterator[Record]:
    """parse_jsonl with compare-with-liveness's columns unless told otherwise."""
    return parse_jsonl_for(lines, columns)


def csv_lines(text: str) -> list[str]:
    """Lines as the CLI reads them (newline="" keeps line ends for the csv module)."""
    return io.StringIO(text, newline="").readlines()


def test_csv_rows_carry_paths_options_and_line_numbers() -> None:
    """A CSV row gives its id, probe, ;-split gallery, typed overrides and its start line."""
    records = list(
        parse_csv(
            csv_lines(
                "ID , Probe,gallery,os,compare_min_score,note\n"
                "a,p.png, g1.png ; g2.png ;,IOS,0.9,hello\n"
                "\n"
                'b,"multi\nline.png",g.png,,,\n'
                "c,q.png,g.png,,,\n"
            )
        )
    )
    note = ("note",)
    assert records == [
        ManifestRow(
            2,
            "a",
            "p.png",
            ("g1.png", "g2.png"),
            {"os": "IOS", "compare_min_score": 0.9},
            None,
            note,
        ),
        ManifestRow(4, "b", "multi\nline.png", ("g.png",), {}, None, note),
        ManifestRow(6, "c", "q.png", ("g.png",), {}, None, note),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a,,g.png", "probe: is missing"),
        ("a,p.png", "gallery: is missing (give one or more paths)"),
        ("a,p.png,;", "gallery: is missing (give one or more paths)"),
        ("a,p.png,g.png,x", "has 4 fields but the header has 3 columns"),
    ],
)
def test_csv_row_problems(line: str, problem: str) -> None:
    """A short, empty or overlong CSV row becomes a row with a problem, keyed by its id."""
    (record,) = parse_csv(csv_lines(f"id,probe,gallery\n{line}\n"))
    assert record == ManifestRow(2, "a", problem=problem)


def test_csv_bad_score_and_bad_encoding_are_row_problems() -> None:
    """A non-numeric score and undecodable bytes each spoil only their own row."""
    raw = b"id,probe,gallery,liveness_min_score\nx,p.png,g.png,high\ny,p\xff.png,g.png,\n"
    text = raw.decode("utf-8", "surrogateescape")
    x, y = parse_csv(csv_lines(text))
    assert isinstance(x, ManifestRow)
    assert x.problem == "liveness_min_score: must be a number, got 'high'"
    assert isinstance(y, ManifestRow)
    assert (y.key, y.problem) == ("y", "the line is not valid UTF-8")


def test_csv_header_without_required_columns_is_refused() -> None:
    """A header lacking id/probe/gallery, or repeating a column, refuses the manifest."""
    with pytest.raises(ManifestError, match="lacks the column"):
        list(parse_csv(csv_lines("id,probe\na,p.png\n")))
    with pytest.raises(ManifestError, match="repeats the column"):
        list(parse_csv(csv_lines("id,probe,gallery,id\n")))
    with pytest.raises(ManifestError, match="empty"):
        list(parse_csv([]))


def test_csv_row_without_id_is_unkeyed() -> None:
    """A row with a blank id cannot be keyed, so it is reported with its line."""
    (record,) = parse_csv(csv_lines("id,probe,gallery\n ,p.png,g.png\n"))
    assert record == UnkeyedRecord(2, "the id is missing")


def test_jsonl_rows_and_problems() -> None:
    """JSONL takes a gallery list, integer ids, numeric or string scores; flags bad records."""
    lines = [
        '{"id": "a", "probe": "p.png", "gallery": ["g1.png", "g2.png"], "liveness_min_score": 0.7}',
        "",
        '{"id": 7, "probe": "p.png", "gallery": "g.png", "compare_min_score": "0.8"}',
        '{"id": "b", "probe": "p.png", "gallery": [1, 2]}',
        '{"id": "c", "probe": "p.png", "gallery": ["g.png"], "os": 3}',
        '{"id": "d", "probe": "p.png", "gallery": ["g.png"], "compare_min_score": true}',
        "not json",
        "[1, 2]",
        '{"probe": "p.png", "gallery": ["g.png"]}',
    ]
    records = list(parse_jsonl(lines))
    assert records[0] == ManifestRow(
        1, "a", "p.png", ("g1.png", "g2.png"), {"liveness_min_score": 0.7}
    )
    assert records[1] == ManifestRow(3, "7", "p.png", ("g.png",), {"compare_min_score": 0.8})
    assert [r.problem for r in records[2:5] if isinstance(r, ManifestRow)] == [
        "gallery: must be a list of paths",
        "os: must be a string, got 3",
        "compare_min_score: must be a number, got true",
    ]
    assert records[5:] == [
        UnkeyedRecord(7, "is not valid JSON"),
        UnkeyedRecord(8, "is not a JSON object"),
        UnkeyedRecord(9, "the id is missing (give a non-empty string or an integer)"),
    ]


def test_scan_reports_every_duplicate_with_all_its_lines() -> None:
    """Duplicate ids are listed with the line of every occurrence, the first included."""
    text = "id,probe,gallery\nx,p,g\ny,p,g\nx,p,g\ny,p,g\nz,p,g\nx,p,g\n"
    with pytest.raises(ManifestError) as caught:
        scan(lambda: parse_csv(csv_lines(text)))
    assert caught.value.problems == [
        "duplicate id 'x' on lines 2, 4, 7",
        "duplicate id 'y' on lines 3, 5",
    ]


def test_scan_counts_rows_skips_and_bad_rows() -> None:
    """The up-front pass counts rows, ids already done, and rows that will be errors."""
    text = "id,probe,gallery,extra\na,p,g,\nb,p,,\nc,p,g,\n"
    report = scan(lambda: parse_csv(csv_lines(text)), done={"a", "zz"})
    assert (report.rows, report.skipped, report.bad_rows, report.to_run) == (3, 1, 1, 2)
    assert report.ignored_fields == ("extra",)


def test_parsing_is_lazy() -> None:
    """Rows come out as lines go in: an endless manifest yields its first rows at once."""

    def endless() -> Iterator[str]:
        yield "id,probe,gallery\n"
        for n in itertools.count():
            yield f"row-{n},p.png,g.png\n"

    first = list(itertools.islice(parse_csv(endless()), 3))
    assert [r.key for r in first if isinstance(r, ManifestRow)] == ["row-0", "row-1", "row-2"]
    jobs = JobFactory(Path("/data"), {}).jobs(parse_csv(endless()), skip={"row-1"})
    assert [job.key for job in itertools.islice(jobs, 3)] == [
        RowKey("row-0", 2),
        RowKey("row-2", 4),
        RowKey("row-3", 5),
    ]


def test_job_factory_builds_requests_and_shares_galleries() -> None:
    """Rows become requests with paths under the manifest folder; a reused gallery is shared."""
    factory = JobFactory(Path("/data"), {"os": "IOS", "compare_min_score": 0.8})
    rows = parse_csv(
        csv_lines("id,probe,gallery,os\na,p1.png,g.png;h.png,\nb,/abs/p2.png,g.png;h.png,ANDROID\n")
    )
    a, b = (factory.job(r) for r in rows if isinstance(r, ManifestRow))
    assert isinstance(a.request, CompareLivenessRequest)
    assert repr(a.request.probe) == "Image(path='/data/p1.png')"
    assert repr(b.request.probe) == "Image(path='/abs/p2.png')"
    assert (a.request.os, b.request.os) == ("IOS", "ANDROID")
    assert a.request.compare_min_score == 0.8
    assert all(x is y for x, y in zip(a.request.gallery, b.request.gallery, strict=True))


def test_job_factory_turns_bad_rows_into_failed_jobs() -> None:
    """A row problem or an out-of-range value becomes a failed job naming the manifest line."""
    factory = JobFactory(Path("."), {})
    rows = parse_csv(csv_lines("id,probe,gallery,compare_min_score\na,p,g,2\nb,,g,\n"))
    a, b = (factory.job(r) for r in rows if isinstance(r, ManifestRow))
    assert a.request is None
    assert isinstance(a.error, InputError)
    assert str(a.error) == (
        "manifest line 2: compare_min_score: must be between 0.67 and 0.95, got 2.0"
    )
    assert str(b.error) == "manifest line 3: probe: is missing"


@pytest.mark.parametrize(
    ("name", "first", "fmt"),
    [
        ("m.csv", "{", "csv"),
        ("m.JSONL", "id,probe", "jsonl"),
        ("m.ndjson", "", "jsonl"),
        ("manifest", '{"id": 1}', "jsonl"),
        ("manifest", "id,probe,gallery", "csv"),
        ("manifest.txt", "id,probe,gallery", None),
        ("m.xlsx", "", None),
    ],
)
def test_detect_format(name: str, first: str, fmt: str | None) -> None:
    """The suffix decides; without one, a first line opening "{" means JSONL; others: None."""
    assert detect_format(Path(name), first) == fmt


def test_endpoint_columns_follow_the_flags() -> None:
    """Each endpoint requires its columns; a flag given frees the column it stands for."""
    assert ENDPOINTS["compare"].columns({}).header == ("id", "probe", "gallery")
    assert ENDPOINTS["liveness"].columns({}).header == ("id", "probe")
    assert ENDPOINTS["search"].columns({}).header == ("id", "probe", "min_score")
    assert ENDPOINTS["search"].columns({"min_score": 0.5}).header == ("id", "probe")
    assert "gallery" not in ENDPOINTS["search"].columns({}).allowed


def test_rows_for_sibling_endpoints() -> None:
    """Unused columns with a value are row problems; blank ones are fine; numbers are typed."""
    liveness = ENDPOINTS["liveness"].columns({})
    rows = list(
        parse_csv(
            csv_lines("id,probe,gallery,os\na,p.png,,IOS\nb,p.png,g.png,\n"), columns=liveness
        )
    )
    assert rows == [
        ManifestRow(2, "a", "p.png", (), {"os": "IOS"}),
        ManifestRow(
            3,
            "b",
            problem="gallery: is not used by --endpoint liveness (leave it empty or remove it)",
        ),
    ]
    search = ENDPOINTS["search"].columns({"min_score": 0.5})
    lines = [
        '{"id": "a", "probe": "p.png", "max_results": "7", "min_score": 0.9}',
        '{"id": "b", "probe": "p.png", "max_results": 5.0}',
        '{"id": "c", "probe": "p.png", "max_results": true}',
        '{"id": "d", "probe": "p.png", "os": "IOS"}',
    ]
    a, b, c, d = parse_jsonl(lines, columns=search)
    assert isinstance(a, ManifestRow) and a.options == {"max_results": 7, "min_score": 0.9}
    assert isinstance(b, ManifestRow) and b.options == {"max_results": 5}
    assert (
        isinstance(c, ManifestRow) and c.problem == "max_results: must be a whole number, got true"
    )
    assert (
        isinstance(d, ManifestRow)
        and d.problem is not None
        and d.problem.startswith("os: is not used")
    )


def test_job_factory_builds_each_endpoints_request() -> None:
    """Compare, liveness and search rows become their request types, options over defaults."""
    records = list(parse_jsonl(['{"id": "a", "probe": "p.png", "gallery": ["g.png"]}']))
    row = records[0]
    assert isinstance(row, ManifestRow)
    compare = JobFactory(Path("/d"), {"compare_min_score": 0.9}, spec=ENDPOINTS["compare"]).job(row)
    assert isinstance(compare.request, CompareRequest)
    assert [repr(image) for image in compare.request.probe] == ["Image(path='/d/p.png')"]
    assert compare.request.compare_min_score == 0.9
    probe_only = attrs.evolve(row, gallery=(), options={"collection_id": "kyc"})
    liveness = JobFactory(Path("/d"), {"os": "IOS"}, spec=ENDPOINTS["liveness"]).job(probe_only)
    assert isinstance(liveness.request, LivenessRequest)
    assert (liveness.request.os, liveness.request.collection_id) == ("IOS", "kyc")
    searching = attrs.evolve(row, gallery=(), options={"max_results": 3})
    search = JobFactory(Path("/d"), {"min_score": 0.7}, spec=ENDPOINTS["search"]).job(searching)
    assert isinstance(search.request, SearchRequest)
    assert (search.request.min_score, search.request.max_results) == (0.7, 3)
    assert search.key == RowKey("a", 1)


def test_image_errors_are_restated_with_the_manifest_line_and_column() -> None:
    """The client's field for the probe becomes the probe column; other errors stay as they are."""
    search = ENDPOINTS["search"]
    restated = search.restate(ImageError("images[0]", "file not found: /x.png"), 7)
    assert isinstance(restated, ImageError)
    assert str(restated) == "manifest line 7: probe: file not found: /x.png"
    gallery = ENDPOINTS["compare"].restate(ImageError("gallery[1]", "is empty"), 3)
    assert str(gallery) == "manifest line 3: gallery[1]: is empty"
    already = InputError("manifest line 2", "probe: is missing")
    assert search.restate(already, 2) is already
    sent = InputError("images[0]", "odd")
    sent.attempts = 1
    assert search.restate(sent, 2) is sent
