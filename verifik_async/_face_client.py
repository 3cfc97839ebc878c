"""Client methods for the sibling endpoints of compare-with-liveness (filled in by issue 6)."""

from __future__ import annotations

__all__ = ["FaceEndpointsMixin"]


class FaceEndpointsMixin:
    """Methods of VerifikClient for /compare, /compare-live, /liveness, /detect, /search, /verify."""
