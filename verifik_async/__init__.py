"""verifik-async: the asyncio client for Verifik's face compare-with-liveness API.

Quick start::

    async with VerifikClient() as client:  # token from VERIFIK_API_TOKEN
        result = await client.compare_with_liveness("selfie.jpg", ["id_photo.jpg"])
        print(result.verified, result.score, result.liveness_score)
"""

from ._batch import BatchStream, Job, Outcome, UnexpectedError
from ._client import VerifikClient
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_IMAGE_BYTES,
    UNSET,
    ClientConfig,
    Timeout,
)
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    ConflictError,
    ConnectError,
    DuplicatedPersonError,
    ImageError,
    InputError,
    InvalidImageError,
    LivenessFailedError,
    MissingParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    ServerError,
    TokenExpiredError,
    TransportError,
    VerifikError,
)
from ._images import Image, ImageFormat
from ._models import (
    OS,
    CompareLivenessRequest,
    CompareLivenessResult,
    ComparisonRecord,
    LivenessRecord,
    SearchMode,
    Signature,
    Verdict,
)
from ._retry import RetryPolicy
from ._stats import BatchSummary, Progress

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_IMAGE_BYTES",
    "OS",
    "UNSET",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BatchStream",
    "BatchSummary",
    "ClientConfig",
    "ClientStateError",
    "CompareLivenessRequest",
    "CompareLivenessResult",
    "ComparisonRecord",
    "ConflictError",
    "ConnectError",
    "DuplicatedPersonError",
    "Image",
    "ImageError",
    "ImageFormat",
    "InputError",
    "InvalidImageError",
    "Job",
    "LivenessFailedError",
    "LivenessRecord",
    "MissingParameterError",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseError",
    "RetryPolicy",
    "SearchMode",
    "ServerError",
    "Signature",
    "Timeout",
    "TokenExpiredError",
    "TransportError",
    "UnexpectedError",
    "Verdict",
    "VerifikClient",
    "VerifikError",
    "__version__",
]
