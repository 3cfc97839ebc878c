"""Import time of ``verifik_async`` against ``aiohttp``, each in fresh processes.

Each repetition starts a new interpreter that times ``import <module>``
with ``time.perf_counter`` (interpreter start-up is outside the timed part,
and alike for both). The two modules alternate, so drift hits both; the
figure is the median of the repetitions. One untimed run of each comes
first, so byte-code compilation is not measured (see ``_procs`` for the
byte-code cache every child uses).

``verifik_async`` imports aiohttp itself, so its time includes aiohttp's;
the ratio says what the library adds on top. ``breakdown`` is what
``python -X importtime`` says the library loads that aiohttp does not, by
package, largest first: the evidence for where import time goes.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from typing import Any, Final

from ._procs import ROOT, child_env

CHILD_TIMEOUT: Final = 60.0
_TIMER: Final = (
    "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
)
_LINE: Final = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _time_import(module: str) -> float:
    completed = subprocess.run(
        [sys.executable, "-c", _TIMER.format(module=module)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        timeout=CHILD_TIMEOUT,
        check=True,
    )
    return float(completed.stdout.decode().strip())


def _importtime(module: str) -> list[tuple[str, float]]:
    """(module name, self ms) for everything ``import module`` loads, per ``-X importtime``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        timeout=CHILD_TIMEOUT,
        check=True,
    )
    entries = []
    for line in completed.stderr.decode().splitlines():
        match = _LINE.match(line)
        if match is not None:
            entries.append((match.group(4), int(match.group(1)) / 1000))
    return entries


def breakdown(module: str = "verifik_async", top: int = 12) -> list[dict[str, Any]]:
    """What importing ``module`` costs on top of ``import aiohttp``, by package, in ms.

    From ``python -X importtime``: the self time of every module that
    ``import module`` loads and ``import aiohttp`` does not, summed per
    top-level package, largest first (one run, so only indicative).
    """
    baseline = {name for name, _ in _importtime("aiohttp")}
    extra: dict[str, float] = {}
    for name, self_ms in _importtime(module):
        if name not in baseline:
            package = name.split(".")[0]
            extra[package] = extra.get(package, 0.0) + self_ms
    ranked = sorted(extra.items(), key=lambda item: -item[1])
    rows = [{"package": "(all beyond aiohttp)", "ms": sum(extra.values())}]
    rows += [{"package": name, "ms": ms} for name, ms in ranked[:top]]
    return rows


def import_times(repeats: int) -> dict[str, Any]:
    """Median import time (seconds) of verifik_async and aiohttp over ``repeats`` pairs."""
    modules = ("aiohttp", "verifik_async")
    for module in modules:
        _time_import(module)
    times: dict[str, list[float]] = {m: [] for m in modules}
    for i in range(repeats):
        order = modules if i % 2 == 0 else tuple(reversed(modules))
        for module in order:
            times[module].append(_time_import(module))
    ours = statistics.median(times["verifik_async"])
    theirs = statistics.median(times["aiohttp"])
    return {
        "repeats": repeats,
        "verifik_async": ours,
        "aiohttp": theirs,
        "ratio": ours / theirs,
        "samples": times,
        "breakdown": breakdown(),
    }
