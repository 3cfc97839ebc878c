"""The client end to end against the emulator: calls, overrides and its lifecycle."""

from __future__ import annotations

import base64
import gc
import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime

import aiohttp
import anyio
import pytest

from verifik_async import (
    OS,
    ClientConfig,
    ClientStateError,
    CompareLivenessRequest,
    CompareLivenessResult,
    InputError,
    RequestTimeoutError,
    RetryPolicy,
    SearchMode,
    ServerError,
    Timeout,
    Verdict,
    VerifikClient,
)
from verifik_async.testing import EmulatorServer, Fault, comparison_score, liveness_score

pytestmark = pytest.mark.anyio

PATH = "/v2/face-recognition/compare-with-liveness"
FAST = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)

Png = Callable[..., bytes]


def b64(data: bytes) -> str:
    """Standard base64 of ``data`` as text."""
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def no_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning and asyncio error; after the test, collect garbage and check none."""
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


async def test_full_call_sends_the_contract_body_and_parses_every_field(png: Png) -> None:
    """A full call sends the seed's body (Bearer token, base64 images) and parses the answer."""
    probe, same, other = png(1), png(1), png(2)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        result = await client.compare_with_liveness(
            probe,
            [other, same],
            os="ios",
            search_mode=SearchMode.ACCURATE,
            compare_min_score=0.8,
            liveness_min_score=0.52,
            crop_face=True,
        )
    assert isinstance(result, CompareLivenessResult)
    assert result.attempts == 1
    [seen] = server.requests
    assert (seen.method, seen.path, seen.status) == ("POST", PATH, 200)
    assert seen.headers["Authorization"] == f"Bearer {server.token}"
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.json == {
        "os": "IOS",
        "probe": b64(probe),
        "gallery": [b64(other), b64(same)],
        "search_mode": "ACCURATE",
        "compare_min_score": 0.8,
        "liveness_min_score": 0.52,
        "cropFace": True,
    }
    assert result.score == 1.0
    assert result.liveness_score == liveness_score(probe)
    assert result.matched is (result.score >= 0.8)
    assert result.live is (liveness_score(probe) > 0.52)
    assert result.verified is (result.matched and result.live)
    assert result.response_id is not None
    assert len(result.response_id) == 5
    assert result.response_id == result.raw["id"]
    assert result.signature is not None
    assert result.signature.message == "Certified by Verifik.co"
    assert result.comparison.status == "success"
    assert result.comparison.type == "compareLive"
    assert isinstance(result.comparison.compared_at, datetime)
    assert result.liveness is not None
    assert result.liveness.os == "IOS"
    assert result.liveness.min_score == 0.52
    assert isinstance(result.liveness.created_at, datetime)


async def test_unset_options_are_not_sent(png: Png) -> None:
    """Optional fields left unset are absent from the body; defaults are DESKTOP and FAST."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        await client.compare_with_liveness(png(1), png(2))
    body = server.requests[0].json
    assert set(body) == {"os", "probe", "gallery", "search_mode"}
    assert (body["os"], body["search_mode"]) == ("DESKTOP", "FAST")
    assert body["gallery"] == [b64(png(2))]


async def test_liveness_skipped_below_compare_min_score(png: Png) -> None:
    """A score under compare_min_score skips liveness: liveness_score None, not verified."""
    probe = png(3)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.script(probe, score=0.5, liveness=0.99)
        result = await client.compare_with_liveness(probe, [png(4)], compare_min_score=0.8)
    assert "liveness" not in server.requests[0].json
    assert result.score == 0.5
    assert result.liveness is None
    assert result.liveness_score is None
    assert (result.matched, result.live, result.verified) == (False, False, False)
    assert result.verdict is Verdict.NOT_MATCHED


async def test_deterministic_scores_match_the_emulator_formula(png: Png) -> None:
    """Different images get the emulator's stable score, the same on every call."""
    probe, gallery = png(5), png(6)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        first = await client.compare_with_liveness(probe, [gallery])
        second = await client.compare_with_liveness(probe, [gallery])
    assert first.score == second.score == comparison_score(probe, gallery)
    assert first.score < 1.0


async def test_request_object_form(png: Png) -> None:
    """A CompareLivenessRequest is sent as is, via compare_with_liveness and via call."""
    request = CompareLivenessRequest(
        png(7), [png(7)], os=OS.ANDROID, compare_min_score=0.9, liveness_min_score=0.7
    )
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        by_method = await client.compare_with_liveness(request)
        by_call = await client.call(request)
    assert isinstance(by_call, CompareLivenessResult)
    assert by_method.score == by_call.score == 1.0
    assert by_method.compare_min_score == 0.9
    sent = [r.json for r in server.requests]
    assert sent[0] == sent[1]
    assert sent[0]["os"] == "ANDROID"
    assert sent[0]["compare_min_score"] == 0.9
    assert sent[0]["liveness_min_score"] == 0.7


async def test_request_object_with_a_gallery_too_is_refused(png: Png) -> None:
    """Passing a request object and a gallery is an InputError naming gallery, with no request."""
    request = CompareLivenessRequest(png(1), [png(2)])
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        with pytest.raises(InputError) as caught:
            await client.compare_with_liveness(request, [png(3)])
    assert caught.value.field == "gallery"
    assert server.requests == []


async def test_per_call_timeout_overrides_the_client_default(png: Png) -> None:
    """A per-call timeout applies to that call only; the client's longer default still works."""
    async with (
        EmulatorServer() as server,
        VerifikClient(
            token=server.token, base_url=server.base_url, timeout=30, retry=RetryPolicy.never()
        ) as client,
    ):
        server.inject(Fault.delay(5))
        with pytest.raises(RequestTimeoutError) as caught:
            await client.compare_with_liveness(png(1), [png(2)], timeout=0.2)
        server.inject(Fault.delay(0.3))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.attempts == 1
    assert result.attempts == 1
    assert len(server.requests) == 2


async def test_per_call_timeout_object(png: Png) -> None:
    """A Timeout object can be passed per call as well as a number of seconds."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.delay(5), Fault.delay(5))
        with pytest.raises(RequestTimeoutError) as caught:
            await client.compare_with_liveness(
                png(1),
                [png(2)],
                timeout=Timeout(total=0.2, connect=0.2),
                retry=RetryPolicy(max_attempts=2, backoff_initial=0.01),
            )
    assert caught.value.attempts == 2
    assert len(server.requests) == 2


async def test_per_call_retry_overrides_the_client_policy(png: Png) -> None:
    """retry=RetryPolicy.never() on one call makes one attempt; the client's policy retries."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as client,
    ):
        server.inject(Fault.status(503))
        with pytest.raises(ServerError) as caught:
            await client.compare_with_liveness(png(1), [png(2)], retry=RetryPolicy.never())
        assert len(server.requests) == 1
        server.inject(Fault.status(503))
        result = await client.compare_with_liveness(png(1), [png(2)])
    assert caught.value.attempts == 1
    assert result.attempts == 2
    assert len(server.requests) == 3


async def test_per_call_retry_can_allow_more_than_the_client(png: Png) -> None:
    """A client that never retries still retries a call given its own policy."""
    async with (
        EmulatorServer() as server,
        VerifikClient(
            token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
        ) as client,
    ):
        server.inject(Fault.status(500), Fault.status(502))
        result = await client.compare_with_liveness(png(1), [png(2)], retry=FAST)
    assert result.attempts == 3
    assert [r.status for r in server.requests] == [500, 502, 200]


async def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, png: Png) -> None:
    """Without arguments the token and base URL come from VERIFIK_API_TOKEN and VERIFIK_BASE_URL."""
    async with EmulatorServer() as server:
        monkeypatch.setenv("VERIFIK_API_TOKEN", server.token)
        monkeypatch.setenv("VERIFIK_BASE_URL", server.base_url)
        async with VerifikClient() as client:
            result = await client.compare_with_liveness(png(1), [png(1)])
        assert client.config.base_url == server.base_url
    assert result.score == 1.0


async def test_no_token_anywhere_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no token argument and no VERIFIK_API_TOKEN the client refuses to start."""
    monkeypatch.delenv("VERIFIK_API_TOKEN", raising=False)
    with pytest.raises(InputError) as caught:
        VerifikClient(base_url="http://127.0.0.1:1/v2/")
    assert caught.value.field == "token"


async def test_config_object_and_overrides() -> None:
    """A ClientConfig is used as given and keyword arguments override its fields."""
    config = ClientConfig(token="t0k", base_url="https://api.example.test/v2", max_connections=7)
    client = VerifikClient(config=config, max_image_bytes=1234)
    assert client.config.base_url == "https://api.example.test/v2/"
    assert client.config.max_connections == 7
    assert client.config.max_image_bytes == 1234
    assert client.config.token == "t0k"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com/v2/",
        "http://10.0.0.1/v2/",
        "http://api.verifik.co/v2/",
        "http://127.0.0.1.example.com/v2/",
    ],
)
async def test_plain_http_to_a_non_loopback_host_is_refused(base_url: str) -> None:
    """http:// to anything but loopback raises InputError naming base_url."""
    with pytest.raises(InputError) as caught:
        VerifikClient(token="t0k", base_url=base_url)
    assert caught.value.field == "base_url"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/v2/",
        "http://localhost:8080/v2/",
        "http://[::1]:8080/v2/",
        "https://api.verifik.co/v2/",
    ],
)
async def test_https_and_loopback_http_are_accepted(base_url: str) -> None:
    """https:// anywhere and http:// to loopback are accepted, with one trailing slash."""
    client = VerifikClient(token="t0k", base_url=base_url.rstrip("/"))
    assert client.config.base_url == base_url


async def test_use_before_enter_is_a_client_state_error(png: Png) -> None:
    """Calling a client that was never entered raises ClientStateError and sends nothing."""
    async with EmulatorServer() as server:
        client = VerifikClient(token=server.token, base_url=server.base_url)
        with pytest.raises(ClientStateError, match="not open"):
            await client.compare_with_liveness(png(1), [png(2)])
    assert server.requests == []
    assert not client.closed


async def test_reuse_after_close_is_a_client_state_error(png: Png) -> None:
    """After exit, calls and re-entering raise ClientStateError; closing twice is harmless."""
    async with EmulatorServer() as server:
        client = VerifikClient(token=server.token, base_url=server.base_url)
        async with client:
            await client.compare_with_liveness(png(1), [png(2)])
        assert client.closed
        with pytest.raises(ClientStateError, match="closed"):
            await client.compare_with_liveness(png(1), [png(2)])
        with pytest.raises(ClientStateError):
            async with client:
                pass
        await client.aclose()
    assert len(server.requests) == 1


async def test_entering_twice_is_refused(png: Png) -> None:
    """Entering an open client again raises ClientStateError and leaves it usable."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        with pytest.raises(ClientStateError):
            await client.__aenter__()
        result = await client.compare_with_liveness(png(1), [png(1)])
    assert result.score == 1.0


async def test_handed_in_session_is_used_and_not_closed(png: Png) -> None:
    """A session passed in carries the requests and is still open after the client closes."""
    async with EmulatorServer() as server, aiohttp.ClientSession(headers={"X-Mine": "yes"}) as own:
        async with VerifikClient(
            token=server.token, base_url=server.base_url, session=own
        ) as client:
            await client.compare_with_liveness(png(1), [png(2)])
        assert client.closed
        assert not own.closed
        async with own.get(server.base_url + "nothing-here") as response:
            assert response.status == 404
    assert server.requests[0].headers["X-Mine"] == "yes"
    assert own.closed


async def test_closed_handed_in_session_is_refused() -> None:
    """Entering with an already closed session raises ClientStateError."""
    own = aiohttp.ClientSession()
    await own.close()
    client = VerifikClient(token="t0k", base_url="http://127.0.0.1:1/v2/", session=own)
    with pytest.raises(ClientStateError):
        await client.__aenter__()


async def test_no_unclosed_session_when_the_body_raises(
    png: Png, no_leaks: list[warnings.WarningMessage]
) -> None:
    """An exception inside ``async with`` still closes the session: no ResourceWarning."""
    async with EmulatorServer() as server:
        client = VerifikClient(token=server.token, base_url=server.base_url)
        with pytest.raises(ZeroDivisionError):
            async with client:
                await client.compare_with_liveness(png(1), [png(2)])
                _ = 1 / 0
        assert client.closed
    del client
    assert len(server.requests) == 1


async def test_no_unclosed_session_when_a_call_fails(
    png: Png, no_leaks: list[warnings.WarningMessage]
) -> None:
    """A call that raises an API error, then leaving the block, leaks nothing."""
    async with EmulatorServer() as server:
        server.inject(Fault.status(500))
        with pytest.raises(ServerError):
            async with VerifikClient(
                token=server.token, base_url=server.base_url, retry=RetryPolicy.never()
            ) as client:
                await client.compare_with_liveness(png(1), [png(2)])
    assert client.closed


async def test_no_unclosed_session_when_cancelled_mid_request(
    png: Png, no_leaks: list[warnings.WarningMessage]
) -> None:
    """Cancelling the task during a request closes the session and leaks nothing."""
    async with EmulatorServer() as server:
        server.inject(Fault.delay(10))
        client = VerifikClient(token=server.token, base_url=server.base_url)
        with anyio.move_on_after(0.3) as scope:
            async with client:
                await client.compare_with_liveness(png(1), [png(2)])
        assert scope.cancelled_caught
        assert client.closed
    assert len(server.requests) == 1


async def test_closing_during_a_call_fails_it_cleanly(
    png: Png, no_leaks: list[warnings.WarningMessage]
) -> None:
    """Closing the client mid-call makes that call raise ClientStateError; no retry, no leak."""
    caught: list[BaseException] = []
    async with EmulatorServer() as server:
        server.inject(Fault.delay(10))
        client = VerifikClient(token=server.token, base_url=server.base_url)
        await client.__aenter__()

        async def call() -> None:
            try:
                await client.compare_with_liveness(png(1), [png(2)])
            except ClientStateError as exc:
                caught.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.fail_after(5):
                while not server.requests:  # noqa: ASYNC110 - the log has no event to wait on
                    await anyio.sleep(0.01)
            await client.aclose()
    assert len(caught) == 1
    assert "closed" in str(caught[0])
    assert len(server.requests) == 1


async def test_cancelled_call_leaves_the_client_usable(png: Png) -> None:
    """A call cancelled mid-flight does not break the client: the next call succeeds."""
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        server.inject(Fault.delay(10))
        with anyio.move_on_after(0.3) as scope:
            await client.compare_with_liveness(png(1), [png(2)])
        assert scope.cancelled_caught
        result = await client.compare_with_liveness(png(1), [png(1)])
    assert result.score == 1.0
    assert len(server.requests) == 2


async def test_concurrent_calls_share_one_client(png: Png) -> None:
    """Many tasks can use one client at once; each gets its own answer."""
    results: dict[int, float] = {}
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):

        async def one(seed: int) -> None:
            result = await client.compare_with_liveness(png(seed), [png(seed)])
            results[seed] = result.score

        async with anyio.create_task_group() as tg:
            for seed in range(20):
                tg.start_soon(one, seed)
    assert results == dict.fromkeys(range(20), 1.0)
    assert len(server.requests) == 20


async def test_repr_shows_state_not_token() -> None:
    """The client's repr names its base URL and state but never the token."""
    client = VerifikClient(token="sekret-token-123", base_url="http://127.0.0.1:1/v2/")
    text = repr(client)
    assert "127.0.0.1" in text
    assert "new" in text
    assert "sekret" not in text
    assert "sekret" not in repr(client.config)
