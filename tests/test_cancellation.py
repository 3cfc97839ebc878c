"""Cancelling the caller at any point leaves nothing behind and the client usable.

Batches run against a faulty emulator (so cancellation lands in requests,
backoffs and Retry-After pauses alike) and are cancelled after seeded random
delays. After each run: no client-side task is left, nothing warned, nothing
reached the event loop's exception handler, and the client still works.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import anyio
import pytest

from verifik_async import (
    BatchStream,
    CompareLivenessRequest,
    CompareLivenessResult,
    Image,
    RetryPolicy,
    VerifikClient,
)
from verifik_async.testing import EmulatorServer, Fault

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(backoff_initial=0.005, backoff_max=0.02)
FAULTS = (
    Fault.status(503),
    Fault.reset(),
    Fault.rate_limited(0.02),
    Fault.delay(0.05),
    Fault.truncated_json(),
)
RUNS = 30
# More jobs than any run gets through before its cancellation (at most 0.3 s in).
JOBS = 2000


# The emulator's side of a connection: aiohttp's request handlers and asyncio's accept.
SERVER_SIDE = ("/aiohttp/web_", "BaseSelectorEventLoop._accept_connection")


def client_side_tasks() -> set[asyncio.Task[Any]]:
    """Unfinished tasks other than this one and the emulator's server-side tasks."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and not any(marker in repr(task) for marker in SERVER_SIDE)
    }


@contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Collect what reaches the loop's exception handler (unclosed sessions, lost tasks...)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


class _RetrySignal(logging.Handler):
    """Sets an event on the client's INFO record, logged when it starts waiting to retry."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO:
            self.event.set()


@contextmanager
def retry_logged() -> Iterator[anyio.Event]:
    """An event set once the client logs that it will retry (it then waits, then retries)."""
    logger = logging.getLogger("verifik_async")
    signal = _RetrySignal()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(signal)
    try:
        yield signal.event
    finally:
        logger.removeHandler(signal)
        logger.setLevel(level)


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """An emulator with a little latency, so requests are in flight when cancelled."""
    async with EmulatorServer(record_bodies=False, latency=0.002) as emulator:
        yield emulator


def jobs(png: Callable[..., bytes], n: int) -> Iterator[tuple[int, CompareLivenessRequest]]:
    """``n`` jobs against one shared gallery image."""
    gallery = [Image.from_bytes(png(0))]
    for i in range(n):
        yield i, CompareLivenessRequest(png(i % 200 + 1), gallery)


async def check_usable(
    client: VerifikClient, server: EmulatorServer, png: Callable[..., bytes]
) -> None:
    """One call through ``client`` succeeds (faults paused meanwhile)."""
    server.set_fault_rate(0.0, [])
    result = await client.compare_with_liveness(png(250), [png(251)])
    assert isinstance(result, CompareLivenessResult)


async def test_cancelling_a_batch_at_random_points_leaves_nothing_behind(
    server: EmulatorServer, png: Callable[..., bytes]
) -> None:
    """30 batches cancelled after random delays: no task left, no warning, client usable."""
    rng = random.Random(20240605)
    cancelled_mid_batch = 0
    with warnings.catch_warnings(record=True) as caught, loop_errors() as errors:
        warnings.simplefilter("always")
        async with VerifikClient(
            token=server.token, base_url=server.base_url, retry=FAST
        ) as shared:
            await check_usable(shared, server, png)
            baseline = client_side_tasks()
            for run in range(RUNS):
                server.set_fault_rate(0.3, FAULTS, seed=run)
                fresh = run % 3 == 0  # a client created and closed inside the cancelled scope
                consumer_pause = rng.choice([0.0, 0.0, 0.002])
                delivered = 0
                results: BatchStream[CompareLivenessResult] | None = None
                with anyio.fail_after(30):  # a bound on behaviour: cancellation never hangs
                    with anyio.move_on_after(rng.uniform(0.0, 0.3)) as scope:
                        async with AsyncExitStack() as stack:
                            client = shared
                            if fresh:
                                client = await stack.enter_async_context(
                                    VerifikClient(
                                        token=server.token, base_url=server.base_url, retry=FAST
                                    )
                                )
                            stream = client.stream(
                                jobs(png, JOBS), concurrency=16, ordered=run % 2 == 1
                            )
                            results = await stack.enter_async_context(stream)
                            async for _ in results:
                                delivered += 1
                                await anyio.sleep(consumer_pause)
                if scope.cancelled_caught:
                    cancelled_mid_batch += 1
                    assert delivered < JOBS
                    # Unless cancelled before the stream was even entered.
                    assert results is None or results.summary.stopped_early
                if fresh:
                    assert client.closed
                left = client_side_tasks() - baseline
                assert not left, f"run {run}: tasks left running: {left}"
                await check_usable(shared, server, png)
                gc.collect()
                assert not caught, f"run {run}: {[str(w.message) for w in caught]}"
                assert not errors, f"run {run}: {errors}"
        gc.collect()
    assert not caught, [str(w.message) for w in caught]
    assert not errors
    # The random delays really landed mid-batch, not after it.
    assert cancelled_mid_batch >= RUNS * 2 // 3


@pytest.mark.parametrize(
    ("fault", "policy"),
    [
        pytest.param(
            Fault.status(503),
            RetryPolicy(max_attempts=5, backoff_initial=1.0, backoff_max=1.0, jitter=0),
            id="backoff-after-503",
        ),
        pytest.param(
            Fault.rate_limited(1.0),
            RetryPolicy(max_attempts=5, backoff_initial=0.001, backoff_max=0.001),
            id="retry-after-429",
        ),
    ],
)
async def test_cancelling_a_call_mid_backoff_sends_nothing_more(
    fault: Fault,
    policy: RetryPolicy,
    png: Callable[..., bytes],
) -> None:
    """A call cancelled while it waits to retry makes no further request; the client still works."""
    async with EmulatorServer() as server:
        server.inject(fault)
        async with VerifikClient(token=server.token, base_url=server.base_url, retry=policy) as c:
            baseline = client_side_tasks()
            with retry_logged() as retrying, anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(c.compare_with_liveness, png(1), [png(2)])
                    await retrying.wait()
                    tg.cancel_scope.cancel()
            assert tg.cancel_scope.cancelled_caught
            assert not client_side_tasks() - baseline
            # Outlast the wait the call was in: still only the one faulted request.
            await anyio.sleep(1.3)
            assert len(server.requests) == 1
            assert server.requests[0].fault == fault
            result = await c.compare_with_liveness(png(1), [png(2)])
            assert isinstance(result, CompareLivenessResult)
            assert len(server.requests) == 2


async def test_cancelling_a_call_mid_request_sends_nothing_more(
    server: EmulatorServer, png: Callable[..., bytes]
) -> None:
    """A call cancelled while its request is unanswered is not retried; the client still works."""
    server.inject(Fault.delay(5))
    async with VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client:
        baseline = client_side_tasks()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.compare_with_liveness, png(1), [png(2)])
                # The emulator's log has no event to wait on: poll it.
                while not server.requests:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
                tg.cancel_scope.cancel()
        assert not client_side_tasks() - baseline
        await anyio.sleep(0.2)
        assert len(server.requests) == 1
        result = await client.compare_with_liveness(png(1), [png(2)])
        assert isinstance(result, CompareLivenessResult)
        assert len(server.requests) == 2
