"""Requests, responses and enums of compare-with-liveness, as frozen attrs classes.

No wire details live here: field renames, JSON and lenient parsing are in
``_wire.py``. Validation that needs no I/O happens when a request is built,
so bad input fails with an :class:`InputError` naming the field before any
network call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol, TypeAlias, TypeVar

import attrs

from ._errors import InputError
from ._images import Image, ImageInput

__all__ = [
    "COMPARE_MIN_SCORE_RANGE",
    "DEFAULT_COMPARE_MIN_SCORE",
    "DEFAULT_LIVENESS_MIN_SCORE",
    "LIVENESS_MIN_SCORE_RANGE",
    "OS",
    "CompareLivenessRequest",
    "CompareLivenessResult",
    "ComparisonRecord",
    "GalleryInput",
    "KycVerdictMixin",
    "LivenessRecord",
    "SearchMode",
    "Signature",
    "Verdict",
]

COMPARE_MIN_SCORE_RANGE: Final = (0.67, 0.95)
LIVENESS_MIN_SCORE_RANGE: Final = (0.52, 1.0)
# The API documents no default for compare-with-liveness; its sibling
# /compare uses 0.85, and so does `matched` when the request sets none.
DEFAULT_COMPARE_MIN_SCORE: Final = 0.85
DEFAULT_LIVENESS_MIN_SCORE: Final = 0.6

GalleryInput: TypeAlias = ImageInput | Iterable[ImageInput]

E = TypeVar("E", bound=StrEnum)


class OS(StrEnum):
    """The device the capture came from."""

    DESKTOP = "DESKTOP"
    IOS = "IOS"
    ANDROID = "ANDROID"


class SearchMode(StrEnum):
    """FAST or ACCURATE face search."""

    FAST = "FAST"
    ACCURATE = "ACCURATE"


class Verdict(StrEnum):
    """The KYC answer of one compare-with-liveness call."""

    VERIFIED = "verified"
    NOT_MATCHED = "not_matched"
    NOT_LIVE = "not_live"
    LIVENESS_MISSING = "liveness_missing"


def enum_field(enum: type[E], field: str, value: Any) -> E:
    """``value`` as a member of ``enum`` (names are case-insensitive), or InputError."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().upper())
        except ValueError:
            pass
    choices = ", ".join(m.value for m in enum)
    raise InputError(field, f"must be one of {choices}, got {value!r}")


def score_field(field: str, value: Any, bounds: tuple[float, float]) -> float:
    """``value`` as a float within ``bounds`` (inclusive), or InputError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, f"must be a number, got {type(value).__name__}")
    low, high = bounds
    if not math.isfinite(value):
        raise InputError(field, f"must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise InputError(field, f"must be between {low} and {high}, got {value!r}")
    return float(value)


def _optional_score(field: str, bounds: tuple[float, float]) -> Any:
    def convert(value: Any) -> float | None:
        return None if value is None else score_field(field, value, bounds)

    return attrs.field(default=None, converter=convert, kw_only=True)


def coerce_gallery(value: Any) -> tuple[Image, ...]:
    """One image or an iterable of images as a non-empty tuple of Image; InputError otherwise."""
    if isinstance(value, Image | bytes | bytearray | memoryview | str) or hasattr(
        value, "__fspath__"
    ):
        return (Image.coerce(value, "gallery[0]"),)
    if value is None:
        raise InputError("gallery", "is required: give one or more images")
    try:
        items = list(value)
    except TypeError:
        raise InputError(
            "gallery", f"must be an image or a list of images, not {type(value).__name__}"
        ) from None
    if not items:
        raise InputError("gallery", "must hold at least one image")
    return tuple(Image.coerce(item, f"gallery[{i}]") for i, item in enumerate(items))


def _coerce_probe(value: Any) -> Image:
    if value is None:
        raise InputError("probe", "is required")
    return Image.coerce(value, "probe")


def _check_crop_face(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InputError("crop_face", f"must be true, false or None, got {value!r}")


def to_os(value: Any) -> OS:
    """``value`` as an OS member, or InputError naming ``os``."""
    return enum_field(OS, "os", value)


def to_search_mode(value: Any) -> SearchMode:
    """``value`` as a SearchMode member, or InputError naming ``search_mode``."""
    return enum_field(SearchMode, "search_mode", value)


@attrs.frozen
class CompareLivenessRequest:
    """One compare-with-liveness call: a probe selfie against a gallery.

    ``probe`` and each gallery entry may be bytes, a path, a base64 string, a
    data URI or an :class:`Image`. ``compare_min_score`` (0.67-0.95) and
    ``liveness_min_score`` (0.52-1) are sent only when set. ``crop_face`` is
    sent as ``cropFace`` only when set (newer API docs say the server ignores
    it). Raises :class:`InputError` naming the field when a value is wrong.
    """

    probe: Image = attrs.field(converter=_coerce_probe)
    gallery: tuple[Image, ...] = attrs.field(converter=coerce_gallery)
    os: OS = attrs.field(default=OS.DESKTOP, converter=to_os, kw_only=True)
    search_mode: SearchMode = attrs.field(
        default=SearchMode.FAST, converter=to_search_mode, kw_only=True
    )
    compare_min_score: float | None = _optional_score("compare_min_score", COMPARE_MIN_SCORE_RANGE)
    liveness_min_score: float | None = _optional_score(
        "liveness_min_score", LIVENESS_MIN_SCORE_RANGE
    )
    crop_face: bool | None = attrs.field(default=None, validator=_check_crop_face, kw_only=True)

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        yield "probe", self.probe
        for i, image in enumerate(self.gallery):
            yield f"gallery[{i}]", image


@attrs.frozen
class Signature:
    """The API's certification of an answer."""

    date_time: str | None = None
    message: str | None = None


@attrs.frozen
class ComparisonRecord:
    """The comparison part of an answer.

    ``score`` is normalised to a float in [0, 1]; ``raw_score`` is what the
    API sent (a number, a numeric string, or a percentage).
    """

    score: float
    raw_score: Any = attrs.field(eq=False)
    status: str | None = None
    id: str | None = None
    client: str | None = None
    type: str | None = None
    search_mode: str | None = None
    compared_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen
class LivenessRecord:
    """The liveness part of an answer (absent when the comparison fell short).

    ``passed`` is ``liveness_score > min_score``, strictly, on normalised
    scores; ``server_passed`` is the API's own flag.
    """

    liveness_score: float
    min_score: float | None
    passed: bool
    raw_liveness_score: Any = attrs.field(eq=False)
    server_passed: bool | None = None
    status: str | None = None
    id: str | None = None
    client: str | None = None
    type: str | None = None
    os: str | None = None
    search_mode: str | None = None
    liveness_min_score: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class KycVerdictMixin:
    """``matched``, ``live``, ``verified`` and ``verdict`` of a result with a score and liveness.

    For result classes with ``score``, ``compare_min_score`` and ``liveness``
    (compare-with-liveness and compare-live answer the same KYC question).
    """

    __slots__ = ()

    @property
    def liveness_score(self: _ScoredWithLiveness) -> float | None:
        """The probe's liveness score in [0, 1], or None when liveness was skipped."""
        return None if self.liveness is None else self.liveness.liveness_score

    @property
    def matched(self: _ScoredWithLiveness) -> bool:
        """Whether the best comparison score reached ``compare_min_score``."""
        return self.score >= self.compare_min_score

    @property
    def live(self: _ScoredWithLiveness) -> bool:
        """Whether liveness ran and passed."""
        return self.liveness is not None and self.liveness.passed

    @property
    def verified(self: _ScoredWithLiveness) -> bool:
        """Matched and live: the KYC check passed."""
        return self.score >= self.compare_min_score and (
            self.liveness is not None and self.liveness.passed
        )

    @property
    def verdict(self: _ScoredWithLiveness) -> Verdict:
        """VERIFIED, or the first reason it is not."""
        if self.score < self.compare_min_score:
            return Verdict.NOT_MATCHED
        if self.liveness is None:
            return Verdict.LIVENESS_MISSING
        return Verdict.VERIFIED if self.liveness.passed else Verdict.NOT_LIVE


class _ScoredWithLiveness(Protocol):
    @property
    def score(self) -> float: ...
    @property
    def compare_min_score(self) -> float: ...
    @property
    def liveness(self) -> LivenessRecord | None: ...


@attrs.frozen
class CompareLivenessResult(KycVerdictMixin):
    """The answer of one compare-with-liveness call.

    ``matched``: the best comparison score reached ``compare_min_score`` (the
    request's, else 0.85). ``live``: liveness ran and passed. ``verified``:
    both. ``verdict`` says which, or why not. ``raw`` is the parsed JSON
    body; ``attempts`` counts HTTP attempts, retries included.
    """

    comparison: ComparisonRecord
    liveness: LivenessRecord | None
    signature: Signature | None
    response_id: str | None
    compare_min_score: float
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def score(self) -> float:
        """The best comparison score, in [0, 1]."""
        return self.comparison.score
