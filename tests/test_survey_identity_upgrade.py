"""A survey resumed after an upgrade: a phase's fingerprint leaves the steps' null-valued keys out,
so a key the package adds with a null default redoes no tile, and a record written before (its
fingerprints of the steps with their null keys, one of them perhaps not there yet) still matches;
a real change redoes the tiles. And a tile skipped as empty keeps no final cloud of an earlier run
(as a failed tile keeps none)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import laspy
import pytest
from helpers import final_clouds_scene

from vl3d_focal.config import load_spec
from vl3d_focal.runner.cloud_phase import phase_fingerprint
from vl3d_focal.runner.pipeline import execute_pipeline

pytestmark = pytest.mark.usefixtures("restore_logging")


def _old_style(steps, *, model_fingerprint) -> str:
    """The fingerprint versions before this one gave a phase: its steps as they were, null keys too."""
    text = json.dumps({"model": model_fingerprint, "steps": list(steps)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_phase_fingerprint_leaves_null_keys_out():
    steps = [{"predict": "ModelLoader", "model_path": "m.keras"}]
    same = phase_fingerprint(steps, model_fingerprint="m")
    assert phase_fingerprint([{**steps[0], "new_key": None}], model_fingerprint="m") == same
    assert phase_fingerprint([{**steps[0], "new_key": 0}], model_fingerprint="m") != same
    assert phase_fingerprint(steps, model_fingerprint="n") != same


@pytest.fixture
def scene(tmp_path) -> Path:
    """Two tiles predicted into the final clouds ``out/a.laz`` and ``out/b.laz``."""
    return final_clouds_scene(tmp_path)


def _record(scene: Path) -> dict:
    return json.loads((scene / "out" / "a" / "survey.json").read_text())


def _resume_with_fingerprint(scene: Path, fingerprint: str) -> dict[str, str]:
    """Writes ``fingerprint`` as every tile's phase in survey.json, resumes; the tiles' statuses."""
    record = _record(scene)
    for tile in record["tiles"]:
        tile["phases"] = [fingerprint]
    (scene / "out" / "a" / "survey.json").write_text(json.dumps(record))
    execute_pipeline(load_spec(scene / "final.json"), resume=True)
    return {Path(tile["path"]).stem: tile["status"] for tile in _record(scene)["tiles"]}


@pytest.mark.parametrize("upgrade", ["same steps", "a key added since"])
def test_a_record_of_an_earlier_version_resumes_without_redoing_its_tiles(scene, upgrade):
    steps = load_spec(scene / "final.json")["sequential_pipeline"]
    model = _record(scene)["phases"][0]["model_fingerprint"]
    assert _record(scene)["tiles"][0]["phases"] == [phase_fingerprint(steps, model_fingerprint=model)]
    nulls = [key for key, value in steps[0].items() if value is None]
    if upgrade == "a key added since":  # the record was written before the package added that key
        assert nulls, steps[0]
        steps = [{key: value for key, value in steps[0].items() if key != nulls[0]}]
    before = (scene / "out" / "a.laz").stat().st_mtime_ns
    statuses = _resume_with_fingerprint(scene, _old_style(steps, model_fingerprint=model))
    assert statuses == {"tile_0_0": "skipped", "tile_0_1": "skipped"}
    assert (scene / "out" / "a.laz").stat().st_mtime_ns == before  # not written again
    assert _record(scene)["tiles"][0]["phases"] == [_record(scene)["phases"][0]["fingerprint"]]  # now the new one


def test_a_real_change_of_the_steps_redoes_the_tiles(scene):
    steps = load_spec(scene / "final.json")["sequential_pipeline"]
    model = _record(scene)["phases"][0]["model_fingerprint"]
    changed = [{**steps[0], "model_path": "another.keras"}]
    for fingerprint in (
        _old_style(changed, model_fingerprint=model),
        phase_fingerprint(changed, model_fingerprint=model),
    ):
        statuses = _resume_with_fingerprint(scene, fingerprint)
        assert statuses == {"tile_0_0": "done", "tile_0_1": "done"}


def _empty(path: Path) -> None:
    """``path`` rewritten as a tile of no point (its header kept)."""
    header = laspy.read(path).header
    empty = laspy.LasData(header=laspy.LasHeader(point_format=header.point_format, version=header.version))
    empty.header.offsets, empty.header.scales = header.offsets, header.scales
    empty.write(path)


def test_a_tile_skipped_as_empty_keeps_no_final_cloud_of_an_earlier_run(scene):
    out = scene / "out"
    _empty(scene / "tiles" / "tile_0_0.las")
    execute_pipeline(load_spec(scene / "final.json"), resume=True)
    tiles = {Path(tile["path"]).stem: tile for tile in _record(scene)["tiles"]}
    assert tiles["tile_0_0"]["status"] == "skipped" and tiles["tile_0_0"]["reason"] == "empty (0 points)"
    assert tiles["tile_0_1"]["status"] == "skipped"
    assert not (out / "a.laz").exists() and (out / "b.laz").is_file()


def test_a_tile_skipped_as_empty_keeps_a_final_cloud_the_earlier_run_did_not_write(scene):
    out = scene / "out"
    (out / "a.laz").write_bytes(b"not the run's")  # another file: not the record's
    _empty(scene / "tiles" / "tile_0_0.las")
    execute_pipeline(load_spec(scene / "final.json"), resume=True, overwrite=True)
    assert (out / "a.laz").read_bytes() == b"not the run's"
