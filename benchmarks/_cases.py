"""The in-process figures: throughput grid, batch runner, rate limit, injected 503s, large call.

Each ``async def`` here measures one figure against servers that
``__main__`` started, and returns plain data for ``_report``. The figures
that need a fresh process (peak RSS, import time) live in ``_rss`` and
``_importtime``.

Methodology shared by all of them:

- Every contender gets a fresh client (new connection pool) per measured
  run, and a warm-up of ``concurrency + 16`` calls first, so connection
  set-up and first-call imports are not what is measured.
- Repeated runs are interleaved (round 1: every contender at every
  concurrency, then round 2, ... with the contender order rotated each
  round) and the median is reported, so slow drift of a shared machine hits
  every contender alike.
- Call ``i`` sends the same images for every contender (``_payloads``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from verifik_async import CompareLivenessRequest, Image, VerifikClient

from . import _baselines, _ours
from ._measure import Sample, measure, run_calls, summarise
from ._payloads import Workload
from ._server import ServerProcess

TOKEN: Final = "bench-token-not-a-secret"


@dataclass(frozen=True)
class Plan:
    """How much of everything to run: ``Plan.full()`` or ``Plan.quick()``."""

    name: str
    concurrencies: tuple[int, ...] = (1, 8, 32, 128)
    grid_calls: int = 500
    grid_rounds: int = 3
    overhead_concurrency: int = 8
    overhead_calls: int = 2000
    batch_concurrency: int = 32
    batch_calls: int = 1500
    batch_tiny_calls: int = 4000
    batch_rounds: int = 5
    rss_jobs: tuple[int, int] = (10_000, 100_000)
    rss_concurrency: int = 32
    rate: float = 200.0
    burst: int = 20
    rate_seconds: float = 10.0
    rate_concurrency: int = 32
    fault_rate: float = 0.10
    fault_calls: int = 4000
    fault_rounds: int = 2
    fault_concurrency: int = 32
    import_repeats: int = 15
    large_calls: int = 8
    contenders: tuple[str, ...] = field(
        default=("ours", "ours_shared", "aiohttp", "aiohttp_orjson", "httpx")
    )

    @classmethod
    def full(cls) -> Plan:
        """Every figure at the issue's sizes: a few minutes on 2 cores."""
        return cls("full")

    @classmethod
    def quick(cls) -> Plan:
        """The same figures on smaller counts: under a minute, figures only indicative."""
        return cls(
            "quick",
            grid_calls=120,
            grid_rounds=1,
            overhead_calls=500,
            batch_calls=300,
            batch_tiny_calls=1000,
            batch_rounds=1,
            rss_jobs=(1_000, 10_000),
            rate_seconds=3.0,
            fault_calls=600,
            fault_rounds=1,
            import_repeats=5,
            large_calls=2,
        )


@dataclass(frozen=True)
class Contender:
    """One way of making the call: a label and how to open it against a server."""

    key: str
    label: str
    opener: Callable[[str, str, Workload], AbstractAsyncContextManager[Any]]
    wants_base_url: bool

    def open(self, server: ServerProcess, workload: Workload) -> AbstractAsyncContextManager[Any]:
        """A context yielding ``call(i)`` bound to ``server``."""
        target = server.base_url if self.wants_base_url else server.url
        return self.opener(target, TOKEN, workload)


CONTENDERS: Final = {
    c.key: c
    for c in (
        Contender("ours", "ours", _ours.ours, wants_base_url=True),
        Contender("ours_shared", "ours (shared gallery)", _ours.ours_shared, wants_base_url=True),
        Contender("aiohttp", "raw aiohttp", _baselines.raw_aiohttp, wants_base_url=False),
        Contender(
            "aiohttp_orjson",
            "raw aiohttp + orjson",
            _baselines.raw_aiohttp_orjson,
            wants_base_url=False,
        ),
        Contender("httpx", "raw httpx", _baselines.raw_httpx, wants_base_url=False),
    )
}


def progress(message: str) -> None:
    """One line of progress on stderr (stdout carries the report)."""
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


async def _measured_cell(
    contender: Contender,
    server: ServerProcess,
    workload: Workload,
    *,
    calls: int,
    concurrency: int,
    first: int,
) -> Sample:
    async with contender.open(server, workload) as call:
        await run_calls(call, concurrency + 16, concurrency, first=first)
        return await measure(partial(run_calls, call, calls, concurrency, first=first))


async def throughput_grid(
    plan: Plan,
    server: ServerProcess,
    workload: Workload,
    *,
    contenders: tuple[str, ...] | None = None,
    concurrencies: tuple[int, ...] | None = None,
    calls: int | None = None,
) -> dict[str, dict[int, dict[str, Any]]]:
    """CPU per call and throughput of every contender at every concurrency.

    Defaults come from ``plan``. Returns ``{contender: {concurrency:
    summary}}`` (see ``_measure.summarise``).
    """
    contenders = contenders or plan.contenders
    concurrencies = concurrencies or plan.concurrencies
    calls = calls or plan.grid_calls
    samples: dict[str, dict[int, list[Sample]]] = {
        key: {c: [] for c in concurrencies} for key in contenders
    }
    server.reset()
    for round_ in range(plan.grid_rounds):
        order = list(contenders)
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        for concurrency in concurrencies:
            for key in order:
                sample = await _measured_cell(
                    CONTENDERS[key],
                    server,
                    workload,
                    calls=calls,
                    concurrency=concurrency,
                    first=round_ * calls,
                )
                samples[key][concurrency].append(sample)
                progress(
                    f"{workload.name} round {round_ + 1}/{plan.grid_rounds} c={concurrency:<3} "
                    f"{CONTENDERS[key].label:<22} {sample.cpu_ms_per_call:6.3f} ms CPU/call "
                    f"{sample.throughput:7.1f} calls/s"
                )
    _check_all_ok(server, "throughput grid")
    return {key: {c: summarise(s) for c, s in cells.items()} for key, cells in samples.items()}


async def per_call_overhead(
    plan: Plan, server: ServerProcess, workload: Workload
) -> dict[str, dict[int, dict[str, Any]]]:
    """The same measurement with tiny images, where the library's own per-call work shows.

    With ~2 KB images, base64 and JSON cost next to nothing, so CPU per
    call is request building, parsing and the HTTP exchange: what the
    library adds on top of aiohttp, undiluted. Context, not a target.
    """
    return await throughput_grid(
        plan,
        server,
        workload,
        contenders=("ours", "aiohttp", "aiohttp_orjson"),
        concurrencies=(plan.overhead_concurrency,),
        calls=plan.overhead_calls,
    )


def _requests(workload: Workload, gallery: list[Any], first: int, n: int) -> Iterator[Any]:
    for i in range(first, first + n):
        yield CompareLivenessRequest(workload.probe(i), gallery)


async def batch_vs_gather(
    plan: Plan, server: ServerProcess, workload: Workload, *, calls: int
) -> dict[str, Any]:
    """``client.stream(jobs, concurrency=N)`` against a bare semaphore + gather, same client.

    Both run the same requests (built lazily from a generator, raw bytes,
    so every call encodes its images) through ``client.call``; the batch
    runner also checks every outcome. Each round runs the two back to back
    (alternating which goes first), and ``cpu_ratio`` is the median of the
    rounds' ratios: a paired comparison, so drift in the machine's load
    between rounds cancels out. The target is 1.05, about the size of the
    noise in one round on a shared 2-core box, hence several rounds.
    """
    concurrency = plan.batch_concurrency
    samples: dict[str, list[Sample]] = {"batch": [], "gather": []}
    async with VerifikClient(token=TOKEN, base_url=server.base_url) as client:
        gallery = list(workload.gallery)

        async def bare(first: int, n: int) -> int:
            limit = asyncio.Semaphore(concurrency)

            async def one(request: Any) -> None:
                async with limit:
                    await client.call(request)

            await asyncio.gather(*(one(r) for r in _requests(workload, gallery, first, n)))
            return n

        async def batch(first: int, n: int) -> int:
            done = 0
            jobs = _requests(workload, gallery, first, n)
            async with client.stream(jobs, concurrency=concurrency) as results:
                async for outcome in results:
                    if not outcome.ok:
                        raise RuntimeError(f"batch job failed: {outcome.error!r}")
                    done += 1
            return done

        runners = {"gather": bare, "batch": batch}
        await bare(0, concurrency + 16)
        await batch(0, concurrency + 16)
        for round_ in range(plan.batch_rounds):
            order = ["gather", "batch"] if round_ % 2 == 0 else ["batch", "gather"]
            for name in order:
                runner = runners[name]
                first = round_ * calls
                sample = await measure(partial(runner, first, calls))
                samples[name].append(sample)
                progress(
                    f"batch-vs-gather ({workload.name}) round {round_ + 1}/{plan.batch_rounds} "
                    f"{name:<6} {sample.cpu_ms_per_call:6.3f} ms CPU/call "
                    f"{sample.throughput:7.1f} calls/s"
                )
    summaries = {name: summarise(s) for name, s in samples.items()}
    per_round = [
        b.cpu_ms_per_call / g.cpu_ms_per_call
        for b, g in zip(samples["batch"], samples["gather"], strict=True)
    ]
    return {
        "workload": workload.describe(),
        "concurrency": concurrency,
        "calls": calls,
        **summaries,
        "cpu_ratio": statistics.median(per_round),
        "cpu_ratio_of_medians": (
            summaries["batch"]["cpu_ms_per_call"] / summaries["gather"]["cpu_ms_per_call"]
        ),
        "cpu_ratio_per_round": per_round,
    }


async def rate_limit(plan: Plan, server: ServerProcess, workload: Workload) -> dict[str, Any]:
    """``client.stream(jobs, rate=R, burst=B)`` for about ``rate_seconds``: the rate it achieves.

    Two clocks. The server stamps each call's arrival (before reading the
    body); the client's aiohttp session, handed to ``VerifikClient`` with a
    trace hook, stamps each request's start, which follows the limiter's
    release with no await in between. ``achieved`` is the steady rate from
    the server's stamps, (arrivals - burst) / (last - first), since the
    burst credit is spent at once by design. The "never over the burst"
    check counts, in any 1-second window, the requests the client started
    (exactly what the limiter controls) against ``rate + burst``; the same
    count over server arrivals is reported beside it, where network and
    event-loop jitter on a loaded 2-core machine can shift an arrival or two
    from one window into the next.
    """
    import aiohttp

    calls = round(plan.rate * plan.rate_seconds)
    started: list[float] = []

    async def on_request_start(*_: Any) -> None:
        started.append(time.monotonic())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        VerifikClient(token=TOKEN, base_url=server.base_url, session=session) as client,
    ):
        gallery = [Image.from_bytes(image) for image in workload.gallery]
        await client.compare_with_liveness(workload.probe(0), gallery)  # connect, warm up
        server.reset()
        started.clear()
        ok = 0
        start = time.perf_counter()
        async with asyncio.timeout(plan.rate_seconds * 3 + 30):
            jobs = _requests(workload, gallery, 0, calls)
            async with client.stream(
                jobs, concurrency=plan.rate_concurrency, rate=plan.rate, burst=plan.burst
            ) as results:
                async for outcome in results:
                    ok += outcome.ok
        wall = time.perf_counter() - start
    arrivals = sorted(server.arrivals())
    _check_all_ok(server, "rate limit")
    span = arrivals[-1] - arrivals[0]
    achieved = (len(arrivals) - plan.burst) / span
    return {
        "configured": plan.rate,
        "burst": plan.burst,
        "calls": calls,
        "succeeded": ok,
        "arrivals": len(arrivals),
        "span": span,
        "wall": wall,
        "achieved": achieved,
        "achieved_ratio": achieved / plan.rate,
        "overall_rate": len(arrivals) / wall,
        "max_in_1s_allowed": int(plan.rate * 1.0) + plan.burst,
        "max_in_1s_client": max_in_window(sorted(started), 1.0),
        "max_in_1s_server": max_in_window(arrivals, 1.0),
    }


def max_in_window(times: list[float], width: float) -> int:
    """The most of the sorted ``times`` that fall in any half-open window ``[t, t + width)``."""
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def injected_503s(
    plan: Plan, server: ServerProcess, faulty: ServerProcess, workload: Workload
) -> dict[str, Any]:
    """Wall time of one batch with 10% injected 503s against the same batch without.

    The client keeps its default RetryPolicy (5 attempts, 0.25 s initial
    backoff doubling, full jitter): that is what users get, and a shortened
    backoff would hide the very cost being measured. Every call must still
    succeed.

    Read the figure with its batch length in mind: the wall time is
    ``steady part x (1 + the extra attempts' cost) + a tail``, the tail being
    the last unlucky jobs' backoff chain (about 0.2-1 s whatever the batch
    size). Against a loopback server a batch is short, so the tail weighs far
    more than it would against the real API, where each call takes about a
    second. Hence a batch of several seconds, and beside the wall ratio the
    time to 99% of outcomes (the steady part) and the tail are reported.
    """
    runs: dict[str, list[dict[str, Any]]] = {"clean": [], "faulty": []}
    targets = {"clean": server, "faulty": faulty}
    for round_ in range(plan.fault_rounds):
        order = ["clean", "faulty"] if round_ % 2 == 0 else ["faulty", "clean"]
        for name in order:
            target = targets[name]
            async with VerifikClient(token=TOKEN, base_url=target.base_url) as client:
                gallery = list(workload.gallery)
                warm = _requests(workload, gallery, 0, plan.fault_concurrency)
                async with client.stream(warm, concurrency=plan.fault_concurrency) as results:
                    async for _ in results:
                        pass
                target.reset()
                ok = failed = attempts = 0
                finished: list[float] = []
                start = time.perf_counter()
                async with asyncio.timeout(300):
                    jobs = _requests(workload, gallery, 0, plan.fault_calls)
                    async with client.stream(jobs, concurrency=plan.fault_concurrency) as results:
                        async for outcome in results:
                            finished.append(time.perf_counter() - start)
                            ok += outcome.ok
                            failed += not outcome.ok
                            attempts += outcome.attempts
                wall = time.perf_counter() - start
            statuses = target.stats()["statuses"]
            p99 = finished[int(0.99 * (len(finished) - 1))]
            runs[name].append(
                {
                    "wall": wall,
                    "p99": p99,
                    "tail": wall - p99,
                    "succeeded": ok,
                    "failed": failed,
                    "attempts": attempts,
                    "server_statuses": statuses,
                }
            )
            progress(
                f"503s round {round_ + 1}/{plan.fault_rounds} {name:<6} {wall:6.2f} s "
                f"(99% done at {p99:.2f} s) ok={ok} failed={failed} statuses={statuses}"
            )

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    return {
        "calls": plan.fault_calls,
        "concurrency": plan.fault_concurrency,
        "fault_rate": plan.fault_rate,
        "retry_policy": "default RetryPolicy()",
        "clean_wall": median("clean", "wall"),
        "faulty_wall": median("faulty", "wall"),
        "wall_ratio": median("faulty", "wall") / median("clean", "wall"),
        "p99_ratio": median("faulty", "p99") / median("clean", "p99"),
        "faulty_tail": median("faulty", "tail"),
        "failed": sum(r["failed"] for r in runs["faulty"] + runs["clean"]),
        "runs": runs,
    }


async def large_request(plan: Plan, server: ServerProcess, workload: Workload) -> dict[str, Any]:
    """One heavy call at a time (5 MB probe, 10 gallery images): CPU and wall per call."""
    results: dict[str, Any] = {"workload": workload.describe(), "calls": plan.large_calls}
    samples: dict[str, list[Sample]] = {"ours": [], "aiohttp": [], "httpx": []}
    for round_ in range(2):
        order = list(samples) if round_ == 0 else list(reversed(samples))
        for key in order:
            async with CONTENDERS[key].open(server, workload) as call:
                await call(0)
                sample = await measure(partial(run_calls, call, plan.large_calls, 1))
            samples[key].append(sample)
            progress(
                f"large request {CONTENDERS[key].label:<12} "
                f"{sample.cpu_ms_per_call:7.1f} ms CPU/call "
                f"{sample.wall / sample.calls * 1000:7.1f} ms wall/call"
            )
    for key, runs in samples.items():
        summary = summarise(runs)
        summary["wall_ms_per_call"] = 1000 / summary["throughput"]
        results[key] = summary
    return results


def _check_all_ok(server: ServerProcess, what: str) -> None:
    statuses = server.stats()["statuses"]
    if set(statuses) - {"200"}:
        raise RuntimeError(f"{what}: the server answered {statuses}, expected only 200s")
