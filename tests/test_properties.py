"""Property-based tests (hypothesis) of what the models accept and what the parser survives.

- Every CompareLivenessRequest the models accept, in every input form, is
  answered 200 by a real emulator, with the body it should carry.
- Whatever the models refuse, they refuse with an InputError naming a field.
- The response parser, fed any status, headers and body (arbitrary bytes,
  arbitrary JSON, envelope-shaped JSON with random leaves), only ever raises
  the library's own errors, and returns a result only for a 2xx.
"""

from __future__ import annotations

import base64
import json
import math
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_png
from verifik_async import (
    OS,
    APIError,
    CompareLivenessRequest,
    CompareLivenessResult,
    Image,
    InputError,
    ResponseError,
    RetryPolicy,
    SearchMode,
    VerifikClient,
    VerifikError,
)
from verifik_async._protocol import Answer, error_for, parse_compare_liveness
from verifik_async.testing import EmulatorServer

pytestmark = pytest.mark.anyio

# One emulator serves every example of a test (anyio runs the examples inside
# the test's fixtures), so the function-scoped fixture is intended.
EMULATOR_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PARSER_SETTINGS = settings(max_examples=300, deadline=None)


# -- requests -------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    """One emulator for all the examples of a test."""
    async with EmulatorServer() as emulator:
        yield emulator


@pytest.fixture
async def client(server: EmulatorServer) -> AsyncIterator[VerifikClient]:
    """A client that makes one attempt, so any refusal by the emulator shows at once."""
    async with VerifikClient(
        token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
    ) as c:
        yield c


@pytest.fixture(scope="module")
def image_dir() -> Iterator[pathlib.Path]:
    """A directory for images given as paths, shared by all examples."""
    with tempfile.TemporaryDirectory() as name:
        yield pathlib.Path(name)


def b64(data: bytes) -> str:
    """Standard base64 of ``data`` as text."""
    return base64.b64encode(data).decode("ascii")


def wrapped(text: str, width: int = 76) -> str:
    """MIME-style base64: lines of ``width`` characters."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


# Each form turns raw PNG bytes (and a directory, for paths) into an image input.
IMAGE_FORMS: dict[str, Callable[[bytes, pathlib.Path], Any]] = {
    "bytes": lambda data, _: data,
    "bytearray": lambda data, _: bytearray(data),
    "memoryview": lambda data, _: memoryview(data),
    "base64": lambda data, _: b64(data),
    "base64 with blanks around": lambda data, _: f"  {b64(data)}\n",
    "MIME-wrapped base64": lambda data, _: wrapped(b64(data)),
    "data URI": lambda data, _: "data:image/png;base64," + b64(data),
    "Image.from_bytes": lambda data, _: Image.from_bytes(data),
    "Image.from_base64": lambda data, _: Image.from_base64(b64(data)),
    "Image.from_data_uri": lambda data, _: Image.from_data_uri(
        "data:image/png;base64," + b64(data)
    ),
    "path str": lambda data, folder: str(write_image(folder, data)),
    "pathlib.Path": lambda data, folder: write_image(folder, data),
    "Image.from_path": lambda data, folder: Image.from_path(write_image(folder, data)),
}


def write_image(folder: pathlib.Path, data: bytes) -> pathlib.Path:
    """The path of a file holding ``data``, named by its content."""
    path = folder / f"{hash(data) & 0xFFFFFFFF:08x}-{len(data)}.png"
    path.write_bytes(data)
    return path


pngs = st.builds(make_png, st.integers(0, 255), st.integers(1, 12))
image_forms = st.sampled_from(sorted(IMAGE_FORMS))


def any_case(values: list[str]) -> st.SearchStrategy[Any]:
    """An enum's values in any upper/lower mix, with stray blanks around, or the member."""

    @st.composite
    def spelled(draw: st.DrawFn) -> str:
        word = draw(st.sampled_from(values))
        flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        mixed = "".join(c.lower() if flip else c for c, flip in zip(word, flips, strict=True))
        return draw(st.sampled_from(["", " ", "\t"])) + mixed + draw(st.sampled_from(["", " "]))

    return spelled()


@st.composite
def request_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Plain data describing a request the models accept (built by ``build_request``).

    Drawn up front rather than inside the async test: hypothesis cannot stop
    an interactive draw running in anyio's test runner task.
    """
    gallery = draw(st.lists(pngs, min_size=1, max_size=4))
    shape = draw(st.sampled_from(["list", "tuple", "generator", "single"]))
    if shape == "single":
        gallery = gallery[:1]
    return {
        "probe": (draw(pngs), draw(image_forms)),
        "gallery": [(g, draw(image_forms)) for g in gallery],
        "shape": shape,
        "os": draw(st.sampled_from(list(OS)) | any_case([m.value for m in OS])),
        "search_mode": draw(
            st.sampled_from(list(SearchMode)) | any_case([m.value for m in SearchMode])
        ),
        "compare_min_score": draw(st.none() | st.floats(0.67, 0.95)),
        "liveness_min_score": draw(st.none() | st.floats(0.52, 1.0) | st.just(1)),
        "crop_face": draw(st.none() | st.booleans()),
    }


def build_request(
    spec: dict[str, Any], folder: pathlib.Path
) -> tuple[CompareLivenessRequest, dict[str, Any]]:
    """The request a spec describes, and the JSON body it must be sent as."""
    probe, probe_form = spec["probe"]
    inputs = [IMAGE_FORMS[form](data, folder) for data, form in spec["gallery"]]
    gallery_arg: Any = {
        "list": inputs,
        "tuple": tuple(inputs),
        "generator": (i for i in inputs),
        "single": inputs[0],
    }[spec["shape"]]
    options = {
        name: spec[name]
        for name in ("os", "search_mode", "compare_min_score", "liveness_min_score", "crop_face")
    }
    request = CompareLivenessRequest(IMAGE_FORMS[probe_form](probe, folder), gallery_arg, **options)
    expected: dict[str, Any] = {
        "probe": b64(probe),
        "gallery": [b64(data) for data, _ in spec["gallery"]],
        "os": str(options["os"]).strip().upper(),
        "search_mode": str(options["search_mode"]).strip().upper(),
    }
    for name in ("compare_min_score", "liveness_min_score"):
        if options[name] is not None:
            expected[name] = options[name]
    if options["crop_face"] is not None:
        expected["cropFace"] = options["crop_face"]
    return request, expected


@EMULATOR_SETTINGS
@given(spec=request_specs())
async def test_every_accepted_request_is_answered_200_by_the_emulator(
    spec: dict[str, Any],
    client: VerifikClient,
    server: EmulatorServer,
    image_dir: pathlib.Path,
) -> None:
    """Any request the models accept serialises to exactly the body the emulator answers 200."""
    request, expected = build_request(spec, image_dir)
    server.reset()
    result = await client.call(request)
    assert isinstance(result, CompareLivenessResult)
    assert len(server.requests) == 1
    (seen,) = server.requests
    assert seen.status == 200
    assert seen.json == expected


# Anything at all, for the fields of a request.
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.builds(object),
)


@PARSER_SETTINGS
@given(
    probe=anything | pngs,
    gallery=anything | st.lists(pngs | anything, max_size=3),
    os=anything | any_case([m.value for m in OS]),
    search_mode=anything | any_case([m.value for m in SearchMode]),
    compare_min_score=anything,
    liveness_min_score=anything,
    crop_face=anything,
)
def test_refused_requests_raise_input_error_naming_the_field(
    probe: Any,
    gallery: Any,
    os: Any,
    search_mode: Any,
    compare_min_score: Any,
    liveness_min_score: Any,
    crop_face: Any,
) -> None:
    """Building a request either works or raises InputError with a non-empty ``field``."""
    refusal: InputError | None = None
    try:
        CompareLivenessRequest(
            probe,
            gallery,
            os=os,
            search_mode=search_mode,
            compare_min_score=compare_min_score,
            liveness_min_score=liveness_min_score,
            crop_face=crop_face,
        )
    except InputError as exc:  # anything else escapes and fails the test
        refusal = exc
    if refusal is not None:
        assert isinstance(refusal.field, str)
        assert refusal.field
        assert refusal.attempts == 0


@PARSER_SETTINGS
@given(score=st.floats() | st.integers(-(10**20), 10**20), field=st.sampled_from(["c", "l"]))
def test_scores_outside_their_range_are_refused(score: float, field: str) -> None:
    """A score is accepted only if it is a finite number inside its documented range."""
    low, high, name = (
        (0.67, 0.95, "compare_min_score") if field == "c" else (0.52, 1.0, "liveness_min_score")
    )
    inside = math.isfinite(score) and low <= score <= high
    if inside:
        request = CompareLivenessRequest(make_png(1), [make_png(2)], **{name: score})
        assert getattr(request, name) == score
    else:
        with pytest.raises(InputError) as caught:
            CompareLivenessRequest(make_png(1), [make_png(2)], **{name: score})
        assert caught.value.field == name


# -- responses ------------------------------------------------------------------------

REQUEST = CompareLivenessRequest(make_png(1), [make_png(2)])
STRICT_REQUEST = CompareLivenessRequest(make_png(1), [make_png(2)], compare_min_score=0.9)

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
score_leaves = st.one_of(
    st.floats(),
    st.integers(),
    st.floats().map(str),
    st.floats(0, 200).map(lambda x: f"{x}%"),
    st.text(max_size=8),
    json_values,
)
date_leaves = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.text(max_size=30),
    json_values,
)
comparisons = st.fixed_dictionaries(
    {},
    optional={
        "result": st.fixed_dictionaries({}, optional={"score": score_leaves}) | json_values,
        "score": score_leaves,
        "_id": json_values,
        "status": json_values,
        "client": json_values,
        "type": json_values,
        "search_mode": json_values,
        "comparedAt": date_leaves,
        "createdAt": date_leaves,
        "updatedAt": date_leaves,
    },
)
livenesses = st.fixed_dictionaries(
    {},
    optional={
        "result": st.fixed_dictionaries(
            {},
            optional={
                "liveness_score": score_leaves,
                "passed": json_values,
                "min_score": score_leaves,
            },
        )
        | json_values,
        "liveness_score": score_leaves,
        "passed": json_values,
        "min_score": score_leaves,
        "liveness_min_score": score_leaves,
        "os": json_values,
        "_id": json_values,
        "createdAt": date_leaves,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "data": st.fixed_dictionaries(
            {}, optional={"comparison": comparisons | json_values, "liveness": livenesses}
        )
        | json_values,
        "signature": st.fixed_dictionaries(
            {}, optional={"dateTime": json_values, "message": json_values}
        )
        | json_values,
        "id": json_values,
        "code": json_values,
        "message": json_values,
        "error": json_values,
    },
)


def encode(value: Any, style: str) -> bytes:
    """JSON text of ``value`` in one of several spellings, some of them not strict JSON."""
    if style == "compact":
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif style == "ascii":
        text = json.dumps(value)
    else:  # cut short
        text = json.dumps(value)[: max(1, len(json.dumps(value)) // 2)]
    # Lone surrogates in text become invalid UTF-8, as a broken server could send.
    return text.encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(encode, json_values, st.sampled_from(["compact", "ascii", "cut"])),
    st.builds(encode, envelopes, st.sampled_from(["compact", "ascii", "cut"])),
)
retry_afters = st.one_of(
    st.text(max_size=30),
    st.floats().map(str),
    st.integers().map(str),
    st.datetimes().map(format_datetime),
    st.datetimes().map(lambda d: format_datetime(d) + " GMT"),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(["application/json", "text/html", ""]) | st.text(),
        "retry-after": retry_afters,
    },
)
statuses = st.integers(100, 599)


def check_error(error: VerifikError, status: int) -> None:
    """An error for ``status`` is of the family that status calls for, and prints."""
    if 200 <= status < 300 or status < 400:
        assert isinstance(error, ResponseError)
    else:
        assert isinstance(error, APIError)
        assert error.status == status
    assert error.code
    str(error)
    repr(error)


def check_answer(status: int, headers: dict[str, str], body: bytes) -> None:
    """parse_compare_liveness and error_for on one answer: only our errors, results only for 2xx."""
    answer = Answer(status, headers, body)
    for request in (REQUEST, STRICT_REQUEST):
        try:
            result = parse_compare_liveness(answer, request)
        except VerifikError as exc:
            check_error(exc, status)
        else:
            assert 200 <= status < 300
            assert isinstance(result, CompareLivenessResult)
            assert 0.0 <= result.score <= 1.0
            assert result.liveness_score is None or 0.0 <= result.liveness_score <= 1.0
            assert result.verdict in {"verified", "not_matched", "not_live", "liveness_missing"}
            repr(result)
    error = error_for(answer)
    assert isinstance(error, VerifikError)
    check_error(error, status)
    retry_after = getattr(error, "retry_after", None)
    assert retry_after is None or (math.isfinite(retry_after) and retry_after >= 0)


@PARSER_SETTINGS
@given(status=statuses, headers=headers, body=bodies)
def test_parser_raises_only_library_errors(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    """Any status, headers and body: a result for 2xx or a VerifikError, nothing else."""
    check_answer(status, headers, body)


@PARSER_SETTINGS
@given(status=st.integers(200, 299), headers=headers, envelope=envelopes)
def test_parser_on_envelope_shaped_2xx(
    status: int, headers: dict[str, str], envelope: dict[str, Any]
) -> None:
    """A 2xx envelope with random leaves parses to a result or a ResponseError, nothing else."""
    check_answer(status, headers, encode(envelope, "compact"))


@PARSER_SETTINGS
@given(
    status=st.integers(200, 299),
    score=st.floats(0, 1),
    liveness=st.floats(0, 1),
    style=st.sampled_from(["number", "string", "percent"]),
)
def test_parser_reads_well_formed_answers(
    status: int, score: float, liveness: float, style: str
) -> None:
    """Well-formed 2xx answers in any score style parse to the scores they carry."""

    def spell(value: float) -> Any:
        return {"number": value, "string": repr(value), "percent": value * 100}[style]

    envelope = {
        "data": {
            "comparison": {"result": {"score": spell(score)}},
            "liveness": {"result": {"liveness_score": spell(liveness), "min_score": 0.6}},
        },
        "id": "ABCDE",
    }
    result = parse_compare_liveness(Answer(status, {}, encode(envelope, "compact")), REQUEST)
    # A percentage of at most 1% reads as a fraction: the API's own ambiguity.
    if style != "percent" or score * 100 > 1:
        assert math.isclose(result.score, score, rel_tol=1e-9, abs_tol=1e-12)
    assert result.response_id == "ABCDE"


# Bodies a hostile or broken server could send, beyond what the strategies reach.
ADVERSARIAL_BODIES = {
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge integer score": b'{"data":{"comparison":{"result":{"score":1' + b"0" * 400 + b"}}}}",
    "huge integer liveness": (
        b'{"data":{"comparison":{"result":{"score":0.9}},'
        b'"liveness":{"result":{"liveness_score":' + b"9" * 400 + b"}}}}"
    ),
    "huge integer min_score": (
        b'{"data":{"comparison":{"result":{"score":0.9}},'
        b'"liveness":{"result":{"liveness_score":0.9,"min_score":' + b"9" * 400 + b"}}}}"
    ),
    "overflowing float": b'{"data":{"comparison":{"result":{"score":1e400}}}}',
    "NaN and Infinity tokens": b'{"data":{"comparison":{"result":{"score":NaN}}},"id":Infinity}',
    "huge integer status code": b'{"code":' + b"7" * 400 + b',"message":"x"}',
}
ADVERSARIAL_STATUSES = (200, 302, 409, 429, 500)


def adversarial_failures() -> list[str]:
    """Each adversarial body at each status: what escaped other than a VerifikError."""
    failures = []
    for name, body in ADVERSARIAL_BODIES.items():
        for status in ADVERSARIAL_STATUSES:
            try:
                check_answer(status, {"retry-after": "1"}, body)
            except Exception as exc:
                failures.append(f"{name} at {status}: {type(exc).__name__}: {str(exc)[:80]}")
    return failures


def test_parser_survives_adversarial_bodies() -> None:
    """Deep nesting, huge numbers and non-JSON tokens only ever give library errors."""
    assert adversarial_failures() == []


# Run in a fresh interpreter where orjson cannot be imported, as without the
# optional `fast` extra: the library then parses with the standard json module.
WITHOUT_ORJSON = """
import json, sys
sys.modules["orjson"] = None
from verifik_async import _wire
assert _wire.loads is json.loads, "the json fallback is not in use"
from tests import test_properties as t
failures = t.adversarial_failures()
t.test_parser_raises_only_library_errors()
t.test_parser_on_envelope_shaped_2xx()
t.test_parser_reads_well_formed_answers()
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_parser_raises_only_library_errors_without_orjson() -> None:
    """Without the optional orjson, the parser properties and adversarial bodies still hold."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_ORJSON],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
