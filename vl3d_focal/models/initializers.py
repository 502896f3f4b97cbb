"""Seeded Keras initializers: every kernel of a model gets its own seed derived from one seed.

Example:
    >>> inits = SeededInitializers("glorot_uniform", random_seed=1)
    >>> inits.next().get_config()["seed"], inits.next("he_normal", path="x").get_config()["seed"]
    (1000, 1001)
"""

from __future__ import annotations

from typing import Any

import keras

from vl3d_focal.errors import SpecError, SpecIssue


def keras_named(kind: str, name: Any, *, path: str) -> Any:
    """The Keras object of ``kind`` (initializer, regularizer, constraint, activation) called
    ``name`` (None stays None, except for an activation); a SpecError at ``path`` if Keras knows none.

    Example:
        >>> type(keras_named("initializer", "zeros", path="x")).__name__
        'Zeros'
        >>> keras_named("regularizer", "l3", path="$.W_regularizer[0]")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.SpecError: $.W_regularizer[0]: expected a Keras regularizer name, got 'l3' (...)
    """
    getter = {
        "initializer": keras.initializers.get,
        "regularizer": keras.regularizers.get,
        "constraint": keras.constraints.get,
        "activation": keras.activations.get,
    }[kind]
    try:
        return getter(name)
    except (ValueError, TypeError) as exc:
        raise SpecError([SpecIssue(path, f"expected a Keras {kind} name, got {name!r} ({exc})")]) from None


class SeededInitializers:
    """Hands out initializers, each with its own seed derived from ``random_seed``.

    Args:
        default: initializer name handed out when :meth:`next` is given none.
        random_seed: the model's seed; ``None`` leaves every initializer unseeded.
        path: where ``default`` comes from in the spec, for the error of an unknown name.

    Raises:
        SpecError: ``default`` is no Keras initializer.
    """

    def __init__(self, default: Any, *, random_seed: int | None, path: str = "model_args.kernel_initializer"):
        self._default = keras_named("initializer", default, path=path)
        self._seed = random_seed
        self._count = 0

    def next(self, name: Any = None, *, path: str = "") -> keras.initializers.Initializer:
        """A fresh initializer (``name``, or the default), seeded with the next derived seed."""
        prototype = self._default if name is None else keras_named("initializer", name, path=path)
        config = prototype.get_config()
        if "seed" in config:
            config["seed"] = None if self._seed is None else (int(self._seed) * 1000 + self._count) % (2**31 - 1)
        self._count += 1
        return type(prototype).from_config(config)
