"""Mined feature names longer than a LAS extra dimension's name (32 bytes): VL3D's mine -> write ->
read -> train workflow, where the Writer writes such a feature under its first 32 bytes."""

from __future__ import annotations

import logging

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, run_steps

from vl3d_focal.config import validate_spec
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.extra_names import cut_name
from vl3d_focal.io.las import check_file
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.steps.writers import run_state_writer

HEIGHT = {
    "miner": "HeightFeatures",
    "neighborhood": {"type": "Rectangular2D", "radius": 5.0, "separation_factor": 0.5},
    "fnames": ["floor_distance"],
}
FLOOR = "floor_distance_r5.0_sep0.5"
SMOOTHED = "floor_distance_r5.0_sep0.5_mean_r1.0"  # 36 bytes
CUT = "floor_distance_r5.0_sep0.5_mean_"  # its first 32


def _smooth(radius: float, **more) -> dict:
    return {
        "miner": "SmoothFeatures",
        "neighborhood": {"type": "sphere", "radius": radius},
        "input_fnames": [FLOOR],
        "fnames": ["mean"],
        **more,
    }


def _spec(tmp_path, cloud, steps) -> dict:
    return {"in_pcloud": [str(cloud)], "out_pcloud": [f"{tmp_path}/out/*"], "sequential_pipeline": steps}


@pytest.fixture
def cloud(tmp_path):
    path = tmp_path / "scene.las"
    generate_urban_scene(seed=2, size_m=10.0, density=1.5).write(path)
    return path


def _mean_reference(xyz: np.ndarray, values: np.ndarray, *, radius: float) -> np.ndarray:
    """The mean of ``values`` over each point's sphere, one point at a time in float64."""
    out = np.empty(len(xyz))
    for i in range(len(xyz)):
        near = np.sqrt(((xyz - xyz[i]) ** 2).sum(axis=1)) <= radius
        out[i] = values[near].mean()
    return out


def test_cut_name_keeps_whole_characters():
    assert len(SMOOTHED.encode()) == 36 and cut_name(name=SMOOTHED) == CUT
    assert cut_name(name="x" * 32) == "x" * 32
    assert cut_name(name="é" * 20) == "é" * 16  # 2 bytes each: 32 bytes
    assert cut_name(name="a" + "é" * 20) == "a" + "é" * 15  # the 16th would end past the 32nd byte


def test_mine_write_then_train_on_the_cut_name(tmp_path, cloud, caplog):
    mine = [HEIGHT, _smooth(1.0), {"writer": "Writer", "out_pcloud": "*feats.las"}]
    issues = validate_spec(_spec(tmp_path, cloud, mine), base_dir=tmp_path, strict=True)
    assert [(issue.path, issue.message.startswith(NOTE_PREFIX)) for issue in issues] == [
        ("$.sequential_pipeline[1].fnames[0]", True)
    ]
    assert f"{SMOOTHED!r} is 36 bytes long" in issues[0].message and repr(CUT) in issues[0].message
    assert validate_spec(_spec(tmp_path, cloud, mine), base_dir=tmp_path) == []  # a note, not an error

    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        run_steps(tmp_path, "mine", [cloud], "mined", mine)
    cut = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "bytes long" in r.getMessage()]
    assert len(cut) == 1 and repr(SMOOTHED) in cut[0] and repr(CUT) in cut[0] and "frenames" in cut[0]

    written = laspy.read(tmp_path / "mined" / "feats.las")
    assert list(written.point_format.extra_dimension_names) == [FLOOR, CUT]
    xyz = np.column_stack([written.x, written.y, written.z]).astype(np.float64)
    reference = _mean_reference(xyz, np.asarray(written[FLOOR], dtype=np.float64), radius=1.0)
    np.testing.assert_allclose(np.asarray(written[CUT], dtype=np.float64), reference, rtol=1e-5, atol=1e-5)
    source = laspy.read(cloud)
    np.testing.assert_array_equal(written.classification, source.classification)

    mapping = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}
    forest = {"train": "RandomForestClassifier", "fnames": [CUT, FLOOR], "model_args": {"n_estimators": 3}}
    train = _spec(tmp_path, tmp_path / "mined" / "feats.las", [mapping, forest])
    assert validate_spec(train, base_dir=tmp_path) == []
    state = run_steps(tmp_path, "train", [tmp_path / "mined" / "feats.las"], "trained", [mapping, forest])
    assert state.bundle is not None and list(state.bundle.feature_names) == [CUT, FLOOR]


def test_names_cut_alike_are_an_error_at_the_second_name(tmp_path, cloud):
    steps = [HEIGHT, _smooth(1.0), _smooth(2.0), {"writer": "Writer", "out_pcloud": "*feats.las"}]
    errors = validate_spec(_spec(tmp_path, cloud, steps), base_dir=tmp_path)
    assert [issue.path for issue in errors] == ["$.sequential_pipeline[2].fnames[0]"]
    assert "'floor_distance_r5.0_sep0.5_mean_r2.0' and 'floor_distance_r5.0_sep0.5_mean_r1.0'" in errors[0].message
    assert "Writer at $.sequential_pipeline[3]" in errors[0].message and "frenames" in errors[0].message
    renamed = [HEIGHT, _smooth(1.0), _smooth(2.0, frenames=["fd_mean_r2"]), steps[-1]]
    assert validate_spec(_spec(tmp_path, cloud, renamed), base_dir=tmp_path) == []
    assert validate_spec(_spec(tmp_path, cloud, steps[:-1]), base_dir=tmp_path) == []  # nothing written: no cut


def test_a_cut_name_that_the_cloud_has_is_an_error_at_its_name(tmp_path):
    scene = generate_urban_scene(seed=2, size_m=10.0, density=1.5)
    scene.add_extra_dim(laspy.ExtraBytesParams(name=CUT, type=np.float32))
    path = tmp_path / "has_cut.las"
    scene.write(path)
    steps = [HEIGHT, _smooth(1.0, frenames=[SMOOTHED]), {"writer": "Writer", "out_pcloud": "*feats.las"}]
    errors = validate_spec(_spec(tmp_path, path, steps), base_dir=tmp_path)
    assert [issue.path for issue in errors] == ["$.sequential_pipeline[1].frenames[0]"]
    assert f"writing {path}" in errors[0].message and "already has" in errors[0].message


def test_the_writer_refuses_a_clash_before_computing_anything(tmp_path, cloud):
    recipes = [MinedFeatures.from_step({**HEIGHT, "outlier_filter": None})]
    for radius in (1.0, 2.0):
        smooth = _smooth(radius, weighted_mean_omega=0.0001, gaussian_rbf_omega=1.0, nan_policy="propagate")
        recipes.append(MinedFeatures.from_step(smooth))
    record = CloudRecord(path=cloud, prefix=f"{tmp_path}/out/", num_points=check_file(cloud))
    state = PipelineState(clouds=[record], model_prefix=f"{tmp_path}/out/", miners=recipes)
    with pytest.raises(DataError, match=r"Writer: cloud .*scene.las: .* would both be written as 'floor_distance"):
        run_state_writer({"writer": "Writer", "out_pcloud": "*feats.las"}, state)
    assert recipes[1].names == (SMOOTHED,) and not (tmp_path / "out").exists()
