"""The names of Keras 3's initializers, kept without Keras so that validation finds a name
``keras.initializers.get`` would refuse at a model's build (``"glorot_unifrom"``) before any work.

``tests/test_initializer_names.py`` checks them against the installed Keras: an upgrade that
adds or removes a name fails that test, not users' runs.

Example:
    >>> initializer_issues({"kernel_initializer": "glorot_unifrom"})[0][1]
    "expected a Keras initializer name, received 'glorot_unifrom'; did you mean 'glorot_uniform'?"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.errors import did_you_mean

KERAS_INITIALIZERS: tuple[str, ...] = (
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "IdentityInitializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "OrthogonalInitializer",
    "RandomNormal",
    "RandomUniform",
    "STFT",
    "STFTInitializer",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "one",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "stft",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "zero",
    "zeros",
)
"""The names ``keras.initializers.get`` takes alone (Keras 3: each class name, its snake_case and
Keras' aliases), case-sensitive as Keras reads them; not ``Constant`` (its name alone fails: it
needs a value) nor ``Initializer`` (the abstract base class: the build fails when it is called).
Some fit only some weights' shapes (``Identity``: a matrix); the build says so."""

SUFFIX = "_initializer"
"""How the arguments naming a Keras initializer end (``kernel_initializer``, ``W_initializer``...)."""


def initializer_issues(
    args: Mapping[str, Any], at: tuple[str | int, ...] = ("model_args",)
) -> list[tuple[tuple[str | int, ...], str]]:
    """The names no Keras initializer has among ``args``' initializers (its keys ending in
    ``_initializer``: a name, or a list of one per operation), at ``at`` + key (+ index). Other
    values are the schema's to report.

    Example:
        >>> initializer_issues({"W_initializer": ["zeros", "Zeroes"], "sigma": [1.0]}, at=("fe",))
        [(('fe', 'W_initializer', 1), "expected a Keras initializer name, received 'Zeroes'; did you mean 'zeros'?")]
    """
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in args.items():
        if not key.endswith(SUFFIX):
            continue
        for index, name in list(enumerate(value)) if isinstance(value, list) else [(None, value)]:
            if isinstance(name, str) and name not in KERAS_INITIALIZERS:
                hint = did_you_mean(name, KERAS_INITIALIZERS) or "; Keras' initializers: " + ", ".join(
                    known for known in KERAS_INITIALIZERS if known.islower()
                )
                path = (key,) if index is None else (key, index)
                issues.append((at + path, f"expected a Keras initializer name, received {name!r}{hint}"))
    return issues
