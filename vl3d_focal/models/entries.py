"""Registry entries of the built-in models (their builders are imported when built).

What the pipeline reads from a model's metadata (never its name):

- ``output``: ``logits`` (apply a softmax) or ``probabilities``;
- ``coordinates_only``: it can learn without point features;
- ``samples``: ``fields`` (receptive fields, the default) or ``points`` (one sample per point:
  no ``pre_processing``);
- ``takes_loss``: whether ``compilation_args`` (a loss) applies (default true);
- ``trainer``: the trainer that trains it from a ``TrainingJob``: ``keras`` (the default) or
  ``forest``, which the training layer resolves (models name no pipeline), or a third party's
  ``"module:Class"``;
- ``loader``: ``"module:function"`` ``(path, metadata) -> model`` reading it from a model file
  (default: Keras' safe-mode loader);
- ``field_spec``: ``"module:function"`` ``(pre_processing) -> FieldSpec``, the receptive fields
  its ``pre_processing`` describes (default: ``FieldSpec.from_config``);
- ``field_inputs``: ``"module:function"`` ``(pre_processing, *, coordinates, features) -> [arrays]``,
  its inputs for a batch of fields, built chunk by chunk at prediction (default: coordinates
  and features).
- ``fnames_in_model_args``: when the train step gives no ``fnames``, its ``model_args.fnames``
  are the step's (VL3D's habit for that model; validation rewrites the step,
  :mod:`vl3d_focal.config.model_fnames`; default false).
- ``args_check``: ``"module:function"`` ``(model_args) -> [(path, message)]``, what its build refuses
  that its JSON Schema does not say (lengths of lists against each other, incompatible options),
  paths below the train step; validation reports them before any work (imports no Keras or
  scikit-learn; default: none).
- ``features_check``: ``"module:function"`` ``(model_args, *, num_features) -> [(path, message)]``,
  what its build refuses in ``model_args`` for that many point features (per-feature lists of
  another length), run by validation where the count is known before the run (default: none).
- ``order_only``: its predictions depend on the order of each feature's values only (a forest's
  splits lie between training values, so a value beyond the training range goes where the
  range's end goes): clipping a feature to its training range changes none (default false).

Example:
    >>> from vl3d_focal.registry import MODELS
    >>> MODELS.get("PointNetPwiseClassifier").metadata["output"]
    'logits'
"""

from __future__ import annotations

from vl3d_focal.models.autoencoder_schema import AUTOENCODER_SCHEMA
from vl3d_focal.models.forest_schema import FOREST_SCHEMA
from vl3d_focal.models.pointnet_schema import POINTNET_SCHEMA
from vl3d_focal.models.rbfnet_schema import RBFNET_SCHEMA
from vl3d_focal.registry import MODELS

MODELS.register_lazy(
    "PointNetPwiseClassifier",
    builder="vl3d_focal.models.pointnet:build_pointnet_pwise_classifier",
    schema=POINTNET_SCHEMA,
    description="PointNet point-wise classifier emitting per-point logits (apply softmax to predict).",
    metadata={
        "output": "logits",
        "coordinates_only": True,
        "args_check": "vl3d_focal.models.pointnet_schema:pointnet_args_issues",
    },
)

MODELS.register_lazy(
    "RBFNetPwiseClassifier",
    builder="vl3d_focal.models.rbfnet:build_rbfnet_pwise_classifier",
    schema=RBFNET_SCHEMA,
    description="RBFNet point-wise classifier (radial basis function features of the coordinates) emitting "
    "per-point logits.",
    metadata={
        "output": "logits",
        "coordinates_only": True,
        "fnames_in_model_args": True,
        "args_check": "vl3d_focal.models.rbfnet_schema:rbfnet_args_issues",
        "features_check": "vl3d_focal.models.rbfnet_schema:rbfnet_features_issues",
    },
)

MODELS.register_lazy(
    "ConvolutionalAutoencoderPwiseClassifier",
    builder="vl3d_focal.models.autoencoder:build_conv_autoencoder_pwise_classifier",
    schema=AUTOENCODER_SCHEMA,
    description="Hierarchical autoencoder (KPConv or PointNet operations, hierarchical FPS fields) emitting per-point logits.",
    metadata={
        "output": "logits",
        "coordinates_only": True,
        "fnames_in_model_args": True,
        "field_spec": "vl3d_focal.data.hierarchical_fields:depth0_field_spec",
        "field_inputs": "vl3d_focal.data.hierarchical_fields:hierarchical_model_inputs",
        "args_check": "vl3d_focal.models.autoencoder_operations:autoencoder_args_issues",
    },
)

MODELS.register_lazy(
    "RandomForestClassifier",
    builder="vl3d_focal.models.forest:build_random_forest",
    schema=FOREST_SCHEMA,
    description="VL3D's baseline: scikit-learn's random forest on each point's features (no loss; class weights).",
    metadata={
        "output": "probabilities",
        "samples": "points",
        "takes_loss": False,
        "classes_from_data": True,
        "order_only": True,
        "trainer": "forest",
        "loader": "vl3d_focal.models.forest:load_forest",
        "args_check": "vl3d_focal.models.forest_schema:forest_args_issues",
    },
)
