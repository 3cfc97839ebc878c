"""``verifik-async compare PROBE GALLERY...``: one call, a readable verdict or a JSON line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Final

import anyio

from .._config import ClientConfig
from .._errors import VerifikError
from .._images import Image
from .._models import CompareLivenessRequest, CompareLivenessResult
from ._common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_connection_options,
    add_request_options,
    configure_logging,
    connection_config,
    err,
    open_client,
    request_defaults,
)
from ._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS
from ._output import result_record, safe_message

__all__ = ["add_parser", "run"]

_HEADLINES: Final = {
    "verified": "VERIFIED: the probe matches the gallery and is live",
    "not_matched": "NOT MATCHED: the probe does not match the gallery",
    "not_live": "NOT LIVE: the probe matches the gallery but failed the liveness check",
    "liveness_missing": "NOT VERIFIED: the probe matches, but the API ran no liveness check",
}

EPILOG: Final = f"""\
The exit code says whether the call worked, not the verdict: a "not matched"
answer exits 0. Use --json for a machine-readable line (the same fields as a
batch output line, without id).

{EXIT_CODES_HELP}
example:
  verifik-async compare selfie.jpg id_front.jpg --emulator
"""


def add_parser(subparsers: Any) -> None:
    """Register ``compare`` and its options."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="compare one probe with a gallery and check liveness",
        description="Compare one probe selfie with a gallery of images, and check that the "
        "probe is a live person: one compare-with-liveness call.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("probe", type=Path, metavar="PROBE", help="the selfie (JPEG, PNG, WebP)")
    parser.add_argument(
        "gallery", type=Path, nargs="+", metavar="GALLERY", help="one or more reference images"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_request_options(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``compare``; returns the exit code."""
    configure_logging(args.verbose)
    try:
        defaults = request_defaults(args)
        config = connection_config(args)
    except UsageError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    request = CompareLivenessRequest(
        Image.from_path(args.probe),
        [Image.from_path(path) for path in args.gallery],
        **defaults,
    )
    return anyio.run(_compare, args, config, request)


async def _compare(
    args: argparse.Namespace, config: ClientConfig | None, request: CompareLivenessRequest
) -> int:
    started = time.monotonic()
    async with open_client(args, config) as client:
        secrets = [client.config.token] if client.config.token else []
        try:
            result: CompareLivenessResult = await client.call(request)
        except VerifikError as exc:
            elapsed = time.monotonic() - started
            if args.json:
                _print_json(None, exc, exc.attempts, elapsed, secrets)
            else:
                err(f"error: {exc.code}: {safe_message(exc, secrets)}")
            return EXIT_FAILED
    elapsed = time.monotonic() - started
    if args.json:
        _print_json(result, None, result.attempts, elapsed, secrets)
    else:
        print(describe(result, elapsed))
    return EXIT_OK


def _print_json(
    result: Any, error: VerifikError | None, attempts: int, elapsed: float, secrets: list[str]
) -> None:
    record = result_record(
        None,
        result,
        error,
        outputs=ENDPOINTS[COMPARE_WITH_LIVENESS].outputs,
        attempts=attempts,
        elapsed=elapsed,
        secrets=secrets,
    )
    del record["id"]
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def describe(result: CompareLivenessResult, elapsed: float) -> str:
    """The verdict and the numbers behind it, as a few aligned lines."""
    verdict = str(result.verdict)
    match = "matched" if result.matched else "no match"
    lines = [
        _HEADLINES.get(verdict, verdict),
        f"  score           {result.score:.4f}  ({match}; threshold {result.compare_min_score:g})",
    ]
    if result.liveness is None:
        lines.append("  liveness score  -       (not run)")
    else:
        live = "live" if result.live else "not live"
        threshold = result.liveness.min_score
        above = f"; must be above {threshold:g}" if threshold is not None else ""
        lines.append(f"  liveness score  {result.liveness.liveness_score:.2f}    ({live}{above})")
    lines.append(f"  attempts        {result.attempts}  ({elapsed:.2f} s)")
    return "\n".join(lines)
