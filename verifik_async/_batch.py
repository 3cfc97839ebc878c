"""The batch runner: many calls, bounded concurrency and memory, one outcome per job."""

from __future__ import annotations

import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeAlias, TypeVar

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._checks import whole_number
from ._errors import ClientStateError, InputError, VerifikError
from ._images import Image
from ._models import CompareLivenessRequest, coerce_gallery
from ._stats import BatchSummary, LatencyHistogram, Progress

if TYPE_CHECKING:
    from ._client import VerifikClient

__all__ = [
    "BatchStream",
    "Job",
    "JobsInput",
    "Outcome",
    "RateLimiter",
    "UnexpectedError",
    "len_or_none",
    "pair_jobs",
    "probe_jobs",
]

logger = logging.getLogger("verifik_async")

R = TypeVar("R")

DEFAULT_CONCURRENCY = 16
_GALLERY_CACHE = 64


class UnexpectedError(VerifikError):
    """A job failed with an exception that is not a VerifikError; ``__cause__`` holds it."""


@attrs.frozen
class Job:
    """One unit of batch work: a request and the caller's key for it.

    ``Job.failed(key, error)`` is a job known bad before any call (a manifest
    row that could not be read, say): it yields its error as its outcome.
    """

    request: Any
    key: Any = None
    error: VerifikError | None = None

    @classmethod
    def failed(cls, key: Any, error: VerifikError) -> Job:
        """A job whose outcome is ``error``, without any call."""
        return cls(None, key, error)


@attrs.frozen
class Outcome(Generic[R]):
    """What became of one job: its result or its error, never both.

    ``index`` is the job's 0-based position in the input, ``key`` the key it
    was given (or None), ``attempts`` the HTTP attempts made, ``elapsed`` the
    seconds from its start to its end.
    """

    index: int
    key: Any
    result: R | None
    error: VerifikError | None
    attempts: int
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when the job produced a result."""
        return self.error is None

    @property
    def label(self) -> str:
        """The summary's name for this outcome: a verdict, ``ok`` or ``error:<code>``."""
        if self.error is not None:
            return f"error:{self.error.code}"
        verdict = getattr(self.result, "verdict", None)
        return str(verdict) if verdict is not None else "ok"


JobsInput: TypeAlias = Iterable[Any] | AsyncIterable[Any]


class RateLimiter:
    """At most ``rate`` starts a second on average, at most ``burst`` at once (GCRA)."""

    __slots__ = ("_burst", "_interval", "_next")

    def __init__(self, rate: float, burst: int = 1) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise InputError("rate", f"must be a number of calls per second > 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise InputError("burst", f"must be a whole number >= 1, got {burst!r}")
        self._interval = 1.0 / rate
        self._burst = burst
        self._next = 0.0  # the theoretical arrival time of the next call

    async def acquire(self) -> None:
        """Wait until one more call may start."""
        now = anyio.current_time()
        self._next = max(self._next, now) + self._interval
        wait = self._next - self._burst * self._interval - now
        if wait > 0:
            await anyio.sleep(wait)


def _as_job(item: Any) -> Job:
    if isinstance(item, Job):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Job(item[1], item[0])
    return Job(item)


class BatchStream(Generic[R]):
    """Results of many calls as they complete; use ``async with client.stream(jobs) as results``.

    ``jobs`` is any iterable or async iterable of requests, ``Job`` objects
    or ``(key, request)`` pairs. It is pulled lazily: at most about
    ``concurrency`` jobs plus a small buffer are held at once, so a job list
    of any length runs in flat memory. Every job gets exactly one
    :class:`Outcome`, with errors as values.

    Args:
        concurrency: calls in flight at once.
        ordered: yield outcomes in input order; a slow job holds back at most
            ``reorder_window`` later ones (default ``4 * concurrency``).
        fail_fast: after the first failed outcome, cancel the rest and end.
        rate: at most this many HTTP attempts per second; ``burst`` at once.
            (With a custom ``call``, only each job's first attempt is limited.)
            Waiting for the limiter does not count in ``Outcome.elapsed``.
        progress: called with a :class:`Progress` after every outcome.
        total: the number of jobs, for progress, when ``jobs`` has no len().
        call: ``await call(request)`` does one job; default ``client.call``.
        renew_token_within: before the first call, renew the client's token
            if its JWT expires within this many seconds (opt-in).
        timeout, retry: per-call overrides passed to every call.

    Leaving the ``async with`` block early (break, error, cancellation)
    cancels the calls in flight and starts no new ones.
    """

    def __init__(
        self,
        client: VerifikClient,
        jobs: JobsInput,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = False,
        reorder_window: int | None = None,
        fail_fast: bool = False,
        rate: float | None = None,
        burst: int = 1,
        progress: Callable[[Progress], None] | None = None,
        total: int | None = None,
        call: Callable[[Any], Awaitable[R]] | None = None,
        renew_token_within: float | None = None,
        **call_options: Any,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._concurrency = whole_number("concurrency", concurrency)
        self._ordered = ordered
        self._window = whole_number(
            "reorder_window", reorder_window if reorder_window is not None else 4 * concurrency
        )
        self._fail_fast = fail_fast
        self._limiter = RateLimiter(rate, burst) if rate is not None else None
        self._progress = progress
        self._total = total if total is not None else len_or_none(jobs)
        self._call: Callable[[Any], Awaitable[Any]] = call or self._default_call
        self._call_options = call_options
        self._renew_token_within = renew_token_within
        send, receive = anyio.create_memory_object_stream[Outcome[R]](self._concurrency)
        self._send: MemoryObjectSendStream[Outcome[R]] = send
        self._receive: MemoryObjectReceiveStream[Outcome[R]] = receive
        self._task_group: TaskGroup | None = None
        self._input_error: BaseException | None = None
        # the job source, pulled by the workers themselves
        self._sync_jobs: Iterator[Any] | None = None
        self._async_jobs: AsyncIterator[Any] | None = None
        self._pull_lock = anyio.Lock()
        self._next_index = 0
        self._exhausted = False
        # fail-fast: the calls in flight, and whether ordered delivery stopped
        self._call_scopes: set[anyio.CancelScope] = set()
        self._halted = False
        # ordered mode: finished outcomes waiting for their turn
        self._pending: dict[int, Outcome[R]] = {}
        self._next_to_emit = 0
        self._emitted = anyio.Event()
        self._emit_lock = anyio.Lock()
        # statistics
        self._started_at = 0.0
        self._ended_at: float | None = None
        self._in_flight = 0
        self._succeeded = 0
        self._failed = 0
        self._counts: dict[str, int] = {}
        self._latency = LatencyHistogram()
        self._stopped_early = False

    async def _default_call(self, request: Any) -> Any:
        return await self._client.call(
            request, throttle=self._retry_throttle(), **self._call_options
        )

    def _retry_throttle(self) -> Callable[[], Awaitable[None]] | None:
        """A throttle for the client's attempts that lets the first one through.

        The runner takes the first attempt's slot itself, before the job's
        clock starts, so that waiting for the rate limit is not counted as
        latency; retries are calls too and take a slot each.
        """
        limiter = self._limiter
        if limiter is None:
            return None
        first = True

        async def throttle() -> None:
            nonlocal first
            if first:
                first = False
            else:
                await limiter.acquire()

        return throttle

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise ClientStateError("a BatchStream can be entered only once")
        if self._renew_token_within is not None:
            await self._client.ensure_fresh_token(min_validity=self._renew_token_within)
        self._started_at = time.monotonic()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._feed)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        if self._ended_at is None:
            self._stopped_early = True
        self._task_group.cancel_scope.cancel()
        # The caller's own exception is not the workers' business: keep it out
        # of the task group so it propagates as it is, not in an ExceptionGroup.
        # Cancellation is passed in, so the group can tell whose it is.
        cancelled = exc is not None and isinstance(exc, anyio.get_cancelled_exc_class())
        try:
            if cancelled:
                return await self._task_group.__aexit__(exc_type, exc, tb)
            await self._task_group.__aexit__(None, None, None)
            return None
        finally:
            self._send.close()
            self._receive.close()
            self._ended_at = self._ended_at or time.monotonic()

    def __aiter__(self) -> AsyncIterator[Outcome[R]]:
        if self._task_group is None:
            raise ClientStateError("use `async with client.stream(jobs) as results:` first")
        return self

    async def __anext__(self) -> Outcome[R]:
        try:
            try:
                # A ready outcome is taken without a trip through the event loop.
                return self._receive.receive_nowait()
            except anyio.WouldBlock:
                return await self._receive.receive()
        except anyio.EndOfStream:
            self._ended_at = self._ended_at or time.monotonic()
            if self._input_error is not None:
                error, self._input_error = self._input_error, None
                raise error from None
            raise StopAsyncIteration from None

    @property
    def summary(self) -> BatchSummary:
        """Counts, throughput and latency so far (final once the stream has ended)."""
        end = self._ended_at or time.monotonic()
        elapsed = max(end - self._started_at, 1e-9) if self._started_at else 0.0
        done = self._succeeded + self._failed
        return BatchSummary(
            total=done,
            succeeded=self._succeeded,
            failed=self._failed,
            counts=dict(self._counts),
            elapsed=elapsed,
            throughput=done / elapsed if elapsed else 0.0,
            latency_p50=self._latency.percentile(50),
            latency_p95=self._latency.percentile(95),
            latency_max=self._latency.max,
            stopped_early=self._stopped_early,
        )

    async def _feed(self) -> None:
        """Run ``concurrency`` workers; end the stream when they are all done."""
        if isinstance(self._jobs, AsyncIterable):
            self._async_jobs = aiter(self._jobs)
        else:
            self._sync_jobs = iter(self._jobs)
        try:
            async with self._send, anyio.create_task_group() as workers:
                for _ in range(self._concurrency):
                    workers.start_soon(self._work)
        finally:
            self._exhausted = True
            if isinstance(self._async_jobs, AsyncGenerator):
                with anyio.CancelScope(shield=True):
                    await self._async_jobs.aclose()

    async def _work(self) -> None:
        # A fixed pool of workers, each pulling its next job only once it has
        # delivered the last: no task per job, and nothing is taken from the
        # input that would not run if the caller stopped now.
        while (pulled := await self._pull()) is not None:
            outcome = await self._execute(*pulled)
            if outcome is None:  # its call was cancelled by fail-fast
                continue
            self._record(outcome)
            if self._fail_fast and outcome.error is not None:
                # No new job starts; once this failure is delivered (in ordered
                # mode, after the jobs before it) the calls in flight stop.
                self._stopped_early = self._exhausted = True
            await self._emit(outcome)

    async def _pull(self) -> tuple[int, Job] | None:
        """The next job and its index, or None when the input is done (or failed)."""
        if self._ordered:
            while not self._exhausted and self._next_index >= self._next_to_emit + self._window:
                await self._emitted.wait()
        if self._exhausted:
            return None
        try:
            if self._sync_jobs is not None:
                item = next(self._sync_jobs)
            else:
                assert self._async_jobs is not None
                # An async generator cannot be advanced by two tasks at once.
                async with self._pull_lock:
                    if self._exhausted:
                        return None
                    item = await anext(self._async_jobs)
        except (StopIteration, StopAsyncIteration):
            self._exhausted = True
            return None
        except Exception as exc:
            # The job iterator itself failed: it cannot go on. The jobs in
            # flight are delivered, then this is raised from the iterator.
            logger.debug("job input failed after %d jobs", self._next_index)
            self._exhausted = True
            self._input_error = exc
            return None
        index = self._next_index
        self._next_index += 1
        self._in_flight += 1
        return index, _as_job(item)

    async def _execute(self, index: int, job: Job) -> Outcome[R] | None:
        """Run one job; None if fail-fast cancelled its call."""
        started = time.monotonic()
        result: Any = None
        error: VerifikError | None = job.error
        if error is None:
            with anyio.CancelScope() as scope:
                self._call_scopes.add(scope)
                try:
                    if self._limiter is not None:
                        await self._limiter.acquire()
                        started = time.monotonic()
                    result = await self._call(job.request)
                except VerifikError as exc:
                    error = exc
                except Exception as exc:
                    logger.exception("job %d failed unexpectedly", index)
                    error = UnexpectedError(f"{type(exc).__name__}: {exc}")
                    error.__cause__ = exc
                finally:
                    self._call_scopes.discard(scope)
            if scope.cancelled_caught:
                self._in_flight -= 1
                return None
        attempts = getattr(result if error is None else error, "attempts", 0)
        return Outcome(index, job.key, result, error, attempts, time.monotonic() - started)

    def _record(self, outcome: Outcome[R]) -> None:
        self._in_flight -= 1
        if outcome.error is None:
            self._succeeded += 1
        else:
            self._failed += 1
        label = outcome.label
        self._counts[label] = self._counts.get(label, 0) + 1
        self._latency.add(outcome.elapsed)
        if self._progress is not None:
            self._report_progress(
                Progress(
                    done=self._succeeded + self._failed,
                    failed=self._failed,
                    in_flight=self._in_flight,
                    total=self._total,
                    elapsed=time.monotonic() - self._started_at,
                )
            )

    def _report_progress(self, progress: Progress) -> None:
        assert self._progress is not None
        try:
            self._progress(progress)
        except Exception:
            # A broken progress display must not lose the outcomes of the batch.
            logger.exception("the batch's progress callback failed")

    async def _emit(self, outcome: Outcome[R]) -> None:
        if not self._ordered:
            try:
                self._send.send_nowait(outcome)
            except anyio.WouldBlock:
                await self._send.send(outcome)
            self._after_delivery(outcome)
            return
        self._pending[outcome.index] = outcome
        async with self._emit_lock:
            while (
                not self._halted
                and (ready := self._pending.pop(self._next_to_emit, None)) is not None
            ):
                await self._send.send(ready)
                self._next_to_emit += 1
                self._emitted.set()
                self._emitted = anyio.Event()
                self._after_delivery(ready)

    def _after_delivery(self, outcome: Outcome[R]) -> None:
        if self._fail_fast and outcome.error is not None:
            # Calls in flight are cancelled; outcomes already finished are
            # still delivered (in ordered mode none come after the failure).
            self._halted = self._ordered
            for scope in self._call_scopes:
                scope.cancel()


def len_or_none(jobs: Any) -> int | None:
    """``len(jobs)``, or None for an input without a length (a generator)."""
    try:
        return len(jobs)
    except TypeError:
        return None


def probe_jobs(template: CompareLivenessRequest, probes: Any) -> Iterator[Job]:
    """Jobs comparing each probe with ``template``'s gallery and options.

    ``probes`` is an iterable of images, of ``(key, image)`` pairs, or a
    mapping of key to image. A probe that cannot be turned into a request
    becomes a failed job, not an exception that would end the batch.
    """
    items = probes.items() if isinstance(probes, Mapping) else probes
    for item in items:
        key, probe = item if isinstance(item, tuple) and len(item) == 2 else (None, item)
        try:
            yield Job(attrs.evolve(template, probe=probe), key)
        except VerifikError as exc:
            yield Job.failed(key, exc)


def pair_jobs(template: CompareLivenessRequest, pairs: Any) -> Iterator[Job]:
    """Jobs from ``(probe, gallery)`` or ``(key, probe, gallery)`` tuples, or a key -> pair mapping.

    Galleries that are the same object are coerced once, so their images
    are read and encoded once.
    """
    items = ((key, *pair) for key, pair in pairs.items()) if isinstance(pairs, Mapping) else pairs
    galleries: dict[int, tuple[Any, tuple[Image, ...]]] = {}
    for index, item in enumerate(items):
        key: Any = None
        try:
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise InputError(
                    f"pairs[{index}]", "must be a (probe, gallery) or (key, probe, gallery) tuple"
                )
            if len(item) == 3:
                key, probe, gallery = item
            else:
                probe, gallery = item
            yield Job(attrs.evolve(template, probe=probe, gallery=_shared(galleries, gallery)), key)
        except VerifikError as exc:
            yield Job.failed(key, exc)


def _shared(cache: dict[int, tuple[Any, tuple[Image, ...]]], gallery: Any) -> tuple[Image, ...]:
    # Keyed by identity, holding the object so its id cannot be reused; a
    # small cache, since pairs usually repeat a gallery in runs.
    entry = cache.get(id(gallery))
    if entry is not None and entry[0] is gallery:
        return entry[1]
    images = coerce_gallery(gallery)
    if len(cache) >= _GALLERY_CACHE:
        cache.pop(next(iter(cache)))
    cache[id(gallery)] = (gallery, images)
    return images
