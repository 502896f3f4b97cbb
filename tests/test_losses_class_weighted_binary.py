"""VL3D's ``class_weighted_binary_crossentropy`` on a two-class softmax: values and gradients
against a float64 NumPy reference of VL3D's sigmoid formula, and the two-class check at
validation and at build."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from vl3d_focal.config import validate_spec
from vl3d_focal.losses import LossArgumentError
from vl3d_focal.registry import LOSSES

NAME = "class_weighted_binary_crossentropy"
WEIGHTS = [0.3, 2.0]
EPS = 1e-7  # keras.config.epsilon(), Keras' binary_crossentropy clip


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels (2, 6) in {0, 1} with one ignored point (-1), logits (2, 6, 2)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=(2, 6))
    labels[0, :2] = [0, 1]
    labels[1, 3] = -1
    return labels, rng.normal(scale=2.0, size=(2, 6, 2))


def _vl3d_reference(labels: np.ndarray, logits: np.ndarray) -> float:
    """VL3D's mean_i [(y_i w_1 + (1 - y_i) w_0) BCE(y_i, p_i)], one sigmoid output
    p_i = sigmoid(b - a), over the non-ignored points (float64)."""
    kept = labels.reshape(-1) >= 0
    y = labels.reshape(-1)[kept].astype(np.float64)
    z = logits.reshape(-1, 2)[kept].astype(np.float64)
    p = np.clip(1.0 / (1.0 + np.exp(-(z[:, 1] - z[:, 0]))), EPS, 1.0 - EPS)
    bce = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return float(np.mean((y * WEIGHTS[1] + (1.0 - y) * WEIGHTS[0]) * bce))


def _reference_gradient(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """d/dlogits of the reference: w_{y_i} (softmax_i - onehot_i) / M, 0 for ignored points."""
    z = logits.astype(np.float64)
    softmax = np.exp(z - z.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    kept = (labels >= 0)[..., None]
    one_hot = np.eye(2)[np.where(labels >= 0, labels, 0)]
    weight = np.asarray(WEIGHTS)[np.where(labels >= 0, labels, 0)][..., None]
    return np.where(kept, weight * (softmax - one_hot), 0.0) / kept.sum()


def _loss(**options):
    return LOSSES.build({"function": NAME, "class_weight": WEIGHTS, **options}, num_classes=2)


def test_entry_is_registered_for_two_classes():
    entry = LOSSES.get(NAME)
    assert entry.metadata == {
        "label_format": "sparse",
        "takes_class_weight": True,
        "num_classes": 2,
        "positive_class": 1,
    }
    assert {"function", "class_weight", "ignore_class", "reduction"} <= set(entry.schema["properties"])
    assert "gamma" not in entry.schema["properties"]
    loss = _loss()
    assert (loss.name, loss.gamma, loss.reduction) == (NAME, 0.0, "mean_with_sample_weight")


@pytest.mark.parametrize("from_logits", [True, False])
def test_value_is_vl3d_s_sigmoid_formula(from_logits):
    labels, logits = _batch()
    expected = _vl3d_reference(labels, logits)
    predictions = logits if from_logits else keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    # the pipeline's form: ignored points labelled 0 with sample weight 0
    pipeline = _loss(from_logits=from_logits)(
        np.maximum(labels, 0), predictions.astype("float32"), sample_weight=(labels >= 0).astype("float32")
    )
    ignored = _loss(from_logits=from_logits, ignore_class=-1)(labels, predictions.astype("float32"))
    np.testing.assert_allclose([float(pipeline), float(ignored)], [expected, expected], rtol=1e-5)


def test_value_equals_keras_binary_crossentropy_on_one_sigmoid_output():
    labels, logits = _batch(1)
    labels = np.maximum(labels, 0)
    sigmoid = keras.ops.sigmoid(logits[..., 1] - logits[..., 0])[..., None]
    bce = keras.losses.binary_crossentropy(labels[..., None].astype("float32"), sigmoid)
    vl3d = float(keras.ops.mean(bce * np.where(labels == 1, WEIGHTS[1], WEIGHTS[0])))
    assert float(_loss(from_logits=True)(labels, logits.astype("float32"))) == pytest.approx(vl3d, rel=1e-5)


def test_gradient_matches_the_reference():
    labels, logits = _batch(2)
    variable = tf.Variable(logits.astype("float32"))
    with tf.GradientTape() as tape:
        value = _loss(from_logits=True, ignore_class=-1)(labels, variable)
    gradient = tape.gradient(value, variable).numpy()
    np.testing.assert_allclose(gradient, _reference_gradient(labels, logits), atol=1e-6)
    step = 1e-6  # central differences of the float64 reference agree with the analytic gradient
    bumped = np.zeros_like(logits)
    bumped[0, 1, 1] = step
    numeric = (_vl3d_reference(labels, logits + bumped) - _vl3d_reference(labels, logits - bumped)) / (2 * step)
    assert _reference_gradient(labels, logits)[0, 1, 1] == pytest.approx(numeric, rel=1e-5)


def _spec(num_classes: int, **loss) -> dict:
    return {
        "in_pcloud": ["a.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {
                "train": "PointNetPwiseClassifier",
                "model_args": {
                    "num_classes": num_classes,
                    "pre_processing": {"neighborhood": {"type": "sphere", "radius": 2.0}},
                    "compilation_args": {"loss": {"function": NAME, **loss}},
                    "model_handling": {"class_weight": "auto"},
                },
            }
        ],
    }


def test_validation_accepts_two_classes_and_refuses_three():
    assert [str(issue) for issue in validate_spec(_spec(2), check_files=False)] == []
    issues = validate_spec(_spec(3), check_files=False)
    assert [(i.path, i.message) for i in issues] == [
        (
            "$.sequential_pipeline[0].model_args.compilation_args.loss.function",
            f"the loss '{NAME}' is for models of exactly 2 classes; this model has num_classes=3. For more classes "
            "use a categorical loss (vl3d-focal list losses), e.g. 'class_weighted_categorical_crossentropy'",
        )
    ]


def test_build_refuses_another_class_count():
    with pytest.raises(LossArgumentError, match="exactly 2 classes; this model has num_classes=3"):
        LOSSES.build({"function": NAME}, num_classes=3)


@pytest.mark.parametrize("ignore_class", [0, 1])
def test_an_ignore_class_of_one_of_the_two_classes_is_refused(ignore_class):
    issues = validate_spec(_spec(2, ignore_class=ignore_class), check_files=False)
    assert [(i.path, i.message) for i in issues] == [
        (
            "$.sequential_pipeline[0].model_args.compilation_args.loss.ignore_class",
            f"ignore_class={ignore_class} is one of the 2 classes of the loss '{NAME}': every point of that class "
            "would be ignored. Leave ignore_class out (the pipeline ignores points by a sample weight of 0) or give "
            "a label outside [0, 2), e.g. -1",
        )
    ]
    assert validate_spec(_spec(2, ignore_class=-1), check_files=False) == []
    with pytest.raises(LossArgumentError, match=f"ignore_class={ignore_class} is one of the 2 classes"):
        _loss(ignore_class=ignore_class)
