"""How a local cluster's Dask workers start: forked from multiprocessing's fork server, which
imported Keras and the task modules once (``vl3d_focal.runner.worker_preload``), with the
worker's thread settings; the driver's environment is left as it was."""

from __future__ import annotations

import os
import sys

import pytest

from vl3d_focal.runner.executor import PRELOAD_QUIET_VARIABLE, DaskExecutor, ExecutorSettings, start_worker_server
from vl3d_focal.runner.worker_process import THREAD_VARIABLES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")


def test_the_fork_server_is_for_local_clusters_and_leaves_this_environment_alone():
    before = {name: os.environ.get(name) for name in (*THREAD_VARIABLES, PRELOAD_QUIET_VARIABLE)}
    assert start_worker_server(ExecutorSettings("dask", 2, 3, None), quiet=True)
    assert {name: os.environ.get(name) for name in before} == before
    assert not start_worker_server(ExecutorSettings("dask", None, 1, "tcp://127.0.0.1:8786"), quiet=True)
    assert not start_worker_server(ExecutorSettings("local", None, 1, None), quiet=True)


def test_a_local_worker_is_forked_with_keras_imported_and_takes_its_threads():
    def probe(task, shared):
        import tensorflow as tf
        import threadpoolctl

        with open(f"/proc/{os.getppid()}/cmdline", encoding="utf-8") as cmdline:
            parent = cmdline.read().replace("\0", " ")
        blas = {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}
        return (
            "multiprocessing.forkserver" in parent,
            "vl3d_focal.runner.worker_preload" in sys.modules,  # imported by the server only
            os.environ["VL3D_FOCAL_THREADS"],
            tf.config.threading.get_intra_op_parallelism_threads(),
            blas,
        )

    executor = DaskExecutor(ExecutorSettings("dask", workers=1, threads_per_worker=2, scheduler=None))
    try:
        (outcome,) = list(executor.run(probe, [None], shared=None))
    finally:
        executor.close()
    forked, preloaded, threads, intra_op, blas = outcome
    assert (forked, preloaded, threads, intra_op) == (True, True, "2", 2)
    assert blas == {2}  # numpy's BLAS, loaded in the server with its threads, runs the worker's


@pytest.mark.parametrize(
    ("executor", "argv", "expected"),
    [
        ({"engine": "dask", "threads_per_worker": 2}, [], ExecutorSettings("dask", None, 2, None)),
        ({}, ["--workers", "2"], ExecutorSettings("dask", 2, 1, None)),
        ({"engine": "local"}, [], ExecutorSettings("local", None, 1, None)),
    ],
)
def test_run_asks_for_the_fork_server_before_it_validates_the_spec(tmp_path, monkeypatch, executor, argv, expected):
    import json

    import vl3d_focal.config
    import vl3d_focal.runner.executor as executor_module
    from vl3d_focal.cli import main
    from vl3d_focal.errors import SpecError, SpecIssue

    calls = []

    def record_start(settings, *, quiet):
        calls.append(("server", settings))
        return False

    def stop_at_validation(path):
        calls.append(("validate", None))
        raise SpecError([SpecIssue("$", "stopped here", str(path))])

    monkeypatch.setattr(executor_module, "start_worker_server", record_start)
    monkeypatch.setattr(vl3d_focal.config, "read_spec", stop_at_validation)
    spec = tmp_path / "survey.json"
    spec.write_text(json.dumps({"in_pcloud": "a.laz", "out_pcloud": "out/*", "executor": executor}))
    assert main(["run", str(spec), *argv]) == 2
    assert calls == [("server", expected), ("validate", None)]


def test_a_spec_that_cannot_be_parsed_starts_no_server(tmp_path, monkeypatch):
    import vl3d_focal.runner.executor as executor_module
    from vl3d_focal.cli import main

    started = []
    monkeypatch.setattr(executor_module, "start_worker_server", lambda settings, *, quiet: started.append(settings))
    spec = tmp_path / "broken.json"
    spec.write_text('{"executor": {"engine": "dask"')
    assert main(["run", str(spec)]) == 2
    assert started == []
