"""Pure logic of the emulator: deterministic scores, request checks, response bodies.

Nothing here does I/O or imports aiohttp, so every rule of the emulated API can
be read and tested on its own. Scores depend only on the image bytes:

- comparison: ``1.0`` for identical bytes, else a stable value in ``[0.10, 0.97)``
  from the SHA-256 of both images (order-independent); about half of random
  pairs land at or above ``0.85``;
- liveness: a stable value in ``[0.30, 1.00)`` from the probe's SHA-256;
- detect: one face per image, its box, confidence, landmarks and attributes
  drawn from the image's SHA-256;
- search and verify: a stored person scores the best comparison score between
  the query images and the person's images.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeGuard

import attrs

__all__ = [
    "COMPARE_MIN_SCORE_RANGE",
    "DEFAULT_COMPARE_MIN_SCORE",
    "DEFAULT_LIVENESS_MIN_SCORE",
    "DEFAULT_MAX_RESULTS",
    "LIVENESS_MIN_SCORE_RANGE",
    "MAX_RESULTS_RANGE",
    "MIN_IMAGE_BYTES",
    "MONTH_SECONDS",
    "OS_VALUES",
    "SEARCH_MIN_SCORE_RANGE",
    "SEARCH_MODES",
    "VERIFY_MIN_SCORE_RANGE",
    "ApiAnswer",
    "ImageInfo",
    "PersonStore",
    "ResponseContext",
    "ScoreStyle",
    "SkippedLiveness",
    "StoredPerson",
    "answer_compare",
    "answer_compare_live",
    "answer_compare_with_liveness",
    "answer_detect",
    "answer_liveness",
    "answer_search",
    "answer_session",
    "answer_verify",
    "check_bearer",
    "comparison_score",
    "decode_image",
    "decode_jwt_claims",
    "detect_face",
    "encode_json",
    "error_answer",
    "image_info",
    "invalid_request",
    "liveness_score",
    "make_jwt",
    "method_not_allowed",
    "not_found",
    "pair_score",
    "probe_key",
    "probe_liveness",
    "session_months",
    "style_score",
    "validate_compare_with_liveness",
]

ScoreStyle = Literal["number", "string", "percent"]
"""How scores are written: floats, strings like ``"0.93"``, or percentages like ``93.0``."""

SkippedLiveness = Literal["missing", "null"]
"""How ``data.liveness`` looks when liveness did not run: absent, or ``null``."""

OS_VALUES: tuple[str, ...] = ("DESKTOP", "IOS", "ANDROID")
SEARCH_MODES: tuple[str, ...] = ("FAST", "ACCURATE")
COMPARE_MIN_SCORE_RANGE: tuple[float, float] = (0.67, 0.95)
LIVENESS_MIN_SCORE_RANGE: tuple[float, float] = (0.52, 1.0)
DEFAULT_LIVENESS_MIN_SCORE = 0.6
DEFAULT_COMPARE_MIN_SCORE = 0.85
SEARCH_MIN_SCORE_RANGE: tuple[float, float] = (0.2, 1.0)
VERIFY_MIN_SCORE_RANGE: tuple[float, float] = (0.5, 1.0)
MAX_RESULTS_RANGE: tuple[int, int] = (1, 100)
DEFAULT_MAX_RESULTS = 10
MONTH_SECONDS = 30 * 24 * 3600
"""One month of ``expiresIn``, for renewed tokens."""
MIN_IMAGE_BYTES = 64
"""Shortest decoded image the emulator accepts; shorter ones get 412."""

_REQUIRED_FIELDS = ("os", "probe", "gallery", "search_mode")
_MATCH_SPLIT = 0.85
_SCORE_FLOOR = 0.10
_SCORE_CEILING = 0.97
_LIVENESS_FLOOR = 0.30
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@attrs.frozen
class ApiAnswer:
    """What an endpoint answers: status, a JSON-serialisable payload, extra headers."""

    status: int
    payload: Any
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class ImageInfo:
    """A decoded image reduced to what scoring needs: its SHA-256 and size."""

    digest: bytes
    size: int

    @property
    def key(self) -> str:
        """The SHA-256 hex digest, as used for ``RecordedRequest.probe_key``."""
        return self.digest.hex()


def error_answer(status: int, code: str, message: str) -> ApiAnswer:
    """Return the API's usual ``{"code", "message"}`` error envelope."""
    return ApiAnswer(status, {"code": code, "message": message})


def invalid_request() -> ApiAnswer:
    """Return the 400 answered for a body that is not a JSON object."""
    return ApiAnswer(400, {"error": "Invalid request"})


def not_found() -> ApiAnswer:
    """Return the 404 answered for unknown paths."""
    return error_answer(404, "NotFound", "Record not found.")


def method_not_allowed(method: str, allowed: Sequence[str]) -> ApiAnswer:
    """Return a 405 naming the method, with an ``Allow`` header."""
    return ApiAnswer(
        405,
        {"code": "MethodNotAllowed", "message": f"{method} is not allowed"},
        (("Allow", ", ".join(sorted(allowed))),),
    )


def encode_json(payload: Any) -> bytes:
    """Serialise like the real server (Express): compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# -- images and scores ------------------------------------------------------------


def decode_image(value: object) -> ImageInfo | None:
    """Strictly decode a base64 image and hash it; None when it is not valid base64.

    Size is not checked here (see ``MIN_IMAGE_BYTES``); image formats are never sniffed.
    """
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return ImageInfo(hashlib.sha256(raw).digest(), len(raw))


def _raw_image(image: bytes | str) -> bytes:
    if isinstance(image, str):
        try:
            return base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("image given as str must be valid base64") from exc
    return bytes(image)


def probe_key(probe: bytes | str) -> str:
    """Return the key the emulator files a probe under: SHA-256 hex of its bytes.

    ``probe`` is the raw image bytes or its base64 text; raises ValueError for
    text that is not strict base64.
    """
    return hashlib.sha256(_raw_image(probe)).hexdigest()


def image_info(image: bytes | str) -> ImageInfo:
    """Return the ImageInfo of an image given as raw bytes or base64 text (ValueError if not)."""
    raw = _raw_image(image)
    return ImageInfo(hashlib.sha256(raw).digest(), len(raw))


def _unit(digest: bytes) -> float:
    """Map a digest to a float in [0, 1)."""
    return int.from_bytes(digest[:8], "big") / 2.0**64


def pair_score(a: bytes, b: bytes) -> float:
    """Return the comparison score of two images given by their SHA-256 digests."""
    if a == b:
        return 1.0
    low, high = sorted((a, b))
    u = _unit(hashlib.sha256(b"compare:" + low + high).digest())
    # Half of the unit interval maps to a match, so demos show both outcomes.
    if u >= 0.5:
        score = _MATCH_SPLIT + (u - 0.5) * 2 * (_SCORE_CEILING - _MATCH_SPLIT)
        return min(round(score, 4), _SCORE_CEILING - 0.0001)
    score = _SCORE_FLOOR + u * 2 * (_MATCH_SPLIT - _SCORE_FLOOR)
    return min(round(score, 4), _MATCH_SPLIT - 0.0001)


def probe_liveness(digest: bytes) -> float:
    """Return the liveness score of a probe given by its SHA-256 digest."""
    u = _unit(hashlib.sha256(b"liveness:" + digest).digest())
    return min(round(_LIVENESS_FLOOR + u * (1.0 - _LIVENESS_FLOOR), 2), 0.99)


def comparison_score(a: bytes | str, b: bytes | str) -> float:
    """Return the score the emulator reports for comparing image ``a`` with ``b``.

    Images are raw bytes or base64 text. Identical bytes score 1.0; other pairs
    get a stable value in [0.10, 0.97), the same in either order.
    """
    return pair_score(
        hashlib.sha256(_raw_image(a)).digest(), hashlib.sha256(_raw_image(b)).digest()
    )


def liveness_score(probe: bytes | str) -> float:
    """Return the liveness score the emulator reports for a probe (bytes or base64)."""
    return probe_liveness(hashlib.sha256(_raw_image(probe)).digest())


def _js_number(value: float) -> float | int:
    """Write integral floats as ints, the way JavaScript prints them."""
    return int(value) if float(value).is_integer() else value


def style_score(value: float, style: ScoreStyle, digits: int) -> float | int | str:
    """Write a score in ``style``: number (1 stays ``1``), string, or percent (x100)."""
    rounded = round(value, digits)
    if style == "string":
        text = f"{rounded:.{digits}f}".rstrip("0").rstrip(".")
        return text or "0"
    if style == "percent":
        return round(rounded * 100, max(digits - 2, 0))
    return _js_number(rounded)


# -- tokens -------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_jwt(exp: float, **claims: Any) -> str:
    """Build a JWT-shaped token (unsigned: random signature) expiring at ``exp``.

    ``exp`` is a Unix time; the payload holds ``_id`` (random hex), ``exp``, ``iat``
    (now) and any ``claims`` (which may override those). Use a past ``exp`` to get
    a token the emulator rejects with 403 ``token_expired``.
    """
    payload: dict[str, Any] = {
        "_id": secrets.token_hex(12),
        "exp": int(exp) if float(exp).is_integer() else exp,
        "iat": int(time.time()),
    }
    payload.update(claims)
    header = {"alg": "HS256", "typ": "JWT"}
    return ".".join(
        (
            _b64url(encode_json(header)),
            _b64url(encode_json(payload)),
            _b64url(secrets.token_bytes(32)),
        )
    )


def decode_jwt_claims(token: str) -> dict[str, Any] | None:
    """Return a JWT's payload claims without checking the signature; None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def check_bearer(
    authorization: str | None, token: str | Iterable[str], *, now: float | None = None
) -> ApiAnswer | None:
    """Check an ``Authorization`` header; return the 401/403 answer, or None when accepted.

    ``token`` is the accepted token, or several (after renewals). Missing or
    non-Bearer → 401. A decodable JWT whose ``exp`` is past → 403
    ``token_expired`` (even the server's own token). Any other foreign token → 403.
    """
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return error_answer(401, "UNAUTHORIZED", "Authentication required")
    claims = decode_jwt_claims(value)
    if claims is not None:
        exp = claims.get("exp")
        if _is_number(exp) and exp < (time.time() if now is None else now):
            return error_answer(403, "FORBIDDEN", "token_expired")
    accepted = (token,) if isinstance(token, str) else tuple(token)
    # Compare with every token, not stopping at a hit, so timing says nothing.
    hits = [secrets.compare_digest(value.encode(), known.encode()) for known in accepted]
    if not any(hits):
        return error_answer(403, "Forbidden", "Access forbidden")
    return None


# -- compare-with-liveness ------------------------------------------------------


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_missing(value: object) -> bool:
    # The real API tests `!body.field`: absent, null and "" all count as missing.
    return value is None or (isinstance(value, str) and not value)


def _one_of(field: str, value: object, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return None
    return f'"{field}" must be one of [{", ".join(allowed)}]'


def _in_range(field: str, body: Mapping[str, Any], bounds: tuple[float, float]) -> str | None:
    if field not in body:
        return None
    value = body[field]
    if not _is_number(value):
        return f'"{field}" must be a number'
    low, high = bounds
    if value < low:
        return f'"{field}" must be greater than or equal to {_js_number(low)}'
    if value > high:
        return f'"{field}" must be less than or equal to {_js_number(high)}'
    return None


def _array_problem(field: str, images: object) -> str | None:
    if not isinstance(images, list):
        return f'"{field}" must be an array'
    if not images:
        return f'"{field}" must contain at least 1 items'
    for index, item in enumerate(images):
        if not isinstance(item, str):
            return f'"{field}[{index}]" must be a string'
        if not item:
            return f'"{field}[{index}]" is not allowed to be empty'
    return None


def _gallery_problem(gallery: object) -> str | None:
    return _array_problem("gallery", gallery)


def _first_value_problem(body: Mapping[str, Any]) -> str | None:
    """Return the first Joi-style value error, in schema order (Joi aborts early)."""
    checks: tuple[Callable[[], str | None], ...] = (
        lambda: _one_of("os", body["os"], OS_VALUES),
        lambda: None if isinstance(body["probe"], str) else '"probe" must be a string',
        lambda: _gallery_problem(body["gallery"]),
        lambda: _one_of("search_mode", body["search_mode"], SEARCH_MODES),
        lambda: _in_range("compare_min_score", body, COMPARE_MIN_SCORE_RANGE),
        lambda: _in_range("liveness_min_score", body, LIVENESS_MIN_SCORE_RANGE),
        lambda: (
            '"cropFace" must be a boolean'
            if "cropFace" in body and not isinstance(body["cropFace"], bool)
            else None
        ),
    )
    for check in checks:
        problem = check()
        if problem is not None:
            return problem
    return None


def _bad_images() -> ApiAnswer:
    return error_answer(412, "ERROR", "only_images_in_base64")


def validate_compare_with_liveness(
    body: Mapping[str, Any], probe: ImageInfo | None = None
) -> ApiAnswer | tuple[ImageInfo, list[ImageInfo]]:
    """Check a compare-with-liveness body in the real API's order.

    Returns the error answer (409 missing fields, 409 value errors, 412 images),
    or the decoded probe and gallery when the body is acceptable. ``probe`` is
    the already-decoded probe, to avoid hashing it twice.
    """
    missing = [field for field in _REQUIRED_FIELDS if _is_missing(body.get(field))]
    if missing:
        message = ". ".join(f"missing {field}\n" for field in missing)
        return error_answer(409, "MissingParameter", message)
    problem = _first_value_problem(body)
    if problem is not None:
        return error_answer(409, "MissingParameter", problem)
    probe_info = probe if probe is not None else decode_image(body["probe"])
    if probe_info is None or probe_info.size < MIN_IMAGE_BYTES:
        return _bad_images()
    gallery: list[ImageInfo] = []
    for item in body["gallery"]:
        info = decode_image(item)
        if info is None or info.size < MIN_IMAGE_BYTES:
            return _bad_images()
        gallery.append(info)
    return probe_info, gallery


@attrs.frozen
class ResponseContext:
    """Server-side facts a response body needs besides the request."""

    client_id: str
    now: datetime
    new_object_id: Callable[[], str]
    request_id: str
    score_style: ScoreStyle = "number"
    skipped_liveness: SkippedLiveness = "missing"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _signature_time(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    month = _MONTHS[moment.month - 1]
    return f"{month} {moment.day}, {moment.year} {hour}:{moment.minute:02d} {half}"


def answer_compare_with_liveness(
    body: Mapping[str, Any],
    context: ResponseContext,
    *,
    probe: ImageInfo | None = None,
    score: float | None = None,
    liveness: float | None = None,
) -> ApiAnswer:
    """Validate a compare-with-liveness body and build the API's answer.

    ``score`` and ``liveness`` override the deterministic scores (see ``script``).
    Liveness runs only when the best score reaches ``compare_min_score`` (or that
    field is absent); it passes when its score is strictly above the minimum.
    """
    checked = validate_compare_with_liveness(body, probe)
    if isinstance(checked, ApiAnswer):
        return checked
    probe_info, gallery = checked
    if score is None:
        score = max(pair_score(probe_info.digest, item.digest) for item in gallery)
    style = context.score_style
    stamp = _iso(context.now)
    comparison = {
        "client": context.client_id,
        "type": "compareLive",
        "search_mode": body["search_mode"],
        "gallery": [],
        "probe": [],
        "status": "success",
        "_id": context.new_object_id(),
        "comparedAt": stamp,
        "result": {"score": style_score(score, style, 4)},
        "updatedAt": stamp,
        "createdAt": stamp,
        "__v": 0,
    }
    data: dict[str, Any] = {"comparison": comparison}
    compare_min = body.get("compare_min_score")
    if compare_min is None or round(score, 4) >= compare_min:
        min_score = body.get("liveness_min_score", DEFAULT_LIVENESS_MIN_SCORE)
        live = probe_liveness(probe_info.digest) if liveness is None else liveness
        data["liveness"] = {
            "client": context.client_id,
            "type": "liveness",
            "status": "success",
            "search_mode": body["search_mode"],
            "os": body["os"],
            "liveness_min_score": _js_number(float(min_score)),
            "_id": context.new_object_id(),
            "result": {
                "liveness_score": style_score(live, style, 2),
                "passed": live > min_score,
                "min_score": style_score(min_score, style, 4),
            },
            "updatedAt": stamp,
            "createdAt": stamp,
            "__v": 0,
        }
    elif context.skipped_liveness == "null":
        data["liveness"] = None
    return _envelope(data, context)


def _envelope(data: Any, context: ResponseContext) -> ApiAnswer:
    """Return a 200 with the API's success envelope around ``data``."""
    return ApiAnswer(
        200,
        {
            "data": data,
            "signature": {
                "dateTime": _signature_time(context.now),
                "message": "Certified by Verifik.co",
            },
            "id": context.request_id,
        },
    )


# -- the sibling endpoints ----------------------------------------------------------

Check = Callable[[], str | None]


def _validate(
    body: Mapping[str, Any], required: Sequence[str], checks: Sequence[Check]
) -> ApiAnswer | None:
    """Return the 409 for missing fields (all named), else for the first bad value, else None."""
    missing = [field for field in required if _is_missing(body.get(field))]
    if missing:
        return error_answer(
            409, "MissingParameter", ". ".join(f"missing {field}\n" for field in missing)
        )
    for check in checks:
        problem = check()
        if problem is not None:
            return error_answer(409, "MissingParameter", problem)
    return None


def _string_problem(field: str, value: object) -> str | None:
    return None if isinstance(value, str) else f'"{field}" must be a string'


def _optional_string(field: str, body: Mapping[str, Any]) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        return f'"{field}" must be a string'
    if not value:
        return f'"{field}" is not allowed to be empty'
    return None


def _optional_bool(field: str, body: Mapping[str, Any]) -> str | None:
    if field in body and not isinstance(body[field], bool):
        return f'"{field}" must be a boolean'
    return None


def _int_in_range(field: str, body: Mapping[str, Any], bounds: tuple[int, int]) -> str | None:
    if field not in body:
        return None
    value = body[field]
    if not _is_number(value) or not float(value).is_integer():
        return f'"{field}" must be an integer'
    low, high = bounds
    if value < low:
        return f'"{field}" must be greater than or equal to {low}'
    if value > high:
        return f'"{field}" must be less than or equal to {high}'
    return None


def _decode_images(values: Sequence[Any]) -> list[ImageInfo] | None:
    """Decode every image, or None when one is not base64 or too short (a 412)."""
    infos: list[ImageInfo] = []
    for value in values:
        info = decode_image(value)
        if info is None or info.size < MIN_IMAGE_BYTES:
            return None
        infos.append(info)
    return infos


def _one_image(body: Mapping[str, Any], field: str, known: ImageInfo | None) -> ImageInfo | None:
    info = known if known is not None else decode_image(body[field])
    return None if info is None or info.size < MIN_IMAGE_BYTES else info


def _best_score(probes: Sequence[ImageInfo], gallery: Sequence[ImageInfo]) -> float:
    return max(pair_score(a.digest, b.digest) for a in probes for b in gallery)


def answer_compare(
    body: Mapping[str, Any], context: ResponseContext, *, score: float | None = None
) -> ApiAnswer:
    """Answer ``/face-recognition/compare``: ``{score}``, the best over probes x gallery.

    Required: ``probe`` (an array), ``gallery``, ``search_mode``;
    ``compare_min_score`` within 0.67-0.95. ``score`` overrides the score.
    """
    problem = _validate(
        body,
        ("probe", "gallery", "search_mode"),
        (
            lambda: _array_problem("probe", body["probe"]),
            lambda: _array_problem("gallery", body["gallery"]),
            lambda: _one_of("search_mode", body["search_mode"], SEARCH_MODES),
            lambda: _in_range("compare_min_score", body, COMPARE_MIN_SCORE_RANGE),
        ),
    )
    if problem is not None:
        return problem
    probes = _decode_images(body["probe"])
    gallery = _decode_images(body["gallery"])
    if probes is None or gallery is None:
        return _bad_images()
    if score is None:
        score = _best_score(probes, gallery)
    return _envelope({"score": style_score(score, context.score_style, 4)}, context)


def _liveness_part(live: float, minimum: float, style: ScoreStyle) -> dict[str, Any]:
    return {
        "liveness_score": style_score(live, style, 2),
        "min_score": style_score(minimum, style, 4),
        "passed": live > minimum,
    }


def answer_compare_live(
    body: Mapping[str, Any],
    context: ResponseContext,
    *,
    probe: ImageInfo | None = None,
    score: float | None = None,
    liveness: float | None = None,
) -> ApiAnswer:
    """Answer ``/face-recognition/compare-live``: ``{score, liveness{...}}``.

    Required: ``probe``, ``gallery``, ``os``, ``search_mode``,
    ``liveness_min_score`` (0.52-1); ``compare_min_score`` within 0.67-0.95.
    Liveness always runs; it passes strictly above ``liveness_min_score``.
    """
    problem = _validate(
        body,
        ("probe", "gallery", "os", "search_mode", "liveness_min_score"),
        (
            lambda: _one_of("os", body["os"], OS_VALUES),
            lambda: _string_problem("probe", body["probe"]),
            lambda: _array_problem("gallery", body["gallery"]),
            lambda: _one_of("search_mode", body["search_mode"], SEARCH_MODES),
            lambda: _in_range("liveness_min_score", body, LIVENESS_MIN_SCORE_RANGE),
            lambda: _in_range("compare_min_score", body, COMPARE_MIN_SCORE_RANGE),
        ),
    )
    if problem is not None:
        return problem
    probe_info = _one_image(body, "probe", probe)
    gallery = _decode_images(body["gallery"])
    if probe_info is None or gallery is None:
        return _bad_images()
    if score is None:
        score = _best_score([probe_info], gallery)
    live = probe_liveness(probe_info.digest) if liveness is None else liveness
    style = context.score_style
    data = {
        "score": style_score(score, style, 4),
        "liveness": _liveness_part(live, float(body["liveness_min_score"]), style),
    }
    return _envelope(data, context)


def answer_liveness(
    body: Mapping[str, Any],
    context: ResponseContext,
    *,
    image: ImageInfo | None = None,
    liveness: float | None = None,
) -> ApiAnswer:
    """Answer ``/face-recognition/liveness``: ``{passed, min_score, liveness_score}``.

    Required: ``os``, ``image``; ``liveness_min_score`` within 0.52-1 (default
    0.6); ``collection_id`` a string. ``liveness`` overrides the score.
    """
    problem = _validate(
        body,
        ("os", "image"),
        (
            lambda: _one_of("os", body["os"], OS_VALUES),
            lambda: _string_problem("image", body["image"]),
            lambda: _optional_string("collection_id", body),
            lambda: _in_range("liveness_min_score", body, LIVENESS_MIN_SCORE_RANGE),
        ),
    )
    if problem is not None:
        return problem
    info = _one_image(body, "image", image)
    if info is None:
        return _bad_images()
    live = probe_liveness(info.digest) if liveness is None else liveness
    minimum = float(body.get("liveness_min_score", DEFAULT_LIVENESS_MIN_SCORE))
    part = _liveness_part(live, minimum, context.score_style)
    data = {
        "passed": part["passed"],
        "min_score": part["min_score"],
        "liveness_score": part["liveness_score"],
    }
    return _envelope(data, context)


def _draw(digest: bytes, label: bytes) -> float:
    return _unit(hashlib.sha256(label + digest).digest())


def detect_face(
    image: ImageInfo, *, landmarks: bool = False, attributes: bool = False
) -> dict[str, Any]:
    """Return the one face the emulator finds in an image, drawn from its SHA-256.

    The box is at least 224x224 px; ``confidence`` is in [0.90, 1.00).
    """
    digest = image.digest
    x = 25 + int(_draw(digest, b"x:") * 100)
    y = 25 + int(_draw(digest, b"y:") * 100)
    side = 224 + int(_draw(digest, b"side:") * 200)
    face: dict[str, Any] = {
        "bounding_box": {"x": x, "y": y, "width": side, "height": side},
        "confidence": round(0.9 + _draw(digest, b"confidence:") * 0.0999, 4),
    }
    if landmarks:
        eye_y, third = y + side * 0.4, side / 3
        face["landmarks"] = {
            "left_eye": {"x": round(x + third, 1), "y": round(eye_y, 1)},
            "right_eye": {"x": round(x + 2 * third, 1), "y": round(eye_y, 1)},
            "nose": {"x": round(x + side / 2, 1), "y": round(y + side * 0.6, 1)},
            "mouth_left": {"x": round(x + third, 1), "y": round(y + side * 0.8, 1)},
            "mouth_right": {"x": round(x + 2 * third, 1), "y": round(y + side * 0.8, 1)},
        }
    if attributes:
        face["attributes"] = {
            "age": 18 + int(_draw(digest, b"age:") * 60),
            "gender": "female" if _draw(digest, b"gender:") < 0.5 else "male",
        }
    return face


def answer_detect(
    body: Mapping[str, Any], context: ResponseContext, *, image: ImageInfo | None = None
) -> ApiAnswer:
    """Answer ``/face-recognition/detect``: ``{faces[...], face_count}`` (one face per image).

    Required: ``image``; ``return_landmarks`` and ``return_attributes`` booleans.
    """
    problem = _validate(
        body,
        ("image",),
        (
            lambda: _string_problem("image", body["image"]),
            lambda: _optional_bool("return_landmarks", body),
            lambda: _optional_bool("return_attributes", body),
        ),
    )
    if problem is not None:
        return problem
    info = _one_image(body, "image", image)
    if info is None:
        return _bad_images()
    face = detect_face(
        info,
        landmarks=body.get("return_landmarks") is True,
        attributes=body.get("return_attributes") is True,
    )
    face["confidence"] = style_score(face["confidence"], context.score_style, 4)
    return _envelope({"faces": [face], "face_count": 1}, context)


# -- stored persons: search and verify --------------------------------------------------


@attrs.frozen
class StoredPerson:
    """A person the emulator knows: id, name, the images enrolled, and the collection."""

    id: str
    name: str
    images: tuple[ImageInfo, ...] = attrs.field(repr=lambda images: f"<{len(images)} images>")
    collection_id: str | None = None

    def score(self, probes: Sequence[ImageInfo]) -> float:
        """Return the best comparison score between ``probes`` and this person's images."""
        return _best_score(probes, self.images)

    def thumbnails(self) -> list[str]:
        """Return the thumbnail references the API lists for this person."""
        return [f"thumbnails/{self.id}/{index}.jpg" for index in range(len(self.images))]


@attrs.define
class PersonStore:
    """The emulator's persons, in memory (pure: no I/O)."""

    _persons: dict[str, StoredPerson] = attrs.field(factory=dict)

    def add(self, person: StoredPerson) -> None:
        """Store ``person``, replacing one with the same id."""
        self._persons[person.id] = person

    def get(self, person_id: object) -> StoredPerson | None:
        """Return the person with this id, or None."""
        return self._persons.get(person_id) if isinstance(person_id, str) else None

    def candidates(self, collection_id: str | None) -> list[StoredPerson] | None:
        """Return every person, or those of a collection; None for an unknown collection."""
        persons = list(self._persons.values())
        if collection_id is None:
            return persons
        members = [person for person in persons if person.collection_id == collection_id]
        return members or None

    def all(self) -> tuple[StoredPerson, ...]:
        """Return every stored person, oldest first."""
        return tuple(self._persons.values())

    def clear(self) -> None:
        """Forget every person."""
        self._persons.clear()

    def __len__(self) -> int:
        return len(self._persons)


def answer_search(
    body: Mapping[str, Any], context: ResponseContext, persons: PersonStore
) -> ApiAnswer:
    """Answer ``/face-recognition/search``: ``[{id, name, score, thumbnails}]``, best first.

    Required: ``images`` (an array), ``min_score`` (0.2-1), ``search_mode``;
    ``collection_id`` a string (404 when no person is in it), ``max_results``
    an integer 1-100 (default 10). Persons scoring below ``min_score`` are left out.
    """
    problem = _validate(
        body,
        ("images", "min_score", "search_mode"),
        (
            lambda: _array_problem("images", body["images"]),
            lambda: _optional_string("collection_id", body),
            lambda: _int_in_range("max_results", body, MAX_RESULTS_RANGE),
            lambda: _in_range("min_score", body, SEARCH_MIN_SCORE_RANGE),
            lambda: _one_of("search_mode", body["search_mode"], SEARCH_MODES),
        ),
    )
    if problem is not None:
        return problem
    probes = _decode_images(body["images"])
    if probes is None:
        return _bad_images()
    candidates = persons.candidates(body.get("collection_id"))
    if candidates is None:
        return not_found()
    minimum = float(body["min_score"])
    scored = [(person.score(probes), person) for person in candidates]
    hits = sorted(
        ((score, person) for score, person in scored if round(score, 4) >= minimum),
        key=lambda hit: (-hit[0], hit[1].id),
    )
    limit = int(body.get("max_results", DEFAULT_MAX_RESULTS))
    style = context.score_style
    data = [
        {
            "id": person.id,
            "name": person.name,
            "score": style_score(score, style, 4),
            "thumbnails": person.thumbnails(),
        }
        for score, person in hits[:limit]
    ]
    return _envelope(data, context)


def answer_verify(
    body: Mapping[str, Any], context: ResponseContext, persons: PersonStore
) -> ApiAnswer:
    """Answer ``/face-recognition/verify``: ``{match{id, name, score}}``, or ``{match: null}``.

    Required: ``id``, ``images`` (an array), ``min_score`` (0.5-1),
    ``search_mode``; ``collection_id`` a string. An unknown person (or one not
    in that collection) is a 404; a score below ``min_score`` gives no match.
    """
    problem = _validate(
        body,
        ("id", "images", "min_score", "search_mode"),
        (
            lambda: _string_problem("id", body["id"]),
            lambda: _array_problem("images", body["images"]),
            lambda: _in_range("min_score", body, VERIFY_MIN_SCORE_RANGE),
            lambda: _one_of("search_mode", body["search_mode"], SEARCH_MODES),
            lambda: _optional_string("collection_id", body),
        ),
    )
    if problem is not None:
        return problem
    probes = _decode_images(body["images"])
    if probes is None:
        return _bad_images()
    person = persons.get(body["id"])
    collection_id = body.get("collection_id")
    if person is None or (collection_id is not None and person.collection_id != collection_id):
        return not_found()
    score = person.score(probes)
    match = None
    if round(score, 4) >= float(body["min_score"]):
        match = {
            "id": person.id,
            "name": person.name,
            "score": style_score(score, context.score_style, 4),
        }
    return _envelope({"match": match}, context)


# -- token renewal ----------------------------------------------------------------------


def session_months(query: Mapping[str, str]) -> ApiAnswer | int:
    """Check a renewal's query (``origin=refresh&expiresIn=N``); return N or the 409."""
    missing = [field for field in ("origin", "expiresIn") if not query.get(field)]
    if missing:
        return error_answer(
            409, "MissingParameter", ". ".join(f"missing {field}\n" for field in missing)
        )
    if query["origin"] != "refresh":
        return error_answer(409, "MissingParameter", '"origin" must be one of [refresh]')
    text = query["expiresIn"].strip()
    if not text.isdigit():
        return error_answer(409, "MissingParameter", '"expiresIn" must be an integer')
    months = int(text)
    if months < 1:
        return error_answer(
            409, "MissingParameter", '"expiresIn" must be greater than or equal to 1'
        )
    return months


def answer_session(token: str, context: ResponseContext) -> ApiAnswer:
    """Answer a renewal: ``{accessToken, tokenType: "bearer"}`` in the success envelope."""
    return _envelope({"accessToken": token, "tokenType": "bearer"}, context)
