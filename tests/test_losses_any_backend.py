"""The public loss API on whatever Keras backend runs (``KERAS_BACKEND``): numbers, gradients,
compilation, serialization and errors. Backend-neutral: it imports only Keras and NumPy.

The suite runs it under TensorFlow; ``test_losses_backends.py`` runs it again under JAX and
PyTorch in subprocesses (Keras' backend is fixed at import).
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import vl3d_focal.losses
from vl3d_focal.losses import (
    ClassWeightedFocalCategoricalCrossentropy,
    LossArgumentError,
    LossDistributionError,
    MultiCategoryFocalCrossentropy,
    compute_class_weight,
    vl3d_class_weighted_focal_categorical_crossentropy,
)

BACKEND = keras.backend.backend()
ALPHA = [0.5, 2.0, 1.0, 4.0]


def reference(labels, logits, *, alpha, gamma, ignore=None, weights=None, from_logits=True, eps=1e-7):
    """Seed 000's class-weighted mean in float64 (sparse labels; ignore class and weights added)."""
    z = np.asarray(logits, np.float64)
    if from_logits:
        log_p = z - z.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    else:
        log_p = np.log(np.clip(z / z.sum(-1, keepdims=True), eps, 1 - eps))
    valid = np.ones(labels.shape, bool) if ignore is None else labels != ignore
    safe = np.where(valid, labels, 0)
    log_z = np.take_along_axis(log_p, safe[..., None], -1)[..., 0]
    s = valid * (1.0 if weights is None else weights)
    a = np.asarray(alpha, np.float64)[safe] * s
    return float((a * (1 - np.exp(log_z)) ** gamma * -log_z).sum() / a.sum())


def value_and_grad(fn, x: np.ndarray, *, compiled: bool) -> tuple[float, np.ndarray]:
    """``fn(x)`` and its gradient with the running backend's autodiff (compiled if asked)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def step(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                value = fn(z)
            return value, tape.gradient(value, z)

        value, grad = (tf.function(step, jit_compile=True) if compiled else step)(tf.constant(x))
        return float(value), grad.numpy()
    if BACKEND == "jax":
        import jax

        step = jax.value_and_grad(fn)
        value, grad = (jax.jit(step) if compiled else step)(x)
        return float(value), np.asarray(grad)
    import torch

    z = torch.tensor(x, requires_grad=True)
    value = fn(z)
    value.backward()
    return float(value.detach()), z.grad.numpy()


def finite_difference(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (fn(up) - fn(down)) / (2 * h)
    return grad


def test_importing_the_losses_imports_tensorflow_only_on_its_backend():
    code = (
        "import sys\nfrom vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy, compute_class_weight\n"
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == str(BACKEND == "tensorflow")


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
@pytest.mark.parametrize("layout", ["sparse", "one-hot"])
@pytest.mark.parametrize("compiled", [False, True])
def test_value_and_gradient_match_the_float64_reference(gamma, layout, compiled):
    rng = np.random.default_rng(int(gamma * 10) + 3 * compiled)
    logits = rng.normal(scale=2.0, size=(2, 6, 4))
    labels = rng.integers(0, 4, size=(2, 6))
    labels[1, :2] = -1
    weights = rng.uniform(0.2, 2.0, size=(2, 6))
    y = (
        labels
        if layout == "sparse"
        else np.eye(4, dtype=np.float32)[np.where(labels < 0, 0, labels)] * (labels >= 0)[..., None]
    )
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=ALPHA, gamma=gamma, from_logits=True, ignore_class=-1 if layout == "sparse" else None
    )
    sw = weights * (labels >= 0)  # one-hot rows of zeros: weight 0 as well
    value, grad = value_and_grad(
        lambda z: loss(y, z, sample_weight=sw.astype(np.float32)), logits.astype(np.float32), compiled=compiled
    )

    def expected(z):
        return reference(labels, z, alpha=ALPHA, gamma=gamma, ignore=-1, weights=weights)

    assert value == pytest.approx(expected(logits), rel=1e-5)
    np.testing.assert_allclose(grad, finite_difference(expected, logits), rtol=2e-3, atol=2e-6)


def test_probabilities_label_smoothing_and_the_seed_000_factory():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=(3, 5)).astype(np.float32)
    labels = rng.integers(0, 4, size=(3, 5))
    one_hot = np.eye(4, dtype=np.float32)[labels]
    factory = vl3d_class_weighted_focal_categorical_crossentropy(ALPHA, 2.0)
    expected = reference(labels, p, alpha=ALPHA, gamma=2.0, from_logits=False)
    assert float(factory(one_hot, p)) == pytest.approx(expected, rel=1e-5)
    smoothed = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=ALPHA, gamma=2.0, label_smoothing=0.2, reduction="sum"
    )
    target = one_hot * 0.8 + 0.05
    log_p = np.log(np.clip(p.astype(np.float64) / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))
    want = (np.asarray(ALPHA) * target * (1 - np.exp(log_p)) ** 2 * -log_p).sum()
    assert float(smoothed(labels, p)) == pytest.approx(want, rel=1e-5)
    assert float(smoothed(one_hot, p)) == pytest.approx(want, rel=1e-5)


def test_margin_100_gives_a_loss_of_100_and_a_live_gradient():
    loss = ClassWeightedFocalCategoricalCrossentropy(gamma=2.0, from_logits=True)
    value, grad = value_and_grad(
        lambda z: loss(np.array([[1]]), z), np.array([[[100.0, 0.0, 0.0]]], np.float32), compiled=False
    )
    assert value == pytest.approx(100.0, rel=1e-6)
    np.testing.assert_allclose(grad[0, 0], [1.0, -1.0, 0.0], atol=1e-6)


def test_class_weights_and_the_one_vs_all_loss_of_seed_003():
    assert compute_class_weight("inverse_frequency", [100, 200, 50, 10])[3] == pytest.approx(0.7407407407)
    y_true = np.eye(4, dtype=np.float32)[[0, 1]]
    y_pred = np.array(
        [[0.37623284, 0.33230947, 0.0481559, 0.2433018], [0.29497108, 0.12360882, 0.20553146, 0.37588864]], np.float32
    )
    loss = MultiCategoryFocalCrossentropy(class_counts=[100, 200, 50, 10], reduction=None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss(y_true, y_pred)), [0.04206767, 0.11250415], atol=1.5e-8
    )  # seed 003's printed values


def test_fit_and_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=(8, 5)).astype(np.int32)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=ALPHA, gamma=1.5, from_logits=True, ignore_class=-1, label_smoothing=0.1
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss)
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert again.loss.get_config() == loss.get_config()
    assert float(again.evaluate(x, y, verbose=0)) == pytest.approx(float(model.evaluate(x, y, verbose=0)), rel=1e-6)


@pytest.mark.parametrize(
    "imports",
    [
        "import vl3d_focal.losses\nimport keras",
        "import keras\nimport vl3d_focal.losses",
        "import vl3d_focal.losses.softmax_logits\nimport keras",  # a module of the package imports Keras first
    ],
)
def test_importing_the_losses_in_either_order_with_keras_is_enough_to_load_a_keras_file(tmp_path, imports):
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer="sgd", loss=ClassWeightedFocalCategoricalCrossentropy(class_weight=ALPHA, gamma=1.5))
    model.save(tmp_path / "model.keras")
    one_vs_all = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    one_vs_all.compile(optimizer="sgd", loss=MultiCategoryFocalCrossentropy(class_counts=[3, 1, 2, 5]))
    one_vs_all.save(tmp_path / "one_vs_all.keras")
    code = (
        f"import sys\n{imports}\n"
        "tensorflow_imported = 'tensorflow' in sys.modules\n"
        f"paths = {[str(tmp_path / name) for name in ('model.keras', 'one_vs_all.keras')]!r}\n"
        "loaded = [keras.models.load_model(path).loss for path in paths]\n"
        "print(tensorflow_imported, [type(loss).__name__ for loss in loaded], loaded[0].gamma)"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == (
        f"{BACKEND == 'tensorflow'} ['ClassWeightedFocalCategoricalCrossentropy', 'MultiCategoryFocalCrossentropy'] 1.5"
    )


def test_loss_distribution_error_is_exported():
    assert issubclass(LossDistributionError, RuntimeError) and "LossDistributionError" in vl3d_focal.losses.__all__


def test_label_outside_the_classes_raises_eagerly():
    loss = ClassWeightedFocalCategoricalCrossentropy(from_logits=True)
    with pytest.raises(LossArgumentError, match=r"expected integers in \[0, 3\)\. Received label value 5 at 1 point$"):
        loss(np.array([[0, 1, 5]]), np.zeros((1, 3, 3), np.float32))


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit: the one place where no check can raise")
def test_label_outside_the_classes_is_nan_under_jax_jit():
    import jax

    loss = ClassWeightedFocalCategoricalCrossentropy(from_logits=True)
    value = jax.jit(lambda z: loss(np.array([[0, 1, 5]]), z))(np.zeros((1, 3, 3), np.float32))
    assert np.isnan(float(value))
