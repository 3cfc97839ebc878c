"""What the figures were measured on: CPUs, Python, library versions."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def source_revision() -> str:
    """The checkout's commit, with ``+changes`` when the work tree differs from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "verifik_async"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+changes" if dirty else commit


def describe() -> dict[str, Any]:
    """The machine and software the run measured."""
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "source": source_revision(),
        "packages": {
            name: _version(name)
            for name in ("verifik-async", "aiohttp", "httpx", "orjson", "anyio", "cattrs", "attrs")
        },
    }


def one_line(machine: dict[str, Any]) -> str:
    """The machine in one line, for the report and the chart."""
    return (
        f"{machine['cpus_usable']} CPUs ({machine['cpu_model']}), "
        f"{machine['implementation']} {machine['python']}, {machine['platform']}"
    )


def load_line(machine: dict[str, Any]) -> str:
    """The 1-minute load average at the start and end of the run (other work on the box)."""
    start = machine["load_average_at_start"][0]
    end = machine.get("load_average_at_end", [float("nan")])[0]
    return f"load average {start:.2f} at start, {end:.2f} at end"
