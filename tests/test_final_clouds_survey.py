"""VL3D's final clouds in a survey: ``--resume`` redoes a tile whose final cloud is missing or not
the one the record says its run wrote; a spec whose final clouds would lack predictions (a step of
another kind after the predict step's run of per-cloud steps) is refused. In this process, with
the local executor."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud
from vl3d_focal.io.output_guard import file_identity
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.runner.pipeline import execute_pipeline

pytestmark = pytest.mark.usefixtures("restore_logging")

PREDICT = {"predict": "ModelLoader", "model_path": "model.keras"}
MINER = {"miner": "HeightFeatures", "radius": 2.0, "fnames": ["height_above_min"]}


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """``tiles/``: 2 x 2 adjacent tiles; ``model.keras``: an untrained model on intensity and GPS time."""
    root = tmp_path_factory.mktemp("scene")
    las = generate_urban_scene(seed=11, size_m=24.0, density=1.0)
    split_scene(las, root / "tiles")
    bundle = random_bundle(fnames=["intensity", "gps_time"], radius=2.5, num_points=32, fit_on=PointCloud.from_las(las))
    save_bundle(bundle, root / "model.keras")
    return root


def _run(scene: Path, *, resume: bool = False, overwrite: bool = False) -> dict[str, dict]:
    """The survey of two tiles with final clouds ``out/a.laz`` and ``out/b.laz``: its record's tiles by stem."""
    spec = {"in_pcloud": ["tiles/tile_0_0.las", "tiles/tile_0_1.las"], "out_pcloud": ["out/a.laz", "out/b.laz"]}
    (scene / "final.json").write_text(json.dumps({**spec, "sequential_pipeline": [PREDICT]}))
    execute_pipeline(load_spec(scene / "final.json"), resume=resume, overwrite=overwrite)
    record = json.loads((scene / "out" / "a" / "survey.json").read_text())
    return {Path(tile["path"]).stem: tile for tile in record["tiles"]}


def test_resume_redoes_a_tile_whose_final_cloud_is_missing_or_another_run_s(scene, caplog):
    out = scene / "out"
    tiles = _run(scene)
    predicted = {name: laspy.read(out / f"{name}.laz")["prediction"] for name in ("a", "b")}
    assert [tiles[stem]["final_cloud"] for stem in ("tile_0_0", "tile_0_1")] == [
        file_identity(out / "a.laz"),
        file_identity(out / "b.laz"),
    ]
    for name, stem in (("a", "tile_0_0"), ("b", "tile_0_1")):  # every point of its tile, predicted
        assert len(predicted[name]) == laspy.read(scene / "tiles" / f"{stem}.las").header.point_count

    (out / "a.laz").unlink()  # missing: redone; b's is the run's: skipped
    (out / "b.laz").write_bytes((out / "b.laz").read_bytes())  # the same bytes, yet another file (not the run's)
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):  # without --overwrite the run would refuse to replace it
        tiles = _run(scene, resume=True, overwrite=True)
    assert [tiles[stem]["status"] for stem in ("tile_0_0", "tile_0_1")] == ["done", "done"]
    redone = [r.getMessage() for r in caplog.records if "processed again" in r.getMessage()]
    assert len(redone) == 1
    assert "tile_0_0.las (final cloud a.laz missing)" in redone[0]
    assert "tile_0_1.las (final cloud b.laz not written by the run that did it)" in redone[0]
    for name in ("a", "b"):
        np.testing.assert_array_equal(laspy.read(out / f"{name}.laz")["prediction"], predicted[name])
    assert tiles["tile_0_1"]["final_cloud"] == file_identity(out / "b.laz")

    caplog.clear()  # both final clouds are the run's now: nothing left to do
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        tiles = _run(scene, resume=True)
    assert [tiles[stem]["status"] for stem in ("tile_0_0", "tile_0_1")] == ["skipped", "skipped"]
    assert not any("processed again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("steps", "out_pcloud", "refused_at"),
    [
        ([PREDICT, MINER], ["o/a.laz", "o/b.laz"], "$.sequential_pipeline[1].miner"),
        (
            [PREDICT, MINER, {"writer": "Writer", "out_pcloud": "*w.laz"}],
            ["o/a.laz", "o/b.laz"],
            "$.sequential_pipeline[1].miner",
        ),
        ([PREDICT, MINER], ["o/a.laz"], "$.sequential_pipeline[1].miner"),  # one cloud: its task's predictions too
        ([MINER, PREDICT], ["o/a.laz", "o/b.laz"], None),  # the way out: the miner first
        ([PREDICT, MINER], "o/*", None),  # or no final cloud
    ],
)
def test_final_clouds_that_would_lack_the_predictions_are_refused(steps, out_pcloud, refused_at):
    inputs = ["a.las", "b.las"][: len(out_pcloud)] if isinstance(out_pcloud, list) else ["a.las", "b.las"]
    spec = {"in_pcloud": inputs, "out_pcloud": out_pcloud, "sequential_pipeline": steps}
    issues = [i for i in validate_spec(spec, check_files=False) if "final clouds" in i.message]
    assert [i.path for i in issues] == ([] if refused_at is None else [refused_at])
    if refused_at is not None:
        assert "would lack them; move this step before $.sequential_pipeline[0]" in issues[0].message


def test_run_logs_the_notes_on_final_clouds_once_at_info(scene, capsys):
    from vl3d_focal.cli import main

    spec = {"in_pcloud": ["tiles/tile_0_0.las", "tiles/tile_0_1.las"], "out_pcloud": ["notes/a.laz", "notes/b.laz"]}
    (scene / "notes.json").write_text(json.dumps({**spec, "sequential_pipeline": [PREDICT]}))
    capsys.readouterr()
    assert main(["run", str(scene / "notes.json")]) == 0
    told = [line for line in capsys.readouterr().err.splitlines() if "names the final cloud" in line]
    assert len(told) == 1 and " INFO vl3d_focal: " in told[0], told
    assert told[0].endswith(
        f"{scene / 'notes.json'}: $.out_pcloud[0]: note: out_pcloud 'notes/a.laz' names the final cloud (as in VL3D); "
        "the run's other outputs go under 'notes/a/' (likewise $.out_pcloud[1])"
    ), told
