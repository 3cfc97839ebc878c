"""The chart: throughput and client CPU per call against concurrency, one line per client.

Written as PNG and SVG with matplotlib (a benchmark-only dependency, the
``bench`` extra) on the non-interactive Agg backend. If matplotlib is not
installed the run still reports its figures and says the chart was skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._machine import one_line

_STYLE = {
    "ours": {"color": "#1f77b4", "marker": "o", "linewidth": 2.5},
    "ours_shared": {"color": "#1f77b4", "marker": "o", "linestyle": "--", "linewidth": 1.5},
    "aiohttp": {"color": "#2ca02c", "marker": "s", "linewidth": 2},
    "aiohttp_orjson": {"color": "#2ca02c", "marker": "s", "linestyle": ":", "linewidth": 1.5},
    "httpx": {"color": "#d62728", "marker": "^", "linewidth": 2},
}


def draw(results: dict[str, Any], directory: Path, name: str) -> list[Path]:
    """Draw ``<name>.png`` and ``<name>.svg`` from the throughput grid; return their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): chart skipped")
        return []

    grid: dict[str, dict[int, dict[str, Any]]] = results["throughput"]
    labels: dict[str, str] = results["labels"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    for key, cells in grid.items():
        concurrencies = sorted(cells)
        style = _STYLE.get(key, {})
        left.plot(
            concurrencies,
            [cells[c]["throughput"] for c in concurrencies],
            label=labels[key],
            **style,
        )
        right.plot(
            concurrencies,
            [cells[c]["cpu_ms_per_call"] for c in concurrencies],
            label=labels[key],
            **style,
        )
    for axis, title, unit in (
        (left, "Throughput (higher is better)", "calls per second"),
        (right, "Client CPU per call (lower is better)", "CPU ms per call"),
    ):
        axis.set_xscale("log", base=2)
        ticks = sorted(next(iter(grid.values())))
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.set_xlabel("concurrency")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    left.legend(fontsize="small")
    fig.suptitle(
        f"compare-with-liveness, {results['workloads']['typical']}\n{one_line(results['machine'])}",
        fontsize="small",
    )
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.png", directory / f"{name}.svg"]
    for path in paths:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return paths
