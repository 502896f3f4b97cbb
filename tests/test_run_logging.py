"""A run changes no logger for longer than it lasts: after ``run_pipeline`` (a library call, on
the local executor or Dask's), ended or failed, the ``distributed`` loggers' levels and the
handlers of the package's, Dask's and the root logger are those the caller had before."""

from __future__ import annotations

import json
import logging

import pytest
from helpers import random_bundle

from vl3d_focal.config import load_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.runner.executor import DaskExecutor, ExecutorSettings
from vl3d_focal.runner.pipeline import run_pipeline

LOGGERS = ("", "vl3d_focal", "distributed")
"""The loggers a run adds handlers to or quiets: the root logger, the package's, Dask's."""


def _logging() -> dict[str, tuple[int, list[logging.Handler]]]:
    """Each logger's level and handlers, and the level of ``distributed.nanny`` (whose handlers
    are Dask's: its nannies add one each)."""
    state = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in LOGGERS}
    return {**state, "distributed.nanny": (logging.getLogger("distributed.nanny").level, [])}


@pytest.fixture
def callers_logging():
    """The caller's own settings: ``distributed`` at INFO (put back as it was after the test)."""
    dask_logger = logging.getLogger("distributed")
    level = dask_logger.level
    dask_logger.setLevel(logging.INFO)
    try:
        yield _logging()
    finally:
        dask_logger.setLevel(level)


def _spec(tmp_path, *, fnames: list[str], executor: dict | None = None):
    las = generate_urban_scene(seed=21, size_m=12.0)
    las.write(tmp_path / "scene.las")
    fit_on = PointCloud.from_las(las) if fnames == ["intensity"] else None
    save_bundle(random_bundle(fnames=fnames, radius=2.5, num_points=16, fit_on=fit_on), tmp_path / "model.keras")
    spec = {
        "in_pcloud": [str(tmp_path / "scene.las")],
        "out_pcloud": [f"{tmp_path / 'out'}/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(tmp_path / "model.keras")},
            {"writer": "PredictionsWriter", "out_preds": "*p.lbl"},
        ],
        **({"executor": executor} if executor else {}),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return load_spec(tmp_path / "spec.json")


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_run_leaves_the_loggers_as_the_caller_had_them(tmp_path, callers_logging, engine):
    if engine == "dask":
        pytest.importorskip("distributed")
    executor = {"engine": "dask", "workers": 1} if engine == "dask" else None
    run_pipeline(_spec(tmp_path, fnames=["intensity"], executor=executor))
    assert (tmp_path / "out" / "p.lbl").is_file()
    assert _logging() == callers_logging


def test_a_failed_run_leaves_the_loggers_as_the_caller_had_them(tmp_path, callers_logging):
    spec = _spec(tmp_path, fnames=["reflectance"])  # the cloud has no reflectance: the predict step fails
    with pytest.raises(DataError, match="reflectance"):
        run_pipeline(spec)
    assert _logging() == callers_logging


def test_a_dask_executor_that_cannot_start_leaves_the_loggers_as_they_were(monkeypatch, callers_logging):
    import dask.distributed

    def refuse(address, **options):
        raise OSError(f"Timed out trying to connect to {address}")

    monkeypatch.setattr(dask.distributed, "Client", refuse)
    with pytest.raises(DataError, match="cannot connect to the Dask scheduler"):
        DaskExecutor(ExecutorSettings("dask", None, 1, "tcp://127.0.0.1:1"))
    assert _logging() == callers_logging


class _FakeCluster:
    """A local cluster that starts no process and records its close (or fails to close)."""

    def __init__(self, closed: list[str], *, close_fails: bool) -> None:
        self.closed, self.close_fails = closed, close_fails

    def close(self) -> None:
        if self.close_fails:
            raise OSError("the scheduler is gone")
        self.closed.append("cluster")


class _FakeClient:
    """A client whose plugin registration fails; records its close."""

    def __init__(self, closed: list[str]) -> None:
        self.closed = closed

    def register_plugin(self, plugin) -> None:
        raise RuntimeError("the plugin cannot be sent")

    def close(self) -> None:
        self.closed.append("client")


@pytest.mark.parametrize(
    ("failing", "error", "closed_after"),
    [
        ("Client", "the client cannot connect", ["cluster"]),
        ("register_plugin", "the plugin cannot be sent", ["client", "cluster"]),
        ("Client and the cluster's close", "the client cannot connect", []),
    ],
)
def test_a_dask_executor_whose_start_fails_closes_what_it_started(
    monkeypatch, callers_logging, failing, error, closed_after
):
    import dask.distributed

    from vl3d_focal.runner import executor

    closed: list[str] = []

    def client(cluster):
        if failing == "register_plugin":
            return _FakeClient(closed)
        raise OSError("the client cannot connect")

    monkeypatch.setattr(executor, "start_worker_server", lambda settings, quiet: False)
    monkeypatch.setattr(
        dask.distributed, "LocalCluster", lambda **options: _FakeCluster(closed, close_fails="close" in failing)
    )
    monkeypatch.setattr(dask.distributed, "Client", client)
    with pytest.raises((OSError, RuntimeError), match=f"^{error}$"):  # the start's own error, as it was raised
        DaskExecutor(ExecutorSettings("dask", 2, 1, None))
    assert closed == closed_after
    assert _logging() == callers_logging
