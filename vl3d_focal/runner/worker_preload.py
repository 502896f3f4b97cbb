"""What the process that local Dask workers are forked from imports once, before any worker
exists: Keras (TensorFlow with it), Dask's worker and the modules a per-cloud task runs.

A local cluster's worker processes are forked from multiprocessing's fork server
(:func:`vl3d_focal.runner.executor.start_worker_server`), which imports this module when it
starts: each worker then begins with those imports done (about 7 s of a worker's start on a
2-core machine, TensorFlow's import most of it) and shares their memory pages with the others.
TensorFlow runs nothing here, nor lists its devices (CUDA set up before a fork cannot be used in
the child): its thread pools are made in each worker, with the worker's threads. :data:`~vl3d_focal.runner.executor.PRELOAD_QUIET_VARIABLE` set to ``1`` in the fork
server's environment leaves TensorFlow's C++ start-up lines out.

Example:
    >>> import subprocess, sys
    >>> code = "import sys, vl3d_focal.runner.worker_preload; print('keras' in sys.modules)"
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    'True\\n'
"""

from __future__ import annotations

import importlib
import os

from vl3d_focal.lazy import import_keras
from vl3d_focal.runner.executor import PRELOAD_QUIET_VARIABLE

TASK_MODULES = (
    "distributed.worker",
    "vl3d_focal.runner.cloud_task",
    "vl3d_focal.models.model_file",
    "vl3d_focal.steps.predict",
    "vl3d_focal.inference.prediction",
    "vl3d_focal.inference.streaming",
    "vl3d_focal.steps.evaluate",
    "vl3d_focal.reports.evaluation_report",
    "vl3d_focal.steps.writers",
)
"""The modules a worker's per-cloud tasks import (predict, evaluate, write) besides Keras."""

import_keras(quiet=os.environ.get(PRELOAD_QUIET_VARIABLE) == "1", devices=False)  # CUDA does not survive a fork
for _module in TASK_MODULES:
    importlib.import_module(_module)
