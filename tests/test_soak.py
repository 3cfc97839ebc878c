"""Soaks: thousands of jobs under mixed injected faults, checked against the emulator's log.

Every job carries a distinct probe, so the emulator's log (grouped by
``probe_key``) tells exactly which attempts of which job drew which fault. From
it each test checks that the batch lost nothing, duplicated nothing, retried
every fault the budget allowed, and made no call for a job once its outcome
had been delivered.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from verifik_async import (
    CompareLivenessRequest,
    CompareLivenessResult,
    ConnectError,
    Image,
    Outcome,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    RetryPolicy,
    ServerError,
    VerifikClient,
    VerifikError,
)
from verifik_async.testing import EmulatorServer, Fault, FaultKind, RecordedRequest, probe_key

pytestmark = pytest.mark.anyio

# Three attempts at a 20% fault rate: about 0.8% of jobs draw a fault on every
# attempt, so both branches of "failed iff every attempt faulted" are exercised.
POLICY = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.005)
# Long enough that a loaded loopback answer never hits it, far below the delay fault.
CALL_TIMEOUT = 1.0
FAULTS = (
    Fault.rate_limited(0.02),
    Fault.status(500),
    Fault.status(502),
    Fault.status(503),
    Fault.status(504),
    Fault.html_502(),
    Fault.reset(),
    Fault.delay(10 * CALL_TIMEOUT),
    Fault.malformed_json(),
    Fault.truncated_json(),
)
# What a job that failed on its last attempt must hold, by the fault of that attempt.
ERROR_FOR_FAULT: dict[FaultKind, type[VerifikError]] = {
    FaultKind.RATE_LIMITED: RateLimitError,
    FaultKind.STATUS: ServerError,
    FaultKind.HTML_502: ServerError,
    FaultKind.RESET: ConnectError,
    FaultKind.DELAY: RequestTimeoutError,
    FaultKind.MALFORMED_JSON: ResponseError,
    FaultKind.TRUNCATED_JSON: ResponseError,
}


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """An emulator that keeps no request bodies (the soak sends thousands)."""
    async with EmulatorServer(record_bodies=False) as emulator:
        yield emulator


@pytest.fixture
async def client(server: EmulatorServer) -> AsyncIterator[VerifikClient]:
    """A client bound to ``server`` with millisecond backoff and three attempts."""
    async with VerifikClient(token=server.token, base_url=server.base_url, retry=POLICY) as c:
        yield c


def distinct_probes(png: Callable[..., bytes], n: int) -> list[bytes]:
    """``n`` different real PNGs (the helper repeats colours every 256 seeds, so vary size)."""
    probes = [png(i % 256, 8 + i // 256) for i in range(n)]
    assert len(set(probes)) == n
    return probes


async def run_soak(
    client: VerifikClient,
    server: EmulatorServer,
    probes: list[bytes],
    gallery: bytes,
    **options: object,
) -> tuple[list[Outcome[CompareLivenessResult]], dict[int, float]]:
    """Stream one job per probe; return the outcomes in delivery order and when each arrived."""
    shared = [Image.from_bytes(gallery)]
    jobs = ((i, CompareLivenessRequest(p, shared)) for i, p in enumerate(probes))
    outcomes: list[Outcome[CompareLivenessResult]] = []
    arrived: dict[int, float] = {}
    # A bound on behaviour, not speed: the soak must end by itself.
    with anyio.fail_after(120):
        async with client.stream(jobs, timeout=CALL_TIMEOUT, **options) as results:
            async for outcome in results:
                arrived.setdefault(outcome.index, time.monotonic())
                outcomes.append(outcome)
        summary = results.summary
    # Give any stray late call time to reach the log before it is read.
    await anyio.sleep(0.2)
    assert summary.total == len(probes)
    assert summary.succeeded == sum(o.ok for o in outcomes)
    return outcomes, arrived


def check_against_log(
    outcomes: list[Outcome[CompareLivenessResult]],
    arrived: dict[int, float],
    probes: list[bytes],
    requests: list[RecordedRequest],
) -> dict[str, int]:
    """Check one outcome per job and each job's attempts against the log; return figures."""
    n = len(probes)
    # Exactly one outcome per job, none duplicated, keys matching indices.
    assert len(outcomes) == n
    assert sorted(o.index for o in outcomes) == list(range(n))
    assert all(o.key == o.index for o in outcomes)

    by_probe: dict[str | None, list[RecordedRequest]] = defaultdict(list)
    for request in requests:
        by_probe[request.probe_key].append(request)
    keys = [probe_key(p) for p in probes]
    # Every request in the log belongs to one of the jobs.
    assert set(by_probe) == set(keys)

    for outcome in outcomes:
        attempts = sorted(by_probe[keys[outcome.index]], key=lambda r: r.received_at)
        faults = [r.fault for r in attempts]
        where = f"job {outcome.index}: outcome {outcome.label}, faults {faults}"
        # The outcome's count of attempts is what the server saw, no more, no less.
        assert len(attempts) == outcome.attempts, where
        # No call for a job reached the server after its outcome was delivered.
        assert all(r.received_at < arrived[outcome.index] for r in attempts), where
        # Every attempt but the last drew a fault: a success is never repeated.
        assert all(f is not None for f in faults[:-1]), where
        if outcome.ok:
            assert faults[-1] is None, where
            assert isinstance(outcome.result, CompareLivenessResult), where
        else:
            # Failed iff every attempt faulted and the whole budget was used.
            last = faults[-1]
            assert last is not None, where
            assert outcome.attempts == POLICY.max_attempts, where
            assert isinstance(outcome.error, ERROR_FOR_FAULT[last.kind]), where
            assert outcome.error.attempts == POLICY.max_attempts, where

    # Total requests == sum of attempts: nothing sent that no outcome accounts for.
    assert len(requests) == sum(o.attempts for o in outcomes)
    faulted = Counter(r.fault.kind.value for r in requests if r.fault is not None)
    assert set(faulted) == {kind.value for kind in ERROR_FOR_FAULT}
    return {
        "jobs": n,
        "requests": len(requests),
        "retries": len(requests) - n,
        "faults": sum(faulted.values()),
        "ok": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        **{f"fault:{kind}": count for kind, count in sorted(faulted.items())},
    }


async def test_soak_5000_jobs_with_mixed_faults(
    server: EmulatorServer, client: VerifikClient, png: Callable[..., bytes]
) -> None:
    """5,000 jobs at a 20% mixed fault rate: one outcome each, failed iff all attempts faulted."""
    probes = distinct_probes(png, 5000)
    server.set_fault_rate(0.2, FAULTS, seed=5)
    outcomes, arrived = await run_soak(client, server, probes, png(1, 5), concurrency=48)
    figures = check_against_log(outcomes, arrived, probes, server.requests)
    print("soak figures:", figures)
    # The mix really was mixed: retries happened, and some jobs ran out of budget.
    assert figures["retries"] > 500
    assert 0 < figures["failed"] < 200


async def test_ordered_soak_with_mixed_faults(
    server: EmulatorServer, client: VerifikClient, png: Callable[..., bytes]
) -> None:
    """600 jobs in ordered mode under 20% faults: delivered in input order, log-consistent."""
    probes = distinct_probes(png, 600)
    server.set_fault_rate(0.2, FAULTS, seed=11)
    outcomes, arrived = await run_soak(
        client, server, probes, png(1, 5), concurrency=32, ordered=True
    )
    assert [o.index for o in outcomes] == list(range(len(probes)))
    figures = check_against_log(outcomes, arrived, probes, server.requests)
    print("ordered soak figures:", figures)
    assert figures["retries"] > 60
