"""verifik-async: the asyncio client for Verifik's face compare-with-liveness API.

Quick start::

    async with VerifikClient() as client:  # token from VERIFIK_API_TOKEN
        result = await client.compare_with_liveness("selfie.jpg", ["id_photo.jpg"])
        print(result.verified, result.score, result.liveness_score)
"""

import typing as _typing

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

# The batch runner and the sibling endpoints load on first use, which keeps
# `import verifik_async` close to the cost of importing aiohttp alone.
if _typing.TYPE_CHECKING:
    from ._batch import BatchStream, Job, Outcome, UnexpectedError
    from ._face_models import (
        BoundingBox,
        CompareLiveRequest,
        CompareLiveResult,
        CompareRequest,
        CompareResult,
        DetectedFace,
        DetectRequest,
        DetectResult,
        FaceAttributes,
        FaceVerdict,
        LivenessRequest,
        LivenessResult,
        SearchMatch,
        SearchRequest,
        SearchResult,
        VerifyMatch,
        VerifyRequest,
        VerifyResult,
    )
    from ._stats import BatchSummary, Progress
    from ._token import RenewedToken, expires_within, jwt_expiry

_LAZY = {
    "BatchStream": "._batch",
    "Job": "._batch",
    "Outcome": "._batch",
    "UnexpectedError": "._batch",
    "BatchSummary": "._stats",
    "Progress": "._stats",
    "RenewedToken": "._token",
    "expires_within": "._token",
    "jwt_expiry": "._token",
    "BoundingBox": "._face_models",
    "CompareLiveRequest": "._face_models",
    "CompareLiveResult": "._face_models",
    "CompareRequest": "._face_models",
    "CompareResult": "._face_models",
    "DetectRequest": "._face_models",
    "DetectResult": "._face_models",
    "DetectedFace": "._face_models",
    "FaceAttributes": "._face_models",
    "FaceVerdict": "._face_models",
    "LivenessRequest": "._face_models",
    "LivenessResult": "._face_models",
    "SearchMatch": "._face_models",
    "SearchRequest": "._face_models",
    "SearchResult": "._face_models",
    "VerifyMatch": "._face_models",
    "VerifyRequest": "._face_models",
    "VerifyResult": "._face_models",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'verifik_async' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


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
    "BoundingBox",
    "ClientConfig",
    "ClientStateError",
    "CompareLiveRequest",
    "CompareLiveResult",
    "CompareLivenessRequest",
    "CompareLivenessResult",
    "CompareRequest",
    "CompareResult",
    "ComparisonRecord",
    "ConflictError",
    "ConnectError",
    "DetectRequest",
    "DetectResult",
    "DetectedFace",
    "DuplicatedPersonError",
    "FaceAttributes",
    "FaceVerdict",
    "Image",
    "ImageError",
    "ImageFormat",
    "InputError",
    "InvalidImageError",
    "Job",
    "LivenessFailedError",
    "LivenessRecord",
    "LivenessRequest",
    "LivenessResult",
    "MissingParameterError",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "RenewedToken",
    "RequestTimeoutError",
    "ResponseError",
    "RetryPolicy",
    "SearchMatch",
    "SearchMode",
    "SearchRequest",
    "SearchResult",
    "ServerError",
    "Signature",
    "Timeout",
    "TokenExpiredError",
    "TransportError",
    "UnexpectedError",
    "Verdict",
    "VerifikClient",
    "VerifikError",
    "VerifyMatch",
    "VerifyRequest",
    "VerifyResult",
    "__version__",
    "expires_within",
    "jwt_expiry",
]
