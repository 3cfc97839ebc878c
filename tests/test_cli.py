"""The verifik-async command line, end to end against the emulator (in-process and processes)."""

from __future__ import annotations

import base64
import csv
import json
import os
import select
import shlex
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from verifik_async.cli import main
from verifik_async.cli._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS

RESULT_FIELDS = ENDPOINTS[COMPARE_WITH_LIVENESS].fields

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANIFEST = EXAMPLES / "manifest.csv"
PROCESS_TIMEOUT = 60.0


def example_ids() -> list[str]:
    """The ids of the example manifest, in order."""
    with MANIFEST.open(newline="", encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def results(path: Path) -> list[dict[str, Any]]:
    """Every line of a results file, checked to be whole JSON lines with the documented fields."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the last line is torn"
    records = [json.loads(line) for line in data.splitlines()]
    assert all(list(record) == list(RESULT_FIELDS) for record in records)
    return records


def ids_of(path: Path) -> list[str]:
    """The ids in a results file, in file order."""
    return [record["id"] for record in results(path)]


def complete_lines(path: Path) -> int:
    """How many whole lines a file has now (0 if it does not exist)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def cli(*args: str) -> list[str]:
    """The command line running the CLI in a fresh interpreter."""
    return [sys.executable, "-m", "verifik_async", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Verifik settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIK_")}
    env.update(extra)
    return env


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[Any]) -> None:
    """Wait until ``path`` has ``count`` whole lines; fail if the process ends first."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while complete_lines(path) < count:
        assert process.poll() is None, f"the batch ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def make_manifest(folder: Path, png: Callable[..., bytes], rows: int) -> Path:
    """A CSV manifest of ``rows`` rows over four small images, sharing galleries."""
    for n in range(4):
        (folder / f"img{n}.png").write_bytes(png(n))
    manifest = folder / "many.csv"
    lines = ["id,probe,gallery"]
    lines += [f"row-{i:04d},img{i % 4}.png,img{(i + 1) % 4}.png;img3.png" for i in range(rows)]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


@attrs.frozen
class EmulatorProcess:
    """A ``verifik-async emulator`` process and how to reach it."""

    process: subprocess.Popen[str]
    base_url: str
    token_file: Path

    @property
    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def stop(self) -> tuple[int, str]:
        """Ctrl-C it; return its exit code and everything it printed."""
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=PROCESS_TIMEOUT)
        return self.process.returncode, out + err


def start_emulator(folder: Path, *options: str) -> EmulatorProcess:
    """Start the emulator command and read the base URL it prints."""
    token_file = folder / "emulator.token"
    process = subprocess.Popen(
        cli("emulator", "--token-file", str(token_file), *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], PROCESS_TIMEOUT)
    first = process.stdout.readline() if ready else ""
    if "listening on" not in first:
        process.kill()
        pytest.fail(f"the emulator did not start: {first!r} {process.communicate()}")
    return EmulatorProcess(process, first.split()[-1], token_file)


@pytest.fixture(autouse=True)
def _no_verifik_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own token and base URL."""
    monkeypatch.delenv("VERIFIK_API_TOKEN", raising=False)
    monkeypatch.delenv("VERIFIK_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator process for the module's token and connection tests."""
    server = start_emulator(tmp_path_factory.mktemp("emulator"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator answering after 1.5 s, so calls are reliably in flight when signalled."""
    server = start_emulator(tmp_path_factory.mktemp("slow"), "--latency", "1.5")
    yield server
    server.stop()


# -- the main job -----------------------------------------------------------------------


def test_example_manifest_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README job runs the example manifest: every id once, all three verdicts, exit 0."""
    out = tmp_path / "results.jsonl"
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out)]) == 0
    records = results(out)
    assert sorted(r["id"] for r in records) == sorted(example_ids())
    assert {r["status"] for r in records} == {"ok"}
    assert {r["verdict"] for r in records} == {"verified", "not_matched", "not_live"}
    verified = [r for r in records if r["verdict"] == "verified"]
    assert all(r["matched"] and r["live"] and r["verified"] for r in verified)
    err = capsys.readouterr().err
    assert "succeeded      24" in err
    assert "results: 24 of 24 ids" in err


def test_jsonl_manifest_gives_the_same_results(tmp_path: Path) -> None:
    """The JSONL twin of the example manifest yields the same verdicts and scores per id."""
    by_format = {}
    for name in ("manifest.csv", "manifest.jsonl"):
        out = tmp_path / f"{name}.out"
        assert main(["batch", str(EXAMPLES / name), "--emulator", "--out", str(out), "-q"]) == 0
        by_format[name] = {r["id"]: (r["verdict"], r["score"]) for r in results(out)}
    assert by_format["manifest.csv"] == by_format["manifest.jsonl"]


def test_ordered_output_follows_the_manifest(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """With --ordered, output lines come in manifest order."""
    manifest = make_manifest(tmp_path, png, 120)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(manifest), "--emulator", "--out", str(out), "--ordered"]
    assert main([*args, "--concurrency", "8", "-q"]) == 0
    assert ids_of(out) == [f"row-{i:04d}" for i in range(120)]


def test_bad_rows_become_error_lines(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """Missing file, non-image, bad score, missing column: error lines for those ids, exit 1."""
    (tmp_path / "a.png").write_bytes(png(1))
    (tmp_path / "b.png").write_bytes(png(2))
    (tmp_path / "notes.png").write_text("not an image")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,probe,gallery,compare_min_score\n"
        "good,a.png,b.png,\n"
        "missing,nowhere.png,b.png,\n"
        "not-image,a.png,notes.png,\n"
        "bad-score,a.png,b.png,very\n"
        "out-of-range,a.png,b.png,3\n"
        "no-gallery,a.png\n"
        "last,b.png,a.png,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(manifest), "--emulator", "--out", str(out)]) == 1
    by_id = {r["id"]: r for r in results(out)}
    assert len(by_id) == len(results(out)) == 7
    assert by_id["good"]["status"] == by_id["last"]["status"] == "ok"
    expected = {
        "missing": ("ImageError", "file not found"),
        "not-image": ("ImageError", "gallery[0]: is not a JPEG, PNG or WebP image"),
        "bad-score": ("InputError", "line 5: compare_min_score: must be a number"),
        "out-of-range": ("InputError", "line 6: compare_min_score: must be between"),
        "no-gallery": ("InputError", "line 7: gallery: is missing"),
    }
    for key, (code, message) in expected.items():
        record = by_id[key]
        assert (record["status"], record["error_code"]) == ("error", code)
        assert message in record["error_message"]
        assert record["score"] is None


def test_duplicate_ids_are_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repeated ids: exit 2 naming every line, no output file, no emulator started."""
    manifest = tmp_path / "dup.csv"
    manifest.write_text(
        "id,probe,gallery\nx,a.png,b.png\ny,a.png,b.png\nx,a.png,b.png\nz,a,b\nx,a,b\n"
    )
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(manifest), "--emulator", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "duplicate id 'x' on lines 2, 4, 6" in err
    assert "'y'" not in err
    assert "listening" not in err
    assert not out.exists()


def test_unreadable_manifest_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing manifest, or a JSONL line that is not JSON, exits 2 before any call."""
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(tmp_path / "none.csv"), "--emulator", "--out", str(out)]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "probe": "a.png", "gallery": ["b.png"]}\n{"id": "b", \n')
    assert main(["batch", str(bad), "--emulator", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no such manifest" in err
    assert "line 2: is not valid JSON" in err
    assert not out.exists()


def test_command_line_mistakes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Out-of-range defaults, bad numbers and conflicting flags are usage errors."""
    out = str(tmp_path / "out.jsonl")
    base = ["batch", str(MANIFEST), "--emulator", "--out", out]
    assert main([*base, "--compare-min-score", "2"]) == 2
    assert "--compare-min-score: must be between 0.67 and 0.95" in capsys.readouterr().err
    assert main([*base, "--concurrency", "0"]) == 2
    assert main([*base, "--resume", "--overwrite"]) == 2
    assert main([*base, "--base-url", "http://127.0.0.1:1/v2/"]) == 2
    assert main(["batch", str(MANIFEST)]) == 2  # --out is required
    assert not Path(out).exists()


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`batch --help` exits 0 and lists every exit code."""
    assert main(["batch", "--help"]) == 0
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"  {code}" in text
    assert "--resume" in text


# -- output file ------------------------------------------------------------------------


def test_existing_output_needs_resume_or_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-empty output is left alone (exit 2) unless --overwrite replaces it."""
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "old"}\n')
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert out.read_text() == '{"id": "old"}\n'
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "--overwrite"]) == 0
    assert sorted(ids_of(out)) == sorted(example_ids())


def test_resume_repairs_a_torn_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash's torn last line is cut off; the resumed job has every id exactly once."""
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "-q"]) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:10]) + lines[10][:25])
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "--resume"]) == 0
    assert sorted(ids_of(out)) == sorted(example_ids())
    err = capsys.readouterr().err
    assert "torn last line" in err
    assert "10 of 24 ids already" in err


def test_resume_keeps_a_whole_last_line_without_newline(tmp_path: Path) -> None:
    """A last line that is whole JSON but lacks its newline is kept, and a newline added."""
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "-q"]) == 0
    kept = out.read_bytes().splitlines()[:5]
    out.write_bytes(b"\n".join(kept))
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "--resume", "-q"]) == 0
    records = results(out)
    assert sorted(r["id"] for r in records) == sorted(example_ids())
    assert [json.dumps(r, separators=(",", ":")).encode() for r in records[:5]] == kept


def test_resume_refuses_a_damaged_middle_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Damage that is not a torn last line is not guessed at: exit 2, file untouched."""
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "-q"]) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:3], b"garbage\n", *lines[3:6]])
    out.write_bytes(damaged)
    assert main(["batch", str(MANIFEST), "--emulator", "--out", str(out), "--resume"]) == 2
    assert "line 4 is not a results line" in capsys.readouterr().err
    assert out.read_bytes() == damaged


def test_resume_after_sigkill(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """SIGKILL mid-job, then --resume: every id exactly once, no torn line."""
    manifest = make_manifest(tmp_path, png, 400)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(manifest), "--emulator", "--out", str(out)]
    process = subprocess.Popen(
        cli(*args, "--rate", "50"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    try:
        wait_for_lines(out, 60, process)
    finally:
        process.kill()
        process.wait(timeout=PROCESS_TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    assert 60 <= complete_lines(out) < 400
    assert main([*args, "--resume", "-q"]) == 0
    assert sorted(ids_of(out)) == [f"row-{i:04d}" for i in range(400)]


def test_fail_fast_stops_and_says_how_to_resume(
    tmp_path: Path, png: Callable[..., bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """--fail-fast stops after the first error line (exit 1) and prints the resume command."""
    manifest = make_manifest(tmp_path, png, 200)
    header, *rows = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join([header, *rows[:2], "broken,img0.png,missing.png\n", *rows[2:]]))
    out = tmp_path / "out.jsonl"
    args = ["batch", str(manifest), "--emulator", "--out", str(out), "--fail-fast"]
    assert main([*args, "--ordered", "--concurrency", "2", "--rate", "5"]) == 1
    assert complete_lines(out) < 201
    err = capsys.readouterr().err
    assert "--fail-fast" in err
    assert "--resume" in err.splitlines()[-1]


# -- Ctrl-C ---------------------------------------------------------------------------------


def run_until_lines(
    command: list[str], out: Path, count: int, *signals_to_send: int
) -> tuple[subprocess.Popen[str], int, str]:
    """Start a batch, wait for ``count`` lines, send the signals; return code and stderr."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    )
    try:
        wait_for_lines(out, count, process)
        for signum in signals_to_send:
            process.send_signal(signum)
            time.sleep(0.2)
        _, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process, process.returncode, err


def test_ctrl_c_finishes_calls_in_flight_then_resume_completes(
    tmp_path: Path, png: Callable[..., bytes], slow_emulator: EmulatorProcess
) -> None:
    """One Ctrl-C: no new rows, in-flight calls finish and are written, exit 130, resumable."""
    manifest = make_manifest(tmp_path, png, 16)
    out = tmp_path / "out.jsonl"
    command = cli(
        "batch", str(manifest), "--out", str(out), "--concurrency", "4",
        "--base-url", slow_emulator.base_url, "--token-file", str(slow_emulator.token_file),
    )  # fmt: skip
    _, code, err = run_until_lines(command, out, 4, signal.SIGINT)
    assert code == 130
    # The second wave of four was in flight and finished; no third wave started
    # (one row already taken from the manifest may still run).
    assert 8 <= len(ids_of(out)) <= 9
    assert "finishing the calls in flight" in err
    resume = err.strip().splitlines()[-1].strip()
    assert resume.endswith("--resume")
    words = shlex.split(resume)
    assert main([*words[words.index("batch") :], "--concurrency", "16", "-q"]) == 0
    assert sorted(ids_of(out)) == [f"row-{i:04d}" for i in range(16)]


def test_second_ctrl_c_cancels_calls_in_flight(
    tmp_path: Path, png: Callable[..., bytes], slow_emulator: EmulatorProcess
) -> None:
    """A second Ctrl-C cancels the calls in flight at once; the output stays whole."""
    manifest = make_manifest(tmp_path, png, 16)
    out = tmp_path / "out.jsonl"
    command = cli(
        "batch", str(manifest), "--out", str(out), "--concurrency", "4",
        "--base-url", slow_emulator.base_url, "--token-file", str(slow_emulator.token_file),
    )  # fmt: skip
    _, code, err = run_until_lines(command, out, 4, signal.SIGINT, signal.SIGINT)
    assert code == 130
    assert 4 <= len(ids_of(out)) < 8  # the wave in flight was cancelled, not finished
    assert "stopping now" in err
    assert err.strip().endswith("--resume")


def test_sigint_on_a_rate_limited_emulator_run(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """Ctrl-C on an --emulator job: exit 130, whole lines only, fewer than all rows."""
    manifest = make_manifest(tmp_path, png, 400)
    out = tmp_path / "out.jsonl"
    command = cli("batch", str(manifest), "--emulator", "--out", str(out), "--rate", "50")
    _, code, err = run_until_lines(command, out, 20, signal.SIGINT)
    assert code == 130
    assert 20 <= len(set(ids_of(out))) == len(ids_of(out)) < 400
    assert "ids not done yet; the output is consistent" in err


# -- tokens -----------------------------------------------------------------------------------


def test_no_token_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without VERIFIK_API_TOKEN, --token-file or --emulator: exit 2, nothing written."""
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(MANIFEST), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no API token" in err
    assert "VERIFIK_API_TOKEN" in err
    assert "--token-file" in err
    assert not out.exists()


def test_unusable_token_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing or empty token file is a usage error."""
    out = tmp_path / "out.jsonl"
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    for token_file in (tmp_path / "none.token", empty):
        assert (
            main(["batch", str(MANIFEST), "--out", str(out), "--token-file", str(token_file)]) == 2
        )
    err = capsys.readouterr().err
    assert "no such file" in err
    assert "is empty" in err


def test_token_from_file_or_environment(
    tmp_path: Path,
    emulator: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The token works from --token-file and from VERIFIK_API_TOKEN; it appears nowhere."""
    out = tmp_path / "out.jsonl"
    base = ["batch", str(MANIFEST), "--out", str(out), "--base-url", emulator.base_url]
    assert main([*base, "--token-file", str(emulator.token_file)]) == 0
    monkeypatch.setenv("VERIFIK_API_TOKEN", emulator.token)
    monkeypatch.setenv("VERIFIK_BASE_URL", emulator.base_url)
    other = tmp_path / "other.jsonl"
    assert main(["batch", str(MANIFEST), "--out", str(other), "-v"]) == 0
    assert sorted(ids_of(out)) == sorted(ids_of(other)) == sorted(example_ids())
    captured = capsys.readouterr()
    for text in (out.read_text(), other.read_text(), captured.out, captured.err):
        assert emulator.token not in text


def test_output_never_holds_the_token_or_image_data(
    tmp_path: Path, emulator: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Results, stdout and stderr carry no token and no base64 of any image, errors included."""
    manifest = tmp_path / "m.jsonl"
    rows = [json.loads(line) for line in (EXAMPLES / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        row["probe"] = str(EXAMPLES / row["probe"])
        row["gallery"] = [str(EXAMPLES / path) for path in row["gallery"]]
    rows.append({"id": "bad", "probe": rows[0]["probe"], "gallery": [str(manifest)]})
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out.jsonl"
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    base = ["batch", str(manifest), "--base-url", emulator.base_url]
    assert main([*base, "--out", str(out), "--token-file", str(emulator.token_file)]) == 1
    denied = tmp_path / "denied.jsonl"
    assert main([*base, "--out", str(denied), "--token-file", str(wrong)]) == 1
    assert {r["error_code"] for r in results(denied)} == {"PermissionDeniedError", "ImageError"}
    captured = capsys.readouterr()
    texts = [out.read_text(), denied.read_text(), captured.out, captured.err]
    secrets = [emulator.token, "not-the-token"]
    secrets += [
        base64.b64encode(path.read_bytes()).decode()[40:100]
        for path in EXAMPLES.glob("images/*/*.png")
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- compare and emulator ------------------------------------------------------------------


def test_compare_prints_a_readable_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    """`compare` prints the verdict and its numbers; a match of identical images verifies."""
    selfie, same = EXAMPLES / "images/selfies/person-01.png", EXAMPLES / "images/ids/person-01.png"
    assert main(["compare", str(selfie), str(same), "--emulator"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("VERIFIED: the probe matches the gallery and is live")
    assert "score           1.0000  (matched; threshold 0.85)" in text
    other, its_id = EXAMPLES / "images/selfies/person-04.png", EXAMPLES / "images/ids/person-04.png"
    assert main(["compare", str(other), str(its_id), "--emulator"]) == 0
    assert capsys.readouterr().out.startswith("NOT MATCHED")


def test_compare_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`compare --json` prints one JSON object with the batch line's fields (no id)."""
    probe = EXAMPLES / "images/selfies/person-05.png"
    gallery = [EXAMPLES / "images/ids/person-05.png", EXAMPLES / "images/ids/person-06.png"]
    options = ["--emulator", "--json", "--os", "ios"]
    assert main(["compare", str(probe), *map(str, gallery), *options]) == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record) == [field for field in RESULT_FIELDS if field != "id"]
    assert record["status"] == "ok"
    assert (record["verdict"], record["score"], record["matched"]) == ("not_live", 1.0, True)


def test_compare_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing call exits 1, as a message or as a JSON error record."""
    text_file = tmp_path / "notes.png"
    text_file.write_text("hello")
    probe = str(EXAMPLES / "images/ids/person-01.png")
    assert main(["compare", probe, str(text_file), "--emulator"]) == 1
    assert "error: ImageError: gallery[0]: is not a JPEG" in capsys.readouterr().err
    assert main(["compare", probe, str(text_file), "--emulator", "--json"]) == 1
    record = json.loads(capsys.readouterr().out)
    assert (record["status"], record["error_code"]) == ("error", "ImageError")
    assert main(["compare", probe, probe]) == 2  # no token


def test_emulator_command_serves_until_ctrl_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`emulator` writes a private token file, serves calls, never prints the token, exits 0."""
    server = start_emulator(tmp_path)
    try:
        assert stat.S_IMODE(server.token_file.stat().st_mode) == 0o600
        probe = str(EXAMPLES / "images/ids/person-01.png")
        args = ["--base-url", server.base_url, "--token-file", str(server.token_file)]
        assert main(["compare", probe, probe, "--json", *args]) == 0
        assert json.loads(capsys.readouterr().out)["verdict"] == "verified"
    finally:
        code, printed = server.stop()
    assert code == 0
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.token not in printed
    assert "emulator stopped" in printed


def test_emulator_command_needs_somewhere_for_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    """Without VERIFIK_API_TOKEN, `emulator` requires --token-file (exit 2)."""
    assert main(["emulator"]) == 2
    assert "--token-file" in capsys.readouterr().err
