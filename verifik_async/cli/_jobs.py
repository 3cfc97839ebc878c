"""Manifest rows to batch jobs: one request per row, built by the endpoint's spec."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from .._batch import Job
from .._errors import InputError
from .._images import Image
from ._endpoints import COMPARE_WITH_LIVENESS, ENDPOINTS, EndpointSpec
from ._manifest import ManifestRow, Record

__all__ = ["GALLERY_CACHE_SIZE", "JobFactory", "RowKey"]

GALLERY_CACHE_SIZE: Final = 128
"""Distinct galleries kept; each holds its encoded images, so the bound is on memory too."""


@attrs.frozen
class RowKey:
    """The key of a manifest row's job: its id, and the line an error message should name."""

    id: str
    line: int


class JobFactory:
    """Turns manifest rows into :class:`Job` objects for ``client.stream``.

    ``spec`` builds each request (default: compare-with-liveness) from the
    row's options over ``defaults``. Paths are taken relative to ``base`` (the
    manifest's folder). Rows naming the same gallery share one tuple of
    :class:`Image` objects (an LRU of ``cache_size`` galleries), so a gallery
    reused across rows is read and encoded once. A job's key is a
    :class:`RowKey`. A row that cannot become a request yields ``Job.failed``
    with an :class:`InputError` naming its manifest line.
    """

    def __init__(
        self,
        base: Path,
        defaults: Mapping[str, Any],
        *,
        spec: EndpointSpec | None = None,
        cache_size: int = GALLERY_CACHE_SIZE,
    ) -> None:
        self._base = base
        self._defaults = dict(defaults)
        self._spec = spec if spec is not None else ENDPOINTS[COMPARE_WITH_LIVENESS]
        self._cache_size = cache_size
        self._galleries: OrderedDict[tuple[str, ...], tuple[Image, ...]] = OrderedDict()

    def _path(self, written: str) -> str:
        return os.path.normpath(os.path.join(self._base, os.path.expanduser(written)))

    def _gallery(self, paths: tuple[str, ...]) -> tuple[Image, ...]:
        if not paths:
            return ()
        key = tuple(self._path(path) for path in paths)
        images = self._galleries.get(key)
        if images is not None:
            self._galleries.move_to_end(key)
            return images
        images = tuple(Image.from_path(path) for path in key)
        self._galleries[key] = images
        if len(self._galleries) > self._cache_size:
            self._galleries.popitem(last=False)
        return images

    def job(self, row: ManifestRow) -> Job:
        """The job for one row (a failed job when the row is bad)."""
        key = RowKey(row.key, row.line)
        if row.problem is not None:
            return Job.failed(key, InputError(f"manifest line {row.line}", row.problem))
        assert row.probe is not None
        try:
            request = self._spec.build(
                Image.from_path(self._path(row.probe)),
                self._gallery(row.gallery),
                {**self._defaults, **row.options},
            )
        except InputError as exc:
            return Job.failed(key, InputError(f"manifest line {row.line}", str(exc)))
        return Job(request, key)

    def jobs(
        self, records: Iterable[Record], *, skip: set[str] | frozenset[str] = frozenset()
    ) -> Iterator[Job]:
        """Jobs for every keyed record whose id is not in ``skip``, lazily."""
        for record in records:
            if isinstance(record, ManifestRow) and record.key not in skip:
                yield self.job(record)
