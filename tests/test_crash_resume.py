"""The bulk command survives SIGKILL at random points: resumed, every id appears exactly once."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROWS = 300
RUNS = 4
TIMEOUT = 90.0


def _manifest(folder: Path, png: Callable[..., bytes]) -> Path:
    for n in range(6):
        (folder / f"img{n}.png").write_bytes(png(n))
    lines = ["id,probe,gallery"]
    lines += [f"id-{i:04d},img{i % 6}.png,img{(i * 7) % 6}.png" for i in range(ROWS)]
    manifest = folder / "jobs.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def _command(manifest: Path, out: Path, *extra: str) -> list[str]:
    env_free = [sys.executable, "-m", "verifik_async", "batch", str(manifest), "--emulator"]
    return [*env_free, "--out", str(out), "--rate", "150", "--concurrency", "8", *extra]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VERIFIK_")}


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_after(command: list[str], out: Path, seconds: float) -> int:
    """Start the batch, SIGKILL it ``seconds`` after its first result line; return lines then."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env()
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while _lines(out) == 0:
            assert process.poll() is None, "the batch ended before its first line"
            assert time.monotonic() < deadline, "no first line"
            time.sleep(0.01)
        time.sleep(seconds)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    return _lines(out)


def test_sigkill_at_random_points_then_resume(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """Killed at 4 seeded random points, each run resumes to every id exactly once, no torn line,
    and the resumed run's summary counts match the lines it added to the file."""
    rng = random.Random(20261125)
    manifest = _manifest(tmp_path, png)
    killed_mid_job = 0
    for run in range(RUNS):
        out = tmp_path / f"results-{run}.jsonl"
        # 300 rows at 150/s take about 2 s: kill somewhere inside that.
        before = _kill_after(_command(manifest, out), out, rng.uniform(0.0, 1.6))
        killed_mid_job += 0 < before < ROWS
        resumed = subprocess.run(
            _command(manifest, out, "--resume"),
            capture_output=True,
            text=True,
            env=_env(),
            timeout=TIMEOUT,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        data = out.read_bytes()
        assert data.endswith(b"\n"), "torn last line"
        records = [json.loads(line) for line in data.splitlines()]
        ids = Counter(record["id"] for record in records)
        assert sorted(ids) == [f"id-{i:04d}" for i in range(ROWS)]
        assert set(ids.values()) == {1}
        # The resumed run reports exactly the lines it added, by verdict.
        added = records[before:]
        jobs = re.search(r"^jobs\s+(\d+)$", resumed.stderr, re.MULTILINE)
        assert jobs is not None, resumed.stderr
        assert int(jobs.group(1)) == len(added) == ROWS - before
        for verdict, count in Counter(r["verdict"] for r in added).items():
            match = re.search(rf"^\s+{verdict}\s+(\d+)$", resumed.stderr, re.MULTILINE)
            assert match is not None and int(match.group(1)) == count, resumed.stderr
    assert killed_mid_job >= 2
