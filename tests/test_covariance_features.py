"""VL3D's legacy CovarianceFeatures miner: PDAL's features (NumPy float64 references of
filters.covariancefeatures' and filters.optimalneighborhood's formulas, hand-computed on a box),
as a GeometricFeatures recipe where one is equal, its default names, its validation (VL3D's
covariance specs), its values on a tile with a margin, and a pipeline that mines and trains with it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, run_steps, streamed_features
from scipy.spatial import cKDTree

from vl3d_focal.config import check_spec
from vl3d_focal.data.covariance_features import covariance_recipe
from vl3d_focal.data.miners import MinedFeatures, compute_mined
from vl3d_focal.data.pdal_features import PDAL_PI, optimal_neighbourhood, pdal_features
from vl3d_focal.data.synthetic import generate_urban_scene

STEP = {"miner": "CovarianceFeatures", "neighborhood": "spherical", "radius": 0.5, "min_neighs": 3, "mode": "Raw"}


def _cloud(n: int = 600) -> np.ndarray:
    rng = np.random.default_rng(0)
    plane = np.column_stack([rng.uniform(0, 3, n), rng.uniform(0, 3, n), rng.normal(scale=0.05, size=n)])
    plane[: n // 3, 2] += 2.0 * plane[: n // 3, 0]  # a slope, so that verticality varies
    return plane


def _pdal(xyz: np.ndarray, rows: list[np.ndarray], mode: str) -> dict[str, np.ndarray]:
    """PDAL's features (but Density) of each neighbourhood (row indices), from its covariance divided by n - 1."""
    found: dict[str, list[float]] = {}
    for row in rows:
        offsets = xyz[row] - xyz[row].mean(axis=0)
        values, vectors = np.linalg.eigh(offsets.T @ offsets / (len(row) - 1))
        l3, l2, l1 = np.maximum(values, 0.0)
        total = l1 + l2 + l3
        if mode == "Normalized":
            l1, l2, l3 = (v / total for v in (l1, l2, l3))
        elif mode == "SQRT":
            l1, l2, l3 = (np.sqrt(v) for v in (l1, l2, l3))
        unary = l1 * np.abs(vectors[:, 2]) + l2 * np.abs(vectors[:, 1]) + l3 * np.abs(vectors[:, 0])
        features = {
            "Linearity": (l1 - l2) / l1,
            "Planarity": (l2 - l3) / l1,
            "Scattering": l3 / l1,
            "Verticality": unary[2] / np.linalg.norm(unary),
            "Anisotropy": (l1 - l3) / l1,
            "SurfaceVariation": l3 / total,
            "Omnivariance": np.cbrt(l1 * l2 * l3),
            "Eigenentropy": -sum(v * np.log(v) for v in (l1, l2, l3) if v > 0),
            "EigenvalueSum": total,
            "DemantkeVerticality": 1.0 - abs(vectors[2, 0]),
        }
        for name, value in features.items():
            found.setdefault(name, []).append(float(value))
    return {name: np.array(values) for name, values in found.items()}


@pytest.mark.parametrize(
    ("mode", "fnames"),
    [
        ("Raw", ["Linearity", "Planarity", "Scattering", "Anisotropy", "SurfaceVariation", "DemantkeVerticality"]),
        ("Normalized", ["Linearity", "Omnivariance", "Eigenentropy", "DemantkeVerticality"]),
    ],
)
def test_its_values_are_pdal_s_and_those_of_geometric_features(mode, fnames):
    xyz = _cloud()
    recipe = MinedFeatures.from_step({**STEP, "mode": mode, "fnames": fnames})
    assert recipe.miner == "GeometricFeatures" and recipe.params == {"radius": 0.5}
    values, _ = compute_mined(recipe, xyz, names=recipe.names)
    geometric = MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": 0.5, "fnames": list(recipe.features)})
    np.testing.assert_array_equal(values, compute_mined(geometric, xyz, names=geometric.names)[0])
    rows = [np.array(row) for row in cKDTree(xyz).query_ball_point(xyz, 0.5)]
    counted = np.array([len(row) >= 3 for row in rows])  # PDAL's min_k: fewer neighbours get no values there
    assert counted.mean() > 0.95
    reference = _pdal(xyz, [row for row in rows if len(row) >= 3], mode)
    for column, name in enumerate(fnames):
        # a cube root of a product with a tiny smallest eigenvalue (few neighbours) magnifies rounding: atol 1e-5
        np.testing.assert_allclose(values[counted, column], reference[name], rtol=1e-7, atol=1e-5, err_msg=name)


def test_a_knn_neighbourhood_is_the_point_and_its_min_neighs_nearest():
    xyz = _cloud()
    recipe = MinedFeatures.from_step({**STEP, "neighborhood": "KNN", "min_neighs": 8, "fnames": ["Planarity"]})
    assert recipe.params == {"k": 9} and recipe.names == ("Planarity_K8",)
    values, _ = compute_mined(recipe, xyz, names=recipe.names)
    _, rows = cKDTree(xyz).query(xyz, k=9)
    np.testing.assert_allclose(values[:, 0], _pdal(xyz, list(rows), "Raw")["Planarity"], rtol=1e-7, atol=1e-9)


ALL = ["Linearity", "Planarity", "Scattering", "Verticality", "Anisotropy", "SurfaceVariation", "Omnivariance"]
ALL += ["Eigenentropy", "EigenvalueSum", "DemantkeVerticality"]


@pytest.mark.parametrize("mode", ["Raw", "Normalized", "SQRT"])
def test_pdal_s_own_features_in_each_mode(mode):
    xyz = _cloud()
    recipe = MinedFeatures.from_step({**STEP, "mode": mode, "fnames": ["all"]})
    assert recipe.miner == "CovarianceFeatures" and recipe.params == {
        "radius": 0.5,
        "mode": mode,
        "optimal_k": [10, 14],
    }
    assert recipe.names[-1] == "Density_r0.5"
    values, reach = compute_mined(recipe, xyz, names=recipe.names[:-1])
    rows = [np.array(row) for row in cKDTree(xyz).query_ball_point(xyz, 0.5)]
    # 3 points are coplanar: l3 is rounding, whose square root's cube root (SQRT's Omnivariance) is not compared
    counted = np.array([len(row) >= 4 for row in rows])
    reference = _pdal(xyz, [row for row in rows if len(row) >= 4], mode)
    for column, name in enumerate(ALL):
        # a cube root of a product with a tiny smallest eigenvalue (few neighbours) magnifies rounding: atol 1e-5
        np.testing.assert_allclose(values[counted, column], reference[name], rtol=1e-7, atol=1e-5, err_msg=name)
    assert reach.min() == 0.5


def test_each_formula_on_a_box_by_hand():
    """The 8 corners of a 1 x 2 x 3 box: PDAL's covariance (divided by n - 1 = 7) is diag(2, 8, 18) / 7."""
    box = np.array([[x, y, z] for x in (0.0, 1) for y in (0.0, 2) for z in (0.0, 3)])
    l1, l2, l3 = 18 / 7, 8 / 7, 2 / 7  # eigenvectors z, y, x
    total = l1 + l2 + l3
    for mode, (a, b, c) in {
        "Raw": (l1, l2, l3),
        "Normalized": (l1 / total, l2 / total, l3 / total),
        "SQRT": (np.sqrt(l1), np.sqrt(l2), np.sqrt(l3)),
    }.items():
        expected = [
            (a - b) / a,
            (b - c) / a,
            c / a,
            a / np.sqrt(a**2 + b**2 + c**2),  # Verticality: |(c, b, a)|'s z share
            (a - c) / a,
            c / total,  # SurfaceVariation: over the sum of the raw eigenvalues, as PDAL
            np.cbrt(a * b * c),
            -(a * np.log(a) + b * np.log(b) + c * np.log(c)),
            total,
            1.0,  # DemantkeVerticality: the normal is x
        ]
        values, _ = pdal_features(box, names=ALL, mode=mode, k=8)
        np.testing.assert_allclose(values, np.tile(expected, (8, 1)), rtol=1e-12, atol=1e-14, err_msg=mode)


def _optimal(xyz: np.ndarray, min_k: int, max_k: int) -> tuple[np.ndarray, np.ndarray]:
    """PDAL's optimal neighbourhood, point by point: the k (point itself first) of least eigenentropy
    of the normalised eigenvalues of the covariance divided by k - 1, and the k-th's distance."""
    distance, index = cKDTree(xyz).query(xyz, k=max_k)
    best_k, best_r = [], []
    for row in range(len(xyz)):
        entropies = []
        for k in range(min_k, max_k + 1):
            offsets = xyz[index[row, :k]] - xyz[index[row, :k]].mean(axis=0)
            values = np.maximum(np.linalg.eigvalsh(offsets.T @ offsets / (k - 1)), 0.0)
            share = values / values.sum()
            entropies.append(-np.sum(share * np.log(share)))
        best = int(np.argmin(entropies))
        best_k.append(min_k + best)
        best_r.append(distance[row, min_k + best - 1])
    return np.array(best_k), np.array(best_r)


def test_density_and_optimize_take_pdal_s_optimal_neighbourhood():
    xyz = _cloud(300)
    k_opt, r_opt = _optimal(xyz, 10, 14)
    assert len(set(k_opt.tolist())) > 2  # the optimum varies
    found_k, found_r, _, reach = optimal_neighbourhood(xyz, xyz, ids=np.arange(len(xyz)), min_k=10, max_k=14)
    np.testing.assert_array_equal(found_k, k_opt)
    np.testing.assert_allclose(found_r, r_opt, rtol=1e-12)
    step = {**STEP, "fnames": ["Density", "Linearity", "Verticality"], "optimize": True}
    recipe = MinedFeatures.from_step(step)
    assert recipe.params == {"radius": 0.5, "mode": "Raw", "optimize": True, "optimal_k": [10, 14]}
    assert recipe.reach is None  # it depends on the density
    values, mined_reach = compute_mined(recipe, xyz, names=recipe.names)
    density = (k_opt + 1.0) / (4.0 / 3.0 * PDAL_PI * r_opt**3)
    np.testing.assert_allclose(values[:, 0], density, rtol=1e-10)
    _, index = cKDTree(xyz).query(xyz, k=14)
    reference = _pdal(xyz, [index[row, :k] for row, k in enumerate(k_opt)], "Raw")
    np.testing.assert_allclose(values[:, 1], reference["Linearity"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(values[:, 2], reference["Verticality"], rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(mined_reach, reach)
    # without optimize, Density still takes the optimal neighbourhood, the others the radius
    plain, _ = compute_mined(MinedFeatures.from_step({**step, "optimize": False}), xyz, names=recipe.names)
    np.testing.assert_array_equal(plain[:, 0], values[:, 0])
    rows = [np.array(row) for row in cKDTree(xyz).query_ball_point(xyz, 0.5)]
    counted = np.array([len(row) >= 4 for row in rows])
    reference = _pdal(xyz, [row for row in rows if len(row) >= 4], "Raw")
    np.testing.assert_allclose(plain[counted, 2], reference["Verticality"], rtol=1e-7, atol=1e-9)


def test_a_tile_with_its_margin_gets_the_whole_cloud_s_values():
    xyz = _cloud()
    recipe = MinedFeatures.from_step({**STEP, "fnames": ["Density", "Verticality", "Omnivariance"]})
    whole, reach = compute_mined(recipe, xyz, names=recipe.names)
    tile = np.flatnonzero(xyz[:, 0] < 1.0)
    margin = float(reach[tile].max())
    kept = np.flatnonzero(xyz[:, 0] < 1.0 + margin * (1 + 1e-9))
    queries = np.searchsorted(kept, tile)
    values, _ = compute_mined(recipe, xyz[kept], names=recipe.names, queries=queries, ids=kept)
    np.testing.assert_array_equal(values, whole[tile])


def test_default_names_are_vl3d_s_and_frenames_count_the_features_of_a_set():
    miner, features, names, params = covariance_recipe({**STEP, "radius": 0.3, "fnames": ["Linearity", "Scattering"]})
    assert (miner, features, names, params) == (
        "GeometricFeatures",
        ("linearity", "sphericity"),
        ("Linearity_r0.3", "Scattering_r0.3"),
        {"radius": 0.3},
    )
    miner, features, names, _ = covariance_recipe({**STEP, "radius": 0.3, "fnames": ["Dimensionality"]})
    assert miner == "CovarianceFeatures" and features == ("Linearity", "Planarity", "Scattering", "Verticality")
    assert names == ("Linearity_r0.3", "Planarity_r0.3", "Scattering_r0.3", "Verticality_r0.3")


def _checked(steps: list[dict], **doc: object) -> tuple[list[str], list[str]]:
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps, **doc}
    checked = check_spec(doc, check_files=False)
    return [str(issue) for issue in checked.issues], [str(note) for note in checked.notes]


def test_vl3d_s_covariance_specs_validate():
    """VL3D's covar_features_miner.json, covar_features_pipeline.json and
    covar_features_pipeline_documentation.json (legacy; Density, PDAL's Verticality, Raw
    Eigenentropy and Omnivariance)."""
    common = {"miner": "CovarianceFeatures", "neighborhood": "spherical", "min_neighs": 3, "mode": "Raw"}
    miner = {**common, "radius": 0.1, "optimize": False, "fnames": ["Density", "Dimensionality"], "nthreads": 12}
    miner["frenames"] = ["density_r0_1", "linearity_r0_1", "planarity_r0_1", "scattering_r0_1", "verticality_r0_1"]
    first = {**common, "radius": 0.05, "fnames": ["Linearity", "Planarity", "SurfaceVariation"], "nthreads": 12}
    second = {**common, "radius": 0.1, "fnames": [*first["fnames"], "Eigenentropy", "Omnivariance"], "nthreads": 12}
    third = {**common, "radius": 0.15, "fnames": [*first["fnames"], "Verticality", "Anisotropy"], "nthreads": 1}
    issues, notes = _checked([miner, first, second, third])
    assert issues == []
    assert "$.sequential_pipeline[0].min_neighs: accepted, no effect here: in a spherical neighbourhood a point " in (
        "\n".join(notes)
    )
    assert any(note.startswith("$.sequential_pipeline[1].nthreads: accepted, no effect here") for note in notes)


def test_its_own_keys_are_checked():
    issues, _ = _checked([{**STEP, "fnames": ["DemantkeVerticality"], "frenames": ["a", "b"]}])
    assert issues == [
        "$.sequential_pipeline[0].frenames: expected 1 names (one per feature, a feature set counting as its features); got 2"
    ]
    issues, _ = _checked([{**STEP, "neighborhood": "knn", "min_neighs": 1, "fnames": ["Linearity"]}])
    assert issues == [
        "$.sequential_pipeline[0].min_neighs: min_neighs=1: a knn neighbourhood needs at least 2 neighbours"
    ]
    issues, notes = _checked([{**STEP, "optimize": True, "fnames": ["Linearity"]}])
    assert issues == [] and "$.sequential_pipeline[0].radius: accepted, no effect here: with optimize the " in (
        "\n".join(notes)
    )


def test_a_forest_learns_from_its_features_and_keeps_their_recipes(tmp_path):
    path = tmp_path / "scene.las"
    generate_urban_scene(seed=1, size_m=20.0).write(path)
    miner = {**STEP, "radius": 1.5, "fnames": ["Linearity", "Scattering"]}
    pdal = {**STEP, "radius": 1.5, "fnames": ["Density", "Verticality"], "frenames": ["density", "vert"]}
    forest = {
        "train": "RandomForestClassifier",
        "fnames": ["Linearity_r1.5", "Scattering_r1.5", "density", "vert"],
        "random_seed": 3,
        "model_args": {"n_estimators": 2},
    }
    state = run_steps(tmp_path, "train", [path], "out", [TWO_CLASS_MAPPING, miner, pdal, forest])
    assert [recipe.to_config() for recipe in state.bundle.miners] == [
        {
            "miner": "GeometricFeatures",
            "features": ["linearity", "sphericity"],
            "names": ["Linearity_r1.5", "Scattering_r1.5"],
            "params": {"radius": 1.5},
        },
        {
            "miner": "CovarianceFeatures",
            "features": ["Density", "Verticality"],
            "names": ["density", "vert"],
            "params": {"radius": 1.5, "mode": "Raw", "optimal_k": [10, 14]},
        },
    ]


def test_streamed_tiles_get_the_whole_cloud_values(tmp_path):
    import laspy

    from vl3d_focal.data.features import extract_features
    from vl3d_focal.io.las import PointCloud

    scene = tmp_path / "scene.las"
    generate_urban_scene(seed=5, size_m=36.0).write(scene)
    recipes = [
        MinedFeatures.from_step({**STEP, "radius": 1.5, "fnames": ["Density", "Verticality"]}),
        MinedFeatures.from_step({**STEP, "optimize": True, "fnames": ["Omnivariance"], "mode": "SQRT"}),
    ]
    names = [n for r in recipes for n in r.names]
    whole = extract_features(PointCloud.from_las(laspy.read(scene), path=scene), names, miners=recipes)
    streamed = streamed_features(scene, names, recipes, side=12.0)
    xy = laspy.read(scene).xyz[:, :2]
    assert len(np.unique(np.floor((xy - xy.min(axis=0)) / 12.0), axis=0)) >= 9  # tiles holding points
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-5)
    assert min(np.ptp(whole[:, j]) for j in range(len(names))) > 0.01  # real variation, not constants
