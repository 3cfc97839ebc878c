"""The emulator speaks Verifik's wire format, over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from verifik_async.testing import (
    EmulatorServer,
    EmulatorState,
    Fault,
    FaultKind,
    RecordedRequest,
    comparison_score,
    liveness_score,
    make_emulator_app,
    make_jwt,
    probe_key,
    serve,
)

pytestmark = pytest.mark.anyio

PATH = "face-recognition/compare-with-liveness"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
SIGNATURE_TIME = re.compile(r"^[A-Z][a-z]+ \d{1,2}, \d{4} \d{1,2}:\d{2} (AM|PM)$")

# Key order of the seed's 200 example, field by field.
COMPARISON_KEYS = [
    "client",
    "type",
    "search_mode",
    "gallery",
    "probe",
    "status",
    "_id",
    "comparedAt",
    "result",
    "updatedAt",
    "createdAt",
    "__v",
]
LIVENESS_KEYS = [
    "client",
    "type",
    "status",
    "search_mode",
    "os",
    "liveness_min_score",
    "_id",
    "result",
    "updatedAt",
    "createdAt",
    "__v",
]


def png(rgb: tuple[int, int, int], size: int = 4) -> bytes:
    """Build a tiny solid-colour PNG (different colours give different bytes)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    pixels = (b"\x00" + bytes(rgb) * size) * size
    image = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )
    assert len(image) >= 64
    return image


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode("ascii")


RED = png((255, 0, 0))
GREEN = png((0, 255, 0))
COLOURS = [png((shade, 40, 90)) for shade in range(0, 256, 5)]


def find_pair(match: bool) -> tuple[bytes, bytes]:
    """Return two different images whose emulator score is >= 0.85 iff ``match``."""
    for other in COLOURS:
        if (comparison_score(RED, other) >= 0.85) == match:
            return RED, other
    raise AssertionError("no such pair among the test colours")


def request_body(
    probe: bytes = RED, gallery: tuple[bytes, ...] = (GREEN,), **extra: Any
) -> dict[str, Any]:
    return {
        "os": "DESKTOP",
        "probe": b64(probe),
        "gallery": [b64(image) for image in gallery],
        "search_mode": "FAST",
        **extra,
    }


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer() as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Reply:
    """Status, headers and raw body of one answer."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    session: aiohttp.ClientSession,
    server: EmulatorServer,
    body: Any = None,
    *,
    token: str | None = "server",
    path: str = PATH,
    data: bytes | None = None,
    method: str = "POST",
    timeout: float | None = None,
) -> Reply:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {server.token if token == 'server' else token}"
    if data is None and body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    async with session.request(
        method,
        server.base_url + path,
        data=data,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        return Reply(response.status, dict(response.headers), await response.read())


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (state of the server, not an event we could await) until true."""
    deadline = anyio.current_time() + timeout
    while not predicate():
        if anyio.current_time() > deadline:
            raise AssertionError("condition not met in time")
        await anyio.sleep(0.01)


# -- the 200 answer ---------------------------------------------------------------


async def test_success_shape_matches_seed(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """A 200 has exactly the seed's envelope, keys, types and formats."""
    reply = await post(session, server, request_body(gallery=(RED,), search_mode="ACCURATE"))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    body = reply.json()
    assert list(body) == ["data", "signature", "id"]
    assert re.fullmatch(r"[A-Z]{5}", body["id"])
    assert body["signature"]["message"] == "Certified by Verifik.co"
    assert SIGNATURE_TIME.match(body["signature"]["dateTime"])
    assert list(body["data"]) == ["comparison", "liveness"]

    comparison = body["data"]["comparison"]
    assert list(comparison) == COMPARISON_KEYS
    assert OBJECT_ID.match(comparison["client"])
    assert comparison["type"] == "compareLive"
    assert comparison["search_mode"] == "ACCURATE"
    assert comparison["gallery"] == []
    assert comparison["probe"] == []
    assert comparison["status"] == "success"
    assert OBJECT_ID.match(comparison["_id"])
    for stamp in ("comparedAt", "updatedAt", "createdAt"):
        assert ISO_MS.match(comparison[stamp])
    assert comparison["result"] == {"score": 1}
    assert comparison["__v"] == 0

    liveness = body["data"]["liveness"]
    assert list(liveness) == LIVENESS_KEYS
    assert liveness["client"] == comparison["client"]
    assert liveness["type"] == "liveness"
    assert liveness["status"] == "success"
    assert liveness["search_mode"] == "ACCURATE"
    assert liveness["os"] == "DESKTOP"
    assert liveness["liveness_min_score"] == 0.6
    assert OBJECT_ID.match(liveness["_id"])
    assert liveness["_id"] != comparison["_id"]
    assert list(liveness["result"]) == ["liveness_score", "passed", "min_score"]
    expected = liveness_score(RED)
    assert liveness["result"] == {
        "liveness_score": expected,
        "passed": expected > 0.6,
        "min_score": 0.6,
    }
    for stamp in ("updatedAt", "createdAt"):
        assert ISO_MS.match(liveness[stamp])
    assert liveness["__v"] == 0


async def test_same_image_scores_one(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """A gallery image byte-identical to the probe scores exactly 1."""
    reply = await post(session, server, request_body(probe=GREEN, gallery=(GREEN,)))
    assert reply.json()["data"]["comparison"]["result"]["score"] == 1


async def test_scores_are_deterministic_and_symmetric(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """A pair scores the same every time and in either order, as comparison_score says."""
    first = await post(session, server, request_body(probe=RED, gallery=(GREEN,)))
    again = await post(session, server, request_body(probe=RED, gallery=(GREEN,)))
    swapped = await post(session, server, request_body(probe=GREEN, gallery=(RED,)))
    scores = [r.json()["data"]["comparison"]["result"]["score"] for r in (first, again, swapped)]
    assert scores == [comparison_score(RED, GREEN)] * 3
    assert 0.10 <= scores[0] < 0.97


async def test_best_score_over_gallery_is_reported(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """The reported score is the best over all gallery images."""
    gallery = (GREEN, COLOURS[3], RED)
    reply = await post(session, server, request_body(probe=RED, gallery=gallery))
    assert reply.json()["data"]["comparison"]["result"]["score"] == 1


def test_about_half_of_random_pairs_match() -> None:
    """The score mapping puts roughly half of unrelated pairs at or above 0.85."""
    images = [bytes([i, j]) * 40 for i in range(20) for j in range(10)]
    scores = [comparison_score(a, b) for a, b in itertools.pairwise(images)]
    share = sum(score >= 0.85 for score in scores) / len(scores)
    assert 0.35 < share < 0.65
    assert all(0.10 <= score < 0.97 for score in scores)
    assert all(0.30 <= liveness_score(image) < 1.0 for image in images)


async def test_liveness_missing_below_compare_min_score(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Below compare_min_score there is no liveness; at or above it liveness runs."""
    probe, low = find_pair(match=False)
    below = await post(session, server, request_body(probe, (low,), compare_min_score=0.85))
    assert below.status == 200
    assert "liveness" not in below.json()["data"]
    _, high = find_pair(match=True)
    above = await post(session, server, request_body(probe, (high,), compare_min_score=0.85))
    assert above.json()["data"]["liveness"]["type"] == "liveness"
    # Without compare_min_score liveness always runs.
    absent = await post(session, server, request_body(probe, (low,)))
    assert "liveness" in absent.json()["data"]


async def test_skipped_liveness_can_be_null(session: aiohttp.ClientSession) -> None:
    """With skipped_liveness="null" a skipped liveness is written as null."""
    async with EmulatorServer(skipped_liveness="null") as server:
        server.script(RED, score=0.7)
        reply = await post(session, server, request_body(compare_min_score=0.9))
    assert reply.json()["data"]["liveness"] is None


async def test_script_overrides_scores_and_pass_is_strict(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """script() fixes score and liveness; passed needs liveness strictly above the minimum."""
    server.script(b64(RED), score=0.9, liveness=0.7)
    reply = await post(session, server, request_body(liveness_min_score=0.7))
    data = reply.json()["data"]
    assert data["comparison"]["result"]["score"] == 0.9
    assert data["liveness"]["result"] == {"liveness_score": 0.7, "passed": False, "min_score": 0.7}
    assert data["liveness"]["liveness_min_score"] == 0.7
    server.script(RED, liveness=0.71)
    reply = await post(session, server, request_body(liveness_min_score=0.7))
    assert reply.json()["data"]["liveness"]["result"]["passed"] is True


@pytest.mark.parametrize(
    ("style", "score", "live", "minimum"),
    [
        ("number", 0.93, 0.77, 0.7),
        ("string", "0.93", "0.77", "0.7"),
        ("percent", 93.0, 77.0, 70.0),
    ],
)
async def test_score_styles(
    session: aiohttp.ClientSession, style: Any, score: Any, live: Any, minimum: Any
) -> None:
    """score_style writes score, liveness_score and min_score as numbers, strings or percents."""
    async with EmulatorServer(score_style=style) as server:
        server.script(RED, score=0.93, liveness=0.77)
        reply = await post(session, server, request_body(liveness_min_score=0.7))
    data = reply.json()["data"]
    assert data["comparison"]["result"]["score"] == score
    assert type(data["comparison"]["result"]["score"]) is type(score)
    assert data["liveness"]["result"] == {
        "liveness_score": live,
        "passed": True,
        "min_score": minimum,
    }


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status", "error"),
    [
        (None, 401, {"code": "UNAUTHORIZED", "message": "Authentication required"}),
        ("", 401, {"code": "UNAUTHORIZED", "message": "Authentication required"}),
        ("not-our-token", 403, {"code": "Forbidden", "message": "Access forbidden"}),
        (
            make_jwt(time.time() + 3600),
            403,
            {"code": "Forbidden", "message": "Access forbidden"},
        ),
        (make_jwt(time.time() - 60), 403, {"code": "FORBIDDEN", "message": "token_expired"}),
    ],
    ids=["missing", "empty", "foreign", "foreign-jwt", "expired"],
)
async def test_auth_errors(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    token: str | None,
    status: int,
    error: dict[str, str],
) -> None:
    """Missing bearer → 401; expired JWT → 403 token_expired; other tokens → 403 Forbidden."""
    reply = await post(session, server, request_body(), token=token)
    assert (reply.status, reply.json()) == (status, error)


async def test_non_bearer_scheme_is_unauthorized(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """An Authorization header with another scheme is treated as missing (401)."""
    async with session.post(
        server.base_url + PATH,
        json=request_body(),
        headers={"Authorization": f"Basic {server.token}"},
    ) as response:
        assert response.status == 401


async def test_given_token_is_accepted_and_default_is_a_jwt(
    session: aiohttp.ClientSession,
) -> None:
    """A token passed to the server is the one accepted; the default is a 30-day JWT."""
    async with EmulatorServer(token="secret-token") as server:
        assert server.token == "secret-token"
        assert (await post(session, server, request_body())).status == 200
    default = EmulatorServer().token
    payload = default.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert 29 * 86400 < claims["exp"] - time.time() <= 30 * 86400
    assert set(claims) >= {"_id", "exp", "iat"}


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (("search_mode",), "missing search_mode\n"),
        (("probe",), "missing probe\n"),
        (("probe", "gallery"), "missing probe\n. missing gallery\n"),
        (
            ("os", "probe", "gallery", "search_mode"),
            "missing os\n. missing probe\n. missing gallery\n. missing search_mode\n",
        ),
    ],
)
async def test_missing_parameters(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    drop: tuple[str, ...],
    message: str,
) -> None:
    """Missing required fields give 409 MissingParameter, several joined with ". "."""
    body = {k: v for k, v in request_body().items() if k not in drop}
    reply = await post(session, server, body)
    assert reply.status == 409
    assert reply.json() == {"code": "MissingParameter", "message": message}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"os": "WINDOWS"}, '"os" must be one of [DESKTOP, IOS, ANDROID]'),
        ({"search_mode": "fast"}, '"search_mode" must be one of [FAST, ACCURATE]'),
        ({"compare_min_score": 0.5}, '"compare_min_score" must be greater than or equal to 0.67'),
        ({"compare_min_score": 0.96}, '"compare_min_score" must be less than or equal to 0.95'),
        ({"compare_min_score": "0.8"}, '"compare_min_score" must be a number'),
        ({"liveness_min_score": 0.5}, '"liveness_min_score" must be greater than or equal to 0.52'),
        ({"liveness_min_score": 1.5}, '"liveness_min_score" must be less than or equal to 1'),
        ({"liveness_min_score": True}, '"liveness_min_score" must be a number'),
        ({"gallery": []}, '"gallery" must contain at least 1 items'),
        ({"gallery": "abc"}, '"gallery" must be an array'),
        ({"probe": 12345}, '"probe" must be a string'),
        ({"cropFace": "yes"}, '"cropFace" must be a boolean'),
    ],
)
async def test_value_errors(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    change: dict[str, Any],
    message: str,
) -> None:
    """Bad values give 409 MissingParameter with Joi's message for the first bad field."""
    reply = await post(session, server, {**request_body(), **change})
    assert reply.status == 409
    assert reply.json() == {"code": "MissingParameter", "message": message}


async def test_bounds_are_inclusive(server: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """The range ends themselves (0.67, 0.95, 0.52, 1) are accepted."""
    for compare, live in ((0.67, 0.52), (0.95, 1)):
        body = request_body(compare_min_score=compare, liveness_min_score=live, cropFace=True)
        assert (await post(session, server, body)).status == 200


@pytest.mark.parametrize(
    "change",
    [
        {"probe": "not base64!"},
        {"probe": b64(RED)[:-2]},
        {"probe": b64(b"x" * 63)},
        {"probe": "data:image/png;base64," + b64(RED)},
        {"gallery": [b64(GREEN), "%%%"]},
        {"gallery": [b64(b"y" * 10)]},
    ],
    ids=["garbage", "bad-padding", "too-short", "data-uri", "gallery-garbage", "gallery-short"],
)
async def test_bad_images(
    server: EmulatorServer, session: aiohttp.ClientSession, change: dict[str, Any]
) -> None:
    """Images that are not strict base64 of >= 64 bytes give 412 only_images_in_base64."""
    reply = await post(session, server, {**request_body(), **change})
    assert reply.status == 412
    assert reply.json() == {"code": "ERROR", "message": "only_images_in_base64"}


@pytest.mark.parametrize("data", [b"[1, 2]", b"{not json", b"", b'"text"'])
async def test_non_object_body_is_invalid_request(
    server: EmulatorServer, session: aiohttp.ClientSession, data: bytes
) -> None:
    """A body that is not a JSON object gives 400 {"error": "Invalid request"}."""
    reply = await post(session, server, data=data)
    assert reply.status == 400
    assert reply.json() == {"error": "Invalid request"}


async def test_unknown_path_and_wrong_method(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Unknown paths give 404 NotFound; a GET on the endpoint gives 405."""
    reply = await post(session, server, request_body(), path="face-recognition/nope")
    assert reply.status == 404
    assert reply.json() == {"code": "NotFound", "message": "Record not found."}
    reply = await post(session, server, method="GET")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


# -- faults -------------------------------------------------------------------------


async def test_delay_fault_makes_the_client_time_out(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Fault.delay outlasts a short client timeout; the request is logged unanswered."""
    server.inject(Fault.delay(10))
    with pytest.raises(TimeoutError):
        await post(session, server, request_body(), timeout=0.2)
    await wait_until(lambda: server.requests[0].answered_at is not None)
    assert server.requests[0].status is None
    assert server.requests[0].fault == Fault.delay(10)


async def test_short_delay_then_normal_answer(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """A short Fault.delay answers normally after the delay."""
    server.inject(Fault.delay(0.2))
    started = time.monotonic()
    reply = await post(session, server, request_body())
    assert reply.status == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("fault", "status", "body", "retry_after"),
    [
        (
            Fault.status(429),
            429,
            b'{"code":"TooManyRequests","message":"rate limit exceeded"}',
            None,
        ),
        (Fault.status(500), 500, b'{"code":"ERROR","message":"internal_error"}', None),
        (Fault.status(503, retry_after="2"), 503, b"", "2"),
        (
            Fault.status(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
            503,
            b"",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ),
        (Fault.status(504), 504, b"", None),
        (Fault.status(400, body={"error": "x"}), 400, b'{"error":"x"}', None),
        (Fault.rate_limited(), 429, None, "1"),
        (Fault.rate_limited(1.5), 429, None, "1.5"),
        (Fault.rate_limited(120.0), 429, None, "120"),
    ],
    ids=[
        "429",
        "500",
        "503-seconds",
        "503-date",
        "504",
        "400-body",
        "rate-1",
        "rate-1.5",
        "rate-120",
    ],
)
async def test_status_faults(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    body: bytes | None,
    retry_after: str | None,
) -> None:
    """Status faults answer their code, default body and verbatim Retry-After."""
    server.inject(fault)
    reply = await post(session, server, request_body())
    assert reply.status == status
    if body is not None:
        assert reply.body == body
    assert reply.headers.get("Retry-After") == retry_after
    if reply.body.startswith(b"{"):
        assert reply.headers["Content-Type"].startswith("application/json")
    assert server.requests[0].fault == fault
    assert server.requests[0].status == status


async def test_html_502(server: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """Fault.html_502 answers 502 with nginx's text/html page."""
    server.inject(Fault.html_502())
    reply = await post(session, server, request_body())
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "text/html"
    assert b"<h1>502 Bad Gateway</h1>" in reply.body


async def test_reset_is_a_connection_error(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Fault.reset drops the connection: the client gets a connection error, nothing else."""
    server.inject(Fault.reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, server, request_body())
    assert server.requests[0].status is None
    assert server.requests[0].fault == Fault.reset()
    # The server carries on normally afterwards.
    assert (await post(session, server, request_body())).status == 200


async def test_malformed_json(server: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """Fault.malformed_json answers 200 application/json that does not parse."""
    server.inject(Fault.malformed_json())
    reply = await post(session, server, request_body())
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError, match="Expecting value"):
        reply.json()


async def test_truncated_json(server: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """Fault.truncated_json sends half the real body with a matching Content-Length."""
    full = await post(session, server, request_body())
    server.inject(Fault.truncated_json())
    reply = await post(session, server, request_body())
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    assert len(reply.body) == len(full.body) // 2
    assert reply.body.startswith(b'{"data":{"comparison":{')
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        reply.json()


@pytest.mark.parametrize(
    ("status", "body", "raw"),
    [
        (400, {"error": "Invalid request"}, b'{"error":"Invalid request"}'),
        (409, {"error": "boom", "message": "liveness_failed"}, None),
        (409, {"code": "ERROR", "message": "409:duplicated_person"}, None),
        (503, b"", b""),
        (500, "plain text", b"plain text"),
    ],
)
async def test_respond_any_envelope(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    status: int,
    body: Any,
    raw: bytes | None,
) -> None:
    """Fault.respond sends any status and body verbatim (error envelope variants)."""
    server.inject(Fault.respond(status, body, headers={"X-Test": "1"}))
    reply = await post(session, server, request_body())
    assert reply.status == status
    assert reply.headers["X-Test"] == "1"
    if raw is None:
        assert reply.json() == body
    else:
        assert reply.body == raw
    if not raw and raw is not None:
        assert "Content-Type" not in reply.headers


async def test_injected_faults_are_fifo_and_path_filtered(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """inject() hands faults out in order, one per request; path= only hits that path."""
    server.inject(Fault.status(500), path="face-recognition/liveness")
    server.inject(Fault.status(502), Fault.status(503))
    statuses = [(await post(session, server, request_body())).status for _ in range(3)]
    assert statuses == [502, 503, 200]
    reply = await post(session, server, {"os": "DESKTOP"}, path="face-recognition/liveness")
    assert reply.status == 500


async def test_script_faults_hit_only_that_probe(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Script faults apply to successive requests with that probe, then answers resume."""
    server.script(GREEN, faults=[Fault.status(500), Fault.rate_limited(3)])
    assert (await post(session, server, request_body(probe=RED))).status == 200
    green = [(await post(session, server, request_body(probe=GREEN))).status for _ in range(3)]
    assert green == [500, 429, 200]
    assert [r.probe_key for r in server.requests] == [probe_key(RED)] + [probe_key(GREEN)] * 3


async def test_queue_comes_before_script(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """A queued fault wins over the probe's scripted fault, which waits its turn."""
    server.script(RED, faults=[Fault.status(500)])
    server.inject(Fault.status(503))
    statuses = [(await post(session, server, request_body())).status for _ in range(3)]
    assert statuses == [503, 500, 200]


async def test_fault_rate_is_seeded_and_can_be_turned_off(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """set_fault_rate draws repeatably from its seed; rate 0 turns it off."""

    async def run() -> list[int]:
        return [(await post(session, server, request_body())).status for _ in range(20)]

    server.set_fault_rate(0.5, [Fault.status(500), Fault.status(503)], seed=7)
    first = await run()
    server.set_fault_rate(0.5, [Fault.status(500), Fault.status(503)], seed=7)
    assert await run() == first
    assert {200, 500, 503} == set(first)
    server.set_fault_rate(0, [])
    assert set(await run()) == {200}
    server.set_fault_rate(1, [Fault.status(502)])
    assert set(await run()) == {502}
    with pytest.raises(ValueError, match="within"):
        server.set_fault_rate(1.5, [Fault.status(502)])


# -- log, reset, lifecycle --------------------------------------------------------


async def test_requests_are_recorded(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Each request is logged with method, path, headers, body, json, probe key and status."""
    body = request_body()
    await post(session, server, body)
    await post(session, server, data=b"nope")
    first, second = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path) == ("POST", "/v2/" + PATH)
    assert type(first.headers) is dict
    assert first.headers["Authorization"] == f"Bearer {server.token}"
    assert first.json == body
    assert first.body is not None
    assert json.loads(first.body) == body
    assert first.probe_key == probe_key(RED) == probe_key(b64(RED))
    assert (first.fault, first.status) == (None, 200)
    assert first.answered_at is not None
    assert first.received_at <= first.answered_at <= second.received_at
    assert (second.body, second.json, second.probe_key, second.status) == (
        b"nope",
        None,
        None,
        400,
    )


async def test_bodies_not_recorded_when_disabled(session: aiohttp.ClientSession) -> None:
    """record_bodies=False keeps neither body nor json, but still the probe key."""
    async with EmulatorServer(record_bodies=False) as server:
        await post(session, server, request_body())
    (record,) = server.requests
    assert (record.body, record.json) == (None, None)
    assert record.probe_key == probe_key(RED)


async def test_reset_clears_everything(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """reset() empties the log and forgets scripts, queued faults and the rate."""
    server.script(RED, score=0.5, faults=[Fault.status(500)])
    server.inject(Fault.status(502), path="nowhere")
    server.set_fault_rate(1, [Fault.status(503)])
    await post(session, server, request_body())
    server.reset()
    assert server.requests == []
    reply = await post(session, server, request_body(probe=RED, gallery=(RED,)))
    assert reply.status == 200
    assert reply.json()["data"]["comparison"]["result"]["score"] == 1
    assert len(server.requests) == 1


async def test_latency_applies_to_every_request(session: aiohttp.ClientSession) -> None:
    """latency= delays each answer by at least that many seconds."""
    async with EmulatorServer(latency=0.15) as server:
        started = time.monotonic()
        assert (await post(session, server, request_body())).status == 200
        assert time.monotonic() - started >= 0.15


async def test_close_mid_delay_does_not_hang(session: aiohttp.ClientSession) -> None:
    """Closing while a request sleeps in a delay returns at once and drops that request."""
    server = EmulatorServer()
    await server.start()
    server.inject(Fault.delay(60))
    errors: list[Exception] = []

    async def call() -> None:
        try:
            await post(session, server, request_body())
        except aiohttp.ClientConnectionError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await wait_until(lambda: len(server.requests) == 1)
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 2
    assert len(errors) == 1
    assert server.requests[0].status is None
    await server.close()  # idempotent


async def test_lifecycle_and_base_url() -> None:
    """base_url needs a started server, carries the real port and /v2/; start twice fails."""
    server = EmulatorServer()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    async with server:
        assert server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}/v2/"
        with pytest.raises(RuntimeError):
            await server.start()
    with pytest.raises(RuntimeError):
        _ = server.base_url


async def test_many_concurrent_requests(session: aiohttp.ClientSession) -> None:
    """Hundreds of concurrent requests are all answered and logged in arrival order."""
    async with EmulatorServer(record_bodies=False) as server:
        server.set_fault_rate(0.2, [Fault.reset(), Fault.status(503), Fault.delay(0.01)])
        outcomes: list[int] = []

        async def call() -> None:
            try:
                outcomes.append((await post(session, server, request_body())).status)
            except aiohttp.ClientConnectionError:
                outcomes.append(0)

        async with anyio.create_task_group() as group:
            for _ in range(300):
                group.start_soon(call)
    assert len(outcomes) == 300
    assert set(outcomes) <= {0, 200, 503}
    assert len(server.requests) == 300
    arrivals = [record.received_at for record in server.requests]
    assert arrivals == sorted(arrivals)
    assert all(record.answered_at is not None for record in server.requests)


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    """serve() answers requests with the given token and stops cleanly on cancel."""
    ready: list[EmulatorServer] = []
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve("127.0.0.1", 0, token="cli-token", on_ready=ready.append))
        await wait_until(lambda: bool(ready))
        (server,) = ready
        assert server.token == "cli-token"
        assert (await post(session, server, request_body())).status == 200
        assert server.requests[0].body is None
        group.cancel_scope.cancel()
    assert FaultKind.RESET.value == "reset"


async def test_app_runs_by_other_means(session: aiohttp.ClientSession) -> None:
    """make_emulator_app(state) serves the API from any runner; oversized bodies get 413."""
    state = EmulatorState(token="app-token")
    runner = web.AppRunner(make_emulator_app(state, client_max_size=4096), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v2/{PATH}"
        headers = {"Authorization": "Bearer app-token"}
        async with session.post(url, json=request_body(), headers=headers) as response:
            assert response.status == 200
        big = request_body(gallery=(bytes(range(256)) * 20,))
        async with session.post(url, json=big, headers=headers) as response:
            assert response.status == 413
    finally:
        await runner.cleanup()
    assert [record.status for record in state.requests] == [200, 413]


# -- sibling endpoints and token renewal (issue 6) ----------------------------------------

FACE_PATHS = ("compare", "compare-live", "liveness", "detect", "search", "verify")
AT_LEAST = "must be greater than or equal to"
AT_MOST = "must be less than or equal to"


def sibling_body(path: str, image: bytes = RED, **extra: Any) -> dict[str, Any]:
    """A valid body for one sibling endpoint (``extra`` overrides or adds fields)."""
    bodies: dict[str, dict[str, Any]] = {
        "compare": {"probe": [b64(image)], "gallery": [b64(GREEN)], "search_mode": "FAST"},
        "compare-live": {
            "probe": b64(image),
            "gallery": [b64(GREEN)],
            "os": "DESKTOP",
            "search_mode": "FAST",
            "liveness_min_score": 0.6,
        },
        "liveness": {"os": "DESKTOP", "image": b64(image)},
        "detect": {"image": b64(image)},
        "search": {"images": [b64(image)], "min_score": 0.5, "search_mode": "FAST"},
        "verify": {"id": "p1", "images": [b64(image)], "min_score": 0.5, "search_mode": "FAST"},
    }
    return {**bodies[path], **extra}


async def test_sibling_success_bodies(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Each sibling answers the notes' data shape in the usual envelope, scores from the images."""
    server.add_person("Red", [RED], person_id="p1")
    data = {}
    for path in FACE_PATHS:
        reply = await post(session, server, sibling_body(path), path=f"face-recognition/{path}")
        assert reply.status == 200, (path, reply.body)
        body = reply.json()
        assert list(body) == ["data", "signature", "id"]
        data[path] = body["data"]
    assert data["compare"] == {"score": comparison_score(RED, GREEN)}
    live = liveness_score(RED)
    expected_liveness = {"liveness_score": live, "min_score": 0.6, "passed": live > 0.6}
    assert data["compare-live"] == {
        "score": comparison_score(RED, GREEN),
        "liveness": expected_liveness,
    }
    assert data["liveness"] == {"passed": live > 0.6, "min_score": 0.6, "liveness_score": live}
    assert data["detect"]["face_count"] == 1
    assert list(data["detect"]["faces"][0]) == ["bounding_box", "confidence"]
    assert data["search"] == [
        {"id": "p1", "name": "Red", "score": 1, "thumbnails": ["thumbnails/p1/0.jpg"]}
    ]
    assert data["verify"] == {"match": {"id": "p1", "name": "Red", "score": 1}}


@pytest.mark.parametrize(
    ("path", "required"),
    [
        ("compare", "missing probe\n. missing gallery\n. missing search_mode\n"),
        (
            "compare-live",
            "missing probe\n. missing gallery\n. missing os\n. missing search_mode\n"
            ". missing liveness_min_score\n",
        ),
        ("liveness", "missing os\n. missing image\n"),
        ("detect", "missing image\n"),
        ("search", "missing images\n. missing min_score\n. missing search_mode\n"),
        ("verify", "missing id\n. missing images\n. missing min_score\n. missing search_mode\n"),
    ],
)
async def test_sibling_missing_fields_are_409(
    server: EmulatorServer, session: aiohttp.ClientSession, path: str, required: str
) -> None:
    """An empty body names every required field in one 409 MissingParameter."""
    reply = await post(session, server, {}, path=f"face-recognition/{path}")
    assert reply.status == 409
    assert reply.json() == {"code": "MissingParameter", "message": required}


@pytest.mark.parametrize(
    ("path", "extra", "message"),
    [
        ("compare", {"probe": b64(RED)}, '"probe" must be an array'),
        ("compare", {"compare_min_score": 0.5}, f'"compare_min_score" {AT_LEAST} 0.67'),
        ("compare-live", {"liveness_min_score": 1.2}, f'"liveness_min_score" {AT_MOST} 1'),
        ("liveness", {"os": "WINDOWS"}, '"os" must be one of [DESKTOP, IOS, ANDROID]'),
        ("liveness", {"liveness_min_score": 0.5}, f'"liveness_min_score" {AT_LEAST} 0.52'),
        ("detect", {"return_landmarks": "yes"}, '"return_landmarks" must be a boolean'),
        ("search", {"min_score": 0.1}, '"min_score" must be greater than or equal to 0.2'),
        ("search", {"max_results": 101}, '"max_results" must be less than or equal to 100'),
        ("search", {"max_results": 2.5}, '"max_results" must be an integer'),
        ("verify", {"min_score": 0.4}, '"min_score" must be greater than or equal to 0.5'),
        ("verify", {"images": []}, '"images" must contain at least 1 items'),
    ],
)  # fmt: skip
async def test_sibling_bad_values_are_409(
    server: EmulatorServer,
    session: aiohttp.ClientSession,
    path: str,
    extra: dict[str, Any],
    message: str,
) -> None:
    """Out-of-range and ill-typed values get a 409 MissingParameter naming the field."""
    reply = await post(
        session, server, sibling_body(path, **extra), path=f"face-recognition/{path}"
    )
    assert reply.status == 409
    assert reply.json() == {"code": "MissingParameter", "message": message}


@pytest.mark.parametrize("path", FACE_PATHS)
async def test_sibling_bad_images_are_412_and_auth_applies(
    server: EmulatorServer, session: aiohttp.ClientSession, path: str
) -> None:
    """A too-short image is 412 only_images_in_base64; no token is 401 on every sibling."""
    reply = await post(
        session, server, sibling_body(path, image=b"\x89PNG"), path=f"face-recognition/{path}"
    )
    assert reply.status == 412
    assert reply.json() == {"code": "ERROR", "message": "only_images_in_base64"}
    reply = await post(
        session, server, sibling_body(path), token=None, path=f"face-recognition/{path}"
    )
    assert reply.status == 401


async def test_scripts_key_on_the_first_image_of_list_fields(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """script() fixes /compare's score by its first probe and /liveness's score by its image."""
    server.script(RED, score=0.77, liveness=0.91)
    compare = await post(session, server, sibling_body("compare"), path="face-recognition/compare")
    live = await post(session, server, sibling_body("liveness"), path="face-recognition/liveness")
    assert compare.json()["data"]["score"] == 0.77
    assert live.json()["data"]["liveness_score"] == 0.91
    assert [r.probe_key for r in server.requests] == [probe_key(RED)] * 2


async def test_search_ranks_persons_and_filters_collections(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Search lists persons above min_score best first; a collection narrows it; unknown is 404."""
    red = server.add_person("Red", [GREEN, RED])
    green = server.add_person("Green", GREEN, collection_id="greens")
    assert [person.id for person in server.persons] == [red, green]
    body = sibling_body("search", image=GREEN, min_score=0.2)
    ranked = (await post(session, server, body, path="face-recognition/search")).json()["data"]
    assert [hit["id"] for hit in ranked] == sorted([red, green])
    assert all(hit["score"] == 1 for hit in ranked)
    body["collection_id"] = "greens"
    narrowed = (await post(session, server, body, path="face-recognition/search")).json()["data"]
    assert [hit["id"] for hit in narrowed] == [green]
    body["collection_id"] = "nobody"
    assert (await post(session, server, body, path="face-recognition/search")).status == 404
    server.clear_persons()
    assert server.persons == ()


async def test_verify_below_min_score_has_no_match(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """Verify answers match null under min_score and 404 for an unknown person."""
    server.add_person("Green", GREEN, person_id="p1")
    body = sibling_body("verify", min_score=0.99)
    reply = await post(session, server, body, path="face-recognition/verify")
    assert reply.json()["data"] == {"match": None}
    body["id"] = "p2"
    assert (await post(session, server, body, path="face-recognition/verify")).status == 404


async def test_session_renewal_issues_an_accepted_token(
    server: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """GET auth/session issues a JWT for expiresIn months; the new and old tokens both work."""
    reply = await post(
        session, server, method="GET", path="auth/session?origin=refresh&expiresIn=2"
    )
    assert reply.status == 200
    data = reply.json()["data"]
    assert data["tokenType"] == "bearer"
    claims = json.loads(base64.urlsafe_b64decode(data["accessToken"].split(".")[1] + "=="))
    assert abs(claims["exp"] - (time.time() + 60 * 86400)) < 60
    assert server.accepted_tokens == (server.token, data["accessToken"])
    for token in (data["accessToken"], "server"):
        assert (await post(session, server, request_body(), token=token)).status == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "missing origin\n. missing expiresIn\n"),
        ("?origin=login&expiresIn=1", '"origin" must be one of [refresh]'),
        ("?origin=refresh&expiresIn=soon", '"expiresIn" must be an integer'),
        ("?origin=refresh&expiresIn=0", '"expiresIn" must be greater than or equal to 1'),
    ],
)
async def test_session_renewal_checks_its_query(
    server: EmulatorServer, session: aiohttp.ClientSession, query: str, message: str
) -> None:
    """A renewal without origin=refresh and a whole expiresIn >= 1 is a 409; POST is 405."""
    reply = await post(session, server, method="GET", path="auth/session" + query)
    assert (reply.status, reply.json()) == (409, {"code": "MissingParameter", "message": message})
    assert server.accepted_tokens == (server.token,)
    assert (await post(session, server, {}, path="auth/session")).status == 405


async def test_expired_token_cannot_renew(session: aiohttp.ClientSession) -> None:
    """A renewal with an expired token is 403 token_expired."""
    async with EmulatorServer(token=make_jwt(time.time() - 5)) as server:
        reply = await post(
            session, server, method="GET", path="auth/session?origin=refresh&expiresIn=1"
        )
    assert (reply.status, reply.json()["message"]) == (403, "token_expired")
