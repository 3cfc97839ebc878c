"""What the commands share: exit codes, options, the token, the client, Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

import anyio
import attrs
from anyio.abc import TaskStatus

from .._client import VerifikClient
from .._config import ENV_TOKEN, ClientConfig, Timeout
from .._errors import InputError
from .._models import OS, SearchMode
from ._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS, EndpointSpec, endpoints_using
from ._manifest import OPTION_FIELDS, flag_of

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Interrupts",
    "UsageError",
    "add_connection_options",
    "add_request_options",
    "client_config",
    "configure_logging",
    "connection_config",
    "open_client",
    "positive_float",
    "positive_int",
    "read_token_file",
    "request_defaults",
    "score_value",
    "watch_signals",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

EXIT_CODES_HELP: Final = """\
exit codes:
  0    every input got a result (whatever its verdict)
  1    some inputs ended in an error (see error_code in the output)
  2    usage, configuration or manifest error (found before any call), or the
       manifest or output file failed mid-run
  130  interrupted by Ctrl-C (143 for SIGTERM); resume with --resume
"""

_EMULATOR_LOG_CAP: Final = 1000


class UsageError(Exception):
    """A problem with the command line or its inputs: print it, exit 2, send nothing."""


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_empty(text: str) -> str:
    """argparse type: text that is not blank (surrounding space dropped)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def score_value(text: str) -> float:
    """argparse type: any number (the request checks its range, NaN and infinity)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


# Each request option's flag: argparse keywords. The flag is --os for the field os,
# --min-score for min_score, and so on (see flag_of).
_REQUEST_FLAGS: Final[Mapping[str, Mapping[str, Any]]] = {
    "os": {
        "type": str.upper,
        "choices": [m.value for m in OS],
        "help": "the device of the capture (default DESKTOP)",
    },
    "search_mode": {
        "type": str.upper,
        "choices": [m.value for m in SearchMode],
        "help": "face search mode (default FAST)",
    },
    "compare_min_score": {
        "type": score_value,
        "metavar": "X",
        "help": "the score that counts as a match, 0.67-0.95 (default 0.85; "
        "compare-with-liveness sends it only when given)",
    },
    "liveness_min_score": {
        "type": score_value,
        "metavar": "X",
        "help": "the liveness score to beat, 0.52-1 (default: not sent; the API uses 0.6)",
    },
    "min_score": {
        "type": score_value,
        "metavar": "X",
        "help": "the score a stored person must reach, 0.2-1 (no default: give it here "
        "or in a min_score column)",
    },
    "collection_id": {
        "type": non_empty,
        "metavar": "ID",
        "help": "only the stored persons of this collection (default: not sent)",
    },
    "max_results": {
        "type": positive_int,
        "metavar": "N",
        "help": "the most persons search returns, 1-100 (default: not sent; the API uses 10)",
    },
}


def add_request_options(
    parser: argparse.ArgumentParser,
    *,
    names: Iterable[str] = ENDPOINTS[COMPARE_WITH_LIVENESS].options,
    description: str | None = None,
    show_endpoints: bool = False,
) -> None:
    """The request options ``names`` as flags (--os, --search-mode, --min-score...).

    ``show_endpoints`` appends to each help the endpoints that use the option.
    """
    group = parser.add_argument_group("request options", description)
    for name in names:
        options = dict(_REQUEST_FLAGS[name])
        if show_endpoints:
            options["help"] += f" [{', '.join(endpoints_using(name))}]"
        group.add_argument(flag_of(name), dest=name, **options)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Where to send calls and with which token: --token-file, --base-url, --emulator, --timeout."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help=f"read the API token from this file (default: the {ENV_TOKEN} variable); "
        "tokens are never accepted on the command line",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="the API root (default: VERIFIK_BASE_URL or https://api.verifik.co/v2/)",
    )
    group.add_argument(
        "--emulator",
        action="store_true",
        help="start the built-in emulator in-process and send every call to it "
        "(no token, no network needed)",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        metavar="S",
        help="seconds allowed for one HTTP attempt (default 60)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log retries and other events to stderr"
    )


def configure_logging(verbose: bool) -> None:
    """Send the library's log to stderr when asked (it never logs tokens or images)."""
    if verbose:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )


def request_defaults(args: argparse.Namespace, spec: EndpointSpec | None = None) -> dict[str, Any]:
    """The request options given on the command line, checked for ``spec``.

    ``spec`` defaults to compare-with-liveness. Raises UsageError naming the
    flag when one is bad or not used by the endpoint.
    """
    spec = spec if spec is not None else ENDPOINTS[COMPARE_WITH_LIVENESS]
    defaults = {
        name: value for name in OPTION_FIELDS if (value := getattr(args, name, None)) is not None
    }
    try:
        spec.check_defaults(defaults)
    except InputError as exc:
        raise UsageError(f"{flag_of(exc.field)}: {exc.problem}") from None
    return defaults


def read_token_file(path: Path) -> str:
    """The token in ``path`` (surrounding white space dropped); UsageError if unusable."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"--token-file: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file: cannot read {path}: {exc}") from None
    if not token:
        raise UsageError(f"--token-file: {path} is empty")
    with contextlib.suppress(OSError):
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            print(
                f"warning: {path} can be read by other users; chmod 600 it",
                file=sys.stderr,
            )
    return token


def client_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ClientConfig:
    """Settings for a real API: token from --token-file or the environment.

    Raises UsageError when there is no token or a setting is invalid.
    """
    token = read_token_file(args.token_file) if args.token_file is not None else None
    try:
        config = ClientConfig.from_env(
            env,
            token=token,
            base_url=args.base_url,
            timeout=Timeout(total=args.timeout) if args.timeout else None,
        )
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if config.token is None:
        raise UsageError(
            f"no API token: set {ENV_TOKEN} or pass --token-file PATH "
            "(or try --emulator, which needs none)"
        )
    return config


def connection_config(args: argparse.Namespace) -> ClientConfig | None:
    """:func:`client_config`, or None with ``--emulator`` (which needs no token)."""
    if not args.emulator:
        return client_config(args)
    if args.base_url:
        raise UsageError("--emulator and --base-url cannot be used together")
    return None


@contextlib.asynccontextmanager
async def open_client(
    args: argparse.Namespace,
    config: ClientConfig | None,
    on_emulator: Callable[[str], None] | None = None,
) -> AsyncIterator[VerifikClient]:
    """A client for ``config``, or, with ``--emulator``, one bound to a fresh emulator.

    The emulator records no bodies and a capped log, so a long job stays flat.
    ``on_emulator`` gets its base URL once it listens.
    """
    if config is not None:
        async with VerifikClient(config=config) as client:
            yield client
        return
    from ..testing import EmulatorServer

    async with EmulatorServer(record_bodies=False, max_recorded=_EMULATOR_LOG_CAP) as server:
        if on_emulator is not None:
            on_emulator(server.base_url)
        timeout = Timeout(total=args.timeout) if args.timeout else Timeout()
        emulated = ClientConfig(token=server.token, base_url=server.base_url, timeout=timeout)
        async with VerifikClient(config=emulated) as client:
            yield client


@attrs.define
class Interrupts:
    """Ctrl-C (or SIGTERM) so far: the first stops new work, the second cancels ``scope``."""

    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    count: int = 0
    signum: int | None = None

    @property
    def stopping(self) -> bool:
        """True once a first signal has arrived."""
        return self.count > 0

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention (130 for Ctrl-C)."""
        return 128 + (self.signum or signal.SIGINT)


_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


async def watch_signals(
    interrupts: Interrupts,
    on_first: Callable[[], None],
    on_second: Callable[[], None],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Count SIGINT/SIGTERM until cancelled; after the second, default handling resumes.

    Where signals cannot be caught (Windows), Ctrl-C raises KeyboardInterrupt
    as usual and the caller turns it into exit code 130.
    """
    with contextlib.ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(*_SIGNALS))
        except (NotImplementedError, RuntimeError, ValueError):
            task_status.started()
            return
        task_status.started()
        async for signum in signals:
            interrupts.count += 1
            interrupts.signum = interrupts.signum or int(signum)
            if interrupts.count == 1:
                on_first()
            else:
                on_second()
                interrupts.scope.cancel()
                return


def err(message: str, stream: TextIO | None = None) -> None:
    """Print one message to stderr (resolved at call time, so tests can capture it)."""
    print(message, file=stream or sys.stderr, flush=True)
