"""Validation of what each cloud of several writes: a loaded model's stored ``receptive_fields_dir``
without ``*`` (each cloud would overwrite the last one's field clouds) is refused, as the train
step's is; a ``Writer`` after a step of another kind that follows a predict step (the clouds it
writes would lack the predictions, which live only in the predict step's run of per-cloud steps)
is refused."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import DEMO_CLASSES, random_bundle, tiny_pointnet_args

from vl3d_focal.config import validate_spec
from vl3d_focal.models.model_file import save_bundle

PREDICT = {"predict": "ModelLoader", "model_path": "m.keras"}
MINER = {
    "miner": "HeightFeatures",
    "fnames": ["floor_distance"],
    "neighborhood": {"type": "Rectangular2D", "radius": 3.0, "separation_factor": 0.5},
}
WRITER = {"writer": "Writer", "out_pcloud": "*w.laz"}
TWO = {"in_pcloud": ["a.las", "b.las"], "out_pcloud": ["o/a/", "o/b/"]}


@pytest.fixture(scope="module")
def model_with_folder(tmp_path_factory):
    """``(folder) -> model path``: an untrained model whose file stores ``receptive_fields_dir`` ``folder``."""
    root, bundle = tmp_path_factory.mktemp("stored_folder"), random_bundle(fnames=["intensity"])

    def saved(folder: str) -> str:
        path = root / f"m{len(list(root.iterdir()))}.keras"
        pre_processing = {**(bundle.pre_processing or {}), "receptive_fields_dir": folder}
        save_bundle(dataclasses.replace(bundle, pre_processing=pre_processing), path)
        return str(path)

    return saved


def _issues(spec: dict, word: str) -> list:
    return [(issue.path, issue.message) for issue in validate_spec(spec, check_files=False) if word in issue.message]


@pytest.mark.parametrize(
    ("folder", "clouds", "refused"), [("fields/", 2, True), ("*fields/", 2, False), ("fields/", 1, False)]
)
@pytest.mark.parametrize("loader", ["ModelLoader", "PredictivePipeline"])
def test_a_loaded_model_s_stored_fields_folder_without_star_is_refused_for_several_clouds(
    model_with_folder, loader, folder, clouds, refused
):
    step = {"predict": loader, "model_path": model_with_folder(folder)}
    inputs = {"in_pcloud": ["a.las", "b.las"][:clouds], "out_pcloud": ["o/a/", "o/b/"][:clouds]}
    issues = _issues({**inputs, "sequential_pipeline": [step]}, "receptive_fields_dir")
    if not refused:
        assert issues == []
        return
    assert [path for path, _ in issues] == ["$.sequential_pipeline[0].model_path"]
    assert issues[0][1] == (
        f"receptive_fields_dir stored in model {step['model_path']}: 'fields/' would be written once per input "
        "cloud (2), each overwriting the last; start it with '*' to write under each cloud's prefix (train the "
        "model with a receptive_fields_dir that starts with '*', so that each cloud gets its own folder), or "
        "predict one cloud per run"
    )


def test_a_trained_model_s_fields_folder_without_star_is_refused_for_several_clouds():
    args = tiny_pointnet_args(5)
    args["pre_processing"]["receptive_fields_dir"] = "fields/"
    steps = [
        {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
        {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "model_args": args},
        {"predict": "PreviousModel"},
    ]
    issues = _issues({**TWO, "sequential_pipeline": steps}, "each overwriting the last")
    assert [path for path, _ in issues] == ["$.sequential_pipeline[1].model_args.pre_processing.receptive_fields_dir"]


@pytest.mark.parametrize(
    ("steps", "refused_at"),
    [
        ([PREDICT, MINER, WRITER], "$.sequential_pipeline[2].writer"),
        ([PREDICT, MINER, MINER, WRITER], "$.sequential_pipeline[3].writer"),  # the first miner named
        ([PREDICT, WRITER, MINER], None),  # the way out: the writer right after predict
        ([MINER, PREDICT, WRITER], None),  # or the miner first
        ([PREDICT, MINER, PREDICT, WRITER], None),  # predicted again after the miner
        ([MINER, WRITER], None),  # no predictions to write
    ],
)
def test_a_writer_that_would_lack_the_predictions_is_refused(steps, refused_at):
    issues = _issues({**TWO, "sequential_pipeline": steps}, "that its clouds hold")
    assert [path for path, _ in issues][:1] == ([] if refused_at is None else [refused_at])
    if refused_at is not None:
        assert issues[0][1] == (
            "'Writer' writes the predictions of $.sequential_pipeline[0] (ModelLoader) that its clouds hold, but "
            "runs after $.sequential_pipeline[1] (HeightFeatures), which runs once in the main process, outside "
            "the run of per-cloud steps of $.sequential_pipeline[0] (processed cloud by cloud), so the clouds it "
            "writes would lack them; move $.sequential_pipeline[1] before $.sequential_pipeline[0], or put this "
            "step right after $.sequential_pipeline[0]"
        )
