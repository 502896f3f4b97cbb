"""A survey tile that fails in a resumed run keeps no final cloud of an earlier run of the spec (as
it keeps none of its other outputs): the record's final cloud of the tile is deleted, and said so
in the failure's log line and error; a final cloud that run did not write is kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import pytest
from helpers import final_clouds_scene

from vl3d_focal.config import load_spec
from vl3d_focal.errors import DataError
from vl3d_focal.runner.pipeline import execute_pipeline

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def scene(tmp_path) -> Path:
    """Two tiles predicted into the final clouds ``out/a.laz`` and ``out/b.laz``; then ``tile_0_0``
    loses the GPS time the model reads, so that its task fails."""
    final_clouds_scene(tmp_path)
    whole = laspy.read(tmp_path / "tiles" / "tile_0_0.las")
    old = laspy.create(point_format=0, file_version="1.2")  # no gps_time
    old.header.offsets, old.header.scales = whole.header.offsets, whole.header.scales
    old.x, old.y, old.z = whole.x, whole.y, whole.z
    old.write(tmp_path / "tiles" / "tile_0_0.las")
    return tmp_path


def _resume(scene: Path, *, overwrite: bool = False) -> dict[str, dict]:
    with pytest.raises(DataError, match="1 of 2 tile"):
        execute_pipeline(load_spec(scene / "final.json"), resume=True, overwrite=overwrite)
    record = json.loads((scene / "out" / "a" / "survey.json").read_text())
    return {Path(tile["path"]).stem: tile for tile in record["tiles"]}


def test_a_failed_tile_s_final_cloud_of_an_earlier_run_is_deleted(scene, caplog):
    out = scene / "out"
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        tiles = _resume(scene)
    assert [tiles[stem]["status"] for stem in ("tile_0_0", "tile_0_1")] == ["failed", "skipped"]
    assert not (out / "a.laz").exists() and (out / "b.laz").is_file()
    assert tiles["tile_0_0"]["removed_outputs"] == [str(out / "a.laz")]
    assert tiles["tile_0_0"]["error"].endswith("(the outputs an earlier run left for it were deleted: a.laz)")
    said = [r.getMessage() for r in caplog.records if "deleted the outputs" in r.getMessage()]
    assert said == [f"tile_0_0.las: failed; deleted the outputs an earlier run left for it: {out / 'a.laz'}"]


def test_a_failed_tile_s_final_cloud_the_earlier_run_did_not_write_is_kept(scene):
    out = scene / "out"
    (out / "a.laz").write_bytes(b"not the run's")  # another file: not the record's
    tiles = _resume(scene, overwrite=True)  # the run may replace it: it fails first
    assert tiles["tile_0_0"]["status"] == "failed" and tiles["tile_0_0"]["removed_outputs"] == []
    assert (out / "a.laz").read_bytes() == b"not the run's"
