"""A survey on a running Dask cluster: ``dask scheduler`` and ``dask worker`` started as
subprocesses on 127.0.0.1 (issue 14), the run given ``--scheduler ADDRESS``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import laspy
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle

READY_TIMEOUT_S = 180
"""Bound of the wait for the scheduler and its worker (a loaded machine starts them slowly)."""


def _dask(*args: str, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "dask"), *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _wait_for_cluster(scheduler_file: Path, processes: list[subprocess.Popen]):
    """A client of the cluster once its scheduler file exists and a worker joined (polled)."""
    from dask.distributed import Client

    deadline = time.monotonic() + READY_TIMEOUT_S
    while not scheduler_file.is_file():
        assert all(p.poll() is None for p in processes), "a dask process exited"
        assert time.monotonic() < deadline, "no scheduler file"
        time.sleep(0.2)
    client = Client(scheduler_file=str(scheduler_file), timeout=READY_TIMEOUT_S)
    client.wait_for_workers(1, timeout=max(1.0, deadline - time.monotonic()))
    return client


DRIVER = (
    "import sys; from vl3d_focal.cli import main; status = main(sys.argv[1:]); "
    "print('driver imported:', [m for m in ('tensorflow', 'keras') if m in sys.modules]); sys.exit(status)"
)
"""``vl3d-focal`` with the command line's arguments, then which of TensorFlow and Keras its process imported."""


def test_a_survey_runs_on_a_scheduler_and_worker_started_apart(tmp_path):
    pytest.importorskip("distributed")
    las = generate_urban_scene(seed=21, size_m=30.0)
    tiles, _ = split_scene(las, tmp_path / "tiles")
    bundle = random_bundle(fnames=["intensity"], radius=2.5, num_points=32, fit_on=PointCloud.from_las(las))
    save_bundle(bundle, tmp_path / "model.keras")
    spec = {
        "in_pcloud": "tiles/",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "model.keras"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _dask(
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-dashboard",
        "--scheduler-file",
        str(scheduler_file),
        log=tmp_path / "scheduler.log",
    )
    processes = [scheduler]
    client = None
    try:
        processes.append(
            _dask(
                "worker",
                "--scheduler-file",
                str(scheduler_file),
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
                log=tmp_path / "worker.log",
            )
        )
        client = _wait_for_cluster(scheduler_file, processes)
        address = client.scheduler.address
        assert address.startswith("tcp://127.0.0.1:")
        run = subprocess.run(  # the command line's main, then what the driver process imported
            [sys.executable, "-c", DRIVER, "run", "spec.json", "--scheduler", address],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"dask: 1 worker at {address}" in run.stderr
        assert "driver imported: []" in run.stdout, run.stdout  # only the worker loaded the model
        record = json.loads((tmp_path / "out" / "survey.json").read_text())
        assert record["counts"] == {"done": 4, "skipped": 0, "failed": 0, "pending": 0}
        for tile in tiles:
            written = laspy.read(tmp_path / "out" / tile.stem / "predicted.laz")
            assert len(written.points) == laspy.read(tile).header.point_count
        from vl3d_focal.runner import cloud_task

        # the model was loaded once by the worker for the 4 tiles, with 1 compute thread
        loads = client.run(lambda: (cloud_task.CACHE.loads, os.environ.get("VL3D_FOCAL_THREADS")))
        assert list(loads.values()) == [(1, "1")], loads
    finally:
        if client is not None:
            client.close()
        for process in reversed(processes):
            _stop(process)
