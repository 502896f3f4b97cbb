"""The one-vs-all focal loss of a blog post's Keras code (seed 003): its 8 printed per-sample values,
config, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from vl3d_focal.losses import ClassWeightError, LossArgumentError, MultiCategoryFocalCrossentropy
from vl3d_focal.registry import LOSSES

Y_TRUE = np.eye(4, dtype=np.float32)[[0, 1, 0, 2, 2, 2, 0, 1]]
Y_PRED = np.array(
    [
        [0.37623284, 0.33230947, 0.0481559, 0.2433018],
        [0.29497108, 0.12360882, 0.20553146, 0.37588864],
        [0.58799838, 0.28331014, 0.07566421, 0.05302727],
        [0.4794889, 0.07500778, 0.41214537, 0.03335796],
        [0.28295068, 0.07871247, 0.16113049, 0.47720636],
        [0.03239087, 0.35946281, 0.28374307, 0.32440325],
        [0.08932401, 0.54083959, 0.23610655, 0.13372985],
        [0.19806993, 0.20598081, 0.29593526, 0.30001401],
    ]
)
PRINTED = [0.04206767, 0.11250415, 0.00784752, 0.05654315, 0.30171221, 0.12844518, 0.16094631, 0.06586922]


def test_registry_entry_reproduces_the_printed_values():
    loss = LOSSES.build(
        {
            "function": "multi_category_focal_crossentropy",
            "class_counts": [100, 200, 50, 10],
            "gamma": 2.0,
            "from_logits": False,
            "reduction": None,
        }
    )
    got = loss(Y_TRUE, Y_PRED).numpy()
    assert got.shape == (8,)
    np.testing.assert_allclose(got, PRINTED, atol=1.5e-8)  # the printed float32 precision


def test_explicit_weights_equal_counts_and_reductions():
    weights = np.array([3.6, 1.8, 7.2, 36.0]) / 48.6
    by_weight = MultiCategoryFocalCrossentropy(class_weight=list(weights), reduction="sum")
    np.testing.assert_allclose(by_weight(Y_TRUE, Y_PRED), sum(PRINTED), rtol=1e-6)
    mean = MultiCategoryFocalCrossentropy(class_counts=[100, 200, 50, 10])
    np.testing.assert_allclose(mean(Y_TRUE, Y_PRED), np.mean(PRINTED), rtol=1e-6)
    np.testing.assert_allclose(mean(Y_TRUE.tolist(), Y_PRED.tolist()), np.mean(PRINTED), rtol=1e-6)
    logits = np.log(Y_PRED)
    from_logits = MultiCategoryFocalCrossentropy(class_counts=[100, 200, 50, 10], from_logits=True, reduction=None)
    np.testing.assert_allclose(from_logits(Y_TRUE, logits), PRINTED, rtol=1e-5)


def test_config_round_trip_and_errors():
    loss = MultiCategoryFocalCrossentropy(class_counts=[1, 2], gamma=1.0, reduction="sum", name="m")
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert again.get_config() == loss.get_config()
    assert again.get_config()["class_counts"] == [1.0, 2.0]
    with pytest.raises(LossArgumentError, match="exclusive"):
        MultiCategoryFocalCrossentropy(class_counts=[1, 2], class_weight=[1, 1])
    with pytest.raises(LossArgumentError, match="reduction"):
        MultiCategoryFocalCrossentropy(reduction="avg")
    with pytest.raises(LossArgumentError, match="expected 3, received 4"):
        LOSSES.build({"function": "multi_category_focal_crossentropy", "class_counts": [1, 2, 3, 4]}, num_classes=3)


def test_a_class_without_counts_is_an_error_naming_this_loss_weights_or_weighs_0_on_request():
    with pytest.raises(ClassWeightError) as caught:
        MultiCategoryFocalCrossentropy(class_counts=[10, 0, 5])
    message = str(caught.value)
    assert "class [1] has no points in the class_counts [10.0, 0.0, 5.0]:" in message and "give it an" in message
    assert "N / n_c" in message and "on_absent_class='zero'" in message and "strategy" not in message
    with pytest.warns(RuntimeWarning, match="weighting it 0") as warned:
        loss = MultiCategoryFocalCrossentropy(class_counts=[10, 0, 5], on_absent_class="zero", reduction=None)
    assert "strategy" not in str(warned[0].message) and warned[0].filename == __file__
    alpha = np.array([1 / 10, 0.0, 1 / 5]) / (1 / 10 + 1 / 5)  # N / n_c normalised over the present classes
    y_true, y_pred = np.eye(3, dtype=np.float32)[[0, 2]], np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    p = np.clip(y_pred, 1e-7, 1 - 1e-7)
    pt = y_true * p + (1 - y_true) * (1 - p)
    want = (alpha * (1 - pt) ** 2 * -np.log(pt)).sum(-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y_true, y_pred)), want, rtol=1e-5)
    assert loss.get_config()["on_absent_class"] == "zero"
    with pytest.warns(RuntimeWarning):
        again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert again.get_config() == loss.get_config()
    with pytest.warns(RuntimeWarning, match="weighting it 0"):
        LOSSES.build(
            {"function": "multi_category_focal_crossentropy", "class_counts": [3, 0], "on_absent_class": "zero"}
        )
    with pytest.raises(ClassWeightError, match="on_absent_class"):
        MultiCategoryFocalCrossentropy(class_weight=[1.0, 1.0], on_absent_class="ignore")
    assert MultiCategoryFocalCrossentropy(epsilon=np.float32(1e-6)).epsilon == pytest.approx(1e-6)


@pytest.mark.parametrize(
    ("y_true", "expected"),
    [
        (np.array([[0], [2]]), r"one_hot\(y_true, 3\). Received: y_true.shape=\(2, 1\)"),
        (np.array([0, 2]), r"Received: y_true.shape=\(2,\)"),
        (np.eye(2), r"Received: y_true.shape=\(2, 2\)"),
    ],
)
def test_labels_without_one_entry_per_class_are_refused(y_true, expected):
    # (2, 1) class indices broadcast against (2, 3) predictions: before the check, a finite wrong
    # loss (25.02) came back without a word
    loss = MultiCategoryFocalCrossentropy(class_weight=[1.0, 1.0, 1.0])
    with pytest.raises(LossArgumentError, match=expected):
        loss(y_true, np.full((2, 3), 1 / 3))


def test_multi_label_rows_and_a_graph_with_unknown_points_are_accepted():
    import tensorflow as tf

    loss = MultiCategoryFocalCrossentropy(class_weight=[1.0, 1.0, 1.0], reduction=None)
    y_true = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    y_pred = np.array([[0.7, 0.2, 0.6], [0.1, 0.8, 0.3]])
    p = np.clip(y_pred, 1e-7, 1 - 1e-7)
    pt = y_true * p + (1 - y_true) * (1 - p)
    reference = (((1 - pt) ** 2) * -np.log(pt)).sum(axis=-1)
    np.testing.assert_allclose(np.asarray(loss(y_true, y_pred)), reference, rtol=1e-5)
    spec = tf.TensorSpec((None, 3), tf.float32)
    traced = tf.function(lambda t, q: loss(t, q), input_signature=[spec, spec])
    np.testing.assert_allclose(traced(y_true.astype("float32"), y_pred.astype("float32")).numpy(), reference, rtol=1e-5)
