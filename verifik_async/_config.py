"""Client settings: frozen, with named defaults, read from the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from ._checks import positive_int
from ._errors import InputError
from ._retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_GALLERY_IMAGES",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_TOTAL_TIMEOUT",
    "ENV_BASE_URL",
    "ENV_TOKEN",
    "UNSET",
    "ClientConfig",
    "Timeout",
    "Unset",
    "check_base_url",
]

DEFAULT_BASE_URL: Final = "https://api.verifik.co/v2/"
DEFAULT_TOTAL_TIMEOUT: Final = 60.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_MAX_CONNECTIONS: Final = 100
DEFAULT_MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
DEFAULT_MAX_GALLERY_IMAGES: Final = 100
ENV_TOKEN: Final = "VERIFIK_API_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_BASE_URL: Final = "VERIFIK_BASE_URL"


class Unset(Enum):
    """Type of UNSET, the marker for "use the client's default"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


def _timeout_value(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(attribute.name, f"must be a number of seconds > 0 or None, got {value!r}")


@attrs.frozen
class Timeout:
    """Timeouts in seconds for one HTTP attempt; None means no limit.

    ``total`` bounds the whole attempt (connect, send, wait, read);
    ``connect`` bounds getting a connection from the pool, connecting included.
    """

    total: float | None = attrs.field(default=DEFAULT_TOTAL_TIMEOUT, validator=_timeout_value)
    connect: float | None = attrs.field(default=DEFAULT_CONNECT_TIMEOUT, validator=_timeout_value)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Validate a base URL and return it with exactly one trailing slash.

    Plain ``http://`` is refused unless the host is loopback (the emulator).
    """
    if not isinstance(url, str) or not url:
        raise InputError("base_url", "must be a non-empty URL string")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        # Not the URL itself: it may carry credentials (user:password@host).
        raise InputError(
            "base_url",
            f"must be an https:// URL with a host, got scheme {parts.scheme!r} and host {host!r}",
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise InputError(
            "base_url",
            f"plain http is only allowed to a loopback host, got host {host!r}; use https://",
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InputError("base_url", "must not carry a query, fragment or credentials")
    return url.rstrip("/") + "/"


def _check_token(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise InputError("token", "must be a non-empty string")
    if any(c.isspace() for c in value):
        raise InputError("token", "must not contain white space")


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Everything a VerifikClient needs to know; change one field with ``attrs.evolve``.

    ``token`` never appears in the repr. ``max_connections`` bounds the
    connection pool; ``max_image_bytes`` and ``max_gallery_images`` bound what
    a request may carry and are checked before any network call.
    """

    token: str | None = attrs.field(default=None, repr=False, validator=_check_token)
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, converter=check_base_url)
    timeout: Timeout = attrs.field(factory=Timeout)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    max_connections: int = attrs.field(default=DEFAULT_MAX_CONNECTIONS, validator=positive_int)
    max_image_bytes: int = attrs.field(default=DEFAULT_MAX_IMAGE_BYTES, validator=positive_int)
    max_gallery_images: int = attrs.field(
        default=DEFAULT_MAX_GALLERY_IMAGES, validator=positive_int
    )
    user_agent: str = "verifik-async"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Settings from ``VERIFIK_API_TOKEN`` and ``VERIFIK_BASE_URL``, then ``overrides``.

        Overrides whose value is None are ignored, so callers can pass their
        optional arguments straight through.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if token := env.get(ENV_TOKEN, "").strip():
            values["token"] = token
        if base_url := env.get(ENV_BASE_URL, "").strip():
            values["base_url"] = base_url
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
