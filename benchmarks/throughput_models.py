"""The models the pipeline-throughput benchmark predicts with, trained briefly on a generated scene.

Point-wise features (:data:`FNAMES`) and neighbourhood ones (:data:`NEIGHBOURHOOD_FNAMES`, as the
IGN example): the demo's PointNet, the hierarchical autoencoder (:data:`AUTOENCODER`) and a random
forest, each saved as a model file the ``predict`` step loads.

Example:
    train_autoencoder_model(Path("scene.las"), model_path=Path("ae.keras"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.configs import POINTNET, kpconv_autoencoder

FNAMES = ["intensity", "return_number", "number_of_returns"]
NEIGHBOURHOOD_FNAMES = FNAMES + ["height_above_ground", "planarity", "verticality"]  # as the IGN example
MAPPING = {
    "class_mapping": "LASClassMapping",
    "ignore_codes": [0, 1, 7],
    "classes": [
        {"name": "ground", "codes": [2]},
        {"name": "vegetation", "codes": [3, 4, 5]},
        {"name": "building", "codes": [6]},
        {"name": "vehicle", "codes": [68]},
        {"name": "pole", "codes": [64]},
    ],
}
DEMO_FIELDS = {
    "pre_processor": "furthest_point_subsampling",
    "neighborhood": {"type": "sphere", "radius": 4.0, "separation_factor": 0.8},
    "num_points": 256,
    "scale": True,
}
AUTOENCODER = kpconv_autoencoder(radius=4.0, points_per_depth=[256, 128, 64, 32], bn_momentum=0.99)
"""cpu_small (:func:`benchmarks.configs.kpconv_autoencoder`) on the demo's 4 m fields, with the
schema's default batch-normalisation momentum."""
ARCHITECTURE = {key: value for key, value in POINTNET.items() if key != "kernel_initializer"}
"""The IGN example's PointNet with Keras' default initialiser."""


def training_data(
    cloud_path: Path, fnames: list[str], *, spec: Any = None
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, Any, Any]:
    import laspy

    from vl3d_focal.data.features import extract_features
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.receptive_fields import FieldSpec, build_fields, field_coordinates
    from vl3d_focal.io.las import PointCloud

    cloud = PointCloud.from_las(laspy.read(cloud_path), path=cloud_path)
    mapping = ClassMapping.from_spec(MAPPING)
    labels = mapping.map(np.asarray(cloud.las.classification))
    spec = FieldSpec.from_config(DEMO_FIELDS) if spec is None else spec
    fields = build_fields(cloud.xyz, spec, seed=0)
    raw = extract_features(cloud, fnames)
    normalizer = FeatureNormalizer().fit(raw, fnames=fnames)
    coordinates = field_coordinates(cloud.xyz, fields, spec)
    features = normalizer.transform(raw)[fields.indices]
    return spec, coordinates, features, np.maximum(labels[fields.indices], 0), normalizer, mapping


def focal_model(*, num_points: int, num_features: int, labels: np.ndarray, num_classes: int) -> Any:
    """The demo's PointNet compiled with our loss (square-root inverse-frequency class weights)."""
    import keras

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    counts = np.bincount(labels.ravel(), minlength=num_classes)
    weights = [float(w) for w in np.sqrt(counts.sum() / np.maximum(counts, 1) / num_classes)]
    model = build_pointnet_pwise_classifier(
        num_points=num_points, num_features=num_features, num_classes=num_classes, random_seed=3, **ARCHITECTURE
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=ClassWeightedFocalCategoricalCrossentropy(class_weight=weights, gamma=2.0, from_logits=True),
    )
    return model


def save_model(
    model: Any,
    *,
    fnames: list[str],
    normalizer: Any,
    spec: Any,
    mapping: Any,
    path: Path,
    model_name: str = "PointNetPwiseClassifier",
    pre_processing: dict[str, Any] | None = None,
) -> None:
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.model_file import save_bundle

    save_bundle(
        ModelBundle(
            model=model,
            feature_names=fnames,
            normalizer=normalizer,
            field_spec=spec,
            mapping=mapping,
            class_names=list(mapping.names),
            random_seed=0,
            predict_batch_size=64,
            model_name=model_name,
            pre_processing=pre_processing or {},
        ),
        path,
    )


def train_autoencoder_model(cloud_path: Path, *, model_path: Path) -> None:
    """One epoch of the hierarchical autoencoder (:data:`AUTOENCODER`) on :data:`NEIGHBOURHOOD_FNAMES`."""
    from vl3d_focal.data.hierarchical_fields import depth0_field_spec, hierarchical_model_inputs
    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.models.autoencoder import build_conv_autoencoder_pwise_classifier

    pre_processing = AUTOENCODER["pre_processing"]
    spec, coordinates, features, labels, normalizer, mapping = training_data(
        cloud_path, NEIGHBOURHOOD_FNAMES, spec=depth0_field_spec(pre_processing)
    )
    model = build_conv_autoencoder_pwise_classifier(
        num_points=spec.num_points,
        num_features=len(NEIGHBOURHOOD_FNAMES),
        num_classes=len(mapping.names),
        random_seed=3,
        **AUTOENCODER,
    )
    model.compile(optimizer="adam", loss=ClassWeightedFocalCategoricalCrossentropy(gamma=2.0, from_logits=True))
    model.fit(
        hierarchical_model_inputs(pre_processing, coordinates=coordinates, features=features),
        labels,
        batch_size=16,
        epochs=1,
        verbose=0,
    )
    save_model(
        model,
        fnames=NEIGHBOURHOOD_FNAMES,
        normalizer=normalizer,
        spec=spec,
        mapping=mapping,
        path=model_path,
        model_name="ConvolutionalAutoencoderPwiseClassifier",
        pre_processing=pre_processing,
    )


def train_forest_model(cloud_path: Path, *, model_path: Path) -> None:
    """A random forest (50 trees of depth 16) on :data:`NEIGHBOURHOOD_FNAMES`."""
    import laspy

    from vl3d_focal.data.features import extract_features
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.io.las import PointCloud
    from vl3d_focal.models.forest import ForestModel, build_random_forest

    cloud = PointCloud.from_las(laspy.read(cloud_path), path=cloud_path)
    mapping = ClassMapping.from_spec(MAPPING)
    labels = np.asarray(mapping.map(np.asarray(cloud.las.classification)))
    normalizer = FeatureNormalizer().fit(extract_features(cloud, NEIGHBOURHOOD_FNAMES), fnames=NEIGHBOURHOOD_FNAMES)
    kept = labels >= 0
    forest = build_random_forest(n_estimators=50, max_depth=16, random_seed=3).fit(
        normalizer.transform(extract_features(cloud, NEIGHBOURHOOD_FNAMES))[kept], labels[kept]
    )
    save_model(
        ForestModel.from_sklearn(forest, num_classes=len(mapping.names)),
        fnames=NEIGHBOURHOOD_FNAMES,
        normalizer=normalizer,
        spec=None,
        mapping=mapping,
        path=model_path,
        model_name="RandomForestClassifier",
    )


def train_neighbourhood_model(cloud_path: Path, *, model_path: Path) -> None:
    """One epoch of the same model on :data:`NEIGHBOURHOOD_FNAMES`, saved for the prediction runs."""
    spec, coordinates, features, labels, normalizer, mapping = training_data(cloud_path, NEIGHBOURHOOD_FNAMES)
    model = focal_model(
        num_points=spec.num_points,
        num_features=len(NEIGHBOURHOOD_FNAMES),
        labels=labels,
        num_classes=len(mapping.names),
    )
    model.fit((coordinates, features), labels, batch_size=16, epochs=1, verbose=0)
    save_model(model, fnames=NEIGHBOURHOOD_FNAMES, normalizer=normalizer, spec=spec, mapping=mapping, path=model_path)
