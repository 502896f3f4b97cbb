"""Which engine an ``executor`` object selects (dask-only keys without ``engine`` select Dask, as
``--workers`` does), what validation says of dask-only keys with ``"engine": "local"``, and an
unreachable scheduler: announced before the wait, its error naming where the address came from."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from helpers import write_model_metadata, write_point_cloud

import vl3d_focal.runner.executor as executor_module
from vl3d_focal.cli import main
from vl3d_focal.config import load_spec, read_spec
from vl3d_focal.errors import SpecError
from vl3d_focal.runner.executor import ExecutorSettings, requested_settings, with_overrides

STEPS = [
    {"predict": "ModelLoader", "model_path": "m.keras"},
    {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
]
LOCAL_NOTE = (
    '{key} is for the dask engine, but "engine": "local" runs the clouds one after another in this process; '
    'set "engine": "dask" or remove "{key}"'
)


@pytest.fixture()
def tiles(tmp_path: Path) -> Path:
    for name in ("t1.laz", "t2.laz"):
        write_point_cloud(tmp_path / name)
    write_model_metadata(tmp_path / "m.keras")
    return tmp_path


def _spec(folder: Path, executor: dict | None) -> Path:
    path = folder / "spec.json"
    extra = {} if executor is None else {"executor": executor}
    path.write_text(
        json.dumps({"in_pcloud": ["t1.laz", "t2.laz"], "out_pcloud": "out/*", "sequential_pipeline": STEPS, **extra})
    )
    return path


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        (None, ExecutorSettings("local", None, 1, None)),
        ({}, ExecutorSettings("local", None, 1, None)),
        ({"workers": 2}, ExecutorSettings("dask", 2, 1, None)),
        ({"workers": None}, ExecutorSettings("local", None, 1, None)),  # null: as absent
        ({"threads_per_worker": 1, "scheduler": None}, ExecutorSettings("local", None, 1, None)),  # the defaults
        ({"workers": None, "threads_per_worker": 2}, ExecutorSettings("dask", None, 2, None)),
        ({"threads_per_worker": 3}, ExecutorSettings("dask", None, 3, None)),
        ({"scheduler": "tcp://head:8786"}, ExecutorSettings("dask", None, 1, "tcp://head:8786")),
        ({"engine": "dask"}, ExecutorSettings("dask", None, 1, None)),
        (
            {"engine": "local", "workers": None, "threads_per_worker": 1, "scheduler": None},
            ExecutorSettings("local", None, 1, None),
        ),
    ],
)
def test_dask_only_keys_without_engine_select_dask(tiles: Path, executor, expected):
    path = _spec(tiles, executor)
    spec, notes, _ = read_spec(path)
    assert notes == []
    assert ExecutorSettings.from_spec(spec) == expected
    doc = json.loads(path.read_text())
    assert requested_settings(doc, workers=None, scheduler=None) == expected  # the fork server's guess agrees


def test_local_engine_with_workers_or_threads_is_noted_and_runs_locally(tiles: Path):
    path = _spec(tiles, {"engine": "local", "workers": 4, "threads_per_worker": 2})
    spec, notes, _ = read_spec(path)
    assert sorted((note.path, note.message.split("here: ", 1)[1]) for note in notes) == [
        ("$.executor.threads_per_worker", LOCAL_NOTE.format(key="threads_per_worker")),
        ("$.executor.workers", LOCAL_NOTE.format(key="workers")),
    ]
    assert ExecutorSettings.from_spec(spec) == ExecutorSettings("local", 4, 2, None)
    assert ExecutorSettings.from_spec(with_overrides(spec, workers=3, scheduler=None)).engine == "dask"  # --workers
    with pytest.raises(SpecError) as caught:
        load_spec(path, strict=True)
    assert sorted(issue.path for issue in caught.value.issues) == [
        "$.executor.threads_per_worker",
        "$.executor.workers",
    ]


def test_local_engine_with_a_scheduler_is_an_error_saying_what_to_change(tiles: Path):
    with pytest.raises(SpecError) as caught:
        load_spec(_spec(tiles, {"engine": "local", "scheduler": "tcp://head:8786"}))
    assert [(issue.path, issue.message) for issue in caught.value.issues] == [
        (
            "$.executor.scheduler",
            'a scheduler address needs the dask engine, but "engine": "local" runs the clouds one after another '
            'in this process; set "engine": "dask" or remove "scheduler"',
        )
    ]


def _refusing_address() -> str:
    """A local TCP port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.mark.parametrize("given", ["--scheduler", "executor.scheduler"])
def test_an_unreachable_scheduler_is_announced_and_its_error_names_where_it_was_given(
    tiles: Path, monkeypatch, capsys, given
):
    monkeypatch.setattr(executor_module, "CONNECT_TIMEOUT_S", 0.5)
    address = _refusing_address()
    if given == "--scheduler":
        status = main(["run", str(_spec(tiles, None)), "--scheduler", address])
    else:
        status = main(["run", str(_spec(tiles, {"scheduler": address}))])  # no engine: the scheduler selects dask
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.splitlines()
    connecting = [
        i for i, line in enumerate(lines) if f"dask: connecting to the scheduler at {address} (up to 0.5 s)" in line
    ]
    error = [i for i, line in enumerate(lines) if line.startswith("vl3d-focal: error: ")]
    assert connecting and error and connecting[0] < error[0], err
    assert lines[error[0]].startswith(
        f"vl3d-focal: error: {given}: cannot connect to the Dask scheduler at '{address}' ("
    ), err
    assert not (tiles / "out" / "t1" / "predicted.laz").exists()
