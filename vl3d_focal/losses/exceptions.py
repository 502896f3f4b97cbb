"""Exceptions raised by the losses package for wrong arguments.

Both subclass :class:`vl3d_focal.errors.VL3DFocalError` (the package's base error) and
``ValueError`` (what Keras raises for a wrong loss argument), so either ``except`` works.

Example:
    >>> try:
    ...     raise LossArgumentError("Argument `gamma` must be >= 0. Received: gamma=-1")
    ... except ValueError as exc:
    ...     message = str(exc)
"""

from __future__ import annotations

from vl3d_focal.errors import VL3DFocalError


class LossArgumentError(VL3DFocalError, ValueError):
    """A loss argument (or its combination with the data) that cannot be used."""

    # Raised inside a tf.function, an error keeps its type only if TensorFlow's autograph can
    # rebuild it from a message, which it does for Exception's own constructor.
    __init__ = Exception.__init__


class ClassWeightError(VL3DFocalError, ValueError):
    """Class counts, a class-weight strategy or a class-weight spec that cannot be used."""


class LossDistributionError(VL3DFocalError, RuntimeError):
    """The loss cannot take its global reduction in this distribution context."""
