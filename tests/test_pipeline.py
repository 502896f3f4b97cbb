"""Unit tests of the pipeline runner's own logic (vl3d_focal.runner.pipeline and vl3d_focal.steps)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import vl3d_focal.losses  # noqa: F401  (registers the built-in losses)
import vl3d_focal.models  # noqa: F401  (registers the built-in models)
from vl3d_focal.config.prefixes import cloud_prefixes, expand_output, model_prefix
from vl3d_focal.errors import DataError
from vl3d_focal.inference.classified_output import probability_dimension
from vl3d_focal.inference.network import predict_fields
from vl3d_focal.registry import LOSSES, MODELS, Registry
from vl3d_focal.reports.files import evaluation_files
from vl3d_focal.runner.pipeline import step_entries
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.training import targets
from vl3d_focal.training.callbacks import build_callbacks
from vl3d_focal.training.datasets import make_dataset
from vl3d_focal.training.fields import LabelledFields, split_fields
from vl3d_focal.training.optimizers import build_learning_rate, build_optimizer
from vl3d_focal.training.targets import class_counts, format_targets, plan_loss

# --- output prefixes ---------------------------------------------------------------------


def test_one_prefix_per_input_is_used_as_is():
    assert cloud_prefixes(inputs=["d/a.las", "d/b.laz"], prefixes=["o/a_", "o/b_"]) == ["o/a_", "o/b_"]


def test_one_prefix_for_several_inputs_adds_the_input_stem():
    assert cloud_prefixes(inputs=["d/a.las", "e/b.laz"], prefixes=["out/"]) == ["out/a/", "out/b/"]


def test_one_prefix_for_one_input_is_the_prefix():
    assert cloud_prefixes(inputs=["d/a.las"], prefixes=["out/run_"]) == ["out/run_"]


def test_model_outputs_go_to_the_first_prefix():
    assert model_prefix(inputs=["a.las", "b.las"], prefixes=["o1/", "o2/"]) == "o1/"
    assert expand_output("*model/m.keras", prefix="o1/") == "o1/model/m.keras"


def test_star_paths_expand_and_plain_paths_stay():
    assert expand_output("*predicted.laz", prefix="out/a/") == "out/a/predicted.laz"
    assert expand_output("/data/x.laz", prefix="out/") == "/data/x.laz"


def test_wrong_number_of_prefixes_is_a_data_error():
    with pytest.raises(DataError, match=r"expected 1 prefix or one per input \(3\), got 2"):
        cloud_prefixes(inputs=["a", "b", "c"], prefixes=["x/", "y/"])


def test_two_inputs_of_one_prefix_are_refused():
    # the second cloud's outputs would replace the first's (they did, silently)
    with pytest.raises(DataError, match=r"d/a.las and e/a.laz have the same name: .* go to 'out/a/'"):
        cloud_prefixes(inputs=["d/a.las", "e/a.laz"], prefixes=["out/"])
    with pytest.raises(DataError, match=r"out_pcloud: a.las and b.las would both write their outputs under './o/'"):
        cloud_prefixes(inputs=["a.las", "b.las"], prefixes=["o/", "./o/"])
    with pytest.raises(DataError, match=r"in_pcloud: d/a.las is listed twice"):
        cloud_prefixes(inputs=["d/a.las", "d/../d/a.las"], prefixes=["out/"])
    assert cloud_prefixes(inputs=["a.las", "b.las"], prefixes=["o/a", "o/a/"]) == ["o/a", "o/a/"]


def test_topdown_picture_goes_beside_the_report():
    assert evaluation_files("o/eval/evaluation.json")["topdown_svg"].as_posix() == "o/eval/evaluation_topdown.svg"


# --- label formats -----------------------------------------------------------------------


def test_sparse_targets_zero_weight_for_ignored_points():
    labels = np.array([[0, -1, 2], [-1, 1, 1]])
    y, w = format_targets(labels, num_classes=3, label_format="sparse")
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[0, 0, 2], [0, 1, 1]])
    np.testing.assert_array_equal(w, [[1, 0, 1], [0, 1, 1]])


def test_one_hot_targets_have_zero_rows_for_ignored_points():
    y, w = format_targets(np.array([1, -1, 0]), num_classes=2, label_format="one_hot")
    np.testing.assert_array_equal(y, [[0, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(w, [1, 0, 1])


def test_unknown_label_format_names_the_known_ones():
    with pytest.raises(DataError, match=r"\['one_hot', 'sparse'\], got 'dense'"):
        format_targets(np.array([0]), num_classes=2, label_format="dense")


def _loss_value(loss, labels, logits, *, label_format, num_classes):
    y, w = format_targets(labels, num_classes=num_classes, label_format=label_format)
    return float(loss(y, logits, sample_weight=w))


@pytest.mark.parametrize(
    "loss_spec",
    [
        {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 2.0},
        {"function": "categorical_crossentropy", "reduction": "sum"},
        {"function": "sparse_categorical_crossentropy", "reduction": "sum"},
    ],
)
def test_ignored_points_contribute_nothing_to_any_registered_loss(loss_spec):
    """Through the label format of each loss's metadata, a batch with ignored points gives the
    loss of the same batch without them (numerator and normalisation)."""
    rng = np.random.default_rng(0)
    labels = np.array([[0, 2, -1, 1, -1, 2]])
    logits = rng.normal(size=(1, 6, 3)).astype("float32")
    entry = LOSSES.get(loss_spec["function"])
    weights = [1.0, 3.0, 0.5] if entry.metadata["takes_class_weight"] else None
    loss = LOSSES.build(loss_spec, num_classes=3, class_weight=weights, from_logits=True)
    fmt = entry.metadata["label_format"]
    kept = labels[0] >= 0
    with_ignored = _loss_value(loss, labels, logits, label_format=fmt, num_classes=3)
    without = _loss_value(loss, labels[:, kept], logits[:, kept], label_format=fmt, num_classes=3)
    assert with_ignored == pytest.approx(without, rel=1e-5)


def test_class_counts_leave_ignored_points_out():
    np.testing.assert_array_equal(
        class_counts([np.array([0, 0, -1, 2]), np.array([-1, 2])], num_classes=4), [2, 0, 2, 0]
    )


# --- class weights wired through registry metadata --------------------------------------


class _Recorder:
    """A fake loss builder remembering what the pipeline passed to it."""

    def __init__(self):
        self.calls = []

    def __call__(self, *, class_weight=None, num_classes=None, from_logits=False, gamma=2.0):
        self.calls.append(
            {"class_weight": class_weight, "num_classes": num_classes, "from_logits": from_logits, "gamma": gamma}
        )
        return "built"


@pytest.fixture
def fake_losses(monkeypatch):
    registry = Registry(kind="loss", key="function")
    recorders = {"sparse_weighted": _Recorder(), "onehot_unweighted": _Recorder(), "onehot_named_sparse": _Recorder()}
    metadata = {
        "sparse_weighted": {"label_format": "sparse", "takes_class_weight": True},
        "onehot_unweighted": {"label_format": "one_hot", "takes_class_weight": False},
        # the name says "sparse"; only the metadata may decide
        "onehot_named_sparse": {"label_format": "one_hot", "takes_class_weight": True},
    }
    for name, recorder in recorders.items():
        registry.register_module(name, schema={"type": "object"}, metadata=metadata[name])(recorder)
    monkeypatch.setattr(targets, "LOSSES", registry)
    return recorders


def test_strategy_weights_are_computed_from_the_training_counts(fake_losses):
    counts = np.array([600, 300, 100])
    plan = plan_loss(
        loss_spec={"function": "sparse_weighted", "class_weight": "BALANCED", "gamma": 1.5},
        model_handling={},
        class_names=["a", "b", "c"],
        counts=counts,
        from_logits=True,
    )
    expected = counts.sum() / (3 * counts)
    np.testing.assert_allclose(plan.class_weight, expected)
    call = fake_losses["sparse_weighted"].calls[-1]
    np.testing.assert_allclose(call["class_weight"], expected)
    assert call["num_classes"] == 3 and call["from_logits"] is True and call["gamma"] == 1.5
    assert plan.label_format == "sparse" and plan.class_weight_source == "loss"


def test_from_logits_follows_the_model_unless_the_loss_entry_says(fake_losses):
    for given, model_emits_logits, expected in ((None, True, True), (None, False, False), (False, False, False)):
        spec = {"function": "sparse_weighted", **({} if given is None else {"from_logits": given})}
        plan_loss(
            loss_spec=spec,
            model_handling={},
            class_names=["a", "b"],
            counts=np.array([1, 1]),
            from_logits=model_emits_logits,
        )
        assert fake_losses["sparse_weighted"].calls[-1]["from_logits"] is expected


def test_model_handling_weights_are_used_when_the_loss_gives_none(fake_losses):
    plan = plan_loss(
        loss_spec={"function": "sparse_weighted"},
        model_handling={"class_weight": {"a": 1.0, "b": 4.0}},
        class_names=["a", "b"],
        counts=np.array([5, 5]),
        from_logits=True,
    )
    assert plan.class_weight == [1.0, 4.0] and plan.class_weight_source == "model_handling"
    assert fake_losses["sparse_weighted"].calls[-1]["class_weight"] == [1.0, 4.0]


def test_the_loss_entry_weights_win_over_model_handling(fake_losses):
    plan = plan_loss(
        loss_spec={"function": "sparse_weighted", "class_weight": [2.0, 1.0]},
        model_handling={"class_weight": [9.0, 9.0]},
        class_names=["a", "b"],
        counts=np.array([5, 5]),
        from_logits=True,
    )
    assert plan.class_weight == [2.0, 1.0]


def test_a_loss_without_class_weights_gets_none(fake_losses, caplog):
    plan = plan_loss(
        loss_spec={"function": "onehot_unweighted"},
        model_handling={"class_weight": "balanced"},
        class_names=["a", "b"],
        counts=np.array([5, 15]),
        from_logits=True,
    )
    assert plan.class_weight is None and plan.label_format == "one_hot"
    assert fake_losses["onehot_unweighted"].calls[-1]["class_weight"] is None
    assert "takes no class weights" in caplog.text


def test_label_format_comes_from_metadata_not_from_the_name(fake_losses):
    plan = plan_loss(
        loss_spec={"function": "onehot_named_sparse"},
        model_handling={},
        class_names=["a", "b"],
        counts=np.array([1, 1]),
        from_logits=True,
    )
    assert plan.label_format == "one_hot" and plan.class_weight is None


def test_class_weights_file_lists_counts_and_weights(fake_losses, tmp_path):
    counts = np.array([30, 10])
    plan = plan_loss(
        loss_spec={"function": "sparse_weighted", "class_weight": "balanced"},
        model_handling={},
        class_names=["g", "p"],
        counts=counts,
        from_logits=True,
    )
    out = targets.write_class_weights(
        tmp_path / "cw.json",
        plan=plan,
        loss_spec={"function": "sparse_weighted"},
        class_names=["g", "p"],
        counts=counts,
    )
    doc = json.loads(out.read_text())
    assert doc["class_counts"] == {"g": 30, "p": 10}
    assert doc["class_weight"] == pytest.approx({"g": 40 / 60, "p": 40 / 20})


# --- training machinery -----------------------------------------------------------------


def test_validation_split_is_seeded_and_disjoint():
    data = LabelledFields(
        np.arange(20 * 2 * 3, dtype="float32").reshape(20, 2, 3),
        np.zeros((20, 2, 0), "float32"),
        np.arange(40).reshape(20, 2),
    )
    train, val = split_fields(data, fraction=0.25, seed=3)
    train2, val2 = split_fields(data, fraction=0.25, seed=3)
    assert len(val.labels) == 5 and len(train.labels) == 15
    np.testing.assert_array_equal(val.labels, val2.labels)
    rows = np.concatenate([train.labels[:, 0], val.labels[:, 0]]) // 2
    assert sorted(rows.tolist()) == list(range(20))


def test_no_split_without_a_fraction():
    data = LabelledFields(np.zeros((4, 2, 3)), np.zeros((4, 2, 0)), np.zeros((4, 2), int))
    assert split_fields(data, fraction=0.0, seed=0)[1] is None


def test_exponential_decay_learning_rate():
    spec = {
        "schedule": "exponential_decay",
        "schedule_args": {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5},
    }
    assert float(build_learning_rate(spec)(8)) == pytest.approx(0.1 * 0.5**2)
    opt = build_optimizer({"algorithm": "SGD", "learning_rate": spec})
    assert type(opt).__name__ == "SGD" and float(opt.learning_rate) == pytest.approx(0.1)


def test_constant_learning_rate():
    assert float(build_optimizer({"algorithm": "Adam", "learning_rate": 0.003}).learning_rate) == pytest.approx(0.003)


def test_val_monitors_fall_back_without_validation(tmp_path):
    handling = {
        "checkpoint_monitor": "val_loss",  # as a normalised spec gives it (schema defaults)
        "early_stopping": {
            "monitor": "val_loss",
            "mode": "auto",
            "patience": 2,
            "min_delta": 0.0,
            "baseline": None,
            "restore_best_weights": False,
            "start_from_epoch": 0,
        },
        "learning_rate_on_plateau": None,
        "reduce_lr_on_plateau": {
            "monitor": "val_loss",
            "mode": "auto",
            "factor": 0.5,
            "patience": 3,
            "cooldown": 0,
            "min_delta": 1e-4,
            "min_lr": 0.0,
        },
    }
    cbs = build_callbacks(
        model_handling=handling,
        has_validation=False,
        history_csv=tmp_path / "h.csv",
        checkpoint_path=tmp_path / "b.weights.h5",
        schedule_in_use=False,
    )
    assert [type(cb).__name__ for cb in cbs] == ["BestWeights", "EarlyStopping", "ReduceLROnPlateau", "HistoryWriter"]
    assert all(cb.monitor == "loss" for cb in cbs[:-1])


def test_dataset_shuffle_is_seeded():
    x = np.arange(10, dtype="float32").reshape(10, 1, 1)
    first = [
        b[0][0].numpy().ravel().tolist()
        for b in make_dataset(
            [x], targets=np.zeros((10, 1)), sample_weight=np.ones((10, 1)), batch_size=10, shuffle=True, seed=5
        )
    ]
    again = [
        b[0][0].numpy().ravel().tolist()
        for b in make_dataset(
            [x], targets=np.zeros((10, 1)), sample_weight=np.ones((10, 1)), batch_size=10, shuffle=True, seed=5
        )
    ]
    assert first == again and sorted(first[0]) == list(range(10))


def test_training_datasets_run_no_autotuning_thread():
    """Releasing an iterator waited for tf.data's autotuning thread to wake (seconds idle after a
    fit): the in-memory fields have nothing to tune."""
    from vl3d_focal.training.datasets import epoch_dataset

    x, y, w = np.zeros((4, 2, 3), "float32"), np.zeros((4, 2), "int32"), np.ones((4, 2), "float32")
    made = [
        make_dataset([x], targets=y, sample_weight=w, batch_size=2, shuffle=True, seed=1),
        epoch_dataset([x], targets=y, sample_weight=w, batch_size=2, seed=1, first_epoch=0, epochs=2),
    ]
    assert [dataset.options().autotune.enabled for dataset in made] == [False, False]
    assert [len(list(dataset)) for dataset in made] == [2, 4]


# --- prediction ---------------------------------------------------------------------------


def test_chunked_prediction_equals_one_shot():
    model = MODELS.build(
        {
            "train": "PointNetPwiseClassifier",
            "num_pwise_feats": 8,
            "pretransf_feats_spec": [{"filters": 8}],
            "postransf_feats_spec": [{"filters": 16}],
            "tnet_pre_filters_spec": [8],
            "tnet_post_filters_spec": [8],
        },
        num_points=16,
        num_features=2,
        num_classes=4,
        random_seed=1,
    )
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(11, 16, 3)).astype("float32")
    feats = rng.normal(size=(11, 16, 2)).astype("float32")
    one_shot = keras.ops.convert_to_numpy(keras.ops.softmax(model([coords, feats], training=False), axis=-1))
    for batch_size in (1, 3, 4, 11, 50):
        chunked = predict_fields(model, (coords, feats), batch_size=batch_size)
        assert chunked.shape == (11, 16, 4)
        np.testing.assert_allclose(chunked, one_shot, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_shot.sum(-1), 1.0, rtol=1e-5)


# --- dispatch and writers -----------------------------------------------------------------


def test_steps_are_dispatched_by_kind_key():
    found = step_entries(
        {"sequential_pipeline": [{"writer": "ClassifiedPcloudWriter"}, {"train": "PointNetPwiseClassifier"}]}
    )
    assert [(kind, entry.name) for kind, entry in found] == [("writer", "ClassifiedPcloudWriter"), ("train", "train")]


def test_unknown_step_value_or_kind_is_refused_before_any_work():
    for step in ({"writer": "Nope"}, {"report_path": "x"}):
        with pytest.raises(DataError, match=r"sequential_pipeline\[1\]: not a registered step"):
            step_entries({"sequential_pipeline": [{"eval": "ClassificationEvaluator"}, step]})


def test_a_writer_before_any_model_says_what_is_missing():
    with pytest.raises(DataError, match="step 'PredictiveModelWriter' needs a model"):
        PipelineState(clouds=[], model_prefix="").require_bundle(step="PredictiveModelWriter")


def test_probability_dimension_names_fit_las_extra_bytes():
    assert probability_dimension("high vegetation") == "prob_high_vegetation"
    assert len(probability_dimension("x" * 60)) == 32


# --- model file and architecture arguments -------------------------------------------------


def test_architecture_args_are_those_the_model_schema_declares():
    from vl3d_focal.training.job import architecture_args

    model_args = {
        "num_classes": 3,
        "class_names": ["a", "b", "c"],
        "num_pwise_feats": 8,
        "pretransf_feats_spec": [{"filters": 4}],
        "model_handling": {},
        "compilation_args": {},
        "pre_processing": {},
    }
    declared = set(MODELS.get("PointNetPwiseClassifier").schema["properties"])
    picked = architecture_args(model_name="PointNetPwiseClassifier", model_args=model_args)
    assert picked == {"num_pwise_feats": 8, "pretransf_feats_spec": [{"filters": 4}]}
    assert set(picked) <= declared


def test_a_keras_file_without_pipeline_metadata_is_refused(tmp_path):
    from vl3d_focal.models.model_file import METADATA_MEMBER, read_metadata

    path = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(DataError, match=f"written by PredictiveModelWriter \\(with a {METADATA_MEMBER} member\\)"):
        read_metadata(path)
    with pytest.raises(DataError, match="no such file"):
        read_metadata(tmp_path / "missing.keras")
