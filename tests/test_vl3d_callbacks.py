"""VL3D's model_handling callbacks do what VL3D's do: plateau (mode, cooldown, min_delta, min_lr),
early stopping (mode), checkpoint_path (the best model, loadable), metrics, verbosity.

The callbacks are driven directly with scripted epoch logs: deterministic and fast."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from vl3d_focal.config.normalise import apply_defaults
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.models.model_file import load_bundle
from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier
from vl3d_focal.training.callbacks import BestWeights, build_callbacks, checkpoint_writer, monitor_mode
from vl3d_focal.training.datasets import fit_verbosity
from vl3d_focal.training.metrics import build_metrics
from vl3d_focal.training.targets import plan_loss


def _handling(**given) -> dict:
    """``model_handling`` as a normalised spec gives it: the schema defaults filled in."""
    spec = {
        "in_pcloud": ["a.las"],
        "out_pcloud": ["o/"],
        "sequential_pipeline": [
            {
                "train": "PointNetPwiseClassifier",
                "model_args": {
                    "num_classes": 2,
                    "pre_processing": {"neighborhood": {"radius": 1.0}},
                    "model_handling": given,
                    "compilation_args": {"loss": {"function": "class_weighted_focal_categorical_crossentropy"}},
                },
            }
        ],
    }
    return apply_defaults(spec)["sequential_pipeline"][0]["model_args"]["model_handling"]


def _model(learning_rate: float = 1.0) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model


def _drive(callback, logs: list[dict]) -> list[float]:
    """Feeds epoch logs to a callback; the learning rate after each epoch."""
    model = _model()
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, log in enumerate(logs):
        callback.on_epoch_end(epoch, dict(log))
        rates.append(float(model.optimizer.learning_rate))
    return rates


def _plateau(**settings):
    handling = _handling(learning_rate_on_plateau={"monitor": "loss", "factor": 0.5, "patience": 1, **settings})
    callbacks = build_callbacks(
        model_handling=handling,
        has_validation=False,
        history_csv=Path("h.csv"),
        checkpoint_path=None,
        schedule_in_use=False,
    )
    return callbacks[-2]


def test_plateau_reduces_the_rate_every_patience_epochs_and_waits_the_cooldown():
    flat = [{"loss": 1.0}] * 6
    assert _drive(_plateau(), flat) == pytest.approx([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125])
    # after a reduction, cooldown epochs are waited before counting the patience again
    assert _drive(_plateau(cooldown=2), flat) == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25, 0.125])


def test_plateau_min_delta_counts_small_gains_as_no_improvement_and_min_lr_bounds_the_rate():
    creeping = [{"loss": 1.0 - 0.003 * epoch} for epoch in range(4)]
    assert _drive(_plateau(min_delta=0.01), creeping) == pytest.approx([1.0, 0.5, 0.25, 0.125])
    assert _drive(_plateau(min_delta=0.001), creeping) == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert _drive(_plateau(min_lr=0.3), [{"loss": 1.0}] * 4) == pytest.approx([1.0, 0.5, 0.3, 0.3])


def test_plateau_mode_max_watches_an_increasing_quantity():
    rising = [{"loss": 1.0, "accuracy": 0.5 + 0.1 * epoch} for epoch in range(3)]
    assert _drive(_plateau(monitor="accuracy", mode="max"), rising) == pytest.approx([1.0, 1.0, 1.0])
    assert _drive(_plateau(monitor="accuracy", mode="min"), rising) == pytest.approx([1.0, 0.5, 0.25])
    assert _drive(_plateau(monitor="accuracy"), rising) == pytest.approx([1.0, 1.0, 1.0])  # auto: accuracies rise


def _stopping(**settings):
    handling = _handling(early_stopping={"patience": 1, **settings})
    callbacks = build_callbacks(
        model_handling=handling,
        has_validation=False,
        history_csv=Path("h.csv"),
        checkpoint_path=None,
        schedule_in_use=False,
    )
    return callbacks[-2]


def _stopped_at(callback, values: list[float]) -> int | None:
    model = _model()
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"loss": 1.0, "categorical_accuracy": value})
        if model.stop_training:
            return epoch
    return None


def test_early_stopping_mode_max_stops_when_the_accuracy_stops_rising():
    accuracies = [0.5, 0.6, 0.7, 0.65, 0.8]
    assert _stopped_at(_stopping(monitor="categorical_accuracy", mode="max"), accuracies) == 3
    assert _stopped_at(_stopping(monitor="categorical_accuracy", mode="min"), accuracies) == 1
    assert _stopped_at(_stopping(monitor="categorical_accuracy", mode="max", patience=2), accuracies) is None
    assert _stopped_at(_stopping(monitor="categorical_accuracy", mode="max", start_from_epoch=4), accuracies) is None


def test_auto_mode_follows_the_quantity_name():
    assert [
        monitor_mode(m, "auto") for m in ("loss", "val_loss", "val_categorical_accuracy", "precision", "recall")
    ] == ["min", "min", "max", "max", "max"]


def _bundle() -> ModelBundle:
    model = build_pointnet_pwise_classifier(
        num_points=8,
        num_features=0,
        num_classes=2,
        num_pwise_feats=4,
        pretransf_feats_spec=[{"filters": 4}],
        postransf_feats_spec=[{"filters": 4}],
        tnet_pre_filters_spec=[],
        tnet_post_filters_spec=[],
        random_seed=1,
    )
    mapping = ClassMapping(names=["ground", "other"], codes=[[2], [6]])
    return ModelBundle(
        model=model,
        feature_names=[],
        normalizer=None,
        field_spec=FieldSpec(num_points=8, radius=1.0),
        mapping=mapping,
        class_names=list(mapping.names),
    )


@pytest.mark.parametrize("name", ["checkpoint.model.keras", "checkpoint.weights.h5", "checkpoint.model"])
def test_checkpoint_path_receives_the_best_epoch_and_loads(tmp_path, name, caplog):
    bundle = _bundle()
    target = tmp_path / "out" / name
    best = BestWeights(
        None, network=bundle.model, monitor="loss", also=checkpoint_writer(target, bundle=lambda: bundle)
    )
    best.set_model(bundle.model)
    x = [np.random.default_rng(0).normal(size=(1, 8, 3)).astype("float32"), np.zeros((1, 8, 0), "float32")]
    best.on_epoch_end(0, {"loss": 0.9})
    expected = np.asarray(bundle.model(x))
    bundle.model.set_weights([w + 1.0 for w in bundle.model.get_weights()])  # a worse epoch: not saved
    best.on_epoch_end(1, {"loss": 1.2})
    assert target.is_file() and not [p for p in target.parent.iterdir() if ".partial" in p.name]
    if name.endswith(".weights.h5"):
        bundle.model.load_weights(target)
        np.testing.assert_allclose(np.asarray(bundle.model(x)), expected, rtol=1e-5, atol=1e-6)
    else:  # a .keras archive under any name (VL3D's checkpoint.model too), loaded by that name
        assert zipfile.is_zipfile(target) and "vl3d_focal.json" in zipfile.ZipFile(target).namelist()
        loaded = load_bundle(target)
        assert loaded.class_names == ["ground", "other"]
        np.testing.assert_allclose(np.asarray(loaded.model(x)), expected, rtol=1e-5, atol=1e-6)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_checkpoint_keeps_the_highest_accuracy_in_auto_mode():
    best = BestWeights(None, network=None, monitor="val_categorical_accuracy")
    for epoch, value in enumerate([0.3, 0.7, 0.5]):
        best.on_epoch_end(epoch, {"val_categorical_accuracy": value})
    assert best.best == 0.7


def test_metrics_follow_the_label_format_and_ignore_zero_weights():
    y_sparse = np.array([[0, 1, 1]])
    logits = np.log(np.array([[[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]], dtype="float32"))
    weights = np.array([[1.0, 1.0, 0.0]], dtype="float32")  # the third point is ignored
    for label_format, y in (("sparse", y_sparse), ("one_hot", np.eye(2, dtype="float32")[y_sparse])):
        metrics = build_metrics(
            ["categorical_accuracy", "sparse_categorical_accuracy", "precision", "recall"],
            label_format=label_format,
            num_classes=2,
            from_logits=True,
        )
        values = {}
        for metric in metrics:
            metric.update_state(y, logits, sample_weight=weights)
            values[metric.name] = float(metric.result())
        assert values == pytest.approx(
            {"categorical_accuracy": 1.0, "sparse_categorical_accuracy": 1.0, "precision": 1.0, "recall": 1.0}
        ), label_format
    recall = build_metrics(["recall"], label_format="sparse", num_classes=2, from_logits=True)[0]
    recall.update_state(y_sparse, logits)  # unweighted: the third point (class 1, p=0.3) is missed
    assert float(recall.result()) == pytest.approx(2 / 3)


@pytest.mark.parametrize("label_format", ["sparse", "one_hot"])
def test_binary_loss_metrics_are_those_of_class_1_as_vl3d_sigmoid_output(label_format):
    rng = np.random.default_rng(3)
    labels = (rng.random((4, 50)) < 0.2).astype(int)  # class 1 rare
    logits = (rng.normal(size=(4, 50, 2)) + [0.0, 1.0]).astype("float32")  # class 1 predicted more often
    weights = (rng.random((4, 50)) > 0.2).astype("float32")  # some points ignored
    p1 = np.exp(logits[..., 1].astype("float64")) / np.exp(logits.astype("float64")).sum(-1)
    kept, predicted = weights > 0, p1 > 0.5
    tp = np.sum(kept & predicted & (labels == 1))
    expected = {
        "precision": tp / np.sum(kept & predicted),
        "recall": tp / np.sum(kept & (labels == 1)),
        "binary_accuracy": np.mean((predicted == (labels == 1))[kept]),
    }
    accuracy = np.mean((logits.argmax(-1) == labels)[kept])
    assert expected["precision"] < accuracy - 0.1 and expected["recall"] > accuracy + 0.1  # not the accuracy
    y = labels if label_format == "sparse" else np.eye(2, dtype="float32")[labels]
    plans = {
        name: plan_loss(
            loss_spec={"function": name},
            model_handling={},
            class_names=["a", "b"],
            counts=np.array([5, 5]),
            from_logits=True,
        )
        for name in ("class_weighted_binary_crossentropy", "class_weighted_categorical_crossentropy")
    }
    assert plans["class_weighted_categorical_crossentropy"].positive_class is None
    plan = plans["class_weighted_binary_crossentropy"]
    metrics = build_metrics(
        ["precision", "recall", "binary_accuracy"],
        label_format=label_format,
        num_classes=2,
        from_logits=True,
        positive_class=plan.positive_class,
    )
    values = {}
    for metric in metrics:
        metric.update_state(y, logits, sample_weight=weights)
        values[metric.name] = float(metric.result())
    assert values == pytest.approx(expected, abs=1e-6)


def test_fit_verbose_is_passed_to_keras_when_given():
    assert [fit_verbosity(v) for v in (0, 1, 2, "auto")] == [0, 1, 2, "auto"]
    assert fit_verbosity(None) in (1, 2)


def test_architecture_graph_is_drawn_where_plot_model_works_else_summarised_once(tmp_path, monkeypatch, caplog):
    from vl3d_focal.training import model_reports

    model = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2, name="out")])
    drawn = {}

    def fake_plot_model(network, *, to_file, **args):  # pydot and graphviz present
        drawn.update(args)
        Path(to_file).write_bytes(b"\x89PNG\r\n\x1a\n")

    monkeypatch.setattr(keras.utils, "plot_model", fake_plot_model)
    picture = model_reports.write_architecture_graph(model, tmp_path / "graph.png", args={"dpi": 300, "rankdir": "LR"})
    assert (
        picture == tmp_path / "graph.png"
        and picture.read_bytes()[:4] == b"\x89PNG"
        and drawn == {"dpi": 300, "rankdir": "LR"}
    )

    def missing(network, **args):
        raise ImportError("You must install pydot (`pip install pydot`) for `plot_model` to work.")

    monkeypatch.setattr(keras.utils, "plot_model", missing)
    text = model_reports.write_architecture_graph(model, tmp_path / "other.svg", args={})
    assert text == tmp_path / "other.txt" and "out (Dense)" in text.read_text()
    assert not (tmp_path / "other.svg").exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    assert len([r for r in caplog.records if "install pydot and graphviz" in r.getMessage()]) == 1


def test_plateau_with_a_schedule_records_the_scheduled_rate_in_the_history(tmp_path):
    handling = _handling(learning_rate_on_plateau={"monitor": "loss", "patience": 2000})
    callbacks = build_callbacks(
        model_handling=handling,
        has_validation=False,
        history_csv=tmp_path / "h.csv",
        checkpoint_path=None,
        schedule_in_use=True,
    )
    assert [type(cb).__name__ for cb in callbacks] == ["LearningRateLog", "HistoryWriter"]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    for callback in callbacks:
        callback.set_model(model)
    for epoch in range(3):
        model.train_on_batch(np.zeros((1, 2)), np.zeros((1, 1)))  # one step: the schedule halves the rate
        logs = {"loss": 1.0}
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,learning_rate"
    assert [float(row.split(",")[2]) for row in rows[1:]] == pytest.approx([0.5, 0.25, 0.125])


def test_the_history_counts_epochs_from_1_like_the_logs_and_vl3d_also_when_resumed(tmp_path):
    from vl3d_focal.reports.html_training import training_section
    from vl3d_focal.training.callbacks import HistoryWriter

    writer = HistoryWriter(tmp_path / "h.csv")
    for epoch in range(2):  # Keras' epoch indices 0, 1: "Epoch 1/3", "Epoch 2/3"
        writer.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    resumed = HistoryWriter(tmp_path / "h.csv", rows=writer.rows)
    resumed.on_epoch_end(1, {"loss": 0.4})  # epoch 2 trained again: its row is replaced
    resumed.on_epoch_end(2, {"loss": 0.3})
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines == ["epoch,loss", "1,1.0", "2,0.4", "3,0.3"]
    training = {"model": "PointNetPwiseClassifier", "loss": {}, "class_names": ["a", "b"], "class_counts": [3, 1]}
    html = training_section({}, {**training, "history": resumed.rows}, folder=tmp_path)
    assert ">1<" in html and ">3<" in html and ">0<" not in html  # the chart's epoch axis: 1 to 3
