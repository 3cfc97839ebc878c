"""The only module that speaks aiohttp: one pooled session, errors mapped to ours."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Final

import aiohttp

from ._config import ClientConfig, Timeout
from ._errors import ClientStateError, ConnectError, RequestTimeoutError, TransportError
from ._protocol import Answer

__all__ = ["Transport"]

_IDLE_KEEPALIVE: Final = 30.0
# aiohttp warns (ResourceWarning) about raw bytes bodies over 1 MiB; a gallery of a
# few photos is that big. A BytesIO body is written in chunks that yield to the loop.
_LARGE_BODY: Final = 2**20


class Transport:
    """POSTs and GETs over one pooled aiohttp session.

    The session is created by ``open`` (it needs a running event loop) and
    closed by ``close``, unless it was handed in: a session you pass is used
    as it is and never closed here.
    """

    __slots__ = ("_config", "_owns_session", "_session", "_timeouts")

    def __init__(self, config: ClientConfig, session: aiohttp.ClientSession | None = None) -> None:
        self._config = config
        self._session = session
        self._owns_session = session is None
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}

    async def open(self) -> None:
        """Create the pooled session if none was handed in."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._config.max_connections,
                    keepalive_timeout=_IDLE_KEEPALIVE,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        elif self._session.closed:
            raise ClientStateError("the aiohttp session handed to the client is closed")

    async def close(self) -> None:
        """Close the session if this transport created it."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        if (cached := self._timeouts.get(timeout)) is None:
            cached = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=timeout.total, connect=timeout.connect
            )
        return cached

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        attempt: int,
    ) -> Answer:
        """Send one request and read the whole answer; never follows redirects.

        Raises RequestTimeoutError or ConnectError (with ``attempts`` set)
        when no complete answer arrives. Cancellation passes through untouched.
        """
        session = self._session
        if session is None:
            raise ClientStateError("the client is not open; use `async with VerifikClient()`")
        # A fresh BytesIO per attempt: aiohttp reads it to the end, and retries resend.
        data = io.BytesIO(body) if body is not None and len(body) > _LARGE_BODY else body
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._client_timeout(timeout),
                allow_redirects=False,
            ) as response:
                content = await response.read()
                return Answer(response.status, response.headers, content, attempt)
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"{method} {_path(url)} timed out (timeout total={timeout.total}s, "
                f"connect={timeout.connect}s)",
                attempts=attempt,
            ) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ConnectError(
                f"{method} {_path(url)} failed: {type(exc).__name__}: {exc}", attempts=attempt
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{method} {_path(url)} failed: {type(exc).__name__}: {exc}", attempts=attempt
            ) from exc


def _path(url: str) -> str:
    """The URL without its query, for messages (a query may one day carry secrets)."""
    return url.split("?", 1)[0]
