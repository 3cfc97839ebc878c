"""Each error class, raised from the API's real error bodies served by the emulator."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from verifik_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    DuplicatedPersonError,
    InvalidImageError,
    LivenessFailedError,
    MissingParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    RetryPolicy,
    ServerError,
    TokenExpiredError,
    TransportError,
    VerifikClient,
    VerifikError,
)
from verifik_async.testing import EmulatorServer, Fault, make_jwt

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
Body = bytes | str | Mapping[str, Any] | None

HTML_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """A running emulator."""
    async with EmulatorServer() as running:
        yield running


@pytest.fixture
async def client(server: EmulatorServer) -> AsyncIterator[VerifikClient]:
    """A client bound to the emulator that never retries, so one fault is one error."""
    async with VerifikClient(
        token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
    ) as opened:
        yield opened


async def fail_with(
    server: EmulatorServer,
    client: VerifikClient,
    png: Png,
    status: int,
    body: Body,
    headers: Mapping[str, str] | None = None,
) -> VerifikError:
    """Serve one canned answer and return the error the client raised for it."""
    server.inject(Fault.respond(status, body, headers))
    with pytest.raises(VerifikError) as caught:
        await client.compare_with_liveness(png(1), [png(2)])
    assert len(server.requests) == 1
    return caught.value


def raw(body: Body) -> bytes:
    """The bytes ``Fault.respond`` sends for ``body``."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


# status, body, error class, api_code, message
REAL_BODIES: list[tuple[int, dict[str, str], type[APIError], str | None, str]] = [
    (400, {"error": "Invalid request"}, BadRequestError, None, "Invalid request"),
    (400, {"code": "ERROR", "message": "invalid_otp"}, BadRequestError, "ERROR", "invalid_otp"),
    (
        401,
        {"code": "UNAUTHORIZED", "message": "Authentication required"},
        AuthenticationError,
        "UNAUTHORIZED",
        "Authentication required",
    ),
    (
        403,
        {"code": "Forbidden", "message": "Access forbidden"},
        PermissionDeniedError,
        "Forbidden",
        "Access forbidden",
    ),
    (
        403,
        {"code": "FORBIDDEN", "message": "token_expired"},
        TokenExpiredError,
        "FORBIDDEN",
        "token_expired",
    ),
    (
        404,
        {"code": "NotFound", "message": "Record not found."},
        NotFoundError,
        "NotFound",
        "Record not found.",
    ),
    (
        409,
        {"code": "MissingParameter", "message": "missing search_mode\n"},
        MissingParameterError,
        "MissingParameter",
        "missing search_mode",
    ),
    (
        409,
        {"code": "ERROR", "message": "liveness_failed"},
        LivenessFailedError,
        "ERROR",
        "liveness_failed",
    ),
    (
        409,
        {"code": "ERROR", "message": "409:duplicated_person"},
        DuplicatedPersonError,
        "ERROR",
        "409:duplicated_person",
    ),
    (
        412,
        {"code": "ERROR", "message": "only_images_in_base64"},
        InvalidImageError,
        "ERROR",
        "only_images_in_base64",
    ),
    (
        429,
        {"code": "TooManyRequests", "message": "rate limit exceeded"},
        RateLimitError,
        "TooManyRequests",
        "rate limit exceeded",
    ),
    (500, {"code": "ERROR", "message": "internal_error"}, ServerError, "ERROR", "internal_error"),
]


@pytest.mark.parametrize(
    ("status", "body", "cls", "api_code", "message"),
    REAL_BODIES,
    ids=[f"{s}-{b.get('message', b.get('error'))}" for s, b, *_ in REAL_BODIES],
)
async def test_real_error_body_maps_to_its_class(
    server: EmulatorServer,
    client: VerifikClient,
    png: Png,
    status: int,
    body: dict[str, str],
    cls: type[APIError],
    api_code: str | None,
    message: str,
) -> None:
    """Each documented error body raises its class with status, code, message and raw body."""
    error = await fail_with(server, client, png, status, body)
    assert type(error) is cls
    assert isinstance(error, APIError)
    assert error.status == status
    assert error.api_code == api_code
    assert error.message == message
    assert error.body == raw(body)
    assert error.attempts == 1
    assert error.response_id is None
    assert str(status) in str(error)


async def test_token_expired_is_a_permission_error(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """TokenExpiredError is a PermissionDeniedError, so callers can catch either."""
    error = await fail_with(
        server, client, png, 403, {"code": "FORBIDDEN", "message": "token_expired"}
    )
    assert isinstance(error, PermissionDeniedError)
    assert isinstance(error, TokenExpiredError)


async def test_access_forbidden_is_not_token_expired(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """A plain 403 Access forbidden is PermissionDeniedError but not TokenExpiredError."""
    error = await fail_with(
        server, client, png, 403, {"code": "Forbidden", "message": "Access forbidden"}
    )
    assert isinstance(error, PermissionDeniedError)
    assert not isinstance(error, TokenExpiredError)


async def test_real_expired_jwt_is_rejected_as_token_expired(png: Png) -> None:
    """A JWT whose exp is past gets the emulator's own 403 token_expired: TokenExpiredError."""
    expired = make_jwt(exp=time.time() - 3600)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=expired, base_url=server.base_url) as client,
    ):
        with pytest.raises(TokenExpiredError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.status == 403
    assert caught.value.api_code == "FORBIDDEN"
    assert caught.value.message == "token_expired"
    assert caught.value.attempts == 1
    assert len(server.requests) == 1


async def test_wrong_token_is_permission_denied(png: Png) -> None:
    """A token the emulator does not know gets 403 Access forbidden, not retried."""
    other = make_jwt(exp=time.time() + 3600)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=other, base_url=server.base_url) as client,
    ):
        with pytest.raises(PermissionDeniedError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert not isinstance(caught.value, TokenExpiredError)
    assert caught.value.message == "Access forbidden"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ("missing search_mode\n", ("search_mode",)),
        ("missing os\n. missing probe\n", ("os", "probe")),
        (
            "missing os\n. missing probe\n. missing gallery\n. missing search_mode\n",
            ("os", "probe", "gallery", "search_mode"),
        ),
        ('"search_mode" is required', ("search_mode",)),
        ('"search_mode" is required. "os" is required', ("search_mode", "os")),
        (
            '"liveness_min_score" must be greater than or equal to 0.52',
            ("liveness_min_score",),
        ),
        ('"compare_min_score" must be less than or equal to 0.95', ("compare_min_score",)),
        ('"gallery[3]" must be a string', ("gallery[3]",)),
        ('"os" must be one of [DESKTOP, IOS, ANDROID]', ("os",)),
    ],
)
async def test_missing_parameter_lists_its_fields(
    server: EmulatorServer,
    client: VerifikClient,
    png: Png,
    message: str,
    fields: tuple[str, ...],
) -> None:
    """409 MissingParameter in every documented form carries the parsed field names."""
    body = {"code": "MissingParameter", "message": message}
    error = await fail_with(server, client, png, 409, body)
    assert isinstance(error, MissingParameterError)
    assert isinstance(error, ConflictError)
    assert error.fields == fields
    assert error.message == message.strip()
    assert error.body == raw(body)


async def test_other_409_is_a_plain_conflict(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """A 409 that is none of the known cases is ConflictError itself."""
    error = await fail_with(server, client, png, 409, {"code": "ERROR", "message": "other"})
    assert type(error) is ConflictError


async def test_429_retry_after_in_seconds(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """429 with Retry-After seconds is a RateLimitError with retry_after in seconds."""
    error = await fail_with(
        server,
        client,
        png,
        429,
        {"code": "TooManyRequests", "message": "slow down"},
        {"Retry-After": "120"},
    )
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 120.0
    assert error.retryable


async def test_429_retry_after_as_http_date(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """429 with Retry-After as an HTTP date gives the seconds until that date."""
    when = datetime.now(UTC) + timedelta(seconds=90)
    error = await fail_with(
        server, client, png, 429, None, {"Retry-After": format_datetime(when, usegmt=True)}
    )
    assert isinstance(error, RateLimitError)
    assert error.retry_after is not None
    assert 80 <= error.retry_after <= 91


async def test_429_without_retry_after(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """429 without Retry-After (or with garbage in it) has retry_after None."""
    error = await fail_with(server, client, png, 429, None, {"Retry-After": "soon"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None


async def test_503_carries_retry_after(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """A 503 with Retry-After is a ServerError that carries it too."""
    error = await fail_with(server, client, png, 503, None, {"Retry-After": "7"})
    assert isinstance(error, ServerError)
    assert error.retry_after == 7.0


async def test_html_502_is_a_server_error(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """The nginx HTML 502 page is a ServerError with the page as its raw body."""
    server.inject(Fault.html_502())
    with pytest.raises(ServerError) as caught:
        await client.compare_with_liveness(png(1), [png(2)])
    error = caught.value
    assert error.status == 502
    assert error.api_code is None
    assert b"<html>" in error.body
    assert "502" in str(error)
    assert "Bad Gateway" in error.message


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_empty_gateway_answer_is_a_server_error(
    server: EmulatorServer, client: VerifikClient, png: Png, status: int
) -> None:
    """An empty 502/503/504 is a ServerError with an empty body and a readable message."""
    error = await fail_with(server, client, png, status, None)
    assert type(error) is ServerError
    assert error.status == status
    assert error.body == b""
    assert error.api_code is None
    assert error.message


async def test_error_message_envelope(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """The ``{"error", "message"}`` envelope gives api_code from error and the message."""
    body = {"error": "Bad Request", "message": "probe is not an image"}
    error = await fail_with(server, client, png, 400, body)
    assert isinstance(error, BadRequestError)
    assert error.api_code == "Bad Request"
    assert error.message == "probe is not an image"


async def test_error_body_with_data_and_id(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """An error envelope with data and id carries the response id and the whole raw body."""
    body = {"code": "ERROR", "message": "internal_error", "data": {"x": 1}, "id": "ABRCB"}
    error = await fail_with(server, client, png, 500, body)
    assert isinstance(error, ServerError)
    assert error.response_id == "ABRCB"
    assert json.loads(error.body) == body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, InvalidImageError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
@pytest.mark.parametrize("kind", ["html", "text", "json-garbage"])
async def test_non_json_error_page_maps_by_status(
    server: EmulatorServer,
    client: VerifikClient,
    png: Png,
    status: int,
    cls: type[APIError],
    kind: str,
) -> None:
    """An HTML, plain-text or garbled error page still maps to the class of its status."""
    body: Body
    headers: dict[str, str] = {}
    if kind == "html":
        body = HTML_PAGE.format(f"{status} Oops")
        headers["Content-Type"] = "text/html; charset=utf-8"
    elif kind == "text":
        body = f"{status} something went wrong"
    else:
        body = b'{"code": "ERR'
    error = await fail_with(server, client, png, status, body, headers)
    assert type(error) is cls
    assert isinstance(error, APIError)
    assert error.status == status
    assert error.api_code is None
    assert error.body == raw(body)
    assert error.message


async def test_unknown_error_status_is_an_api_error(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """A 4xx with no class of its own (418) is the base APIError and is not retried."""
    error = await fail_with(server, client, png, 418, {"code": "TEAPOT", "message": "short"})
    assert type(error) is APIError
    assert error.status == 418
    assert error.api_code == "TEAPOT"


async def test_redirect_is_a_response_error(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """A 3xx answer is not followed: it is a ResponseError carrying status and body."""
    error = await fail_with(
        server, client, png, 302, "moved", {"Location": "http://127.0.0.1:1/elsewhere"}
    )
    assert isinstance(error, ResponseError)
    assert error.status == 302
    assert error.body == b"moved"


async def test_connection_refused_is_a_connect_error(png: Png) -> None:
    """Nothing listening gives a ConnectError (a TransportError) after the retries."""
    async with EmulatorServer() as server:
        base_url, token = server.base_url, server.token
    async with VerifikClient(
        token=token,
        base_url=base_url,
        retry=RetryPolicy(max_attempts=2, backoff_initial=0.01),
    ) as client:
        with pytest.raises(ConnectError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert isinstance(caught.value, TransportError)
    assert caught.value.attempts == 2


async def test_api_errors_survive_pickling(
    server: EmulatorServer, client: VerifikClient, png: Png
) -> None:
    """An API error pickles with its fields intact (for process pools and task queues)."""
    body = {"code": "MissingParameter", "message": "missing os\n. missing probe\n", "id": "ABCDE"}
    error = await fail_with(server, client, png, 409, body)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is MissingParameterError
    assert isinstance(copy, MissingParameterError)
    assert copy.fields == ("os", "probe")
    assert (copy.status, copy.api_code, copy.response_id, copy.body) == (
        409,
        "MissingParameter",
        "ABCDE",
        raw(body),
    )
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    "error",
    [
        ResponseError("HTTP 200 answer is not JSON", status=200, body=b"<x>", attempts=2),
        ConnectError("POST /v2/x failed", attempts=3),
        RateLimitError("slow", status=429, retry_after=5.0, body=b"{}", attempts=4),
        TokenExpiredError("token_expired", status=403, api_code="FORBIDDEN", attempts=1),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_error_kind_pickles(error: VerifikError) -> None:
    """Errors of every family survive pickling with their class, message and fields."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__
    assert copy.attempts == error.attempts
