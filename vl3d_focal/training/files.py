"""The files a training writes, under ``<first output prefix>training/``.

Kept apart from the engine (no TensorFlow here) so that the train step can declare its outputs
to validation and preflight.

Example:
    >>> files = TrainingFiles.under("out/run_")
    >>> files.history_csv.as_posix(), files.resume_checkpoint.as_posix()
    ('out/run_training/history.csv', 'out/run_training/resume/checkpoint.npz')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAINING_FOLDER = "training/"
"""Model-level training outputs go to ``<first prefix>training/``."""
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


@dataclass(frozen=True)
class TrainingFiles:
    """The output files of one training (``tensorboard_dir``: TensorBoard's folder, or None)."""

    folder: Path
    tensorboard_dir: Path | None = None

    @classmethod
    def under(cls, prefix: str, *, tensorboard_dir: str | None = None) -> TrainingFiles:
        """The files of a training whose model-level outputs go to ``prefix``."""
        return cls(Path(f"{prefix}{TRAINING_FOLDER}"), None if tensorboard_dir is None else Path(tensorboard_dir))

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
