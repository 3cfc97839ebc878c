"""Retries, counted in the emulator's request log: what is retried, how long, how often."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import pytest

from verifik_async import (
    APIError,
    ConnectError,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    RetryPolicy,
    ServerError,
    VerifikClient,
)
from verifik_async._retry import backoff_delay
from verifik_async.testing import EmulatorServer, Fault

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05)


def gaps(server: EmulatorServer) -> list[float]:
    """Seconds between the arrivals of consecutive recorded requests."""
    times = [r.received_at for r in server.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def wait_for_requests(server: EmulatorServer, count: int) -> None:
    """Wait (at most 5 s) until the emulator has seen ``count`` requests."""
    with anyio.fail_after(5):
        while len(server.requests) < count:  # noqa: ASYNC110 - the log has no event to wait on
            await anyio.sleep(0.01)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(429),
        Fault.status(500),
        Fault.status(502),
        Fault.status(503),
        Fault.status(504),
        Fault.html_502(),
        Fault.reset(),
        Fault.malformed_json(),
        Fault.truncated_json(),
    ],
    ids=lambda f: f.kind.value + (f"-{f.http_status}" if f.http_status else ""),
)
async def test_one_failure_then_success(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png, fault: Fault
) -> None:
    """A retryable failure followed by a good answer succeeds on attempt 2."""
    verifik_emulator.inject(fault)
    result = await verifik_client.compare_with_liveness(png(1), [png(1)])
    assert result.score == 1.0
    assert result.attempts == 2
    assert len(verifik_emulator.requests) == 2
    assert verifik_emulator.requests[0].fault == fault
    assert verifik_emulator.requests[1].status == 200


async def test_several_failures_then_success(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """Mixed failures (503, reset, 429, malformed) are retried until a success on attempt 5."""
    verifik_emulator.inject(
        Fault.status(503), Fault.reset(), Fault.status(429), Fault.malformed_json()
    )
    result = await verifik_client.compare_with_liveness(png(1), [png(2)])
    assert result.attempts == 5
    assert [r.status for r in verifik_emulator.requests] == [503, None, 429, 200, 200]


async def test_timeout_then_success(png: Png) -> None:
    """An attempt that times out (emulator delay) is retried and the retry succeeds."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.delay(5))
        result = await client.compare_with_liveness(png(1), [png(2)], timeout=0.3)
    assert result.attempts == 2
    assert len(server.requests) == 2
    assert server.requests[0].status is None
    assert server.requests[1].status == 200


async def test_every_attempt_times_out(png: Png) -> None:
    """When every attempt times out the RequestTimeoutError reports all the attempts."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.delay(5), Fault.delay(5), Fault.delay(5))
        with pytest.raises(RequestTimeoutError) as caught:
            await client.compare_with_liveness(png(1), [png(2)], timeout=0.2)
    assert caught.value.attempts == 3
    assert isinstance(caught.value, TimeoutError)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(429), RateLimitError),
        (Fault.status(500), ServerError),
        (Fault.status(502), ServerError),
        (Fault.status(503), ServerError),
        (Fault.status(504), ServerError),
        (Fault.reset(), ConnectError),
        (Fault.malformed_json(), ResponseError),
        (Fault.truncated_json(), ResponseError),
    ],
    ids=lambda v: v.kind.value + str(v.http_status or "") if isinstance(v, Fault) else "",
)
async def test_retry_budget_exhausted(
    verifik_emulator: EmulatorServer,
    png: Png,
    fault: Fault,
    error: type[Exception],
) -> None:
    """After max_attempts failures the last error is raised with attempts == max_attempts."""
    policy = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.02)
    verifik_emulator.set_fault_rate(1.0, [fault])
    async with VerifikClient(
        token=verifik_emulator.token, base_url=verifik_emulator.base_url, retry=policy
    ) as client:
        with pytest.raises(error) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert getattr(caught.value, "attempts", None) == 4
    assert len(verifik_emulator.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 418, 422])
async def test_other_4xx_is_never_retried(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png, status: int
) -> None:
    """A 4xx other than 429 is raised at once: one request, attempts == 1."""
    verifik_emulator.inject(Fault.status(status))
    with pytest.raises(APIError) as caught:
        await verifik_client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.status == status
    assert caught.value.attempts == 1
    assert len(verifik_emulator.requests) == 1


async def test_retry_after_seconds_is_honoured(png: Png) -> None:
    """After a 429 with Retry-After: 1 the retry comes at least a second later."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.rate_limited(1))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert result.attempts == 2
    [gap] = gaps(server)
    assert 0.95 <= gap < 10


async def test_retry_after_on_503_is_honoured(png: Png) -> None:
    """A 503 with Retry-After waits for it too, instead of the millisecond backoff."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.status(503, retry_after="1"))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert result.attempts == 2
    [gap] = gaps(server)
    assert 0.95 <= gap < 10


async def test_retry_after_http_date_is_honoured(png: Png) -> None:
    """Retry-After as an HTTP date two seconds ahead delays the retry by over a second."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        when = datetime.now(UTC) + timedelta(seconds=2)
        server.inject(Fault.rate_limited(format_datetime(when, usegmt=True)))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert result.attempts == 2
    [gap] = gaps(server)
    assert 0.9 <= gap < 10


async def test_retry_after_over_the_cap_is_not_waited_for(png: Png) -> None:
    """A Retry-After above max_retry_after raises RateLimitError at once, with retry_after."""
    policy = RetryPolicy(max_attempts=5, backoff_initial=0.01, max_retry_after=2)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=policy) as client,
    ):
        server.inject(Fault.rate_limited(3600))
        with anyio.fail_after(10):
            with pytest.raises(RateLimitError) as caught:
                await client.compare_with_liveness(png(1), [png(2)])
            # The refused wait does not hold back the client's next call either.
            result = await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.retry_after == 3600
    assert caught.value.attempts == 1
    assert result.attempts == 1
    assert len(server.requests) == 2


async def test_never_policy_makes_one_attempt(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """RetryPolicy.never() gives up after the first retryable failure."""
    verifik_emulator.inject(Fault.status(503))
    with pytest.raises(ServerError) as caught:
        await verifik_client.compare_with_liveness(png(1), [png(2)], retry=RetryPolicy.never())
    assert caught.value.attempts == 1
    assert len(verifik_emulator.requests) == 1
    assert RetryPolicy.never().max_attempts == 1


async def test_retry_statuses_and_switches_are_respected(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """Statuses left out of retry_statuses, and switched-off kinds, are not retried."""
    only_503 = RetryPolicy(retry_statuses={503}, backoff_initial=0.01)
    verifik_emulator.inject(Fault.status(500))
    with pytest.raises(ServerError):
        await verifik_client.compare_with_liveness(png(1), [png(2)], retry=only_503)
    assert len(verifik_emulator.requests) == 1

    no_conn = RetryPolicy(retry_on_connection_error=False, backoff_initial=0.01)
    verifik_emulator.inject(Fault.reset())
    with pytest.raises(ConnectError):
        await verifik_client.compare_with_liveness(png(1), [png(2)], retry=no_conn)
    assert len(verifik_emulator.requests) == 2

    no_garble = RetryPolicy(retry_on_malformed_response=False, backoff_initial=0.01)
    verifik_emulator.inject(Fault.malformed_json())
    with pytest.raises(ResponseError):
        await verifik_client.compare_with_liveness(png(1), [png(2)], retry=no_garble)
    assert len(verifik_emulator.requests) == 3

    no_timeout = RetryPolicy(retry_on_timeout=False, backoff_initial=0.01)
    verifik_emulator.inject(Fault.delay(5))
    with pytest.raises(RequestTimeoutError):
        await verifik_client.compare_with_liveness(png(1), [png(2)], retry=no_timeout, timeout=0.2)
    assert len(verifik_emulator.requests) == 4


async def test_cancelled_call_is_not_retried(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """Cancelling a call while the emulator delays leaves exactly one request recorded."""
    verifik_emulator.inject(Fault.delay(10))
    async with anyio.create_task_group() as tg:
        tg.start_soon(verifik_client.compare_with_liveness, png(1), [png(2)])
        await wait_for_requests(verifik_emulator, 1)
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    await anyio.sleep(0.3)
    assert len(verifik_emulator.requests) == 1
    assert verifik_emulator.requests[0].status is None


async def test_call_cancelled_during_backoff_is_not_retried(png: Png) -> None:
    """Cancelling a call while it waits to retry stops it: no second request."""
    slow = RetryPolicy(backoff_initial=5, backoff_max=5, jitter=0)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=slow) as client,
    ):
        server.inject(Fault.status(503))
        with anyio.move_on_after(0.5) as scope:
            await client.compare_with_liveness(png(1), [png(2)])
        assert scope.cancelled_caught
        await anyio.sleep(0.2)
    assert [r.status for r in server.requests] == [503]


async def test_backoff_grows_between_attempts(png: Png) -> None:
    """With no jitter, the waits between attempts grow (0.1 s, then 0.2 s, then 0.4 s)."""
    policy = RetryPolicy(max_attempts=4, backoff_initial=0.1, backoff_max=5, jitter=0)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=policy) as client,
    ):
        server.inject(Fault.status(503), Fault.status(503), Fault.status(503))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert result.attempts == 4
    measured = gaps(server)
    for gap, minimum in zip(measured, [0.1, 0.2, 0.4], strict=True):
        assert gap >= minimum * 0.9
        assert gap < minimum + 5


# -- backoff_delay: pure ------------------------------------------------------------


def zero() -> float:
    """A pinned random draw of 0 (no jitter taken off)."""
    return 0.0


def half() -> float:
    """A pinned random draw of 0.5."""
    return 0.5


def test_backoff_is_exponential_without_jitter() -> None:
    """With rand() == 0 the delay doubles from backoff_initial."""
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=100, backoff_multiplier=2)
    assert [backoff_delay(policy, n, rand=zero) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped() -> None:
    """The delay never exceeds backoff_max."""
    policy = RetryPolicy(backoff_initial=1, backoff_max=3)
    assert backoff_delay(policy, 10, rand=zero) == 3
    assert backoff_delay(policy, 1000, rand=zero) == 3


def test_jitter_scales_the_delay_down() -> None:
    """Full jitter takes rand() of the delay off; partial jitter only that fraction of it."""
    full = RetryPolicy(backoff_initial=1, jitter=1.0)
    assert backoff_delay(full, 1, rand=half) == 0.5
    partial = RetryPolicy(backoff_initial=1, jitter=0.2)
    assert backoff_delay(partial, 1, rand=half) == pytest.approx(0.9)
    none = RetryPolicy(backoff_initial=1, jitter=0)
    assert backoff_delay(none, 1, rand=half) == 1.0


def test_jitter_stays_in_bounds_with_the_real_random() -> None:
    """With the default random draw the delay is within [0, cap]."""
    policy = RetryPolicy(backoff_initial=1, backoff_max=2)
    for attempt in range(1, 10):
        delay = backoff_delay(policy, attempt)
        assert delay is not None
        assert 0 <= delay <= 2


def test_retry_after_replaces_a_shorter_backoff() -> None:
    """A Retry-After longer than the backoff wins; a shorter one does not shorten it."""
    policy = RetryPolicy(backoff_initial=1, jitter=0)
    assert backoff_delay(policy, 1, 7.0, rand=zero) == 7.0
    assert backoff_delay(policy, 3, 0.5, rand=zero) == 4.0


def test_retry_after_over_the_cap_means_do_not_retry() -> None:
    """A Retry-After above max_retry_after gives None; at the cap it is honoured."""
    policy = RetryPolicy(max_retry_after=30)
    assert backoff_delay(policy, 1, 31, rand=zero) is None
    assert backoff_delay(policy, 1, 30, rand=zero) == 30


def test_zero_backoff() -> None:
    """backoff_initial 0 retries at once (unless Retry-After says otherwise)."""
    policy = RetryPolicy(backoff_initial=0)
    assert backoff_delay(policy, 5, rand=zero) == 0
    assert backoff_delay(policy, 5, 2, rand=zero) == 2


async def test_large_body_is_resent_whole_on_retry(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient
) -> None:
    """A body over 1 MiB is sent whole on every attempt, not consumed by the first one."""
    big = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 6000  # ~1.5 MB, ~2 MB of base64
    verifik_emulator.inject(Fault.status(503), Fault.reset())
    result = await verifik_client.compare_with_liveness(big, [big])
    assert result.attempts == 3
    assert result.score == 1.0
    bodies = [r.body for r in verifik_emulator.requests]
    assert bodies[0] is not None
    assert len(bodies[0]) > 2**20
    assert bodies[0] == bodies[1] == bodies[2]
