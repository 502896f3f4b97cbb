"""Validation of the features a model learns from and of the names users give them: RBFNet's and
PointNet's ``model_args.fnames`` against the train step's ``fnames``, RBFNet's per-feature lists,
where a typo in ``model_args.fnames`` is reported and what is suggested, and small messages of the
feature-name checks (did you mean, the lists of available features, dependent errors)."""

from __future__ import annotations

import laspy
import numpy as np
import pytest

from vl3d_focal.config import check_spec
from vl3d_focal.config.checks import Issue
from vl3d_focal.errors import closest, did_you_mean

PRE = {"pre_processor": "furthest_point_subsampling", "num_points": 16, "neighborhood": {"radius": 1.0}}
LOSS = {"loss": {"function": "categorical_crossentropy"}}
PROCESSING = {"num_kernels": 2, "means": [0.2, 0.3], "stdevs": [0.1, 0.2]}
MINER = {"miner": "GeometricFeatures", "k": 16, "fnames": ["linearity", "planarity"]}
MINED = ["linearity_k16", "planarity_k16"]
RBFS = [{"max_radii": [1, 1, 1], "angular_resolutions": [1, 2]}]


def _rbfnet(**extra) -> dict:
    args = {
        "num_classes": 2,
        "pre_processing": PRE,
        "compilation_args": LOSS,
        "rbfs": RBFS,
        **extra.pop("model_args", {}),
    }
    return {"train": "RBFNetPwiseClassifier", "model_args": args, **extra}


def _pointnet(fnames: list[str], own: list[str]) -> dict:
    args = {"num_classes": 2, "pre_processing": PRE, "compilation_args": LOSS, "fnames": own}
    return {"train": "PointNetPwiseClassifier", "fnames": fnames, "model_args": args}


def _checked(steps: list[dict], *, cloud: str = "a.las", out: str = "o/", check_files: bool = False):
    doc = {"in_pcloud": cloud, "out_pcloud": out, "sequential_pipeline": steps}
    checked = check_spec(doc, check_files=check_files)
    return [str(issue) for issue in checked.issues], [str(note) for note in checked.notes]


@pytest.fixture
def cloud(tmp_path):
    """A tiny LAS file with an intensity (no extra dimension)."""
    las = laspy.create(point_format=6, file_version="1.4")
    rng = np.random.default_rng(0)
    las.x, las.y, las.z = (rng.uniform(0, 10, 40) for _ in range(3))
    las.classification = np.full(40, 2, dtype=np.uint8)
    path = tmp_path / "a.las"
    las.write(path)
    return str(path)


def test_rbfnet_model_fnames_of_another_count_than_the_step_s_is_an_error_at_validation():
    step = _rbfnet(fnames=["planarity_k16"], model_args={"fnames": MINED, "feature_processing": PROCESSING})
    issues, _ = _checked([MINER, step])
    assert issues == [
        "$.sequential_pipeline[1].model_args.feature_processing.means: expected one per point feature (1), got 2",
        "$.sequential_pipeline[1].model_args.feature_processing.stdevs: expected one per point feature (1), got 2",
        "$.sequential_pipeline[1].model_args.fnames: expected the 1 feature the model learns from (the train step's "
        "fnames: planarity_k16); got 2 names. VL3D feeds its model the step's fnames and sizes its input by these, "
        "which fails when they differ: give both the same features",
    ]


def test_rbfnet_feature_processing_without_any_fnames_is_an_error_at_validation():
    issues, _ = _checked([MINER, _rbfnet(model_args={"feature_processing": PROCESSING})])
    assert issues == [
        "$.sequential_pipeline[1].model_args.feature_processing: expected point features to process; the model "
        "learns from none (no fnames, nor model_args.fnames)"
    ]


def test_rbfnet_means_follow_the_step_fnames_and_same_count_other_names_is_a_note():
    ok = _rbfnet(fnames=MINED[::-1], model_args={"fnames": MINED, "feature_processing": PROCESSING})
    issues, notes = _checked([MINER, ok])
    assert issues == []
    assert (
        "$.sequential_pipeline[1].model_args.fnames: accepted, no effect here: the model learns from the train step's "
        "fnames (planarity_k16, linearity_k16), as in VL3D; these other names only give their count"
    ) in notes
    three = _rbfnet(fnames=[*MINED, "intensity"], model_args={"feature_processing": PROCESSING})
    assert [i.split(": ", 1)[0] for i in _checked([MINER, three])[0]] == [
        "$.sequential_pipeline[1].model_args.feature_processing.means",
        "$.sequential_pipeline[1].model_args.feature_processing.stdevs",
    ]


def test_a_transformer_changing_the_features_leaves_the_count_to_the_run():
    pca = {"feature_transformer": "PCATransformer", "out_dim": 2}
    step = _rbfnet(fnames=[*MINED, "intensity"], model_args={"feature_processing": PROCESSING})
    assert _checked([MINER, pca, step])[0] == []


def test_pointnet_feature_branch_count_mismatch_is_caught_at_validation():
    issues, _ = _checked([MINER, _pointnet(MINED, ["linearity_k16"])])
    assert issues == [
        "$.sequential_pipeline[1].model_args.fnames: expected the 2 features the model learns from (the train step's "
        "fnames: linearity_k16, planarity_k16); got 1 names. VL3D feeds its model the step's fnames and sizes its "
        "input by these, which fails when they differ: give both the same features"
    ]
    assert _checked([MINER, _pointnet(MINED, MINED)])[0] == []


def test_a_typo_in_model_fnames_is_reported_there_with_the_mined_name(cloud):
    step = _rbfnet(model_args={"fnames": ["linearity_k16", "planarity_k61"]})
    issues, _ = _checked([MINER, step], cloud=cloud, check_files=True)
    assert len(issues) == 1
    assert issues[0].startswith(
        f"$.sequential_pipeline[1].model_args.fnames[1]: 'planarity_k61' is not a feature of {cloud} nor of a "
        "miner step before the train step; did you mean 'planarity_k16'?"
    )
    standardizer = {"feature_transformer": "Standardizer", "fnames": MINED}
    issues, _ = _checked([MINER, standardizer, step], cloud=cloud, check_files=True)
    assert [issue.split(":")[0] for issue in issues] == ["$.sequential_pipeline[2].model_args.fnames[1]"]


def test_did_you_mean_reads_numbers_alike_and_weighs_the_feature_over_its_parameter():
    assert did_you_mean("floor_distance_r3_sep0.5", ["floor_distance_r3.0_sep0.5", "height_range_r3.0_sep0.5"]) == (
        "; did you mean 'floor_distance_r3.0_sep0.5'?"
    )
    assert closest("planarity_k61", ["planarity", "planarity_k16", "linearity_k16"]) == "planarity_k16"
    assert closest("planarity_k16", ["linearity_k16", "planarity_k61"]) == "planarity_k61"
    assert closest("zzz", ["planarity"]) is None


def test_did_you_mean_keeps_the_first_letter_of_each_word():
    hsv = ["HSV_Hrad", "HSV_S", "HSV_V"]
    assert did_you_mean("HSV_Srad", hsv) == "; did you mean 'HSV_S'?"  # a stray suffix, not a wrong letter
    assert closest("HSV_Hrod", hsv) == "HSV_Hrad"
    assert closest("zeroes", ["zero", "zeros"]) == "zeros"  # the closest of those starting alike
    assert closest("planarity_k8", ["planarity", "planarity_k16"]) == "planarity_k16"


def test_a_transformer_s_name_no_cloud_offers_is_one_error_not_also_one_against_the_model(cloud):
    kbest = {"feature_transformer": "KBestSelector", "k": 1, "fnames": ["intensty", "linearity_k16", "z"]}
    forest = {"train": "RandomForestClassifier", "fnames": ["intensity", "planarity_k16"], "model_args": {}}
    issues, _ = _checked([MINER, kbest, forest], cloud=cloud, check_files=True)
    assert [issue.split("\n")[0] for issue in issues] == [
        "$.sequential_pipeline[1].fnames: 2 names are not among the features of the model trained by "
        "$.sequential_pipeline[2] (intensity, planarity_k16):",  # 'linearity_k16' and 'z', not 'intensty'
        f"$.sequential_pipeline[1].fnames[0]: 'intensty' is not a feature of {cloud} nor of a miner step before the "
        "feature transformer; did you mean 'intensity'?",
    ]
    assert issues[0].splitlines()[1] == "  'linearity_k16' (did you mean 'planarity_k16'?), 'z'"


def test_available_features_are_listed_once_and_smoothing_inputs_get_a_suggestion(cloud):
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["intensty"]}
    forest = {"train": "RandomForestClassifier", "fnames": ["intensity", "planarity_k16"], "model_args": {}}
    issues, _ = _checked([MINER, minmax, forest], cloud=cloud, check_files=True)
    [listing] = [issue for issue in issues if "mined by the steps before: " in issue]
    assert listing.count("planarity_k16") == 1
    height = {"miner": "HeightFeatures", "fnames": ["floor_distance"], "neighborhood": {"type": "Rectangular2D",
              "radius": 3.0, "separation_factor": 0.5}}  # fmt: skip
    smooth = {"miner": "SmoothFeatures", "input_fnames": ["floor_distance_r3_sep0.5"], "fnames": ["mean"],
              "neighborhood": {"type": "sphere", "radius": 1.0}}  # fmt: skip
    issues, _ = _checked([height, smooth], cloud=cloud, check_files=True)
    assert len(issues) == 1 and issues[0].splitlines()[0].endswith("; did you mean 'floor_distance_r3.0_sep0.5'?")


def test_a_broken_smoothing_step_s_named_outputs_raise_no_error_later(cloud):
    broken = {"miner": "SmoothFeatures", "input_fnames": ["intensity"], "fnames": ["mean"],
              "neighborhood": {"type": "knn", "k": 8}, "frenames": ["i_mean"]}  # fmt: skip
    later = {"miner": "SmoothFeatures", "input_fnames": ["i_mean"], "fnames": ["mean"],
             "neighborhood": {"type": "sphere", "radius": 1.0}, "frenames": ["i_mean_mean"]}  # fmt: skip
    issues, _ = _checked([broken, later], cloud=cloud, check_files=True)
    assert issues and all(issue.startswith("$.sequential_pipeline[0].neighborhood") for issue in issues)


def test_a_feature_transformer_object_inside_a_pipeline_train_step_is_told_once():
    inner = {"feature_transformer": "MinmaxNormalizer", "fnames": ["intensity"]}
    forest = {
        "train": "RandomForestClassifier",
        "fnames": ["intensity"],
        "model_args": {},
        "feature_transformer": inner,
    }
    issues, _ = _checked([forest])
    assert issues == [
        "$.sequential_pipeline[0].feature_transformer: a feature_transformer object inside the train step belongs to "
        "VL3D's single-component training form (a spec whose top level is the train step) only; in a pipeline it is "
        'a step of its own: move it before this train step as {"feature_transformer": "MinmaxNormalizer", '
        '"fnames": ["intensity"]}'
    ]


def test_a_report_path_naming_the_output_prefix_folder_is_a_validation_error(tmp_path):
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["intensity"], "report_path": "*"}
    forest = {"train": "RandomForestClassifier", "fnames": ["intensity"], "model_args": {}}
    issues, _ = _checked([minmax, forest], out=f"{tmp_path}/out/*")
    assert issues == [
        f"$.sequential_pipeline[0].report_path: '*' names the folder {tmp_path}/out/, not a file; give a file "
        "name, e.g. '*report.log'"
    ]


def test_the_features_structuring_note_of_an_rbfnet_step_says_it_has_no_such_layer():
    step = _rbfnet(
        model_args={"fnames": ["intensity"], "model_handling": {"features_structuring_representation_dir": "*/f"}}
    )
    _, notes = _checked([step])
    note = next(n for n in notes if "features_structuring_representation_dir" in n)
    assert "PointNet builds that layer, its other models have none" in note


def test_a_whole_cloud_support_strategy_with_a_streamed_cloud_is_found_at_validation(cloud):
    from vl3d_focal.steps.predict_checks import streamed_clouds, streamed_support_issues

    meta = {
        "model_name": "RBFNetPwiseClassifier",
        "field_spec": {"support_strategy": "fps", "neighborhood": {"radius": 3.0}},
    }
    mapping = {"class_mapping": "LASClassMapping"}
    known = {"cloud_features": {cloud: []}, "pipeline": [mapping, {"predict": "ModelLoader"}]}
    at = ("sequential_pipeline", 1)

    def found(step: dict, **changes) -> list[Issue]:
        streamed = streamed_clouds(step, at, {**known, **changes}, chunk_points=39, whole_cloud=False)
        return list(streamed_support_issues(step, at, metadata=meta, streamed=streamed, chunk_points=39))

    assert found({"chunk_points": 39}) == [
        (
            (*at, "chunk_points"),
            f"pre_processing.support_strategy 'fps' of model RBFNetPwiseClassifier needs the whole cloud, but {cloud} "
            "has 40 points, more than chunk_points=39, so it would be streamed tile by tile; set chunk_points to null "
            "to predict it in memory, or train with support_strategy 'grid'",
        )
    ]
    assert found({"chunk_points": 39, "buffer": 5.0}) == []
    assert found({}, pipeline=[{"train": "RBFNetPwiseClassifier"}, {}]) == []  # the cloud may be in memory then
    meta["field_spec"]["support_strategy"] = "grid"
    assert found({}) == []


def test_validate_reads_the_support_strategy_from_the_model_file(tmp_path):
    import dataclasses

    from helpers import random_bundle

    from vl3d_focal.models.model_file import save_bundle

    bundle = random_bundle(fnames=["intensity"])
    bundle = dataclasses.replace(bundle, field_spec=dataclasses.replace(bundle.field_spec, support_strategy="fps"))
    model = save_bundle(bundle, tmp_path / "m" / "model.keras")
    las = laspy.create(point_format=6, file_version="1.4")
    las.x, las.y, las.z = (np.random.default_rng(1).uniform(0, 50, 1500) for _ in range(3))
    las.write(tmp_path / "big.las")
    predict = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": 1000}
    writer = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.las"}
    issues, _ = _checked([predict, writer], cloud=str(tmp_path / "big.las"), out=f"{tmp_path}/o/*", check_files=True)
    assert [issue.split(": ")[0] for issue in issues] == ["$.sequential_pipeline[0].chunk_points"]
    assert "has 1500 points, more than chunk_points=1000" in issues[0]
    assert (
        _checked([{**predict, "chunk_points": None}, writer], cloud=str(tmp_path / "big.las"), check_files=True)[0]
        == []
    )


def test_an_autoencoder_step_without_fnames_takes_model_args_fnames_as_vl3d_does():
    import json
    from pathlib import Path

    from vl3d_focal.config.model_fnames import with_model_fnames

    spec = Path(__file__).parent / "specs" / "vl3d" / "adapted" / "hierarchical_autoencoder_training_T1.json"
    (trained,) = [s for s in json.loads(spec.read_text())["sequential_pipeline"] if "train" in s]
    args = {**trained["model_args"], "fnames": ["intensity", "return_number"]}
    step = {"train": "ConvolutionalAutoencoderPwiseClassifier", "model_args": args}
    (taken,) = with_model_fnames({"sequential_pipeline": [step]})["sequential_pipeline"]
    assert taken["fnames"] == ["intensity", "return_number"]
    issues, notes = _checked([{**step, "fnames": ["intensity"]}])
    assert issues == [
        "$.sequential_pipeline[0].model_args.fnames: expected the 1 feature the model learns from (the train "
        "step's fnames: intensity); got 2 names. VL3D feeds its model the step's fnames and sizes its input by "
        "these, which fails when they differ: give both the same features"
    ]


def test_a_step_missing_several_names_gets_one_error_and_the_cloud_s_features_once(cloud):
    names = ["linearity_r0.1", "planarity_r0.1", "intensty"]
    imputer = {"imputer": "UnivariateImputer", "fnames": names, "target_val": "NaN"}
    standardizer = {"feature_transformer": "Standardizer", "fnames": names}
    forest = {"train": "RandomForestClassifier", "fnames": names, "model_args": {}}
    issues, _ = _checked([imputer, standardizer, forest], cloud=cloud, check_files=True)
    assert [issue.split(":")[0] for issue in issues] == [
        "$.sequential_pipeline[0].fnames",
        "$.sequential_pipeline[1].fnames",
        "$.sequential_pipeline[2].fnames",
    ]
    first, second, third = (issue.splitlines() for issue in issues)
    assert first[0] == (
        f"$.sequential_pipeline[0].fnames: 3 names are not features of {cloud} nor of a miner step before the imputer:"
    )
    assert first[1] == "  'linearity_r0.1', 'planarity_r0.1', 'intensty' (did you mean 'intensity'?)"  # no 'linearity'
    assert first[2].startswith("  in the file: x, y, z, intensity, return_number,")
    assert first[-1].endswith("verticality = 1 - |z of the normal| of the 16 neighbours")
    assert sum(line.startswith("  derived on request: ones = the constant 1") for line in first) == 1
    assert all(len(line) <= 100 for line in first[1:])
    assert second[2:] == third[2:] == ["  (its features: listed above)"]
    assert third[0].endswith("nor of a miner step before the train step:") and third[1] == first[1]
    many = [f"f{i}_r0.1" for i in range(20)]
    forest = {"train": "RandomForestClassifier", "fnames": ["intensity"], "model_args": {}}
    [issue] = _checked([{"imputer": "UnivariateImputer", "fnames": many, "target_val": "NaN"}, forest], cloud=cloud,
                       check_files=True)[0]  # fmt: skip
    assert "'f11_r0.1' … and 8 more" in issue and "'f12_r0.1'" not in issue


def test_a_later_message_names_the_features_mined_since_the_cloud_s_listing(cloud):
    first_miner = {"miner": "GeometricFeatures", "radius": 0.3, "fnames": ["linearity"]}
    imputer = {"imputer": "UnivariateImputer", "fnames": ["intensty"], "target_val": -1}
    second_miner = {"miner": "GeometricFeatures", "radius": 0.6, "fnames": ["planarity"]}
    forest = {"train": "RandomForestClassifier", "fnames": ["planarty_r0.6"], "model_args": {}}
    issues, _ = _checked([first_miner, imputer, second_miner, forest], cloud=cloud, check_files=True)
    first, later = (issue.splitlines() for issue in issues)
    assert "  mined by the steps before: linearity_r0.3" in first and "planarity_r0.6" not in "\n".join(first)
    assert later[0].endswith("; did you mean 'planarity_r0.6'?")
    assert later[1:] == ["  (its features: listed above)", "  mined since: planarity_r0.6"]
