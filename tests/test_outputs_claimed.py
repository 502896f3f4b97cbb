"""A file outside the run's folders is claimed in ``run.json`` (with the identity it had, None for
absent) before anything writes it, and confirmed with its identity once written: a run killed
after a Dask worker wrote one but before the task's outcome reached the run still owns it, so a
``--resume`` replaces it without ``--overwrite``; a plain re-run stops and says that ``--resume``
takes it (anyone may have written it since the kill); a file that was there at the claim stays a
stranger's.

The kill is simulated: the run claims, the file is written as a worker writes it (a plain write,
which no guard of the run sees), and the run's lock is released with its manifest still running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.output_guard import file_identity
from vl3d_focal.runner.manifest import OutputsTaken, RunManifest


def _spec(root: Path, *, model: Path) -> dict:
    return {
        "in_pcloud": [str(root / "a.las")],
        "out_pcloud": [f"{root / 'runs' / 'K'}/"],
        "sequential_pipeline": [{"writer": "PredictiveModelWriter", "out_model": str(model)}],
    }


def _manifest(root: Path) -> dict:
    return json.loads((root / "runs" / "K" / "run.json").read_text())


def _killed_after_a_worker_wrote(spec: dict, model: Path, **options) -> None:
    killed = RunManifest(spec, spec_file="K.json", **options)
    killed.claim()
    model.parent.mkdir(exist_ok=True)
    model.write_text("written by a worker; its outcome never came")
    killed._guarding.close()  # SIGKILL: its process (and guard) gone, the manifest still says running,
    killed.lock.release()  # the system drops the lock


@pytest.mark.parametrize("killed_again", [False, True])
def test_a_killed_runs_unconfirmed_outside_file_is_its_own_for_a_resume(tmp_path, killed_again):
    model = tmp_path / "models" / "shared.keras"
    spec = _spec(tmp_path, model=model)
    _killed_after_a_worker_wrote(spec, model)
    killed = _manifest(tmp_path)
    assert killed["status"] == "running" and killed["claimed"] == {str(model): None}
    assert str(model) not in killed["files"] and str(model) not in killed["identities"]
    with pytest.raises(OutputsTaken, match=r"claimed by this spec's killed run.*--resume continues that run"):
        RunManifest(spec, spec_file="K.json").claim()  # a plain re-run: the file may be anyone's since the kill
    assert model.read_text() == "written by a worker; its outcome never came"

    again = RunManifest(spec, spec_file="K.json", resume=True)
    again.claim()  # not refused: the killed run wrote it
    taken = _manifest(tmp_path)
    assert taken["earlier_files"] == [str(model)] and taken["claimed"] == {str(model): file_identity(model)}
    assert taken["identities"] == {str(model): file_identity(model)}  # confirmed as that run's
    if killed_again:
        again.lock.release()  # killed again before it wrote: the file is now the spec's, for any re-run
        RunManifest(spec, spec_file="K.json").claim()
        return
    with atomic_output(model) as tmp:
        tmp.write_text("the resumed run's model")
    again.finish("done")
    assert model.read_text() == "the resumed run's model"
    assert _manifest(tmp_path)["identities"][str(model)] == file_identity(model)


def test_a_file_there_before_the_killed_runs_claim_stays_a_strangers(tmp_path):
    model = tmp_path / "models" / "shared.keras"
    model.parent.mkdir()
    model.write_text("a user's model")
    spec = _spec(tmp_path, model=model)
    with pytest.raises(OutputsTaken, match=r"shared\.keras: exists outside"):
        RunManifest(spec, spec_file="K.json").claim()
    killed = RunManifest(spec, spec_file="K.json", overwrite=True)  # may replace it, killed before it did
    killed.claim()
    assert _manifest(tmp_path)["claimed"] == {str(model): file_identity(model)}
    killed.lock.release()
    for resume in (False, True):
        with pytest.raises(OutputsTaken, match=r"shared\.keras: exists outside"):
            RunManifest(spec, spec_file="K.json", resume=resume).claim()
    assert model.read_text() == "a user's model"
