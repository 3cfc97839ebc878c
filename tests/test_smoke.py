"""A first end-to-end call through the public API against the emulator."""

import pytest

from verifik_async import VerifikClient
from verifik_async.testing import EmulatorServer

pytestmark = pytest.mark.anyio


async def test_same_image_is_verified(png) -> None:
    """A probe compared with itself scores 1.0 and liveness runs."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        result = await client.compare_with_liveness(png(1), [png(1), png(2)], compare_min_score=0.8)
    assert result.score == 1.0
    assert result.liveness is not None
    assert result.attempts == 1


async def test_pytest_plugin_fixtures(verifik_client, verifik_emulator, png) -> None:
    """The installed pytest plugin gives a running emulator and a client bound to it."""
    verifik_emulator.script(png(7), score=0.97, liveness=0.9)
    result = await verifik_client.compare_with_liveness(png(7), [png(8)], compare_min_score=0.9)
    assert result.verified
    assert result.score == 0.97
    assert result.liveness_score == 0.9
    assert len(verifik_emulator.requests) == 1
