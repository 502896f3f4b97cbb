"""VL3D's ``in_pcloud_concat``: clouds filtered by conditions and read as one, validated and run."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.concatenation import read_concatenation
from vl3d_focal.runner.executor import with_overrides
from vl3d_focal.runner.pipeline import execute_pipeline


def _clouds(tmp_path):
    first, second = generate_urban_scene(seed=3, size_m=24.0), generate_urban_scene(seed=4, size_m=24.0)
    second.x = np.asarray(second.x) + 100.0  # a neighbouring tile
    first.write(tmp_path / "a.laz")
    second.write(tmp_path / "b.laz")
    return first, second


def test_each_cloud_keeps_the_points_its_conditions_keep_in_order_under_the_first_header(tmp_path):
    first, second = _clouds(tmp_path)
    cloud = read_concatenation(
        [
            {
                "in_pcloud": tmp_path / "a.laz",
                "conditions": [
                    {
                        "value_name": "classification",
                        "condition_type": "IN",
                        "value_target": [2, 5],
                        "action": "preserve",
                    },
                    {"value_name": "z", "condition_type": "greater_than", "value_target": 50.0, "action": "Discard"},
                ],
            },
            {
                "in_pcloud": tmp_path / "b.laz",
                "conditions": [
                    {"value_name": "intensity", "condition_type": "less_than", "value_target": 300, "action": "discard"}
                ],
            },
        ]
    )
    keep_a = np.isin(first.classification, [2, 5]) & ~(np.asarray(first.z) > 50.0)
    keep_b = ~(np.asarray(second.intensity) < 300)
    assert 0 < keep_a.sum() < len(keep_a) and 0 < keep_b.sum() < len(keep_b)
    expected_xyz = np.vstack(
        [np.column_stack([las.x, las.y, las.z])[keep] for las, keep in ((first, keep_a), (second, keep_b))]
    )
    np.testing.assert_allclose(cloud.xyz, expected_xyz, atol=1e-3)
    for name in ("classification", "intensity", "return_number", "number_of_returns"):
        expected = np.concatenate([np.asarray(first[name])[keep_a], np.asarray(second[name])[keep_b]])
        np.testing.assert_array_equal(np.asarray(cloud.las[name]), expected)
    assert cloud.las.header.point_format.id == first.header.point_format.id
    np.testing.assert_array_equal(cloud.las.header.scales, laspy.read(tmp_path / "a.laz").header.scales)
    assert cloud.path == tmp_path / "in_pcloud_concat(a+b)"  # named as its record, messages and reports


def test_a_cloud_lacking_a_dimension_of_the_first_or_a_condition_on_a_missing_one_is_a_clear_error(tmp_path):
    first, _ = _clouds(tmp_path)
    older = laspy.create(point_format=0, file_version="1.2")  # no extra dimension, no gps_time
    older.x, older.y, older.z = [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]
    older.write(tmp_path / "old.las")
    richer = laspy.read(tmp_path / "a.laz")
    richer.add_extra_dim(laspy.ExtraBytesParams(name="reflectance", type=np.float32))
    richer.write(tmp_path / "rich.laz")
    with pytest.raises(DataError, match=r"old.las lacks the extra dimension \['reflectance'\] of the first cloud"):
        read_concatenation([{"in_pcloud": tmp_path / "rich.laz"}, {"in_pcloud": tmp_path / "old.las"}])
    mixed = read_concatenation([{"in_pcloud": tmp_path / "a.laz"}, {"in_pcloud": tmp_path / "old.las"}])
    assert mixed.las.header.point_format.id == first.header.point_format.id  # format 6: the first cloud's
    np.testing.assert_array_equal(np.asarray(mixed.las.gps_time)[-2:], [0.0, 0.0])  # format 1 has none
    np.testing.assert_array_equal(np.asarray(mixed.las.gps_time)[:-2], np.asarray(first.gps_time))
    condition = {"value_name": "reflectance", "condition_type": "equals", "value_target": 0, "action": "discard"}
    with pytest.raises(DataError, match="condition 0 names the dimension 'reflectance', which the cloud does not have"):
        read_concatenation([{"in_pcloud": tmp_path / "a.laz", "conditions": [condition]}])
    far = laspy.create(point_format=0, file_version="1.2")
    far.header.offsets = np.array(
        [3e7, 0.0, 0.0]
    )  # 30,000 km east: beyond what the first cloud's scale and offset hold
    far.x, far.y, far.z = np.array([3e7, 3e7 + 1.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0])
    far.write(tmp_path / "far.las")
    with pytest.raises(
        DataError, match="the x coordinates of the clouds do not fit the first cloud's scale and offset"
    ):
        read_concatenation([{"in_pcloud": tmp_path / "a.laz"}, {"in_pcloud": tmp_path / "far.las"}])
    nothing = {"value_name": "Classification", "condition_type": "in", "value_target": [250], "action": "preserve"}
    with pytest.raises(DataError, match="the conditions keep no point of the 1 cloud"):
        read_concatenation([{"in_pcloud": tmp_path / "a.laz", "conditions": [nothing]}])


def _spec(**top):
    return {"out_pcloud": "out/*", "sequential_pipeline": [{"writer": "Writer", "out_pcloud": "*all.laz"}], **top}


def test_validation_wants_one_input_key_and_conditions_that_fit_their_clouds(tmp_path):
    _clouds(tmp_path)
    good = [
        {
            "in_pcloud": "a.laz",
            "conditions": [
                {"value_name": "classification", "condition_type": "not_in", "value_target": [7], "action": "discard"}
            ],
        },
        {"in_pcloud": "b.laz"},
    ]
    assert validate_spec(_spec(in_pcloud_concat=good), base_dir=tmp_path) == []

    def messages(spec):
        return [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)]

    assert messages(_spec()) == ["$: missing required key 'in_pcloud' (the input clouds; or VL3D's 'in_pcloud_concat')"]
    assert messages(_spec(in_pcloud="a.laz", in_pcloud_concat=good)) == [
        "$.in_pcloud_concat: given with in_pcloud: a spec reads one or the other (as VL3D); remove one of them"
    ]
    wrong = [
        {
            "in_pcloud": "a.laz",
            "conditions": [
                {"value_name": "clasification", "condition_type": "in", "value_target": 2, "action": "preserve"},
                {"value_name": "z", "condition_type": "less_than", "value_target": [2], "action": "preserve"},
                {"value_name": "z", "condition_type": "below", "value_target": 2, "action": "keep"},
            ],
        },
        {"in_pcloud": "missing.laz"},
        {"in_pcloud": "*.laz"},
    ]
    found = messages(_spec(in_pcloud_concat=wrong, executor={"engine": "dask"}))
    expected = [
        "$.executor.engine: in_pcloud_concat makes one cloud, read in this process",
        "$.in_pcloud_concat[0].conditions[0].value_name: ",  # the file's name, then:
        "has no dimension 'clasification'; did you mean 'classification'?",
        "$.in_pcloud_concat[0].conditions[0].value_target: condition type 'in' compares with a list of values; got 2",
        "$.in_pcloud_concat[0].conditions[1].value_target: condition type 'less_than' compares with one number",
        "$.in_pcloud_concat[0].conditions[2].action: expected an action, one of: 'preserve', 'discard' (in any "
        "case); got 'keep'",
        "$.in_pcloud_concat[0].conditions[2].condition_type: expected a condition type, one of: 'equals', ",
        "$.in_pcloud_concat[1].in_pcloud: ",
        "$.in_pcloud_concat[2].in_pcloud: an in_pcloud_concat entry is one file, not a pattern or folder",
    ]
    for part in expected:
        assert any(part in message for message in found), (part, found)


def test_a_pipeline_trains_on_and_writes_the_concatenation_known_by_its_first_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = _clouds(tmp_path)
    no_64 = {"value_name": "classification", "condition_type": "equals", "value_target": 64, "action": "discard"}
    spec = _spec(
        in_pcloud_concat=[{"in_pcloud": "a.laz", "conditions": [no_64]}, {"in_pcloud": "b.laz", "conditions": None}]
    )
    spec["sequential_pipeline"] = [
        {"train": "RandomForestClassifier", "fnames": ["intensity"], "model_args": {"n_estimators": 2, "max_depth": 4}},
        {"predict": "PreviousModel"},
        {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
    ]
    (tmp_path / "concat.json").write_text(json.dumps(spec))
    loaded = load_spec(tmp_path / "concat.json")
    assert loaded["in_pcloud"] == [str(tmp_path / "a.laz")]
    with pytest.raises(DataError, match="--workers/--scheduler: in_pcloud_concat makes one cloud"):
        with_overrides(loaded, workers=2, scheduler=None)  # Dask workers would read the first file alone
    state = execute_pipeline(loaded)
    assert state.clouds[0].path.name == "in_pcloud_concat(a+b)"  # what messages and reports name it
    codes_a, codes_b = np.asarray(first.classification), np.asarray(second.classification)
    kept = int((codes_a != 64).sum()) + len(codes_b)
    present = set(codes_a[codes_a != 64]) | set(codes_b)
    assert state.bundle.class_names == [f"class_{code}" for code in sorted(int(c) for c in present)]
    written = laspy.read(tmp_path / "out/predicted.laz")
    assert len(written.points) == kept
    evaluation = json.loads((tmp_path / "out/eval/evaluation.json").read_text())
    assert sum(map(sum, evaluation["confusion_matrix"])) == kept
    record = json.loads((tmp_path / "out/run.json").read_text())
    assert record["spec"]["in_pcloud_concat"][1]["in_pcloud"] == str(tmp_path / "b.laz")
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert [cloud["path"] for cloud in report["clouds"]] == [str(tmp_path / "in_pcloud_concat(a+b)")]
    assert report["clouds"][0]["points"] == kept


def test_the_written_codes_are_checked_against_the_first_cloud_whose_header_the_outputs_take(tmp_path):
    first, second = _clouds(tmp_path)
    codes = np.asarray(second.classification)
    second.classification = np.where(codes > 31, 1, codes).astype(np.uint8)
    laspy.convert(second, point_format_id=3).write(tmp_path / "b3.las")  # codes 0..31 only
    assert first.header.point_format.id >= 6
    mapping = {
        "class_mapping": "LASClassMapping",
        "classes": [{"name": "ground", "codes": [2]}, {"name": "pole", "codes": [64]}],
        "ignore_codes": [0, 1, 3, 4, 5, 6, 7, 68],
    }
    steps = [
        mapping,
        {"predict": "ModelLoader", "model_path": "a.laz"},
        {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
    ]
    concat = _spec(in_pcloud_concat=[{"in_pcloud": "a.laz"}, {"in_pcloud": "b3.las"}])
    concat["sequential_pipeline"] = steps
    found = [str(i) for i in validate_spec(concat, base_dir=tmp_path) if "point format" in str(i)]
    assert found == []  # written in a.laz's format 6, which holds code 64
    concat["in_pcloud_concat"].reverse()
    found = [str(i) for i in validate_spec(concat, base_dir=tmp_path) if "point format" in str(i)]
    assert len(found) == 1 and "b3.las is in LAS point format 3" in found[0]


def test_clouds_of_several_crs_are_warned_of_as_a_survey_s_tiles_are(tmp_path, caplog):
    """Before, in_pcloud_concat joined clouds of different coordinate systems without a word."""
    from vl3d_focal.runner.inputs import read_concatenated_input

    def tile(name, code):
        las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
        las.x, las.y, las.z = [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]
        if code is not None:
            las.header.vlrs.append(laspy.vlrs.known.WktCoordinateSystemVlr(f'PROJCS["x",AUTHORITY["EPSG","{code}"]]'))
        las.write(tmp_path / name)
        return {"in_pcloud": str(tmp_path / name)}

    entries = [tile("a.las", 2154), tile("b.las", 32631), tile("c.las", None)]
    with caplog.at_level("WARNING", logger="vl3d_focal"):
        state = read_concatenated_input(entries, prefixes=[f"{tmp_path}/out/*"])
    assert [r.message for r in caplog.records] == [
        "the clouds of in_pcloud_concat are not all in one coordinate system (EPSG:2154: a.las; EPSG:32631: b.las; "
        "none: c.las): they are taken as one by their concatenation (one cloud, with the first one's header); "
        "reproject them first"
    ]
    assert state.clouds[0].num_points == 6
    caplog.clear()
    with caplog.at_level("WARNING", logger="vl3d_focal"):
        read_concatenated_input([entries[0], tile("d.las", 2154)], prefixes=[f"{tmp_path}/out/*"])
    assert caplog.records == []
