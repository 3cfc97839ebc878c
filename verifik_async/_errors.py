"""Every exception the library raises, under one root.

::

    VerifikError
    ├── InputError (also ValueError)        bad input, refused before any request
    │   └── ImageError                      an image that cannot be sent
    ├── ClientStateError (also RuntimeError) client used before enter or after close
    ├── TransportError                      the request never got an HTTP answer
    │   ├── ConnectError                    connecting or the connection dropped
    │   └── RequestTimeoutError (also TimeoutError)
    ├── ResponseError                       an answer the library cannot understand
    └── APIError                            the API answered with an error status
        ├── BadRequestError                 400
        ├── AuthenticationError             401
        ├── PermissionDeniedError           403
        │   └── TokenExpiredError           403 token_expired
        ├── NotFoundError                   404
        ├── ConflictError                   409
        │   ├── MissingParameterError       409 MissingParameter (missing or out of range)
        │   ├── LivenessFailedError         409 liveness_failed
        │   └── DuplicatedPersonError       409 duplicated_person
        ├── InvalidImageError               412 only_images_in_base64
        ├── RateLimitError                  429 (retry_after)
        └── ServerError                     5xx

Errors never carry a token or image bytes: messages name fields, not values.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ConflictError",
    "ConnectError",
    "DuplicatedPersonError",
    "ImageError",
    "InputError",
    "InvalidImageError",
    "LivenessFailedError",
    "MissingParameterError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseError",
    "ServerError",
    "TokenExpiredError",
    "TransportError",
    "VerifikError",
]


class VerifikError(Exception):
    """Root of every error raised by verifik_async.

    ``attempts`` is how many HTTP attempts were made before the error was
    raised (0 for errors raised before any request).
    """

    attempts: int = 0

    @property
    def code(self) -> str:
        """A short stable name for the error, used in batch summaries and CLI output."""
        return type(self).__name__


class InputError(VerifikError, ValueError):
    """Input refused on the client side, before any network call.

    ``field`` names the offending field, e.g. ``probe``, ``gallery[3]``,
    ``compare_min_score`` or ``manifest line 7``.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.problem))


class ImageError(InputError):
    """An image that is empty, unreadable, not JPEG/PNG/WebP, or over the size cap."""


class ClientStateError(VerifikError, RuntimeError):
    """The client was used outside ``async with`` or after it was closed."""


class TransportError(VerifikError):
    """The request did not get an HTTP answer (connection or timeout)."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class ConnectError(TransportError):
    """Could not connect, or the connection broke before the answer was read."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The request took longer than its connect or total timeout."""


class ResponseError(VerifikError):
    """The API answered, but not with anything the library can understand.

    Carries ``status`` and the raw ``body`` for diagnosis; ``retryable`` is
    True for a garbled body (not JSON, cut short), which a retry may cure.
    """

    def __init__(
        self, message: str, *, status: int, body: bytes, attempts: int = 0, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempts = attempts
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling (batch
        # outcomes may cross process boundaries).
        return (_rebuild_error, (type(self), str(self), self.__dict__))


class APIError(VerifikError):
    """The API answered with an error status.

    Attributes: ``status`` (HTTP status), ``api_code`` (the body's ``code``,
    e.g. ``MissingParameter``, or None), ``message`` (the body's message),
    ``response_id`` (the envelope's ``id`` if any), ``body`` (raw bytes),
    ``attempts``.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        api_code: str | None = None,
        response_id: str | None = None,
        body: bytes = b"",
        attempts: int = 0,
    ) -> None:
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        self.status = status
        self.api_code = api_code
        self.message = message
        self.response_id = response_id
        self.body = body
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), str(self), self.__dict__))


def _rebuild_error(cls: type[VerifikError], message: str, state: dict[str, Any]) -> VerifikError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class BadRequestError(APIError):
    """400: the API refused the request as malformed."""


class AuthenticationError(APIError):
    """401: no or unreadable token."""


class PermissionDeniedError(APIError):
    """403: the token is not allowed (see TokenExpiredError for expiry)."""


class TokenExpiredError(PermissionDeniedError):
    """403 ``token_expired``: renew the token."""


class NotFoundError(APIError):
    """404: no such record or path."""


class ConflictError(APIError):
    """409: the API refused the request's content."""


class MissingParameterError(ConflictError):
    """409 ``MissingParameter``: required fields missing or values out of range.

    ``fields`` lists the field names the message mentions, in order.
    """

    def __init__(self, message: str, *, fields: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.fields = fields


class LivenessFailedError(ConflictError):
    """409 ``liveness_failed``."""


class DuplicatedPersonError(ConflictError):
    """409 ``duplicated_person``."""


class InvalidImageError(APIError):
    """412 ``only_images_in_base64``: the server could not read an image."""


class RateLimitError(APIError):
    """429: too many requests. ``retry_after`` is the server's wait in seconds, if given."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the API or a proxy in front of it failed."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
