"""Every success variant the API answers with, and the pure parsing behind it."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from verifik_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CompareLivenessRequest,
    CompareLivenessResult,
    ConflictError,
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
    Verdict,
    VerifikClient,
)
from verifik_async._protocol import (
    Answer,
    error_for,
    missing_fields,
    parse_compare_liveness,
    parse_retry_after,
)
from verifik_async.testing import EmulatorServer, Fault, liveness_score

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
STAMP = "2024-05-06T07:08:09.123Z"
JSON = {"content-type": "application/json; charset=utf-8"}


def seed_body(
    score: Any = 0.93, liveness: Any = 0.81, min_score: Any = 0.6, passed: bool = True
) -> dict[str, Any]:
    """The seed's 200 body, with the scores given."""
    return {
        "data": {
            "comparison": {
                "client": "65a0c0ffee0000000000abcd",
                "type": "compareLive",
                "search_mode": "FAST",
                "gallery": [],
                "probe": [],
                "status": "success",
                "_id": "6650c0ffee0000000000beef",
                "comparedAt": STAMP,
                "result": {"score": score},
                "updatedAt": STAMP,
                "createdAt": STAMP,
                "__v": 0,
            },
            "liveness": {
                "client": "65a0c0ffee0000000000abcd",
                "type": "liveness",
                "status": "success",
                "search_mode": "FAST",
                "os": "DESKTOP",
                "liveness_min_score": 0.6,
                "_id": "6650c0ffee0000000000f00d",
                "result": {"liveness_score": liveness, "passed": passed, "min_score": min_score},
                "updatedAt": STAMP,
                "createdAt": STAMP,
                "__v": 0,
            },
        },
        "signature": {"dateTime": "May 6, 2024 7:08 AM", "message": "Certified by Verifik.co"},
        "id": "ABRCB",
    }


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    """A hand-made Answer; dicts and lists become JSON, str and bytes are sent as is."""
    raw = (
        body
        if isinstance(body, bytes)
        else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    )
    return Answer(status, JSON if headers is None else headers, raw)


@pytest.fixture
def request_(png: Png) -> CompareLivenessRequest:
    """A request whose result the pure parser can build (images are never read)."""
    return CompareLivenessRequest(png(1), [png(2)], compare_min_score=0.8)


async def call_with(
    png: Png, body: Any, *, server_kwargs: dict[str, Any] | None = None
) -> tuple[CompareLivenessResult, EmulatorServer]:
    """Serve ``body`` as a 200 once and return the parsed result."""
    async with (
        EmulatorServer(**(server_kwargs or {})) as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.inject(Fault.respond(200, body))
        result = await client.compare_with_liveness(png(1), [png(2)], compare_min_score=0.8)
    return result, server


# -- through the emulator ---------------------------------------------------------


@pytest.fixture(params=["number", "string", "percent"])
async def styled(request: pytest.FixtureRequest) -> AsyncIterator[EmulatorServer]:
    """An emulator writing scores as numbers, strings or percentages."""
    async with EmulatorServer(score_style=request.param) as server:
        yield server


async def test_every_score_style_is_normalised(styled: EmulatorServer, png: Png) -> None:
    """Scores sent as numbers, strings or percentages all parse to the same floats in [0, 1]."""
    probe = png(11)
    styled.script(probe, score=0.9312, liveness=0.77)
    async with VerifikClient(token=styled.token, base_url=styled.base_url) as client:
        result = await client.compare_with_liveness(probe, [png(12)], liveness_min_score=0.7)
    assert result.score == pytest.approx(0.9312)
    assert result.liveness_score == pytest.approx(0.77)
    assert result.liveness is not None
    assert result.liveness.min_score == pytest.approx(0.7)
    assert result.live
    assert result.verified
    assert result.verdict is Verdict.VERIFIED
    assert 0 <= result.score <= 1
    expected_raw = {"number": 0.9312, "string": "0.9312", "percent": 93.12}
    assert result.comparison.raw_score == expected_raw[styled.state.score_style]


async def test_identical_images_score_one_in_every_style(styled: EmulatorServer, png: Png) -> None:
    """The same image scores exactly 1.0 whether written 1, "1" or 100."""
    async with VerifikClient(token=styled.token, base_url=styled.base_url) as client:
        result = await client.compare_with_liveness(png(13), [png(13)])
    assert result.score == 1.0
    assert result.liveness_score == pytest.approx(liveness_score(png(13)))


@pytest.mark.parametrize("skipped", ["missing", "null"])
async def test_skipped_liveness_missing_or_null(png: Png, skipped: str) -> None:
    """Liveness absent or null both give liveness None and verdict NOT_MATCHED."""
    probe = png(14)
    async with (
        EmulatorServer(skipped_liveness=skipped) as server,  # type: ignore[arg-type]
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.script(probe, score=0.4)
        result = await client.compare_with_liveness(probe, [png(15)], compare_min_score=0.7)
    assert ("liveness" in result.raw["data"]) is (skipped == "null")
    assert result.liveness is None
    assert result.liveness_score is None
    assert not result.live
    assert not result.verified
    assert result.verdict is Verdict.NOT_MATCHED


@pytest.mark.parametrize("style", ["number", "string", "percent"])
@pytest.mark.parametrize(("live", "passes"), [(0.6, False), (0.61, True), (0.59, False)])
async def test_liveness_passes_only_strictly_above_min_score(
    png: Png, style: str, live: float, passes: bool
) -> None:
    """liveness_score equal to min_score fails; strictly above passes, in every score style."""
    probe = png(16)
    async with (
        EmulatorServer(score_style=style) as server,  # type: ignore[arg-type]
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.script(probe, score=0.99, liveness=live)
        result = await client.compare_with_liveness(probe, [png(17)], liveness_min_score=0.6)
    assert result.liveness is not None
    assert result.liveness.passed is passes
    assert result.live is passes
    assert result.verdict is (Verdict.VERIFIED if passes else Verdict.NOT_LIVE)


async def test_client_rule_overrides_a_lenient_server_flag(png: Png) -> None:
    """A server saying passed=true at liveness_score == min_score is not live to the client."""
    result, _ = await call_with(png, seed_body(liveness=0.6, min_score=0.6, passed=True))
    assert result.liveness is not None
    assert result.liveness.server_passed is True
    assert result.liveness.passed is False
    assert result.verdict is Verdict.NOT_LIVE


async def test_timestamps_are_datetimes(png: Png) -> None:
    """createdAt, updatedAt and comparedAt parse to aware UTC datetimes."""
    result, _ = await call_with(png, seed_body())
    expected = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert result.comparison.compared_at == expected
    assert result.comparison.created_at == expected
    assert result.comparison.updated_at == expected
    assert result.liveness is not None
    assert result.liveness.created_at == expected
    assert result.liveness.updated_at == expected
    assert expected.utcoffset() == timedelta(0)


async def test_emulator_timestamps_are_recent(png: Png) -> None:
    """The emulator's own timestamps parse to datetimes close to now."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        result = await client.compare_with_liveness(png(1), [png(1)])
    assert result.comparison.created_at is not None
    assert abs(result.comparison.created_at - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    "stamp",
    ["2024-05-06T07:08:09.123Z", "2024-05-06T07:08:09.123+00:00", "2024-05-06T07:08:09.123"],
)
def test_timestamps_are_always_aware_utc(request_: CompareLivenessRequest, stamp: str) -> None:
    """Timestamps with Z, an offset or none at all parse to the same aware UTC datetime."""
    body = seed_body()
    body["data"]["comparison"]["createdAt"] = stamp
    result = parse_compare_liveness(answer(body), request_)
    assert result.comparison.created_at == datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert result.comparison.created_at.tzinfo is not None


async def test_odd_timestamps_become_none(png: Png) -> None:
    """Unreadable timestamps are None rather than an error: parsing is lenient there."""
    body = seed_body()
    body["data"]["comparison"]["createdAt"] = "yesterday"
    body["data"]["comparison"]["updatedAt"] = 1714979289
    del body["data"]["comparison"]["comparedAt"]
    result, _ = await call_with(png, body)
    assert result.comparison.created_at is None
    assert result.comparison.updated_at is None
    assert result.comparison.compared_at is None
    assert result.score == 0.93


async def test_extra_fields_are_ignored(png: Png) -> None:
    """Unknown keys anywhere in the body are ignored and kept in raw."""
    body = seed_body()
    body["extra"] = {"anything": [1, 2]}
    body["data"]["newThing"] = True
    body["data"]["comparison"]["faces"] = [{"x": 1}]
    body["data"]["comparison"]["result"]["threshold"] = 0.5
    body["data"]["liveness"]["result"]["extra"] = "yes"
    result, _ = await call_with(png, body)
    assert result.score == 0.93
    assert result.liveness_score == 0.81
    assert result.raw["extra"] == {"anything": [1, 2]}
    assert result.raw == body


async def test_all_fields_are_parsed(png: Png) -> None:
    """Every field of the seed body lands in the result's records."""
    result, _ = await call_with(png, seed_body())
    assert result.response_id == "ABRCB"
    assert result.signature is not None
    assert result.signature.date_time == "May 6, 2024 7:08 AM"
    assert result.comparison.id == "6650c0ffee0000000000beef"
    assert result.comparison.client == "65a0c0ffee0000000000abcd"
    assert result.comparison.search_mode == "FAST"
    assert result.liveness is not None
    assert result.liveness.id == "6650c0ffee0000000000f00d"
    assert result.liveness.liveness_min_score == 0.6
    assert result.liveness.status == "success"
    assert result.compare_min_score == 0.8


async def test_flat_variants_are_read(png: Png) -> None:
    """A bare ``{score}`` comparison and a flat liveness record are read too."""
    body = {
        "data": {
            "comparison": {"score": "88%"},
            "liveness": {"liveness_score": 0.7, "min_score": 0.6, "passed": True},
        }
    }
    result, _ = await call_with(png, body)
    assert result.score == pytest.approx(0.88)
    assert result.liveness_score == 0.7
    assert result.live
    assert result.response_id is None
    assert result.signature is None


BROKEN_200: list[tuple[str, Any]] = [
    ("empty object", {}),
    ("no data", {"signature": {}, "id": "ABCDE"}),
    ("data null", {"data": None}),
    ("data a list", {"data": [1, 2]}),
    ("data a string", {"data": "ok"}),
    ("no comparison", {"data": {"liveness": None}}),
    ("comparison null", {"data": {"comparison": None}}),
    ("comparison a list", {"data": {"comparison": [0.9]}}),
    ("no score", {"data": {"comparison": {"result": {}}}}),
    ("score null", {"data": {"comparison": {"result": {"score": None}}}}),
    ("score text", {"data": {"comparison": {"result": {"score": "high"}}}}),
    ("score negative", {"data": {"comparison": {"result": {"score": -0.1}}}}),
    ("score over 100%", {"data": {"comparison": {"result": {"score": 250}}}}),
    ("score bool", {"data": {"comparison": {"result": {"score": True}}}}),
    ("score a dict", {"data": {"comparison": {"result": {"score": {"v": 1}}}}}),
    ("score NaN text", {"data": {"comparison": {"result": {"score": "NaN"}}}}),
    ("liveness a string", {"data": {"comparison": {"result": {"score": 0.9}}, "liveness": "x"}}),
    (
        "liveness without score",
        {"data": {"comparison": {"result": {"score": 0.9}}, "liveness": {"result": {}}}},
    ),
    ("body a list", [{"data": {}}]),
    ("body a number", 42),
]


@pytest.mark.parametrize("body", [b for _, b in BROKEN_200], ids=[n for n, _ in BROKEN_200])
async def test_200_without_what_it_needs_is_a_response_error(png: Png, body: Any) -> None:
    """A 200 missing or garbling what the result needs raises ResponseError with the raw body."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.inject(Fault.respond(200, body))
        with pytest.raises(ResponseError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    error = caught.value
    assert error.status == 200
    assert json.loads(error.body) == body
    assert error.attempts == 1
    assert not error.retryable
    assert len(server.requests) == 1
    assert "Traceback" not in str(error)
    assert not isinstance(error.__cause__, KeyError | TypeError)


async def test_200_that_is_not_json_is_a_retryable_response_error(png: Png) -> None:
    """A 200 whose body is not JSON at all is a retryable ResponseError carrying the body."""
    async with (
        EmulatorServer() as server,
        VerifikClient(
            token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
        ) as client,
    ):
        server.inject(Fault.respond(200, "<html>maintenance</html>"))
        with pytest.raises(ResponseError) as caught:
            await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.retryable
    assert caught.value.body == b"<html>maintenance</html>"


# -- pure: _protocol without a server ---------------------------------------------


def test_parse_seed_body(request_: CompareLivenessRequest) -> None:
    """parse_compare_liveness reads the seed body into a result without any I/O."""
    result = parse_compare_liveness(answer(seed_body()), request_)
    assert result.score == 0.93
    assert result.liveness_score == 0.81
    assert result.matched
    assert result.verified
    assert result.attempts == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.93, 0.93),
        (1, 1.0),
        (0, 0.0),
        ("0.93", 0.93),
        (" 0.5 ", 0.5),
        (93.0, 0.93),
        ("93", 0.93),
        ("93%", 0.93),
        ("93.5 %", 0.935),
        (100, 1.0),
        ("100%", 1.0),
        ("1%", 0.01),
    ],
)
def test_score_variants(request_: CompareLivenessRequest, raw: Any, expected: float) -> None:
    """Scores as numbers, numeric strings and percentages normalise to [0, 1], raw kept."""
    result = parse_compare_liveness(answer(seed_body(score=raw)), request_)
    assert result.score == pytest.approx(expected)
    assert result.comparison.raw_score == raw


def test_attempts_come_from_the_answer(request_: CompareLivenessRequest) -> None:
    """The result's attempts is the answer's attempt number."""
    body = json.dumps(seed_body()).encode()
    result = parse_compare_liveness(Answer(200, JSON, body, attempts=3), request_)
    assert result.attempts == 3


def test_matched_uses_the_default_min_score_when_unset(png: Png) -> None:
    """Without compare_min_score, matched compares against 0.85."""
    request = CompareLivenessRequest(png(1), [png(2)])
    assert parse_compare_liveness(answer(seed_body(score=0.86)), request).matched
    assert not parse_compare_liveness(answer(seed_body(score=0.84)), request).matched


def test_result_is_immutable_and_picklable(request_: CompareLivenessRequest) -> None:
    """A result is frozen and survives pickling with the same values."""
    result = parse_compare_liveness(answer(seed_body()), request_)
    with pytest.raises(AttributeError):
        result.attempts = 2  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    assert again.raw == result.raw


@pytest.mark.parametrize("body", [b for _, b in BROKEN_200], ids=[n for n, _ in BROKEN_200])
def test_pure_parse_of_broken_bodies(request_: CompareLivenessRequest, body: Any) -> None:
    """parse_compare_liveness raises ResponseError (never KeyError/cattrs) on a broken 200."""
    raw = json.dumps(body).encode()
    with pytest.raises(ResponseError) as caught:
        parse_compare_liveness(Answer(200, JSON, raw), request_)
    assert caught.value.body == raw
    assert caught.value.status == 200


def test_pure_parse_of_an_error_status(request_: CompareLivenessRequest) -> None:
    """parse_compare_liveness on a 409 raises the typed API error, not ResponseError."""
    body = {"code": "MissingParameter", "message": "missing os\n"}
    with pytest.raises(MissingParameterError) as caught:
        parse_compare_liveness(answer(body, 409), request_)
    assert caught.value.fields == ("os",)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"error": "Invalid request"}, BadRequestError),
        (400, {"code": "ERROR", "message": "invalid_otp"}, BadRequestError),
        (401, {"code": "UNAUTHORIZED", "message": "Authentication required"}, AuthenticationError),
        (403, {"code": "Forbidden", "message": "Access forbidden"}, PermissionDeniedError),
        (403, {"code": "FORBIDDEN", "message": "token_expired"}, TokenExpiredError),
        (404, {"code": "NotFound", "message": "Record not found."}, NotFoundError),
        (
            409,
            {"code": "MissingParameter", "message": "missing a\n. missing b\n"},
            MissingParameterError,
        ),
        (409, {"code": "ERROR", "message": "liveness_failed"}, LivenessFailedError),
        (409, {"code": "ERROR", "message": "409:duplicated_person"}, DuplicatedPersonError),
        (409, {"code": "ERROR", "message": "anything else"}, ConflictError),
        (412, {"code": "ERROR", "message": "only_images_in_base64"}, InvalidImageError),
        (429, {"code": "TooManyRequests", "message": "x"}, RateLimitError),
        (500, {"code": "ERROR", "message": "internal_error"}, ServerError),
        (502, "<html>502 Bad Gateway</html>", ServerError),
        (503, "", ServerError),
        (504, "", ServerError),
        (404, "<html>Not Found</html>", NotFoundError),
        (401, "Unauthorized", AuthenticationError),
        (418, {"code": "TEAPOT", "message": "x"}, APIError),
    ],
)
def test_error_for_every_status(status: int, body: Any, cls: type[APIError]) -> None:
    """error_for maps each status and body to its class, carrying status and raw body."""
    given = answer(body, status, {"content-type": "text/html"} if isinstance(body, str) else JSON)
    error = error_for(given)
    assert type(error) is cls
    assert isinstance(error, APIError)
    assert error.status == status
    assert error.body == given.body
    assert error.message


def test_error_for_an_error_envelope() -> None:
    """error_for reads code, message and id from the ``{"error", "message"}`` and id forms."""
    error = error_for(answer({"error": "E_BAD", "message": "bad thing", "id": "QWERT"}, 400))
    assert isinstance(error, APIError)
    assert (error.api_code, error.message, error.response_id) == ("E_BAD", "bad thing", "QWERT")
    only_error = error_for(answer({"error": "Invalid request"}, 400))
    assert isinstance(only_error, APIError)
    assert (only_error.api_code, only_error.message) == (None, "Invalid request")


def test_error_for_an_empty_body_names_status_and_size() -> None:
    """An empty error body still gives a readable message naming the status phrase."""
    error = error_for(Answer(503, {}, b""))
    assert isinstance(error, ServerError)
    assert "Service Unavailable" in error.message
    assert "0 bytes" in error.message


def test_error_for_retry_after_header() -> None:
    """error_for reads Retry-After on 429 and 5xx."""
    error = error_for(Answer(429, {"retry-after": "3"}, b""))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3.0
    server = error_for(Answer(503, {"retry-after": "0"}, b""))
    assert isinstance(server, ServerError)
    assert server.retry_after == 0.0


def test_error_for_redirect_is_response_error() -> None:
    """error_for on a 3xx gives a ResponseError, not an APIError."""
    error = error_for(Answer(301, {}, b"moved"))
    assert isinstance(error, ResponseError)
    assert error.status == 301


NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Mon, 06 May 2024 12:00:30 GMT", 30.0),
        ("Mon, 06 May 2024 11:59:00 GMT", 0.0),
        ("Monday, 06-May-24 12:01:00 GMT", 60.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After in seconds or as an HTTP date becomes seconds from now; garbage is None."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ("missing search_mode\n", ("search_mode",)),
        ("missing a\n. missing b\n", ("a", "b")),
        ("missing probe\n. missing probe\n", ("probe",)),
        ('"search_mode" is required', ("search_mode",)),
        ('"liveness_min_score" must be greater than or equal to 0.52', ("liveness_min_score",)),
        ('"compare_min_score" must be less than or equal to 0.95', ("compare_min_score",)),
        ('"gallery[0]" is not allowed to be empty', ("gallery[0]",)),
        ("", ()),
        ("something else", ()),
    ],
)
def test_missing_fields(message: str, fields: tuple[str, ...]) -> None:
    """missing_fields reads field names from every MissingParameter form, each once, in order."""
    assert missing_fields(message) == fields


def test_parse_does_not_mutate_the_body(request_: CompareLivenessRequest) -> None:
    """Parsing leaves the decoded body as the server sent it (raw is faithful)."""
    body = seed_body(score="93%")
    result = parse_compare_liveness(answer(copy.deepcopy(body)), request_)
    assert result.raw == body
