"""Pure logic of the emulator: deterministic scores, request checks, response bodies.

Nothing here does I/O or imports aiohttp, so every rule of the emulated API can
be read and tested on its own. Scores depend only on the image bytes:

- comparison: ``1.0`` for identical bytes, else a stable value in ``[0.10, 0.97)``
  from the SHA-256 of both images (order-independent); about half of random
  pairs land at or above ``0.85``;
- liveness: a stable value in ``[0.30, 1.00)`` from the probe's SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeGuard

import attrs

__all__ = [
    "COMPARE_MIN_SCORE_RANGE",
    "DEFAULT_LIVENESS_MIN_SCORE",
    "LIVENESS_MIN_SCORE_RANGE",
    "MIN_IMAGE_BYTES",
    "OS_VALUES",
    "SEARCH_MODES",
    "ApiAnswer",
    "ImageInfo",
    "ResponseContext",
    "ScoreStyle",
    "SkippedLiveness",
    "answer_compare_with_liveness",
    "check_bearer",
    "comparison_score",
    "decode_image",
    "decode_jwt_claims",
    "encode_json",
    "error_answer",
    "invalid_request",
    "liveness_score",
    "make_jwt",
    "method_not_allowed",
    "not_found",
    "pair_score",
    "probe_key",
    "probe_liveness",
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
    authorization: str | None, token: str, *, now: float | None = None
) -> ApiAnswer | None:
    """Check an ``Authorization`` header; return the 401/403 answer, or None when accepted.

    Missing or non-Bearer → 401. A decodable JWT whose ``exp`` is past → 403
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
    if not secrets.compare_digest(value.encode(), token.encode()):
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


def _gallery_problem(gallery: object) -> str | None:
    if not isinstance(gallery, list):
        return '"gallery" must be an array'
    if not gallery:
        return '"gallery" must contain at least 1 items'
    for index, item in enumerate(gallery):
        if not isinstance(item, str):
            return f'"gallery[{index}]" must be a string'
        if not item:
            return f'"gallery[{index}]" is not allowed to be empty'
    return None


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
