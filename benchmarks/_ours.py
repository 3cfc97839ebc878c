"""This library as its users call it, behind the same ``call(i)`` shape as the baselines.

Two variants of ``VerifikClient.compare_with_liveness``:

- ``ours`` passes raw ``bytes`` for the probe and every gallery image on
  every call, so the library checks and base64-encodes all of them each
  time: the same work the baselines do, and the figure the targets use.
- ``ours (shared gallery)`` builds the gallery's :class:`Image` objects once
  and reuses them, as the library's docs tell a user with a fixed gallery to
  do; the probe is still fresh bytes each call. Only the gallery encoding is
  saved. Reported beside the others, not held to a target.

The client runs with its defaults (pool of 100, default RetryPolicy, orjson
when installed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from verifik_async import Image, VerifikClient

from ._payloads import Workload

Call = Callable[[int], Awaitable[Any]]


@asynccontextmanager
async def ours(
    base_url: str, token: str, workload: Workload, *, shared_gallery: bool = False
) -> AsyncIterator[Call]:
    """A ``VerifikClient`` calling ``compare_with_liveness``; yields ``call(i)``."""
    async with VerifikClient(token=token, base_url=base_url) as client:
        gallery: list[Any] = (
            [Image.from_bytes(image) for image in workload.gallery]
            if shared_gallery
            else list(workload.gallery)
        )

        async def call(i: int) -> tuple[float, float | None]:
            result = await client.compare_with_liveness(workload.probe(i), gallery)
            return result.score, result.liveness_score

        yield call


@asynccontextmanager
async def ours_shared(base_url: str, token: str, workload: Workload) -> AsyncIterator[Call]:
    """``ours`` with the gallery's Image objects built once and reused."""
    async with ours(base_url, token, workload, shared_gallery=True) as call:
        yield call
