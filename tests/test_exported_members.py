"""The package's public names are exactly those it documents."""

import inspect

import pytest

import verifik_async
import verifik_async.testing


def test_all_names_exist_and_are_sorted() -> None:
    """Every name in __all__ exists, __all__ is sorted, and public objects say they are ours."""

    def isort_key(name: str) -> tuple[int, str]:
        # ruff's RUF022 order: CONSTANTS, then Classes, then everything else
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name

    for module in (verifik_async, verifik_async.testing):
        assert len(set(module.__all__)) == len(module.__all__)
        assert list(module.__all__) == sorted(module.__all__, key=isort_key)
        for name in module.__all__:
            member = getattr(module, name)
            if inspect.isclass(member) or inspect.isfunction(member):
                assert member.__module__.startswith("verifik_async"), (name, member.__module__)


def test_no_public_name_is_missing_from_all() -> None:
    """Every public attribute of the package is listed in __all__ (submodules aside)."""
    public = {
        name
        for name, value in vars(verifik_async).items()
        if not name.startswith("_") and type(value).__name__ != "module"
    }
    assert public <= set(verifik_async.__all__)


def test_lazy_names_resolve_to_their_classes() -> None:
    """Names loaded on first use are the real objects, and unknown names raise AttributeError."""
    from verifik_async._batch import BatchStream
    from verifik_async._face_models import CompareRequest

    assert verifik_async.BatchStream is BatchStream
    assert verifik_async.CompareRequest is CompareRequest
    with pytest.raises(AttributeError, match="NoSuchName"):
        verifik_async.NoSuchName  # noqa: B018
