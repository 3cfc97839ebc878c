"""How a figure is measured: client-process CPU, wall time, and the one shared driver.

Client cost is the CPU time of *this* process (user + sys from
``resource.getrusage``, every thread included, so the library's encoder
thread counts) across the measured calls, divided by their number. The
server runs in another process, so its speed cannot leak into that figure;
it does shape wall throughput, which is reported beside it.

``run_calls`` is the loop every contender is driven by: ``asyncio.gather``
over all calls, each behind one ``asyncio.Semaphore(concurrency)``, exactly
the "raw loop with a semaphore" a script would write. Every measured run is
bounded in count (``n`` calls) and in time (``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
import gc
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

CELL_TIMEOUT: Final = 180.0
"""No measured run may take longer than this (seconds); a stuck run fails loudly."""


def cpu_times() -> tuple[float, float]:
    """(user, sys) CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


@dataclass(frozen=True)
class Sample:
    """One measured run: how many calls, the CPU they cost and the wall time they took."""

    calls: int
    cpu_user: float
    cpu_sys: float
    wall: float

    @property
    def cpu(self) -> float:
        """User + sys seconds."""
        return self.cpu_user + self.cpu_sys

    @property
    def cpu_ms_per_call(self) -> float:
        """Client CPU milliseconds per call."""
        return self.cpu / self.calls * 1000

    @property
    def cpu_s_per_1000(self) -> float:
        """Client CPU seconds per 1000 calls (the issue's unit; equal to ms per call)."""
        return self.cpu / self.calls * 1000

    @property
    def throughput(self) -> float:
        """Calls per wall second."""
        return self.calls / self.wall

    def as_dict(self) -> dict[str, Any]:
        """The sample and its derived figures, for the JSON results."""
        return {
            **asdict(self),
            "cpu_ms_per_call": self.cpu_ms_per_call,
            "throughput": self.throughput,
        }


async def measure(run: Callable[[], Awaitable[int]], *, timeout: float = CELL_TIMEOUT) -> Sample:
    """Run ``run()`` (which returns how many calls it made) and measure it.

    Garbage from earlier runs is collected first, so no run pays for another's.
    """
    gc.collect()
    user0, sys0 = cpu_times()
    start = time.perf_counter()
    async with asyncio.timeout(timeout):
        calls = await run()
    wall = time.perf_counter() - start
    user1, sys1 = cpu_times()
    return Sample(calls, user1 - user0, sys1 - sys0, wall)


async def run_calls(
    call: Callable[[int], Awaitable[Any]], n: int, concurrency: int, *, first: int = 0
) -> int:
    """Make calls ``first .. first + n - 1`` with at most ``concurrency`` at once; return ``n``."""
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with limit:
            await call(i)

    await asyncio.gather(*(one(i) for i in range(first, first + n)))
    return n


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    """Medians over repeated runs of one cell, their spread, and every run.

    ``cpu_ms_per_call`` and ``throughput`` are medians of the per-run figures;
    ``cpu_spread``/``throughput_spread`` are (max - min) / median, a quick
    measure of how much the median can be trusted on a noisy machine.
    """
    cpu = [s.cpu_ms_per_call for s in samples]
    throughput = [s.throughput for s in samples]
    return {
        "cpu_ms_per_call": statistics.median(cpu),
        "throughput": statistics.median(throughput),
        "cpu_spread": spread(cpu),
        "throughput_spread": spread(throughput),
        "calls_per_run": samples[0].calls,
        "runs": [s.as_dict() for s in samples],
    }


def spread(values: Sequence[float]) -> float:
    """(max - min) / median of a few repeated figures."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else 0.0
