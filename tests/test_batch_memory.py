"""Memory stays flat as a batch grows (measured in a subprocess, with a generous bound)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import anyio
    from verifik_async import CompareLivenessRequest, Image, VerifikClient
    from verifik_async.testing import EmulatorServer

    PNG = b"\\x89PNG\\r\\n\\x1a\\n"
    WARMUP, TOTAL = int(sys.argv[1]), int(sys.argv[2])

    def peak_mb():
        # VmHWM, not ru_maxrss: a child started by vfork can inherit its
        # parent's ru_maxrss across exec, which would hide any growth here.
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/self/status")

    async def main():
        marks = {}
        async with EmulatorServer(record_bodies=False, max_recorded=64) as server:
            async with VerifikClient(token=server.token, base_url=server.base_url) as client:
                gallery = [Image.from_bytes(PNG + os.urandom(20_000))]
                # every probe is a fresh 40 kB image, made only when pulled
                jobs = (
                    CompareLivenessRequest(PNG + os.urandom(40_000), gallery)
                    for _ in range(TOTAL)
                )
                done = 0
                async with client.stream(jobs, concurrency=32) as results:
                    async for outcome in results:
                        assert outcome.ok, outcome.error
                        done += 1
                        if done == WARMUP:
                            marks["warm"] = peak_mb()
                marks["end"] = peak_mb()
                marks["done"] = done
        print(json.dumps(marks))

    anyio.run(main)
    """
)


def test_peak_memory_is_flat_as_the_batch_grows() -> None:
    """A 12,000-job batch of 40 kB probes peaks within 25 MB of its peak at 1,500 jobs."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT, "1500", "12000"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    marks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert marks["done"] == 12000
    # 10,500 more probes were 420 MB of images: holding on to them would show.
    assert marks["end"] - marks["warm"] < 25, marks
