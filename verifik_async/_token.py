"""API tokens: read a JWT's expiry without verifying it, and the answer of a renewal.

Verifik's tokens are JWTs that live 30 days. The client cannot check their
signature (it has no key) and does not need to: it only reads ``exp`` to
decide whether to renew before a long batch. Nothing here does I/O, and
nothing here ever puts a token into a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs

__all__ = [
    "DEFAULT_MIN_VALIDITY",
    "RenewedToken",
    "expires_within",
    "jwt_claims",
    "jwt_expiry",
]

DEFAULT_MIN_VALIDITY: Final = 24 * 3600.0
"""Seconds of validity below which ``ensure_fresh_token`` renews (one day)."""


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload claims of a JWT, read without verifying its signature.

    Returns None when ``token`` is not a three-part JWT with a JSON object
    payload (an opaque API key, say).
    """
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _exp_seconds(claims: Mapping[str, Any] | None) -> float | None:
    if claims is None:
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)


def jwt_expiry(token: str) -> datetime | None:
    """When a JWT expires (its ``exp`` claim, UTC), or None if it has no readable ``exp``."""
    exp = _exp_seconds(jwt_claims(token))
    if exp is None:
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def expires_within(token: str, seconds: float, *, now: float | None = None) -> bool:
    """True when the JWT expires less than ``seconds`` from ``now`` (or has expired).

    ``now`` is a Unix time (default ``time.time()``). A token whose expiry
    cannot be read (not a JWT, no numeric ``exp``) gives False: there is no
    telling, so callers should not renew on that basis.
    """
    exp = _exp_seconds(jwt_claims(token))
    if exp is None:
        return False
    current = time.time() if now is None else now
    return exp - current < seconds


@attrs.frozen
class RenewedToken:
    """The answer of a token renewal (``GET auth/session?origin=refresh``).

    ``access_token`` is the new bearer token (never shown in the repr: store
    it where your secrets live). ``expires_at`` is read from its ``exp``
    claim, None when it has none. ``attempts`` counts HTTP attempts.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str = "bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_at: datetime | None = None
    attempts: int = 1

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """True when the new token expires less than ``seconds`` from now."""
        return expires_within(self.access_token, seconds, now=now)
