"""Which training a resumable checkpoint (:mod:`vl3d_focal.training.checkpoints`) belongs to:
its fingerprint (:func:`checkpoint_fingerprint`) is a hash of the train step (all but its
``training_epochs``: ``--resume`` with more or fewer epochs continues the same training) and
of its data, without the step's null-valued keys, so an optional key that the package adds
later with a null default changes no checkpoint's fingerprint. A checkpoint written by an
earlier version holds the fingerprint that version computed; :func:`earlier_fingerprints` are
those it may hold for the same training.

Example:
    >>> step = {"train": "M", "model_args": {"model_handling": {"training_epochs": 4, "batch_size": 8}}}
    >>> checkpoint_fingerprint(step, fields=[[3, 2]]) == checkpoint_fingerprint(
    ...     {**step, "new_key": None}, fields=[[3, 2]])
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.io.json_identity import one_null_dropped, without_nulls


def fingerprint(document: Any) -> str:
    """A short hash of a JSON-able document (the train step and its data), to match checkpoints.

    Example:
        >>> fingerprint({"a": 1}) == fingerprint({"a": 1}) != fingerprint({"a": 2})
        True
    """
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def checkpoint_identity(step: Mapping[str, Any]) -> dict[str, Any]:
    """What of a train step's identity a checkpoint must match: all but ``training_epochs``
    (``--resume`` with more or fewer epochs continues the same training).

    Example:
        >>> checkpoint_identity({"train": "M", "model_args": {"model_handling": {"training_epochs": 4, "batch_size": 8}}})
        {'train': 'M', 'model_args': {'model_handling': {'batch_size': 8}}}
    """
    args = dict(step.get("model_args") or {})
    if "model_handling" in args:
        args["model_handling"] = {k: v for k, v in args["model_handling"].items() if k != "training_epochs"}
    return {**step, "model_args": args} if "model_args" in step else dict(step)


def checkpoint_fingerprint(identity: Mapping[str, Any], *, fields: Sequence[Any]) -> str:
    """The fingerprint of the checkpoints of the training ``identity`` (``TrainingJob.identity``)
    on the data ``fields`` (its shapes and label counts): of :func:`checkpoint_identity`, its
    null-valued keys dropped (:func:`~vl3d_focal.io.json_identity.without_nulls`).

    Example:
        >>> checkpoint_fingerprint({"train": "M"}, fields=[[3, 2]]) == checkpoint_fingerprint(
        ...     {"train": "M"}, fields=[[4, 2]])
        False
    """
    return fingerprint(without_nulls({"step": checkpoint_identity(identity), "fields": list(fields)}))


def earlier_fingerprints(identity: Mapping[str, Any], *, fields: Sequence[Any]) -> set[str]:
    """The fingerprints that earlier versions gave the checkpoints of the same training, which
    kept the null-valued keys: of the step with or without its ``training_epochs``, with all its
    null-valued keys, or without one of them (written before the package added that key; a
    checkpoint older than two such keys is not matched).

    Example:
        >>> step = {"train": "M", "model_args": {"pre_processing": {"cell": 2, "fields_dir": None}}}
        >>> older = {"train": "M", "model_args": {"pre_processing": {"cell": 2}}}  # before fields_dir
        >>> fingerprint({"step": older, "fields": [[3, 2]]}) in earlier_fingerprints(step, fields=[[3, 2]])
        True
    """
    found: set[str] = set()
    for step in (checkpoint_identity(identity), dict(identity)):
        document = {"step": step, "fields": list(fields)}
        found |= {fingerprint(variant) for variant in [document, *one_null_dropped(document)]}
    return found
