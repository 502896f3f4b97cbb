"""VL3D's training_sequencer: Rotation, Scale and Jitter do what they say, per field and batch,
deterministic per (seed, epoch, batch) so that a resumed training sees the same batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from helpers import killed_process_output

from vl3d_focal.errors import DataError
from vl3d_focal.training.augmentation import Sequencer, augment_coordinates
from vl3d_focal.training.datasets import epoch_dataset

SEED = tf.constant([7, 11], tf.int64)


def _fields(count: int = 64, points: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (count, points, 3)).astype(np.float32)


def _sequencer(*transformations: dict, shuffle: bool = True) -> Sequencer:
    return Sequencer.from_config(
        {
            "type": "DLSequencer",
            "random_shuffle_indices": shuffle,
            "augmentor": {"transformations": list(transformations)},
        }
    )


def _uniform(start: float, end: float) -> dict:
    return {"type": "uniform", "start": start, "end": end}


def _apply(x: np.ndarray, sequencer: Sequencer, seed: tf.Tensor = SEED) -> np.ndarray:
    return augment_coordinates(tf.constant(x), transformations=sequencer.transformations, seed=seed).numpy()


def test_rotation_about_z_keeps_norms_and_heights_and_draws_one_angle_per_field():
    x = _fields()
    out = _apply(
        x, _sequencer({"type": "Rotation", "axis": [0, 0, 1], "angle_distribution": _uniform(-math.pi, math.pi)})
    )
    np.testing.assert_allclose(np.linalg.norm(out, axis=2), np.linalg.norm(x, axis=2), rtol=1e-5)
    np.testing.assert_allclose(out[..., 2], x[..., 2], atol=1e-6)
    angles = np.arctan2(out[..., 1], out[..., 0]) - np.arctan2(x[..., 1], x[..., 0])
    angles = np.angle(np.exp(1j * angles))  # wrapped to (-pi, pi]
    np.testing.assert_allclose(angles, np.broadcast_to(angles[:, :1], angles.shape), atol=1e-4)  # one angle per field
    assert np.ptp(angles[:, 0]) > 4.0  # and different fields get different angles over the range


def test_rotation_by_a_fixed_angle_about_a_non_unit_axis():
    quarter = {"type": "rotation", "axis": [2, 0, 0], "angle_distribution": _uniform(math.pi / 2, math.pi / 2)}
    out = _apply(np.array([[[0.0, 1.0, 0.0], [3.0, 0.0, 1.0]]], np.float32), _sequencer(quarter))
    np.testing.assert_allclose(out, [[[0.0, 0.0, 1.0], [3.0, -1.0, 0.0]]], atol=1e-6)  # about x, right-handed


def test_scale_draws_one_factor_per_field_in_range():
    x = _fields()
    out = _apply(x, _sequencer({"type": "Scale", "scale_distribution": _uniform(0.9, 1.1)}))
    ratio = np.linalg.norm(out, axis=2) / np.linalg.norm(x, axis=2)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-5)
    assert ratio.min() >= 0.9 - 1e-6 and ratio.max() <= 1.1 + 1e-6 and np.ptp(ratio[:, 0]) > 0.1


def test_jitter_adds_noise_of_the_given_mean_and_deviation():
    x = _fields()
    out = _apply(
        x, _sequencer({"type": "Jitter", "noise_distribution": {"type": "Gaussian", "mean": 0.0, "stdev": 0.01}})
    )
    noise = (out - x).ravel()
    assert abs(noise.mean()) < 5e-4 and noise.std() == pytest.approx(0.01, rel=0.05)
    shifted = _apply(
        x, _sequencer({"type": "JITTER", "noise_distribution": {"type": "normal", "mean": 0.5, "stdev": 0.0}})
    )
    np.testing.assert_allclose(shifted - x, 0.5, atol=1e-6)


def test_transformations_apply_in_the_given_order():
    scale = {"type": "Scale", "scale_distribution": _uniform(2.0, 2.0)}
    shift = {"type": "Jitter", "noise_distribution": {"type": "normal", "mean": 1.0, "stdev": 0.0}}
    x = np.zeros((1, 1, 3), np.float32)
    assert _apply(x, _sequencer(scale, shift)).ravel().tolist() == [1.0, 1.0, 1.0]
    assert _apply(x, _sequencer(shift, scale)).ravel().tolist() == [2.0, 2.0, 2.0]


def _batches(sequencer: Sequencer, *, first_epoch: int, epochs: int, seed: int = 3) -> list[np.ndarray]:
    x = _fields(count=10, points=4)
    ds = epoch_dataset(
        [x, np.arange(10, dtype=np.float32)[:, None, None]],
        targets=np.zeros((10, 4), "int32"),
        sample_weight=np.ones((10, 4), "float32"),
        batch_size=4,
        seed=seed,
        first_epoch=first_epoch,
        epochs=epochs,
        shuffle=sequencer.shuffle,
        transformations=sequencer.transformations,
    )
    return [(inputs[0].numpy(), inputs[1].numpy().ravel()) for inputs, _, _ in ds]


AUGMENT = _sequencer(
    {"type": "Rotation", "angle_distribution": _uniform(-math.pi, math.pi)},
    {"type": "Jitter", "noise_distribution": {"type": "normal", "mean": 0.0, "stdev": 0.01}},
)


def test_augmented_batches_depend_only_on_seed_epoch_and_batch():
    whole = _batches(AUGMENT, first_epoch=0, epochs=3)
    again = _batches(AUGMENT, first_epoch=0, epochs=3)
    resumed = _batches(AUGMENT, first_epoch=2, epochs=3)
    assert len(whole) == 9 and len(resumed) == 3
    for (a, ids_a), (b, ids_b) in zip(whole, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ids_a, ids_b)
    for (a, ids_a), (b, ids_b) in zip(whole[6:], resumed):
        np.testing.assert_array_equal(a, b)  # bitwise: the resumed epoch is the uninterrupted one
        np.testing.assert_array_equal(ids_a, ids_b)
    other_seed = _batches(AUGMENT, first_epoch=0, epochs=1, seed=4)
    assert not np.array_equal(other_seed[0][0], whole[0][0])
    # the same field is augmented differently in different epochs
    first = {int(i): field for x, ids in whole[:3] for i, field in zip(ids, x)}
    second = {int(i): field for x, ids in whole[3:6] for i, field in zip(ids, x)}
    assert not np.allclose(first[0], second[0])


def test_a_killed_training_leaves_no_traced_source_in_the_temporary_folder(tmp_path):
    # autograph would write the dataset's functions to temporary source files, removed only at a
    # clean exit, which a killed training (what --resume is for) never reaches
    code = (
        "import numpy as np; from vl3d_focal.training.datasets import epoch_dataset\n"
        "rotate = [{'type': 'rotation', 'axis': [0.0, 0.0, 1.0], "
        "'angle_distribution': {'type': 'uniform', 'start': 0.0, 'end': 1.0}}]\n"
        "ds = epoch_dataset([np.ones((5, 4, 3), 'float32')], targets=np.zeros((5, 4), 'int32'), "
        "sample_weight=np.ones((5, 4), 'float32'), batch_size=2, seed=1, first_epoch=0, epochs=2, "
        "transformations=rotate)\n"
        "print(sum(int(batch[1].shape[0]) for batch in ds))"
    )
    assert killed_process_output(code, temporary=tmp_path) == ("10", [])  # 5 fields, 2 epochs


def test_random_shuffle_indices_false_keeps_the_fields_order_every_epoch():
    ordered = _batches(
        _sequencer({"type": "Scale", "scale_distribution": _uniform(1.0, 1.0)}, shuffle=False), first_epoch=0, epochs=2
    )
    assert [ids.tolist() for _, ids in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    shuffled = _batches(Sequencer.from_config(None), first_epoch=0, epochs=2)
    assert np.concatenate([ids for _, ids in shuffled[:3]]).tolist() != list(range(10))


def test_sequencer_defaults_and_errors():
    assert Sequencer.from_config(None) == Sequencer(shuffle=True, transformations=())
    assert Sequencer.from_config({"type": "DLSequencer", "augmentor": None}).shuffle is False  # VL3D's default
    with pytest.raises(DataError, match="must not be"):
        _sequencer({"type": "Rotation", "axis": [0, 0, 0], "angle_distribution": _uniform(0, 1)})
    with pytest.raises(DataError, match="Shear"):
        _sequencer({"type": "Shear"})
