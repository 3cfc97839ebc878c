"""Endpoints and answer parsing of the sibling face endpoints, and of token renewal.

Pure functions of ``(answer, request)``, like ``_protocol``: they reuse its
envelope reading (``parse_with``: typed errors for error statuses,
``ResponseError`` for bodies the result cannot be read from) and the shared
cattrs converter, on which this module registers the request hooks it needs.
Parsing is lenient: every answer shape listed in the API notes is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import InputError, ResponseError
from ._face_models import (
    BoundingBox,
    CompareLiveRequest,
    CompareLiveResult,
    CompareRequest,
    CompareResult,
    DetectedFace,
    DetectRequest,
    DetectResult,
    FaceAttributes,
    LivenessRequest,
    LivenessResult,
    SearchMatch,
    SearchRequest,
    SearchResult,
    VerifyMatch,
    VerifyRequest,
    VerifyResult,
)
from ._models import DEFAULT_COMPARE_MIN_SCORE, DEFAULT_LIVENESS_MIN_SCORE, LivenessRecord
from ._protocol import Answer, Endpoint, error_for, parse_with
from ._token import RenewedToken, jwt_expiry
from ._wire import (
    WireError,
    as_mapping,
    converter,
    loads,
    normalise_score,
    optional_score,
    structure_comparison,
    structure_liveness,
    structure_signature,
)

__all__ = [
    "FACE_ENDPOINTS",
    "PATH_AUTH_SESSION",
    "PATH_COMPARE",
    "PATH_COMPARE_LIVE",
    "PATH_DETECT",
    "PATH_LIVENESS",
    "PATH_SEARCH",
    "PATH_VERIFY",
    "parse_compare",
    "parse_compare_live",
    "parse_detect",
    "parse_liveness",
    "parse_search",
    "parse_token_renewal",
    "parse_verify",
    "token_renewal_path",
]

PATH_COMPARE: Final = "face-recognition/compare"
PATH_COMPARE_LIVE: Final = "face-recognition/compare-live"
PATH_LIVENESS: Final = "face-recognition/liveness"
PATH_DETECT: Final = "face-recognition/detect"
PATH_SEARCH: Final = "face-recognition/search"
PATH_VERIFY: Final = "face-recognition/verify"
PATH_AUTH_SESSION: Final = "auth/session"

T = TypeVar("T")

# -- sending: how each request becomes JSON -------------------------------------------

_OMIT = override(omit_if_default=True)

converter.register_unstructure_hook(
    CompareRequest, make_dict_unstructure_fn(CompareRequest, converter)
)
converter.register_unstructure_hook(
    CompareLiveRequest,
    make_dict_unstructure_fn(CompareLiveRequest, converter, compare_min_score=_OMIT),
)
converter.register_unstructure_hook(
    LivenessRequest,
    make_dict_unstructure_fn(
        LivenessRequest, converter, liveness_min_score=_OMIT, collection_id=_OMIT
    ),
)
converter.register_unstructure_hook(
    DetectRequest,
    make_dict_unstructure_fn(
        DetectRequest, converter, return_landmarks=_OMIT, return_attributes=_OMIT
    ),
)
converter.register_unstructure_hook(
    SearchRequest,
    make_dict_unstructure_fn(
        SearchRequest,
        converter,
        images_=override(rename="images"),
        collection_id=_OMIT,
        max_results=_OMIT,
    ),
)
converter.register_unstructure_hook(
    VerifyRequest,
    make_dict_unstructure_fn(
        VerifyRequest,
        converter,
        person_id=override(rename="id"),
        images_=override(rename="images"),
        collection_id=_OMIT,
    ),
)

# -- reading: small records structured by the shared converter ---------------------------

converter.register_structure_hook(BoundingBox, make_dict_structure_fn(BoundingBox, converter))


def _structure(cls: type[T], value: Any, field: str) -> T:
    try:
        return converter.structure(value, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc))
        raise WireError(field, f"cannot be read: {problems}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise WireError(field, f"cannot be read: {exc}") from None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return value if isinstance(value, str) else str(value)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _envelope_fields(envelope: Mapping[str, Any], answer: Answer) -> dict[str, Any]:
    response_id = envelope.get("id")
    return {
        "signature": structure_signature(envelope.get("signature")),
        "response_id": response_id if isinstance(response_id, str) else None,
        "attempts": answer.attempts,
        "raw": dict(envelope),
    }


def _score_of(data: Mapping[str, Any], field: str) -> tuple[Any, float, Mapping[str, Any]]:
    """(raw, normalised, the object holding it) from ``{score}`` or ``{result{score}}``."""
    result = data.get("result")
    if isinstance(result, Mapping) and "score" in result:
        return result["score"], normalise_score(result["score"], f"{field}.result.score"), result
    return data.get("score"), normalise_score(data.get("score"), f"{field}.score"), data


def _judge_liveness(record: LivenessRecord, minimum: float) -> LivenessRecord:
    """Judge a record sent with neither minimum nor verdict against the requested minimum.

    A record with either is the API's own judgement and is kept as it is.
    """
    if record.min_score is not None or record.server_passed is not None:
        return record
    return attrs.evolve(record, min_score=minimum, passed=record.liveness_score > minimum)


# -- one parser per endpoint -----------------------------------------------------------


def parse_compare(answer: Answer, request: CompareRequest) -> CompareResult:
    """The result of a /compare answer.

    Both shapes are read: ``{score}`` and ``{result{score, compare_min_score, passed}}``.
    """

    def parse(data: Any, envelope: Mapping[str, Any]) -> CompareResult:
        record = as_mapping(data, "data")
        raw, score, holder = _score_of(record, "data")
        return CompareResult(
            score=score,
            raw_score=raw,
            compare_min_score=request.compare_min_score,
            server_passed=_flag(holder.get("passed")),
            server_min_score=optional_score(
                holder.get("compare_min_score"), "data.result.compare_min_score"
            ),
            id=_text(record.get("_id", record.get("id"))),
            status=_text(record.get("status")),
            **_envelope_fields(envelope, answer),
        )

    return parse_with(answer, parse)


def parse_compare_live(answer: Answer, request: CompareLiveRequest) -> CompareLiveResult:
    """The result of a /compare-live answer: ``{score, liveness{...}}``.

    Also read: the score under ``result`` or a full ``comparison`` record, and
    a liveness record with its own ``result``.
    """

    def parse(data: Any, envelope: Mapping[str, Any]) -> CompareLiveResult:
        record = as_mapping(data, "data")
        if "comparison" in record and "score" not in record:
            comparison = structure_comparison(record["comparison"])
            raw, score = comparison.raw_score, comparison.score
        else:
            raw, score, _ = _score_of(record, "data")
        liveness_value = record.get("liveness")
        liveness = (
            None
            if liveness_value is None
            else _judge_liveness(structure_liveness(liveness_value), request.liveness_min_score)
        )
        return CompareLiveResult(
            score=score,
            raw_score=raw,
            liveness=liveness,
            compare_min_score=request.compare_min_score or DEFAULT_COMPARE_MIN_SCORE,
            **_envelope_fields(envelope, answer),
        )

    return parse_with(answer, parse)


def parse_liveness(answer: Answer, request: LivenessRequest) -> LivenessResult:
    """The result of a /liveness answer: ``{passed, min_score, liveness_score}`` or a record."""

    def parse(data: Any, envelope: Mapping[str, Any]) -> LivenessResult:
        record = _judge_liveness(
            structure_liveness(data, "data"),
            request.liveness_min_score or DEFAULT_LIVENESS_MIN_SCORE,
        )
        return LivenessResult(record=record, **_envelope_fields(envelope, answer))

    return parse_with(answer, parse)


def _face(value: Any, field: str) -> DetectedFace:
    face = as_mapping(value, field)
    box_value = face.get("bounding_box", face.get("boundingBox"))
    if box_value is None:
        raise WireError(f"{field}.bounding_box", "is missing")
    box = _structure(BoundingBox, as_mapping(box_value, f"{field}.bounding_box"), field)
    raw_confidence = face.get("confidence")
    attributes_value = face.get("attributes")
    attributes = None
    if isinstance(attributes_value, Mapping):
        attributes = FaceAttributes(
            age=_number(attributes_value.get("age")),
            gender=_text(attributes_value.get("gender")),
            extra={k: v for k, v in attributes_value.items() if k not in ("age", "gender")},
        )
    return DetectedFace(
        bounding_box=box,
        confidence=optional_score(raw_confidence, f"{field}.confidence"),
        raw_confidence=raw_confidence,
        landmarks=face.get("landmarks"),
        attributes=attributes,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_detect(answer: Answer, request: DetectRequest) -> DetectResult:
    """The result of a /detect answer: ``{faces[...], face_count}``."""

    def parse(data: Any, envelope: Mapping[str, Any]) -> DetectResult:
        record = as_mapping(data, "data")
        faces_value = record.get("faces")
        count_value = record.get("face_count")
        if faces_value is None:
            if count_value != 0:
                raise WireError("data.faces", "is missing")
            faces_value = []
        if not isinstance(faces_value, list):
            raise WireError("data.faces", f"must be an array, got {type(faces_value).__name__}")
        faces = tuple(_face(face, f"data.faces[{i}]") for i, face in enumerate(faces_value))
        count = (
            count_value
            if isinstance(count_value, int) and not isinstance(count_value, bool)
            else len(faces)
        )
        return DetectResult(faces=faces, face_count=count, **_envelope_fields(envelope, answer))

    return parse_with(answer, parse)


def _identified(value: Any, field: str) -> tuple[Mapping[str, Any], str | None, Any, float]:
    record = as_mapping(value, field)
    raw = record.get("score")
    score = normalise_score(raw, f"{field}.score")
    return record, _text(record.get("id", record.get("_id"))), raw, score


def parse_search(answer: Answer, request: SearchRequest) -> SearchResult:
    """The result of a /search answer: ``[{id, name, score, thumbnails}]``."""

    def parse(data: Any, envelope: Mapping[str, Any]) -> SearchResult:
        if not isinstance(data, list):
            raise WireError("data", f"must be an array of persons, got {type(data).__name__}")
        matches = []
        for i, item in enumerate(data):
            record, person_id, raw, score = _identified(item, f"data[{i}]")
            if person_id is None:
                raise WireError(f"data[{i}].id", "is missing")
            thumbnails = record.get("thumbnails")
            matches.append(
                SearchMatch(
                    id=person_id,
                    score=score,
                    raw_score=raw,
                    name=_text(record.get("name")),
                    thumbnails=tuple(thumbnails) if isinstance(thumbnails, list) else (),
                )
            )
        return SearchResult(
            matches=tuple(matches),
            min_score=request.min_score,
            **_envelope_fields(envelope, answer),
        )

    return parse_with(answer, parse)


def parse_verify(answer: Answer, request: VerifyRequest) -> VerifyResult:
    """The result of a /verify answer: ``{match{id, name, score, ...}}`` (``match`` null: none)."""

    def parse(data: Any, envelope: Mapping[str, Any]) -> VerifyResult:
        record = as_mapping(data, "data")
        if "match" in record:
            value = record["match"]
        elif "score" in record:
            value = record  # the match itself, not wrapped
        else:
            raise WireError("data.match", "is missing")
        match = None
        if value is not None:
            found, person_id, raw, score = _identified(value, "data.match")
            match = VerifyMatch(
                id=person_id, score=score, raw_score=raw, name=_text(found.get("name"))
            )
        return VerifyResult(
            match=match,
            person_id=request.person_id,
            min_score=request.min_score,
            **_envelope_fields(envelope, answer),
        )

    return parse_with(answer, parse)


# -- token renewal ---------------------------------------------------------------------


def token_renewal_path(expires_in_months: int) -> str:
    """The path and query of a token renewal; InputError unless a whole number >= 1."""
    if (
        isinstance(expires_in_months, bool)
        or not isinstance(expires_in_months, int)
        or expires_in_months < 1
    ):
        raise InputError(
            "expires_in_months", f"must be a whole number >= 1, got {expires_in_months!r}"
        )
    return f"{PATH_AUTH_SESSION}?origin=refresh&expiresIn={expires_in_months}"


def parse_token_renewal(answer: Answer) -> RenewedToken:
    """The new token from ``{accessToken, tokenType}``, bare or in the ``data`` envelope.

    The token never goes into an error message: a body that cannot be read
    raises ResponseError without quoting it.
    """
    if not 200 <= answer.status < 300:
        raise error_for(answer)
    try:
        payload = loads(answer.body)
    except (ValueError, TypeError, RecursionError):
        raise ResponseError(
            f"HTTP {answer.status} answer is not JSON ({len(answer.body)} bytes)",
            status=answer.status,
            body=b"",
            attempts=answer.attempts,
            retryable=True,
        ) from None
    source: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    if isinstance(source.get("data"), Mapping):
        source = source["data"]
    token = source.get("accessToken")
    if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
        # The body may hold a token in an unexpected place: keep it out of the error.
        raise ResponseError(
            f"HTTP {answer.status} answer has no usable accessToken",
            status=answer.status,
            body=b"",
            attempts=answer.attempts,
        )
    token_type = source.get("tokenType")
    return RenewedToken(
        access_token=token,
        token_type=token_type if isinstance(token_type, str) else "bearer",
        expires_at=jwt_expiry(token),
        attempts=answer.attempts,
    )


FACE_ENDPOINTS: Final[dict[type[Any], Endpoint[Any, Any]]] = {
    CompareRequest: Endpoint("POST", PATH_COMPARE, parse_compare),
    CompareLiveRequest: Endpoint("POST", PATH_COMPARE_LIVE, parse_compare_live),
    LivenessRequest: Endpoint("POST", PATH_LIVENESS, parse_liveness),
    DetectRequest: Endpoint("POST", PATH_DETECT, parse_detect),
    SearchRequest: Endpoint("POST", PATH_SEARCH, parse_search),
    VerifyRequest: Endpoint("POST", PATH_VERIFY, parse_verify),
}
"""The endpoint for each sibling request type, merged into VerifikClient.call's table."""
