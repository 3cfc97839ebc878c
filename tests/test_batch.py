"""The batch runner through the public API, against the emulator on loopback."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from verifik_async import (
    CompareLivenessRequest,
    ConnectError,
    Image,
    ImageError,
    InputError,
    Job,
    Outcome,
    Progress,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VerifikClient,
)
from verifik_async.testing import EmulatorServer, Fault

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(backoff_initial=0.001, backoff_max=0.01)


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """An emulator that keeps no request bodies (batches are large)."""
    async with EmulatorServer(record_bodies=False) as emulator:
        yield emulator


@pytest.fixture
async def client(server: EmulatorServer) -> AsyncIterator[VerifikClient]:
    """A client bound to ``server`` with millisecond backoff."""
    async with VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as c:
        yield c


def _jobs(
    png, n: int, gallery: list[bytes] | None = None
) -> Iterator[tuple[int, CompareLivenessRequest]]:
    shared = [Image.from_bytes(g) for g in (gallery or [png(0)])]
    for i in range(n):
        yield i, CompareLivenessRequest(png(i % 97 + 1), shared)


async def _collect(stream) -> list[Outcome]:
    async with stream as results:
        return [outcome async for outcome in results]


async def test_one_outcome_per_job_under_mixed_faults(server, client, png) -> None:
    """3,000 jobs with 15% mixed faults end with exactly one outcome each, all succeeding."""
    server.set_fault_rate(
        0.15,
        [
            Fault.status(503),
            Fault.status(500),
            Fault.html_502(),
            Fault.reset(),
            Fault.rate_limited(0.01),
            Fault.malformed_json(),
            Fault.truncated_json(),
        ],
        seed=7,
    )
    outcomes = await _collect(client.stream(_jobs(png, 3000), concurrency=32))
    assert sorted(o.index for o in outcomes) == list(range(3000))
    assert sorted(o.key for o in outcomes) == list(range(3000))
    failed = [o for o in outcomes if not o.ok]
    # A job fails only when every one of its 5 attempts drew a fault.
    assert all(o.attempts == FAST.max_attempts for o in failed)
    assert len(failed) <= 3
    assert any(o.attempts > 1 for o in outcomes)
    retried = sum(o.attempts - 1 for o in outcomes)
    assert len(server.requests) == len(outcomes) + retried


async def test_errors_are_values_and_do_not_stop_the_batch(server, client, png, tmp_path) -> None:
    """A bad image, a missing file and a server error are outcomes; the other jobs succeed."""
    server.script(png(50), faults=[Fault.status(404)])
    jobs = [
        ("good-1", CompareLivenessRequest(png(1), [png(0)])),
        ("not-an-image", CompareLivenessRequest(b"just some text, not an image", [png(0)])),
        ("missing-file", CompareLivenessRequest(tmp_path / "nope.jpg", [png(0)])),
        ("not-found", CompareLivenessRequest(png(50), [png(0)])),
        Job.failed("known-bad", InputError("manifest line 3", "no probe column")),
        ("good-2", CompareLivenessRequest(png(2), [png(0)])),
    ]
    outcomes = {o.key: o for o in await _collect(client.stream(jobs, concurrency=4))}
    assert outcomes.keys() == {
        "good-1",
        "not-an-image",
        "missing-file",
        "not-found",
        "known-bad",
        "good-2",
    }
    assert outcomes["good-1"].ok and outcomes["good-2"].ok
    assert isinstance(outcomes["not-an-image"].error, ImageError)
    assert outcomes["not-an-image"].error.field == "probe"
    assert outcomes["not-an-image"].attempts == 0
    assert isinstance(outcomes["missing-file"].error, ImageError)
    assert outcomes["not-found"].error is not None and outcomes["not-found"].error.status == 404
    assert outcomes["known-bad"].error.field == "manifest line 3"
    # Only the three valid requests reached the server.
    assert len(server.requests) == 3


async def test_ordered_mode_keeps_input_order(server, client, png) -> None:
    """With ordered=True outcomes come in input order although early jobs finish last."""
    for seed in (1, 2, 3):
        server.script(png(seed), faults=[Fault.delay(0.3)])
    jobs = [(i, CompareLivenessRequest(png(i), [png(0)])) for i in range(1, 41)]
    outcomes = await _collect(client.stream(jobs, concurrency=8, ordered=True))
    assert [o.key for o in outcomes] == list(range(1, 41))


async def test_completion_order_by_default(server, client, png) -> None:
    """Without ordered, a slow first job does not hold back the others."""
    server.script(png(1), faults=[Fault.delay(0.5)])
    jobs = [(i, CompareLivenessRequest(png(i), [png(0)])) for i in range(1, 9)]
    outcomes = await _collect(client.stream(jobs, concurrency=8))
    assert outcomes[-1].key == 1
    assert sorted(o.key for o in outcomes) == list(range(1, 9))


async def test_slow_head_bounds_the_reorder_window(server, client, png) -> None:
    """In ordered mode a stuck first job lets at most reorder_window later jobs start."""
    server.script(png(1), faults=[Fault.delay(0.6)])
    started: list[int] = []

    def jobs() -> Iterator[tuple[int, CompareLivenessRequest]]:
        for i in range(1, 201):
            started.append(i)
            yield i, CompareLivenessRequest(png(i), [png(0)])

    async with client.stream(jobs(), concurrency=4, ordered=True, reorder_window=10) as results:
        first = await results.__anext__()
        pulled_before_head = len(started)
        rest = [o async for o in results]
    assert first.key == 1
    # The head was job 1: while it was stuck, at most the window (10) of jobs
    # was pulled, plus the one the feeder holds while it waits.
    assert pulled_before_head <= 10 + 2
    assert [o.key for o in rest] == list(range(2, 201))


async def test_input_is_pulled_lazily(server, client, png) -> None:
    """A job generator is never more than concurrency plus a small buffer ahead of the outcomes."""
    pulled = 0
    concurrency = 8
    max_ahead = 0

    def jobs() -> Iterator[CompareLivenessRequest]:
        nonlocal pulled
        for i in range(500):
            pulled += 1
            yield CompareLivenessRequest(png(i), [png(0)])

    consumed = 0
    async with client.stream(jobs(), concurrency=concurrency) as results:
        async for _ in results:
            consumed += 1
            max_ahead = max(max_ahead, pulled - consumed)
            await anyio.sleep(0)  # a slow consumer: the buffer fills up
    assert consumed == 500
    # in flight + the result buffer (= concurrency) + the one the feeder holds
    assert max_ahead <= 2 * concurrency + 1


async def test_async_iterable_input(server, client, png) -> None:
    """Jobs may come from an async generator."""

    async def jobs() -> AsyncIterator[Job]:
        for i in range(30):
            await anyio.sleep(0)
            yield Job(CompareLivenessRequest(png(i), [png(0)]), key=f"k{i}")

    outcomes = await _collect(client.stream(jobs(), concurrency=5))
    assert sorted(o.key for o in outcomes) == sorted(f"k{i}" for i in range(30))
    assert all(o.ok for o in outcomes)


def _running_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the client side still running (the emulator's own handlers excluded)."""
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and "/aiohttp/web_" not in repr(t)
    }


async def test_break_cancels_in_flight_calls(server, client, png) -> None:
    """Leaving the loop early cancels calls in flight at once and starts no new ones."""
    server.set_fault_rate(1.0, [Fault.delay(3.0)], seed=1)
    server.script(png(1), faults=[Fault.delay(0.01)])
    before = _running_tasks()
    jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(1, 1000)]
    started = time.monotonic()
    async with client.stream(jobs, concurrency=8) as results:
        async for outcome in results:
            break
    left = time.monotonic()
    assert outcome.index == 0
    # The 7 other calls were each held 3 s by the server: leaving did not wait for them.
    assert left - started < 2.5
    await anyio.sleep(0.2)
    assert all(r.received_at < left for r in server.requests)
    assert len(server.requests) <= 8 + 1
    assert _running_tasks() <= before
    assert results.summary.stopped_early


async def test_caller_cancellation_leaves_nothing_running(server, client, png) -> None:
    """Cancelling the task that reads the stream cancels every call and task it started."""
    server.set_fault_rate(1.0, [Fault.delay(3.0)], seed=1)
    before = _running_tasks()
    jobs = (CompareLivenessRequest(png(i), [png(0)]) for i in range(10_000))
    with anyio.move_on_after(0.3) as scope:
        async with client.stream(jobs, concurrency=16) as results:
            async for _ in results:
                pytest.fail("no job can finish within the deadline")
    assert scope.cancelled_caught
    assert _running_tasks() <= before
    # the client is still usable afterwards
    server.set_fault_rate(0.0, [])
    result = await client.compare_with_liveness(png(1), [png(1)])
    assert result.score == 1.0


async def test_exception_in_the_loop_body_propagates_and_cleans_up(server, client, png) -> None:
    """An exception raised by the caller's loop body comes out unchanged, with no task left."""
    before = _running_tasks()
    jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(100)]
    with pytest.raises(KeyError, match="boom"):
        async with client.stream(jobs, concurrency=4) as results:
            async for _ in results:
                raise KeyError("boom")
    assert _running_tasks() <= before


async def test_failing_job_iterator_delivers_finished_work_then_raises(server, client, png) -> None:
    """When the job generator itself raises, outcomes already started arrive, then the error."""

    def jobs() -> Iterator[CompareLivenessRequest]:
        for i in range(5):
            yield CompareLivenessRequest(png(i), [png(0)])
        raise OSError("manifest disk went away")

    seen: list[int] = []
    with pytest.raises(OSError, match="went away"):
        async with client.stream(jobs(), concurrency=2) as results:
            async for outcome in results:
                seen.append(outcome.index)
    assert sorted(seen) == [0, 1, 2, 3, 4]


async def test_fail_fast_stops_after_the_first_error(server, client, png) -> None:
    """With fail_fast the stream ends after the first failure; the caller sees that failure."""
    server.script(png(5), faults=[Fault.status(404)])
    jobs = [(i, CompareLivenessRequest(png(i), [png(0)])) for i in range(1, 500)]
    outcomes = await _collect(client.stream(jobs, concurrency=2, fail_fast=True))
    failed = [o for o in outcomes if not o.ok]
    assert [o.key for o in failed] == [5]
    assert len(outcomes) < 50
    assert len(server.requests) < 50


async def test_retry_after_pauses_every_worker(server, client, png) -> None:
    """One 429 with Retry-After holds back all new calls of the runner, not just its own."""
    server.inject(Fault.rate_limited(0.5))
    jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(40)]
    outcomes = await _collect(client.stream(jobs, concurrency=8))
    assert all(o.ok for o in outcomes)
    limited = next(r for r in server.requests if r.status == 429)
    later = [r for r in server.requests if r.received_at > limited.received_at]
    # Calls already in flight when the 429 came back (at most concurrency - 1) may
    # land during the pause; every call started after it waits the pause out.
    during = [r for r in later if r.received_at < limited.received_at + 0.45]
    assert len(during) <= 7
    assert len(later) >= 32


async def test_rate_limit_spaces_calls(server, client, png) -> None:
    """rate=50 with burst=1: consecutive calls are at least about 1/50 s apart."""
    jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(25)]
    outcomes = await _collect(client.stream(jobs, concurrency=16, rate=50, burst=1))
    assert len(outcomes) == 25
    times = sorted(r.received_at for r in server.requests)
    # The limiter can only slow calls down, so a lower bound is robust on a busy machine.
    assert times[-1] - times[0] >= 24 / 50 * 0.9


async def test_progress_and_summary(server, client, png) -> None:
    """The progress hook sees every outcome; the summary counts them by verdict and error."""
    server.script(png(1), score=0.99, liveness=0.95)
    server.script(png(2), score=0.40)
    server.script(png(3), score=0.99, liveness=0.10)
    server.script(png(4), faults=[Fault.status(404)])
    seen: list[Progress] = []
    jobs = [CompareLivenessRequest(png(i), [png(0)], compare_min_score=0.8) for i in (1, 2, 3, 4)]
    async with client.stream(jobs, concurrency=2, progress=seen.append) as results:
        outcomes = [o async for o in results]
    summary = results.summary
    assert len(outcomes) == 4
    assert [p.done for p in seen] == [1, 2, 3, 4]
    assert seen[-1].failed == 1 and seen[-1].total == 4 and seen[-1].in_flight == 0
    assert summary.total == 4 and summary.succeeded == 3 and summary.failed == 1
    assert summary.counts == {
        "verified": 1,
        "not_matched": 1,
        "not_live": 1,
        "error:NotFoundError": 1,
    }
    assert 0 < summary.latency_p50 <= summary.latency_p95 <= summary.latency_max
    assert summary.throughput > 0
    assert "verified" in summary.table()


async def test_stream_probes_encodes_the_gallery_once(server, client, png) -> None:
    """stream_probes shares one gallery across all probes; keys from a mapping come back."""
    gallery = Image.from_bytes(png(0))
    probes = {f"user-{i}": png(i) for i in range(20)}
    outcomes = await _collect(client.stream_probes(probes, [gallery], concurrency=4))
    assert sorted(o.key for o in outcomes) == sorted(probes)
    assert all(o.ok for o in outcomes)
    bodies_gallery = {id(gallery.base64)}
    assert len(bodies_gallery) == 1


async def test_stream_probes_bad_options_fail_before_any_call(server, client, png) -> None:
    """A bad request option raises at once, naming the field, with no request made."""
    with pytest.raises(InputError) as info:
        client.stream_probes([png(1)], [png(0)], compare_min_score=2)
    assert info.value.field == "compare_min_score"
    assert server.requests == []


async def test_stream_pairs_with_keys_and_a_bad_pair(server, client, png) -> None:
    """stream_pairs takes (key, probe, gallery) triples; a malformed pair is an error outcome."""
    shared = [png(0)]
    pairs = [("a", png(1), shared), ("b", png(0), shared), "not a tuple", ("c", png(2), shared)]
    outcomes = {o.index: o for o in await _collect(client.stream_pairs(pairs, concurrency=2))}
    assert outcomes[1].key == "b" and outcomes[1].result.score == 1.0
    assert isinstance(outcomes[2].error, InputError) and outcomes[2].error.field == "pairs[2]"
    assert outcomes[0].ok and outcomes[3].ok


async def test_unreachable_server_gives_error_outcomes(png) -> None:
    """With the server gone every job ends as a ConnectError outcome after its retries."""
    async with EmulatorServer() as server:
        base_url, token = server.base_url, server.token
    async with VerifikClient(token=token, base_url=base_url, retry=FAST) as client:
        outcomes = await _collect(
            client.stream(
                [CompareLivenessRequest(png(i), [png(0)]) for i in range(6)], concurrency=3
            )
        )
    assert len(outcomes) == 6
    assert all(isinstance(o.error, ConnectError) for o in outcomes)
    assert all(o.attempts == FAST.max_attempts for o in outcomes)


async def test_stream_options_are_checked(client) -> None:
    """concurrency, rate and burst out of range raise InputError naming them."""
    for options, field in (
        ({"concurrency": 0}, "concurrency"),
        ({"rate": -1}, "rate"),
        ({"rate": 5, "burst": 0}, "burst"),
        ({"reorder_window": 0}, "reorder_window"),
    ):
        with pytest.raises(InputError) as info:
            client.stream([], **options)
        assert info.value.field == field


async def test_empty_input_ends_at_once(client) -> None:
    """An empty job list gives no outcomes and a zero summary."""
    outcomes = await _collect(client.stream([], concurrency=4))
    assert outcomes == []


async def test_server_errors_keep_their_attempts(server, client, png) -> None:
    """A job that exhausts its retries reports every attempt it made."""
    server.script(png(9), faults=[Fault.status(503)] * 10)
    outcomes = await _collect(client.stream([CompareLivenessRequest(png(9), [png(0)])]))
    assert isinstance(outcomes[0].error, ServerError)
    assert outcomes[0].attempts == FAST.max_attempts
    gc.collect()


async def test_ordered_fail_fast_delivers_the_jobs_before_the_failure_and_the_failure(
    server, client, png
) -> None:
    """Ordered fail-fast: a slow head still arrives, then the failure, then the stream ends."""
    server.script(png(1), faults=[Fault.delay(0.4)])
    server.script(png(2), faults=[Fault.status(404)])
    jobs = [(i, CompareLivenessRequest(png(i), [png(0)])) for i in range(1, 200)]
    outcomes = await _collect(client.stream(jobs, concurrency=2, ordered=True, fail_fast=True))
    assert [o.key for o in outcomes] == [1, 2]
    assert outcomes[0].ok
    assert outcomes[1].error is not None and outcomes[1].error.status == 404


async def test_a_429_pauses_the_client_even_when_that_call_gives_up(server, png) -> None:
    """With no retries, a 429's Retry-After still holds back the client's next calls."""
    async with VerifikClient(
        token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
    ) as client:
        server.inject(Fault.rate_limited(0.4))
        with pytest.raises(RateLimitError):
            await client.compare_with_liveness(png(1), [png(0)])
        await client.compare_with_liveness(png(2), [png(0)])
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.35


async def test_a_failing_progress_callback_loses_nothing(server, client, png, caplog) -> None:
    """A progress hook that raises is logged; every outcome is still delivered."""

    def progress(p: Progress) -> None:
        if p.done == 3:
            raise ZeroDivisionError("display broke")

    jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(10)]
    outcomes = await _collect(client.stream(jobs, concurrency=2, progress=progress))
    assert sorted(o.index for o in outcomes) == list(range(10))
    assert any("progress callback failed" in r.getMessage() for r in caplog.records)


async def test_stream_renews_a_token_close_to_expiry_before_the_batch(png) -> None:
    """renew_token_within renews a soon-expiring token first; every call then uses the new one."""
    from verifik_async.testing import make_jwt

    async with EmulatorServer(token=make_jwt(time.time() + 600)) as server:
        old = server.token
        async with VerifikClient(token=old, base_url=server.base_url, retry=FAST) as client:
            jobs = [CompareLivenessRequest(png(i), [png(0)]) for i in range(5)]
            outcomes = await _collect(client.stream(jobs, renew_token_within=3600))
            assert client.config.token != old
        assert all(o.ok for o in outcomes)
        first, *calls = server.requests
        assert first.method == "GET" and "auth/session" in first.path
        assert len(calls) == 5
        assert all(r.headers["Authorization"] == f"Bearer {client.config.token}" for r in calls)


async def test_stream_leaves_a_fresh_token_alone(server, client, png) -> None:
    """A token far from expiry is not renewed: no extra request."""
    jobs = [CompareLivenessRequest(png(1), [png(0)])]
    await _collect(client.stream(jobs, renew_token_within=60))
    assert [r.method for r in server.requests] == ["POST"]


async def test_fail_fast_loses_no_finished_outcome(server, client, png) -> None:
    """Unordered fail-fast: outcomes that finished behind the failure are delivered, not dropped."""
    server.script(png(5), faults=[Fault.status(404)])
    for later in (6, 7, 8):
        server.script(png(later), faults=[Fault.delay(0.05)])
    jobs = [(i, CompareLivenessRequest(png(i), [png(0)])) for i in range(1, 100)]
    async with client.stream(jobs, concurrency=4, fail_fast=True) as results:
        # A reader that is late: four outcomes fill the buffer, the next four
        # (the failure first) finish and wait to be handed over.
        await anyio.sleep(0.4)
        delivered = []
        async for outcome in results:
            delivered.append(outcome)
            await anyio.sleep(0.01)
    assert 5 in [o.key for o in delivered if not o.ok]
    assert sorted(o.key for o in delivered) == list(range(1, 9))
    assert results.summary.total == len(delivered)
