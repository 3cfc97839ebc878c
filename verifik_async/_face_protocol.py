"""Endpoints and answer parsing of the sibling face endpoints (filled in by issue 6)."""

from __future__ import annotations

from typing import Any, Final

from ._protocol import Endpoint

__all__ = ["FACE_ENDPOINTS"]

FACE_ENDPOINTS: Final[dict[type[Any], Endpoint[Any, Any]]] = {}
"""The endpoint for each sibling request type, merged into VerifikClient.call's table."""
