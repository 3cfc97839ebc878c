"""`verifik-async batch --endpoint`: compare, liveness and search end to end, and bad inputs."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from verifik_async.cli import main
from verifik_async.cli._endpoints import ENDPOINTS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROCESS_TIMEOUT = 60.0
SIBLINGS = ("compare", "liveness", "search")
OVERSIZE = 6 * 1024 * 1024  # over the client's default 5 MiB image cap


@pytest.fixture(autouse=True)
def _no_verifik_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own token and base URL."""
    monkeypatch.delenv("VERIFIK_API_TOKEN", raising=False)
    monkeypatch.delenv("VERIFIK_BASE_URL", raising=False)


def results(path: Path, endpoint: str) -> list[dict[str, Any]]:
    """Every line of a results file, checked to be whole JSON lines with the endpoint's fields."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the last line is torn"
    records = [json.loads(line) for line in data.splitlines()]
    fields = list(ENDPOINTS[endpoint].fields)
    assert all(list(record) == fields for record in records)
    return records


def by_id(path: Path, endpoint: str) -> dict[str, dict[str, Any]]:
    """The results of a file keyed by id, checking that no id repeats."""
    records = results(path, endpoint)
    keyed = {record["id"]: record for record in records}
    assert len(keyed) == len(records), "an id appears twice"
    return keyed


def batch(manifest: Path, out: Path, *args: str) -> list[str]:
    """The argv of a batch against the in-process emulator."""
    return ["batch", str(manifest), "--emulator", "--out", str(out), *args]


def write_images(folder: Path, png: Callable[..., bytes], count: int = 4) -> None:
    """img0.png ... small distinct PNGs in ``folder``."""
    for n in range(count):
        (folder / f"img{n}.png").write_bytes(png(n))


def endpoint_manifest(
    folder: Path, png: Callable[..., bytes], endpoint: str, rows: int, *, broken_at: int = -1
) -> tuple[Path, list[str]]:
    """A CSV manifest of ``rows`` rows for ``endpoint`` and the flags it needs.

    Row ``broken_at`` (0-based) names a probe that does not exist.
    """
    write_images(folder, png)
    gallery = endpoint in ("compare", "compare-with-liveness")
    lines = ["id,probe,gallery" if gallery else "id,probe"]
    for i in range(rows):
        probe = "missing.png" if i == broken_at else f"img{i % 4}.png"
        lines.append(f"row-{i:04d},{probe}" + (f",img{(i + 1) % 4}.png" if gallery else ""))
    manifest = folder / f"{endpoint}.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = ["--endpoint", endpoint] + (["--min-score", "0.8"] if endpoint == "search" else [])
    return manifest, flags


# -- each endpoint end to end --------------------------------------------------------------


def test_compare_endpoint_end_to_end(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """--endpoint compare: score and matched per row, row overrides, blank unused columns ok."""
    write_images(tmp_path, png)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,probe,gallery,compare_min_score,os,liveness_min_score\n"
        "same,img1.png,img1.png,,,\n"
        "other,img1.png,img2.png,,,\n"
        "strict,img2.png,img3.png;img2.png,0.95,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    args = batch(manifest, out, "--endpoint", "compare", "--search-mode", "accurate")
    assert main(args) == 0
    lines = by_id(out, "compare")
    assert set(lines) == {"same", "other", "strict"}
    assert all(line["status"] == "ok" and line["attempts"] == 1 for line in lines.values())
    assert (lines["same"]["score"], lines["same"]["matched"]) == (1.0, True)
    assert (lines["strict"]["score"], lines["strict"]["verdict"]) == (1.0, "matched")
    other = lines["other"]
    assert other["matched"] == (other["score"] >= 0.85)
    assert other["verdict"] == ("matched" if other["matched"] else "not_matched")
    assert "(--endpoint compare)" in capsys.readouterr().err


def test_liveness_endpoint_end_to_end(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """--endpoint liveness: no gallery needed; live follows liveness_score > the row's minimum."""
    write_images(tmp_path, png)
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"id": "strict", "probe": "img0.png", "liveness_min_score": 1.0},
        {"id": "lenient", "probe": "img0.png", "liveness_min_score": 0.52, "os": "IOS"},
        {"id": "no-gallery", "probe": "img1.png", "gallery": []},
        {"id": "collection", "probe": "img2.png", "collection_id": "kyc"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(batch(manifest, out, "--endpoint", "liveness", "--os", "android", "-q")) == 0
    lines = by_id(out, "liveness")
    assert set(lines) == {row["id"] for row in rows}
    minimum = {"strict": 1.0, "lenient": 0.52, "no-gallery": 0.6, "collection": 0.6}
    for key, line in lines.items():
        assert line["status"] == "ok"
        assert 0.0 <= line["liveness_score"] <= 1.0
        assert line["live"] == (line["liveness_score"] > minimum[key])
        assert line["verdict"] == ("live" if line["live"] else "not_live")
    assert lines["strict"]["live"] is False
    assert lines["lenient"]["liveness_score"] == lines["strict"]["liveness_score"]


def test_search_with_no_stored_person_gives_ok_not_found_lines(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """--endpoint search on an emulator without persons: ok lines, found false, no best match."""
    write_images(tmp_path, png)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,probe,min_score,max_results,search_mode\n"
        "flag-minimum,img0.png,,,\n"
        "row-options,img1.png,0.3,5,ACCURATE\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert main(batch(manifest, out, "--endpoint", "search", "--min-score", "0.8")) == 0
    lines = by_id(out, "search")
    assert set(lines) == {"flag-minimum", "row-options"}
    for line in lines.values():
        assert (line["status"], line["verdict"], line["found"]) == ("ok", "not_found", False)
        assert line["match_count"] == 0
        assert line["best_id"] is line["best_name"] is line["best_score"] is None
    assert "not_found" in capsys.readouterr().err  # the summary counts verdicts


def test_search_collection_flag_reaches_the_api(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """--collection-id is sent: the emulator knows no such collection and answers 404 per row."""
    manifest, flags = endpoint_manifest(tmp_path, png, "search", 3)
    out = tmp_path / "out.jsonl"
    assert main(batch(manifest, out, *flags, "--collection-id", "nobody", "-q")) == 1
    lines = by_id(out, "search")
    assert len(lines) == 3
    assert {(line["error_code"], line["attempts"]) for line in lines.values()} == {
        ("NotFoundError", 1)
    }


def test_search_needs_a_minimum_score(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --min-score, a CSV lacking min_score is refused and a JSONL row lacking it fails."""
    write_images(tmp_path, png)
    csv_manifest = tmp_path / "m.csv"
    csv_manifest.write_text("id,probe\na,img0.png\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(batch(csv_manifest, out, "--endpoint", "search")) == 2
    err = capsys.readouterr().err
    assert "lacks the column(s) min_score" in err
    assert "--min-score" in err
    assert not out.exists()

    jsonl_manifest = tmp_path / "m.jsonl"
    jsonl_manifest.write_text(
        '{"id": "given", "probe": "img0.png", "min_score": 0.7}\n'
        '{"id": "missing", "probe": "img1.png"}\n',
        encoding="utf-8",
    )
    assert main(batch(jsonl_manifest, out, "--endpoint", "search", "-q")) == 1
    lines = by_id(out, "search")
    assert lines["given"]["status"] == "ok"
    assert lines["missing"]["error_message"] == (
        "manifest line 2: min_score: is missing (give it in this row, "
        "or pass --min-score for every row)"
    )
    assert lines["missing"]["attempts"] == 0
    # With the flag, the CSV lacking the column runs.
    flagged = tmp_path / "flagged.jsonl"
    assert main(batch(csv_manifest, flagged, "--endpoint", "search", "--min-score", "0.9")) == 0
    assert by_id(flagged, "search")["a"]["status"] == "ok"


# -- columns an endpoint does not use --------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "column", "value"),
    [
        ("compare", "os", "IOS"),
        ("compare", "liveness_min_score", "0.7"),
        ("liveness", "gallery", "img1.png"),
        ("liveness", "search_mode", "FAST"),
        ("search", "gallery", "img1.png"),
        ("search", "compare_min_score", "0.9"),
        ("compare-with-liveness", "min_score", "0.5"),
        ("compare-with-liveness", "max_results", "3"),
    ],
)
def test_a_value_in_a_column_the_endpoint_does_not_use_is_a_row_error(
    tmp_path: Path, png: Callable[..., bytes], endpoint: str, column: str, value: str
) -> None:
    """A value there makes an error line naming the line, column and endpoint; blank is fine."""
    write_images(tmp_path, png)
    gallery = endpoint in ("compare", "compare-with-liveness")
    header = ["id", "probe"] + (["gallery"] if gallery else []) + [column]

    def row(key: str, cell: str) -> str:
        cells = [key, "img0.png"] + (["img1.png"] if gallery else []) + [cell]
        return ",".join(cells)

    manifest = tmp_path / "m.csv"
    manifest.write_text(
        ",".join(header) + "\n" + row("blank", "") + "\n" + row("valued", value) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    flags = ["--min-score", "0.8"] if endpoint == "search" else []
    assert main(batch(manifest, out, "--endpoint", endpoint, *flags, "-q")) == 1
    lines = by_id(out, endpoint)
    assert lines["blank"]["status"] == "ok"
    valued = lines["valued"]
    assert (valued["status"], valued["error_code"], valued["attempts"]) == (
        "error",
        "InputError",
        0,
    )
    assert valued["error_message"] == (
        f"manifest line 3: {column}: is not used by --endpoint {endpoint} "
        "(leave it empty or remove it)"
    )


def test_example_manifest_through_compare(tmp_path: Path) -> None:
    """The example manifest runs through compare; only rows setting os or liveness fail."""
    out = tmp_path / "out.jsonl"
    assert main(batch(EXAMPLES / "manifest.csv", out, "--endpoint", "compare", "-q")) == 1
    lines = by_id(out, "compare")
    assert len(lines) == 24
    failed = {key: line["error_message"] for key, line in lines.items() if line["status"] != "ok"}
    assert sorted(failed) == ["recheck-03", "recheck-05", "recheck-06", "recheck-10"]
    assert "liveness_min_score: is not used by --endpoint compare" in failed["recheck-06"]
    assert "os: is not used by --endpoint compare" in failed["recheck-03"]
    assert {line["verdict"] for line in lines.values() if line["status"] == "ok"} == {
        "matched",
        "not_matched",
    }


# -- the batch machinery, for every sibling endpoint --------------------------------------


@pytest.mark.parametrize("endpoint", SIBLINGS)
def test_ordered_then_resume_after_a_torn_line(
    tmp_path: Path, png: Callable[..., bytes], endpoint: str
) -> None:
    """--ordered keeps manifest order; --resume after a torn line: every id once, same answers."""
    manifest, flags = endpoint_manifest(tmp_path, png, endpoint, 40)
    out = tmp_path / "out.jsonl"
    base = batch(manifest, out, *flags, "-q")
    assert main([*base, "--ordered", "--concurrency", "8"]) == 0
    first = results(out, endpoint)
    assert [line["id"] for line in first] == [f"row-{i:04d}" for i in range(40)]
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:10]) + lines[10][:20])
    assert main([*base, "--resume"]) == 0
    resumed = by_id(out, endpoint)
    assert sorted(resumed) == [line["id"] for line in first]

    def answer(line: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in line.items() if k not in ("elapsed", "attempts")}

    assert all(answer(resumed[line["id"]]) == answer(line) for line in first)


@pytest.mark.parametrize("endpoint", SIBLINGS)
def test_fail_fast_stops_and_its_resume_command_keeps_the_endpoint(
    tmp_path: Path, png: Callable[..., bytes], endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fail-fast stops at a bad row; the printed resume command finishes the same endpoint."""
    manifest, flags = endpoint_manifest(tmp_path, png, endpoint, 60, broken_at=2)
    out = tmp_path / "out.jsonl"
    args = batch(manifest, out, *flags, "--fail-fast", "--ordered", "--concurrency", "1")
    assert main(args) == 1
    assert len(results(out, endpoint)) < 60
    resume = capsys.readouterr().err.strip().splitlines()[-1]
    words = shlex.split(resume)
    assert words[words.index("--endpoint") + 1] == endpoint
    assert main([*words[words.index("batch") :], "-q"]) == 1  # the earlier error line stays
    lines = by_id(out, endpoint)
    assert sorted(lines) == [f"row-{i:04d}" for i in range(60)]
    assert [key for key, line in lines.items() if line["status"] != "ok"] == ["row-0002"]


def test_resume_refuses_the_results_of_another_endpoint(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume with another --endpoint than the one that wrote --out: exit 2, file untouched."""
    manifest, _ = endpoint_manifest(tmp_path, png, "compare", 6)
    out = tmp_path / "out.jsonl"
    assert main(batch(manifest, out, "--endpoint", "compare", "-q")) == 0
    before = out.read_bytes()
    assert main(batch(manifest, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert "holds results of --endpoint compare, not of --endpoint compare-with-liveness" in err
    assert out.read_bytes() == before


def cli(*args: str) -> list[str]:
    """The command line running the CLI in a fresh interpreter."""
    return [sys.executable, "-m", "verifik_async", *args]


def clean_env() -> dict[str, str]:
    """The environment without any Verifik settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VERIFIK_")}


def complete_lines(path: Path) -> int:
    """How many whole lines a file has now (0 if it does not exist)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("endpoint", SIBLINGS)
def test_ctrl_c_on_a_rate_limited_run_then_resume(
    tmp_path: Path, png: Callable[..., bytes], endpoint: str
) -> None:
    """Ctrl-C during a --rate run: exit 130, whole lines, resume command finishes every id."""
    manifest, flags = endpoint_manifest(tmp_path, png, endpoint, 300)
    out = tmp_path / "out.jsonl"
    command = cli(*batch(manifest, out, *flags, "--rate", "50"))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    )
    try:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while complete_lines(out) < 20:
            assert process.poll() is None, f"the batch ended early: {process.communicate()}"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert 20 <= len(by_id(out, endpoint)) < 300
    words = shlex.split(err.strip().splitlines()[-1])
    assert words[-1] == "--resume"
    assert main([*words[words.index("batch") :], "--rate", "100000", "-q"]) == 0
    assert sorted(by_id(out, endpoint)) == [f"row-{i:04d}" for i in range(300)]


# -- bad command lines and manifests ---------------------------------------------------------


@attrs.frozen
class Bad:
    """One bad input: the manifest, the flags, the exit code and the message expected.

    ``manifest`` is the file's content (None: no file; DIRECTORY: a folder).
    Exit 2 cases print ``message`` to stderr before any call; exit 1 cases
    write it into the one row's error line, with no HTTP attempt.
    """

    manifest: str | bytes | None
    args: tuple[str, ...]
    code: int
    message: str
    suffix: str = ".csv"


DIRECTORY = "<directory>"
OK_CSV = "id,probe,gallery\na,ok.png,ok.png\n"
PROBE_CSV = "id,probe\na,ok.png\n"
COMPARE = ("--endpoint", "compare")
LIVENESS = ("--endpoint", "liveness")
SEARCH = ("--endpoint", "search", "--min-score", "0.5")

BAD_INPUTS: dict[str, Bad] = {
    # -- flags: exit 2 before any call
    "endpoint-unknown": Bad(
        OK_CSV, ("--endpoint", "verify"), 2, "argument --endpoint: invalid choice: 'verify'"
    ),
    "os-flag-enum": Bad(OK_CSV, ("--os", "WINDOWS"), 2, "argument --os: invalid choice: 'WINDOWS'"),
    "search-mode-flag-enum": Bad(
        OK_CSV,
        (*COMPARE, "--search-mode", "slow"),
        2,
        "argument --search-mode: invalid choice: 'SLOW'",
    ),
    "compare-min-score-flag-range": Bad(
        OK_CSV,
        (*COMPARE, "--compare-min-score", "0.5"),
        2,
        "--compare-min-score: must be between 0.67 and 0.95, got 0.5",
    ),
    "liveness-min-score-flag-nan": Bad(
        PROBE_CSV,
        (*LIVENESS, "--liveness-min-score", "nan"),
        2,
        "--liveness-min-score: must be a finite number, got nan",
    ),
    "min-score-flag-inf": Bad(
        PROBE_CSV,
        ("--endpoint", "search", "--min-score", "inf"),
        2,
        "--min-score: must be a finite number, got inf",
    ),
    "min-score-flag-range": Bad(
        PROBE_CSV,
        ("--endpoint", "search", "--min-score", "0.1"),
        2,
        "--min-score: must be between 0.2 and 1.0, got 0.1",
    ),
    "min-score-flag-text": Bad(
        PROBE_CSV,
        ("--endpoint", "search", "--min-score", "high"),
        2,
        "argument --min-score: not a number: 'high'",
    ),
    "max-results-flag-range": Bad(
        PROBE_CSV,
        (*SEARCH, "--max-results", "101"),
        2,
        "--max-results: must be between 1 and 100, got 101",
    ),
    "max-results-flag-zero": Bad(
        PROBE_CSV,
        (*SEARCH, "--max-results", "0"),
        2,
        "argument --max-results: must be at least 1, got 0",
    ),
    "collection-id-flag-blank": Bad(
        PROBE_CSV,
        (*LIVENESS, "--collection-id", " "),
        2,
        "argument --collection-id: must not be empty",
    ),
    "flag-unused-by-endpoint": Bad(
        OK_CSV,
        (*COMPARE, "--os", "IOS"),
        2,
        "--os: is not used by --endpoint compare (only by compare-with-liveness, liveness)",
    ),
    "search-flag-on-default-endpoint": Bad(
        OK_CSV,
        ("--min-score", "0.5"),
        2,
        "--min-score: is not used by --endpoint compare-with-liveness",
    ),
    "concurrency-negative": Bad(
        OK_CSV, ("--concurrency", "-2"), 2, "argument --concurrency: must be at least 1, got -2"
    ),
    "rate-negative": Bad(
        OK_CSV, ("--rate", "-5"), 2, "argument --rate: must be a number > 0, got -5"
    ),
    "rate-nan": Bad(OK_CSV, ("--rate", "nan"), 2, "argument --rate: must be a number > 0, got nan"),
    "timeout-negative": Bad(
        OK_CSV, ("--timeout", "-1"), 2, "argument --timeout: must be a number > 0, got -1"
    ),
    # -- the manifest as a whole: exit 2 before any call
    "manifest-missing": Bad(None, (), 2, "no such manifest:"),
    "manifest-is-a-directory": Bad(DIRECTORY, (), 2, "is a directory, not a file"),
    "manifest-wrong-extension": Bad(
        OK_CSV,
        (),
        2,
        "has the extension '.xlsx'; a manifest is .csv, .jsonl, .ndjson or .json",
        suffix=".xlsx",
    ),
    "manifest-empty-csv": Bad(b"", (), 2, "is empty"),
    "manifest-empty-jsonl": Bad(b"\n \n", LIVENESS, 2, "is empty", suffix=".jsonl"),
    "csv-without-id": Bad(
        "probe,gallery\nok.png,ok.png\n",
        (),
        2,
        "line 1: the header lacks the column(s) id; "
        "--endpoint compare-with-liveness needs id, probe, gallery",
    ),
    "csv-without-probe": Bad(
        "id,os\na,IOS\n",
        LIVENESS,
        2,
        "line 1: the header lacks the column(s) probe; --endpoint liveness needs id, probe",
    ),
    "csv-without-gallery": Bad(
        PROBE_CSV,
        COMPARE,
        2,
        "line 1: the header lacks the column(s) gallery; "
        "--endpoint compare needs id, probe, gallery",
    ),
    "csv-holding-jsonl": Bad(
        '{"id": "a", "probe": "ok.png"}\n',
        LIVENESS,
        2,
        "the file looks like JSON Lines: name it .jsonl",
    ),
    "jsonl-line-not-an-object": Bad(
        '{"id": "a", "probe": "ok.png"}\n["b", "ok.png"]\n',
        LIVENESS,
        2,
        "line 2: is not a JSON object",
        suffix=".jsonl",
    ),
    "jsonl-line-not-json": Bad(
        '{"id": "a", "probe": \n', LIVENESS, 2, "line 1: is not valid JSON", suffix=".jsonl"
    ),
    "jsonl-line-without-id": Bad(
        '{"probe": "ok.png"}\n', LIVENESS, 2, "line 1: the id is missing", suffix=".jsonl"
    ),
    "duplicate-ids": Bad(
        "id,probe\na,ok.png\nb,ok.png\na,ok.png\n", LIVENESS, 2, "duplicate id 'a' on lines 2, 4"
    ),
    # -- one bad row: exit 1, an error line naming the manifest line, no HTTP attempt
    "os-row-enum": Bad(
        "id,probe,os\na,ok.png,WINDOWS\n",
        LIVENESS,
        1,
        "manifest line 2: os: must be one of DESKTOP, IOS, ANDROID, got 'WINDOWS'",
    ),
    "search-mode-row-enum": Bad(
        "id,probe,search_mode\na,ok.png,SLOW\n",
        SEARCH,
        1,
        "manifest line 2: search_mode: must be one of FAST, ACCURATE, got 'SLOW'",
    ),
    "compare-min-score-row-range": Bad(
        "id,probe,gallery,compare_min_score\na,ok.png,ok.png,0.1\n",
        COMPARE,
        1,
        "manifest line 2: compare_min_score: must be between 0.67 and 0.95, got 0.1",
    ),
    "liveness-min-score-row-text": Bad(
        "id,probe,liveness_min_score\na,ok.png,high\n",
        LIVENESS,
        1,
        "manifest line 2: liveness_min_score: must be a number, got 'high'",
    ),
    "min-score-row-nan": Bad(
        '{"id": "a", "probe": "ok.png", "min_score": NaN}\n',
        SEARCH,
        1,
        "manifest line 1: min_score: must be a finite number, got nan",
        suffix=".jsonl",
    ),
    "min-score-row-missing": Bad(
        '{"id": "a", "probe": "ok.png"}\n',
        ("--endpoint", "search"),
        1,
        "manifest line 1: min_score: is missing",
        suffix=".jsonl",
    ),
    "max-results-row-text": Bad(
        "id,probe,max_results\na,ok.png,ten\n",
        SEARCH,
        1,
        "manifest line 2: max_results: must be a whole number, got 'ten'",
    ),
    "max-results-row-range": Bad(
        '{"id": "a", "probe": "ok.png", "max_results": 1000}\n',
        SEARCH,
        1,
        "manifest line 1: max_results: must be between 1 and 100, got 1000",
        suffix=".jsonl",
    ),
    "row-bad-utf8": Bad(
        b"id,probe\na,ok\xff.png\n", LIVENESS, 1, "manifest line 2: the line is not valid UTF-8"
    ),
    "probe-blank": Bad("id,probe\na, \n", LIVENESS, 1, "manifest line 2: probe: is missing"),
    "probe-file-missing": Bad(
        "id,probe\na,nowhere.png\n", LIVENESS, 1, "manifest line 2: probe: file not found:"
    ),
    "probe-not-an-image": Bad(
        "id,probe,gallery\na,notes.png,ok.png\n",
        COMPARE,
        1,
        "manifest line 2: probe: is not a JPEG, PNG or WebP image",
    ),
    "probe-oversize": Bad(
        "id,probe\na,big.png\n",
        SEARCH,
        1,
        f"manifest line 2: probe: is {OVERSIZE} bytes, over the 5242880-byte limit",
    ),
    "gallery-is-a-directory": Bad(
        "id,probe,gallery\na,ok.png,album\n",
        COMPARE,
        1,
        "manifest line 2: gallery[0]: is a directory, not an image file",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Each bad flag, manifest or row gives its exit code and a message naming it; no call made."""
    bad = BAD_INPUTS[name]
    (tmp_path / "ok.png").write_bytes(png(1))
    (tmp_path / "notes.png").write_text("not an image", encoding="utf-8")
    (tmp_path / "album").mkdir()
    with (tmp_path / "big.png").open("wb") as handle:
        handle.write(png(2))
        handle.truncate(OVERSIZE)  # sparse: costs no disk
    manifest = tmp_path / f"manifest{bad.suffix}"
    if bad.manifest == DIRECTORY:
        manifest.mkdir()
    elif isinstance(bad.manifest, str):
        manifest.write_text(bad.manifest, encoding="utf-8")
    elif isinstance(bad.manifest, bytes):
        manifest.write_bytes(bad.manifest)
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(manifest), "--emulator", "--out", str(out), *bad.args]) == bad.code
    err = capsys.readouterr().err
    if bad.code == 2:
        assert bad.message in err
        assert "emulator: listening" not in err  # refused before the emulator started
        assert not out.exists()
        return
    (line,) = out.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert (record["status"], record["attempts"]) == ("error", 0)
    assert record["error_code"] in ("InputError", "ImageError")
    assert record["error_message"].startswith(bad.message)


def test_help_documents_every_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    """`batch --help` names each endpoint with its columns and output fields."""
    assert main(["batch", "--help"]) == 0
    text = capsys.readouterr().out
    endpoints = text[text.index("endpoints (--endpoint NAME)") :]
    for name, spec in ENDPOINTS.items():
        start = re.search(rf"\n  {re.escape(name)}( \(the default\))?:", endpoints)
        assert start is not None, name
        section = endpoints[start.end() : endpoints.index("verdict", start.end())]
        for field in (*spec.options, *(output.name for output in spec.outputs)):
            assert field in section, (name, field)
    for flag in ("--min-score", "--collection-id", "--max-results", "--endpoint"):
        assert flag in text


def test_compare_command_stays_compare_with_liveness(capsys: pytest.CaptureFixture[str]) -> None:
    """`compare` takes no --endpoint or search flags (a usage error)."""
    probe = str(EXAMPLES / "images/ids/person-01.png")
    assert main(["compare", probe, probe, "--emulator", "--endpoint", "search"]) == 2
    assert main(["compare", probe, probe, "--emulator", "--min-score", "0.5"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_burst_and_token_renewal_flags_run(tmp_path: Path) -> None:
    """--rate with --burst and --renew-token-within (renewing the emulator's 30-day token) run."""
    out = tmp_path / "out.jsonl"
    args = [
        "batch", str(EXAMPLES / "manifest.csv"), "--emulator", "--out", str(out),
        "--rate", "100", "--burst", "5", "--renew-token-within", str(40 * 86400), "-q",
    ]  # fmt: skip
    assert main(args) == 0
    assert len(out.read_text().splitlines()) == 24
