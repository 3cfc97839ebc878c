"""Progress on stderr: a live bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TextIO

from .._stats import Progress

__all__ = ["ProgressReporter", "format_duration", "progress_text"]

_BAR_WIDTH: Final = 24
_TTY_INTERVAL: Final = 0.1
DEFAULT_LINE_INTERVAL: Final = 10.0


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_text(progress: Progress, *, bar: bool) -> str:
    """One progress line: count, percentage, rate, ETA, errors (and a bar when ``bar``)."""
    done, total = progress.done, progress.total
    rate = done / progress.elapsed if progress.elapsed > 0 else 0.0
    parts = []
    if total:
        fraction = min(done / total, 1.0)
        if bar:
            filled = int(fraction * _BAR_WIDTH)
            parts.append("[" + "#" * filled + "." * (_BAR_WIDTH - filled) + "]")
        parts.append(f"{done}/{total} ({fraction:.0%})")
    else:
        parts.append(f"{done} done")
    parts.append(f"{rate:.1f}/s")
    if total and rate > 0 and done < total:
        parts.append(f"ETA {format_duration((total - done) / rate)}")
    parts.append(f"{progress.failed} error{'s' if progress.failed != 1 else ''}")
    if progress.in_flight:
        parts.append(f"{progress.in_flight} in flight")
    return "  ".join(parts)


class ProgressReporter:
    """Takes the batch runner's progress hook and draws it on ``stream``.

    On a terminal, one line redrawn in place at most ten times a second; on
    anything else, a plain line every ``interval`` seconds. ``enabled=False``
    draws nothing. Call :meth:`clear` before printing anything else, and
    :meth:`finish` once at the end.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool = True,
        tty: bool | None = None,
        interval: float = DEFAULT_LINE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = _isatty(stream) if tty is None else tty
        self._interval = _TTY_INTERVAL if self._tty else interval
        self._clock = clock
        self._last_draw = clock()
        self._drawn = False
        self._latest: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        """The progress hook: remember the state, draw if it is time."""
        self._latest = progress
        if not self._enabled:
            return
        now = self._clock()
        if now - self._last_draw >= self._interval:
            self._last_draw = now
            self._draw(progress)

    def _draw(self, progress: Progress) -> None:
        if self._tty:
            self._stream.write("\r" + progress_text(progress, bar=True) + "\x1b[K")
            self._drawn = True
        else:
            self._stream.write("progress: " + progress_text(progress, bar=False) + "\n")
        self._stream.flush()

    def clear(self) -> None:
        """Erase the live bar so other text can be printed."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False

    def finish(self) -> None:
        """Draw the final state once (the terminal bar stays on screen)."""
        if not self._enabled or self._latest is None:
            return
        self._draw(self._latest)
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
