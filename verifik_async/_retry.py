"""Retry policy as data, and the pure function that turns an attempt into a delay."""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._checks import positive_int
from ._errors import InputError

__all__ = [
    "DEFAULT_BACKOFF_INITIAL",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_RETRY_STATUSES",
    "RetryPolicy",
    "backoff_delay",
]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_INITIAL = 0.25
DEFAULT_BACKOFF_MAX = 10.0
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InputError(attribute.name, f"must be a number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    ``max_attempts`` counts every attempt, the first included: 1 means no
    retries. The delay before attempt ``n + 1`` is
    ``min(backoff_max, backoff_initial * backoff_multiplier ** (n - 1))``,
    scaled by a random factor in ``[1 - jitter, 1]``; a ``Retry-After`` from
    the server replaces it when larger, capped at ``max_retry_after`` (a
    longer wait is not honoured: the error is raised instead).

    Retried: connection errors, timeouts, garbled answers, and the statuses in
    ``retry_statuses``. Never retried: other 4xx, and a cancelled call.
    """

    max_attempts: int = attrs.field(default=DEFAULT_MAX_ATTEMPTS, validator=positive_int)
    backoff_initial: float = attrs.field(default=DEFAULT_BACKOFF_INITIAL, validator=_non_negative)
    backoff_max: float = attrs.field(default=DEFAULT_BACKOFF_MAX, validator=_non_negative)
    backoff_multiplier: float = attrs.field(default=2.0, validator=_non_negative)
    jitter: float = attrs.field(default=1.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=DEFAULT_MAX_RETRY_AFTER, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=frozenset
    )
    retry_on_timeout: bool = True
    retry_on_connection_error: bool = True
    retry_on_malformed_response: bool = True

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(max_attempts=1)


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    retry_after: float | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Returns None when the server's ``retry_after`` exceeds the policy's cap,
    meaning: do not retry. ``rand`` returns a float in [0, 1) and exists so
    tests can pin the jitter.
    """
    if retry_after is not None and retry_after > policy.max_retry_after:
        return None
    exponential = policy.backoff_initial * policy.backoff_multiplier ** (attempt - 1)
    delay = min(policy.backoff_max, exponential)
    jitter = min(policy.jitter, 1.0)
    delay *= 1.0 - jitter * rand()
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
