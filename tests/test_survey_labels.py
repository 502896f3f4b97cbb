"""A survey's record names the models it scores as the run report does (two models trained in
the run, on the same classes, told apart by their train step), records an empty tile's header
facts (0 points, its CRS), and its progress counts the points of the tiles done only, as its last
line does (a failed tile's points are no points done)."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import pytest
from helpers import DEMO_CLASSES, random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.footprints import read_footprint
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.progress import Progress
from vl3d_focal.reports.run_summary import model_evaluations
from vl3d_focal.runner import cloud_phase

pytestmark = pytest.mark.usefixtures("restore_logging")


def _main(folder: Path, spec: dict, capsys) -> tuple[int, str]:
    """``vl3d-focal run`` in this process: exit status and stderr."""
    from vl3d_focal.cli import main

    (folder / "spec.json").write_text(json.dumps(spec))
    capsys.readouterr()
    status = main(["run", str(folder / "spec.json")])
    return status, capsys.readouterr().err


@pytest.fixture(scope="module")
def tiles(tmp_path_factory) -> Path:
    """``tiles/``: 2 small adjacent tiles of the synthetic scene (in EPSG:2154)."""
    root = tmp_path_factory.mktemp("survey_labels")
    paths, _ = split_scene(generate_urban_scene(seed=3, size_m=16.0), root / "scene", splits=2)
    (root / "tiles").mkdir()
    for path in paths[:2]:
        (root / "tiles" / path.name).write_bytes(path.read_bytes())
    return root


def _forest(seed: int) -> list[dict]:
    train = {
        "train": "RandomForestClassifier",
        "random_seed": seed,
        "fnames": ["intensity"],
        "model_args": {"num_classes": 5, "n_estimators": 2, "max_depth": 3},
    }
    return [train, {"predict": "PreviousModel"}, {"eval": "ClassificationEvaluator", "report_path": f"*e{seed}/e.json"}]


def test_two_models_trained_in_a_run_keep_the_reports_labels_and_an_empty_tile_its_header(tiles, capsys):
    first = tiles / "tiles" / "tile_0_0.las"
    header = laspy.read(first).header
    empty = laspy.LasData(header=laspy.LasHeader(point_format=header.point_format, version=header.version))
    empty.header.offsets, empty.header.scales = header.offsets, header.scales
    empty.header.vlrs.extend(header.vlrs)  # its CRS (WKT), as the other tiles'
    empty.write(tiles / "tiles" / "zz_empty.las")
    assert read_footprint(first).crs == read_footprint(tiles / "tiles" / "zz_empty.las").crs == "EPSG:2154"
    spec = {
        "in_pcloud": str(tiles / "tiles"),
        "out_pcloud": f"{tiles / 'out'}/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]},
            *_forest(1),
            *_forest(2),
        ],
    }
    status, stderr = _main(tiles, spec, capsys)
    assert status == 0, stderr[-3000:]
    out = tiles / "out"
    doc = json.loads((out / "survey.json").read_text())
    report = json.loads((out / "report.json").read_text())
    expected = [g["label"] for g in model_evaluations(report)]
    assert expected == ["RandomForestClassifier (step 2)", "RandomForestClassifier (step 5)"]
    assert [m["label"] for m in doc["models"]] == expected
    assert [m["tiles_summed"] for m in doc["models"]] == [2, 2]
    geo = json.loads((out / "survey.geojson").read_text())
    features = {f["properties"]["name"]: f for f in geo["features"]}
    for name in ("tile_0_0", "tile_0_1"):
        assert (features[name]["properties"]["model"], features[name]["properties"]["model_2"]) == tuple(expected)
    page = (out / "report.html").read_text(encoding="utf-8")
    survey_part = page[page.index('id="survey"') :]
    assert all(survey_part.count(f"<td>{label}</td>") == 2 for label in expected)  # a row per tile and model

    tile = {Path(t["path"]).name: t for t in doc["tiles"]}["zz_empty.las"]
    assert (tile["status"], tile["reason"], tile["points"], tile["crs"], tile["bounds"]) == (
        "skipped",
        "empty (0 points)",
        0,
        "EPSG:2154",
        None,
    )
    props = features["zz_empty"]["properties"]
    assert (props["points"], props["crs"], features["zz_empty"]["geometry"]) == (0, "EPSG:2154", None)
    assert doc["points_done"] == sum(t["points"] for t in doc["tiles"] if t["status"] == "done") > 0


def test_the_progress_counts_the_points_done_as_the_last_line(tiles, tmp_path, capsys, monkeypatch):
    bundle = random_bundle(fnames=["intensity"], radius=2.5, num_points=16, seed=5)
    save_bundle(bundle, tmp_path / "model.keras")
    folder = tmp_path / "tiles"
    folder.mkdir()
    for path in sorted((tiles / "tiles").glob("tile_*.las")):
        laspy.read(path).write(folder / f"{path.stem}.laz")
    data = (folder / "tile_0_1.laz").read_bytes()
    (folder / "truncated.laz").write_bytes(data[: len(data) // 2])  # its header reads, its points do not
    shown: list[tuple[float, float]] = []

    class Recorded(Progress):
        def __exit__(self, *exc: object) -> None:  # as the phase ends
            shown.append((self.done, self.total))
            super().__exit__(*exc)

    monkeypatch.setattr(cloud_phase, "Progress", Recorded)
    spec = {
        "in_pcloud": str(folder),
        "out_pcloud": f"{tmp_path / 'out'}/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(tmp_path / "model.keras")},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    status, stderr = _main(tmp_path, spec, capsys)
    assert status != 0 and "truncated.laz: failed" in stderr, stderr[-3000:]
    done = sum(laspy.read(path).header.point_count for path in folder.glob("tile_*.laz"))
    assert read_footprint(folder / "truncated.laz").points > 0
    assert shown == [(done, done)]  # 100%: the points of the tiles done, not the failed tile's
    assert f"survey: 2 tiles done, 0 skipped, 1 failed, {done:,} points in " in stderr
