"""The sibling endpoints and token renewal, end to end through the client against the emulator."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from verifik_async import (
    ImageError,
    InputError,
    InvalidImageError,
    MissingParameterError,
    NotFoundError,
    ResponseError,
    TokenExpiredError,
    Verdict,
    VerifikClient,
)

# The public names added by issue 6 (re-exported by verifik_async/__init__.py).
from verifik_async._face_models import (
    CompareLiveRequest,
    CompareLiveResult,
    CompareRequest,
    CompareResult,
    DetectRequest,
    DetectResult,
    FaceVerdict,
    LivenessRequest,
    LivenessResult,
    SearchRequest,
    SearchResult,
    VerifyRequest,
    VerifyResult,
)
from verifik_async._token import RenewedToken, expires_within, jwt_expiry
from verifik_async.testing import (
    EmulatorServer,
    Fault,
    comparison_score,
    liveness_score,
    make_jwt,
)
from verifik_async.testing.pytest_plugin import FAST_RETRY

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
FACE = "/v2/face-recognition/"
SESSION = "/v2/auth/session"
# A PNG signature and little else: the client accepts it, the server wants 64+ bytes.
TINY_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def b64(data: bytes) -> str:
    """Standard base64 of ``data`` as text."""
    return base64.b64encode(data).decode("ascii")


def low_pair(png: Png, below: float = 0.85) -> tuple[bytes, bytes]:
    """Two images the emulator scores below ``below``."""
    for seed in range(2, 200):
        if comparison_score(png(1), png(seed)) < below:
            return png(1), png(seed)
    raise AssertionError("no pair below the threshold among the test images")


def client_for(server: EmulatorServer, token: str | None = None) -> VerifikClient:
    """A client bound to ``server`` with millisecond backoff."""
    return VerifikClient(token=token or server.token, base_url=server.base_url, retry=FAST_RETRY)


# -- /compare --------------------------------------------------------------------------


async def test_compare_sends_a_probe_list_and_reports_the_best_score(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """compare() sends probe as a list with the 0.85 default and returns the best pair's score."""
    result = await verifik_client.compare([png(1), png(2)], [png(3), png(1)])
    assert isinstance(result, CompareResult)
    assert (result.score, result.raw_score, result.compare_min_score) == (1.0, 1, 0.85)
    assert result.matched and result.verdict is FaceVerdict.MATCHED
    assert result.attempts == 1 and result.response_id is not None
    [seen] = verifik_emulator.requests
    assert (seen.method, seen.path, seen.status) == ("POST", FACE + "compare", 200)
    assert seen.json == {
        "probe": [b64(png(1)), b64(png(2))],
        "gallery": [b64(png(3)), b64(png(1))],
        "search_mode": "FAST",
        "compare_min_score": 0.85,
    }


async def test_compare_below_the_minimum_is_not_matched(
    verifik_client: VerifikClient, png: Png
) -> None:
    """A single probe image is accepted; a score under compare_min_score is not a match."""
    probe, other = low_pair(png)
    result = await verifik_client.compare(probe, other, search_mode="accurate")
    assert result.score == comparison_score(probe, other) < 0.85
    assert not result.matched and result.verdict is FaceVerdict.NOT_MATCHED


async def test_compare_reads_the_result_shape(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """The {result{score, compare_min_score, passed}} answer is read, percentages normalised."""
    verifik_emulator.inject(
        Fault.respond(
            200,
            {
                "data": {
                    "_id": "66a0c0ffee",
                    "status": "success",
                    "result": {"score": "91%", "compare_min_score": 0.9, "passed": True},
                },
                "id": "ABRCB",
            },
        )
    )
    result = await verifik_client.compare(png(1), png(2), compare_min_score=0.9)
    assert result.score == pytest.approx(0.91)
    assert result.raw_score == "91%"
    assert (result.server_passed, result.server_min_score) == (True, 0.9)
    assert (result.id, result.status, result.response_id) == ("66a0c0ffee", "success", "ABRCB")
    assert result.matched


# -- /compare-live -------------------------------------------------------------------------


async def test_compare_live_reports_score_and_liveness(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """compare_live() sends os and liveness_min_score and is verified when both pass."""
    verifik_emulator.script(png(1), score=0.93, liveness=0.8)
    result = await verifik_client.compare_live(png(1), [png(2)], os="ios")
    assert isinstance(result, CompareLiveResult)
    assert (result.score, result.liveness_score) == (0.93, 0.8)
    assert result.liveness is not None and result.liveness.min_score == 0.6
    assert result.matched and result.live and result.verified
    assert result.verdict is Verdict.VERIFIED
    [seen] = verifik_emulator.requests
    assert seen.path == FACE + "compare-live"
    assert seen.json == {
        "probe": b64(png(1)),
        "gallery": [b64(png(2))],
        "os": "IOS",
        "search_mode": "FAST",
        "liveness_min_score": 0.6,
    }


async def test_compare_live_liveness_is_strict_and_may_be_missing(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """Liveness equal to its minimum fails; an answer without liveness says so."""
    verifik_emulator.script(png(1), score=0.9, liveness=0.7)
    result = await verifik_client.compare_live(png(1), png(2), liveness_min_score=0.7)
    assert result.verdict is Verdict.NOT_LIVE and not result.verified
    verifik_emulator.inject(Fault.respond(200, {"data": {"score": "0.9"}}))
    bare = await verifik_client.compare_live(png(1), png(2), compare_min_score=0.8)
    assert (bare.score, bare.liveness, bare.compare_min_score) == (0.9, None, 0.8)
    assert bare.verdict is Verdict.LIVENESS_MISSING


# -- /liveness -----------------------------------------------------------------------------


async def test_liveness_flat_answer(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """liveness() returns the image's deterministic score, judged strictly above the minimum."""
    expected = liveness_score(png(4))
    result = await verifik_client.liveness(png(4), liveness_min_score=0.52, os="android")
    assert isinstance(result, LivenessResult)
    assert (result.liveness_score, result.min_score) == (expected, 0.52)
    assert result.passed is (expected > 0.52) is result.server_passed
    [seen] = verifik_emulator.requests
    assert seen.path == FACE + "liveness"
    assert seen.json == {"image": b64(png(4)), "os": "ANDROID", "liveness_min_score": 0.52}
    verifik_emulator.script(png(5), liveness=0.6)
    at_minimum = await verifik_client.liveness(png(5))
    assert (at_minimum.liveness_score, at_minimum.min_score) == (0.6, 0.6)
    assert not at_minimum.passed and at_minimum.verdict is FaceVerdict.NOT_LIVE


async def test_liveness_reads_the_full_record_shape(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """A full liveness record with result{...} is read like the flat answer."""
    record = {
        "client": "5f1c0ffee",
        "type": "liveness",
        "status": "success",
        "os": "DESKTOP",
        "liveness_min_score": 0.6,
        "_id": "66a0beef",
        "result": {"liveness_score": "83%", "passed": True, "min_score": 0.6},
        "createdAt": "2024-07-24T10:00:00.000Z",
        "updatedAt": "2024-07-24T10:00:00.000Z",
        "__v": 0,
    }
    verifik_emulator.inject(Fault.respond(200, {"data": record, "id": "QWERT"}))
    result = await verifik_client.liveness(png(1))
    assert result.liveness_score == pytest.approx(0.83)
    assert result.raw_liveness_score == "83%"
    assert result.passed and result.verdict is FaceVerdict.LIVE
    assert (result.record.id, result.record.type, result.response_id) == (
        "66a0beef",
        "liveness",
        "QWERT",
    )
    assert result.record.created_at == datetime(2024, 7, 24, 10, tzinfo=UTC)


async def test_liveness_without_a_minimum_in_the_answer_uses_the_requested_one(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """An answer with only a score is judged against the minimum that was sent."""
    verifik_emulator.inject(Fault.respond(200, {"data": {"liveness_score": 0.7}}))
    result = await verifik_client.liveness(png(1), liveness_min_score=0.75)
    assert (result.min_score, result.passed, result.server_passed) == (0.75, False, None)


# -- /detect -------------------------------------------------------------------------------


async def test_detect_returns_boxes_landmarks_and_attributes(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """detect() with both options returns one face with its box, landmarks and attributes."""
    result = await verifik_client.detect(png(1), return_landmarks=True, return_attributes=True)
    assert isinstance(result, DetectResult)
    assert result.face_count == 1 and result.has_face
    face = result.single_face
    assert face is not None
    assert face.bounding_box.width >= 224 and face.bounding_box.height >= 224
    assert face.bounding_box.x >= 25 and face.bounding_box.y >= 25
    assert face.confidence is not None and 0.9 <= face.confidence < 1
    assert set(face.landmarks) >= {"left_eye", "right_eye", "nose"}
    assert face.attributes is not None and face.attributes.gender in {"female", "male"}
    assert face.attributes.age is not None and 18 <= face.attributes.age < 80
    assert verifik_emulator.requests[0].json == {
        "image": b64(png(1)),
        "return_landmarks": True,
        "return_attributes": True,
    }
    again = await verifik_client.detect(png(1))
    assert again.faces[0].bounding_box == face.bounding_box
    assert again.faces[0].landmarks is None and again.faces[0].attributes is None
    assert verifik_emulator.requests[1].json == {"image": b64(png(1))}


async def test_detect_reads_an_image_without_faces(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """An answer with no faces gives has_face False and no single face."""
    verifik_emulator.inject(Fault.respond(200, {"data": {"faces": [], "face_count": 0}}))
    result = await verifik_client.detect(png(1))
    assert (result.faces, result.face_count, result.has_face, result.single_face) == (
        (),
        0,
        False,
        None,
    )


# -- /search and /verify against stored persons --------------------------------------------


async def test_search_finds_stored_persons(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """search() finds the person enrolled with the same face, best first, within a collection."""
    ana = verifik_emulator.add_person("Ana", [png(1), png(2)])
    bob = verifik_emulator.add_person("Bob", png(3), collection_id="staff")
    result = await verifik_client.search(png(1), min_score=0.9)
    assert isinstance(result, SearchResult)
    assert result.found and result.verdict is FaceVerdict.FOUND
    best = result.best
    assert best is not None
    assert (best.id, best.name, best.score) == (ana, "Ana", 1.0)
    assert len(best.thumbnails) == 2 and "thumbnails" not in repr(best)
    staff = await verifik_client.search([png(3)], min_score=0.9, collection_id="staff")
    assert [match.id for match in staff.matches] == [bob]
    outsider = await verifik_client.search(png(1), min_score=0.99, collection_id="staff")
    assert outsider.matches == () and not outsider.found
    assert outsider.verdict is FaceVerdict.NOT_FOUND
    assert verifik_emulator.requests[1].json == {
        "images": [b64(png(3))],
        "min_score": 0.9,
        "search_mode": "FAST",
        "collection_id": "staff",
    }


async def test_search_max_results_and_unknown_collection(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """max_results caps the matches; an unknown collection is a NotFoundError."""
    for name in ("Ana", "Ana again", "Ana once more"):
        verifik_emulator.add_person(name, [png(1)])
    capped = await verifik_client.search(png(1), min_score=0.5, max_results=2)
    assert len(capped.matches) == 2
    assert verifik_emulator.requests[0].json["max_results"] == 2
    with pytest.raises(NotFoundError) as caught:
        await verifik_client.search(png(1), min_score=0.5, collection_id="nobody-here")
    assert caught.value.status == 404


async def test_verify_matches_the_stored_person(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """verify() sends the id and matches the same face; another face gets no match."""
    ana = verifik_emulator.add_person("Ana", [png(1)], collection_id="kyc")
    result = await verifik_client.verify(ana, [png(1)], min_score=0.9, collection_id="kyc")
    assert isinstance(result, VerifyResult)
    assert result.matched and result.verdict is FaceVerdict.MATCHED
    assert result.match is not None
    assert (result.match.id, result.match.name, result.score) == (ana, "Ana", 1.0)
    assert verifik_emulator.requests[0].json == {
        "id": ana,
        "images": [b64(png(1))],
        "min_score": 0.9,
        "search_mode": "FAST",
        "collection_id": "kyc",
    }
    stranger = await verifik_client.verify(ana, png(2), min_score=0.99)
    assert (stranger.match, stranger.score, stranger.matched) == (None, None, False)
    assert stranger.person_id == ana


async def test_verify_unknown_person_is_not_found(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """An unknown id, or a person outside the given collection, is a NotFoundError."""
    ana = verifik_emulator.add_person("Ana", [png(1)])
    with pytest.raises(NotFoundError):
        await verifik_client.verify("000000000000000000000000", png(1), min_score=0.6)
    with pytest.raises(NotFoundError):
        await verifik_client.verify(ana, png(1), min_score=0.6, collection_id="elsewhere")


# -- what every endpoint shares ------------------------------------------------------------

Call = Callable[[VerifikClient, EmulatorServer, bytes], Awaitable[Any]]


async def _verify_call(client: VerifikClient, server: EmulatorServer, image: bytes) -> Any:
    person = server.add_person("Ana", [image])
    return await client.verify(person, [image], min_score=0.6)


CALLS: dict[str, tuple[str, Call]] = {
    "compare": ("compare", lambda c, s, image: c.compare([image], [image])),
    "compare_live": ("compare-live", lambda c, s, image: c.compare_live(image, [image])),
    "liveness": ("liveness", lambda c, s, image: c.liveness(image)),
    "detect": ("detect", lambda c, s, image: c.detect(image)),
    "search": ("search", lambda c, s, image: c.search([image], min_score=0.5)),
    "verify": ("verify", _verify_call),
}
RESULT_TYPES = {
    "compare": CompareResult,
    "compare_live": CompareLiveResult,
    "liveness": LivenessResult,
    "detect": DetectResult,
    "search": SearchResult,
    "verify": VerifyResult,
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_retries_apply_to_every_endpoint(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png, name: str
) -> None:
    """A 503 then a success is one result after two attempts, on every endpoint."""
    path, call = CALLS[name]
    verifik_emulator.inject(Fault.status(503), path=f"face-recognition/{path}")
    result = await call(verifik_client, verifik_emulator, png(1))
    assert isinstance(result, RESULT_TYPES[name])
    assert result.attempts == 2
    seen = [(r.path, r.status) for r in verifik_emulator.requests]
    assert seen == [(FACE + path, 503), (FACE + path, 200)]


@pytest.mark.parametrize("name", list(CALLS))
async def test_server_412_is_an_invalid_image_error(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, name: str
) -> None:
    """An image the server refuses (too short) is InvalidImageError on every endpoint, no retry."""
    _, call = CALLS[name]
    with pytest.raises(InvalidImageError) as caught:
        await call(verifik_client, verifik_emulator, TINY_PNG)
    assert (caught.value.status, caught.value.message) == (412, "only_images_in_base64")
    assert caught.value.attempts == 1 and len(verifik_emulator.requests) == 1


@pytest.mark.parametrize("name", list(CALLS))
async def test_server_409_missing_parameter_is_typed(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png, name: str
) -> None:
    """A 409 MissingParameter is MissingParameterError naming the fields, on every endpoint."""
    _, call = CALLS[name]
    message = "missing search_mode\n. missing min_score\n"
    verifik_emulator.inject(
        Fault.status(409, body={"code": "MissingParameter", "message": message})
    )
    with pytest.raises(MissingParameterError) as caught:
        await call(verifik_client, verifik_emulator, png(1))
    assert caught.value.fields == ("search_mode", "min_score")
    assert caught.value.attempts == 1


def bad(name: str, call: Callable[[VerifikClient, Png], Awaitable[Any]], field: str) -> Any:
    """One case of bad input: the call and the field its InputError must name."""
    return pytest.param(call, field, id=name)


BAD_INPUT = [
    bad("compare-min", lambda c, png: c.compare(png(1), png(2), compare_min_score=0.5),
        "compare_min_score"),
    bad("compare-probe", lambda c, png: c.compare([], png(2)), "probe"),
    bad("compare-gallery", lambda c, png: c.compare(png(1)), "gallery"),
    bad("compare-image", lambda c, png: c.compare([png(1), b"text"], png(2)), "probe[1]"),
    bad("live-min", lambda c, png: c.compare_live(png(1), png(2), liveness_min_score=0.3),
        "liveness_min_score"),
    bad("live-os", lambda c, png: c.compare_live(png(1), png(2), os="windows"), "os"),
    bad("liveness-os", lambda c, png: c.liveness(png(1), os="windows"), "os"),
    bad("liveness-max", lambda c, png: c.liveness(png(1), liveness_min_score=1.5),
        "liveness_min_score"),
    bad("liveness-collection", lambda c, png: c.liveness(png(1), collection_id=""),
        "collection_id"),
    bad("detect-image", lambda c, png: c.detect(b"not an image"), "image"),
    bad("detect-flag", lambda c, png: c.detect(png(1), return_landmarks="yes"),
        "return_landmarks"),
    bad("search-min-missing", lambda c, png: c.search(png(1)), "min_score"),
    bad("search-min-range", lambda c, png: c.search(png(1), min_score=0.1), "min_score"),
    bad("search-max-results", lambda c, png: c.search(png(1), min_score=0.5, max_results=101),
        "max_results"),
    bad("search-mode", lambda c, png: c.search(png(1), min_score=0.5, search_mode="slow"),
        "search_mode"),
    bad("verify-id", lambda c, png: c.verify("", png(1), min_score=0.6), "person_id"),
    bad("verify-min", lambda c, png: c.verify("abc", png(1), min_score=0.4), "min_score"),
    bad("verify-images", lambda c, png: c.verify("abc", [], min_score=0.6), "images"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "field"), BAD_INPUT)
async def test_bad_input_is_refused_before_any_request(
    verifik_emulator: EmulatorServer,
    verifik_client: VerifikClient,
    png: Png,
    call: Callable[[VerifikClient, Png], Awaitable[Any]],
    field: str,
) -> None:
    """Client-side validation names the field and sends nothing."""
    with pytest.raises(InputError) as caught:
        await call(verifik_client, png)
    assert caught.value.field == field
    assert verifik_emulator.requests == []


async def test_request_objects_work_like_arguments(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """Every method accepts its request object; mixing one with arguments is refused."""
    person = verifik_emulator.add_person("Ana", png(1))
    results = [
        await verifik_client.compare(CompareRequest(png(1), png(1))),
        await verifik_client.compare_live(CompareLiveRequest(png(1), png(1))),
        await verifik_client.liveness(LivenessRequest(png(1))),
        await verifik_client.detect(DetectRequest(png(1))),
        await verifik_client.search(SearchRequest(images=png(1), min_score=0.9)),
        await verifik_client.verify(VerifyRequest(person, images=png(1), min_score=0.9)),
    ]
    assert [type(r) for r in results] == list(RESULT_TYPES.values())
    assert [r.path for r in verifik_emulator.requests] == [
        FACE + path for path, _ in CALLS.values()
    ]
    with pytest.raises(InputError, match="gallery"):
        await verifik_client.compare(CompareRequest(png(1), png(1)), png(2))
    with pytest.raises(InputError, match="images"):
        await verifik_client.verify(VerifyRequest(person, png(1), min_score=0.9), png(2))
    assert len(verifik_emulator.requests) == 6


async def test_scores_as_percentages_are_normalised(png: Png) -> None:
    """With percentage scores on the wire, every result still holds scores in [0, 1]."""
    async with EmulatorServer(score_style="percent") as server, client_for(server) as client:
        person = server.add_person("Ana", png(1))
        compare = await client.compare(png(1), png(1))
        live = await client.liveness(png(1))
        found = await client.search(png(1), min_score=0.9)
        verified = await client.verify(person, png(1), min_score=0.9)
    assert (compare.score, compare.raw_score) == (1.0, 100)
    assert live.liveness_score == liveness_score(png(1))
    assert found.best is not None and found.best.score == 1.0
    assert verified.score == 1.0


async def test_calls_are_logged_without_token_or_images(
    verifik_emulator: EmulatorServer,
    verifik_client: VerifikClient,
    png: Png,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each call logs method, path and status; never the token or image data."""
    caplog.set_level(logging.DEBUG, logger="verifik_async")
    await verifik_client.liveness(png(1))
    renewed = await verifik_client.renew_token()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST face-recognition/liveness -> 200" in text
    assert "GET auth/session" in text and "token renewed" in text
    for secret in (verifik_emulator.token, renewed.access_token, b64(png(1))[:40]):
        assert secret not in text


# -- the batch runner ----------------------------------------------------------------------


async def test_batch_streams_compare_liveness_and_search(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """client.stream() runs compare, liveness and search requests side by side, with retries."""
    ana = verifik_emulator.add_person("Ana", [png(1)])
    verifik_emulator.script(png(7), liveness=0.9)
    verifik_emulator.inject(Fault.status(503), path="face-recognition/liveness")
    jobs = [
        ("compare", CompareRequest([png(1)], [png(1), png(2)])),
        ("liveness", LivenessRequest(png(7))),
        ("search", SearchRequest(images=[png(1)], min_score=0.9)),
        ("lost", SearchRequest(images=[png(1)], min_score=0.9, collection_id="nope")),
        ("bad", SearchRequest(images=[b"not an image"], min_score=0.9)),
    ]
    async with verifik_client.stream(jobs, concurrency=3, ordered=True) as results:
        outcomes = [outcome async for outcome in results]
        summary = results.summary
    by_key = {o.key: o for o in outcomes}
    assert [o.key for o in outcomes] == [key for key, _ in jobs]
    assert isinstance(by_key["compare"].result, CompareResult)
    assert by_key["compare"].result.matched
    assert isinstance(by_key["liveness"].result, LivenessResult)
    assert by_key["liveness"].result.passed and by_key["liveness"].attempts == 2
    assert isinstance(by_key["search"].result, SearchResult)
    assert by_key["search"].result.best is not None and by_key["search"].result.best.id == ana
    assert isinstance(by_key["lost"].error, NotFoundError)
    assert isinstance(by_key["bad"].error, ImageError) and by_key["bad"].attempts == 0
    assert summary.counts == {
        "matched": 1,
        "live": 1,
        "found": 1,
        "error:NotFoundError": 1,
        "error:ImageError": 1,
    }


async def test_batch_of_many_liveness_checks_is_deterministic(
    verifik_client: VerifikClient, png: Png
) -> None:
    """Forty liveness checks stream with bounded concurrency, each with its image's score."""
    jobs = [(seed, LivenessRequest(png(seed))) for seed in range(40)]
    async with verifik_client.stream(jobs, concurrency=8) as results:
        scores = {o.key: o.result.liveness_score async for o in results if o.result is not None}
    assert scores == {seed: liveness_score(png(seed)) for seed in range(40)}


# -- token renewal -------------------------------------------------------------------------


async def test_renew_token_returns_a_typed_result_and_switches_the_client(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient, png: Png
) -> None:
    """renew_token() GETs auth/session, returns the new token (not in repr) and uses it."""
    before = time.time()
    renewed = await verifik_client.renew_token(expires_in_months=3)
    assert isinstance(renewed, RenewedToken)
    assert renewed.token_type == "bearer" and renewed.attempts == 1
    assert renewed.access_token not in repr(renewed)
    assert renewed.access_token in verifik_emulator.accepted_tokens
    assert renewed.expires_at is not None
    days = (renewed.expires_at - datetime.fromtimestamp(before, UTC)) / timedelta(days=1)
    assert 89.9 < days <= 90.1
    [seen] = verifik_emulator.requests
    assert (seen.method, seen.path, seen.status, seen.body) == ("GET", SESSION, 200, b"")
    assert verifik_client.config.token == renewed.access_token
    await verifik_client.liveness(png(1))
    assert verifik_emulator.requests[-1].headers["Authorization"] == (
        f"Bearer {renewed.access_token}"
    )
    assert verifik_emulator.requests[-1].status == 200


async def test_renew_token_reads_the_bare_answer_and_may_leave_the_client_alone(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient
) -> None:
    """A bare {accessToken, tokenType} answer is read too; use=False keeps the old token."""
    fresh = make_jwt(time.time() + 86400)
    verifik_emulator.inject(Fault.respond(200, {"accessToken": fresh, "tokenType": "bearer"}))
    renewed = await verifik_client.renew_token(use=False)
    assert renewed.access_token == fresh
    assert renewed.expires_at == jwt_expiry(fresh)
    assert verifik_client.config.token == verifik_emulator.token


async def test_renew_token_failures_are_typed(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient
) -> None:
    """Bad months fail before any request; an answer without a token never quotes the body."""
    with pytest.raises(InputError) as bad:
        await verifik_client.renew_token(expires_in_months=0)
    assert bad.value.field == "expires_in_months" and verifik_emulator.requests == []
    hidden = make_jwt(time.time() + 86400)
    verifik_emulator.inject(Fault.respond(200, {"data": {"token": hidden}}))
    with pytest.raises(ResponseError) as garbled:
        await verifik_client.renew_token()
    assert hidden not in str(garbled.value) and hidden.encode() not in garbled.value.body
    assert verifik_client.config.token == verifik_emulator.token


async def test_renewing_an_expired_token_is_token_expired() -> None:
    """A token past its exp cannot be renewed: TokenExpiredError, and the client keeps it."""
    expired = make_jwt(time.time() - 60)
    async with EmulatorServer(token=expired) as server, client_for(server) as client:
        with pytest.raises(TokenExpiredError):
            await client.renew_token()
        assert client.config.token == expired


def test_jwt_expiry_is_read_without_verification() -> None:
    """jwt_expiry and expires_within read exp; tokens without one are never "expiring"."""
    exp = 1_900_000_000
    token = make_jwt(exp)
    assert jwt_expiry(token) == datetime.fromtimestamp(exp, UTC)
    assert expires_within(token, 3600, now=exp - 60)
    assert not expires_within(token, 3600, now=exp - 7200)
    assert expires_within(token, 0, now=exp + 1)
    for opaque in ("not-a-jwt", "a.b.c", "a.bm90IGpzb24.c", "x." + b64(b"[1, 2]") + ".y"):
        assert jwt_expiry(opaque) is None
        assert not expires_within(opaque, 10**9)


async def test_ensure_fresh_token_renews_close_to_expiry_before_a_batch(png: Png) -> None:
    """A token an hour from expiry is renewed once, and the batch after it runs on the new one."""
    soon = make_jwt(time.time() + 3600)
    async with EmulatorServer(token=soon) as server, client_for(server) as client:
        assert await client.ensure_fresh_token(min_validity=2 * 3600) is True
        fresh = client.config.token
        assert fresh is not None and fresh != soon
        assert not expires_within(fresh, 20 * 86400)
        assert await client.ensure_fresh_token(min_validity=2 * 3600) is False
        jobs = [LivenessRequest(png(seed)) for seed in range(5)]
        async with client.stream(jobs) as results:
            outcomes = [o async for o in results]
    assert all(o.ok for o in outcomes)
    assert [r.path for r in server.requests].count(SESSION) == 1
    assert server.requests[0].headers["Authorization"] == f"Bearer {soon}"
    assert {r.headers["Authorization"] for r in server.requests[1:]} == {f"Bearer {fresh}"}


async def test_ensure_fresh_token_leaves_a_fresh_or_opaque_token_alone(
    verifik_emulator: EmulatorServer, verifik_client: VerifikClient
) -> None:
    """A token valid for 30 days, or one without a readable exp, is not renewed."""
    assert await verifik_client.ensure_fresh_token() is False
    async with client_for(verifik_emulator, token="opaque-api-key") as opaque:
        assert await opaque.ensure_fresh_token(min_validity=10**9) is False
    assert verifik_emulator.requests == []
    with pytest.raises(InputError):
        await verifik_client.ensure_fresh_token(min_validity=-1)


async def test_concurrent_ensure_fresh_token_renews_once() -> None:
    """Tasks racing to refresh a token close to expiry make a single renewal."""
    async with (
        EmulatorServer(token=make_jwt(time.time() + 60), latency=0.05) as server,
        client_for(server) as client,
    ):
        renewed: list[bool] = []

        async def refresh() -> None:
            renewed.append(await client.ensure_fresh_token(min_validity=3600))

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(refresh)
    assert sorted(renewed) == [False, False, False, False, True]
    assert [r.path for r in server.requests] == [SESSION]


def test_sibling_request_bodies_are_right_in_a_fresh_interpreter() -> None:
    """prepare() renames and omits fields of a sibling request before any call has loaded them."""
    import json
    import subprocess
    import sys

    script = (
        "import anyio, json\n"
        "from verifik_async import SearchRequest, VerifikClient\n"
        "from tests.conftest import make_png\n"
        "async def main():\n"
        "    async with VerifikClient(token='t', base_url='http://127.0.0.1:9/v2/') as c:\n"
        "        body = json.loads(await c.prepare(SearchRequest(make_png(1), min_score=0.8)))\n"
        "    print(json.dumps(sorted(body)))\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    keys = json.loads(done.stdout)
    assert "images" in keys
    assert "images_" not in keys
