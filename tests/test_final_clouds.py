"""VL3D's final cloud: an ``out_pcloud`` entry naming a LAS/LAZ file receives the input cloud as
the pipeline holds it after its last step (with the mined features); the run's other files go
under ``<folder>/<stem>/``."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal.config import load_spec
from vl3d_focal.config.prefixes import FINAL_CLOUDS_KEY, final_cloud_split
from vl3d_focal.data.features import extract_features
from vl3d_focal.io.las import read_cloud
from vl3d_focal.runner.pipeline import execute_pipeline

MINER = {"miner": "GeometricFeatures", "k": 6, "fnames": ["planarity", "verticality"]}
MINED = ["planarity_k6", "verticality_k6"]


def _cloud(path: Path, *, seed: int, points: int = 60) -> Path:
    rng = np.random.default_rng(seed)
    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.header.scales = [0.001] * 3
    x, y = rng.uniform(0, 10, points), rng.uniform(0, 10, points)
    las.x, las.y, las.z = x, y, 0.1 * x + rng.uniform(0, 2, points)
    las.classification = rng.choice([2, 6], points).astype(np.uint8)
    las.intensity = rng.integers(0, 1000, points).astype(np.uint16)
    las.write(path)
    return path


def _spec(folder: Path, inputs: list[str], outputs: list[str], steps: list | None = None) -> Path:
    spec = {"in_pcloud": inputs, "out_pcloud": outputs, "sequential_pipeline": steps or [MINER]}
    path = folder / "mine.json"
    path.write_text(json.dumps(spec))
    return path


def _check_final(final: Path, source: Path, miners) -> None:
    written, given = laspy.read(final), laspy.read(source)
    assert list(written.point_format.extra_dimension_names) == MINED
    np.testing.assert_array_equal(written.x, given.x)
    np.testing.assert_array_equal(written.classification, given.classification)
    np.testing.assert_array_equal(written.intensity, given.intensity)
    expected = extract_features(read_cloud(source), MINED, miners=miners)
    np.testing.assert_allclose(np.column_stack([written[n] for n in MINED]), expected, rtol=1e-6)


def test_a_file_out_pcloud_receives_the_final_cloud_and_the_run_files_go_under_its_stem(tmp_path):
    source = _cloud(tmp_path / "tile.las", seed=0)
    spec = load_spec(_spec(tmp_path, ["tile.las"], ["out/result.laz"]))
    assert spec["out_pcloud"] == [f"{tmp_path}/out/result/"]
    assert spec[FINAL_CLOUDS_KEY] == [f"{tmp_path}/out/result.laz"]
    state = execute_pipeline(spec)
    _check_final(tmp_path / "out" / "result.laz", source, state.miners)
    manifest = json.loads((tmp_path / "out" / "result" / "run.json").read_text())
    assert str(tmp_path / "out" / "result.laz") in manifest["files"]
    assert str(tmp_path / "out" / "result.laz") in manifest["planned"]
    assert not any(tmp_path.glob("out/*.partial*")) and not any(tmp_path.glob("out/.*"))


def test_the_final_cloud_follows_per_cloud_steps_too(tmp_path):
    source = _cloud(tmp_path / "tile.las", seed=1)
    steps = [MINER, {"writer": "Writer", "out_pcloud": "*feats.las"}]  # the last phase is per cloud
    state = execute_pipeline(load_spec(_spec(tmp_path, ["tile.las"], ["out/result.las"], steps)))
    _check_final(tmp_path / "out" / "result.las", source, state.miners)
    assert (tmp_path / "out" / "result" / "feats.las").is_file()


def test_two_clouds_with_two_files_each_get_their_own_final_cloud(tmp_path):
    sources = [_cloud(tmp_path / f"t{seed}.las", seed=seed, points=50 + 10 * seed) for seed in (0, 1)]
    spec = load_spec(_spec(tmp_path, ["t0.las", "t1.las"], ["out/a.laz", "out/b.LAZ"]))
    assert spec["out_pcloud"] == [f"{tmp_path}/out/a/", f"{tmp_path}/out/b/"]
    state = execute_pipeline(spec)
    for name, source in zip(["a.laz", "b.LAZ"], sources):
        _check_final(tmp_path / "out" / name, source, state.miners)
    assert (tmp_path / "out" / "a" / "run.json").is_file()


def test_a_final_cloud_is_split_from_its_prefix_only_for_a_cloud_file():
    assert final_cloud_split("x/result.laz") == ("x/result/", "x/result.laz")
    assert final_cloud_split("x/result_") == ("x/result_", None)
    assert final_cloud_split("x/result.laz/") == ("x/result.laz/", None)


def test_dask_workers_write_the_final_clouds_after_the_last_per_cloud_step(tmp_path):
    sources = [_cloud(tmp_path / f"t{seed}.las", seed=seed) for seed in (0, 1)]
    steps = [MINER, {"writer": "Writer", "out_pcloud": "*feats.las"}]
    spec = json.loads(_spec(tmp_path, ["t0.las", "t1.las"], ["out/a.las", "out/b.las"], steps).read_text())
    (tmp_path / "mine.json").write_text(json.dumps({**spec, "executor": {"engine": "dask", "workers": 1}}))
    state = execute_pipeline(load_spec(tmp_path / "mine.json"))
    for name, source in zip(["a", "b"], sources):
        _check_final(tmp_path / "out" / f"{name}.las", source, state.miners)
        assert (tmp_path / "out" / name / "feats.las").is_file()


def test_a_final_cloud_over_its_input_is_refused(tmp_path):
    from vl3d_focal.config import validate_spec

    _cloud(tmp_path / "tile.las", seed=0)
    issues = validate_spec(
        {"in_pcloud": "tile.las", "out_pcloud": "tile.las", "sequential_pipeline": [MINER]}, base_dir=tmp_path
    )
    assert [(i.path, i.message.split(" (")[0]) for i in issues] == [
        ("$.out_pcloud", f"this output would overwrite the input {tmp_path}/tile.las")
    ]
