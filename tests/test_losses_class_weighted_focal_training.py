"""The class-weighted focal loss inside Keras: model.fit on tf.data (sparse and float one-hot labels),
.keras save and reload."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy


def _tiny_model(num_classes: int) -> keras.Model:
    inputs = keras.Input(shape=(16, 3))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(hidden))


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 16, 3)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.int32) + (x[..., 1] > 1).astype(np.int32)  # 3 classes
    y[:, :2] = -1  # ignored points
    return x, y


def test_model_fit_on_tf_data_decreases_loss_and_matches_evaluate():
    keras.utils.set_random_seed(0)
    x, y = _data()
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0, 4.0], from_logits=True, ignore_class=-1)
    model = _tiny_model(3)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = model.fit(dataset, epochs=4, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # evaluate() on one batch equals the loss computed by hand on the model's logits
    direct = loss(y[:32], model(x[:32])).numpy()
    evaluated = model.evaluate(x[:32], y[:32], batch_size=32, verbose=0)
    np.testing.assert_allclose(evaluated, direct, rtol=1e-5)


def test_saved_keras_model_reloads_without_custom_objects(tmp_path):
    keras.utils.set_random_seed(1)
    x, y = _data(1)
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=[1.0, 2.0, 4.0], gamma=1.5, from_logits=True, ignore_class=-1
    )
    model = _tiny_model(3)
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)  # no custom_objects
    assert isinstance(restored.loss, ClassWeightedFocalCategoricalCrossentropy)
    assert restored.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(
        restored.evaluate(x, y, batch_size=32, verbose=0), model.evaluate(x, y, batch_size=32, verbose=0), rtol=1e-5
    )


def test_fit_on_float_one_hot_labels_follows_the_sparse_run():
    # tf.one_hot(-1, C) is a row of zeros: weight 0 under the class-weighted mean, like an
    # ignored point; so one-hot training must retrace the sparse run with ignore_class=-1.
    x, y = _data(2)
    one_hot = tf.one_hot(y, 3).numpy()
    histories = []
    for labels, ignore in ((y, -1), (one_hot, None)):
        keras.utils.set_random_seed(3)
        model = _tiny_model(3)
        model.compile(
            optimizer=keras.optimizers.Adam(0.05),
            loss=ClassWeightedFocalCategoricalCrossentropy(
                class_weight=[1.0, 2.0, 4.0], from_logits=True, ignore_class=ignore
            ),
        )
        history = model.fit(x, labels, epochs=3, batch_size=8, verbose=0, shuffle=False)
        histories.append(history.history["loss"])
    assert histories[0][-1] < histories[0][0]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)


def test_a_keras_mask_leaves_the_padded_points_out_like_keras_own_losses():
    """The loss overrides ``Loss.__call__`` and read no mask: masked points counted."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 6, 2)).astype(np.float32)
    x[:, 4:] = 0.0  # padding, masked by Masking(0)
    y = rng.integers(0, 3, size=(8, 6))
    inputs = keras.Input((6, 2))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Masking(0.0)(inputs)))
    ours = ClassWeightedFocalCategoricalCrossentropy(gamma=0.0, from_logits=True, reduction="sum_over_batch_size")
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    evaluated = {}
    for name, loss in (("ours", ours), ("keras", keras_loss)):
        model.compile(loss=loss)
        evaluated[name] = model.evaluate(x, y, batch_size=8, verbose=0)
    unmasked = float(ours(y[:, :4], model.predict(x, verbose=0)[:, :4]))
    np.testing.assert_allclose(evaluated["ours"], unmasked, rtol=1e-5)
    np.testing.assert_allclose(evaluated["ours"], evaluated["keras"], rtol=1e-5)
    weighted = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0, 3.0], from_logits=True)
    model.compile(loss=weighted)
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=8, verbose=0),
        float(weighted(y[:, :4], model.predict(x, verbose=0)[:, :4])),
        rtol=1e-5,
    )


def test_a_saved_model_reloads_in_a_process_that_imported_keras_and_the_package(tmp_path):
    """``import keras, vl3d_focal.losses`` did not register the lazily imported class."""
    import subprocess
    import sys

    model = _tiny_model(3)
    model.compile(loss=ClassWeightedFocalCategoricalCrossentropy(from_logits=True, ignore_class=-1))
    model.save(tmp_path / "model.keras")
    code = "import sys, keras, vl3d_focal.losses\nprint(type(keras.saving.load_model(sys.argv[1]).loss).__name__)"
    ended = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True, text=True, timeout=300
    )
    assert ended.stdout.strip() == "ClassWeightedFocalCategoricalCrossentropy", ended.stderr[-2000:]
