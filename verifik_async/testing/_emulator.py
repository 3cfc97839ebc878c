"""A local aiohttp server speaking the wire format of Verifik's face API.

``EmulatorServer`` runs it on a real socket (``async with EmulatorServer() as
server: ... server.base_url``); ``make_emulator_app`` gives the bare
``aiohttp.web.Application`` around an ``EmulatorState``; ``serve`` runs one
until cancelled (for the CLI).

Every request goes through one pipeline: record it, read the body, pick a fault
(injected queue, then probe script, then random rate), apply ``latency``, then
either answer with the fault or route it: 404 unknown path, 405 wrong method,
401/403 auth, 400 non-object body, then the endpoint from ``ROUTES``.

Served: compare-with-liveness and its siblings (compare, compare-live,
liveness, detect, search, verify) under ``/v2/face-recognition/``, and token
renewal at ``GET /v2/auth/session``. Search and verify run against persons
kept in memory (``EmulatorServer.add_person``); a renewed token is accepted
alongside the others until it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from ._faults import Fault, FaultKind, FaultSchedule, ProbeScript
from ._scoring import (
    MONTH_SECONDS,
    ApiAnswer,
    ImageInfo,
    PersonStore,
    ResponseContext,
    ScoreStyle,
    SkippedLiveness,
    StoredPerson,
    answer_compare,
    answer_compare_live,
    answer_compare_with_liveness,
    answer_detect,
    answer_liveness,
    answer_search,
    answer_session,
    answer_verify,
    check_bearer,
    decode_image,
    decode_jwt_claims,
    encode_json,
    image_info,
    invalid_request,
    make_jwt,
    method_not_allowed,
    not_found,
    probe_key,
    session_months,
)

__all__ = [
    "EMULATOR_STATE",
    "ROUTES",
    "EmulatorServer",
    "EmulatorState",
    "EndpointCall",
    "RecordedRequest",
    "Route",
    "make_emulator_app",
    "serve",
]

logger = logging.getLogger("verifik_async.testing")

API_PREFIX: Final = "/v2/"
DEFAULT_MAX_BODY = 64 * 1024 * 1024
"""Largest request body accepted (aiohttp's own default of 1 MiB is too small for images)."""
TOKEN_LIFETIME = 30 * 24 * 3600.0
_SHUTDOWN_TIMEOUT = 1.0
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_INVALID_JSON: Final = object()
_JSON_TYPE = "application/json; charset=utf-8"


def _redacted_headers(headers: dict[str, str]) -> str:
    """The headers' repr with credentials masked: a failing test prints records."""
    shown = {
        name: "<redacted>" if name.lower() in ("authorization", "cookie") else value
        for name, value in headers.items()
    }
    return repr(shown)


@attrs.frozen
class RecordedRequest:
    """One request the emulator saw, and what it did about it.

    ``body``/``json`` are None when the server records no bodies (``json`` is
    also None for a body that is not JSON). ``probe_key`` is the SHA-256 hex of
    the decoded probe when it was valid base64. ``status`` is what was answered:
    None for a connection reset, a client that went away, or a request still in
    flight (``answered_at`` is None only while in flight). Times are
    ``time.monotonic()``.
    """

    method: str
    path: str
    headers: dict[str, str] = attrs.field(repr=_redacted_headers)
    body: bytes | None = attrs.field(repr=lambda b: "None" if b is None else f"<{len(b)} bytes>")
    json: Any = attrs.field(repr=False)
    probe_key: str | None
    fault: Fault | None
    status: int | None
    received_at: float
    answered_at: float | None


@attrs.frozen
class EndpointCall:
    """What an endpoint function gets: the parsed body, the decoded probe, the state.

    ``probe`` is the route's ``probe_field`` decoded (the first image when that
    field is an array); ``query`` the URL's query parameters.
    """

    json: dict[str, Any]
    probe: ImageInfo | None
    script: ProbeScript | None
    state: EmulatorState
    query: Mapping[str, str] = attrs.field(factory=dict)


Endpoint = Callable[[EndpointCall], ApiAnswer]


@attrs.frozen
class Route:
    """One endpoint: method, full path, the function that answers, and its needs."""

    method: str
    path: str
    endpoint: Endpoint
    auth: bool = True
    json_body: bool = True
    probe_field: str | None = "probe"


def _compare_with_liveness(call: EndpointCall) -> ApiAnswer:
    script = call.script
    return answer_compare_with_liveness(
        call.json,
        call.state.response_context(),
        probe=call.probe,
        score=None if script is None else script.score,
        liveness=None if script is None else script.liveness,
    )


def _compare(call: EndpointCall) -> ApiAnswer:
    script = call.script
    return answer_compare(
        call.json, call.state.response_context(), score=None if script is None else script.score
    )


def _compare_live(call: EndpointCall) -> ApiAnswer:
    script = call.script
    return answer_compare_live(
        call.json,
        call.state.response_context(),
        probe=call.probe,
        score=None if script is None else script.score,
        liveness=None if script is None else script.liveness,
    )


def _liveness(call: EndpointCall) -> ApiAnswer:
    script = call.script
    return answer_liveness(
        call.json,
        call.state.response_context(),
        image=call.probe,
        liveness=None if script is None else script.liveness,
    )


def _detect(call: EndpointCall) -> ApiAnswer:
    return answer_detect(call.json, call.state.response_context(), image=call.probe)


def _search(call: EndpointCall) -> ApiAnswer:
    return answer_search(call.json, call.state.response_context(), call.state.persons)


def _verify(call: EndpointCall) -> ApiAnswer:
    return answer_verify(call.json, call.state.response_context(), call.state.persons)


def _session(call: EndpointCall) -> ApiAnswer:
    months = session_months(call.query)
    if isinstance(months, ApiAnswer):
        return months
    token = call.state.issue_token(months)
    return answer_session(token, call.state.response_context())


def _route_table(routes: Sequence[Route]) -> dict[str, dict[str, Route]]:
    table: dict[str, dict[str, Route]] = {}
    for route in routes:
        table.setdefault(route.path, {})[route.method] = route
    return table


_FACE: Final = API_PREFIX + "face-recognition/"

ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", _FACE + "compare-with-liveness", _compare_with_liveness),
    Route("POST", _FACE + "compare", _compare),
    Route("POST", _FACE + "compare-live", _compare_live),
    Route("POST", _FACE + "liveness", _liveness, probe_field="image"),
    Route("POST", _FACE + "detect", _detect, probe_field="image"),
    Route("POST", _FACE + "search", _search, probe_field="images"),
    Route("POST", _FACE + "verify", _verify, probe_field="images"),
    Route("GET", API_PREFIX + "auth/session", _session, json_body=False, probe_field=None),
)
"""The endpoints served. Scripts and script faults key on ``probe_field`` (its
first image for an array): the probe, or the image of liveness and detect."""


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _INVALID_JSON


@attrs.define
class EmulatorState:
    """Everything an emulator app knows: settings, token, fault schedule, request log.

    Build one to run ``make_emulator_app(state)`` by other means; ``EmulatorServer``
    owns one as ``server.state`` and forwards its methods here.
    """

    token: str | None = None
    latency: float = 0.0
    score_style: ScoreStyle = "number"
    skipped_liveness: SkippedLiveness = "missing"
    record_bodies: bool = True
    seed: int = 0
    max_recorded: int | None = None
    routes: Sequence[Route] = ROUTES
    client_id: str = attrs.field(init=False)
    requests: list[RecordedRequest] = attrs.field(init=False, factory=list)
    persons: PersonStore = attrs.field(init=False, factory=PersonStore)
    _renewed_tokens: list[str] = attrs.field(init=False, factory=list)
    _rng: random.Random = attrs.field(init=False)
    _schedule: FaultSchedule = attrs.field(init=False, factory=FaultSchedule)
    _table: dict[str, dict[str, Route]] = attrs.field(init=False)
    _log_base: int = attrs.field(init=False, default=0)
    _closing: asyncio.Event | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        # Ids and fault draws only need to repeat per seed, not to be secret.
        self._rng = random.Random(self.seed)  # noqa: S311
        self._table = _route_table(self.routes)
        if self.token is None:
            self.client_id = self._hex(24)
            self.token = make_jwt(int(time.time() + TOKEN_LIFETIME), _id=self.client_id)
        else:
            claims = decode_jwt_claims(self.token) or {}
            given = claims.get("_id")
            self.client_id = given if isinstance(given, str) and given else self._hex(24)

    # -- public controls --------------------------------------------------------

    @property
    def accepted_token(self) -> str:
        """The bearer token this emulator accepts (it was started with)."""
        assert self.token is not None  # set in __attrs_post_init__
        return self.token

    @property
    def accepted_tokens(self) -> tuple[str, ...]:
        """Every token accepted: the first, then those issued by renewals, oldest first."""
        return (self.accepted_token, *self._renewed_tokens)

    def issue_token(self, months: int) -> str:
        """Make a token valid for ``months`` x 30 days, for this client, and accept it too."""
        token = make_jwt(int(time.time() + months * MONTH_SECONDS), _id=self.client_id)
        self._renewed_tokens.append(token)
        return token

    def add_person(
        self,
        name: str,
        images: Iterable[bytes | str] | bytes | str,
        *,
        collection_id: str | None = None,
        person_id: str | None = None,
    ) -> str:
        """Store a person for search and verify; return their id (see ``EmulatorServer``)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a person needs a non-empty name")
        items: Iterable[bytes | str] = [images] if isinstance(images, bytes | str) else images
        infos = tuple(image_info(image) for image in items)
        if not infos:
            raise ValueError("a person needs at least one image")
        if collection_id is not None and (not isinstance(collection_id, str) or not collection_id):
            raise ValueError("collection_id must be a non-empty string or None")
        person_id = person_id or self._object_id()
        self.persons.add(StoredPerson(person_id, name, infos, collection_id))
        return person_id

    def script(
        self,
        probe: bytes | str,
        *,
        score: float | None = None,
        liveness: float | None = None,
        faults: Sequence[Fault] = (),
    ) -> None:
        """Fix the outcome for requests whose probe is this image (see ``EmulatorServer``)."""
        self._schedule.script(probe_key(probe), score=score, liveness=liveness, faults=faults)

    def inject(self, *faults: Fault, path: str | None = None) -> None:
        """Queue faults for the next requests, one each (only paths ending in ``path``)."""
        self._schedule.inject(faults, path)

    def set_fault_rate(
        self, rate: float, faults: Sequence[Fault], *, seed: int | None = None
    ) -> None:
        """Give each request a random fault from ``faults`` with probability ``rate``."""
        rng = random.Random(self.seed if seed is None else seed)  # noqa: S311
        self._schedule.set_rate(rate, faults, rng)

    def reset(self) -> None:
        """Clear the request log, scripts, queued faults and the fault rate."""
        self._log_base += len(self.requests)
        self.requests.clear()
        self._schedule.reset()

    # -- used by the app ----------------------------------------------------------

    def _hex(self, length: int) -> str:
        return f"{self._rng.getrandbits(length * 4):0{length}x}"

    def _object_id(self) -> str:
        # Mongo ObjectId shape: 4 bytes of Unix time, then 8 random bytes.
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._hex(16)}"

    def response_context(self) -> ResponseContext:
        """Return the server-side facts for building one success body."""
        return ResponseContext(
            client_id=self.client_id,
            now=datetime.now(UTC),
            new_object_id=self._object_id,
            request_id="".join(self._rng.choice(_LETTERS) for _ in range(5)),
            score_style=self.score_style,
            skipped_liveness=self.skipped_liveness,
        )

    def _open(self, record: RecordedRequest) -> int:
        log = self.requests
        limit = self.max_recorded
        if limit is not None and len(log) >= 2 * limit:
            # Trim in chunks so the log costs O(1) per request on average.
            dropped = len(log) - limit + 1
            del log[:dropped]
            self._log_base += dropped
        log.append(record)
        return self._log_base + len(log) - 1

    def _close(self, slot: int, placeholder: RecordedRequest, record: RecordedRequest) -> None:
        index = slot - self._log_base
        log = self.requests
        if 0 <= index < len(log) and log[index] is placeholder:
            log[index] = record

    async def _pause(self, seconds: float) -> bool:
        """Sleep; return True early if the app is shutting down."""
        if seconds <= 0:
            return False
        closing = self._closing
        if closing is None:
            await asyncio.sleep(seconds)
            return False
        try:
            async with asyncio.timeout(seconds):
                await closing.wait()
        except TimeoutError:
            return False
        return True

    def _route_answer(
        self, request: web.Request, parsed: Any, probe: ImageInfo | None, key: str | None
    ) -> ApiAnswer:
        methods = self._table.get(request.path)
        if methods is None:
            return not_found()
        route = methods.get(request.method)
        if route is None:
            return method_not_allowed(request.method, list(methods))
        if route.auth:
            problem = check_bearer(request.headers.get("Authorization"), self.accepted_tokens)
            if problem is not None:
                return problem
        if route.json_body and not isinstance(parsed, dict):
            return invalid_request()
        body = parsed if isinstance(parsed, dict) else {}
        call = EndpointCall(body, probe, self._schedule.script_for(key), self, dict(request.query))
        return route.endpoint(call)

    def _probe_field(self, path: str) -> str | None:
        methods = self._table.get(path)
        if methods:
            return next(iter(methods.values())).probe_field
        return "probe"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (the app's only handler)."""
        placeholder = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={str(k): v for k, v in request.headers.items()},
            body=None,
            json=None,
            probe_key=None,
            fault=None,
            status=None,
            received_at=time.monotonic(),
            answered_at=None,
        )
        slot = self._open(placeholder)
        raw: bytes | None = None
        parsed: Any = _INVALID_JSON
        key: str | None = None
        fault: Fault | None = None
        status: int | None = None
        try:
            try:
                raw = await request.read()
            except ConnectionError:
                return _gone(request)
            except web.HTTPRequestEntityTooLarge:
                status = 413
                payload = encode_json({"code": "ERROR", "message": "request entity too large"})
                return web.Response(
                    status=status, body=payload, headers={"Content-Type": _JSON_TYPE}
                )
            parsed = _parse_json(raw) if raw else _INVALID_JSON
            probe: ImageInfo | None = None
            field = self._probe_field(request.path)
            if field is not None and isinstance(parsed, dict):
                value = parsed.get(field)
                if isinstance(value, list) and value:
                    value = value[0]
                probe = decode_image(value)
                key = None if probe is None else probe.key
            fault = self._schedule.pick(request.path, key)
            if await self._pause(self.latency):
                return _gone(request)
            if fault is not None:
                if fault.kind is FaultKind.RESET:
                    return _gone(request, reset=True)
                if fault.answers_directly:
                    assert fault.http_status is not None
                    status = fault.http_status
                    return web.Response(status=status, body=fault.body, headers=fault.headers)
                if fault.kind is FaultKind.DELAY and await self._pause(fault.seconds):
                    return _gone(request)
            answer = self._route_answer(request, parsed, probe, key)
            body = encode_json(answer.payload)
            if fault is not None and fault.kind is FaultKind.TRUNCATED_JSON:
                body = body[: len(body) // 2]
            headers = [("Content-Type", _JSON_TYPE), *answer.headers]
            status = answer.status
            return web.Response(status=status, body=body, headers=headers)
        finally:
            recorded = self.record_bodies
            self._close(
                slot,
                placeholder,
                attrs.evolve(
                    placeholder,
                    body=raw if recorded else None,
                    json=parsed if recorded and parsed is not _INVALID_JSON else None,
                    probe_key=key,
                    fault=fault,
                    status=status,
                    answered_at=time.monotonic(),
                ),
            )

    async def _on_startup(self, app: web.Application) -> None:
        self._closing = asyncio.Event()

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._closing is not None:
            self._closing.set()


def _gone(request: web.Request, *, reset: bool = False) -> web.Response:
    """Drop the connection (with an RST when ``reset``) and return a dummy response.

    aiohttp then fails to write the dummy to the closed transport, which it treats
    as a quiet client disconnection: no log line, no traceback.
    """
    transport = request.transport
    if transport is not None:
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER with a zero timeout turns close() into a TCP RST.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


EMULATOR_STATE: Final = web.AppKey("verifik_emulator_state", EmulatorState)
"""Where ``make_emulator_app`` stores the state in the app."""


def make_emulator_app(
    state: EmulatorState | None = None, *, client_max_size: int = DEFAULT_MAX_BODY
) -> web.Application:
    """Return an ``aiohttp.web.Application`` serving the emulated API from ``state``.

    Run it any way aiohttp apps run; for quiet shutdowns mid-request, run it with
    ``handler_cancellation=True`` and no access log, as ``EmulatorServer`` does.
    The state is stored as ``app[EMULATOR_STATE]``.
    """
    state = EmulatorState() if state is None else state
    app = web.Application(client_max_size=client_max_size)
    app[EMULATOR_STATE] = state
    app.on_startup.append(state._on_startup)
    app.on_shutdown.append(state._on_shutdown)
    app.router.add_route("*", "/{tail:.*}", state.handle)
    return app


class EmulatorServer:
    """The emulated Verifik API on a real socket, as an async context manager.

    ``async with EmulatorServer() as server:`` starts it on 127.0.0.1 and a free
    port; point a client at ``server.base_url`` with ``server.token``. Between
    requests, steer it with ``script``, ``inject`` and ``set_fault_rate``; read
    what it saw in ``server.requests``.

    Args:
        host, port: where to listen (port 0 picks a free one; see ``port``).
        token: the accepted bearer token; default a fresh JWT valid for 30 days.
        latency: seconds added to every request.
        score_style: "number", "string" ("0.93") or "percent" (93.0) scores.
        skipped_liveness: ``data.liveness`` when liveness did not run: "missing" or "null".
        record_bodies: keep request bodies in ``requests`` (turn off for bulk runs).
        seed: seeds ids and, unless ``set_fault_rate`` gets its own, the fault rate.
        max_recorded: keep at most about this many log entries (newest); None keeps all.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        latency: float = 0.0,
        score_style: ScoreStyle = "number",
        skipped_liveness: Literal["missing", "null"] = "missing",
        record_bodies: bool = True,
        seed: int = 0,
        max_recorded: int | None = None,
    ) -> None:
        self.state = EmulatorState(
            token=token,
            latency=latency,
            score_style=score_style,
            skipped_liveness=skipped_liveness,
            record_bodies=record_bodies,
            seed=seed,
            max_recorded=max_recorded,
        )
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"<EmulatorServer {where}>"

    @property
    def token(self) -> str:
        """The bearer token the emulator accepts."""
        return self.state.accepted_token

    @property
    def host(self) -> str:
        """The host the emulator listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port listened on (the real one once started, even when 0 was asked)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:54321/v2/``; raises RuntimeError before start."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{API_PREFIX}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request seen since start or ``reset()``, in arrival order."""
        return self.state.requests

    @property
    def accepted_tokens(self) -> tuple[str, ...]:
        """Every token accepted: ``token``, then those issued by ``GET auth/session``."""
        return self.state.accepted_tokens

    @property
    def persons(self) -> tuple[StoredPerson, ...]:
        """The persons stored for search and verify, oldest first."""
        return self.state.persons.all()

    def add_person(
        self,
        name: str,
        images: Iterable[bytes | str] | bytes | str,
        collection_id: str | None = None,
        *,
        person_id: str | None = None,
    ) -> str:
        """Store a person that search and verify can find; return their id.

        ``images`` are raw image bytes or base64 text (one, or a list; ValueError
        if not base64). Search scores a person by the best comparison score
        between the query images and theirs (identical bytes score 1.0). With
        ``collection_id`` the person belongs to that collection (created on
        first use). ``person_id`` fixes the id (default a new ObjectId-like hex).
        Persons survive ``reset()``; ``clear_persons()`` forgets them.
        """
        return self.state.add_person(name, images, collection_id=collection_id, person_id=person_id)

    def clear_persons(self) -> None:
        """Forget every stored person."""
        self.state.persons.clear()

    def script(
        self,
        probe: bytes | str,
        *,
        score: float | None = None,
        liveness: float | None = None,
        faults: Sequence[Fault] = (),
    ) -> None:
        """Fix the outcome for requests whose probe is this image.

        ``probe`` is the raw image bytes or its base64 text (ValueError if not
        base64). ``score`` is the best comparison score to report, ``liveness``
        the liveness score (each deterministic when None). ``faults`` apply to the
        successive requests carrying this probe, one each, before normal answers
        resume. Scripting the same probe again replaces its script.
        """
        self.state.script(probe, score=score, liveness=liveness, faults=faults)

    def inject(self, *faults: Fault, path: str | None = None) -> None:
        """Queue faults for the next requests, one each, first in first out.

        With ``path``, only requests whose path ends with it (whole segments, e.g.
        ``"face-recognition/compare-with-liveness"``) take from this queue.
        """
        self.state.inject(*faults, path=path)

    def set_fault_rate(
        self, rate: float, faults: Sequence[Fault], *, seed: int | None = None
    ) -> None:
        """Give each request a random fault from ``faults`` with probability ``rate``.

        Draws come from ``random.Random(seed)`` (the server's seed when None), so
        runs repeat. ``rate`` 0 turns it off; ValueError outside [0, 1].
        """
        self.state.set_fault_rate(rate, faults, seed=seed)

    def reset(self) -> None:
        """Clear the request log, scripts, queued faults and the fault rate."""
        self.state.reset()

    async def start(self) -> None:
        """Start listening; raises RuntimeError if already started."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(
            make_emulator_app(self.state),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            self._port = int(runner.addresses[0][1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.debug("verifik emulator listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop listening and drop in-flight requests; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def serve(
    host: str,
    port: int,
    *,
    token: str | None = None,
    latency: float = 0.0,
    score_style: ScoreStyle = "number",
    skipped_liveness: Literal["missing", "null"] = "missing",
    on_ready: Callable[[EmulatorServer], None] | None = None,
    max_recorded: int | None = 1000,
) -> None:
    """Run an emulator until cancelled (for ``verifik-async emulator --port N``).

    Bodies are not recorded and the log is capped at ``max_recorded``, so a
    long run does not grow. ``on_ready`` gets the started server (to print
    ``base_url`` and ``token``). ``token`` None generates one, as ``EmulatorServer``.
    """
    server = EmulatorServer(
        host=host,
        port=port,
        token=token,
        latency=latency,
        score_style=score_style,
        skipped_liveness=skipped_liveness,
        record_bodies=False,
        max_recorded=max_recorded,
    )
    async with server:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()
