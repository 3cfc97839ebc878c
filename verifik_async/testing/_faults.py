"""Faults the emulator can inject, and the schedule that decides which request gets one.

A ``Fault`` is a frozen value built with its classmethods (``Fault.delay(2)``,
``Fault.status(503)``, ``Fault.reset()``...). ``FaultSchedule`` holds the three
sources, consulted in this order for every request: the injected FIFO queue,
the per-probe scripts, then the random rate. It does no I/O.
"""

from __future__ import annotations

import enum
import json
import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["Fault", "FaultKind", "FaultSchedule", "ProbeScript"]

_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html"

_NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

_DEFAULT_BODIES: dict[int, dict[str, str]] = {
    400: {"error": "Invalid request"},
    401: {"code": "UNAUTHORIZED", "message": "Authentication required"},
    403: {"code": "Forbidden", "message": "Access forbidden"},
    404: {"code": "NotFound", "message": "Record not found."},
    409: {"code": "ERROR", "message": "liveness_failed"},
    412: {"code": "ERROR", "message": "only_images_in_base64"},
    429: {"code": "TooManyRequests", "message": "rate limit exceeded"},
    500: {"code": "ERROR", "message": "internal_error"},
}
_EMPTY_BODY_STATUSES = frozenset({502, 503, 504})


class FaultKind(enum.Enum):
    """What a fault does to the request it hits."""

    DELAY = "delay"
    """Sleep ``Fault.seconds``, then answer normally."""
    STATUS = "status"
    """Answer ``Fault.http_status`` with ``Fault.body``."""
    RATE_LIMITED = "rate_limited"
    """Answer 429 with a ``Retry-After`` header."""
    HTML_502 = "html_502"
    """Answer 502 with an nginx-style HTML page."""
    RESET = "reset"
    """Abort the TCP connection (RST) without answering."""
    MALFORMED_JSON = "malformed_json"
    """Answer 200 ``application/json`` with a body that is not JSON."""
    TRUNCATED_JSON = "truncated_json"
    """Answer normally but send only the first half of the body."""
    RESPOND = "respond"
    """Answer an arbitrary status, body and headers."""


_CANNED_KINDS = frozenset(
    {
        FaultKind.STATUS,
        FaultKind.RATE_LIMITED,
        FaultKind.HTML_502,
        FaultKind.MALFORMED_JSON,
        FaultKind.RESPOND,
    }
)


def _has_header(headers: Sequence[tuple[str, str]], name: str) -> bool:
    return any(key.lower() == name.lower() for key, _ in headers)


def _encode_body(body: bytes | str | Mapping[str, Any] | Sequence[Any] | None) -> tuple[bytes, str]:
    """Return the body bytes and the content type that fits them."""
    if body is None:
        return b"", _TEXT
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), _JSON
    if isinstance(body, str):
        return body.encode(), _TEXT
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return payload.encode(), _JSON


@attrs.frozen
class Fault:
    """A misbehaviour to inject into one request; build it with the classmethods.

    Attributes: ``kind``; ``seconds`` (DELAY); ``http_status``, ``body`` and
    ``headers`` (the canned answer of STATUS, RATE_LIMITED, HTML_502,
    MALFORMED_JSON and RESPOND).
    """

    kind: FaultKind
    seconds: float = 0.0
    http_status: int | None = None
    body: bytes = attrs.field(default=b"", repr=lambda body: f"<{len(body)} bytes>")
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def answers_directly(self) -> bool:
        """True when the fault replaces the normal answer with its canned one."""
        return self.kind in _CANNED_KINDS

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep ``seconds`` before answering normally (to make clients time out)."""
        if seconds < 0:
            raise ValueError("delay seconds must be >= 0")
        return cls(FaultKind.DELAY, seconds=float(seconds))

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: str | None = None,
        body: bytes | Mapping[str, Any] | None = None,
        content_type: str | None = None,
    ) -> Fault:
        """Answer status ``code`` with ``body`` instead of the normal answer.

        Without ``body`` the API's usual body for that code is sent (429
        TooManyRequests, 500 internal_error, 400/401/403/404/409/412 as in the API
        notes; 502/503/504 and other codes: an empty body or ``{"code": "ERROR"}``).
        ``retry_after`` is sent verbatim as ``Retry-After`` (seconds or an HTTP date).
        ``content_type`` defaults to JSON for dict/bytes bodies.
        """
        return cls._canned(FaultKind.STATUS, code, retry_after, body, content_type)

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Fault:
        """Answer 429 TooManyRequests with ``Retry-After`` (seconds, or a str verbatim)."""
        if isinstance(retry_after, str):
            header = retry_after
        elif float(retry_after).is_integer():
            header = str(int(retry_after))
        else:
            header = repr(float(retry_after))
        return cls._canned(FaultKind.RATE_LIMITED, 429, header, None, None)

    @classmethod
    def html_502(cls) -> Fault:
        """Answer 502 with nginx's ``text/html`` Bad Gateway page."""
        return cls._canned(FaultKind.HTML_502, 502, None, _NGINX_502, _HTML)

    @classmethod
    def reset(cls) -> Fault:
        """Abort the TCP connection without answering; the client sees a connection error."""
        return cls(FaultKind.RESET)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 ``application/json`` with a body that is not valid JSON."""
        return cls(
            FaultKind.MALFORMED_JSON,
            http_status=200,
            body=b'{"data": {"comparison": <<garbage>>',
            headers=(("Content-Type", _JSON),),
        )

    @classmethod
    def truncated_json(cls) -> Fault:
        """Answer normally but send only the first half of the body (Content-Length matches)."""
        return cls(FaultKind.TRUNCATED_JSON)

    @classmethod
    def respond(
        cls,
        status: int,
        body: bytes | str | Mapping[str, Any] | Sequence[Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer an arbitrary ``status`` and ``body`` (dict/list as JSON, str as text).

        ``headers`` are sent as given; Content-Type defaults to JSON for dict,
        list and bytes bodies, text for str, and is omitted for an empty body.
        """
        _check_status(status)
        raw, default_type = _encode_body(body)
        pairs = tuple((str(k), str(v)) for k, v in (headers or {}).items())
        if raw and not _has_header(pairs, "Content-Type"):
            pairs = (("Content-Type", default_type), *pairs)
        return cls(FaultKind.RESPOND, http_status=status, body=raw, headers=pairs)

    @classmethod
    def _canned(
        cls,
        kind: FaultKind,
        code: int,
        retry_after: str | None,
        body: bytes | Mapping[str, Any] | None,
        content_type: str | None,
    ) -> Fault:
        _check_status(code)
        if body is None:
            if code in _EMPTY_BODY_STATUSES:
                raw, default_type = b"", _TEXT
            else:
                default = _DEFAULT_BODIES.get(code, {"code": "ERROR", "message": "error"})
                raw, default_type = _encode_body(default)
        else:
            raw, default_type = _encode_body(body)
        headers: list[tuple[str, str]] = []
        if raw:
            headers.append(("Content-Type", content_type or default_type))
        if retry_after is not None:
            headers.append(("Retry-After", retry_after))
        return cls(kind, http_status=code, body=raw, headers=tuple(headers))


def _check_status(code: int) -> None:
    if not 100 <= code <= 599:
        raise ValueError(f"HTTP status must be in 100..599, got {code}")


@attrs.define
class ProbeScript:
    """The outcome fixed for one probe: score overrides and faults still to apply."""

    score: float | None = None
    liveness: float | None = None
    faults: deque[Fault] = attrs.field(factory=deque)


def _path_suffix(path: str) -> str:
    # Match whole path segments: "liveness" must not hit ".../compare-with-liveness".
    return "/" + path.lstrip("/")


@attrs.define
class FaultSchedule:
    """Decides the fault of each request: injected queue, then probe script, then rate."""

    _queue: deque[tuple[Fault, str | None]] = attrs.field(factory=deque)
    _scripts: dict[str, ProbeScript] = attrs.field(factory=dict)
    _rate: float = 0.0
    _rate_faults: tuple[Fault, ...] = ()
    _rng: random.Random = attrs.field(factory=random.Random)

    def inject(self, faults: Sequence[Fault], path: str | None = None) -> None:
        """Queue ``faults`` for the next requests (to paths ending in ``path``), one each."""
        suffix = None if path is None else _path_suffix(path)
        self._queue.extend((fault, suffix) for fault in faults)

    def script(
        self,
        key: str,
        *,
        score: float | None = None,
        liveness: float | None = None,
        faults: Sequence[Fault] = (),
    ) -> None:
        """Fix the outcome of requests whose probe has this key (replacing any earlier script)."""
        self._scripts[key] = ProbeScript(score, liveness, deque(faults))

    def script_for(self, key: str | None) -> ProbeScript | None:
        """Return the script of a probe key, if any."""
        if key is None or not self._scripts:
            return None
        return self._scripts.get(key)

    def set_rate(self, rate: float, faults: Sequence[Fault], rng: random.Random) -> None:
        """Give each request a random fault from ``faults`` with probability ``rate``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within [0, 1]")
        if rate > 0 and not faults:
            raise ValueError("a positive fault rate needs at least one fault")
        self._rate = float(rate)
        self._rate_faults = tuple(faults)
        self._rng = rng

    def reset(self) -> None:
        """Forget queued faults, scripts and the random rate."""
        self._queue.clear()
        self._scripts.clear()
        self._rate = 0.0
        self._rate_faults = ()

    def pick(self, path: str, probe_key: str | None) -> Fault | None:
        """Return (and consume) the fault for a request to ``path`` carrying that probe."""
        if self._queue:
            for index, (fault, suffix) in enumerate(self._queue):
                if suffix is None or path.endswith(suffix):
                    del self._queue[index]
                    return fault
        script = self.script_for(probe_key)
        if script is not None and script.faults:
            return script.faults.popleft()
        if self._rate > 0 and self._rng.random() < self._rate:
            return self._rng.choice(self._rate_faults)
        return None
