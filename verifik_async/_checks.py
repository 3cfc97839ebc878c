"""Small input checks shared by settings, the retry policy and the batch runner."""

from __future__ import annotations

from typing import Any

import attrs

from ._errors import InputError

__all__ = ["positive_int", "whole_number"]


def whole_number(field: str, value: Any) -> int:
    """``value`` if it is a whole number >= 1 (not a bool), else InputError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(field, f"must be a whole number >= 1, got {value!r}")
    return value


def positive_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: ``whole_number`` for the attribute's own name."""
    whole_number(attribute.name, value)
