"""The names of Keras 3's initializers, kept without Keras so that validation finds a name
``keras.initializers.get`` would refuse at a model's build (``"glorot_unifrom"``) before any work
(:func:`vl3d_focal.models.keras_names.keras_name_issues` checks them).

``tests/test_initializer_names.py`` checks them against the installed Keras: an upgrade that
adds or removes a name fails that test, not users' runs.

Example:
    >>> "glorot_uniform" in KERAS_INITIALIZERS and "glorot_unifrom" not in KERAS_INITIALIZERS
    True
"""

from __future__ import annotations

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
