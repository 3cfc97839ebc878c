"""The session manager: one pooled connection pool, typed calls, retries."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

import anyio
import attrs

from ._config import UNSET, ClientConfig, Timeout, Unset
from ._errors import (
    APIError,
    ClientStateError,
    ConnectError,
    InputError,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    VerifikError,
)
from ._face_client import FaceEndpointsMixin
from ._images import Image, ImageInput
from ._models import OS, CompareLivenessRequest, CompareLivenessResult, GalleryInput, SearchMode
from ._protocol import ENDPOINTS, Answer, request_body
from ._retry import RetryPolicy, backoff_delay
from ._transport import Transport

if TYPE_CHECKING:
    import aiohttp

    from ._batch import BatchStream, JobsInput

__all__ = ["VerifikClient"]

logger = logging.getLogger("verifik_async")

T = TypeVar("T")


class _State(Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class VerifikClient(FaceEndpointsMixin):
    """An async client for Verifik's face API, used as ``async with VerifikClient() as client``.

    It owns one pooled aiohttp session for its lifetime: create it once (per
    web app, script or worker) and share it between tasks.

    Args:
        token: the API token; default ``VERIFIK_API_TOKEN`` from the environment.
        base_url: default ``VERIFIK_BASE_URL`` or the public API. Plain
            ``http://`` is refused unless the host is loopback.
        timeout: a :class:`Timeout` or total seconds for one attempt.
        retry: the :class:`RetryPolicy` for every call.
        max_connections: the size of the connection pool.
        max_image_bytes: the largest image accepted (default 5 MiB).
        max_gallery_images: the most images a gallery may hold (default 100).
        config: a whole :class:`ClientConfig`; the arguments above override it.
        session: an aiohttp session to use instead of creating one; the client
            never closes a session it was handed.

    Raises:
        InputError: no token anywhere, or a setting out of range.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int | None = None,
        max_image_bytes: int | None = None,
        max_gallery_images: int | None = None,
        config: ClientConfig | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        overrides: dict[str, Any] = {
            "token": token,
            "base_url": base_url,
            "timeout": _as_timeout(timeout) if timeout is not None else None,
            "retry": retry,
            "max_connections": max_connections,
            "max_image_bytes": max_image_bytes,
            "max_gallery_images": max_gallery_images,
        }
        if config is None:
            config = ClientConfig.from_env(**overrides)
        else:
            config = attrs.evolve(config, **{k: v for k, v in overrides.items() if v is not None})
        if config.token is None:
            raise InputError(
                "token", "no API token: pass token=... or set the VERIFIK_API_TOKEN variable"
            )
        self._config = config
        self._transport = Transport(config, session)
        self._state = _State.NEW
        self._headers = {
            "Authorization": f"Bearer {config.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": config.user_agent,
        }
        # A 429's Retry-After holds back every call of this client, not only
        # the one that got it: hammering on would only earn more 429s.
        self._paused_until = 0.0

    @property
    def config(self) -> ClientConfig:
        """The settings in force (the token is not in its repr)."""
        return self._config

    @property
    def closed(self) -> bool:
        """True once the client has been closed."""
        return self._state is _State.CLOSED

    def __repr__(self) -> str:
        return f"VerifikClient(base_url={self._config.base_url!r}, state={self._state.value})"

    def _replace_token(self, token: str) -> None:
        """Use ``token`` from the next attempt on (after a renewal)."""
        self._config = attrs.evolve(self._config, token=token)
        self._headers["Authorization"] = f"Bearer {token}"

    async def __aenter__(self) -> Self:
        if self._state is _State.OPEN:
            raise ClientStateError("the client is already open")
        if self._state is _State.CLOSED:
            raise ClientStateError("the client is closed; create a new VerifikClient")
        await self._transport.open()
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its own session; safe to call twice."""
        self._state = _State.CLOSED
        # Shielded so that a cancelled task still releases its connections.
        with anyio.CancelScope(shield=True):
            await self._transport.close()

    async def compare_with_liveness(
        self,
        probe: ImageInput | CompareLivenessRequest,
        gallery: GalleryInput | None = None,
        *,
        os: OS | str = OS.DESKTOP,
        search_mode: SearchMode | str = SearchMode.FAST,
        compare_min_score: float | None = None,
        liveness_min_score: float | None = None,
        crop_face: bool | None = None,
        timeout: Timeout | float | Literal[Unset.UNSET] | None = UNSET,
        retry: RetryPolicy | Literal[Unset.UNSET] = UNSET,
    ) -> CompareLivenessResult:
        """Compare a probe selfie with a gallery, and check the probe is a live person.

        Pass the images (bytes, paths, base64 strings, data URIs or
        :class:`Image` objects) and options, or one :class:`CompareLivenessRequest`.
        ``timeout`` and ``retry`` override the client's settings for this call.

        Returns:
            CompareLivenessResult: ``score``, ``liveness_score`` (None when the
            API skipped liveness), ``matched``, ``live``, ``verified``,
            ``attempts`` and the parsed records.

        Raises:
            InputError: bad input, before any request.
            APIError: a subclass per error status (after retries for 429 and 5xx).
            TransportError: connection failures and timeouts, after retries.
        """
        if isinstance(probe, CompareLivenessRequest):
            if gallery is not None:
                raise InputError("gallery", "give either a request object or probe and gallery")
            request = probe
        else:
            request = CompareLivenessRequest(
                probe,
                gallery,
                os=os,
                search_mode=search_mode,
                compare_min_score=compare_min_score,
                liveness_min_score=liveness_min_score,
                crop_face=crop_face,
            )
        result: CompareLivenessResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def call(
        self,
        request: Any,
        *,
        timeout: Timeout | float | Literal[Unset.UNSET] | None = UNSET,
        retry: RetryPolicy | Literal[Unset.UNSET] = UNSET,
        throttle: Callable[[], Awaitable[None]] | None = None,
    ) -> Any:
        """Send any request object to its endpoint and return its result.

        The batch runner uses this; ``throttle`` is awaited before every
        attempt (a rate limiter). Raises InputError for an unknown request type.
        """
        endpoint = ENDPOINTS.get(type(request))
        if endpoint is None:
            from ._face_protocol import FACE_ENDPOINTS

            endpoint = FACE_ENDPOINTS.get(type(request))
        if endpoint is None:
            raise InputError(
                "request", f"{type(request).__name__} is not a request type this client sends"
            )
        return await self.send(
            endpoint.path,
            request,
            lambda answer: endpoint.parse(answer, request),
            method=endpoint.method,
            timeout=timeout,
            retry=retry,
            throttle=throttle,
        )

    def stream(self, jobs: JobsInput, **options: Any) -> BatchStream[Any]:
        """Run many calls with bounded concurrency: ``async with client.stream(jobs) as results``.

        See :class:`BatchStream` for the options (concurrency, ordered,
        fail_fast, rate, burst, progress, total, timeout, retry).
        """
        from ._batch import BatchStream

        return BatchStream(self, jobs, **options)

    def stream_probes(
        self,
        probes: Iterable[ImageInput] | Iterable[tuple[Any, ImageInput]] | Mapping[Any, ImageInput],
        gallery: GalleryInput,
        *,
        os: OS | str = OS.DESKTOP,
        search_mode: SearchMode | str = SearchMode.FAST,
        compare_min_score: float | None = None,
        liveness_min_score: float | None = None,
        crop_face: bool | None = None,
        **options: Any,
    ) -> BatchStream[CompareLivenessResult]:
        """Compare many probes with one gallery, read and encoded once.

        ``probes`` is an iterable of images, of ``(key, image)`` pairs, or a
        mapping of key to image; it is pulled lazily. The request options are
        checked now, before any call. Other keyword arguments go to
        :meth:`stream`.
        """
        from ._batch import len_or_none, probe_jobs

        template = CompareLivenessRequest(
            _PLACEHOLDER,
            gallery,
            os=os,
            search_mode=search_mode,
            compare_min_score=compare_min_score,
            liveness_min_score=liveness_min_score,
            crop_face=crop_face,
        )
        return self.stream(probe_jobs(template, probes), total=len_or_none(probes), **options)

    def stream_pairs(
        self,
        pairs: Iterable[tuple[Any, ...]] | Mapping[Any, tuple[ImageInput, GalleryInput]],
        *,
        os: OS | str = OS.DESKTOP,
        search_mode: SearchMode | str = SearchMode.FAST,
        compare_min_score: float | None = None,
        liveness_min_score: float | None = None,
        crop_face: bool | None = None,
        **options: Any,
    ) -> BatchStream[CompareLivenessResult]:
        """Run many ``(probe, gallery)`` or ``(key, probe, gallery)`` comparisons.

        A gallery object repeated across pairs is encoded once. The request
        options are checked now; other keyword arguments go to :meth:`stream`.
        """
        from ._batch import len_or_none, pair_jobs

        template = CompareLivenessRequest(
            _PLACEHOLDER,
            _PLACEHOLDER,
            os=os,
            search_mode=search_mode,
            compare_min_score=compare_min_score,
            liveness_min_score=liveness_min_score,
            crop_face=crop_face,
        )
        return self.stream(pair_jobs(template, pairs), total=len_or_none(pairs), **options)

    async def prepare(self, request: Any) -> bytes:
        """Check and encode a request's images, then return its JSON body.

        Raises InputError naming the field for any image or gallery problem.
        """
        if (gallery := getattr(request, "gallery", None)) is not None and len(
            gallery
        ) > self._config.max_gallery_images:
            raise InputError(
                "gallery",
                f"holds {len(gallery)} images, over the limit of {self._config.max_gallery_images}",
            )
        max_bytes = self._config.max_image_bytes
        for field, image in request.images():
            if image.prepare_now(field, max_bytes) is None:
                await image.prepare(field, max_bytes)
        return request_body(request)

    async def send(
        self,
        path: str,
        request: Any,
        parse: Callable[[Answer], T],
        *,
        method: str = "POST",
        timeout: Timeout | float | Literal[Unset.UNSET] | None = UNSET,
        retry: RetryPolicy | Literal[Unset.UNSET] = UNSET,
        throttle: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Send ``request`` to ``path`` with retries and return ``parse(answer)``.

        The building block of every endpoint method: ``request`` is a request
        model (or None for a bodiless call) and ``parse`` turns an answer into
        a result or raises the typed error.
        """
        self._check_open()
        body = None if request is None else await self.prepare(request)
        policy = self._config.retry if retry is UNSET else retry
        limits = self._config.timeout if timeout is UNSET else _as_timeout(timeout)
        url = self._config.base_url + path
        attempt = 0
        while True:
            attempt += 1
            if throttle is not None:
                await throttle()
            await self._wait_if_paused()
            self._check_open()
            started = time.monotonic()
            try:
                answer = await self._transport.request(
                    method, url, headers=self._headers, body=body, timeout=limits, attempt=attempt
                )
                result = parse(answer)
            except VerifikError as exc:
                exc.attempts = attempt
                elapsed = time.monotonic() - started
                self._pause_for(exc, policy)
                delay = self._retry_delay(exc, policy, attempt)
                if delay is None:
                    _log_attempt(method, path, exc, attempt, elapsed)
                    raise
                _log_retry(method, path, exc, attempt, elapsed, delay=delay)
                await anyio.sleep(delay)
                continue
            if logger.isEnabledFor(logging.DEBUG):
                _log_attempt(method, path, answer.status, attempt, time.monotonic() - started)
            return result

    def _retry_delay(self, exc: VerifikError, policy: RetryPolicy, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up with ``exc``."""
        if attempt >= policy.max_attempts or not _is_retryable(exc, policy):
            return None
        retry_after = getattr(exc, "retry_after", None)
        return backoff_delay(policy, attempt, retry_after, rand=random.random)

    def _pause_for(self, exc: VerifikError, policy: RetryPolicy) -> None:
        """Hold back every call of this client after a 429 with Retry-After.

        Whether or not this call retries: the server asked the client, not
        the call, to wait. The pause is capped at ``max_retry_after``.
        """
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            pause = min(exc.retry_after, policy.max_retry_after)
            self._paused_until = max(self._paused_until, time.monotonic() + pause)

    async def _wait_if_paused(self) -> None:
        # Loop: another 429 may extend the pause while this call waits.
        while (wait := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await anyio.sleep(wait)

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            if self._state is _State.NEW:
                raise ClientStateError(
                    "the client is not open; use `async with VerifikClient() as client:`"
                )
            raise ClientStateError("the client is closed")


# Stands in for the probe of a request template; never sent.
_PLACEHOLDER: Final = Image.from_bytes(b"placeholder")


def _is_retryable(exc: VerifikError, policy: RetryPolicy) -> bool:
    if isinstance(exc, APIError):
        return exc.status in policy.retry_statuses
    if isinstance(exc, RequestTimeoutError):
        return policy.retry_on_timeout
    if isinstance(exc, ConnectError):
        return policy.retry_on_connection_error
    if isinstance(exc, ResponseError):
        return exc.retryable and policy.retry_on_malformed_response
    return False


def _as_timeout(value: Timeout | float | None) -> Timeout:
    if isinstance(value, Timeout):
        return value
    try:
        return Timeout(total=value)
    except InputError as exc:
        raise InputError("timeout", exc.problem) from None


def _describe(outcome: VerifikError | int) -> str:
    if isinstance(outcome, int):
        return str(outcome)
    status = getattr(outcome, "status", None)
    return f"{status} {outcome.code}" if status is not None else outcome.code


def _log_attempt(
    method: str, path: str, outcome: VerifikError | int, attempt: int, elapsed: float
) -> None:
    logger.debug(
        "%s %s -> %s attempt=%d elapsed=%.3fs", method, path, _describe(outcome), attempt, elapsed
    )


def _log_retry(
    method: str, path: str, exc: VerifikError, attempt: int, elapsed: float, *, delay: float
) -> None:
    logger.info(
        "%s %s -> %s attempt=%d elapsed=%.3fs; retrying in %.2fs",
        method,
        path,
        _describe(exc),
        attempt,
        elapsed,
        delay,
    )
