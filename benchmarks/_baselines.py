"""What users write instead of this library: a raw aiohttp loop and a raw httpx loop.

Both are written as a careful script author would, and as the issue asks:
every call base64-encodes its probe and gallery and serialises its JSON body
(``json=``, so the library's stock ``json.dumps``), sends it with the bearer
token, checks for a 200, parses the JSON answer and reads the scores. Nothing
is cached between calls. The concurrency limit (an ``asyncio.Semaphore`` with
``gather``) lives in the shared driver, ``_measure.run_calls``, so every
contender is driven by the very same loop.

``raw aiohttp + orjson`` is the same aiohttp loop with orjson plugged into
the session's ``json_serialize`` and into ``response.json(loads=...)``: what a
performance-minded author would write. It is reported for context (it is
the bar for the library's own overhead), not used by the targets.

Settings are each library's defaults except where a script talking to a slow
face API would change them: httpx's 5 s default timeout is raised to 60 s
(the library's own default); and httpx ignores proxy variables
(``trust_env=False``), as aiohttp does by default, so no traffic can leave
loopback. Pool sizes stay at the defaults (aiohttp 100
connections; httpx 100 connections, 20 kept alive), as a script would.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from ._payloads import Workload

Call = Callable[[int], Awaitable[Any]]

TIMEOUT_SECONDS: Final = 60.0


class BaselineError(RuntimeError):
    """A baseline call got something other than a 200."""


def _body(probe: bytes, gallery: tuple[bytes, ...]) -> dict[str, Any]:
    return {
        "os": "DESKTOP",
        "probe": base64.b64encode(probe).decode("ascii"),
        "gallery": [base64.b64encode(image).decode("ascii") for image in gallery],
        "search_mode": "FAST",
    }


def _scores(payload: Any) -> tuple[float, float | None]:
    data = payload["data"]
    liveness = data.get("liveness")
    score = float(data["comparison"]["result"]["score"])
    return score, None if liveness is None else float(liveness["result"]["liveness_score"])


@asynccontextmanager
async def raw_aiohttp(url: str, token: str, workload: Workload) -> AsyncIterator[Call]:
    """A plain ``aiohttp.ClientSession`` loop; yields ``call(i)``."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:

        async def call(i: int) -> tuple[float, float | None]:
            body = _body(workload.probe(i), workload.gallery)
            async with session.post(url, json=body) as response:
                if response.status != 200:
                    raise BaselineError(f"HTTP {response.status}")
                payload = await response.json()
            return _scores(payload)

        yield call


@asynccontextmanager
async def raw_aiohttp_orjson(url: str, token: str, workload: Workload) -> AsyncIterator[Call]:
    """The aiohttp loop with orjson for both directions; yields ``call(i)``."""
    import aiohttp
    import orjson

    def dumps(obj: Any) -> str:
        # aiohttp wants a str here and encodes it again: the best a script can do.
        return orjson.dumps(obj).decode()

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        headers=headers, timeout=timeout, json_serialize=dumps
    ) as session:

        async def call(i: int) -> tuple[float, float | None]:
            body = _body(workload.probe(i), workload.gallery)
            async with session.post(url, json=body) as response:
                if response.status != 200:
                    raise BaselineError(f"HTTP {response.status}")
                payload = await response.json(loads=orjson.loads)
            return _scores(payload)

        yield call


@asynccontextmanager
async def raw_httpx(url: str, token: str, workload: Workload) -> AsyncIterator[Call]:
    """A plain ``httpx.AsyncClient`` loop; yields ``call(i)``."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    # trust_env=False: no proxy from the environment may take loopback traffic elsewhere.
    async with httpx.AsyncClient(
        headers=headers, timeout=TIMEOUT_SECONDS, trust_env=False
    ) as client:

        async def call(i: int) -> tuple[float, float | None]:
            body = _body(workload.probe(i), workload.gallery)
            response = await client.post(url, json=body)
            if response.status_code != 200:
                raise BaselineError(f"HTTP {response.status_code}")
            return _scores(response.json())

        yield call
