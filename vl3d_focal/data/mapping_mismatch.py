"""Whether a spec's class mapping can score and write a model's predictions
(:func:`model_mismatch`): the same classes, and no LAS code of one class given to another.

Example:
    >>> model = ClassMapping(names=["ground", "building"], codes=[[2], [6]])
    >>> model_mismatch(ClassMapping(names=["building", "ground"], codes=[[6], [2]]), model) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vl3d_focal.data.labels import ClassMapping


def _names_hint(missing: Sequence[str], extra: Sequence[str]) -> str:
    """What a user most likely meant where a mapping's class names differ from a model's: names
    that differ only in case, or a model trained without class names (``class_0``, ``class_1``...)."""
    model_by_folded = {name.casefold(): name for name in missing}
    cased = [(name, model_by_folded[name.casefold()]) for name in extra if name.casefold() in model_by_folded]
    if cased:
        pairs = ", ".join(f"{ours!r} is the model's {theirs!r}" for ours, theirs in cased)
        return f" (names are case-sensitive: {pairs})"
    if missing and all(re.fullmatch(r"class_\d+", name) for name in missing):
        return (
            " (the model was trained without class names: its classes are class_0, class_1... in the order of "
            "its outputs; give the mapping's classes those names)"
        )
    return ""


def model_mismatch(spec: ClassMapping, model: ClassMapping) -> str | None:
    """Why the ``spec``'s class mapping cannot score or write the predictions of a model trained
    with ``model``, else None.

    The predictions are the model's classes, so the spec's mapping must name the same classes, in
    any order (:meth:`~vl3d_focal.data.labels.ClassMapping.in_order` lists them in the model's). No LAS code of one of the model's
    classes may belong to another class in the spec's: two classes with swapped codes would score and
    write every prediction of one as the other. A class may take more codes, or leave some to
    ``ignore_codes``. The codes of a model that stores classification values instead of LAS
    codes (``vl3d_values``: trained without a class mapping, or a pipeline written without its
    class transformer) are not compared.

    Example:
        >>> model = ClassMapping(names=["ground", "building"], codes=[[2], [6]])
        >>> print(model_mismatch(ClassMapping(names=["ground", "building"], codes=[[6], [2]]), model))
        the spec's class mapping gives LAS codes of the model's classes to other classes (ground: model codes [2] vs spec codes [6]; building: model codes [6] vs spec codes [2]), so ...
        >>> model_mismatch(ClassMapping(names=["building", "ground"], codes=[[6], [2, 9]]), model) is None
        True
        >>> model_mismatch(ClassMapping(names=["Ground", "building"], codes=[[2], [6]]), model).split("; ")[1]
        "not in the model: ['Ground']) (names are case-sensitive: 'Ground' is the model's 'ground')"
    """
    if sorted(spec.names) != sorted(model.names):
        missing = [name for name in model.names if name not in spec.names]
        extra = [name for name in spec.names if name not in model.names]
        return (
            f"the spec's class mapping has the classes {list(spec.names)}, the model {list(model.names)} "
            f"(missing: {missing}; not in the model: {extra}){_names_hint(missing, extra)}; the predictions "
            "are the model's classes: name them in the class_mapping step, or leave it out to use the model's "
            "mapping"
        )
    if model.vl3d_values:
        return None
    owner = {code: name for name, codes in zip(spec.names, spec.codes) for code in codes}
    crossed: set[str] = set()  # the classes that gave a code to another class, and those that took it
    for model_name, codes in zip(model.names, model.codes):
        takers = {owner[code] for code in codes if owner.get(code, model_name) != model_name}
        if takers:
            crossed |= {model_name, *takers}
    if not crossed:
        return None
    ours, theirs = dict(zip(spec.names, spec.codes)), dict(zip(model.names, model.codes))
    listing = "; ".join(
        f"{name}: model codes {theirs[name]} vs spec codes {ours[name]}" for name in model.names if name in crossed
    )
    return (
        f"the spec's class mapping gives LAS codes of the model's classes to other classes ({listing}), so "
        "predictions would be scored and written as the wrong class; give each class the model's codes (more "
        "codes, or some in ignore_codes, are fine), or leave out the class_mapping step to use the model's mapping"
    )
