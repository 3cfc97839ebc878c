"""Peak RSS of one batch fed from a generator, in a fresh child process.

The child (``python -m benchmarks._rss --jobs N --base-url URL``) imports the
library, opens a client, and runs ``client.stream(jobs, concurrency=C)``
over a generator that builds each ``CompareLivenessRequest`` only when the
runner pulls it (small images: this figure is about the runner holding
nothing per finished job, and 100,000 calls of ~300 KB would take far
longer than the run may). It counts the outcomes, keeps none, and prints
one JSON line: its peak resident set (``VmHWM``, KiB) and its RSS after
start-up, before the batch.

Why ``VmHWM`` from ``/proc/self/status`` and not ``ru_maxrss``: on Linux a
child's ``ru_maxrss`` survives ``execve`` from the memory it had before it,
and Python's ``subprocess`` forks with ``vfork``, when the child *is*
running in the parent's memory; so ``ru_maxrss`` reports at least the
parent's peak (the harness's, ~190 MB after the throughput grid).
``VmHWM`` is the high-water mark of the child's own address space only.
``ru_maxrss`` is reported beside it for the record.

Flat memory means the 100,000-job peak is the 10,000-job peak, give or
take allocator noise; the targets are a ratio of at most 1.10 and an
absolute peak under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, Final

from ._procs import ROOT, child_env

CHILD_TIMEOUT: Final = 600.0
TOKEN: Final = "bench-token-not-a-secret"


def _status_kib(field: str) -> int:
    """A ``Vm...`` line of ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


async def _child(jobs: int, base_url: str, concurrency: int) -> dict[str, Any]:
    from verifik_async import CompareLivenessRequest, Image, VerifikClient

    from ._payloads import tiny

    workload = tiny()

    async with VerifikClient(token=TOKEN, base_url=base_url) as client:
        gallery = [Image.from_bytes(image) for image in workload.gallery]

        def requests() -> Iterator[CompareLivenessRequest]:
            for i in range(jobs):
                yield CompareLivenessRequest(workload.probe(i), gallery)

        await client.compare_with_liveness(workload.probe(0), gallery)
        rss_before = _status_kib("VmRSS")
        ok = failed = 0
        start = time.perf_counter()
        async with client.stream(requests(), concurrency=concurrency) as results:
            async for outcome in results:
                if outcome.ok:
                    ok += 1
                else:
                    failed += 1
        wall = time.perf_counter() - start
        summary = results.summary
    return {
        "jobs": jobs,
        "succeeded": ok,
        "failed": failed,
        "wall": wall,
        "throughput": summary.throughput,
        "rss_before_kib": rss_before,
        "maxrss_kib": _status_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def run_child(jobs: int, base_url: str, concurrency: int) -> dict[str, Any]:
    """Run one batch of ``jobs`` in a fresh process; return what the child reported."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._rss",
            "--jobs",
            str(jobs),
            "--base-url",
            base_url,
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"RSS child for {jobs} jobs failed ({completed.returncode}): "
            f"{completed.stderr.decode(errors='replace')[-2000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    """The child's entry point: one batch, one JSON line on stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._rss")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    result = asyncio.run(_child(args.jobs, args.base_url, args.concurrency))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
