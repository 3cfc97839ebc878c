"""Batch statistics in constant memory: counts, throughput and a latency histogram."""

from __future__ import annotations

import math
from collections import Counter
from typing import Final

import attrs

__all__ = ["BatchSummary", "LatencyHistogram", "Progress"]

# Buckets grow by 2% from 100 µs: percentiles within 2% of the truth for any
# run length, in a fixed few kilobytes (a million floats would be 8 MB).
_FIRST_BUCKET: Final = 1e-4
_GROWTH: Final = 1.02
_LOG_GROWTH: Final = math.log(_GROWTH)


class LatencyHistogram:
    """Latencies in logarithmic buckets: fixed memory, percentiles within 2%."""

    __slots__ = ("_buckets", "_count", "_max")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self._count = 0
        self._max = 0.0

    def add(self, seconds: float) -> None:
        """Record one latency."""
        self._count += 1
        self._max = max(self._max, seconds)
        index = (
            0
            if seconds <= _FIRST_BUCKET
            else 1 + int(math.log(seconds / _FIRST_BUCKET) / _LOG_GROWTH)
        )
        self._buckets[index] += 1

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        return self._count

    @property
    def max(self) -> float:
        """The largest latency, exactly."""
        return self._max

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0-100): the upper edge of its bucket, at most the max."""
        if not self._count:
            return 0.0
        rank = max(1, math.ceil(self._count * p / 100))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(self._max, _FIRST_BUCKET * _GROWTH**index)
        return self._max


@attrs.frozen
class Progress:
    """Where a batch stands, passed to the progress hook after every outcome."""

    done: int
    failed: int
    in_flight: int
    total: int | None
    elapsed: float


@attrs.frozen
class BatchSummary:
    """The end-of-batch report: outcome counts, throughput and latency.

    ``counts`` maps a label to how many outcomes had it: a verdict for results
    (``verified``, ``not_matched``, ``not_live``), ``ok`` for results that have
    none, and ``error:<code>`` for errors (``error:ServerError``...).
    """

    total: int
    succeeded: int
    failed: int
    counts: dict[str, int]
    elapsed: float
    throughput: float
    latency_p50: float
    latency_p95: float
    latency_max: float
    stopped_early: bool = False

    def table(self) -> str:
        """The summary as aligned text lines, for a terminal or a log."""
        rows = [
            ("jobs", str(self.total)),
            ("succeeded", str(self.succeeded)),
            ("failed", str(self.failed)),
            *((f"  {label}", str(n)) for label, n in sorted(self.counts.items())),
            ("elapsed", f"{self.elapsed:.2f} s"),
            ("throughput", f"{self.throughput:.1f} calls/s"),
            ("latency p50", f"{self.latency_p50 * 1000:.1f} ms"),
            ("latency p95", f"{self.latency_p95 * 1000:.1f} ms"),
            ("latency max", f"{self.latency_max * 1000:.1f} ms"),
        ]
        if self.stopped_early:
            rows.append(("stopped early", "yes"))
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
