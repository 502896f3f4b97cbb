"""Miners: eigen and height features against NumPy references, VL3D names, validation, tile by tile."""

from __future__ import annotations

import laspy
import numpy as np
import pytest
from helpers import miner_spec, streamed_features
from scipy import stats

from vl3d_focal.config import check_spec, validate_spec
from vl3d_focal.data.eigen_features import EIGEN_FEATURES, eigen_features
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.height_features import HEIGHT_FEATURES, height_features
from vl3d_focal.data.miners import MinedFeatures, compute_mined, recipes_for
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud


def _reference_eigen(neighbours: np.ndarray) -> dict[str, float]:
    """The features of one neighbourhood, from np.cov and np.linalg.eigh (module formulas)."""
    if len(neighbours) < 2 or np.ptp(neighbours, axis=0).max() == 0:
        return {name: 0.0 for name in EIGEN_FEATURES}
    values, vectors = np.linalg.eigh(np.cov(neighbours.T, bias=True))
    l3, l2, l1 = np.clip(values, 0.0, None)
    total = l1 + l2 + l3
    e = np.array([l1, l2, l3]) / total
    return {
        "linearity": (l1 - l2) / l1,
        "planarity": (l2 - l3) / l1,
        "sphericity": l3 / l1,
        "surface_variation": l3 / total,
        "anisotropy": (l1 - l3) / l1,
        "omnivariance": np.prod(e) ** (1 / 3),
        "eigenentropy": -sum(v * np.log(v) for v in e if v > 0),
        "verticality": 1.0 - abs(vectors[2, 0]),
        "eigenvalue_sum": total,
        "PCA1": e[0],
        "PCA2": e[1],
    }


@pytest.fixture(scope="module")
def blob():
    rng = np.random.default_rng(3)
    ground = np.column_stack([rng.uniform(0, 6, (300, 2)), rng.normal(0, 0.02, 300)])
    wall = np.column_stack([rng.uniform(2, 4, 80), np.full(80, 3.0), rng.uniform(0, 3, 80)])
    pole = np.column_stack([np.full(40, 5.0), np.full(40, 1.0), np.linspace(0, 4, 40)])
    return np.concatenate([ground, wall, pole]) + np.array([7.7e5, 6.3e6, 100.0])  # georeferenced


@pytest.mark.parametrize("neighbourhood", [{"radius": 0.8}, {"k": 12}])
def test_eigen_features_equal_numpy_eigendecompositions(blob, neighbourhood):
    values, reach = eigen_features(blob, names=list(EIGEN_FEATURES), **neighbourhood)
    local = blob - blob.mean(axis=0)
    distance = np.linalg.norm(local[:, None, :] - local[None, :, :], axis=2)
    for row in range(0, len(blob), 7):
        if "radius" in neighbourhood:
            members = np.flatnonzero(distance[row] <= neighbourhood["radius"])
            assert reach[row] == neighbourhood["radius"]
        else:
            members = np.lexsort((np.arange(len(blob)), distance[row]))[: neighbourhood["k"]]
            assert reach[row] == pytest.approx(distance[row, members[-1]])
        expected = _reference_eigen(local[members])
        np.testing.assert_allclose(
            values[row], [expected[n] for n in EIGEN_FEATURES], atol=2e-6, rtol=1e-5, err_msg=f"point {row}"
        )


def test_eigen_features_tell_shapes_apart(blob):
    values, _ = eigen_features(blob, names=["linearity", "sphericity", "verticality"], k=10)
    ground, wall, pole = values[:300], values[300:380], values[380:]
    assert np.median(pole[:, 0]) > 0.9 and np.median(ground[:, 1]) < 0.05
    assert np.median(wall[:, 2]) > 0.9 > 0.1 > np.median(ground[:, 2])
    isolated, _ = eigen_features(np.array([[0.0, 0, 0], [9, 9, 9]]), names=list(EIGEN_FEATURES), radius=1.0)
    np.testing.assert_array_equal(isolated, 0.0)  # no spread: every feature 0, never NaN


def _reference_height(
    xyz: np.ndarray, row: int, *, radius: float, cell: float, cylinder: bool, outlier_filter: str | None
) -> dict[str, float]:
    centre = (np.floor(xyz[row, :2] / cell) + 0.5) * cell
    gap = np.abs(xyz[:, :2] - centre)
    inside = np.hypot(gap[:, 0], gap[:, 1]) <= radius if cylinder else gap.max(axis=1) <= radius
    z = xyz[inside, 2]
    if outlier_filter == "IQR":
        q1, q3 = np.percentile(z, [25, 75])
        z = z[(z >= q1 - 1.5 * (q3 - q1)) & (z <= q3 + 1.5 * (q3 - q1))]
    elif outlier_filter == "stdev":
        z = z[np.abs(z - z.mean()) <= 3 * z.std()]
    here = xyz[row, 2]
    return {
        "floor_coordinate": z.min(),
        "floor_distance": here - z.min(),
        "ceil_coordinate": z.max(),
        "ceil_distance": z.max() - here,
        "height_range": np.ptp(z),
        "mean_height": z.mean(),
        "median_height": np.median(z),
        "height_variance": z.var(),
        "height_stdev": z.std(),
        "height_skewness": stats.skew(z),
        "height_kurtosis": stats.kurtosis(z),
    }


@pytest.mark.parametrize(
    "neighborhood,outlier_filter", [("Rectangular2D", None), ("Cylinder", "IQR"), ("Rectangular2D", "stdev")]
)
def test_height_features_equal_numpy_statistics(neighborhood, outlier_filter):
    rng = np.random.default_rng(1)
    xyz = np.column_stack([rng.uniform(0, 20, (1500, 2)), rng.gamma(2.0, 2.0, 1500)])
    xyz[::97, 2] += 60.0  # outliers
    values = height_features(
        xyz,
        names=list(HEIGHT_FEATURES),
        radius=3.0,
        separation_factor=0.5,
        neighborhood=neighborhood,
        outlier_filter=outlier_filter,
    )
    for row in range(0, len(xyz), 37):
        expected = _reference_height(
            xyz, row, radius=3.0, cell=1.5, cylinder=neighborhood == "Cylinder", outlier_filter=outlier_filter
        )
        np.testing.assert_allclose(values[row], [expected[n] for n in HEIGHT_FEATURES], rtol=1e-9, atol=1e-9)
    if outlier_filter is not None:  # the outliers really left the statistics
        assert values[:, HEIGHT_FEATURES.index("ceil_coordinate")].max() < 40.0


def test_recipes_take_vl3d_names_and_frenames():
    radius = MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": 0.3, "fnames": ["linearity"]})
    knn = MinedFeatures.from_step({"miner": "GeometricFeatures", "k": 16, "fnames": ["PCA1"], "frenames": ["p1"]})
    height = MinedFeatures.from_step(
        {
            "miner": "HeightFeatures",
            "fnames": ["floor_distance"],
            "outlier_filter": None,
            "neighborhood": {"type": "Rectangular2D", "radius": 50, "separation_factor": 0.35},
        }
    )
    assert (radius.names, knn.names, height.names) == (
        ("linearity_r0.3",),
        ("p1",),
        ("floor_distance_r50_sep0.35",),
    )  # VL3D: an integer radius stays one
    assert radius.reach == 0.3 and knn.reach is None and height.reach == pytest.approx(50 + 0.5 * 17.5)
    assert MinedFeatures.from_config(height.to_config()) == height
    assert recipes_for(["intensity", "p1"], [radius, knn, height]) == (knn,)


def test_the_height_neighbourhood_type_is_case_insensitive_as_in_vl3d():
    """VL3D's specs write "cylinder": validated and computed as Cylinder, a disc in xy."""

    def step(kind: str) -> dict:
        hood = {"type": kind, "radius": 6.0, "separation_factor": 0.5}
        return {"miner": "HeightFeatures", "fnames": ["floor_distance"], "neighborhood": hood}

    assert MinedFeatures.from_step(step("cylinder")) == MinedFeatures.from_step(step("Cylinder"))
    assert MinedFeatures.from_step(step("RECTANGULAR2D")).params["neighborhood"] == "Rectangular2D"
    spec = miner_spec(["floor_distance_r6.0_sep0.5"], [step("cylinder")])
    assert check_spec(spec, check_files=False).issues == []
    issues = check_spec(miner_spec(["floor_distance_r6.0_sep0.5"], [step("sphere")]), check_files=False).issues
    assert [issue.path for issue in issues] == ["$.sequential_pipeline[1].neighborhood.type"], issues


def test_validation_knows_the_mined_names(tmp_path):
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")
    miner = {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity", "verticality"]}
    assert validate_spec(miner_spec(["intensity", "planarity_k16"], [miner]), base_dir=tmp_path) == []
    issues = validate_spec(miner_spec(["planarity_k61"], [miner]), base_dir=tmp_path)
    assert "did you mean" in issues[0].message and "planarity_k16, verticality_k16" in issues[0].message, issues
    late = validate_spec(miner_spec(["planarity_k16"], [miner], after=True), base_dir=tmp_path)
    assert "'planarity_k16' is not a feature" in late[0].message
    clash = {
        "miner": "HeightFeatures",
        "fnames": ["floor_distance"],
        "frenames": ["intensity"],
        "neighborhood": {"radius": 5.0},
    }
    neither = {"miner": "GeometricFeatures", "fnames": ["planarity"]}
    messages = [i.message for i in validate_spec(miner_spec(["intensity"], [clash, neither]), base_dir=tmp_path)]
    assert any("'intensity' is already a feature" in m for m in messages), messages
    assert any("give radius or k" in m for m in messages), messages


def test_vl3d_tuning_keys_of_miners_are_notes(tmp_path):
    """VL3D's nthreads and chunk sizes of miners are reported as accepted without effect."""
    geometric = {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"], "nthreads": 12}
    height = {
        "miner": "HeightFeatures",
        "fnames": ["floor_distance"],
        "neighborhood": {"radius": 5.0},
        "support_chunk_size": 500,
    }
    checked = check_spec(miner_spec(["planarity_k16"], [geometric, height]), check_files=False)
    assert checked.issues == []
    assert [(note.path, note.message[:26]) for note in checked.notes] == [
        ("$.sequential_pipeline[1].nthreads", "accepted, no effect here: "),
        ("$.sequential_pipeline[2].support_chunk_size", "accepted, no effect here: "),
    ]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("mined") / "scene.las"
    generate_urban_scene(seed=5, size_m=48.0).write(path)
    return path


def test_streamed_tiles_get_the_whole_cloud_mined_values(scene):
    recipes = [
        MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": 1.5, "fnames": ["planarity", "omnivariance"]}),
        MinedFeatures.from_step({"miner": "GeometricFeatures", "k": 24, "fnames": ["verticality"]}),
        MinedFeatures.from_step(
            {
                "miner": "HeightFeatures",
                "fnames": ["floor_distance", "height_kurtosis"],
                "outlier_filter": "IQR",
                "neighborhood": {"type": "Cylinder", "radius": 6.0, "separation_factor": 0.5},
            }
        ),
    ]
    names = ["intensity", *[n for r in recipes for n in r.names], "height_above_ground"]
    whole = extract_features(PointCloud.from_las(laspy.read(scene), path=scene), names, miners=recipes)
    streamed = streamed_features(scene, names, recipes, side=12.0)
    xy = laspy.read(scene).xyz[:, :2]
    assert len(np.unique(np.floor((xy - xy.min(axis=0)) / 12.0), axis=0)) >= 9  # tiles holding points
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-5)
    assert min(np.ptp(whole[:, j]) for j in range(1, len(names))) > 0.1  # real variation, not constants


def test_compute_mined_refuses_non_finite_values():
    recipe = MinedFeatures(
        "HeightFeatures",
        ("height_skewness",),
        ("s",),
        {"radius": 1.0, "separation_factor": 0.5, "neighborhood": "Rectangular2D", "outlier_filter": None},
    )
    values, reach = compute_mined(recipe, np.array([[0.0, 0, 1], [0.1, 0, 2], [0.2, 0, 6]]), names=["s"])
    assert np.isfinite(values).all() and reach.tolist() == [1.25] * 3


@pytest.mark.parametrize("clouds", [1, 2])
def test_vl3d_writer_after_miners_writes_the_mined_features_and_auto_trains_on_them(tmp_path, monkeypatch, clouds):
    import json

    from vl3d_focal.config import load_spec
    from vl3d_focal.io.las import read_cloud
    from vl3d_focal.runner.pipeline import execute_pipeline

    monkeypatch.chdir(tmp_path)
    names = [f"scene_{seed}.las" for seed in range(clouds)]
    for seed, name in enumerate(names):
        generate_urban_scene(seed=seed, size_m=24.0).write(tmp_path / name)
    geometric = {"miner": "GeometricFeatures", "k": 8, "fnames": ["planarity", "verticality"]}
    height = {"miner": "HeightFeatures", "fnames": ["floor_distance"], "neighborhood": {"radius": 4.0}}
    mine = {
        "in_pcloud": names,
        "out_pcloud": [f"mined/{name[:-4]}_*" for name in names],
        "sequential_pipeline": [geometric, height, {"writer": "Writer", "out_pcloud": "*feats.las"}],
    }
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    state = execute_pipeline(load_spec(tmp_path / "mine.json"))
    mined = [n for recipe in state.miners for n in recipe.names]
    assert mined == ["planarity_k8", "verticality_k8", "floor_distance_r4.0_sep0.35"]
    for name in names:
        written = laspy.read(tmp_path / f"mined/{name[:-4]}_feats.las")
        assert list(written.point_format.extra_dimension_names) == mined
        expected = extract_features(read_cloud(tmp_path / name), mined, miners=state.miners)
        np.testing.assert_array_equal(np.column_stack([written[n] for n in mined]), expected)
        assert np.ptp(expected, axis=0).min() > 0.1  # real values, not zeros
    train = {  # VL3D's mine, write, then train from the file: AUTO takes the stored features
        "in_pcloud": [f"mined/{names[0][:-4]}_feats.las"],
        "out_pcloud": ["forest/*"],
        "sequential_pipeline": [
            {
                "class_transformer": "ClassReducer",
                "input_class_names": [str(c) for c in range(256)],
                "output_class_names": ["ground", "other"],
                "class_groups": [["2"], [str(c) for c in range(256) if c != 2]],
            },
            {
                "train": "RandomForestClassifier",
                "fnames": ["AUTO"],
                "model_args": {"num_classes": 2, "n_estimators": 2},
            },
        ],
    }
    (tmp_path / "train.json").write_text(json.dumps(train))
    assert execute_pipeline(load_spec(tmp_path / "train.json")).bundle.feature_names == mined


def test_vl3d_single_component_miner_form_writes_the_mined_cloud(tmp_path, restore_logging):
    """VL3D's miner outside a pipeline: in_pcloud in, out_pcloud (a file) out, its frenames."""
    import json

    from vl3d_focal.cli import main
    from vl3d_focal.io.las import read_cloud

    generate_urban_scene(seed=3, size_m=16.0).write(tmp_path / "scene.las")
    step = {"miner": "GeometricFeatures", "radius": 1.0, "fnames": ["linearity", "PCA1"]}
    step["frenames"] = ["linearity_r1", "PCA1_r1"]
    doc = {**step, "in_pcloud": "scene.las", "out_pcloud": "out/scene_geom.laz"}
    (tmp_path / "mine.json").write_text(json.dumps(doc))
    assert main(["run", str(tmp_path / "mine.json")]) == 0
    written = laspy.read(tmp_path / "out" / "scene_geom.laz")
    assert list(written.point_format.extra_dimension_names) == ["linearity_r1", "PCA1_r1"]
    recipe = MinedFeatures.from_step(step)
    expected = extract_features(read_cloud(tmp_path / "scene.las"), list(recipe.names), miners=[recipe])
    np.testing.assert_allclose(np.column_stack([written[n] for n in recipe.names]), expected, rtol=1e-6)


def test_every_miner_step_has_the_record_its_recipes_and_checks_read():
    from vl3d_focal.config.schemas import steps_by_kind
    from vl3d_focal.data.miner_kinds import MINER_KINDS

    assert sorted(entry.name for entry in steps_by_kind()["miner"]) == sorted(MINER_KINDS)
    flags = {
        name: [f for f in ("radius_or_k", "separated", "smooths", "reads_colours", "pdal") if getattr(kind, f)]
        for name, kind in MINER_KINDS.items()
    }
    assert flags == {
        "GeometricFeatures": ["radius_or_k"],
        "HeightFeatures": ["separated"],
        "SmoothFeatures": ["smooths"],
        "HSVFromRGB": ["reads_colours"],
        "CovarianceFeatures": ["pdal"],
    }
    hsv = MinedFeatures.from_step({"miner": "HSVFromRGB", "hue_unit": "Degrees"})
    height = MinedFeatures("HeightFeatures", ("floor_distance",), ("fd",), {"radius": 2.0, "separation_factor": 0.5})
    assert (hsv.reach, height.reach, MinedFeatures("SmoothFeatures", (), (), {"radius": 1.5}).reach) == (0.0, 2.5, 1.5)
