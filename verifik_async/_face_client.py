"""Client methods for the sibling endpoints of compare-with-liveness, and token renewal.

``VerifikClient`` inherits :class:`FaceEndpointsMixin`. Every method builds a
request (which checks its input before any network call), then goes through
``VerifikClient.call`` or ``send``: the same retries, timeouts, errors and
logging as ``compare_with_liveness``.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio

from ._config import UNSET, ClientConfig, Timeout, Unset
from ._errors import InputError
from ._images import ImageInput
from ._models import (
    DEFAULT_COMPARE_MIN_SCORE,
    DEFAULT_LIVENESS_MIN_SCORE,
    OS,
    GalleryInput,
    SearchMode,
)
from ._protocol import Answer
from ._retry import RetryPolicy
from ._token import DEFAULT_MIN_VALIDITY, RenewedToken, expires_within

# The sibling endpoints' models and parsers load on first use: most programs
# call only compare-with-liveness, and these make up a third of import time.
if TYPE_CHECKING:
    from ._face_models import (
        CompareLiveRequest,
        CompareLiveResult,
        CompareRequest,
        CompareResult,
        DetectRequest,
        DetectResult,
        LivenessRequest,
        LivenessResult,
        SearchRequest,
        SearchResult,
        VerifyRequest,
        VerifyResult,
    )

__all__ = ["FaceEndpointsMixin"]

logger = logging.getLogger("verifik_async")

T = TypeVar("T")

TimeoutArg = Timeout | float | Literal[Unset.UNSET] | None
RetryArg = RetryPolicy | Literal[Unset.UNSET]

# One lock per client, so that tasks racing to renew a token renew it once.
_RENEW_LOCKS: weakref.WeakKeyDictionary[Any, anyio.Lock] = weakref.WeakKeyDictionary()


class _Client(Protocol):
    """What the mixin needs of VerifikClient (self-type of every mixin method)."""

    @property
    def config(self) -> ClientConfig: ...

    async def call(
        self,
        request: Any,
        *,
        timeout: TimeoutArg = ...,
        retry: RetryArg = ...,
        throttle: Callable[[], Awaitable[None]] | None = ...,
    ) -> Any: ...

    async def send(
        self,
        path: str,
        request: Any,
        parse: Callable[[Answer], T],
        *,
        method: str = ...,
        timeout: TimeoutArg = ...,
        retry: RetryArg = ...,
        throttle: Callable[[], Awaitable[None]] | None = ...,
    ) -> T: ...

    def _replace_token(self, token: str) -> None: ...


def _alone(request_name: str, field: str, value: Any) -> None:
    if value is not None:
        raise InputError(field, f"give either a {request_name} or the arguments, not both")


class FaceEndpointsMixin:
    """VerifikClient's methods for the sibling face endpoints and token renewal.

    /compare, /compare-live, /liveness, /detect, /search and /verify.
    Each endpoint method takes its images and options as arguments, or one
    request object (``CompareRequest``...). ``timeout`` and ``retry`` override
    the client's settings for that call. Every method raises
    :class:`InputError` for bad input before any request, an
    :class:`APIError` subclass per error status (after retries for 429 and
    5xx) and :class:`TransportError` for connection failures and timeouts.
    """

    async def compare(
        self: _Client,
        probe: ImageInput | Iterable[ImageInput] | CompareRequest,
        gallery: GalleryInput | None = None,
        *,
        search_mode: SearchMode | str = SearchMode.FAST,
        compare_min_score: float = DEFAULT_COMPARE_MIN_SCORE,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> CompareResult:
        """Compare one or more probe images with a gallery, without liveness (1:N).

        Returns:
            CompareResult: ``score`` (best, in [0, 1]), ``raw_score``,
            ``matched`` (score >= ``compare_min_score``, default 0.85).
        """
        from ._face_models import CompareRequest

        if isinstance(probe, CompareRequest):
            _alone("CompareRequest", "gallery", gallery)
            request = probe
        else:
            request = CompareRequest(
                probe, gallery, search_mode=search_mode, compare_min_score=compare_min_score
            )
        result: CompareResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def compare_live(
        self: _Client,
        probe: ImageInput | CompareLiveRequest,
        gallery: GalleryInput | None = None,
        *,
        os: OS | str = OS.DESKTOP,
        search_mode: SearchMode | str = SearchMode.FAST,
        liveness_min_score: float = DEFAULT_LIVENESS_MIN_SCORE,
        compare_min_score: float | None = None,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> CompareLiveResult:
        """Compare a probe with a gallery and check the probe's liveness (compare-live).

        Returns:
            CompareLiveResult: ``score``, ``liveness_score``, ``matched``,
            ``live``, ``verified`` and ``verdict``.
        """
        from ._face_models import CompareLiveRequest

        if isinstance(probe, CompareLiveRequest):
            _alone("CompareLiveRequest", "gallery", gallery)
            request = probe
        else:
            request = CompareLiveRequest(
                probe,
                gallery,
                os=os,
                search_mode=search_mode,
                liveness_min_score=liveness_min_score,
                compare_min_score=compare_min_score,
            )
        result: CompareLiveResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def liveness(
        self: _Client,
        image: ImageInput | LivenessRequest,
        *,
        os: OS | str = OS.DESKTOP,
        liveness_min_score: float | None = None,
        collection_id: str | None = None,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> LivenessResult:
        """Check that a selfie shows a live person.

        Returns:
            LivenessResult: ``liveness_score`` in [0, 1], ``min_score``,
            ``passed`` (strictly above the minimum), ``server_passed``.
        """
        from ._face_models import LivenessRequest

        if isinstance(image, LivenessRequest):
            request = image
        else:
            request = LivenessRequest(
                image, os=os, liveness_min_score=liveness_min_score, collection_id=collection_id
            )
        result: LivenessResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def detect(
        self: _Client,
        image: ImageInput | DetectRequest,
        *,
        return_landmarks: bool | None = None,
        return_attributes: bool | None = None,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> DetectResult:
        """Find the faces in an image: bounding boxes, and landmarks and attributes if asked.

        Returns:
            DetectResult: ``faces``, ``face_count``, ``has_face``, ``single_face``.
        """
        from ._face_models import DetectRequest

        if isinstance(image, DetectRequest):
            request = image
        else:
            request = DetectRequest(
                image, return_landmarks=return_landmarks, return_attributes=return_attributes
            )
        result: DetectResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def search(
        self: _Client,
        images: GalleryInput | SearchRequest,
        *,
        min_score: float | None = None,
        search_mode: SearchMode | str = SearchMode.FAST,
        collection_id: str | None = None,
        max_results: int | None = None,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> SearchResult:
        """Find the stored persons whose face matches ``images`` (1:N over persons).

        ``min_score`` (0.2-1) is required unless a SearchRequest is given.

        Returns:
            SearchResult: ``matches`` (id, name, score), ``best``, ``found``.
        """
        from ._face_models import SearchRequest

        if isinstance(images, SearchRequest):
            request = images
        else:
            request = SearchRequest(
                images,
                min_score=min_score,
                search_mode=search_mode,
                collection_id=collection_id,
                max_results=max_results,
            )
        result: SearchResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def verify(
        self: _Client,
        person_id: str | VerifyRequest,
        images: GalleryInput | None = None,
        *,
        min_score: float | None = None,
        search_mode: SearchMode | str = SearchMode.FAST,
        collection_id: str | None = None,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> VerifyResult:
        """Check that ``images`` show the stored person ``person_id`` (1:1).

        ``min_score`` (0.5-1) is required unless a VerifyRequest is given.

        Returns:
            VerifyResult: ``match`` (or None), ``score``, ``matched``.
        """
        from ._face_models import VerifyRequest

        if isinstance(person_id, VerifyRequest):
            _alone("VerifyRequest", "images", images)
            request = person_id
        else:
            request = VerifyRequest(
                person_id,
                images,
                min_score=min_score,
                search_mode=search_mode,
                collection_id=collection_id,
            )
        result: VerifyResult = await self.call(request, timeout=timeout, retry=retry)
        return result

    async def renew_token(
        self: _Client,
        expires_in_months: int = 1,
        *,
        use: bool = True,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> RenewedToken:
        """Get a new token while this one is still valid (``GET auth/session?origin=refresh``).

        ``expires_in_months`` is sent as ``expiresIn``. With ``use`` (the
        default) the client sends the new token from its next request on.
        Store ``access_token`` where your secrets live: the client does not
        persist it.

        Returns:
            RenewedToken: ``access_token`` (never in its repr), ``token_type``,
            ``expires_at``.

        Raises:
            InputError: ``expires_in_months`` is not a whole number >= 1.
            TokenExpiredError: the current token has already expired.
        """
        return await _renew(self, expires_in_months, use=use, timeout=timeout, retry=retry)

    async def ensure_fresh_token(
        self: _Client,
        min_validity: float = DEFAULT_MIN_VALIDITY,
        *,
        expires_in_months: int = 1,
        timeout: TimeoutArg = UNSET,
        retry: RetryArg = UNSET,
    ) -> bool:
        """Renew the client's token if it expires within ``min_validity`` seconds.

        Call it before a long batch (``await client.ensure_fresh_token()``,
        default: less than a day left). The expiry is the JWT's ``exp``, read
        without verifying the token; a token without a readable ``exp`` is
        left alone. Concurrent callers renew once. Returns True when it renewed.
        """
        if (
            isinstance(min_validity, bool)
            or not isinstance(min_validity, int | float)
            or not math.isfinite(min_validity)
            or min_validity < 0
        ):
            raise InputError(
                "min_validity", f"must be a number of seconds >= 0, got {min_validity!r}"
            )
        if not _needs_renewal(self, min_validity):
            return False
        lock = _RENEW_LOCKS.get(self)
        if lock is None:
            lock = _RENEW_LOCKS.setdefault(self, anyio.Lock())
        async with lock:
            # Another task may have renewed while this one waited for the lock.
            if not _needs_renewal(self, min_validity):
                return False
            await _renew(self, expires_in_months, use=True, timeout=timeout, retry=retry)
        return True


def _needs_renewal(client: _Client, min_validity: float) -> bool:
    token = client.config.token
    return token is not None and expires_within(token, min_validity)


async def _renew(
    client: _Client,
    expires_in_months: int,
    *,
    use: bool,
    timeout: TimeoutArg,
    retry: RetryArg,
) -> RenewedToken:
    from ._face_protocol import parse_token_renewal, token_renewal_path

    path = token_renewal_path(expires_in_months)
    renewed = await client.send(
        path, None, parse_token_renewal, method="GET", timeout=timeout, retry=retry
    )
    if use:
        client._replace_token(renewed.access_token)
    logger.info(
        "token renewed (expires %s)%s",
        "unknown" if renewed.expires_at is None else renewed.expires_at.isoformat(),
        "; the client now uses it" if use else "",
    )
    return renewed
