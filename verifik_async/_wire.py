"""The one cattrs converter: field renames, base64 images, lenient parsing of answers.

Sending is strict (only valid requests exist, see ``_models``); parsing is
lenient about extra fields, scores as strings or percentages and odd
timestamps, and strict about what a result needs: a body without it raises
:class:`WireError`, which ``_protocol`` turns into a ``ResponseError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._images import Image
from ._models import (
    CompareLivenessRequest,
    ComparisonRecord,
    LivenessRecord,
    Signature,
)

__all__ = [
    "WireError",
    "as_mapping",
    "converter",
    "dumps",
    "loads",
    "normalise_score",
    "optional_score",
    "structure_comparison",
    "structure_liveness",
    "structure_signature",
]


T = TypeVar("T")


class WireError(ValueError):
    """A JSON body that lacks, or garbles, something the result needs."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


dumps: Callable[[Any], bytes]
loads: Callable[[bytes], Any]
try:
    import orjson

    dumps = orjson.dumps
    loads = orjson.loads
except ImportError:  # pragma: no cover - exercised when the `fast` extra is absent
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode("utf-8")

    loads = json.loads


def normalise_score(value: Any, field: str) -> float:
    """A score as a float in [0, 1]; strings and percentages (> 1 or "93%") accepted."""
    percent = False
    if isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            raise WireError(field, f"is not a number: {value[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise WireError(field, "is not a score: a number too large") from None
    elif value is None:
        raise WireError(field, "is missing")
    else:
        raise WireError(field, f"is not a number but {type(value).__name__}")
    if not math.isfinite(number) or number < 0:
        raise WireError(field, f"is not a score: {value!r}")
    if percent or number > 1:
        number /= 100
    if number > 1:
        raise WireError(field, f"is over 100%: {value!r}")
    return number


def optional_score(value: Any, field: str) -> float | None:
    """A score as in ``normalise_score``, or None when absent or unreadable."""
    try:
        return None if value is None else normalise_score(value, field)
    except WireError:
        return None


def _structure_datetime(value: Any, _: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The API writes UTC ("...Z"); a stamp without an offset is UTC too, and one
    # naive datetime among aware ones would break every comparison a caller makes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _structure_str(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


converter: Final = cattrs.Converter(forbid_extra_keys=False)
converter.register_structure_hook(datetime | None, _structure_datetime)
converter.register_structure_hook(str | None, _structure_str)
converter.register_unstructure_hook(Image, lambda image: image.base64)
converter.register_unstructure_hook(
    CompareLivenessRequest,
    make_dict_unstructure_fn(
        CompareLivenessRequest,
        converter,
        compare_min_score=override(omit_if_default=True),
        liveness_min_score=override(omit_if_default=True),
        crop_face=override(rename="cropFace", omit_if_default=True),
    ),
)

_structure_comparison_fields = make_dict_structure_fn(
    ComparisonRecord,
    converter,
    id=override(rename="_id"),
    compared_at=override(rename="comparedAt"),
    created_at=override(rename="createdAt"),
    updated_at=override(rename="updatedAt"),
)
_structure_liveness_fields = make_dict_structure_fn(
    LivenessRecord,
    converter,
    id=override(rename="_id"),
    created_at=override(rename="createdAt"),
    updated_at=override(rename="updatedAt"),
)
_structure_signature_fields = make_dict_structure_fn(
    Signature, converter, date_time=override(rename="dateTime")
)


def as_mapping(value: Any, field: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else WireError naming ``field``."""
    if not isinstance(value, Mapping):
        raise WireError(field, f"must be an object, got {type(value).__name__}")
    return value


def structure_comparison(value: Any, field: str = "data.comparison") -> ComparisonRecord:
    """A ComparisonRecord from ``{..., result: {score}}`` (or a bare ``{score}``)."""
    record = as_mapping(value, field)
    result = record.get("result")
    if isinstance(result, Mapping) and "score" in result:
        raw, where = result["score"], f"{field}.result.score"
    else:
        raw, where = record.get("score"), f"{field}.result.score"
    fields = dict(record)
    fields["score"] = normalise_score(raw, where)
    fields["raw_score"] = raw
    return _structure(_structure_comparison_fields, fields, field)


def structure_liveness(value: Any, field: str = "data.liveness") -> LivenessRecord:
    """A LivenessRecord from a full record with ``result`` or the flat ``{liveness_score, ...}``."""
    record = as_mapping(value, field)
    result = record.get("result")
    source = result if isinstance(result, Mapping) else record
    raw = source.get("liveness_score")
    score = normalise_score(raw, f"{field}.result.liveness_score")
    min_score = optional_score(
        source.get("min_score", record.get("liveness_min_score")), f"{field}.min_score"
    )
    server_passed = source.get("passed")
    fields = dict(record)
    fields.update(
        liveness_score=score,
        raw_liveness_score=raw,
        min_score=min_score,
        passed=score > min_score if min_score is not None else server_passed is True,
        server_passed=server_passed if isinstance(server_passed, bool) else None,
        liveness_min_score=optional_score(
            record.get("liveness_min_score"), f"{field}.liveness_min_score"
        ),
    )
    return _structure(_structure_liveness_fields, fields, field)


def structure_signature(value: Any) -> Signature | None:
    """The envelope's signature, or None when absent or not an object."""
    if not isinstance(value, Mapping):
        return None
    return _structure(_structure_signature_fields, value, "signature")


def _structure(fn: Callable[[Any, Any], T], fields: Mapping[str, Any], field: str) -> T:
    try:
        return fn(fields, None)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise WireError(field, f"cannot be read: {exc}") from None
