"""Requests and results of the sibling face endpoints, as frozen attrs classes.

/face-recognition/compare, /compare-live, /liveness, /detect, /search and
/verify. As in ``_models``, no wire details live here, and a request checks
itself when built: a bad value raises :class:`InputError` naming the field,
before any network call.

Required fields: a field the API requires and documents a default for (``os``
DESKTOP, ``search_mode`` FAST, ``liveness_min_score`` 0.6) gets that default
here and is always sent; one without a documented default (``min_score`` of
search and verify, a person ``id``, the images) must be given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

import attrs

from ._errors import InputError
from ._images import Image
from ._models import (
    COMPARE_MIN_SCORE_RANGE,
    DEFAULT_COMPARE_MIN_SCORE,
    DEFAULT_LIVENESS_MIN_SCORE,
    LIVENESS_MIN_SCORE_RANGE,
    OS,
    KycVerdictMixin,
    LivenessRecord,
    SearchMode,
    Signature,
    coerce_gallery,
    score_field,
    to_os,
    to_search_mode,
)

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "MAX_RESULTS_LIMIT",
    "SEARCH_MIN_SCORE_RANGE",
    "VERIFY_MIN_SCORE_RANGE",
    "BoundingBox",
    "CompareLiveRequest",
    "CompareLiveResult",
    "CompareRequest",
    "CompareResult",
    "DetectRequest",
    "DetectResult",
    "DetectedFace",
    "FaceAttributes",
    "FaceVerdict",
    "LivenessRequest",
    "LivenessResult",
    "SearchMatch",
    "SearchRequest",
    "SearchResult",
    "VerifyMatch",
    "VerifyRequest",
    "VerifyResult",
    "coerce_images",
]

SEARCH_MIN_SCORE_RANGE: Final = (0.2, 1.0)
VERIFY_MIN_SCORE_RANGE: Final = (0.5, 1.0)
DEFAULT_MAX_RESULTS: Final = 10
"""The API's default ``max_results`` for search (sent only when set)."""
MAX_RESULTS_LIMIT: Final = 100


class FaceVerdict(StrEnum):
    """The one-word outcome of a sibling call (batch summaries count these)."""

    MATCHED = "matched"
    NOT_MATCHED = "not_matched"
    LIVE = "live"
    NOT_LIVE = "not_live"
    FOUND = "found"
    NOT_FOUND = "not_found"


# -- field converters ---------------------------------------------------------------


def coerce_images(value: Any, field: str) -> tuple[Image, ...]:
    """One image or an iterable of images as a non-empty tuple; InputError naming ``field``."""
    if isinstance(value, Image | bytes | bytearray | memoryview | str) or hasattr(
        value, "__fspath__"
    ):
        return (Image.coerce(value, f"{field}[0]"),)
    if value is None:
        raise InputError(field, "is required: give one or more images")
    if isinstance(value, Mapping):
        raise InputError(field, "must be an image or a list of images, not a mapping")
    try:
        items = list(value)
    except TypeError:
        raise InputError(
            field, f"must be an image or a list of images, not {type(value).__name__}"
        ) from None
    if not items:
        raise InputError(field, "must hold at least one image")
    return tuple(Image.coerce(item, f"{field}[{i}]") for i, item in enumerate(items))


def _probe_image(value: Any) -> Image:
    if value is None:
        raise InputError("probe", "is required")
    return Image.coerce(value, "probe")


def _single_image(value: Any) -> Image:
    if value is None:
        raise InputError("image", "is required")
    return Image.coerce(value, "image")


def _probe_list(value: Any) -> tuple[Image, ...]:
    return coerce_images(value, "probe")


def _image_list(value: Any) -> tuple[Image, ...]:
    return coerce_images(value, "images")


def _required_score(field: str, value: Any, bounds: tuple[float, float]) -> float:
    if value is None:
        low, high = bounds
        raise InputError(field, f"is required: a score between {low} and {high}")
    return score_field(field, value, bounds)


def _compare_min(value: Any) -> float:
    return _required_score("compare_min_score", value, COMPARE_MIN_SCORE_RANGE)


def _optional_compare_min(value: Any) -> float | None:
    return None if value is None else _compare_min(value)


def _liveness_min(value: Any) -> float:
    return _required_score("liveness_min_score", value, LIVENESS_MIN_SCORE_RANGE)


def _optional_liveness_min(value: Any) -> float | None:
    return None if value is None else _liveness_min(value)


def _search_min(value: Any) -> float:
    return _required_score("min_score", value, SEARCH_MIN_SCORE_RANGE)


def _verify_min(value: Any) -> float:
    return _required_score("min_score", value, VERIFY_MIN_SCORE_RANGE)


def _collection_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError("collection_id", "must be a non-empty string or None")
    return value.strip()


def _optional_bool(field: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not isinstance(value, bool):
            raise InputError(field, f"must be true, false or None, got {value!r}")

    return check


def _person_id(value: Any) -> str:
    if value is None:
        raise InputError("person_id", "is required: the stored person's id")
    if not isinstance(value, str) or not value.strip():
        raise InputError("person_id", f"must be a non-empty string, got {type(value).__name__}")
    return value.strip()


def _max_results(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("max_results", f"must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_RESULTS_LIMIT:
        raise InputError("max_results", f"must be between 1 and {MAX_RESULTS_LIMIT}, got {value!r}")
    return value


def _numbered(field: str, images: tuple[Image, ...]) -> Iterable[tuple[str, Image]]:
    for i, image in enumerate(images):
        yield f"{field}[{i}]", image


# -- requests -----------------------------------------------------------------------


@attrs.frozen
class CompareRequest:
    """A 1:N comparison without liveness (``/face-recognition/compare``).

    ``probe`` is one image or a list of images (the API takes a list);
    ``gallery`` one image or a list. ``compare_min_score`` (0.67-0.95,
    default 0.85) is always sent. Images may be bytes, paths, base64 strings,
    data URIs or :class:`Image` objects.
    """

    probe: tuple[Image, ...] = attrs.field(converter=_probe_list)
    gallery: tuple[Image, ...] = attrs.field(converter=coerce_gallery)
    search_mode: SearchMode = attrs.field(
        default=SearchMode.FAST, converter=to_search_mode, kw_only=True
    )
    compare_min_score: float = attrs.field(
        default=DEFAULT_COMPARE_MIN_SCORE,
        converter=_compare_min,
        kw_only=True,
    )

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        yield from _numbered("probe", self.probe)
        yield from _numbered("gallery", self.gallery)


@attrs.frozen
class CompareLiveRequest:
    """A comparison plus liveness on the probe (``/face-recognition/compare-live``).

    ``liveness_min_score`` (0.52-1) is required by the API and defaults to
    0.6 here; ``compare_min_score`` (0.67-0.95) is sent only when set.
    """

    probe: Image = attrs.field(converter=_probe_image)
    gallery: tuple[Image, ...] = attrs.field(converter=coerce_gallery)
    os: OS = attrs.field(default=OS.DESKTOP, converter=to_os, kw_only=True)
    search_mode: SearchMode = attrs.field(
        default=SearchMode.FAST, converter=to_search_mode, kw_only=True
    )
    liveness_min_score: float = attrs.field(
        default=DEFAULT_LIVENESS_MIN_SCORE,
        converter=_liveness_min,
        kw_only=True,
    )
    compare_min_score: float | None = attrs.field(
        default=None,
        converter=_optional_compare_min,
        kw_only=True,
    )

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        yield "probe", self.probe
        yield from _numbered("gallery", self.gallery)


@attrs.frozen
class LivenessRequest:
    """A liveness check of one selfie (``/face-recognition/liveness``).

    ``liveness_min_score`` (0.52-1) is sent only when set; the API then uses
    0.6. ``collection_id`` is sent only when set.
    """

    image: Image = attrs.field(converter=_single_image)
    os: OS = attrs.field(default=OS.DESKTOP, converter=to_os, kw_only=True)
    liveness_min_score: float | None = attrs.field(
        default=None,
        converter=_optional_liveness_min,
        kw_only=True,
    )
    collection_id: str | None = attrs.field(default=None, converter=_collection_id, kw_only=True)

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        yield "image", self.image


@attrs.frozen
class DetectRequest:
    """Face detection in one image (``/face-recognition/detect``).

    ``return_landmarks`` and ``return_attributes`` are sent only when set.
    """

    image: Image = attrs.field(converter=_single_image)
    return_landmarks: bool | None = attrs.field(
        default=None, validator=_optional_bool("return_landmarks"), kw_only=True
    )
    return_attributes: bool | None = attrs.field(
        default=None, validator=_optional_bool("return_attributes"), kw_only=True
    )

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        yield "image", self.image


@attrs.frozen
class SearchRequest:
    """A search of stored persons by face (``/face-recognition/search``).

    ``images`` is one image or a list; ``min_score`` (0.2-1) is required.
    ``collection_id`` narrows the search; ``max_results`` (1-100, the API's
    default 10) is sent only when set. The images are kept in ``images_``
    (``images()`` lists them with their field names, as on every request).
    """

    images_: tuple[Image, ...] = attrs.field(converter=_image_list, alias="images")
    min_score: float = attrs.field(
        default=None,
        converter=_search_min,
        kw_only=True,
    )
    search_mode: SearchMode = attrs.field(
        default=SearchMode.FAST, converter=to_search_mode, kw_only=True
    )
    collection_id: str | None = attrs.field(default=None, converter=_collection_id, kw_only=True)
    max_results: int | None = attrs.field(default=None, converter=_max_results, kw_only=True)

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        return _numbered("images", self.images_)


@attrs.frozen
class VerifyRequest:
    """A 1:1 check of images against one stored person (``/face-recognition/verify``).

    ``person_id`` is sent as ``id``; ``images`` is one image or a list (kept
    in ``images_``); ``min_score`` (0.5-1) is required; ``collection_id`` is
    sent only when set.
    """

    person_id: str = attrs.field(converter=_person_id)
    images_: tuple[Image, ...] = attrs.field(converter=_image_list, alias="images")
    min_score: float = attrs.field(
        default=None,
        converter=_verify_min,
        kw_only=True,
    )
    search_mode: SearchMode = attrs.field(
        default=SearchMode.FAST, converter=to_search_mode, kw_only=True
    )
    collection_id: str | None = attrs.field(default=None, converter=_collection_id, kw_only=True)

    def images(self) -> Iterable[tuple[str, Image]]:
        """Every image with the field name an error about it should carry."""
        return _numbered("images", self.images_)


# -- results ------------------------------------------------------------------------


@attrs.frozen
class CompareResult:
    """The answer of ``/face-recognition/compare``.

    ``score`` is the best score normalised to [0, 1]; ``raw_score`` is what
    the API sent. ``matched``: ``score >= compare_min_score`` (the request's).
    ``server_passed`` and ``server_min_score`` are the API's own fields when
    it sent the ``{result: {score, compare_min_score, passed}}`` shape.
    """

    score: float
    raw_score: Any = attrs.field(eq=False)
    compare_min_score: float
    server_passed: bool | None = None
    server_min_score: float | None = None
    id: str | None = None
    status: str | None = None
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def matched(self) -> bool:
        """Whether the probe matched the gallery."""
        return self.score >= self.compare_min_score

    @property
    def verdict(self) -> FaceVerdict:
        """MATCHED or NOT_MATCHED."""
        return FaceVerdict.MATCHED if self.matched else FaceVerdict.NOT_MATCHED


@attrs.frozen
class CompareLiveResult(KycVerdictMixin):
    """The answer of ``/face-recognition/compare-live``: a score and the probe's liveness.

    ``matched``: the score reached ``compare_min_score`` (the request's, else
    0.85). ``live``: liveness is present and passed (strictly above its
    minimum). ``verified``: both. ``liveness`` is None when the API sent none.
    """

    score: float
    raw_score: Any = attrs.field(eq=False)
    liveness: LivenessRecord | None
    compare_min_score: float
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class LivenessResult:
    """The answer of ``/face-recognition/liveness``.

    ``record`` holds everything the API sent, from either answer shape (the
    flat ``{passed, min_score, liveness_score}`` or a full record with
    ``result``). ``passed`` is ``liveness_score > min_score`` strictly, on
    normalised scores; ``server_passed`` is the API's own flag.
    """

    record: LivenessRecord
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def liveness_score(self) -> float:
        """The liveness score in [0, 1]."""
        return self.record.liveness_score

    @property
    def raw_liveness_score(self) -> Any:
        """The liveness score as the API sent it."""
        return self.record.raw_liveness_score

    @property
    def min_score(self) -> float | None:
        """The minimum the score had to exceed: the API's, else the one requested (or 0.6).

        None when the API sent its verdict but not its minimum.
        """
        return self.record.min_score

    @property
    def passed(self) -> bool:
        """Whether the selfie is of a live person."""
        return self.record.passed

    @property
    def server_passed(self) -> bool | None:
        """The API's own ``passed`` flag, if it sent one."""
        return self.record.server_passed

    @property
    def verdict(self) -> FaceVerdict:
        """LIVE or NOT_LIVE."""
        return FaceVerdict.LIVE if self.passed else FaceVerdict.NOT_LIVE


@attrs.frozen
class BoundingBox:
    """Where a face is, in pixels from the image's top-left corner."""

    x: float
    y: float
    width: float
    height: float


@attrs.frozen
class FaceAttributes:
    """Estimated attributes of a face; ``extra`` holds any others the API sent."""

    age: float | None = None
    gender: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class DetectedFace:
    """One face found by detect.

    ``confidence`` is normalised to [0, 1] (None when absent), ``raw_confidence``
    as sent. ``landmarks`` is the API's JSON as is (None unless asked for);
    ``attributes`` None unless asked for.
    """

    bounding_box: BoundingBox
    confidence: float | None = None
    raw_confidence: Any = attrs.field(default=None, eq=False)
    landmarks: Any = None
    attributes: FaceAttributes | None = None


@attrs.frozen
class DetectResult:
    """The answer of ``/face-recognition/detect``: the faces found in the image."""

    faces: tuple[DetectedFace, ...]
    face_count: int
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def has_face(self) -> bool:
        """Whether at least one face was found."""
        return self.face_count > 0

    @property
    def single_face(self) -> DetectedFace | None:
        """The face when exactly one was found (what a selfie should hold), else None."""
        return self.faces[0] if self.face_count == 1 and len(self.faces) == 1 else None


@attrs.frozen
class SearchMatch:
    """A stored person that search found. ``thumbnails`` are as sent (not in the repr)."""

    id: str
    score: float
    raw_score: Any = attrs.field(eq=False)
    name: str | None = None
    thumbnails: tuple[Any, ...] = attrs.field(default=(), repr=False, eq=False)


@attrs.frozen
class SearchResult:
    """The answer of ``/face-recognition/search``: matching persons, in the API's order.

    ``found``: some person scored at least ``min_score`` (the request's).
    """

    matches: tuple[SearchMatch, ...]
    min_score: float
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def best(self) -> SearchMatch | None:
        """The highest-scoring match, or None."""
        return max(self.matches, key=lambda match: match.score, default=None)

    @property
    def found(self) -> bool:
        """Whether some stored person matched."""
        return any(match.score >= self.min_score for match in self.matches)

    @property
    def verdict(self) -> FaceVerdict:
        """FOUND or NOT_FOUND."""
        return FaceVerdict.FOUND if self.found else FaceVerdict.NOT_FOUND


@attrs.frozen
class VerifyMatch:
    """The stored person verify matched against."""

    id: str | None
    score: float
    raw_score: Any = attrs.field(eq=False)
    name: str | None = None


@attrs.frozen
class VerifyResult:
    """The answer of ``/face-recognition/verify``.

    ``match`` is None when the API reported no match. ``matched``: a match
    whose score reached ``min_score`` (the request's).
    """

    match: VerifyMatch | None
    person_id: str
    min_score: float
    signature: Signature | None = None
    response_id: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def score(self) -> float | None:
        """The match's score in [0, 1], or None without a match."""
        return None if self.match is None else self.match.score

    @property
    def matched(self) -> bool:
        """Whether the images are of the stored person."""
        return self.match is not None and self.match.score >= self.min_score

    @property
    def verdict(self) -> FaceVerdict:
        """MATCHED or NOT_MATCHED."""
        return FaceVerdict.MATCHED if self.matched else FaceVerdict.NOT_MATCHED
