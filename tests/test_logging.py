"""Logs say what happened (method, path, status, attempt) and never show a token or an image."""

from __future__ import annotations

import base64
import logging
import time
import traceback
from collections.abc import Callable

import pytest

from verifik_async import (
    ClientConfig,
    CompareLivenessRequest,
    ImageError,
    RetryPolicy,
    TokenExpiredError,
    VerifikClient,
    VerifikError,
)
from verifik_async.testing import EmulatorServer, Fault, make_jwt

pytestmark = pytest.mark.anyio

Png = Callable[..., bytes]
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.02)
PATH = "face-recognition/compare-with-liveness"


def secrets_of(token: str, images: list[bytes]) -> list[str]:
    """Strings that must never be seen: the token, its parts, and slices of each image's base64."""
    found = [token, token.rsplit(".", maxsplit=1)[-1], token[-24:]]
    for data in images:
        encoded = base64.b64encode(data).decode("ascii")
        tail = base64.b64encode(data[20:]).decode("ascii")
        found += [encoded, encoded[40:72], encoded[-40:-8], tail[:32], tail[-40:-8]]
    return found


def everything_written(caplog: pytest.LogCaptureFixture, errors: list[BaseException]) -> str:
    """All log text (messages, args, tracebacks) and every error's message, repr and traceback."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), str(record.exc_text)]
    for error in errors:
        parts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    return "\n".join(parts)


async def test_debug_logs_and_errors_never_show_token_or_images(
    caplog: pytest.LogCaptureFixture, png: Png
) -> None:
    """A run with successes, retries and errors, at DEBUG on every logger, leaks no secret."""
    caplog.set_level(logging.DEBUG)
    images = [png(seed, size=16) for seed in range(1, 7)]
    probe, gallery, other, fourth, fifth, sixth = images
    errors: list[BaseException] = []
    async with EmulatorServer() as server:
        token = server.token
        async with VerifikClient(token=token, base_url=server.base_url, retry=FAST) as client:
            reprs = [repr(client), repr(client.config)]
            result = await client.compare_with_liveness(probe, [gallery, other])
            reprs += [repr(result), repr(result.comparison), repr(result.liveness)]
            reprs.append(repr(CompareLivenessRequest(probe, [gallery])))

            server.inject(Fault.status(503), Fault.reset(), Fault.malformed_json())
            retried = await client.compare_with_liveness(
                fourth, [gallery], retry=RetryPolicy(backoff_initial=0.01)
            )
            assert retried.attempts == 4

            for fault in (
                Fault.respond(409, {"code": "MissingParameter", "message": "missing os\n"}),
                Fault.respond(412, {"code": "ERROR", "message": "only_images_in_base64"}),
                Fault.respond(200, {"data": {"comparison": {"result": {"score": "x"}}}}),
                Fault.html_502(),
                Fault.delay(5),
            ):
                server.inject(fault, fault, fault)
                try:
                    await client.compare_with_liveness(fifth, [sixth], timeout=0.3)
                except VerifikError as exc:
                    errors.append(exc)
            # Text that is not a usable image must not be echoed back as a "path".
            for bad in (
                b"not an image at all",
                "\n" + base64.b64encode(fifth).decode() + "!",
                base64.b64encode(sixth[20:]).decode(),
                base64.encodebytes(sixth[20:]).decode(),
            ):
                try:
                    await client.compare_with_liveness(bad, [gallery])
                except ImageError as exc:
                    errors.append(exc)
            server.reset()

        expired = make_jwt(exp=time.time() - 60)
        async with VerifikClient(token=expired, base_url=server.base_url) as stale:
            reprs.append(repr(stale))
            with pytest.raises(TokenExpiredError) as caught:
                await stale.compare_with_liveness(probe, [gallery])
            errors.append(caught.value)

        for bad_token in ("", "Bearer " + token):
            with pytest.raises(VerifikError) as refused:
                VerifikClient(token=bad_token, base_url=server.base_url)
            errors.append(refused.value)

    assert len(errors) == 12
    written = everything_written(caplog, errors) + "\n".join(reprs)
    for secret in secrets_of(token, images) + secrets_of(expired, []):
        assert secret not in written
    assert "IHDR" not in written  # raw PNG bytes
    assert result.verified in (True, False)


async def test_client_logs_method_path_status_and_attempt(
    caplog: pytest.LogCaptureFixture, png: Png
) -> None:
    """The verifik_async logger records each call's method, path, status, attempt and elapsed."""
    caplog.set_level(logging.DEBUG, logger="verifik_async")
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url, retry=FAST) as c,
    ):
        server.inject(Fault.status(503))
        await c.compare_with_liveness(png(1), [png(2)])
        server.inject(Fault.respond(404, {"code": "NotFound", "message": "Record not found."}))
        with pytest.raises(VerifikError):
            await c.compare_with_liveness(png(1), [png(2)])
    ours = [r for r in caplog.records if r.name == "verifik_async"]
    messages = [r.getMessage() for r in ours]
    retry = [m for m in messages if "503" in m]
    success = [m for m in messages if "200" in m]
    failure = [m for m in messages if "404" in m]
    assert retry
    assert success
    assert failure
    for message in (retry[0], success[0], failure[0]):
        assert "POST" in message
        assert PATH in message
        assert "elapsed=" in message
    assert "attempt=1" in retry[0]
    assert "retrying" in retry[0]
    assert "attempt=2" in success[0]
    assert "attempt=1" in failure[0]
    assert [r.levelno for r in ours if "503" in r.getMessage()] == [logging.INFO]


async def test_nothing_logged_above_debug_for_a_plain_success(
    caplog: pytest.LogCaptureFixture, png: Png
) -> None:
    """A call that succeeds first time logs only at DEBUG: a quiet library by default."""
    caplog.set_level(logging.DEBUG)
    async with (
        EmulatorServer() as server,
        VerifikClient(token=server.token, base_url=server.base_url) as client,
    ):
        await client.compare_with_liveness(png(1), [png(2)])
    ours = [r for r in caplog.records if r.name.startswith("verifik_async")]
    assert ours
    assert all(r.levelno == logging.DEBUG for r in ours)


def test_config_repr_hides_the_token() -> None:
    """ClientConfig's repr, from arguments or from the environment, never shows the token."""
    token = make_jwt(exp=time.time() + 60)
    config = ClientConfig(token=token)
    from_env = ClientConfig.from_env({"VERIFIK_API_TOKEN": token})
    assert from_env.token == token
    for text in (repr(config), repr(from_env), str(config)):
        assert token not in text
        assert token.split(".")[-1] not in text
        assert "base_url" in text
