"""The benchmark's server: a minimal aiohttp.web app in its own process on 127.0.0.1.

It exists so that the *client* side is what a benchmark measures. Every
``POST /v2/face-recognition/compare-with-liveness`` is handled the same way:
note the arrival time (before the body is read, so the rate figure sees when
the client started the call), read and JSON-parse the body, check that it
carries ``probe`` and ``gallery`` and a bearer token, and answer with the
seed page's 200 body, precomputed once. It is the same for every client, so
it cannot favour one.

With ``--fail-rate F`` a seeded random fraction F of calls get a proxy-style
``503 Service Unavailable`` (HTML body) instead, after the body has been read,
as a busy upstream behind a proxy would answer.

Side doors for the harness, under ``/__bench/``: ``GET stats`` (count and
statuses), ``GET arrivals`` (arrival times, seconds on the server's monotonic
clock) and ``POST reset``.

Run it as ``python -m benchmarks._server [--fail-rate F] [--seed S]``: it binds
an ephemeral port on 127.0.0.1, prints ``PORT <n>`` and serves until its
standard input closes (so it dies with the harness), it gets SIGTERM, or
``--max-seconds`` pass. The parent side is :class:`ServerProcess`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from array import array
from collections import Counter
from types import TracebackType
from typing import Any, Final, Self

from ._procs import ROOT, child_env

HOST: Final = "127.0.0.1"
PATH: Final = "/v2/face-recognition/compare-with-liveness"
MAX_BODY: Final = 64 * 1024 * 1024  # the large-request case sends ~12 MB of JSON
STARTUP_TIMEOUT: Final = 20.0

# The 200 body of the seed page (the API contract), verbatim in content.
SEED_200_BODY: Final[dict[str, Any]] = {
    "data": {
        "comparison": {
            "client": "613375a1eab2fe08527f81e2",
            "type": "compareLive",
            "search_mode": "ACCURATE",
            "gallery": [],
            "probe": [],
            "status": "success",
            "_id": "66e650d6b71ae4d43a76d95d",
            "comparedAt": "2024-09-15T03:13:26.392Z",
            "result": {"score": 1},
            "updatedAt": "2024-09-15T03:13:29.652Z",
            "createdAt": "2024-09-15T03:13:29.652Z",
            "__v": 0,
        },
        "liveness": {
            "client": "613375a1eab2fe08527f81e2",
            "type": "liveness",
            "status": "success",
            "search_mode": "FAST",
            "os": "DESKTOP",
            "liveness_min_score": 0.7,
            "_id": "66e650d9b71ae4d43a76d95f",
            "result": {"liveness_score": 0.77, "passed": True, "min_score": 0.7},
            "updatedAt": "2024-09-15T03:13:31.675Z",
            "createdAt": "2024-09-15T03:13:31.675Z",
            "__v": 0,
        },
    },
    "signature": {"dateTime": "September 15, 2024 3:13 AM", "message": "Certified by Verifik.co"},
    "id": "ABRCB",
}

_503_BODY: Final = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


def _make_app(fail_rate: float, seed: int) -> Any:
    from aiohttp import web

    try:
        import orjson

        loads: Any = orjson.loads
    except ImportError:  # the server works without the bench extra, only slower
        loads = json.loads

    ok_body = json.dumps(SEED_200_BODY).encode()
    missing_body = json.dumps(
        {"code": "MissingParameter", "message": "missing probe\n. missing gallery\n"}
    ).encode()
    unauthorized_body = json.dumps(
        {"code": "UNAUTHORIZED", "message": "Authentication required"}
    ).encode()
    rng = random.Random(seed)
    arrivals = array("d")
    statuses: Counter[int] = Counter()

    async def compare(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        raw = await request.read()
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            statuses[401] += 1
            return web.Response(status=401, body=unauthorized_body, content_type="application/json")
        if fail_rate and rng.random() < fail_rate:
            statuses[503] += 1
            return web.Response(status=503, body=_503_BODY, content_type="text/html")
        try:
            payload = loads(raw)
        except ValueError:
            statuses[400] += 1
            return web.Response(status=400, body=b'{"error":"Invalid request"}')
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("probe"), str)
            or not isinstance(payload.get("gallery"), list)
        ):
            statuses[409] += 1
            return web.Response(status=409, body=missing_body, content_type="application/json")
        statuses[200] += 1
        return web.Response(body=ok_body, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"count": len(arrivals), "statuses": dict(statuses)})

    async def arrival_times(request: web.Request) -> web.Response:
        return web.json_response(arrivals.tolist())

    async def reset(request: web.Request) -> web.Response:
        del arrivals[:]
        statuses.clear()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(PATH, compare)
    app.router.add_get("/__bench/stats", stats)
    app.router.add_get("/__bench/arrivals", arrival_times)
    app.router.add_post("/__bench/reset", reset)
    return app


async def _serve(fail_rate: float, seed: int, max_seconds: float) -> None:
    from aiohttp import web

    runner = web.AppRunner(_make_app(fail_rate, seed), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def watch_stdin() -> None:
        # The parent holds our stdin open; EOF means it is gone, so go too.
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered
        # reader aborts the interpreter at shutdown.
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except TimeoutError:
        print("benchmark server: --max-seconds reached, stopping", file=sys.stderr)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark server until stdin closes, SIGTERM, or ``--max-seconds``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.fail_rate, args.seed, args.max_seconds))


class ServerProcess:
    """The benchmark server as a child process: ``with ServerProcess() as server``.

    ``base_url`` is the API base (``http://127.0.0.1:<port>/v2/``) and ``url``
    the compare-with-liveness endpoint. Leaving the block stops the child
    (SIGTERM, then SIGKILL after a few seconds).
    """

    def __init__(self, *, fail_rate: float = 0.0, seed: int = 1, max_seconds: float = 1800.0):
        self._args = [
            sys.executable,
            "-m",
            "benchmarks._server",
            "--fail-rate",
            str(fail_rate),
            "--seed",
            str(seed),
            "--max-seconds",
            str(max_seconds),
        ]
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL to give a client."""
        return f"{self.origin}/v2/"

    @property
    def url(self) -> str:
        """The full compare-with-liveness URL, for the raw baselines."""
        return f"{self.origin}{PATH}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._proc is not None
        return self._proc.pid

    def stats(self) -> dict[str, Any]:
        """``{"count": n, "statuses": {"200": n, ...}}`` since the last reset."""
        result: dict[str, Any] = json.loads(self._side_door("GET", "stats"))
        return result

    def arrivals(self) -> list[float]:
        """Arrival times of calls since the last reset, on the server's monotonic clock."""
        result: list[float] = json.loads(self._side_door("GET", "arrivals"))
        return result

    def reset(self) -> None:
        """Forget arrivals and statuses."""
        self._side_door("POST", "reset")

    def _side_door(self, method: str, name: str) -> bytes:
        request = urllib.request.Request(f"{self.origin}/__bench/{name}", method=method)
        # No proxy from the environment: this traffic never leaves loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            body: bytes = response.read()
        return body

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(
            self._args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=child_env(),
        )
        assert self._proc.stdout is not None
        line = _readline_with_timeout(self._proc, STARTUP_TIMEOUT)
        if not line.startswith(b"PORT "):
            self._stop()
            raise RuntimeError(f"benchmark server did not start (said {line[:200]!r})")
        self.port = int(line.split()[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # the server's cue to stop by itself
        for stop in (None, proc.terminate, proc.kill):
            if stop is not None:
                stop()
            try:
                proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.stdout is not None:
            proc.stdout.close()


def _readline_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    result: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        result.append(proc.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


if __name__ == "__main__":
    main()
