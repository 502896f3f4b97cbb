"""``vl3d-focal demo OUT`` refuses a folder holding another run's outputs before writing anything there,
and the refusal of a prefix shows long paths with balanced quotes."""

from __future__ import annotations

import json
from pathlib import Path

from vl3d_focal import cli
from vl3d_focal.runner.demo import DEMO_SPEC
from vl3d_focal.runner.manifest import spec_changes


def test_the_demo_refuses_another_runs_folder_before_writing_anything(tmp_path: Path, capsys):
    run = tmp_path / "focal"
    run.mkdir()
    manifest = {"fingerprint": "abc", "spec_file": "focal.json", "status": "done", "files": ["report.html"]}
    (run / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    (run / "report.html").write_text("<html></html>", encoding="utf-8")
    before = sorted(path.relative_to(run) for path in run.rglob("*"))

    assert cli.main(["demo", str(run)]) == 2

    err = capsys.readouterr().err
    assert f"{run}: holds the outputs of another run (spec focal.json, done; see {run / 'run.json'})" in err
    assert "has written nothing" in err and "--overwrite" in err
    assert sorted(path.relative_to(run) for path in run.rglob("*")) == before  # no data/, no demo_pipeline.json
    assert not (run / DEMO_SPEC).exists() and not (run / "data").exists()


def test_a_long_path_in_the_spec_changes_keeps_its_quotes():
    old = "/work/shared/data/ign/test_data_77060_627760_LA93_IGN69.laz"
    changes = spec_changes({"in_pcloud": [old]}, {"in_pcloud": ["/tmp/run/data/demo_test.las"]})
    assert changes == [
        '$.in_pcloud[0]: "/work/shared/data/ign/..._data_77060_627760_LA93_IGN69.laz" -> "/tmp/run/data/demo_test.las"'
    ]
    shown = changes[0].split(": ", 1)[1]
    assert shown.count('"') == 4
