"""Run every benchmark: ``python -m benchmarks [--quick] [--only FIGURE ...] [--out DIR]``.

Starts the local servers (``_server``), measures each figure in turn,
prints the markdown report on stdout (progress goes to stderr), and writes
``results.json``, ``results.md`` and the chart ``throughput.png``/``.svg``
under ``benchmarks/results/`` (``quick.*`` and ``quick-throughput.*`` for
``--quick``, so a quick run never overwrites the committed full figures).

Exit status: 0 when the run completed (a missed target is reported, not
an error: figures from a shared machine are noisy), 1 with ``--strict``
when some target was missed, 2 when the run was interrupted; a harness
failure raises.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from . import _cases, _chart, _importtime, _machine, _payloads, _report, _rss
from ._server import ServerProcess

FIGURES = ("imports", "grid", "batch", "rate", "faults", "large", "rss")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure verifik-async against raw aiohttp and httpx loops.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts: under a minute, figures indicative"
    )
    parser.add_argument(
        "--only", nargs="+", choices=FIGURES, metavar="FIGURE", help=f"any of {', '.join(FIGURES)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when any target is missed"
    )
    return parser.parse_args(argv)


async def _in_process(
    plan: _cases.Plan, figures: set[str], server: ServerProcess, faulty: ServerProcess
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    typical, tiny, large = _payloads.typical(), _payloads.tiny(), _payloads.large()
    if "grid" in figures:
        _cases.progress("throughput and CPU by concurrency")
        results["throughput"] = await _cases.throughput_grid(plan, server, typical)
        _cases.progress("per-call overhead (tiny images)")
        results["overhead"] = await _cases.per_call_overhead(plan, server, tiny)
    if "batch" in figures:
        _cases.progress("batch runner against semaphore + gather")
        results["batch"] = {
            "typical": await _cases.batch_vs_gather(plan, server, typical, calls=plan.batch_calls),
            "tiny": await _cases.batch_vs_gather(plan, server, tiny, calls=plan.batch_tiny_calls),
        }
    if "rate" in figures:
        _cases.progress(f"rate limit {plan.rate:.0f}/s for {plan.rate_seconds:.0f} s")
        results["rate"] = await _cases.rate_limit(plan, server, typical)
    if "faults" in figures:
        _cases.progress(f"{plan.fault_rate:.0%} injected 503s")
        results["faults"] = await _cases.injected_503s(plan, server, faulty, typical)
    if "large" in figures:
        _cases.progress("one large request")
        results["large"] = await _cases.large_request(plan, server, large)
    return results


def _peak_rss(plan: _cases.Plan, server: ServerProcess) -> dict[str, Any]:
    small_jobs, large_jobs = plan.rss_jobs
    children = {}
    for label, jobs in (("small", small_jobs), ("large", large_jobs)):
        _cases.progress(f"peak RSS of {jobs:,} jobs (fresh process)")
        child = _rss.run_child(jobs, server.base_url, plan.rss_concurrency)
        if child["succeeded"] != jobs:
            raise RuntimeError(f"RSS batch of {jobs} jobs: only {child['succeeded']} succeeded")
        _cases.progress(
            f"  peak {child['maxrss_kib'] / 1024:.1f} MiB, {child['throughput']:.0f} calls/s"
        )
        children[label] = child
    return {
        **children,
        "concurrency": plan.rss_concurrency,
        "ratio": children["large"]["maxrss_kib"] / children["small"]["maxrss_kib"],
    }


def run(argv: list[str] | None = None) -> int:
    """Run the benchmarks and report; return the exit status."""
    args = _parse(argv)
    plan = _cases.Plan.quick() if args.quick else _cases.Plan.full()
    figures = set(args.only or FIGURES)
    name = "quick" if args.quick else "results"
    if args.only:
        name += "-" + "-".join(sorted(figures))
    started = time.time()
    command = " ".join(["python -m benchmarks", *map(shlex.quote, sys.argv[1:])])
    results: dict[str, Any] = {
        "plan": plan.name,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "command": command,
        "machine": _machine.describe(),
        "workloads": {
            "typical": _payloads.typical().describe(),
            "tiny": _payloads.tiny().describe(),
            "large": _payloads.large().describe(),
        },
        "labels": {key: c.label for key, c in _cases.CONTENDERS.items()},
    }
    print(
        f"benchmarks ({plan.name}): {', '.join(f for f in FIGURES if f in figures)}",
        file=sys.stderr,
    )
    if "imports" in figures:
        _cases.progress("import time (fresh processes)")
        results["imports"] = _importtime.import_times(plan.import_repeats)
    with (
        ServerProcess() as server,
        ServerProcess(fail_rate=plan.fault_rate, seed=20240915) as faulty,
    ):
        results.update(asyncio.run(_in_process(plan, figures, server, faulty)))
        if "rss" in figures:
            results["rss"] = _peak_rss(plan, server)
    results["duration_s"] = time.time() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    rows = _report.evaluate(results)
    results["targets"] = _report.rows_as_dicts(rows)
    text = _report.markdown(results, rows)
    print(text)
    written = _report.write(args.out, name, results, text)
    if "throughput" in results:
        chart = "quick-throughput" if args.quick else "throughput"
        written += _chart.draw(results, args.out, chart)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    missed = [row.figure for row in rows if row.ok is False]
    if missed:
        print(f"missed {len(missed)} target(s): {'; '.join(missed)}", file=sys.stderr)
    return 1 if missed and args.strict else 0


def main() -> None:
    """Entry point of ``python -m benchmarks``."""
    try:
        status = run()
    except KeyboardInterrupt:
        status = 2
    sys.exit(status)


if __name__ == "__main__":
    main()
