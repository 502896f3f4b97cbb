"""The survey record, its map, the phases of a run and the progress (issue 14), without TensorFlow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import laspy
import numpy as np
import pytest

from vl3d_focal.io.buffer_neighbours import BufferNeighbours, file_signature
from vl3d_focal.io.footprints import Footprint, TileIndex, crs_from_wkt
from vl3d_focal.progress import Progress
from vl3d_focal.registry import STEPS
from vl3d_focal.reports.survey_map import survey_features
from vl3d_focal.runner import survey
from vl3d_focal.runner.cloud_phase import cloud_output_patterns, expand_patterns, phase_fingerprint, step_groups
from vl3d_focal.runner.cloud_task import CloudOutcome
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.steps.facts import EvaluationFacts, RunFacts

STEPS_OF_A_PHASE = [
    {"predict": "ModelLoader", "model_path": "m.keras", "chunk_points": 250_000, "buffer": None},
    {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.laz"},
]


def _record(tmp_path: Path, *, resume: bool) -> SurveyRecord:
    index = TileIndex(
        footprints=(
            Footprint(path="/d/a.laz", low=(0, 0, 0), high=(10, 10, 1), points=100, crs="EPSG:2154"),
            Footprint(path="/d/b.laz", low=(10, 0, 0), high=(20, 10, 1), points=50, crs="EPSG:2154"),
        )
    )
    return SurveyRecord.start(
        inputs=["/d/a.laz", "/d/b.laz", "/d/c.laz"],
        prefixes=[f"{tmp_path}/a/", f"{tmp_path}/b/", f"{tmp_path}/c/"],
        failures={"/d/c.laz": "point cloud /d/c.laz: corrupted LAS header"},
        model_prefix=f"{tmp_path}/",
        index=index,
        resume=resume,
    )


def _metrics(matrix):
    return {"OA": 0.5, "mIoU": 0.25, "class_names": ["x", "y"], "confusion_matrix": matrix, "per_class": {}}


def test_record_statuses_metrics_map_and_resume(tmp_path):
    record = _record(tmp_path, resume=False)
    phase = record.begin_phase(
        kinds=["predict", "writer"],
        model_fingerprint="m1",
        fingerprint=phase_fingerprint(STEPS_OF_A_PHASE, model_fingerprint="m1"),
    )
    patterns = cloud_output_patterns(STEPS_OF_A_PHASE)
    outputs = {name: expand_patterns(patterns, prefix=f"{tmp_path}/{name}/") for name in ("a", "b")}
    for name, matrix in (("a", [[3, 1], [0, 4]]), ("b", [[1, 0], [1, 1]])):
        facts = RunFacts(
            evaluations=[EvaluationFacts(cloud=f"/d/{name}.laz", report_path="r.json", metrics=_metrics(matrix))]
        )
        record.record(
            CloudOutcome(number=0, path=f"/d/{name}.laz", status="done", seconds=1.5, facts=facts, warnings=("w",)),
            phase=phase,
            outputs=outputs[name],
        )
    record.write(force=True, finished=True)
    text = (tmp_path / "survey.json").read_text()
    assert sum(line.startswith('  {"path": ') for line in text.splitlines()) == 3  # one tile per line
    doc = json.loads(text)
    assert doc["counts"] == {"done": 2, "skipped": 0, "failed": 1, "pending": 0} and doc["status"] == "finished"
    assert doc["metrics"]["confusion_matrix"] == [[4, 1], [1, 5]] and doc["tiles_summed"] == doc["tiles_scored"] == 2
    assert doc["metrics"]["OA"] == pytest.approx(9 / 11) and doc["points_done"] == 150
    tiles = {Path(t["path"]).name: t for t in doc["tiles"]}
    assert tiles["c.laz"]["error"].endswith("corrupted LAS header") and tiles["c.laz"]["bounds"] is None
    assert tiles["a.laz"]["outputs"] == [f"{tmp_path}/a/p.laz"] and tiles["a.laz"]["warnings"] == ["w"]
    assert set(tiles["a.laz"]["metrics"]) == {"OA", "mIoU", "class_names", "confusion_matrix"}
    geo = json.loads((tmp_path / "survey.geojson").read_text())
    assert [f["properties"]["name"] for f in geo["features"]] == ["a", "b", "c"]
    assert geo["features"][2]["geometry"] is None  # c has no readable header: listed without geometry
    assert geo["features"][1]["geometry"]["coordinates"][0][:3] == [[10, 0], [20, 0], [20, 10]]
    assert geo["features"][0]["properties"]["mIoU"] == 0.25

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.laz").write_bytes(b"x")  # only a's outputs exist
    again = _record(tmp_path, resume=True)
    same = again.begin_phase(
        kinds=["predict", "writer"],
        model_fingerprint="m1",
        fingerprint=phase_fingerprint(STEPS_OF_A_PHASE, model_fingerprint="m1"),
    )
    assert again.is_complete("/d/a.laz", phase=same, outputs=outputs["a"])
    assert not again.is_complete("/d/b.laz", phase=same, outputs=outputs["b"])  # its outputs are gone
    assert not again.is_complete("/d/c.laz", phase=same, outputs=[])  # failed
    again.skip("/d/a.laz", phase=same, outputs=outputs["a"])
    assert again.tiles[0]["status"] == "skipped" and again.tiles[0]["metrics"]["confusion_matrix"] == [[3, 1], [0, 4]]
    other = _record(tmp_path, resume=True)
    changed = other.begin_phase(
        kinds=["predict", "writer"],
        model_fingerprint="m2",
        fingerprint=phase_fingerprint(STEPS_OF_A_PHASE, model_fingerprint="m2"),
    )
    assert not other.is_complete("/d/a.laz", phase=changed, outputs=outputs["a"])  # another model
    steps = [STEPS_OF_A_PHASE[0], {**STEPS_OF_A_PHASE[1], "probabilities": True}]
    assert phase_fingerprint(steps, model_fingerprint="m1") != phase_fingerprint(
        STEPS_OF_A_PHASE, model_fingerprint="m1"
    )
    assert not _record(tmp_path, resume=False).previous  # without --resume nothing is reused


def test_record_writes_less_often_when_writing_takes_long(tmp_path, monkeypatch):
    """A write of d seconds is followed by none for max(WRITE_INTERVAL_S, d / WRITE_SHARE) seconds
    (a record of thousands of tiles must not take a quarter of a survey's time); a fake clock
    makes the test independent of the machine's speed."""
    now = [0.0]
    write_seconds = [0.0]
    writes = []

    def slow_map(path, tiles, *, crs, steps=()):
        now[0] += write_seconds[0]
        writes.append(now[0])

    monkeypatch.setattr(survey.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(survey, "write_survey_map", slow_map)
    record = _record(tmp_path, resume=False)

    def write_at(moment, **options):
        now[0] = moment
        record.write(**options)
        return len(writes)

    write_seconds[0] = 1.0  # a slow write: next one 1 / WRITE_SHARE = 20 s after it ended
    assert survey.WRITE_SHARE == 0.05 and survey.WRITE_INTERVAL_S == 2.0
    assert write_at(0.0) == 1
    assert write_at(3.0) == 1 and write_at(20.9) == 1
    assert write_at(21.0) == 2  # 1.0 + 20.0
    write_seconds[0] = 0.01  # fast writes: every WRITE_INTERVAL_S
    assert write_at(22.0) == 2 and write_at(41.9) == 2 and write_at(42.0) == 3
    assert write_at(43.0) == 3 and write_at(44.01) == 4
    assert write_at(44.02, force=True) == 5  # forced writes are never held back


def test_phases_group_consecutive_per_cloud_steps_and_split_at_a_new_model():
    names = [
        "LASClassMapping",
        "train",
        "PredictiveModelWriter",
        "PreviousModel",
        "ClassificationEvaluator",
        "ClassifiedPcloudWriter",
        "ModelLoader",
        "ClassifiedPcloudWriter",
    ]
    assert step_groups([STEPS.get(name) for name in names], [{}] * len(names)) == [[0], [1], [2], [3, 4, 5], [6, 7]]
    reducer = {"class_transformer": "ClassReducer", "on_predictions": True}
    phases = step_groups(
        [STEPS.get(n) for n in ("ModelLoader", "ClassReducer", "ClassificationEvaluator")], [{}, reducer, {}]
    )
    assert phases == [[0, 1, 2]]  # a reduction of the predictions is done cloud by cloud
    patterns = cloud_output_patterns([{"eval": "ClassificationEvaluator", "report_path": "*e/r.json"}])
    assert expand_patterns(patterns, prefix="o/a/")[:2] == ["o/a/e/r.json", "o/a/e/r.txt"]


def test_progress_lines_carry_a_note(caplog):
    ticks = iter([0.0, 10.0, 20.0])
    with caplog.at_level("INFO", logger="vl3d_focal.progress"):
        with Progress(
            "survey", total=300, unit="points", clock=lambda: next(ticks), terminal=None, quiet_s=0, log_every_s=5
        ) as progress:
            progress.note = "1/3 tiles, 0 failed"
            progress.advance(100)
    assert caplog.messages == ["survey: 33% (100/300 points), 10 s elapsed, ETA 20 s (1/3 tiles, 0 failed)"]


def test_crs_of_wkt_and_tile_neighbours():
    wkt = (
        'PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",AUTHORITY["EPSG","4171"]],'
        'UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","2154"]]'
    )
    assert crs_from_wkt(wkt) == "EPSG:2154" and crs_from_wkt('GEOGCRS["x",ID["EPSG",4326]]') == "EPSG:4326"
    index = TileIndex(
        footprints=tuple(
            Footprint(path=f"t{i}{j}", low=(i * 10, j * 10, 0), high=(i * 10 + 10, j * 10 + 10, 1), points=1)
            for i in range(3)
            for j in range(3)
        )
    )
    assert len(index.neighbours("t11", margin=0.5)) == 8 and len(index.neighbours("t00", margin=0.5)) == 3
    assert index.origin.tolist() == [0, 0, 0] and index.neighbours("nope", margin=1.0) == []


def test_a_compound_crs_gives_its_horizontal_part_and_mixed_tiles_give_none(tmp_path, caplog):
    from vl3d_focal.runner.inputs import read_inputs

    wkt1 = (
        'COMPD_CS["RGF93 v1 / Lambert-93 + NGF-IGN69 height",PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",'
        'AUTHORITY["EPSG","4171"]],UNIT["metre",1],AUTHORITY["EPSG","2154"]],VERT_CS["NGF-IGN69 height",'
        'VERT_DATUM["NGF-IGN69",2005],UNIT["metre",1],AUTHORITY["EPSG","5720"]]]'
    )
    wkt2 = (
        'COMPOUNDCRS["RGF93 v1 / Lambert-93 + NGF-IGN69 height",PROJCRS["RGF93 v1 / Lambert-93",BASEGEOGCRS["RGF93 v1",'
        'ID["EPSG",4171]],ID["EPSG",2154]],VERTCRS["NGF-IGN69 height",ID["EPSG",5720]]]'
    )
    assert crs_from_wkt(wkt1) == crs_from_wkt(wkt2) == "EPSG:2154"
    assert crs_from_wkt('COMPD_CS["x",LOCAL_CS["y"]]') is None
    tiles = [
        _write_tile(tmp_path / f"{name}.las", wkt)
        for name, wkt in (("a", wkt1), ("b", 'PROJCS["UTM 31N",AUTHORITY["EPSG","32631"]]'), ("c", None))
    ]
    with caplog.at_level("WARNING", logger="vl3d_focal.runner.inputs"):
        state = read_inputs(inputs=tiles, prefixes=[f"{tmp_path}/out/*"])
    assert [state.tile_index.get(tile).crs for tile in tiles] == ["EPSG:2154", "EPSG:32631", None]
    assert state.tile_index.crs() is None  # the survey map claims no CRS rather than a wrong one
    assert "not all in one coordinate system (EPSG:2154: a.las; EPSG:32631: b.las; none: c.las)" in caplog.text
    assert read_inputs(inputs=tiles[:1] + tiles[2:], prefixes=[f"{tmp_path}/o/*"]).tile_index.crs() == "EPSG:2154"


def _write_tile(path: Path, wkt: str | None) -> str:
    """A LAS file of two points, with ``wkt`` as its CRS (None: no CRS)."""
    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.x, las.y, las.z = [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]
    if wkt is not None:
        las.header.vlrs.append(laspy.vlrs.known.WktCoordinateSystemVlr(wkt))
    las.write(path)
    return str(path)


def test_tiles_of_several_crs_are_told_in_the_survey_record_its_map_and_the_run_report(tmp_path):
    """Not only the log: survey.json (the survey's warnings, each tile's crs), survey.geojson
    (each feature's crs, no crs member) and the run report (report.json, report.html) say it."""
    from vl3d_focal.config import load_spec
    from vl3d_focal.runner.pipeline import execute_pipeline

    lambert, utm = (f'PROJCS["x",AUTHORITY["EPSG","{code}"]]' for code in (2154, 32631))
    for name, wkt in (("a", lambert), ("b", utm), ("c", lambert)):
        _write_tile(tmp_path / f"{name}.las", wkt)
    steps = [{"writer": "Writer", "out_pcloud": "*cloud.laz"}]
    spec = {"in_pcloud": ["a.las", "b.las", "c.las"], "out_pcloud": "out/*", "sequential_pipeline": steps}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    execute_pipeline(load_spec(tmp_path / "spec.json"))
    out = tmp_path / "out"
    record = json.loads((out / "survey.json").read_text())
    told = "the input clouds are not all in one coordinate system (EPSG:2154: a.las, c.las; EPSG:32631: b.las)"
    assert record["crs"] is None and len(record["warnings"]) == 1 and record["warnings"][0].startswith(told)
    assert [tile["crs"] for tile in record["tiles"]] == ["EPSG:2154", "EPSG:32631", "EPSG:2154"]
    geo = json.loads((out / "survey.geojson").read_text())
    assert "crs" not in geo  # no one CRS is claimed for them
    assert [(f["properties"]["name"], f["properties"]["crs"]) for f in geo["features"]] == [
        ("a", "EPSG:2154"),
        ("b", "EPSG:32631"),
        ("c", "EPSG:2154"),
    ]
    report = json.loads((out / "report.json").read_text())
    assert [(w["step"], w["message"]) for w in report["warnings"]] == [(None, record["warnings"][0])]
    assert (out / "report.html").read_text().count(told) == 2  # among the warnings, and above the survey map


def test_tile_neighbours_are_the_boxes_that_meet_the_grown_box():
    """The vectorised test against the definition, on boxes of random sizes, touching included."""
    rng = np.random.default_rng(4)
    low = rng.integers(0, 50, (60, 2)).astype(float)
    high = low + rng.integers(0, 12, (60, 2))
    index = TileIndex(
        footprints=tuple(Footprint(path=f"t{k}", low=(*low[k], 0.0), high=(*high[k], 1.0), points=1) for k in range(60))
    )
    for margin in (0.0, 2.5):
        for k in range(60):
            grown_low, grown_high = low[k] - margin, high[k] + margin
            expected = [
                f"t{j}" for j in range(60) if j != k and np.all(low[j] <= grown_high) and np.all(grown_low <= high[j])
            ]
            assert [f.path for f in index.neighbours(f"t{k}", margin=margin)] == expected
    assert index.get("t7").high[:2] == tuple(high[7]) and index.get("t60") is None


def test_a_record_of_many_tiles_reads_back_as_written(tmp_path):
    """The one-tile-per-line files hold the documents the json module would write."""
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # benchmarks/, after the installed package
    from benchmarks.survey_record import evaluated_record

    record = evaluated_record(tmp_path, tiles=40)
    record.write(force=True)
    written = json.loads((tmp_path / "survey.json").read_text())
    expected = json.loads(json.dumps(record.document(finished=False)))
    assert {**written, "updated": None} == {**expected, "updated": None} and len(written["tiles"]) == 40
    assert json.loads((tmp_path / "survey.geojson").read_text()) == survey_features(record.tiles, crs=None)


def test_a_resumed_tile_is_done_again_when_the_neighbours_its_buffer_would_read_changed(tmp_path):
    """The record keeps the neighbours each tile's buffer read; with the tile index of a later
    run, a neighbour readable now, a repaired one (its file changed since it was left out) and a
    used one that is gone make the tile not done, as does a left-out neighbour that was done itself;
    a tile without buffer and a record written before records held the neighbours keep it done."""
    files = {name: tmp_path / f"{name}.las" for name in "abcd"}
    for path in files.values():
        path.write_bytes(b"points")

    def footprint(name: str, x: float) -> Footprint:
        return Footprint(path=str(files[name]), low=(x, 0, 0), high=(x + 10, 10, 1), points=10)

    row = {name: footprint(name, x) for name, x in (("a", 0), ("b", 10), ("c", 20), ("d", 30))}
    first = SurveyRecord.start(
        inputs=[str(path) for path in files.values()],
        prefixes=[f"{tmp_path}/out/{name}/" for name in files],
        failures={str(files["a"]): "point cloud a.las: cannot read its LAS header"},
        model_prefix=f"{tmp_path}/out/",
        index=TileIndex(footprints=(row["b"], row["c"], row["d"])),
        resume=False,
    )
    fingerprint = phase_fingerprint(STEPS_OF_A_PHASE, model_fingerprint="m1")
    phase = first.begin_phase(kinds=["predict", "writer"], model_fingerprint="m1", fingerprint=fingerprint)
    read = {  # b: a's header did not read; c: d's points did not (left out); d: no buffer
        "b": BufferNeighbours.read(metres=1.0, neighbours=[str(files["c"])], used=[str(files["c"])]),
        "c": BufferNeighbours.read(metres=1.0, neighbours=[str(files["b"]), str(files["d"])], used=[str(files["b"])]),
        "d": None,
    }
    for name, neighbours in read.items():
        outcome = CloudOutcome(number=0, path=str(files[name]), status="done", buffer_neighbours=neighbours)
        first.record(outcome, phase=phase, outputs=[])
    first.write(force=True, finished=True)
    written = {Path(tile["path"]).stem: tile["buffers"] for tile in json.loads(first.json_path.read_text())["tiles"]}
    assert written["a"] == [] and written["d"] == [None]
    assert written["c"] == [
        {"metres": 1.0, "used": [str(files["b"])], "left_out": {str(files["d"]): file_signature(files["d"])}}
    ]

    def changes(index: TileIndex) -> dict[str, list[str]]:
        again = SurveyRecord.start(
            inputs=[str(path) for path in files.values()],
            prefixes=[f"{tmp_path}/out/{name}/" for name in files],
            failures={},
            model_prefix=f"{tmp_path}/out/",
            index=index,
            resume=True,
        )
        same = again.begin_phase(kinds=["predict", "writer"], model_fingerprint="m1", fingerprint=fingerprint)
        assert all(again.is_complete(str(files[name]), phase=same, outputs=[]) for name in "bcd")
        return {name: again.buffer_changes(str(files[name]), phase=same, index=index) for name in "bcd"}

    repaired = TileIndex(footprints=tuple(row.values()))
    # d's points did not read for c's buffer, yet d was done itself: a passing error, c is done again
    assert changes(repaired) == {"b": ["a.las readable now"], "c": ["d.las left out, yet done itself"], "d": []}
    files["d"].write_bytes(b"repaired points")
    assert changes(repaired) == {"b": ["a.las readable now"], "c": ["d.las changed since it was left out"], "d": []}
    gone = changes(TileIndex(footprints=(row["b"], row["d"])))  # c's header no longer reads: it fails on its own
    assert gone["b"] == ["c.las used, no longer readable"] and gone["d"] == []

    resumed = SurveyRecord.start(
        inputs=[str(files["c"])],
        prefixes=[f"{tmp_path}/out/c/"],
        failures={},
        model_prefix=f"{tmp_path}/out/",
        index=repaired,
        resume=True,
    )
    resumed.begin_phase(kinds=["predict", "writer"], model_fingerprint="m1", fingerprint=fingerprint)
    resumed.skip(str(files["c"]), phase=0, outputs=[])
    assert resumed.tiles[0]["buffers"] == written["c"]  # a skipped tile keeps what its buffer read

    older = json.loads(first.json_path.read_text())  # written before records held the buffers' neighbours
    for tile in older["tiles"]:
        del tile["buffers"]
    first.json_path.write_text(json.dumps(older))
    assert changes(repaired) == {"b": [], "c": [], "d": []}


def test_a_neighbour_left_out_of_a_buffer_though_done_itself_makes_the_tile_done_again(tmp_path):
    from vl3d_focal.runner.survey import SurveyRecord

    neighbour = tmp_path / "b.las"
    neighbour.write_bytes(b"unchanged since")  # its points failed to read once, its file did not change
    index = TileIndex(
        footprints=(
            Footprint(path="a.las", low=(0, 0, 0), high=(10, 10, 5), points=9),
            Footprint(path=str(neighbour), low=(10, 0, 0), high=(20, 10, 5), points=9),
        )
    )
    left_out = BufferNeighbours(metres=2.0, used=(), left_out={str(neighbour): file_signature(neighbour)}).to_json()

    def changes(status: str) -> list[str]:
        previous = {"a.las": {"buffers": [left_out]}, str(neighbour): {"status": status}}
        return SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous=previous).buffer_changes(
            "a.las", phase=0, index=index
        )

    assert changes("done") == ["b.las left out, yet done itself"]
    assert changes("failed") == []  # still broken: nothing to gain from predicting the tile again


def test_tiles_without_a_crs_take_the_others_one_and_are_warned_of(tmp_path, caplog):
    """crs() (the survey map's) and crs_warnings() agree: tiles without a CRS among tiles of one
    are taken to be in it, and the warning says so (before, it told to reproject tiles all in one CRS
    while the map claimed that CRS); tiles of several CRSs give none and the warning lists them."""
    from vl3d_focal.runner.inputs import read_inputs

    lambert = 'PROJCS["x",AUTHORITY["EPSG","2154"]]'
    tiles = [_write_tile(tmp_path / f"{name}.las", wkt) for name, wkt in (("a", lambert), ("b", None), ("c", lambert))]
    with caplog.at_level("WARNING", logger="vl3d_focal.runner.inputs"):
        index = read_inputs(inputs=tiles, prefixes=[f"{tmp_path}/out/*"]).tile_index
    assert index.crs() == "EPSG:2154"
    told = (
        "the input clouds without a coordinate system in their header (b.las) are taken to be in EPSG:2154, by "
        "neighbour buffers and the survey map, as the others (a.las, c.las); give them theirs if it is another"
    )
    assert index.crs_warnings() == [told] and [r.message for r in caplog.records] == [told]
    footprints = [
        Footprint(path=f"{n}.las", low=(0, 0, 0), high=(1, 1, 1), points=1, crs=c)
        for n, c in (("a", "EPSG:2154"), ("b", None), ("c", "EPSG:32631"))
    ]
    assert TileIndex(footprints=tuple(footprints)).crs() is None
    assert (
        TileIndex(footprints=tuple(footprints))
        .crs_warnings()[0]
        .startswith(
            "the input clouds are not all in one coordinate system (EPSG:2154: a.las; none: b.las; EPSG:32631: c.las): "
            "they are taken as one by neighbour buffers and the survey map; reproject them first"
        )
    )
    alone = TileIndex(footprints=(footprints[1], footprints[1]))
    assert alone.crs() is None and alone.crs_warnings() == []  # no CRS at all: nothing to compare
