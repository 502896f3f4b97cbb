"""The names of Keras 3's regularizers, constraints and activations, kept without Keras (as
:mod:`~vl3d_focal.models.initializer_names` keeps its initializers'), and the check that finds a
name ``keras.<kind>.get`` would refuse at a model's build (``"rleu"``) before any work.

``tests/test_keras_names.py`` checks them against the installed Keras: an upgrade that adds or
removes a name fails that test, not users' runs.

Example:
    >>> keras_name_issues({"H_activation": ["relu", "rleu"], "W_regularizer": [None]})[0][1]
    "expected a Keras activation name, received 'rleu'; did you mean 'relu'?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.errors import did_you_mean
from vl3d_focal.models.initializer_names import KERAS_INITIALIZERS

KERAS_REGULARIZERS: tuple[str, ...] = (
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "l1",
    "l1l2",
    "l2",
    "orthogonal_regularizer",
    "regularizer",
)
"""The names ``keras.regularizers.get`` takes alone, case-sensitive (``Regularizer``, the base
class, adds nothing to the loss); not ``l1_l2``, a function Keras exports but ``get`` refuses."""

KERAS_CONSTRAINTS: tuple[str, ...] = (
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "constraint",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "unit_norm",
)
"""The names ``keras.constraints.get`` takes alone, case-sensitive (``Constraint``, the base
class, leaves the weights as they are)."""

KERAS_ACTIVATIONS: tuple[str, ...] = (
    "celu",
    "elu",
    "exponential",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
)
"""The names ``keras.activations.get`` takes, case-sensitive; not ``threshold`` (``get`` takes it
but the layer fails when it calls it: it needs two more arguments). ``glu`` halves the features:
it needs an even number of them."""

KERAS_NAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "_initializer": ("initializer", KERAS_INITIALIZERS),
    "_regularizer": ("regularizer", KERAS_REGULARIZERS),
    "_constraint": ("constraint", KERAS_CONSTRAINTS),
    "_activation": ("activation", KERAS_ACTIVATIONS),
}
"""How the arguments naming a Keras object end (``kernel_initializer``, ``H_activation``...): the
kind and its names."""


def keras_name_issues(
    args: Mapping[str, Any], at: tuple[str | int, ...] = ("model_args",)
) -> list[tuple[tuple[str | int, ...], str]]:
    """The names Keras does not have among ``args``' initializers, regularizers, constraints and
    activations (its keys ending as in :data:`KERAS_NAMES`: a name, or a list of one per
    operation), at ``at`` + key (+ index). Other values (null, a wrong type) are the schema's.

    Example:
        >>> keras_name_issues({"W_constraint": [None, "Nonneg"], "sigma": [1.0]}, at=("fe",))
        [(('fe', 'W_constraint', 1), "expected a Keras constraint name, received 'Nonneg'; did you mean 'NonNeg'?")]
    """
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in args.items():
        suffix = next((end for end in KERAS_NAMES if key.endswith(end)), None)
        if suffix is None:
            continue
        kind, names = KERAS_NAMES[suffix]
        for index, name in list(enumerate(value)) if isinstance(value, list) else [(None, value)]:
            if isinstance(name, str) and name not in names:
                hint = did_you_mean(name, names) or f"; Keras' {kind}s: " + ", ".join(
                    known for known in names if known.islower()
                )
                path = (key,) if index is None else (key, index)
                issues.append((at + path, f"expected a Keras {kind} name, received {name!r}{hint}"))
    return issues
