"""Secrets and personal data: nothing leaks, TLS is verified, the token stays with its host.

- A full batch (successes, 4xx, retried 5xx and resets, timeouts, bad input)
  with every logger at DEBUG never shows the token or any image's base64 in a
  log record, an exception message or traceback, or the repr of anything the
  caller holds.
- TLS certificates are verified by default; plain http is allowed to
  loopback only; redirects are never followed (so the Authorization header
  never reaches another host); the emulator refuses a missing or wrong token.
"""

from __future__ import annotations

import base64
import logging
import pathlib
import shutil
import ssl
import subprocess
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import anyio
import pytest
from aiohttp import web

from verifik_async import (
    AuthenticationError,
    ClientConfig,
    CompareLivenessRequest,
    CompareLivenessResult,
    ConnectError,
    Image,
    InputError,
    Outcome,
    PermissionDeniedError,
    ResponseError,
    RetryPolicy,
    TokenExpiredError,
    VerifikClient,
    VerifikError,
)
from verifik_async._protocol import Answer, parse_compare_liveness
from verifik_async.testing import EmulatorServer, EmulatorState, Fault, make_emulator_app, make_jwt

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.005)
PATH = "face-recognition/compare-with-liveness"
WINDOW = 40  # characters of base64 that must never show up anywhere


# -- leak detection ---------------------------------------------------------------------


class Capture(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every logger (root, library, aiohttp, asyncio, any other) at DEBUG, all records kept."""
    handler = Capture()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is not root and not logger.propagate:
            logger.addHandler(handler)
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


def secrets_of(token: str, images: list[bytes]) -> dict[str, str]:
    """Label -> secret: the token, and windows of each image's base64 (start, middle, end)."""
    found = {"token": token}
    for number, image in enumerate(images):
        text = base64.b64encode(image).decode("ascii")
        middle = len(text) // 2
        found[f"image {number} base64 start"] = text[:WINDOW]
        found[f"image {number} base64 middle"] = text[middle : middle + WINDOW]
        found[f"image {number} base64 end"] = text[-WINDOW:]
    return found


def leaks(texts: list[str], secrets: dict[str, str]) -> list[str]:
    """What leaked where, with the secrets themselves blanked out of the report."""
    found = []
    for text in texts:
        labels = [label for label, secret in secrets.items() if secret in text]
        if labels:
            shown = text
            for label, secret in secrets.items():
                shown = shown.replace(secret, f"<{label}>")
            found.append(f"{', '.join(labels)} in: {shown[:200]}")
    return found


def error_texts(error: BaseException) -> list[str]:
    """Message, repr and traceback of an error and of every error Python shows chained to it."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        # The chain as a traceback shows it: `raise ... from None` hides the context.
        hidden = current.__suppress_context__
        current = current.__cause__ or (None if hidden else current.__context__)
    return texts


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    """Each record as a handler would write it: message, exception text and stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(formatter.format(record))
        if record.exc_text:
            texts.append(record.exc_text)
    return texts


# -- a full batch ---------------------------------------------------------------------------


async def test_batch_at_debug_never_shows_token_or_image_base64(
    all_logs: list[logging.LogRecord], png: Callable[..., bytes]
) -> None:
    """Successes, 4xx, retries, timeouts and bad input: no token or base64 in logs or reprs."""
    gallery = png(0, 12)
    probes = [png(i, 10) for i in range(1, 41)]
    scripts: dict[int, list[Fault]] = {
        # API errors (4xx): not retried
        1: [Fault.status(400)],
        2: [Fault.status(403)],
        3: [Fault.status(404)],
        4: [Fault.status(409)],
        5: [Fault.status(412)],
        6: [Fault.respond(409, {"code": "MissingParameter", "message": "missing probe\n"})],
        # retried, then a success
        7: [Fault.status(503), Fault.reset()],
        8: [Fault.rate_limited(0.01)],
        9: [Fault.html_502(), Fault.malformed_json()],
        10: [Fault.truncated_json(), Fault.status(500)],
        11: [Fault.delay(5)],
        # retried until the budget ran out
        12: [Fault.status(500)] * POLICY.max_attempts,
        13: [Fault.reset()] * POLICY.max_attempts,
        14: [Fault.delay(5)] * POLICY.max_attempts,
        15: [Fault.malformed_json()] * POLICY.max_attempts,
    }
    async with EmulatorServer() as server:
        for index, faults in scripts.items():
            server.script(probes[index], faults=faults)
        token = server.token
        async with VerifikClient(token=token, base_url=server.base_url, retry=POLICY) as client:
            shared = [Image.from_bytes(gallery)]
            requests = [CompareLivenessRequest(p, shared) for p in probes]
            not_an_image = b"GIF89a" + bytes(range(256)) * 2
            jobs: list[object] = [*requests]
            # Bad input, as raw bytes and as base64: refused client-side, one job each.
            jobs.append(CompareLivenessRequest(not_an_image, shared))
            jobs.append(CompareLivenessRequest(base64.b64encode(not_an_image).decode(), shared))
            outcomes: list[Outcome[CompareLivenessResult]] = []
            with anyio.fail_after(60):
                async with client.stream(jobs, concurrency=8, timeout=0.5) as results:
                    outcomes = [o async for o in results]
            texts = [repr(client), repr(client.config), str(client.config), repr(results.summary)]
        images = [gallery, *probes, not_an_image]
        secrets = secrets_of(token, images)

        # The batch did what it should, so the checks below cover every path.
        assert len(outcomes) == len(jobs)
        by_index = {o.index: o for o in outcomes}
        recovered = range(7, 12)
        assert all(by_index[i].ok for i in range(len(probes)) if i not in scripts or i in recovered)
        assert all(not by_index[i].ok for i in range(1, 7))
        assert all(not by_index[i].ok for i in range(12, 16))
        assert all(by_index[i].attempts > 1 for i in recovered)
        assert all(not by_index[i].ok for i in range(len(probes), len(jobs)))
        # The server did get the token and the images: they were there to leak.
        assert any(r.headers.get("Authorization") == f"Bearer {token}" for r in server.requests)
        sent = {r.json["probe"] for r in server.requests if r.json}
        assert base64.b64encode(probes[0]).decode() in sent

    for outcome in outcomes:
        texts += [repr(outcome), str(outcome), repr(outcome.result)]
        if outcome.error is not None:
            texts += error_texts(outcome.error)
    texts += [repr(job) for job in jobs]
    leaked = leaks(texts, secrets)
    assert not leaked, "\n".join(leaked)
    assert all_logs, "DEBUG logging captured nothing: the check would be empty"
    assert any(r.name.startswith("verifik_async") for r in all_logs)
    leaked = leaks(record_texts(all_logs), secrets)
    assert not leaked, "\n".join(leaked)


async def test_error_for_short_base64_of_a_non_image_does_not_echo_it(
    png: Callable[..., bytes],
) -> None:
    """A small non-PNG/JPEG/WebP image given as base64 is refused without echoing its base64."""
    tiny_gif = (  # a whole 1x1 GIF: 43 bytes, 60 characters of base64
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00"
        b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )
    text = base64.b64encode(tiny_gif).decode()
    async with EmulatorServer() as server:
        async with VerifikClient(token=server.token, base_url=server.base_url) as client:
            with pytest.raises(InputError) as caught:
                await client.compare_with_liveness(text, [png(2)])
        assert server.requests == []
    assert caught.value.field == "probe"
    leaked = leaks(error_texts(caught.value), secrets_of(server.token, [tiny_gif]))
    assert not leaked, "\n".join(leaked)


# -- TLS ------------------------------------------------------------------------------------


def self_signed_certificate(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A fresh self-signed certificate for 127.0.0.1: (certificate, key) PEM files."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        assert openssl, "neither the cryptography package nor the openssl tool is available"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        return cert, key
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@pytest.fixture
async def tls_emulator(
    tmp_path: pathlib.Path,
) -> AsyncIterator[tuple[str, EmulatorState, pathlib.Path]]:
    """The emulator app served over https on 127.0.0.1 with a self-signed certificate.

    Yields (base URL, the emulator's state, the certificate file).
    """
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    state = EmulatorState()
    runner = web.AppRunner(make_emulator_app(state), access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        yield f"https://127.0.0.1:{port}/v2/", state, cert
    finally:
        await runner.cleanup()


async def test_tls_certificates_are_verified_by_default(
    tls_emulator: tuple[str, EmulatorState, pathlib.Path], png: Callable[..., bytes]
) -> None:
    """An https server with an untrusted certificate is refused: ConnectError, nothing sent."""
    base_url, state, _ = tls_emulator
    async with VerifikClient(token=state.accepted_token, base_url=base_url) as client:
        with anyio.fail_after(30), pytest.raises(ConnectError) as caught:
            await client.compare_with_liveness(png(1), [png(2)], retry=RetryPolicy.never())
    chain = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain), chain
    # The handshake failed before any HTTP request: the token never left.
    assert state.requests == []


async def test_tls_server_works_when_its_certificate_is_trusted(
    tls_emulator: tuple[str, EmulatorState, pathlib.Path], png: Callable[..., bytes]
) -> None:
    """Control: the same https emulator answers once the client trusts its certificate."""
    base_url, state, cert = tls_emulator
    trusting = ssl.create_default_context(cafile=str(cert))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session,
        VerifikClient(token=state.accepted_token, base_url=base_url, session=session) as client,
    ):
        with anyio.fail_after(30):
            result = await client.compare_with_liveness(png(1), [png(2)])
    assert isinstance(result, CompareLivenessResult)
    assert len(state.requests) == 1


# -- base URLs ----------------------------------------------------------------------------------

REFUSED_BASE_URLS = [
    "http://example.com",
    "http://example.com/v2/",
    "HTTP://EXAMPLE.COM/v2",
    "http://10.0.0.1",
    "http://10.0.0.1:8080/v2/",
    "http://[2001:db8::1]",
    "http://[2001:db8::1]:8443/v2/",
    "http://0.0.0.0:8080",
    "http://localhost.example.com",
    "http://127.0.0.1.example.com",
    "http://127.0.0.1@example.com/v2/",
    "http://user:secret@127.0.0.1/v2/",
    "ftp://127.0.0.1/v2/",
    "ws://example.com/v2/",
    "http://",
    "https://",
    "127.0.0.1:8080/v2/",
]
ACCEPTED_BASE_URLS = [
    "http://127.0.0.1",
    "http://127.0.0.1:8080/v2/",
    "http://127.3.2.1:8080",
    "http://localhost",
    "http://LOCALHOST:9000/v2",
    "http://[::1]",
    "http://[::1]:9000/v2/",
    "https://api.verifik.co/v2/",
    "https://example.com/v2",
]


@pytest.mark.parametrize("url", REFUSED_BASE_URLS)
def test_non_loopback_plain_http_base_url_is_refused(url: str) -> None:
    """Plain http to anything but loopback (and non-http URLs) is refused, naming base_url."""
    with pytest.raises(InputError) as caught:
        VerifikClient(token="t0ken", base_url=url)
    assert caught.value.field == "base_url"
    with pytest.raises(InputError) as from_env:
        ClientConfig.from_env({"VERIFIK_API_TOKEN": "t0ken", "VERIFIK_BASE_URL": url})
    assert from_env.value.field == "base_url"
    # The refusal does not echo credentials a URL may carry.
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("url", ACCEPTED_BASE_URLS)
def test_loopback_http_and_any_https_base_url_is_accepted(url: str) -> None:
    """http to 127.0.0.0/8, localhost or [::1], and https anywhere, are accepted (built only)."""
    client = VerifikClient(token="t0ken", base_url=url)
    assert client.config.base_url == url.rstrip("/") + "/"
    assert not client.closed


# -- redirects and tokens -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_not_followed_so_the_token_stays_home(
    status: int, png: Callable[..., bytes]
) -> None:
    """A redirect to another server is not followed: ResponseError; that server sees nothing."""
    async with EmulatorServer() as home, EmulatorServer() as elsewhere:
        home.inject(Fault.respond(status, b"", headers={"Location": elsewhere.base_url + PATH}))
        async with VerifikClient(token=home.token, base_url=home.base_url) as client:
            with anyio.fail_after(30), pytest.raises(ResponseError) as caught:
                await client.compare_with_liveness(png(1), [png(2)])
            await anyio.sleep(0.1)  # would a follow-up request arrive late?
        assert caught.value.status == status
        assert caught.value.attempts == 1
        assert len(home.requests) == 1
        assert home.requests[0].headers.get("Authorization") == f"Bearer {home.token}"
        assert elsewhere.requests == []


async def test_wrong_token_is_refused_with_permission_denied(png: Callable[..., bytes]) -> None:
    """The emulator answers 403 to a token that is not its own; the client raises, once."""
    async with EmulatorServer() as server:
        async with VerifikClient(token="not-the-token", base_url=server.base_url) as client:
            with pytest.raises(PermissionDeniedError) as caught:
                await client.compare_with_liveness(png(1), [png(2)])
        assert caught.value.status == 403
        assert not isinstance(caught.value, TokenExpiredError)
        assert len(server.requests) == 1
        assert "not-the-token" not in str(caught.value)


async def test_expired_token_is_refused_with_token_expired(png: Callable[..., bytes]) -> None:
    """An expired JWT gets 403 token_expired, raised as TokenExpiredError."""
    async with EmulatorServer() as server:
        expired = make_jwt(time.time() - 60)
        async with VerifikClient(token=expired, base_url=server.base_url) as client:
            with pytest.raises(TokenExpiredError) as caught:
                await client.compare_with_liveness(png(1), [png(2)])
        assert caught.value.status == 403


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
async def test_missing_token_is_refused_with_authentication_error(
    authorization: str | None, png: Callable[..., bytes]
) -> None:
    """A request without a bearer token gets 401, which the parser maps to AuthenticationError."""
    request = CompareLivenessRequest(png(1), [png(2)])
    async with EmulatorServer() as server:
        # The client always sends its token, so go around it to send none.
        async with VerifikClient(token=server.token, base_url=server.base_url) as client:
            body = await client.prepare(request)
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.base_url + PATH, data=body, headers=headers) as answer,
        ):
            status, received, content = answer.status, answer.headers, await answer.read()
    assert status == 401
    lowered = {k.lower(): v for k, v in received.items()}
    with pytest.raises(AuthenticationError) as caught:
        parse_compare_liveness(Answer(status, lowered, content), request)
    assert isinstance(caught.value, VerifikError)
    assert caught.value.status == 401


async def test_long_text_taken_for_a_path_is_never_echoed(png: Callable[..., bytes]) -> None:
    """Base64 mangled so that it reads as a path (quoted, say) is not echoed in errors or reprs."""
    import base64 as b64

    from verifik_async import Image, ImageError

    mangled = '"' + b64.b64encode(png(3)).decode() + '"'
    image = Image.coerce(mangled, "probe")
    assert mangled[1:41] not in repr(image)
    with pytest.raises(ImageError) as info:
        await image.prepare("probe", 5_000_000)
    assert info.value.field == "probe"
    assert mangled[1:41] not in str(info.value)
    assert "not shown" in str(info.value)
