"""The API's protocol without I/O: build request bodies, read (status, headers, body).

Everything here is a pure function of its arguments, so it is tested
without a server and reused by every transport.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Final, Generic, TypeVar

import attrs

from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DuplicatedPersonError,
    InvalidImageError,
    LivenessFailedError,
    MissingParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    TokenExpiredError,
    VerifikError,
)
from ._models import DEFAULT_COMPARE_MIN_SCORE, CompareLivenessRequest, CompareLivenessResult
from ._wire import (
    WireError,
    converter,
    dumps,
    loads,
    structure_comparison,
    structure_liveness,
    structure_signature,
)

__all__ = [
    "ENDPOINTS",
    "PATH_COMPARE_WITH_LIVENESS",
    "Answer",
    "Endpoint",
    "error_for",
    "missing_fields",
    "parse_compare_liveness",
    "parse_retry_after",
    "read_data",
    "request_body",
]

PATH_COMPARE_WITH_LIVENESS: Final = "face-recognition/compare-with-liveness"

T = TypeVar("T")
Req = TypeVar("Req")
Res = TypeVar("Res")


@attrs.frozen
class Endpoint(Generic[Req, Res]):
    """How to call one API endpoint: its method and path, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Answer, Req], Res]


@attrs.frozen
class Answer:
    """One HTTP answer as the transport read it. ``headers`` has lower-case names."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1


def request_body(request: Any) -> bytes:
    """The JSON body for a request whose images are already prepared."""
    if type(request) not in ENDPOINTS:
        # The sibling endpoints' converter hooks are registered when their
        # module loads, which is deferred until one of them is used.
        from . import _face_protocol  # noqa: F401
    return dumps(converter.unstructure(request))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if value is None or not (value := value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_MISSING_RE: Final = re.compile(r'missing\s+"?([A-Za-z_][\w.\[\]]*)"?|"([A-Za-z_][\w.\[\]]*)"')


def missing_fields(message: str) -> tuple[str, ...]:
    """Field names in a MissingParameter message, in order, each once.

    Reads every form the API uses: ``missing a\\n. missing b\\n``,
    ``"search_mode" is required`` and ``"x" must be greater than ...``.
    """
    found: dict[str, None] = {}
    for match in _MISSING_RE.finditer(message):
        found[match.group(1) or match.group(2)] = None
    return tuple(found)


def _decode_json(answer: Answer) -> Any:
    try:
        return loads(answer.body)
    except (ValueError, TypeError, RecursionError):
        return None


def _error_fields(payload: Any) -> tuple[str | None, str, str | None]:
    """(code, message, response id) from any of the API's error envelopes."""
    if not isinstance(payload, Mapping):
        return None, "", None
    code, message, error = payload.get("code"), payload.get("message"), payload.get("error")
    if not isinstance(code, str):
        code = error if isinstance(error, str) and isinstance(message, str) else None
    if not isinstance(message, str):
        message = error if isinstance(error, str) else ""
    response_id = payload.get("id")
    return code, message.strip(), response_id if isinstance(response_id, str) else None


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def error_for(answer: Answer) -> VerifikError:
    """The typed error for a non-2xx answer, whatever its body looks like."""
    status = answer.status
    payload = _decode_json(answer)
    code, message, response_id = _error_fields(payload)
    if not message:
        kind = answer.headers.get("content-type", "no content type").split(";")[0]
        message = f"{_status_phrase(status)} ({kind}, {len(answer.body)} bytes)"
    if status < 400:
        return ResponseError(
            f"unexpected HTTP {status} ({_status_phrase(status)}); redirects are not followed",
            status=status,
            body=answer.body,
            attempts=answer.attempts,
        )
    common: dict[str, Any] = {
        "status": status,
        "api_code": code,
        "response_id": response_id,
        "body": answer.body,
        "attempts": answer.attempts,
    }
    lowered = message.lower()
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(answer.headers.get("retry-after"))
        cls = RateLimitError if status == 429 else ServerError
        return cls(message, retry_after=retry_after, **common)
    if status == 409:
        if code == "MissingParameter":
            return MissingParameterError(message, fields=missing_fields(message), **common)
        if "liveness_failed" in lowered:
            return LivenessFailedError(message, **common)
        if "duplicated_person" in lowered:
            return DuplicatedPersonError(message, **common)
        return ConflictError(message, **common)
    if status == 403 and "expired" in lowered:
        return TokenExpiredError(message, **common)
    cls_by_status: dict[int, type[APIError]] = {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        412: InvalidImageError,
    }
    return cls_by_status.get(status, APIError)(message, **common)


def read_data(answer: Answer) -> tuple[Any, Mapping[str, Any]]:
    """The ``data`` of a 2xx answer and its whole envelope; raises the typed error otherwise."""
    if not 200 <= answer.status < 300:
        raise error_for(answer)
    payload = _decode_json(answer)
    if payload is None:
        raise ResponseError(
            f"HTTP {answer.status} answer is not JSON ({len(answer.body)} bytes)",
            status=answer.status,
            body=answer.body,
            attempts=answer.attempts,
            retryable=True,
        )
    if not isinstance(payload, Mapping) or payload.get("data") is None:
        raise ResponseError(
            f"HTTP {answer.status} answer has no 'data' object",
            status=answer.status,
            body=answer.body,
            attempts=answer.attempts,
        )
    return payload["data"], payload


def parse_with(answer: Answer, parse: Callable[[Any, Mapping[str, Any]], T]) -> T:
    """Run ``parse(data, envelope)`` on a 2xx answer, turning wire problems into ResponseError."""
    data, envelope = read_data(answer)
    try:
        return parse(data, envelope)
    except WireError as exc:
        raise ResponseError(
            f"HTTP {answer.status} answer cannot be used: {exc}",
            status=answer.status,
            body=answer.body,
            attempts=answer.attempts,
        ) from None


def parse_compare_liveness(
    answer: Answer, request: CompareLivenessRequest
) -> CompareLivenessResult:
    """The result of a compare-with-liveness answer, or the typed error it stands for."""

    def parse(data: Any, envelope: Mapping[str, Any]) -> CompareLivenessResult:
        if not isinstance(data, Mapping) or "comparison" not in data:
            raise WireError("data.comparison", "is missing")
        liveness = data.get("liveness")
        response_id = envelope.get("id")
        return CompareLivenessResult(
            comparison=structure_comparison(data["comparison"]),
            liveness=None if liveness is None else structure_liveness(liveness),
            signature=structure_signature(envelope.get("signature")),
            response_id=response_id if isinstance(response_id, str) else None,
            compare_min_score=request.compare_min_score or DEFAULT_COMPARE_MIN_SCORE,
            attempts=answer.attempts,
            raw=dict(envelope),
        )

    return parse_with(answer, parse)


ENDPOINTS: Final[dict[type[Any], Endpoint[Any, Any]]] = {
    CompareLivenessRequest: Endpoint("POST", PATH_COMPARE_WITH_LIVENESS, parse_compare_liveness),
}
"""The endpoint for each request type: what ``VerifikClient.call`` dispatches on."""
