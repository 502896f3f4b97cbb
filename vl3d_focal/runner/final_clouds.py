"""VL3D's final cloud: an ``out_pcloud`` entry that names a LAS/LAZ file is where the run
writes that input cloud, as the pipeline holds it after its last step, as a ``Writer`` writes
it (every dimension, the mined features, reduced classes, predictions).

The normalised spec carries these files (:func:`~vl3d_focal.config.prefixes.final_clouds`, by
each cloud's output prefix). A pipeline that ends with per-cloud steps writes them in the
clouds' tasks, after the last step (:mod:`~vl3d_focal.runner.cloud_task`, here or on a Dask
worker; a survey's record keeps each one's identity for ``--resume``); one that ends with another
step (a miner, a train step), in the driver, after it. The predictions of a task do not reach the
driver: validation refuses a step of another kind after a predict step's run of per-cloud steps
when the spec names final clouds (:mod:`~vl3d_focal.config.phase_checks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from vl3d_focal.steps.state import PipelineState
from vl3d_focal.steps.writers import run_state_writer


def write_final_clouds(state: PipelineState, *, targets: Mapping[str, str]) -> None:
    """Writes each cloud of ``state`` whose output prefix ``targets`` lists to its final cloud
    (atomically, as VL3D's ``Writer``: :func:`~vl3d_focal.steps.writers.run_state_writer`).

    Example:
        >>> write_final_clouds(state, targets={state.clouds[0].prefix: str(out / "final.laz")})
        >>> (out / "final.laz").is_file()
        True
    """
    for record in state.clouds:
        target = targets.get(record.prefix)
        if target is not None:
            run_state_writer({"writer": "Writer", "out_pcloud": target}, dataclasses.replace(state, clouds=[record]))
