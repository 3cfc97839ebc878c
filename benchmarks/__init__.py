"""Benchmarks: is verifik-async the fastest way to call the face API from Python?

Run ``python -m benchmarks`` (a few minutes on 2 cores) or
``python -m benchmarks --quick`` (under a minute, indicative figures); needs
the ``bench`` extra (httpx, orjson, matplotlib). See ``__main__`` for the
options and outputs.

Method, in one paragraph: a minimal aiohttp.web server runs in its own
process on 127.0.0.1 (``_server``) and answers the API's documented 200 body
after parsing each JSON request, so what differs between runs is the
client. Client cost is this process's CPU seconds (user + sys) per call,
which the server's speed cannot distort, and wall throughput is reported
beside it (``_measure``). The contenders make the same calls with the same
images (``_payloads``): the library (``_ours``) against what a user would
write instead, a raw aiohttp loop and a raw httpx loop that base64-encode
and JSON-serialise every body themselves (``_baselines``). The figures and
their method are in ``_cases`` (throughput by concurrency, batch runner,
rate limit, injected 503s, one large request), ``_rss`` (peak memory of
10,000 and 100,000 jobs, each batch in a fresh process) and ``_importtime``.
``_report`` checks each figure against issue 4's targets and writes JSON
and markdown under ``benchmarks/results/``; ``_chart`` draws throughput and
CPU against concurrency.
"""
