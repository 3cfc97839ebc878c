"""pytest fixtures for testing code that uses verifik_async, against the emulator.

Installed as a pytest plugin with the package. In an anyio-marked test::

    @pytest.mark.anyio
    async def test_kyc(verifik_client, verifik_emulator):
        verifik_emulator.script(selfie, score=0.97, liveness=0.9)
        result = await verifik_client.compare_with_liveness(selfie, [id_photo])
        assert result.verified
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .._client import VerifikClient
from .._retry import RetryPolicy
from ._emulator import EmulatorServer

__all__ = ["FAST_RETRY", "verifik_client", "verifik_emulator"]

FAST_RETRY = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)
"""The fixtures' retry policy: the default attempts, with millisecond backoff."""


@pytest.fixture
async def verifik_emulator() -> AsyncIterator[EmulatorServer]:
    """A running emulator on 127.0.0.1 and a free port, closed after the test."""
    async with EmulatorServer() as server:
        yield server


@pytest.fixture
async def verifik_client(verifik_emulator: EmulatorServer) -> AsyncIterator[VerifikClient]:
    """A VerifikClient bound to ``verifik_emulator`` (fast retries), closed after the test."""
    async with VerifikClient(
        token=verifik_emulator.token, base_url=verifik_emulator.base_url, retry=FAST_RETRY
    ) as client:
        yield client
