"""A local emulator of Verifik's face API, for tests (yours and ours).

Standalone: it needs only aiohttp and attrs, and imports nothing else from
``verifik_async``::

    async with EmulatorServer() as server:
        server.inject(Fault.rate_limited(2))
        ...  # point a client at server.base_url with server.token
        assert server.requests[0].status == 429

It serves compare-with-liveness and its siblings (compare, compare-live,
liveness, detect, search, verify) and token renewal; ``server.add_person``
stores persons for search and verify.
"""

from ._emulator import (
    EMULATOR_STATE,
    ROUTES,
    EmulatorServer,
    EmulatorState,
    EndpointCall,
    RecordedRequest,
    Route,
    make_emulator_app,
    serve,
)
from ._faults import Fault, FaultKind
from ._scoring import (
    MIN_IMAGE_BYTES,
    ApiAnswer,
    ScoreStyle,
    SkippedLiveness,
    StoredPerson,
    comparison_score,
    liveness_score,
    make_jwt,
    probe_key,
)

__all__ = [
    "EMULATOR_STATE",
    "MIN_IMAGE_BYTES",
    "ROUTES",
    "ApiAnswer",
    "EmulatorServer",
    "EmulatorState",
    "EndpointCall",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "Route",
    "ScoreStyle",
    "SkippedLiveness",
    "StoredPerson",
    "comparison_score",
    "liveness_score",
    "make_emulator_app",
    "make_jwt",
    "probe_key",
    "serve",
]
