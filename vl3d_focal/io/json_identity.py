"""JSON documents as identities (a spec, a train step): a key whose value is null says the same
as no key, so an optional key that the package adds later with a null default (filled into every
normalised spec) changes no identity: a spec run before and after that key was added is the same
run, and its training checkpoint the same training's.

Example:
    >>> without_nulls({"a": None, "b": [{"c": None, "d": 1}, None]})
    {'b': [{'d': 1}, None]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def without_nulls(value: Any) -> Any:
    """``value`` without the null-valued keys of every mapping it holds, at any depth (a null
    item of a list stays: its position counts); tuples become lists, as in JSON.

    Example:
        >>> without_nulls({"pre_processing": {"training_receptive_fields_dir": None, "cell": 2}})
        {'pre_processing': {'cell': 2}}
    """
    if isinstance(value, Mapping):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [without_nulls(item) for item in value]
    return value


def one_null_dropped(value: Any) -> list[Any]:
    """Every copy of ``value`` that lacks one of its null-valued keys (at any depth), the others
    kept: the document as it was before the package added that one key (to match what was
    hashed then).

    Example:
        >>> one_null_dropped({"a": None, "b": {"c": None, "d": 1}})
        [{'b': {'c': None, 'd': 1}}, {'a': None, 'b': {'d': 1}}]
        >>> one_null_dropped([{"e": 1}, None])
        []
    """
    if isinstance(value, Mapping):
        found: list[Any] = []
        for key, item in value.items():
            if item is None:
                found.append({other: kept for other, kept in value.items() if other != key})
            else:
                found += [{**value, key: variant} for variant in one_null_dropped(item)]
        return found
    if isinstance(value, list | tuple):
        items = list(value)
        return [
            [*items[:index], variant, *items[index + 1 :]]
            for index, item in enumerate(items)
            for variant in one_null_dropped(item)
        ]
    return []
