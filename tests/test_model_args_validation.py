"""Validation finds what a model's build (or its training's start) would refuse in a train step,
with the builder's own checker and message (the model registry's ``args_check``): a PointNet
without shared layers, forest arguments scikit-learn refuses, an initializer name Keras does not
have, a ``distribution`` device list that does not fit its strategy. Before, each spec passed ``vl3d-focal validate`` and its run failed
after the clouds were read (the forest's with scikit-learn's traceback)."""

from __future__ import annotations

import json

import pytest
from helpers import DEMO_CLASSES, tiny_pointnet_args

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import SpecError

AT = "$.sequential_pipeline[1]"


def _issues(folder, train: dict) -> dict[str, str]:
    """``{path: message}`` of the issues of a spec whose train step is ``train`` ({} when it validates)."""
    generate_urban_scene(seed=3, size_m=10.0, density=2.0).write(folder / "scene.las")
    spec = {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            {"fnames": ["intensity", "height_above_ground"], **train},
            {"predict": "PreviousModel"},
        ],
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    try:
        load_spec(folder / "spec.json")
    except SpecError as err:
        return {issue.path: issue.message for issue in err.issues}
    return {}


def _pointnet(**changes) -> dict:
    return {"train": "PointNetPwiseClassifier", "model_args": {**tiny_pointnet_args(5), **changes}}


def _forest(**changes) -> dict:
    return {"train": "RandomForestClassifier", "model_args": {"n_estimators": 2, **changes}}


def test_a_pointnet_without_shared_layers_is_found_before_any_work(tmp_path):
    assert _issues(tmp_path, _pointnet(pretransf_feats_spec=[], postransf_feats_spec=[])) == {
        f"{AT}.model_args.pretransf_feats_spec": "expected at least one layer, got []",
        f"{AT}.model_args.postransf_feats_spec": "expected at least one layer, got []",
    }
    assert _issues(tmp_path, _pointnet()) == {}


def test_the_pointnet_builder_refuses_them_with_the_same_message():
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    with pytest.raises(SpecError) as raised:
        build_pointnet_pwise_classifier(num_points=8, num_features=0, num_classes=2, postransf_feats_spec=[])
    assert [(i.path, i.message) for i in raised.value.issues] == [
        ("model_args.postransf_feats_spec", "expected at least one layer, got []")
    ]


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        (
            {"bootstrap": False, "oob_score": True},
            "oob_score",
            "out-of-bag scores need bootstrap samples: set bootstrap to true or oob_score to false",
        ),
        (
            {"bootstrap": False, "max_samples": 0.5},
            "max_samples",
            "max_samples sizes the bootstrap samples: set bootstrap to true or max_samples to null",
        ),
        (
            {"min_samples_split": 1},
            "min_samples_split",
            "expected an integer >= 2 (a count) or a number in (0, 1] (a fraction), received 1",
        ),
        ({"n_jobs": 0}, "n_jobs", "expected -1 (every core), null or a number of jobs; received 0"),
    ],
)
def test_forest_arguments_scikit_learn_refuses_are_found_before_any_work(tmp_path, changes, key, message):
    pytest.importorskip("sklearn")
    from vl3d_focal.models.forest import build_random_forest

    assert _issues(tmp_path, _forest(**changes)) == {f"{AT}.model_args.{key}": message}
    with pytest.raises(SpecError) as raised:  # the builder: before, scikit-learn's ValueError at fit
        build_random_forest(**changes)
    assert [(i.path, i.message) for i in raised.value.issues] == [(f"model_args.{key}", message)]


def test_valid_forest_arguments_still_validate(tmp_path):
    assert _issues(tmp_path, _forest(min_samples_split=0.5, min_samples_leaf=0.1, max_samples=0.8, n_jobs=1)) == {}


@pytest.mark.parametrize(
    ("distribution", "message"),
    [
        (
            {"strategy": "one_device", "devices": ["/cpu:0", "/cpu:1"]},
            "expected one device with 'one_device', got ['/cpu:0', '/cpu:1']",
        ),
        (
            {"strategy": "multi_worker_mirrored", "devices": ["/cpu:0"]},
            "expected no device list with 'multi_worker_mirrored' (each worker uses all its GPUs, else its CPU), "
            "got ['/cpu:0']",
        ),
    ],
)
def test_a_device_list_that_does_not_fit_the_strategy_is_found_before_any_work(tmp_path, distribution, message):
    assert _issues(tmp_path, {**_pointnet(), "distribution": distribution}) == {f"{AT}.distribution.devices": message}
    assert _issues(tmp_path, {**_pointnet(), "distribution": {"strategy": "mirrored", "devices": ["/cpu:0"]}}) == {}


def test_a_tuning_grid_value_the_forest_refuses_is_found_with_the_step_s_other_arguments(tmp_path):
    grid = {"min_samples_split": [1, 2], "max_samples": [0.5, 0.8]}
    tuning = {"tuner": "GridSearch", "hyperparameters": list(grid), "grid": grid}
    train = {**_forest(bootstrap=False), "hyperparameter_tuning": tuning}
    at = f"{AT}.hyperparameter_tuning.grid"
    assert _issues(tmp_path, train) == {
        f"{at}.min_samples_split": "cannot be given to the forest: 1: expected an integer >= 2 (a count) or a number "
        "in (0, 1] (a fraction), received 1",
        f"{at}.max_samples": "cannot be given to the forest: 0.5: max_samples sizes the bootstrap samples: set "
        "bootstrap to true or max_samples to null; 0.8: max_samples sizes the bootstrap samples: set bootstrap to "
        "true or max_samples to null",
    }
    grid = {"min_samples_split": [2, 4], "max_samples": [0.5, 0.8]}  # with bootstrap samples (the default)
    assert _issues(tmp_path, {**_forest(), "hyperparameter_tuning": {**tuning, "grid": grid}}) == {}


def _autoencoder(feature_extraction: dict, **changes) -> dict:
    pre_processing = {
        "pre_processor": "hierarchical_fps",
        "neighborhood": {"radius": 3.0},
        "num_points_per_depth": [32, 16],
        "num_pwise_neighbors": [4, 4],
        "num_downsampling_neighbors": [1, 4],
        "num_upsampling_neighbors": [1, 2],
    }
    args = {
        "num_classes": 5,
        "pre_processing": pre_processing,
        "feature_extraction": feature_extraction,
        "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
        **changes,
    }
    return {"train": "ConvolutionalAutoencoderPwiseClassifier", "model_args": args}


POINTNET_OPERATIONS = {"type": "PointNet", "operations_per_depth": [1, 1], "feature_space_dims": [8, 8]}


def test_an_initializer_name_keras_does_not_have_is_found_before_any_work(tmp_path):
    """Before, each passed validation and the build refused it after the clouds were read."""
    at, expected = f"{AT}.model_args", "expected a Keras initializer name, received"
    assert _issues(tmp_path, _pointnet(kernel_initializer="he_normall")) == {
        f"{at}.kernel_initializer": f"{expected} 'he_normall'; did you mean 'he_normal'?"
    }
    operations = {
        **POINTNET_OPERATIONS,
        "H_initializer": ["glorot_unifrom", "HeNormal"],
        "gamma_bias_initializer": ["zeros", "nothing"],
    }
    train = _autoencoder(operations, downsampling_filter="mean", output_kernel_initializer="Glorot_Normal")
    found = _issues(tmp_path, train)
    assert found == {
        f"{at}.feature_extraction.H_initializer[0]": f"{expected} 'glorot_unifrom'; did you mean 'glorot_uniform'?",
        f"{at}.feature_extraction.gamma_bias_initializer[1]": f"{expected} 'nothing'; Keras' initializers: "
        "glorot_normal, glorot_uniform, he_normal, he_uniform, identity, lecun_normal, lecun_uniform, normal, one, "
        "ones, orthogonal, random_normal, random_uniform, stft, truncated_normal, uniform, variance_scaling, zero, "
        "zeros",
        f"{at}.output_kernel_initializer": f"{expected} 'Glorot_Normal'; did you mean 'glorot_normal'?",
    }, found
    kpconv = {"operations_per_depth": [1, 1], "feature_space_dims": [8, 8], "W_initializer": ["he_uniform", "zeroes"]}
    assert _issues(tmp_path, _autoencoder(kpconv)) == {
        f"{at}.feature_extraction.W_initializer[1]": f"{expected} 'zeroes'; did you mean 'zeros'?"
    }


def test_keras_initializer_names_and_class_names_still_validate(tmp_path):
    assert _issues(tmp_path, _pointnet(kernel_initializer="GlorotUniform")) == {}
    operations = {
        **POINTNET_OPERATIONS,
        "H_initializer": ["lecun_normal", "HeNormal"],
        "gamma_kernel_initializer": ["orthogonal", "VarianceScaling"],
        "gamma_bias_initializer": ["zeros", "Zeros"],
    }
    train = _autoencoder(
        operations, downsampling_filter="mean", conv1d_kernel_initializer="he_uniform", output_kernel_initializer="ones"
    )
    assert _issues(tmp_path, train) == {}
    kpconv = {"operations_per_depth": [1, 1], "feature_space_dims": [8, 8], "W_initializer": ["he_uniform", "zeros"]}
    assert _issues(tmp_path, _autoencoder(kpconv)) == {}


def test_a_regularizer_constraint_or_activation_name_keras_does_not_have_is_found_before_any_work(tmp_path):
    """Before, each passed validation and the build refused it after the clouds were read."""
    at = f"{AT}.model_args.feature_extraction"
    operations = {
        **POINTNET_OPERATIONS,
        "H_activation": ["rleu", "relu"],
        "H_regularizer": [None, "l3"],
        "gamma_kernel_constraint": ["Nonneg", None],
        "gamma_bias_regularizer": ["L2", "orthogonal_regularizer"],
        "gamma_activation": ["gelu", "threshold"],
    }
    found = _issues(tmp_path, _autoencoder(operations, downsampling_filter="mean"))
    assert found == {
        f"{at}.H_activation[0]": "expected a Keras activation name, received 'rleu'; did you mean 'relu'?",
        f"{at}.H_regularizer[1]": "expected a Keras regularizer name, received 'l3'; Keras' regularizers: l1, "
        "l1l2, l2, orthogonal_regularizer, regularizer",
        f"{at}.gamma_kernel_constraint[0]": "expected a Keras constraint name, received 'Nonneg'; "
        "did you mean 'NonNeg'?",
        f"{at}.gamma_activation[1]": found.get(f"{at}.gamma_activation[1]"),
    }, found
    assert found[f"{at}.gamma_activation[1]"].startswith(  # Keras' threshold needs two more arguments
        "expected a Keras activation name, received 'threshold'; Keras' activations: celu, elu, exponential,"
    )
    kpconv = {"operations_per_depth": [1, 1], "feature_space_dims": [8, 8], "W_constraint": ["max_norm", "unitnorm"]}
    assert _issues(tmp_path, _autoencoder(kpconv)) == {
        f"{at}.W_constraint[1]": "expected a Keras constraint name, received 'unitnorm'; did you mean 'UnitNorm'?"
    }
    valid = {**POINTNET_OPERATIONS, "H_activation": ["selu", "linear"], "H_regularizer": ["l1l2", None]}
    assert _issues(tmp_path, _autoencoder(valid, downsampling_filter="mean")) == {}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("min_samples_split", "an integer >= 2 (a count) or a number in (0, 1] (a fraction)"),
        ("min_samples_leaf", "an integer >= 1 (a count) or a number in (0, 1) (a fraction)"),
    ],
)
def test_a_forest_count_of_zero_is_one_message(tmp_path, key, expected):
    """Before, the schema's "0 is less than or equal to the minimum of 0" came with the forest's own."""
    generate_urban_scene(seed=3, size_m=10.0, density=2.0).write(tmp_path / "scene.las")
    for value in (0, -0.5):
        step = {"fnames": ["intensity"], **_forest(**{key: value})}
        spec = {"in_pcloud": ["scene.las"], "out_pcloud": ["out/*"], "sequential_pipeline": [step]}
        assert [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)] == [
            f"$.sequential_pipeline[0].model_args.{key}: expected {expected}, received {value!r}"
        ]
