"""Validation of the ``feature_transformer`` steps against the train steps after them.

Each train step fits every feature transformer step before it, in order, on its features
(:mod:`vl3d_focal.training.transformation`). The transformer checks record their steps
(``known[TRANSFORMERS]``); a train step's check then follows its ``fnames`` (an explicit list;
``["AUTO"]`` is resolved by the run, so nothing is checked) through them, with what a selector
may keep (all of its features but those an ``ExplicitSelector`` drops: which ones an F-test or a
variance keeps is known only at run time), and reports at the transformer's place what its fit
would refuse: a feature it names that the model does not have at that point, a ``KBestSelector``
``k`` (a ``PCATransformer``'s integer ``out_dim``) above the number of features it takes, an
``ExplicitSelector`` that keeps none, a ``MinmaxNormalizer``'s explicit ``minmax`` pair of a
feature the train step scales per cloud (``cloud_normalization``, not projected by a
``PCATransformer``); transformers before a model of no features. A
``PCATransformer`` ends the chain (it must be the last one). The last train step notes a
``Standardizer`` nothing after it uses (a model standardises its features itself, the F-tests and
an ``ExplicitSelector`` choose alike on standardised features, and a ``MinmaxNormalizer`` of all of
its features gives the same values whatever their standardisation), and a ``MinmaxNormalizer``
without ``clip`` nothing after it uses (an affine map too; with ``clip`` the model clips its features,
which changes no prediction of a model whose registry metadata says ``order_only``, a forest, when
the range is fitted: no ``minmax``).

Example:
    >>> known = {TRANSFORMERS: [(("s", 0), {"feature_transformer": "KBestSelector", "k": 3})]}
    >>> [m for _, m in transformer_issues({"fnames": ["a", "b"]}, ("s", 1), known)]
    ['k=3 is more than the 2 features it chooses among, the features of the model trained by $.s[1] (a, b)']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.messages import json_path
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.data.feature_listing import SHOWN_NAMES, hinted_names, indented, name_hint
from vl3d_focal.data.feature_selection import AUTO, EXPLICIT, KBEST, PERCENTILE
from vl3d_focal.data.feature_standardization import STANDARDIZER
from vl3d_focal.data.minmax_normalization import MINMAX, scaled_minmax_problem
from vl3d_focal.data.pca_projection import PCA
from vl3d_focal.registry import MODELS
from vl3d_focal.steps.imputers import TRAINED_MODEL
from vl3d_focal.wording import counted, shortened

KIND = "feature_transformer"
TRANSFORMERS = "feature_transformer_steps"
"""``known`` key: ``(at, step)`` of every feature transformer step checked so far, in order."""
SCALE_FREE = (KBEST, PERCENTILE, EXPLICIT)
"""Transformers that choose the same features after any standardisation (an F-value is unchanged by
an affine map of a feature; an ``ExplicitSelector`` reads names only)."""


def count_issues(step: Mapping[str, Any], at: tuple, taken: Sequence[str], *, whose: str = "") -> Iterator[Issue]:
    """A ``KBestSelector``'s ``k`` or a ``PCATransformer``'s integer ``out_dim`` above the number of
    features it takes (``taken``; ``whose`` says whose they are).

    Example:
        >>> [m for _, m in count_issues({"feature_transformer": "PCATransformer", "out_dim": 3}, (), ["a"])]
        ['out_dim=3 is more than the 1 feature it projects (a)']
    """
    for kind, key, verb in ((KBEST, "k", "chooses among"), (PCA, "out_dim", "projects")):
        value = step.get(key)
        if step.get(KIND) == kind and isinstance(value, int) and not isinstance(value, bool) and value > len(taken):
            features = counted(len(taken), "feature")
            yield (
                at + (key,),
                f"{key}={value} is more than the {features} it {verb}{whose} ({', '.join(map(str, taken))})",
            )


def _absent(
    at: tuple, absent: Sequence[tuple[int, str]], names: Sequence[str], dropped_by: Mapping[str, str], *, model: str
) -> Issue:
    """The issue of the entries ``(index, name)`` of a transformer's ``fnames`` that are not among
    ``names``, the features of ``model`` (described) there: at the entry for one name, at the list
    for several, grouped as in :mod:`vl3d_focal.steps.feature_messages` (a "did you mean" for each
    with a close match; the ones an ``ExplicitSelector`` before it drops by that step).

    Example:
        >>> print(_absent(("s", 0), [(0, "heigth"), (1, "b"), (2, "a")], ["height"], {"a": "$.s[1]"}, model="it")[1])
        3 names are not among the features of it:
          'heigth' (did you mean 'height'?), 'b'
          dropped by the ExplicitSelector of $.s[1] before it: 'a'
    """
    if len(absent) == 1:
        index, name = absent[0]
        if name in dropped_by:
            why = f"is dropped by the {EXPLICIT} of {dropped_by[name]} before it; name only features it keeps"
        else:
            hint = name_hint(name, names)
            why = f"is not among the features of {model}" + (f"; did you mean {hint}?" if hint else "")
        return at + ("fnames", index), f"{name!r} {why}"
    lacking = [name for _, name in absent if name not in dropped_by]
    lines = [f"{len(absent)} names are not among the features of {model}:"]
    lines += [indented(hinted_names(lacking, names), "  ")] if lacking else []
    for dropper in dict.fromkeys(dropped_by[name] for _, name in absent if name in dropped_by):
        dropped = [repr(name) for _, name in absent if dropped_by.get(name) == dropper]
        lines.append(
            indented(f"dropped by the {EXPLICIT} of {dropper} before it: {shortened(dropped, SHOWN_NAMES)}", "  ")
        )
    return at + ("fnames",), "\n".join(lines)


def _unoffered(fnames: list[str], known: dict[str, Any]) -> set[str]:
    """The features ``fnames`` an input cloud lacks (``known["cloud_features"]``, mined features
    included): the train step's own check reports its ones, a transformer's check its ones."""
    clouds = [offered for offered in dict(known.get("cloud_features") or {}).values() if offered is not None]
    return {name for name in fnames if any(name not in offered for offered in clouds)}


def _chain_issues(
    fnames: list[str], trainer: str, transformers: list[tuple[tuple, Any]], *, unoffered: set[str]
) -> Iterator[Issue]:
    """What fitting ``transformers`` on the model features ``fnames`` of the train step at
    ``trainer`` would refuse (module docstring). While the model has features no cloud offers
    (``unoffered``: typos, reported at the train step), a transformer's name the model lacks is no
    issue of its own (the user's right name would be "corrected" into the model's typo); nor is one
    an input cloud lacks (``unoffered`` too: its own check reports it, against the clouds)."""
    names, dropped_by = list(fnames), dict[str, str]()
    for at, step in transformers:
        if not isinstance(step, dict):
            continue
        own = as_list(step.get("fnames", [AUTO]))
        absent = [(i, n) for i, n in enumerate(own) if isinstance(n, str) and n not in [*names, AUTO, *unoffered]]
        if absent and not unoffered & set(fnames):
            model = f"the model trained by {trainer} ({', '.join(names)})"
            yield _absent(at, absent, names, dropped_by, model=model)
        if own == [AUTO]:
            yield from count_issues(step, at, names, whose=f", the features of the model trained by {trainer}")
        if step.get(KIND) == PCA:
            return  # the model's features are then PCA_1...; no transformer may follow it
        if step.get(KIND) == EXPLICIT and AUTO not in own:
            kept = [name for name in names if (name in own) == (step.get("preserve", True) is not False)]
            dropped_by.update({name: json_path(at) for name in names if name not in kept})
            if not kept:
                yield (
                    at,
                    f"it would keep no feature of the model trained by {trainer} ({', '.join(names)}); change its "
                    "fnames or preserve",
                )
                return
            names = kept


def _scaled_minmax_issues(step: Mapping[str, Any], transformers: list[tuple[tuple, Any]]) -> Iterator[Issue]:
    """Each explicit ``minmax`` pair (at its index) of a ``MinmaxNormalizer`` among ``transformers``
    whose feature the train ``step`` scales per cloud and no ``PCATransformer`` projects: the train
    step refuses it (:mod:`vl3d_focal.training.transformation`)."""
    fnames = step.get("fnames")
    scaled = set(as_dict(step.get("cloud_normalization")))
    if isinstance(fnames, list) and AUTO not in fnames:
        scaled &= _names(fnames)
    for _, pca in transformers:
        if isinstance(pca, dict) and pca.get(KIND) == PCA:
            own = as_list(pca.get("fnames", [AUTO]))
            scaled = set() if AUTO in own else scaled - _names(own)
    for at, minmax in transformers:
        if not isinstance(minmax, dict) or minmax.get(KIND) != MINMAX or not isinstance(minmax.get("minmax"), list):
            continue
        for index, name in enumerate(as_list(minmax.get("fnames", [AUTO]))[: len(minmax["minmax"])]):
            if isinstance(name, str) and name in scaled:
                yield at + ("minmax", index), scaled_minmax_problem(names=[name])


def _names(values: list[Any]) -> set[str]:
    """The feature names among ``values`` (what else a list holds, the schema reports)."""
    return {value for value in values if isinstance(value, str)}


def _remapped(step: Mapping[str, Any], later: Any) -> bool:
    """Whether ``later`` is a ``MinmaxNormalizer`` of every feature ``step`` acts on (whose values
    are then the same whatever ``step``'s affine map did; not with explicit ``minmax``)."""
    if not isinstance(later, dict) or later.get(KIND) != MINMAX or "minmax" in later:
        return False
    own, its = as_list(step.get("fnames", [AUTO])), as_list(later.get("fnames", [AUTO]))
    return its == [AUTO] or (AUTO not in own and _names(own) <= _names(its))


def _unused_standardizers(transformers: list[tuple[tuple, Any]], *, order_only_model: str = "") -> Iterator[Issue]:
    """Notes on the ``Standardizer`` steps, and ``MinmaxNormalizer`` ones without ``clip`` (or with
    ``clip`` and no ``minmax`` before ``order_only_model``, the model whose registry metadata says
    ``order_only``, described), whose values no transformer after them uses."""
    kinds = [step.get(KIND) if isinstance(step, dict) else None for _, step in transformers]
    for index, (at, step) in enumerate(transformers):
        clipped = kinds[index] == MINMAX and step.get("clip") is not False
        if kinds[index] not in (STANDARDIZER, MINMAX) or (clipped and (not order_only_model or "minmax" in step)):
            continue
        if step.get("scale") is False:
            continue  # noted by its own check: it changes nothing (it centres at most)
        later = [later_step for _, later_step in transformers[index + 1 :]]
        until = next((i for i, later_step in enumerate(later) if _remapped(step, later_step)), len(later))
        after = [str(kind) for kind in dict.fromkeys(kinds[index + 1 : index + 1 + until])]
        if not all(kind in SCALE_FREE for kind in after):
            continue
        what, how = ("standardised", "standardisation") if kinds[index] == STANDARDIZER else ("normalised", "map")
        reasons = [
            f"the feature transformers after it ({', '.join(after)}) choose the same features on {what} values "
            f"(F-values are unchanged by an affine {how})"
        ]
        if until < len(later):
            path = json_path(transformers[index + 1 + until][0])
            reasons = reasons[: bool(after)] + [f"the {MINMAX} of {path} gives the same values without it"]
        elif not after:
            reasons = ["no feature transformer after it uses its values"]
        why = ", and ".join(reasons)
        if clipped:
            why += (
                f"; its clip changes no prediction of the {order_only_model}: its splits lie between training values, so a "
                "value beyond the training range goes where the range's end goes"
            )
        yield at, f"{NOTE_PREFIX}a model standardises its features itself, and {why}"


def transformer_issues(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The train step at ``at``'s check of the feature transformers before it
    (``known[TRANSFORMERS]``): what their fit on its ``fnames`` would refuse, and on the last
    train step (``known["later_gives"]``), the notes on the unused ``Standardizer`` steps.

    Example:
        >>> known = {TRANSFORMERS: [(("s", 0), {"feature_transformer": "Standardizer"})], "later_gives": frozenset()}
        >>> [m for _, m in transformer_issues({"fnames": ["AUTO"]}, ("s", 1), known)]
        ['accepted, no effect here: a model standardises its features itself, and no feature transformer after it uses its values']
    """
    transformers = list(known.get(TRANSFORMERS, ()))
    fnames = step.get("fnames")
    if transformers and isinstance(fnames, list) and AUTO not in fnames:
        if not fnames:
            yield (
                transformers[0][0],
                (
                    f"the model trained by {json_path(at)} learns from no feature (fnames is empty): remove the "
                    "feature transformers or name the model's features"
                ),
            )
        else:
            names = [name for name in fnames if isinstance(name, str)]
            named = [n for _, t in transformers for n in as_list(as_dict(t).get("fnames")) if isinstance(n, str)]
            yield from _chain_issues(names, json_path(at), transformers, unoffered=_unoffered(names + named, known))
    yield from _scaled_minmax_issues(step, transformers)
    if TRAINED_MODEL not in known.get("later_gives", {TRAINED_MODEL}):
        model = step.get("train")
        entry = MODELS.find(model)
        ordered = f"{model} of {json_path(at)}" if entry is not None and entry.metadata.get("order_only") else ""
        yield from _unused_standardizers(transformers, order_only_model=ordered)
