"""The files a training writes, under ``<first output prefix>training/`` for the spec's first
train step and ``<first output prefix>training_<k>/`` for its k-th (:func:`training_folder`).

Kept apart from the engine (no TensorFlow here) so that the train step can declare its outputs
to validation and preflight.

Example:
    >>> files = TrainingFiles.under("out/run_")
    >>> files.history_csv.as_posix(), files.resume_checkpoint.as_posix()
    ('out/run_training/history.csv', 'out/run_training/resume/checkpoint.npz')
    >>> TrainingFiles.under("out/", ordinal=2).class_weights.as_posix()
    'out/training_2/class_weights.json'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAINING_FOLDER = "training/"
"""The first train step's model-level training outputs go to ``<first prefix>training/``."""
HISTORY_FILES = ("training_history.csv", "training_history.svg")
"""What ``model_handling.training_history_dir`` receives: the history and its plot."""
CLOUD_OUTPUTS = ("training_classified_point_cloud_path", "training_activations_path")
"""The train step's keys of a file per training cloud (see :func:`cloud_output`)."""


def cloud_output(path: str | Path, *, cloud: str | Path, clouds: int) -> Path:
    """``path`` for one training cloud: as given for one cloud, with the cloud's name for several.

    Example:
        >>> cloud_output(Path("out/c.laz"), cloud=Path("data/tile_1.laz"), clouds=1).as_posix()
        'out/c.laz'
        >>> cloud_output("out/c.laz", cloud="data/tile_1.laz", clouds=2).as_posix()
        'out/c_tile_1.laz'
    """
    path = Path(path)
    return path if clouds == 1 else path.with_name(f"{path.stem}_{Path(cloud).stem}{path.suffix}")


def training_folder(ordinal: int) -> str:
    """The folder, under the first output prefix, of the spec's ``ordinal``-th train step (from 1).

    Example:
        >>> training_folder(1), training_folder(2)
        ('training/', 'training_2/')
    """
    return TRAINING_FOLDER if ordinal == 1 else f"{TRAINING_FOLDER.rstrip('/')}_{ordinal}/"


@dataclass(frozen=True)
class TrainingFiles:
    """The output files of one training (``tensorboard_dir``: TensorBoard's folder, or None)."""

    folder: Path
    tensorboard_dir: Path | None = None

    @classmethod
    def under(cls, prefix: str, *, ordinal: int = 1, tensorboard_dir: str | None = None) -> TrainingFiles:
        """The files of the spec's ``ordinal``-th train step whose model-level outputs go to ``prefix``."""
        folder = Path(f"{prefix}{training_folder(ordinal)}")
        return cls(folder, None if tensorboard_dir is None else Path(tensorboard_dir))

    @classmethod
    def of_run(cls, prefix: str, *, steps: Sequence[Mapping[str, Any]]) -> list[TrainingFiles]:
        """The files of every train step of ``steps`` (a spec's), in order.

        Example:
            >>> [f.folder.as_posix() for f in TrainingFiles.of_run("o/", steps=[{"train": "A"}, {"eval": "E"},
            ...                                                                  {"train": "B"}])]
            ['o/training', 'o/training_2']
        """
        trainings = sum("train" in step for step in steps)
        return [cls.under(prefix, ordinal=ordinal) for ordinal in range(1, trainings + 1)]

    @property
    def class_weights(self) -> Path:
        """Class counts and resolved weights (JSON)."""
        return self.folder / "class_weights.json"

    @property
    def history_csv(self) -> Path:
        """One row per epoch."""
        return self.folder / "history.csv"

    @property
    def history_png(self) -> Path:
        """The plot of the history."""
        return self.folder / "history.png"

    @property
    def best_weights(self) -> Path:
        """The weights of the best epoch (with ``model_handling.checkpoint``)."""
        return self.folder / "best.weights.h5"

    @property
    def resume_checkpoint(self) -> Path:
        """The resumable checkpoint (``--resume``)."""
        return self.folder / "resume" / "checkpoint.npz"

    def all(self, *, checkpoint: bool) -> list[Path]:
        """Every file, the best weights only with ``checkpoint``."""
        files = [self.class_weights, self.history_csv, self.history_png, self.resume_checkpoint]
        return files + ([self.best_weights] if checkpoint else [])
