"""The shared blocks of the PointNet-style models: a shared per-point layer and a T-Net.

Example:
    >>> from vl3d_focal.models.initializers import SeededInitializers
    >>> x = keras.Input((8, 3))
    >>> y = _tnet(x, k=3, pre=[4], post=[4], name="t", inits=SeededInitializers("he_normal", random_seed=0),
    ...           regularize=False, synchronized=False)
    >>> tuple(y.shape)
    (None, 8, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from vl3d_focal.models.initializers import SeededInitializers
from vl3d_focal.models.tnet import FlatIdentity, OrthogonalityPenalty


def _shared_layer(x: Any, filters: int, name: str, inits: SeededInitializers, synchronized: bool) -> Any:
    """A shared per-point layer: Dense on the last axis (a kernel-1 convolution), BN, ReLU."""
    x = keras.layers.Dense(filters, use_bias=False, kernel_initializer=inits.next(), name=name)(x)
    x = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _tnet(
    x: Any,
    *,
    k: int,
    pre: Sequence[int],
    post: Sequence[int],
    name: str,
    inits: SeededInitializers,
    regularize: bool,
    synchronized: bool,
) -> Any:
    """A T-Net predicting a k x k transform from ``x`` (B, P, d), applied to ``x`` when d == k."""
    h = x
    for i, filters in enumerate(pre):
        h = _shared_layer(h, int(filters), f"{name}_pre{i + 1}", inits, synchronized)
    h = keras.layers.GlobalMaxPooling1D(name=f"{name}_maxpool")(h)
    for i, filters in enumerate(post):
        layer = f"{name}_post{i + 1}"
        h = keras.layers.Dense(int(filters), use_bias=False, kernel_initializer=inits.next(), name=layer)(h)
        h = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_post{i + 1}_bn")(h)
        h = keras.layers.ReLU(name=f"{name}_post{i + 1}_relu")(h)
    flat = keras.layers.Dense(
        k * k, kernel_initializer="zeros", bias_initializer=FlatIdentity(), name=f"{name}_matrix"
    )(h)
    if regularize:
        flat = OrthogonalityPenalty(k=k, name=f"{name}_orthogonality")(flat)
    matrix = keras.layers.Reshape((k, k), name=f"{name}_reshape")(flat)
    return keras.layers.Dot(axes=(2, 1), name=f"{name}_apply")([x, matrix])
