"""The validation of the ``miner`` steps (:mod:`vl3d_focal.steps.miners`,
:mod:`vl3d_focal.steps.covariance_miner`): neighbourhoods, output names new to the clouds and to
the steps before, a smoothing's inputs offered by the clouds or mined by the steps before it.

Example:
    >>> [m for _, m in check_miner({"miner": "GeometricFeatures", "k": 8, "fnames": ["planarity"]}, (),
    ...  {"cloud_features": {"a.laz": ["intensity", "planarity_k8"]}})]
    ["'planarity_k8' is already a feature of a.laz; give it another name in frenames"]
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.messages import json_path
from vl3d_focal.config.normalise import fill_defaults, walk
from vl3d_focal.data.covariance_features import expanded
from vl3d_focal.data.feature_names import COLOUR_DIMENSIONS, HSV_FEATURE_NAMES, NEIGHBOURHOOD_FEATURE_NAMES
from vl3d_focal.data.miner_kinds import miner_kind
from vl3d_focal.registry import STEPS
from vl3d_focal.steps.feature_messages import missing_by_cloud, missing_features_issue


def check_miner(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """radius or k, one name per feature, names new to the clouds, a smoothing's inputs offered
    by the clouds or mined by the steps before it (``known["pipeline"]``: the later ones are named
    in the error); adds the names to what the clouds offer (``known["cloud_features"]``, and
    ``known["mined_features"]`` for the clouds a train step reads itself), and where each is
    named (``known["mined_at"]``). Where ``frenames`` has the wrong length or a repeated name, that
    is the step's one issue, and the clouds' features are unknown to the later steps' checks.

    Example:
        >>> [m for _, m in check_miner({"miner": "GeometricFeatures", "fnames": ["planarity"]}, (), {})]
        ['give radius or k (the neighbourhood), not neither']
    """
    from vl3d_focal.data.miners import MinedFeatures

    kind = miner_kind(step.get("miner"))
    if kind.radius_or_k and ("radius" in step) == ("k" in step):
        yield at, f"give radius or k (the neighbourhood), not {'both' if 'radius' in step else 'neither'}"
        return
    filled = _filled(step)
    fnames, frenames = as_list(filled.get("fnames")), step.get("frenames")
    inputs = as_list(step.get("input_fnames"))
    expected, per = len(fnames), "one per fnames entry"
    if kind.smooths:
        expected, per = len(fnames) * len(inputs), "one per pair of fnames and input_fnames entries"
    elif kind.reads_colours:
        expected, per = len(HSV_FEATURE_NAMES), "the hue's, the saturation's and the value's"
    elif kind.pdal:
        expected, per = len(expanded(fnames)), "one per feature, a feature set counting as its features"
    if isinstance(frenames, list) and (len(frenames) != expected or any(frenames.count(n) > 1 for n in frenames)):
        if len(frenames) != expected:  # the schema reports repeated names
            yield at + ("frenames",), f"expected {expected} names ({per}); got {len(frenames)}"
        known.pop("cloud_features", None)  # what the clouds offer is unknown: later steps' names go unchecked
        return
    clouds = as_dict(known.get("cloud_features"))
    try:
        names = MinedFeatures.from_step(filled).names
    except (KeyError, TypeError, ValueError):  # an invalid step: the schema reports it
        if isinstance(frenames, list) and all(isinstance(name, str) for name in frenames):
            _offer(frenames, clouds, known)  # its outputs are named: later steps' uses of them are no error
        else:
            known.pop("cloud_features", None)  # its outputs are unknown: later steps' names go unchecked
        return
    if kind.reads_colours:
        yield from _check_colours(at, clouds)
    else:
        yield from _check_inputs(inputs, at, clouds, known)
    for index, name in enumerate(names):
        if not isinstance(name, str):  # a frenames entry of another type: the schema reports it
            continue
        fname = index // max(len(inputs), 1) if kind.smooths else index  # its fnames entry
        where = at + (("frenames", index) if frenames else ("fnames", fname) if "fnames" in filled else ("miner",))
        known.setdefault("mined_at", {}).setdefault(name, where)  # where a writer's name problems are told
        taken = [path for path, offered in clouds.items() if offered is not None and name in offered]
        if name in known.get("mined_features", []):
            yield where, f"{name!r} is already given by an earlier miner step; give it another name in frenames"
        elif taken:
            yield where, f"{name!r} is already a feature of {taken[0]}; give it another name in frenames"
    _offer(names, clouds, known)


def _offer(names: Sequence[str], clouds: dict[str, Any], known: dict[str, Any]) -> None:
    """Adds a miner step's output ``names`` to what the clouds offer and to ``known["mined_features"]``."""
    names = [name for name in names if isinstance(name, str)]  # others: the schema reports them
    known.setdefault("mined_features", []).extend(name for name in names if name not in known["mined_features"])
    for offered in clouds.values():
        if offered is not None:
            offered.extend(name for name in names if name not in offered)


def _check_colours(at: tuple, clouds: dict[str, Any]) -> Iterator[Issue]:
    """A HSV miner's colours: every cloud has them."""
    for path, offered in clouds.items():
        absent = [name for name in COLOUR_DIMENSIONS if offered is not None and name not in offered]
        if absent:
            yield (
                at + ("miner",),
                f"{path} has no {', '.join(absent)} (a LAS point format without colours); HSVFromRGB needs "
                "red, green and blue",
            )


def _filled(step: Mapping[str, Any]) -> dict[str, Any]:
    """A miner step with the defaults of its schema."""
    schema = STEPS.get(str(step.get("miner"))).schema if step.get("miner") in STEPS.names() else {}
    return walk(copy.deepcopy(dict(step)), schema, fill_defaults)


def _later_miners(at: tuple, known: dict[str, Any]) -> dict[str, tuple[tuple, str]]:
    """Each feature name a miner step after the one at ``at`` gives -> (that step's path, its miner)."""
    from vl3d_focal.data.miners import MinedFeatures

    given: dict[str, tuple[tuple, str]] = {}
    steps = as_list(known.get("pipeline"))
    position = at[1] if len(at) == 2 and at[0] == "sequential_pipeline" and isinstance(at[1], int) else len(steps)
    for index in range(position + 1, len(steps)):
        later = as_dict(steps[index])
        if later.get("miner") not in STEPS.names():
            continue
        try:
            names = MinedFeatures.from_step(_filled(later)).names
        except (KeyError, TypeError, ValueError):  # an invalid step: its own checks report it
            continue
        for name in names:
            if isinstance(name, str):
                given.setdefault(name, (("sequential_pipeline", index), str(later["miner"])))
    return given


def _check_inputs(inputs: list[Any], at: tuple, clouds: dict[str, Any], known: dict[str, Any]) -> Iterator[Issue]:
    """A smoothing miner's inputs: point-wise features every cloud offers, or features mined by
    the steps before it (a later step's are not there yet)."""
    later = _later_miners(at, known)
    unchecked: list[tuple[int, Any]] = []  # the names no other issue tells: are they offered?
    for index, name in enumerate(inputs):
        where = at + ("input_fnames", index)
        if name in known.get("mined_features", []):
            continue
        if name in NEIGHBOURHOOD_FEATURE_NAMES:
            yield (
                where,
                f"{name!r} is computed from each point's neighbours; SmoothFeatures smooths point-wise features "
                "of the clouds (their dimensions, return_ratio, ones) and features mined by the steps before it",
            )
        elif isinstance(name, str) and name in later:
            step_at, miner = later[name]
            yield (
                where,
                f"{name!r} is mined by a later step ({json_path(step_at)}, {miner}); SmoothFeatures smooths "
                "features mined by the steps before it: move that step before this one",
            )
        else:
            unchecked.append((index, name))
    for path, lacked in missing_by_cloud(unchecked, clouds).items():
        yield missing_features_issue(at, "input_fnames", lacked, path, clouds[path], known, owner="it")
