"""What an interrupted run (Ctrl-C, or a batch scheduler's SIGTERM) kept, and the command that
continues it: ``--resume`` where it continues something (a train step's checkpoint; in a survey,
the tiles already done), else the same run again.

Example:
    >>> interruption_note({"in_pcloud": ["a.laz"], "out_pcloud": ["no/such/"],
    ...     "sequential_pipeline": [{"predict": "ModelLoader"}]}, spec_file="s.json")
    'run it again: vl3d-focal run s.json'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.config.checks import is_survey
from vl3d_focal.runner.outputs import spec_prefix
from vl3d_focal.training.files import TrainingFiles


def interruption_note(spec: Mapping[str, Any], *, spec_file: str) -> str:
    """What an interrupted run kept and the command that continues it: ``--resume`` where it
    continues something (a train step's checkpoint; in a survey, the tiles already done).

    Example:
        >>> steps = [{"predict": "ModelLoader"}]
        >>> interruption_note({"in_pcloud": ["a.laz", "b.laz"], "out_pcloud": ["no/such/"],
        ...     "sequential_pipeline": steps}, spec_file="s.json")
        'continue with: vl3d-focal run s.json --resume (the tiles already done are skipped)'
        >>> interruption_note({"in_pcloud": ["a.laz"], "out_pcloud": ["no/such/"],
        ...     "sequential_pipeline": [{"train": "PointNetPwiseClassifier"}]}, spec_file="s.json")
        'no training checkpoint was kept; run it again: vl3d-focal run s.json'
    """
    command = f"vl3d-focal run {spec_file}"
    survey = is_survey(spec)
    notes, resumes = [], survey
    trainings = TrainingFiles.of_run(spec_prefix(spec), steps=spec.get("sequential_pipeline", []))
    if trainings:  # each train step's own checkpoint
        kept = [str(files.resume_checkpoint) for files in trainings if files.resume_checkpoint.is_file()]
        resumes = resumes or bool(kept)
        several = len(kept) > 1
        notes.append(
            f"the training checkpoint{'s' * several} {', '.join(kept)} {'were' if several else 'was'} kept"
            if kept
            else "no training checkpoint was kept"
        )
    if resumes:
        notes.append(f"continue with: {command} --resume" + (" (the tiles already done are skipped)" if survey else ""))
    else:
        notes.append(f"run it again: {command}")
    return "; ".join(notes)
