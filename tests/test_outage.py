"""A server that goes away, comes back, or never answers: calls retry or fail as configured.

Each test is wrapped in ``anyio.fail_after`` with a generous bound: the point
is that nothing hangs past its configured timeouts, not how fast it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

import anyio
import pytest

from verifik_async import (
    BatchStream,
    CompareLivenessRequest,
    CompareLivenessResult,
    ConnectError,
    Image,
    Outcome,
    RequestTimeoutError,
    RetryPolicy,
    VerifikClient,
)
from verifik_async.testing import EmulatorServer, Fault, probe_key

pytestmark = pytest.mark.anyio

# About ten seconds of retrying: outlasts a shutdown (up to 1 s) plus a short outage.
PATIENT = RetryPolicy(max_attempts=100, backoff_initial=0.02, backoff_max=0.1, jitter=0)
# Two quick attempts: a job caught by the outage gives up within milliseconds.
IMPATIENT = RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.001)
QUICK = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.005)


def jobs(png: Callable[..., bytes], n: int) -> list[tuple[int, CompareLivenessRequest]]:
    """``n`` jobs with distinct probes against one shared gallery image."""
    gallery = [Image.from_bytes(png(1, 5))]
    return [(i, CompareLivenessRequest(png(i % 256, 8 + i // 256), gallery)) for i in range(n)]


async def wait_for_requests(server: EmulatorServer, count: int) -> None:
    """Return once ``server`` has seen ``count`` requests."""
    # The emulator's log has no event to wait on: poll it.
    while len(server.requests) < count:  # noqa: ASYNC110
        await anyio.sleep(0.002)


async def wait_until_settled(server: EmulatorServer) -> None:
    """Return once the server has finished with every request it saw (bounded by the caller)."""
    while any(r.answered_at is None for r in server.requests):  # noqa: ASYNC110
        await anyio.sleep(0.002)


async def collect(
    stream: BatchStream[CompareLivenessResult],
) -> list[Outcome[CompareLivenessResult]]:
    """Every outcome of a BatchStream."""
    async with stream as results:
        return [outcome async for outcome in results]


async def test_batch_completes_across_a_server_restart(png: Callable[..., bytes]) -> None:
    """The server shuts down mid-batch and comes back on its port: every job ends ok."""
    n = 300
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(EmulatorServer(record_bodies=False, latency=0.005))
        port, token, base_url = first.port, first.token, first.base_url
        second = EmulatorServer(port=port, token=token, record_bodies=False)
        client = await stack.enter_async_context(
            VerifikClient(token=token, base_url=base_url, retry=PATIENT)
        )

        async def outage() -> None:
            await wait_for_requests(first, n // 3)
            await first.close()
            await anyio.sleep(0.5)
            await second.start()
            stack.push_async_callback(second.close)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(outage)
                outcomes = await collect(client.stream(jobs(png, n), concurrency=16))

    assert sorted(o.index for o in outcomes) == list(range(n))
    failures = [(o.index, o.error) for o in outcomes if not o.ok]
    assert failures == []
    # The outage really hit jobs in flight: some needed more than one attempt,
    # and the restarted server answered jobs the first one never finished.
    assert any(o.attempts > 1 for o in outcomes)
    answered_by_second = {r.probe_key for r in second.requests if r.status == 200}
    assert len(answered_by_second) > n // 3
    answered_by_first = {r.probe_key for r in first.requests if r.status == 200}
    # Between them, the two servers answered every job's probe.
    keys = {probe_key(png(i % 256, 8 + i // 256)) for i in range(n)}
    assert answered_by_first | answered_by_second == keys


async def test_outage_fails_jobs_as_connect_errors_with_a_short_policy(
    png: Callable[..., bytes],
) -> None:
    """With two quick attempts, jobs caught by an outage fail with ConnectError, as values."""
    n = 200
    async with (
        EmulatorServer(record_bodies=False, latency=0.005) as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=IMPATIENT) as client,
    ):

        async def outage() -> None:
            await wait_for_requests(server, n // 4)
            await server.close()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(outage)
                outcomes = await collect(client.stream(jobs(png, n), concurrency=8))

    assert sorted(o.index for o in outcomes) == list(range(n))
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    assert ok
    assert failed
    # The only failure is the outage, after the whole (short) budget.
    assert all(isinstance(o.error, ConnectError) for o in failed), {
        type(o.error).__name__ for o in failed
    }
    assert all(o.attempts == IMPATIENT.max_attempts for o in failed)
    # A job is ok only if the server answered its probe; a job the server never
    # saw (started after the shutdown) failed rather than waited.
    answered = {r.probe_key for r in server.requests if r.status == 200}
    seen = {r.probe_key for r in server.requests}
    keys = [probe_key(png(i % 256, 8 + i // 256)) for i in range(n)]
    assert all(keys[o.index] in answered for o in ok)
    assert all(not o.ok for o in outcomes if keys[o.index] not in seen)
    assert len(seen) < n


async def test_server_that_never_answers_times_out_after_every_attempt(
    png: Callable[..., bytes],
) -> None:
    """Every request held forever: RequestTimeoutError after exactly max_attempts attempts."""
    async with EmulatorServer() as server:
        server.set_fault_rate(1.0, [Fault.delay(60)])
        async with VerifikClient(token=server.token, base_url=server.base_url) as client:
            with anyio.fail_after(15), pytest.raises(RequestTimeoutError) as caught:
                await client.compare_with_liveness(png(1), [png(2)], timeout=0.3, retry=QUICK)
            assert caught.value.attempts == QUICK.max_attempts
            # The server notices the last disconnection a moment after the client gives up.
            with anyio.fail_after(5):
                await wait_until_settled(server)
            assert len(server.requests) == QUICK.max_attempts
            assert all(r.fault == Fault.delay(60) for r in server.requests)
            # Every attempt was given up by the client, not answered by the server.
            assert all(r.status is None for r in server.requests)


async def test_batch_against_a_server_that_never_answers_ends_with_timeouts(
    png: Callable[..., bytes],
) -> None:
    """A batch against a silent server ends, every job a RequestTimeoutError after its attempts."""
    n = 20
    async with EmulatorServer(record_bodies=False) as server:
        server.set_fault_rate(1.0, [Fault.delay(60)])
        async with VerifikClient(token=server.token, base_url=server.base_url) as client:
            with anyio.fail_after(20):
                outcomes = await collect(
                    client.stream(jobs(png, n), concurrency=n, timeout=0.3, retry=QUICK)
                )
            assert len(server.requests) == n * QUICK.max_attempts
    assert sorted(o.index for o in outcomes) == list(range(n))
    assert all(isinstance(o.error, RequestTimeoutError) for o in outcomes)
    assert all(o.attempts == QUICK.max_attempts for o in outcomes)


async def test_socket_that_accepts_but_never_speaks_times_out(
    png: Callable[..., bytes],
) -> None:
    """A raw listener that never reads nor answers: RequestTimeoutError, no hang."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with VerifikClient(
            token="not-a-real-token", base_url=f"http://127.0.0.1:{port}/v2/", retry=QUICK
        ) as client:
            with anyio.fail_after(15), pytest.raises(RequestTimeoutError) as caught:
                await client.compare_with_liveness(png(1), [png(2)], timeout=0.3)
    assert caught.value.attempts == QUICK.max_attempts


async def test_port_with_no_listener_fails_fast_with_connect_error(
    png: Callable[..., bytes],
) -> None:
    """A server that is gone entirely: ConnectError after the configured attempts."""
    async with EmulatorServer() as server:
        base_url, token = server.base_url, server.token
    async with VerifikClient(token=token, base_url=base_url, retry=QUICK) as client:
        with anyio.fail_after(15), pytest.raises(ConnectError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.attempts == QUICK.max_attempts
