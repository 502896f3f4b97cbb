"""Validation of a train step's ``model_args.fnames`` and of the model's per-feature arguments
against the features the model learns from (the step's ``fnames``).

VL3D's RBFNet and two-branch PointNet take a ``model_args.fnames`` besides the train step's
``fnames``: VL3D feeds the model the step's features and sizes the model's feature input by
``model_args.fnames``, so that its fit fails when the two counts differ. Here the model learns
from the step's ``fnames`` (a step without them takes ``model_args.fnames``,
:mod:`vl3d_focal.config.model_fnames`). Where the number of features the model learns from is
known before the run (an explicit ``fnames`` without ``"AUTO"``, and before the step no feature
transformer but ones that keep the features: ``Standardizer``, ``MinmaxNormalizer``):

- a ``model_args.fnames`` of another length is an error at ``model_args.fnames``; one of the same
  length with other names is a note (its names name nothing here: the step's are read);
- the model's per-feature arguments (its registry metadata ``features_check``, e.g. RBFNet's
  ``feature_processing.means``) have one entry per feature (without that count, as many as
  ``model_args.fnames`` has names).

Example:
    >>> step = {"train": "RBFNetPwiseClassifier", "fnames": ["a"], "model_args": {"fnames": ["a", "b"]}}
    >>> [(path[-1], message[:40]) for path, message in model_features_issues(step, ("s", 2), {})]
    [('fnames', 'expected the 1 feature the model learns ')]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.data.feature_selection import AUTO
from vl3d_focal.data.feature_standardization import STANDARDIZER
from vl3d_focal.data.minmax_normalization import MINMAX
from vl3d_focal.lazy import load_reference
from vl3d_focal.registry import MODELS
from vl3d_focal.steps.transformer_checks import KIND, TRANSFORMERS

FEATURE_KEEPING = (STANDARDIZER, MINMAX)
"""Feature transformers whose output features are their input features, in the same order."""


def learned_features(step: Mapping[str, Any], known: Mapping[str, Any]) -> list[str] | None:
    """The features the model of the train step ``step`` learns from, when known before the run
    (module docstring); else None.

    Example:
        >>> learned_features({"fnames": ["a"]}, {TRANSFORMERS: [(("s", 0), {KIND: "PCATransformer"})]}) is None
        True
    """
    fnames = step.get("fnames", [])
    if not isinstance(fnames, list) or AUTO in fnames or not all(isinstance(name, str) for name in fnames):
        return None
    kinds = [as_dict(transformer).get(KIND) for _, transformer in known.get(TRANSFORMERS, ())]
    return list(fnames) if all(kind in FEATURE_KEEPING for kind in kinds) else None


def model_features_issues(step: Mapping[str, Any], at: tuple, known: Mapping[str, Any]) -> Iterator[Issue]:
    """The train step's ``model_args.fnames`` and the model's per-feature arguments against the
    features it learns from (module docstring)."""
    args = as_dict(step.get("model_args"))
    own = args.get("fnames") if isinstance(args.get("fnames"), list) else None
    learned = learned_features(step, known)
    if own is not None and learned is not None and own != learned:
        where = at + ("model_args", "fnames")
        if len(own) != len(learned):
            features = f"{len(learned)} feature{'' if len(learned) == 1 else 's'}"
            yield (
                where,
                f"expected the {features} the model learns from (the train step's fnames: {', '.join(learned) or 'none'}); got "
                f"{len(own)} names. VL3D feeds its model the step's fnames and sizes its input by these, which fails "
                "when they differ: give both the same features",
            )
        else:
            yield (
                where,
                f"{NOTE_PREFIX}the model learns from the train step's fnames ({', '.join(learned)}), as in VL3D; "
                "these other names only give their count",
            )
    model = MODELS.find(step.get("train"))
    reference = model.metadata.get("features_check") if model is not None else None
    number = len(learned) if learned is not None else len(own) if own is not None else None
    if reference and number is not None:
        for path, message in load_reference(reference)(args, num_features=number):
            yield at + tuple(path), message
