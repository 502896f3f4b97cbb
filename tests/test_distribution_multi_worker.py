"""``multi_worker_mirrored`` really run: two worker processes on localhost vs one process, one device.

Three processes run ``vl3d-focal run spec.json`` (this file run as a script, which records what
the loss of every step sees, then calls the CLI) on copies of the same spec and data, each in
its own folder, as on separate machines: two workers of a ``TF_CONFIG`` cluster on
127.0.0.1 (free ports picked at run time, CPU only, one device each) training with
``"distribution": {"strategy": "multi_worker_mirrored"}``, and one single-device process
training with ``one_device``. The spec has a feature T-Net (BatchNormalization everywhere and
the orthogonality penalty), SGD, global batches of 8 whose last batches split unevenly
between the workers, and a validation set.

The tests check that the workers see complementary halves of the single process's global
batches (with different class mixtures), that the reported losses and the weights after
training are those of the single process within float32 tolerance, and that only the
chief (worker 0) writes outputs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_resume import small_spec

EPOCHS = 2
BATCH_SIZE = 8
TIMEOUT_S = 900
"""Only a guard against a hung collective: generous, so that a loaded machine never trips it."""
WEIGHT_TOLERANCE = 1e-4
"""Absolute and relative tolerance on the weights: float32 sums taken in another order (each
worker reduces its half of the batch, then the halves are summed) differ from the single
device's in the last bits, and 20 SGD steps carry that forward; observed: about 1e-5."""
LOSS_RTOL = 2e-5


def _spec(strategy: str) -> dict:
    spec = small_spec(epochs=EPOCHS, batch_size=BATCH_SIZE)
    train = spec["sequential_pipeline"][1]
    train["distribution"] = {"strategy": strategy}
    args = train["model_args"]
    args["tnet_pre_filters_spec"], args["tnet_post_filters_spec"] = [8], [8]
    args["model_handling"]["validation_split"] = 0.25
    args["compilation_args"]["optimizer"] = {"algorithm": "SGD", "learning_rate": 0.05}
    return spec


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start(folder: Path, *, tf_config: dict | None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "record.json"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from vl3d_focal.data.synthetic import write_demo_scene

    try:
        ports = _free_ports(2)
    except OSError as err:
        pytest.skip(f"cannot open local TCP ports on 127.0.0.1 for the gRPC workers ({err})")
    root = tmp_path_factory.mktemp("multi_worker")
    scene = write_demo_scene(root / "scene.las", seed=2, size_m=20.0, density=4.0)
    folders = {name: root / name for name in ("worker0", "worker1", "single")}
    for name, folder in folders.items():
        (folder / "data").mkdir(parents=True)
        shutil.copy(scene, folder / "data" / "scene.las")
        strategy = "one_device" if name == "single" else "multi_worker_mirrored"
        (folder / "spec.json").write_text(json.dumps(_spec(strategy)))
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = {
        "worker0": _start(folders["worker0"], tf_config={"cluster": cluster, "task": {"type": "worker", "index": 0}}),
        "worker1": _start(folders["worker1"], tf_config={"cluster": cluster, "task": {"type": "worker", "index": 1}}),
        "single": _start(folders["single"], tf_config=None),
    }
    errors = {}
    try:
        for name, process in processes.items():
            _, errors[name] = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for process in processes.values():
            process.kill()
        tails = {name: process.communicate()[1][-1500:] for name, process in processes.items()}
        pytest.fail(f"a process did not finish within {TIMEOUT_S} s (hung collective?): {tails}")
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed: {errors[name][-3000:]}"
    return {
        name: {"folder": folder, "record": json.loads((folder / "record.json").read_text())}
        for name, folder in folders.items()
    }


def _history(folder: Path) -> list[dict[str, float]]:
    with open(folder / "out" / "training" / "history.csv", newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def _checkpoint(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "out" / "training" / "resume" / "checkpoint.npz") as archive:
        return {key: archive[key] for key in archive.files if key[0] in "wo"}


def test_the_workers_split_every_global_batch_of_the_single_run(runs):
    first, second, single = (runs[name]["record"] for name in ("worker0", "worker1", "single"))
    # 2 epochs of 9 training + 3 validation batches (69 and 23 fields, batches of 8)
    assert len(single) == EPOCHS * (9 + 3) and len(first) == len(second) == len(single)
    for one, two, whole in zip(first, second, single):
        assert one["rows"] + two["rows"] == whole["rows"]
        np.testing.assert_array_equal(np.add(one["histogram"], two["histogram"]), whole["histogram"])
        assert one["denominator"] + two["denominator"] == pytest.approx(whole["denominator"], rel=1e-6)
        assert one["numerator"] + two["numerator"] == pytest.approx(whole["numerator"], rel=1e-5)
    # the last batches (5 and 7 fields) are split unevenly
    assert any(one["rows"] != two["rows"] for one, two in zip(first, second))


def test_the_workers_hold_different_class_mixtures(runs):
    """Premise: averaging per-worker ratios would not give the global loss."""
    first, second = runs["worker0"]["record"], runs["worker1"]["record"]
    gaps = []
    for one, two in zip(first, second):
        if min(one["denominator"], two["denominator"]) > 0:
            average = (one["numerator"] / one["denominator"] + two["numerator"] / two["denominator"]) / 2
            ratio = (one["numerator"] + two["numerator"]) / (one["denominator"] + two["denominator"])
            gaps.append(abs(average - ratio) / ratio)
    assert len(gaps) >= len(first) // 2
    assert max(gaps) > 100 * LOSS_RTOL


def test_reported_losses_equal_the_single_device_run(runs):
    multi, single = _history(runs["worker0"]["folder"]), _history(runs["single"]["folder"])
    assert [row["epoch"] for row in multi] == [row["epoch"] for row in single] == list(range(1, EPOCHS + 1))
    for got, expected in zip(multi, single):
        assert set(got) == set(expected) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
        for key in ("loss", "val_loss", "learning_rate"):
            assert got[key] == pytest.approx(expected[key], rel=LOSS_RTOL), key
        for key in ("accuracy", "val_accuracy"):
            assert got[key] == pytest.approx(expected[key], rel=1e-5), key


def test_weights_after_training_equal_the_single_device_run(runs):
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    multi, single = _checkpoint(runs["worker0"]["folder"]), _checkpoint(runs["single"]["folder"])
    assert sorted(multi) == sorted(single)
    for key in multi:
        np.testing.assert_allclose(multi[key], single[key], rtol=WEIGHT_TOLERANCE, atol=WEIGHT_TOLERANCE, err_msg=key)
    # training moved the weights far beyond that tolerance
    args = _spec("one_device")["sequential_pipeline"][1]["model_args"]
    initial = build_pointnet_pwise_classifier(
        num_points=32,
        num_features=1,
        num_classes=5,
        random_seed=4,
        **{
            key: args[key]
            for key in (
                "num_pwise_feats",
                "pretransf_feats_spec",
                "postransf_feats_spec",
                "tnet_pre_filters_spec",
                "tnet_post_filters_spec",
            )
        },
    ).get_weights()
    assert len(initial) == sum(key.startswith("w") for key in single)
    moved = max(float(np.abs(single[f"w{i}"] - start).max()) for i, start in enumerate(initial))
    assert moved > 100 * WEIGHT_TOLERANCE


def test_only_the_chief_writes_outputs(runs):
    chief, other = runs["worker0"]["folder"], runs["worker1"]["folder"]
    for relative in (
        "training/history.csv",
        "training/class_weights.json",
        "training/resume/checkpoint.npz",
        "model/model.keras",
        "predicted.laz",
        "eval/evaluation.json",
    ):
        assert (chief / "out" / relative).is_file(), relative
    assert not (other / "out").exists()
    assert sorted(p.name for p in other.iterdir()) == ["data", "record.json", "spec.json"]


def _record_loss_inputs(records: list) -> None:
    """Wraps the loss's call so that every step appends what its loss saw to ``records``."""
    import tensorflow as tf

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy

    original = ClassWeightedFocalCategoricalCrossentropy.__call__

    def record(y_true, sample_weight, numerator, denominator):
        labels, weights = y_true.numpy(), sample_weight.numpy()
        histogram = (
            np.einsum("bpc,bp->c", labels, weights)
            if labels.ndim == 3
            else np.bincount(labels[weights > 0].ravel(), minlength=5)
        )
        records.append(
            {
                "rows": int(labels.shape[0]),
                "histogram": [float(v) for v in histogram],
                "numerator": float(numerator),
                "denominator": float(denominator),
            }
        )

    def recording(loss, y_true, y_pred, sample_weight=None):
        if isinstance(y_true, tf.Tensor):  # not Keras' symbolic build
            parts = loss.compute_parts(y_true, y_pred, sample_weight)
            tf.py_function(
                record, [y_true, sample_weight, tf.reduce_sum(parts.numerator), tf.reduce_sum(parts.denominator)], []
            )
        return original(loss, y_true, y_pred, sample_weight)

    ClassWeightedFocalCategoricalCrossentropy.__call__ = recording


if __name__ == "__main__":
    from vl3d_focal.cli import main

    seen: list = []
    _record_loss_inputs(seen)
    code = main(["run", "spec.json"])
    Path(sys.argv[1]).write_text(json.dumps(seen))
    sys.exit(code)
