"""VL3D's two-branch PointNet body (``model_args.fnames`` given): a coordinate (X) and a feature
(F) branch, each an input T-Net, shared pretransf layers, a feature T-Net and shared postransf
layers, concatenated as VL3D's ``skip_link_features_X|F`` and ``include_*_feats_X|F`` flags say.
Layer names start with ``X_`` or ``F_``. Every feature T-Net and the F branch's input T-Net (F x
F) are pulled towards orthogonal matrices by the T-Net penalty; the coordinates' 3 x 3 input
T-Net is not, as in the one-branch form. A branch whose two T-Net specs are empty has no T-Net.

Example:
    >>> from vl3d_focal.models.initializers import SeededInitializers
    >>> layers = {"pre": [{"filters": 4}], "post": [{"filters": 8}], "tnet_pre": [], "tnet_post": []}
    >>> flags = {"include_transf_feats_X": True, "include_global_feats_F": True}
    >>> inits = SeededInitializers("he_normal", random_seed=0)
    >>> x = two_branches(coordinates=keras.Input((16, 3)), features=keras.Input((16, 2)), x_layers=layers, f_layers=layers,
    ...                  flags=flags, inits=inits, inits_f=inits, synchronized=False)
    >>> tuple(x.shape)
    (None, 16, 12)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import keras

from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.models.initializers import SeededInitializers
from vl3d_focal.models.pointnet_blocks import _shared_layer, _tnet
from vl3d_focal.models.pointnet_schema import BRANCH_FLAG_DEFAULTS

F_SEED_OFFSET = 500_000
"""Added to ``random_seed`` for the feature branch's initializers (their own seed sequence)."""


def _branch(
    x: Any,
    *,
    k: int,
    layers: Mapping[str, Any],
    prefix: str,
    inits: SeededInitializers,
    regularize_input: bool,
    synchronized: bool,
) -> dict[str, Any]:
    """One branch of VL3D's two-branch PointNet on ``x`` (B, P, k): input T-Net, pretransf layers,
    feature T-Net, postransf layers. Returns the tensors each concatenation flag selects."""
    tnet_pre, tnet_post = list(layers["tnet_pre"]), list(layers["tnet_post"])
    use_tnet = bool(tnet_pre) or bool(tnet_post)
    tnet = functools.partial(_tnet, pre=tnet_pre, post=tnet_post, inits=inits, synchronized=synchronized)
    aligned = tnet(x, k=k, name=f"{prefix}input_tnet", regularize=regularize_input) if use_tnet else x
    x, pretransf, postransf = aligned, [], []
    for i, layer in enumerate(layers["pre"]):
        x = _shared_layer(
            x, int(layer["filters"]), prefix + (layer.get("name") or f"pretransf{i + 1}"), inits, synchronized
        )
        pretransf.append(x)
    if use_tnet:
        x = tnet(x, k=int(layers["pre"][-1]["filters"]), name=f"{prefix}feature_tnet", regularize=True)
    transf = x
    for i, layer in enumerate(layers["post"]):
        x = _shared_layer(
            x, int(layer["filters"]), prefix + (layer.get("name") or f"postransf{i + 1}"), inits, synchronized
        )
        postransf.append(x)
    pooled = keras.layers.GlobalMaxPooling1D(name=f"{prefix}global_maxpool")(x)
    return {
        "skip_link_features": [aligned],
        "include_pretransf_feats": pretransf,
        "include_transf_feats": [transf],
        "include_postransf_feats": postransf[:-1],
        "include_global_feats": [keras.layers.RepeatVector(int(x.shape[1]), name=f"{prefix}global_feature")(pooled)],
    }


def two_branches(
    *,
    coordinates: Any,
    features: Any,
    x_layers: Mapping[str, Any],
    f_layers: Mapping[str, Any],
    flags: Mapping[str, bool],
    inits: SeededInitializers,
    inits_f: SeededInitializers,
    synchronized: bool,
) -> Any:
    """VL3D's PointNet with ``model_args.fnames``: a coordinate (X) and a feature (F) branch, the
    tensors their flags select concatenated (X's first, each in VL3D's order); see the module example.

    Raises:
        SpecError: the flags select nothing (e.g. only ``include_postransf_feats`` with one postransf layer).
    """
    x_parts = _branch(
        coordinates, k=3, layers=x_layers, prefix="X_", inits=inits, regularize_input=False, synchronized=synchronized
    )
    f_parts = _branch(
        features,
        k=int(features.shape[-1]),
        layers=f_layers,
        prefix="F_",
        inits=inits_f,
        regularize_input=True,
        synchronized=synchronized,
    )
    parts = [
        tensor
        for space, branch in (("X", x_parts), ("F", f_parts))
        for flag in BRANCH_FLAG_DEFAULTS
        if flags.get(f"{flag}_{space}", False)
        for tensor in branch[flag]
    ]
    if not parts:
        raise SpecError(
            [
                SpecIssue(
                    "model_args", "expected the include_*_feats_X|F and skip_link_features_X|F flags to select features"
                )
            ]
        )
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="pwise_concat")(parts)
