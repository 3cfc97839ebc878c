"""The ``verifik-async`` command line: ``batch``, ``compare`` and ``emulator``.

``batch`` runs a manifest through compare-with-liveness, compare, liveness or
search (``--endpoint``); ``compare`` makes one compare-with-liveness call.

``main(argv)`` parses ``argv`` (default ``sys.argv[1:]``), runs the command
and returns its exit code; it is the console script's entry point::

    verifik-async batch examples/manifest.csv --emulator --out results.jsonl
    verifik-async batch examples/manifest.csv --endpoint compare --emulator --out c.jsonl
    verifik-async compare selfie.png id.png --emulator --json
    verifik-async emulator --port 8765 --token-file emulator.token
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import _batch_command, _compare_command, _emulator_command
from ._common import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="verifik-async",
        description="Bulk face-recognition calls to Verifik's API (compare-with-liveness, "
        "compare, liveness, search), single compare-with-liveness calls, and a local "
        "emulator of that API.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _batch_command.add_parser(subparsers)
    _compare_command.add_parser(subparsers)
    _emulator_command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.handler(args, args_list)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return code
