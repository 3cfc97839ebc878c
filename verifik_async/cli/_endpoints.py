"""The endpoints ``batch --endpoint`` runs, as data: one :class:`EndpointSpec` each.

A spec says which manifest columns (and so which flags) the endpoint takes,
how a row becomes a request, and which fields its output lines carry. The
batch command reads everything endpoint-specific from :data:`ENDPOINTS`;
adding an endpoint is adding a row to that table.
"""

from __future__ import annotations

import operator
import textwrap
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from .._errors import InputError, VerifikError
from .._face_models import (
    CompareRequest,
    FaceVerdict,
    LivenessRequest,
    SearchRequest,
    SearchResult,
)
from .._images import Image
from .._models import CompareLivenessRequest, Verdict
from ._manifest import ManifestColumns, flag_of
from ._output import OutputField, line_fields

__all__ = [
    "COMPARE_WITH_LIVENESS",
    "ENDPOINTS",
    "EndpointSpec",
    "endpoints_help",
    "endpoints_using",
]

COMPARE_WITH_LIVENESS: Final = "compare-with-liveness"

RequestBuilder = Callable[[Image, tuple[Image, ...], Mapping[str, Any]], Any]

# Stands in for the images of a throwaway request that checks the flags alone.
_PLACEHOLDER: Final = Image.from_bytes(b"\x89PNG\r\n\x1a\n")


@attrs.frozen
class EndpointSpec:
    """What one endpoint takes from a manifest row and puts in an output line.

    ``options`` are the request options it takes (manifest columns of those
    names, and their flags as defaults); ``required_options`` those a row or
    a flag must give. ``build(probe, gallery, options)`` makes the request
    (``gallery`` is empty unless ``uses_gallery``). ``outputs`` are the
    endpoint's own output fields; ``verdicts`` what its ``verdict`` can be.
    ``probe_field`` is the request's name for the probe image, so that an
    image error can name the ``probe`` column instead. ``stand_ins`` are valid
    values for ``required_options`` when checking the flags alone.
    """

    name: str
    summary: str
    uses_gallery: bool
    options: tuple[str, ...]
    build: RequestBuilder
    outputs: tuple[OutputField, ...]
    verdicts: tuple[str, ...]
    probe_field: str
    required_options: tuple[str, ...] = ()
    stand_ins: Mapping[str, Any] = attrs.field(factory=dict)
    output_note: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field of this endpoint's output lines, in order."""
        return line_fields(self.outputs)

    def columns(self, defaults: Mapping[str, Any]) -> ManifestColumns:
        """The manifest columns, given the flags in ``defaults`` (a flag frees its column)."""
        required: tuple[str, ...] = ("probe", "gallery") if self.uses_gallery else ("probe",)
        required += tuple(name for name in self.required_options if name not in defaults)
        allowed = frozenset(
            ("probe", "gallery", *self.options) if self.uses_gallery else ("probe", *self.options)
        )
        return ManifestColumns(self.name, required, allowed)

    def check_defaults(self, defaults: Mapping[str, Any]) -> None:
        """Check request options given as flags; raises InputError naming the field.

        A throwaway request is built, so the rules are exactly the request's own.
        """
        unused = [name for name in defaults if name not in self.options]
        if unused:
            users = ", ".join(endpoints_using(unused[0]))
            raise InputError(unused[0], f"is not used by --endpoint {self.name} (only by {users})")
        options = {**self.stand_ins, **defaults}
        self.build(_PLACEHOLDER, (_PLACEHOLDER,) if self.uses_gallery else (), options)

    def restate(self, error: VerifikError | None, line: int) -> VerifikError | None:
        """An input error the client raised for a row's image, restated with its manifest line.

        The client names request fields (``images[0]`` for search); the
        restated error names the manifest column instead. Other errors, and
        ones already naming their line, are returned as they are.
        """
        if (
            not isinstance(error, InputError)
            or error.attempts
            or error.field.startswith("manifest line")
        ):
            return error
        column = "probe" if error.field == self.probe_field else error.field
        return type(error)(f"manifest line {line}", f"{column}: {error.problem}")


def _compare_with_liveness(
    probe: Image, gallery: tuple[Image, ...], options: Mapping[str, Any]
) -> CompareLivenessRequest:
    return CompareLivenessRequest(probe, gallery, **options)


def _compare(probe: Image, gallery: tuple[Image, ...], options: Mapping[str, Any]) -> Any:
    return CompareRequest([probe], gallery, **options)


def _liveness(probe: Image, gallery: tuple[Image, ...], options: Mapping[str, Any]) -> Any:
    return LivenessRequest(probe, **options)


def _search(probe: Image, gallery: tuple[Image, ...], options: Mapping[str, Any]) -> Any:
    return SearchRequest(images=[probe], **options)


def _best(attribute: str) -> Callable[[SearchResult], Any]:
    def value(result: SearchResult) -> Any:
        best = result.best
        return None if best is None else getattr(best, attribute)

    return value


def _field(name: str, attribute: str | None = None) -> OutputField:
    return OutputField(name, operator.attrgetter(attribute or name))


ENDPOINTS: Final[Mapping[str, EndpointSpec]] = {
    spec.name: spec
    for spec in (
        EndpointSpec(
            name=COMPARE_WITH_LIVENESS,
            summary="a selfie against a gallery, plus a liveness check of the selfie",
            uses_gallery=True,
            options=("os", "search_mode", "compare_min_score", "liveness_min_score"),
            build=_compare_with_liveness,
            outputs=(
                _field("score"),
                _field("liveness_score"),
                _field("matched"),
                _field("live"),
                _field("verified"),
            ),
            verdicts=tuple(Verdict),
            probe_field="probe",
        ),
        EndpointSpec(
            name="compare",
            summary="a selfie against a gallery, without liveness (1:N)",
            uses_gallery=True,
            options=("search_mode", "compare_min_score"),
            build=_compare,
            outputs=(_field("score"), _field("matched")),
            verdicts=(FaceVerdict.MATCHED, FaceVerdict.NOT_MATCHED),
            probe_field="probe[0]",
        ),
        EndpointSpec(
            name="liveness",
            summary="a liveness check of the selfie alone",
            uses_gallery=False,
            options=("os", "liveness_min_score", "collection_id"),
            build=_liveness,
            outputs=(_field("liveness_score"), _field("live", "passed")),
            verdicts=(FaceVerdict.LIVE, FaceVerdict.NOT_LIVE),
            probe_field="image",
        ),
        EndpointSpec(
            name="search",
            summary="the stored persons that match the selfie",
            uses_gallery=False,
            options=("min_score", "search_mode", "collection_id", "max_results"),
            required_options=("min_score",),
            stand_ins={"min_score": 1.0},
            build=_search,
            outputs=(
                OutputField("best_id", _best("id")),
                OutputField("best_name", _best("name")),
                OutputField("best_score", _best("score")),
                OutputField("match_count", lambda result: len(result.matches)),
                _field("found"),
            ),
            verdicts=(FaceVerdict.FOUND, FaceVerdict.NOT_FOUND),
            probe_field="images[0]",
            output_note="best_* describe the highest-scoring match, null when none",
        ),
    )
}


def endpoints_using(option: str) -> list[str]:
    """The endpoints that take request option ``option``, in table order."""
    return [spec.name for spec in ENDPOINTS.values() if option in spec.options]


def _wrapped(text: str, indent: str, hang: str) -> list[str]:
    return textwrap.wrap(text, width=78, initial_indent=indent, subsequent_indent=hang)


def endpoints_help() -> str:
    """The --help text on each endpoint's columns and output fields, from :data:`ENDPOINTS`."""
    lines = ["endpoints (--endpoint NAME); every manifest needs the columns id and probe:"]
    for spec in ENDPOINTS.values():
        default = " (the default)" if spec.name == COMPARE_WITH_LIVENESS else ""
        lines += _wrapped(f"{spec.name}{default}: {spec.summary}", "  ", "    ")
        required = ["gallery (required)"] if spec.uses_gallery else []
        required += [f"{name} (required, or {flag_of(name)})" for name in spec.required_options]
        optional = [name for name in spec.options if name not in spec.required_options]
        columns = ", ".join(required) + "; " if required else ""
        lines += _wrapped(f"columns: {columns}optional {', '.join(optional)}", "    ", "      ")
        outputs = ", ".join(field.name for field in spec.outputs)
        note = f" ({spec.output_note})" if spec.output_note else ""
        verdicts = ", ".join(spec.verdicts)
        lines += _wrapped(f"output: {outputs}{note}; verdict {verdicts}", "    ", "      ")
    lines += [
        "",
        *textwrap.wrap(
            "A known column that the endpoint does not use must be left empty: a value "
            "there makes that row an error line naming the column. Unknown columns are "
            "ignored, with a warning.",
            width=78,
        ),
    ]
    return "\n".join(lines)
