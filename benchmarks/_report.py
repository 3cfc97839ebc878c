"""The report: every figure against its target (PASS/MISS), as markdown and as JSON.

``evaluate`` turns the raw results into target rows; ``markdown`` renders
the targets table and one detail table per figure; ``write`` saves
``<name>.json`` (everything, every run) and ``<name>.md`` (what was printed)
under ``benchmarks/results/``.

Rows marked ``info`` carry no target: they are context (the shared-gallery
variant, the orjson-tuned baseline, the runner's overhead on tiny bodies,
the large request).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._machine import load_line, one_line


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, its target, and whether it met it (None: no target)."""

    figure: str
    measured: str
    target: str
    ok: bool | None
    value: float | None = None

    @property
    def verdict(self) -> str:
        """PASS, MISS or info."""
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "MISS"


def _at_most(figure: str, value: float, limit: float, fmt: str = "{:.2f}") -> Row:
    return Row(figure, fmt.format(value), f"<= {fmt.format(limit)}", value <= limit, value)


def _at_least(figure: str, value: float, limit: float, fmt: str = "{:.2f}") -> Row:
    return Row(figure, fmt.format(value), f">= {fmt.format(limit)}", value >= limit, value)


def evaluate(results: dict[str, Any]) -> list[Row]:
    """The targets of issue 4, each checked against this run's figures."""
    rows: list[Row] = []
    grid = results.get("throughput")
    if grid:
        for c in sorted(grid["ours"]):
            ratio = grid["ours"][c]["cpu_ms_per_call"] / grid["aiohttp"][c]["cpu_ms_per_call"]
            rows.append(_at_most(f"our CPU per call / raw aiohttp's, concurrency {c}", ratio, 1.15))
        for c in sorted(grid["ours"]):
            if "aiohttp_orjson" in grid:
                ratio = (
                    grid["ours"][c]["cpu_ms_per_call"]
                    / grid["aiohttp_orjson"][c]["cpu_ms_per_call"]
                )
                rows.append(
                    Row(
                        f"our CPU per call / raw aiohttp + orjson's, concurrency {c}",
                        f"{ratio:.2f}",
                        "-",
                        None,
                        ratio,
                    )
                )
        for c in sorted(grid["ours"]):
            ratio = grid["ours"][c]["throughput"] / grid["httpx"][c]["throughput"]
            if c >= 32:
                rows.append(_at_least(f"our throughput / raw httpx's, concurrency {c}", ratio, 3.0))
            else:
                rows.append(
                    Row(
                        f"our throughput / raw httpx's, concurrency {c}",
                        f"{ratio:.2f}",
                        "-",
                        None,
                        ratio,
                    )
                )
    overhead = results.get("overhead")
    if overhead:
        for c in sorted(overhead["ours"]):
            ours = overhead["ours"][c]["cpu_ms_per_call"]
            for key in ("aiohttp", "aiohttp_orjson"):
                ratio = ours / overhead[key][c]["cpu_ms_per_call"]
                rows.append(
                    Row(
                        f"tiny images: our CPU per call / {results['labels'][key]}'s, c={c}",
                        f"{ratio:.2f}",
                        "-",
                        None,
                        ratio,
                    )
                )
    batch = results.get("batch")
    if batch:
        typical = batch["typical"]
        rows.append(
            _at_most(
                f"batch runner CPU per call / bare gather's (c={typical['concurrency']})",
                typical["cpu_ratio"],
                1.05,
            )
        )
        if "tiny" in batch:
            ratio = batch["tiny"]["cpu_ratio"]
            rows.append(
                Row(
                    "batch runner CPU per call / bare gather's, tiny bodies",
                    f"{ratio:.2f}",
                    "-",
                    None,
                    ratio,
                )
            )
    rss = results.get("rss")
    if rss:
        small, large = rss["small"], rss["large"]
        rows.append(
            _at_most(
                f"peak RSS {large['jobs']:,} jobs / {small['jobs']:,} jobs", rss["ratio"], 1.10
            )
        )
        rows.append(
            _at_most(
                f"peak RSS of {large['jobs']:,} jobs (MB)",
                large["maxrss_kib"] * 1024 / 1e6,
                150.0,
                "{:.1f}",
            )
        )
    rate = results.get("rate")
    if rate:
        ratio = rate["achieved_ratio"]
        rows.append(
            Row(
                f"achieved rate / configured ({rate['configured']:.0f}/s, {rate['calls']} calls)",
                f"{ratio:.3f}",
                "0.98 - 1.02",
                abs(ratio - 1) <= 0.02,
                ratio,
            )
        )
        rows.append(
            _at_most(
                f"most calls started in any 1 s window (allowed: rate + burst {rate['burst']})",
                rate["max_in_1s_client"],
                rate["max_in_1s_allowed"],
                "{:.0f}",
            )
        )
        rows.append(
            Row(
                "most calls arriving at the server in any 1 s window",
                str(rate["max_in_1s_server"]),
                "-",
                None,
                rate["max_in_1s_server"],
            )
        )
    faults = results.get("faults")
    if faults:
        rows.append(
            _at_most(
                f"wall with {faults['fault_rate']:.0%} 503s / wall without "
                f"({faults['calls']} calls, c={faults['concurrency']})",
                faults["wall_ratio"],
                1.25,
            )
        )
        rows.append(
            Row(
                "  same, time to 99% of outcomes (steady part)",
                f"{faults['p99_ratio']:.2f}",
                "-",
                None,
                faults["p99_ratio"],
            )
        )
        rows.append(_at_most("calls failed with 503s injected", faults["failed"], 0, "{:.0f}"))
    imports = results.get("imports")
    if imports:
        rows.append(_at_most("import time / aiohttp's", imports["ratio"], 1.3))
    large = results.get("large")
    if large:
        cpu = large["ours"]["cpu_ms_per_call"] / large["aiohttp"]["cpu_ms_per_call"]
        wall = large["ours"]["wall_ms_per_call"] / large["aiohttp"]["wall_ms_per_call"]
        rows.append(Row("large request: our CPU / raw aiohttp's", f"{cpu:.2f}", "-", None, cpu))
        rows.append(Row("large request: our wall / raw aiohttp's", f"{wall:.2f}", "-", None, wall))
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _section(title: str, build: Callable[[], list[str]]) -> list[str]:
    return ["", f"### {title}", "", *build()]


def markdown(results: dict[str, Any], rows: list[Row]) -> str:
    """The whole report as markdown: targets first, then each figure's detail."""
    labels: dict[str, str] = results["labels"]
    out = [
        f"## Benchmark results ({results['plan']} run, {results['started']})",
        "",
        f"Machine: {one_line(results['machine'])}; {load_line(results['machine'])}.  ",
        f"Library: verifik-async {results['machine']['packages']['verifik-async']} "
        f"at {results['machine']['source']}; aiohttp {results['machine']['packages']['aiohttp']}, "
        f"httpx {results['machine']['packages']['httpx']}, "
        f"orjson {results['machine']['packages']['orjson']}.  ",
        f"Command: `{results['command']}`; took {results['duration_s']:.0f} s.  ",
        f"Typical call: {results['workloads']['typical']}.",
        "",
        "### Targets",
        "",
        *_table(
            ["figure", "measured", "target", "result"],
            [[r.figure, r.measured, r.target, r.verdict] for r in rows],
        ),
    ]
    grid = results.get("throughput")
    if grid:
        concurrencies = sorted(next(iter(grid.values())))

        def grid_table() -> list[str]:
            body = []
            for key, cells in grid.items():
                body.append(
                    [labels[key]]
                    + [
                        f"{cells[c]['cpu_ms_per_call']:.2f} ms · {cells[c]['throughput']:.0f}/s"
                        for c in concurrencies
                    ]
                )
            runs = next(iter(next(iter(grid.values())).values()))
            note = (
                f"Client CPU ms per call (= CPU s per 1000 calls) · calls per second; median "
                f"of {len(runs['runs'])} run(s) of {runs['calls_per_run']} calls."
            )
            return [note, "", *_table(["client", *(f"c={c}" for c in concurrencies)], body)]

        out += _section("Client CPU and throughput by concurrency", grid_table)
    overhead = results.get("overhead")
    if overhead:

        def overhead_table() -> list[str]:
            body = [
                [labels[key]]
                + [
                    f"{cells[c]['cpu_ms_per_call'] * 1000:.0f} µs · {cells[c]['throughput']:.0f}/s"
                    for c in sorted(cells)
                ]
                for key, cells in overhead.items()
            ]
            concurrencies = sorted(next(iter(overhead.values())))
            return [
                f"{results['workloads']['tiny']}: the library's own per-call work, undiluted "
                "by base64 and JSON.",
                "",
                *_table(["client", *(f"c={c}" for c in concurrencies)], body),
            ]

        out += _section("Per-call overhead (tiny images)", overhead_table)
    batch = results.get("batch")
    if batch:

        def batch_table() -> list[str]:
            body = [
                [
                    name,
                    str(b["calls"]),
                    f"{b['gather']['cpu_ms_per_call']:.3f}",
                    f"{b['batch']['cpu_ms_per_call']:.3f}",
                    f"{b['cpu_ratio']:.3f}",
                    ", ".join(f"{r:.3f}" for r in b["cpu_ratio_per_round"]),
                ]
                for name, b in batch.items()
            ]
            return _table(
                [
                    "images",
                    "calls",
                    "gather ms/call",
                    "stream ms/call",
                    "ratio (median of rounds)",
                    "per round",
                ],
                body,
            )

        out += _section(
            f"Batch runner against semaphore + gather (same client, "
            f"c={batch['typical']['concurrency']})",
            batch_table,
        )
    rss = results.get("rss")
    if rss:

        def rss_table() -> list[str]:
            body = [
                [
                    f"{r['jobs']:,}",
                    f"{r['rss_before_kib'] / 1024:.1f}",
                    f"{r['maxrss_kib'] / 1024:.1f}",
                    f"{r['throughput']:.0f}/s",
                    f"{r['succeeded']:,}",
                ]
                for r in (rss["small"], rss["large"])
            ]
            return [
                "Each batch in a fresh process, fed from a generator, tiny images, c="
                f"{rss['concurrency']}.",
                "",
                *_table(["jobs", "RSS before (MiB)", "peak RSS (MiB)", "rate", "ok"], body),
            ]

        out += _section("Peak memory of a batch", rss_table)
    rate = results.get("rate")
    if rate:

        def rate_table() -> list[str]:
            return _table(
                [
                    "configured",
                    "burst",
                    "calls",
                    "steady rate",
                    "overall",
                    "max in 1 s: client",
                    "server",
                ],
                [
                    [
                        f"{rate['configured']:.0f}/s",
                        str(rate["burst"]),
                        str(rate["calls"]),
                        f"{rate['achieved']:.1f}/s",
                        f"{rate['overall_rate']:.1f}/s",
                        f"{rate['max_in_1s_client']} (allowed {rate['max_in_1s_allowed']})",
                        str(rate["max_in_1s_server"]),
                    ]
                ],
            )

        out += _section("Rate limit", rate_table)
    faults = results.get("faults")
    if faults:

        def fault_table() -> list[str]:
            body = []
            for name, runs in faults["runs"].items():
                for run in runs:
                    body.append(
                        [
                            name,
                            f"{run['wall']:.2f} s",
                            f"{run['p99']:.2f} s",
                            str(run["succeeded"]),
                            str(run["failed"]),
                            str(run["attempts"]),
                            ", ".join(
                                f"{k}: {v}" for k, v in sorted(run["server_statuses"].items())
                            ),
                        ]
                    )
            return [
                f"Client: {faults['retry_policy']}; {faults['calls']} calls through "
                f"`client.stream`, c={faults['concurrency']}.",
                "",
                *_table(
                    ["server", "wall", "99% done", "ok", "failed", "attempts", "server statuses"],
                    body,
                ),
            ]

        out += _section(f"Injected {faults['fault_rate']:.0%} 503s", fault_table)
    imports = results.get("imports")
    if imports:

        def import_table() -> list[str]:
            lines = _table(
                ["module", "median import (ms)"],
                [
                    ["aiohttp", f"{imports['aiohttp'] * 1000:.1f}"],
                    ["verifik_async", f"{imports['verifik_async'] * 1000:.1f}"],
                ],
            )
            lines += [
                "",
                "`python -X importtime`: what `import verifik_async` spends its time on (ms):",
                "",
            ]
            lines += _table(
                ["package", "ms"], [[b["package"], f"{b['ms']:.1f}"] for b in imports["breakdown"]]
            )
            return lines

        out += _section(f"Import time ({imports['repeats']} fresh processes each)", import_table)
    large = results.get("large")
    if large:

        def large_table() -> list[str]:
            body = [
                [
                    labels[key],
                    f"{large[key]['cpu_ms_per_call']:.1f}",
                    f"{large[key]['wall_ms_per_call']:.1f}",
                ]
                for key in ("ours", "aiohttp", "httpx")
                if key in large
            ]
            return [
                f"{large['workload']}; one call at a time, {large['calls']} calls x 2 runs.",
                "",
                *_table(["client", "CPU ms/call", "wall ms/call"], body),
            ]

        out += _section("One large request", large_table)
    return "\n".join(out) + "\n"


def write(directory: Path, name: str, results: dict[str, Any], text: str) -> list[Path]:
    """Save ``<name>.json`` and ``<name>.md`` in ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    md_path = directory / f"{name}.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(text, encoding="utf-8")
    return [json_path, md_path]


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    """The target rows for the JSON results."""
    return [{**asdict(row), "result": row.verdict} for row in rows]
