"""``verifik-async emulator``: the emulated API on a local port until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
from pathlib import Path
from typing import Any, Final

import anyio

from .._config import ENV_TOKEN
from ._common import EXIT_OK, EXIT_USAGE, err, positive_float

__all__ = ["add_parser", "run", "write_token_file"]

DESCRIPTION: Final = f"""\
Serve the emulated Verifik API on a local port until Ctrl-C (or SIGTERM).

The emulator accepts one token: {ENV_TOKEN} if it is set, otherwise a fresh
one written to --token-file (mode 0600). The token is never printed. Point a
client at it with VERIFIK_BASE_URL (or --base-url) and the same token.
"""

EPILOG: Final = """\
example:
  verifik-async emulator --port 8765 --token-file emulator.token
  verifik-async batch examples/manifest.csv --out results.jsonl \\
      --base-url http://127.0.0.1:8765/v2/ --token-file emulator.token

exit codes: 0 stopped by Ctrl-C or SIGTERM; 2 bad options or the port is taken.
"""


def add_parser(subparsers: Any) -> None:
    """Register ``emulator`` and its options."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="serve the emulated API locally (for tests and demos)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, metavar="N", help="the port (default: a free one)"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help=f"write the generated token here (required unless {ENV_TOKEN} is set)",
    )
    parser.add_argument(
        "--latency",
        type=positive_float,
        metavar="S",
        help="seconds added to every answer (to watch a batch at work)",
    )
    parser.set_defaults(handler=run)


class _TokenFileError(Exception):
    """The token file could not be written."""


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path``, readable by its owner only (0600), replacing it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), 0o600)  # it may have existed with wider rights
        handle.write(token + "\n")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _usage_problem(args: argparse.Namespace, env_token: str | None) -> str | None:
    if env_token is None and args.token_file is None:
        return f"pass --token-file PATH for the generated token, or set {ENV_TOKEN}"
    if not 0 <= args.port <= 65535:
        return f"--port must be 0-65535, got {args.port}"
    if args.token_file is not None and not args.token_file.parent.is_dir():
        return f"--token-file: the folder {args.token_file.parent} does not exist"
    return None


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``emulator``; returns the exit code."""
    env_token = os.environ.get(ENV_TOKEN, "").strip() or None
    problem = _usage_problem(args, env_token)
    if problem is not None:
        err(f"error: {problem}")
        return EXIT_USAGE
    if not _is_loopback(args.host):
        err(f"warning: listening on {args.host}: other machines can reach this emulator")
    return anyio.run(_serve, args, env_token)


async def _serve(args: argparse.Namespace, env_token: str | None) -> int:
    from ..testing import serve

    failure: list[str] = []

    def on_ready(server: Any) -> None:
        if args.token_file is not None:
            try:
                write_token_file(args.token_file, server.token)
            except OSError as exc:
                raise _TokenFileError(
                    f"cannot write --token-file {args.token_file}: {exc.strerror or exc}"
                ) from None
        if env_token is None:
            where = f"the token is in {args.token_file} (mode 0600)"
        else:
            where = f"it accepts the token in {ENV_TOKEN}"
            if args.token_file is not None:
                where += f" (also written to {args.token_file})"
        print(f"Verifik emulator listening on {server.base_url}", flush=True)
        print(f"  {where}", flush=True)
        print(f"  use it: VERIFIK_BASE_URL={server.base_url} verifik-async ...", flush=True)
        print("  press Ctrl-C to stop", flush=True)

    async def run_server(scope: anyio.CancelScope) -> None:
        try:
            await serve(
                args.host,
                args.port,
                token=env_token,
                latency=args.latency or 0.0,
                on_ready=on_ready,
            )
        except _TokenFileError as exc:
            failure.append(str(exc))
            scope.cancel()
        except OSError as exc:
            failure.append(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
            scope.cancel()

    with contextlib.ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        except (NotImplementedError, RuntimeError, ValueError):
            signals = None
        async with anyio.create_task_group() as group:
            group.start_soon(run_server, group.cancel_scope)
            if signals is not None:
                async for _ in signals:
                    break
            else:
                await anyio.sleep_forever()
            group.cancel_scope.cancel()
    if failure:
        err(f"error: {failure[0]}")
        return EXIT_USAGE
    print("emulator stopped", file=sys.stderr, flush=True)
    return EXIT_OK
