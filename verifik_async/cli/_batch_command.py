"""``verifik-async batch``: a whole manifest through the batch runner into a JSONL file."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import attrs

from .._batch import Job, Outcome
from .._config import ClientConfig
from ._common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Interrupts,
    UsageError,
    add_connection_options,
    add_request_options,
    configure_logging,
    connection_config,
    err,
    open_client,
    positive_float,
    positive_int,
    request_defaults,
    watch_signals,
)
from ._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS, EndpointSpec, endpoints_help
from ._jobs import JobFactory, RowKey
from ._manifest import (
    MANIFEST_SUFFIXES,
    OPTION_FIELDS,
    ManifestColumns,
    ManifestError,
    ManifestFormat,
    Record,
    ScanReport,
    detect_format,
    parse,
    scan,
)
from ._output import ResultsFileError, ResultsState, ResultsWriter, read_results, result_record
from ._progress import ProgressReporter

__all__ = ["add_parser", "run"]

DEFAULT_CONCURRENCY: Final = 16

DESCRIPTION: Final = """\
Call one endpoint (--endpoint; compare-with-liveness by default) for every row
of a manifest and write one JSON line per row to --out, as each call completes.

The manifest is CSV (a header row naming the columns; several gallery paths
joined by ';') or JSON Lines (one object per line, the same keys, gallery a
list). Which columns each endpoint takes is listed below. Request option
columns (os, search_mode, compare_min_score, ...) override the flags of the
same name for that row. Paths are relative to the manifest's folder.

A bad row (missing file, not an image, bad value, a value in a column the
endpoint does not use) becomes an error line for its id naming the manifest
line, and the job goes on. Duplicate ids are refused before any call.
"""

EPILOG: Final = f"""\
{endpoints_help()}

output line fields:
  id, status ("ok" or "error"), verdict, the endpoint's output fields above,
  error_code, error_message, attempts, elapsed (seconds); a field that does
  not apply (all the endpoint's fields on an error line) is null.

Ctrl-C stops taking new rows and lets the calls in flight finish (a second
Ctrl-C cancels them); the output stays consistent. Run the same command with
--resume to finish: ids already in the output are skipped, and a torn last
line left by a crash is cut off.

The token comes from VERIFIK_API_TOKEN or --token-file, never from the command
line. --emulator needs neither.

{EXIT_CODES_HELP}
examples:
  verifik-async batch examples/manifest.csv --emulator --out results.jsonl
  verifik-async batch selfies.csv --endpoint search --min-score 0.8 --out found.jsonl
"""


def add_parser(subparsers: Any) -> None:
    """Register ``batch`` and its options."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="run a whole manifest of probes into a JSONL results file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="a .csv or .jsonl file")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="RESULTS.jsonl", help="the results file"
    )
    parser.add_argument(
        "--endpoint",
        choices=list(ENDPOINTS),
        default=COMPARE_WITH_LIVENESS,
        help=f"the API call made for each row (default {COMPARE_WITH_LIVENESS}); "
        "see below for the columns and output fields of each",
    )
    run_group = parser.add_argument_group("running")
    run_group.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"calls in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    run_group.add_argument(
        "--rate",
        type=positive_float,
        metavar="R",
        help="at most R HTTP attempts per second (default: no limit)",
    )
    run_group.add_argument(
        "--burst",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --rate, at most N attempts at once (default 1)",
    )
    run_group.add_argument(
        "--renew-token-within",
        type=positive_float,
        metavar="S",
        help="before starting, renew the token if it expires within S seconds "
        "(read from the JWT; e.g. 86400 for a day)",
    )
    run_group.add_argument(
        "--ordered",
        action="store_true",
        help="write results in manifest order (default: as they complete)",
    )
    run_group.add_argument(
        "--fail-fast", action="store_true", help="stop after the first error line"
    )
    out_group = run_group.add_mutually_exclusive_group()
    out_group.add_argument(
        "--resume",
        action="store_true",
        help="skip ids already in --out and append the rest",
    )
    out_group.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out file"
    )
    run_group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no summary, only problems"
    )
    add_request_options(
        parser,
        names=OPTION_FIELDS,
        description="defaults for every row (a row's column of the same name overrides\n"
        "them); [the endpoints that use each]; a flag the endpoint does not use is\n"
        "an error",
        show_endpoints=True,
    )
    add_connection_options(parser)
    parser.set_defaults(handler=run)


@attrs.define
class _Plan:
    """Everything decided before the first call."""

    args: argparse.Namespace
    argv: list[str]
    manifest: Path
    fmt: ManifestFormat
    out: Path
    spec: EndpointSpec
    columns: ManifestColumns
    defaults: dict[str, Any]
    config: ClientConfig | None
    previous: ResultsState
    report: ScanReport


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``batch``; returns the exit code."""
    configure_logging(args.verbose)
    try:
        plan = _plan(args, argv)
    except UsageError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE
    except ManifestError as exc:
        err(f"error: the manifest {args.manifest} cannot be used:")
        for problem in exc.problems:
            err(f"  {problem}")
        err("nothing was sent.")
        return EXIT_USAGE
    return anyio.run(_Job(plan).run)


def _plan(args: argparse.Namespace, argv: list[str]) -> _Plan:
    spec = ENDPOINTS[args.endpoint]
    defaults = request_defaults(args, spec)
    columns = spec.columns(defaults)
    config = connection_config(args)
    manifest: Path = args.manifest
    out: Path = args.out
    fmt = _manifest_format(manifest)
    previous = _check_output(out, manifest, spec, resume=args.resume, overwrite=args.overwrite)
    try:
        report = scan(lambda: _read_records(manifest, fmt, columns), previous.done)
    except OSError as exc:
        raise UsageError(f"cannot read the manifest {manifest}: {exc.strerror or exc}") from None
    return _Plan(args, argv, manifest, fmt, out, spec, columns, defaults, config, previous, report)


def _manifest_format(manifest: Path) -> ManifestFormat:
    """The manifest's format; UsageError when it is missing, empty or not a manifest."""
    try:
        with manifest.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
            first = next((line for line in handle if line.strip()), None)
    except FileNotFoundError:
        raise UsageError(f"no such manifest: {manifest}") from None
    except IsADirectoryError:
        raise UsageError(f"the manifest {manifest} is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read the manifest {manifest}: {exc.strerror or exc}") from None
    fmt = detect_format(manifest, first or "")
    if fmt is None:
        raise UsageError(
            f"the manifest {manifest} has the extension {manifest.suffix!r}; "
            f"a manifest is {', '.join(MANIFEST_SUFFIXES[:-1])} or {MANIFEST_SUFFIXES[-1]} "
            "(CSV or JSON Lines)"
        )
    if first is None:
        raise UsageError(f"the manifest {manifest} is empty")
    return fmt


def _check_output(
    out: Path, manifest: Path, spec: EndpointSpec, *, resume: bool, overwrite: bool
) -> ResultsState:
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist")
    with contextlib.suppress(OSError):
        if out.exists() and os.path.samefile(out, manifest):
            raise UsageError("--out is the manifest itself")
    if resume:
        try:
            previous = read_results(out)
        except ResultsFileError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot read {out}: {exc.strerror or exc}") from None
        _check_same_endpoint(out, previous, spec)
        return previous
    with contextlib.suppress(FileNotFoundError):
        if out.stat().st_size > 0 and not overwrite:
            raise UsageError(
                f"{out} already holds results; pass --resume to continue that job "
                "or --overwrite to replace it"
            )
    return ResultsState(frozenset(), 0, 0, torn=False)


def _check_same_endpoint(out: Path, previous: ResultsState, spec: EndpointSpec) -> None:
    """Refuse to resume a results file that another endpoint wrote (its lines differ)."""
    if previous.fields is None or previous.fields == spec.fields:
        return
    writer = next((s.name for s in ENDPOINTS.values() if s.fields == previous.fields), None)
    what = f"--endpoint {writer}" if writer else "another program or endpoint"
    raise UsageError(
        f"--resume: {out} holds results of {what}, not of --endpoint {spec.name}; "
        "resume with the endpoint that started it, or choose another --out"
    )


def _read_records(
    manifest: Path, fmt: ManifestFormat, columns: ManifestColumns
) -> Generator[Record, None, None]:
    # surrogateescape: a row with bad UTF-8 becomes an error line, not a crash.
    with manifest.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        yield from parse(handle, fmt, columns)


def resume_command(argv: list[str]) -> str:
    """The command line that resumes this job: the same one, with --resume."""
    prog = (
        "python -m verifik_async"
        if os.path.basename(sys.argv[0]) == "__main__.py"
        else "verifik-async"
    )
    args = [arg for arg in argv if arg != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join([*prog.split(), *args])


class _Job:
    """One run of the batch command, from the opened client to the exit code."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._args = plan.args
        self._interrupts: Interrupts  # made in run(): a cancel scope needs the event loop
        self._progress = ProgressReporter(sys.stderr, enabled=not plan.args.quiet)
        self._written = 0
        self._errors = 0
        self._input_error: BaseException | None = None
        self._output_error: OSError | None = None
        self._summary: Any = None

    def _say(self, message: str) -> None:
        if not self._args.quiet:
            self._progress.clear()
            err(message)

    def _warn(self, message: str) -> None:
        self._progress.clear()
        err(message)

    def _jobs(self, records: Iterable[Record]) -> Iterator[Job]:
        factory = JobFactory(self._plan.manifest.parent, self._plan.defaults, spec=self._plan.spec)
        for job in factory.jobs(records, skip=self._plan.previous.done):
            if self._interrupts.stopping:
                return
            yield job

    def _on_first_signal(self) -> None:
        self._warn(
            "\ninterrupted: no new rows will start; finishing the calls in flight "
            "(press Ctrl-C again to stop at once)"
        )

    def _on_second_signal(self) -> None:
        self._warn("\nstopping now: cancelling the calls in flight")

    async def run(self) -> int:
        """Open the client (or emulator), run the rows, report; returns the exit code."""
        self._interrupts = Interrupts()
        self._announce()
        plan = self._plan
        if plan.report.to_run == 0:
            if plan.report.rows:
                self._say("nothing to do: every id of the manifest is already in the output")
            return self._exit_code()
        async with (
            open_client(self._args, plan.config, self._on_emulator) as client,
            anyio.create_task_group() as signals,
        ):
            await signals.start(
                watch_signals, self._interrupts, self._on_first_signal, self._on_second_signal
            )
            try:
                with ResultsWriter(
                    plan.out,
                    overwrite=plan.args.overwrite,
                    truncate_to=plan.previous.good_size if plan.args.resume else None,
                    add_newline=plan.previous.needs_newline and plan.args.resume,
                ) as writer:
                    await self._stream(client, writer)
            finally:
                signals.cancel_scope.cancel()
        return self._report()

    def _announce(self) -> None:
        plan = self._plan
        report = plan.report
        for name in report.ignored_fields:
            self._warn(f"warning: ignoring the unknown manifest field {name!r}")
        if plan.args.resume and plan.previous.torn:
            self._warn(f"resume: cutting off a torn last line in {plan.out}")
        if plan.args.resume:
            self._say(
                f"resume: {report.skipped} of {report.rows} ids already in {plan.out}; "
                f"{report.to_run} to go"
            )
        elif report.rows:
            self._say(
                f"batch: {report.rows} rows from {plan.manifest} -> {plan.out} "
                f"(--endpoint {plan.spec.name})"
            )
        else:
            self._say(f"batch: the manifest {plan.manifest} has no rows")

    def _on_emulator(self, base_url: str) -> None:
        self._say(f"emulator: listening on {base_url} (in-process, for this run only)")

    async def _stream(self, client: Any, writer: ResultsWriter) -> None:
        args = self._args
        secrets = [client.config.token] if client.config.token else []
        records = _read_records(self._plan.manifest, self._plan.fmt, self._plan.columns)
        with contextlib.closing(records), self._interrupts.scope:
            async with client.stream(
                self._jobs(records),
                concurrency=args.concurrency,
                ordered=args.ordered,
                fail_fast=args.fail_fast,
                rate=args.rate,
                burst=args.burst,
                renew_token_within=args.renew_token_within,
                progress=self._progress,
                total=self._plan.report.to_run,
            ) as results:
                if client.config.token and client.config.token not in secrets:
                    secrets.append(client.config.token)  # renewed on entry
                try:
                    await self._drain(results, writer, secrets)
                finally:
                    self._summary = results.summary

    async def _drain(self, results: Any, writer: ResultsWriter, secrets: list[str]) -> None:
        iterator = aiter(results)
        while True:
            try:
                outcome = await anext(iterator)
            except StopAsyncIteration:
                return
            except (OSError, ManifestError) as exc:
                # The manifest could not be read on; what was read before was
                # delivered (and written) before the runner raised this.
                self._input_error = exc
                return
            record = self._record(outcome, secrets)
            try:
                writer.write(record)
            except OSError as exc:
                self._output_error = exc
                return
            self._written += 1
            self._errors += not outcome.ok

    def _record(self, outcome: Outcome[Any], secrets: list[str]) -> dict[str, Any]:
        """The output line of one outcome; an image error names its manifest line."""
        spec = self._plan.spec
        key: RowKey = outcome.key
        return result_record(
            key.id,
            outcome.result,
            spec.restate(outcome.error, key.line),
            outputs=spec.outputs,
            attempts=outcome.attempts,
            elapsed=outcome.elapsed,
            secrets=secrets,
        )

    def _report(self) -> int:
        plan = self._plan
        self._progress.finish()
        if self._summary is not None and not self._args.quiet:
            err(self._summary.table())
        done = self._written + plan.report.skipped
        unfinished = plan.report.rows - done
        earlier = f" ({plan.report.skipped} from before)" if plan.report.skipped else ""
        self._say(f"results: {done} of {plan.report.rows} ids in {plan.out}{earlier}")
        if self._input_error is not None:
            self._warn(f"error: reading the manifest failed: {self._input_error}")
        if self._output_error is not None:
            self._warn(f"error: writing {plan.out} failed: {self._output_error}")
        if unfinished > 0:
            reason = (
                "interrupted"
                if self._interrupts.stopping
                else "stopped at the first error (--fail-fast)"
                if self._args.fail_fast and self._errors
                else "stopped"
            )
            self._warn(
                f"{reason}: {unfinished} ids not done yet; the output is consistent.\n"
                f"to finish the job, run:\n  {resume_command(plan.argv)}"
            )
        return self._exit_code(unfinished)

    def _exit_code(self, unfinished: int = 0) -> int:
        if unfinished > 0 and self._interrupts.stopping:
            return self._interrupts.exit_code
        if self._input_error is not None or self._output_error is not None:
            return EXIT_USAGE
        if self._errors or self._plan.previous.errors or unfinished > 0:
            return EXIT_FAILED
        return EXIT_OK
