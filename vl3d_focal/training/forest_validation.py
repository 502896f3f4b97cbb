"""VL3D's held-out validation of the random forest: ``training_type`` ``autoval`` and ``stratified_kfold``.

- ``"autoval"``: a share of the labelled points (``autoval_size``), stratified by class, is held
  out; the forest learns from the others and is scored on it (``autoval_metrics``, logged). The
  model is that forest, as VL3D's.
- ``"stratified_kfold"``: the points are split into ``num_folds`` folds stratified by class;
  each fold is held out once while a forest learns from the others and is scored on it. The
  summary over the folds (mean, standard deviation, quartiles) is logged and written to
  ``stratkfold_report_path`` (text) and ``stratkfold_plot_path`` (a box per metric). The model
  is then fitted on every point (VL3D keeps the last fold's forest).
- ``"base"``: one fit on every point.

``shuffle_points`` shuffles the points before they are split (seeded by ``random_seed``);
without it, ``autoval`` holds out the last points, without stratification (scikit-learn
stratifies only shuffled splits). Without ``autoval_metrics`` every overall metric is computed.

Example:
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> x = np.random.default_rng(0).normal(size=(300, 2)); y = (x[:, 0] > 0).astype(int)
    >>> check = HeldOutValidation(training_type="autoval", metrics=("OA",), size=0.25, seed=0)
    >>> forest, fitted = check.fit(lambda: RandomForestClassifier(8, random_state=0), x, y, num_classes=2)
    >>> fitted, check.scores[0]["OA"] > 0.9
    (225, True)
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.metrics import confusion_matrix
from vl3d_focal.reports.vl3d_metrics import GLOBAL_METRICS, global_metrics
from vl3d_focal.training.forest_reports import kfold_table, write_kfold_plot

logger = logging.getLogger(__name__)


def _formatted(values: dict[str, float | None]) -> str:
    return ", ".join(f"{name}={'n/a' if v is None else f'{100 * v:.3f}'}" for name, v in values.items())


@dataclass
class HeldOutValidation:
    """How a forest is validated on held-out training points (see the module docstring).

    Attributes:
        training_type: ``"base"``, ``"autoval"`` or ``"stratified_kfold"``.
        metrics: the overall metrics scored (``autoval_metrics``).
        size: ``autoval_size``: a fraction of the points, or a count.
        folds: ``num_folds``.
        shuffle: ``shuffle_points``.
        seed: ``random_seed`` (None: random).
        report_path: ``stratkfold_report_path`` (expanded), or None.
        plot_path: ``stratkfold_plot_path`` (expanded), or None.
        scores: after :meth:`fit`, the scores of each held-out part (one, or one per fold).
    """

    training_type: str = "base"
    metrics: Sequence[str] = GLOBAL_METRICS
    size: float | int = 0.2
    folds: int = 5
    shuffle: bool = True
    seed: int | None = None
    report_path: Path | None = None
    plot_path: Path | None = None
    scores: list[dict[str, float | None]] = field(default_factory=list)

    @classmethod
    def from_job(cls, job: Any) -> HeldOutValidation:
        """The validation a :class:`~vl3d_focal.training.job.TrainingJob` asks for.

        Example:
            >>> from types import SimpleNamespace
            >>> forest = {"autoval_size": 0.2, "num_folds": 3, "shuffle_points": True}  # the step's, normalised
            >>> job = SimpleNamespace(training_type="stratified_kfold", seed=1, forest=forest,
            ...                       reports=SimpleNamespace(autoval=["OA"], outputs={}))
            >>> HeldOutValidation.from_job(job).folds
            3
        """
        settings, outputs = job.forest, job.reports.outputs
        return cls(
            training_type=job.training_type,
            metrics=tuple(job.reports.autoval or GLOBAL_METRICS),
            size=settings["autoval_size"],
            folds=int(settings["num_folds"]),
            shuffle=bool(settings["shuffle_points"]),
            seed=job.seed,
            report_path=outputs.get("stratkfold_report_path"),
            plot_path=outputs.get("stratkfold_plot_path"),
        )

    def _score(self, forest: Any, x: np.ndarray, y: np.ndarray, *, num_classes: int) -> dict[str, float | None]:
        matrix = confusion_matrix(y, forest.predict(x), num_classes=num_classes)
        values = global_metrics(matrix, names=self.metrics)
        self.scores.append(values)
        return values

    def fit(self, new_forest: Callable[[], Any], x: np.ndarray, y: np.ndarray, *, num_classes: int) -> tuple[Any, int]:
        """The fitted forest and the number of points it learnt from, after the validation.

        Raises:
            DataError: the points cannot be split as asked (a class with fewer points than
                ``num_folds``, a held-out share of no point...).
        """
        if self.training_type == "autoval":
            return self._autoval(new_forest, x, y, num_classes=num_classes)
        if self.training_type == "stratified_kfold":
            self._kfold(new_forest, x, y, num_classes=num_classes)
        return new_forest().fit(x, y), len(y)

    def _autoval(
        self, new_forest: Callable[[], Any], x: np.ndarray, y: np.ndarray, *, num_classes: int
    ) -> tuple[Any, int]:
        from sklearn.model_selection import train_test_split

        self._check_counts(len(y), classes=len(np.unique(y)))
        rows = np.arange(len(y))
        try:
            train, held = train_test_split(
                rows,
                test_size=self.size,
                shuffle=self.shuffle,
                stratify=y if self.shuffle else None,
                random_state=self.seed if self.shuffle else None,
            )
        except ValueError as err:
            raise DataError(
                f"training_type 'autoval': cannot hold out autoval_size {self.size} of the {len(y)} labelled points, "
                f"stratified by class ({err}); give a larger autoval_size, or more points of each class"
            ) from err
        forest = new_forest().fit(x[train], y[train])
        values = self._score(forest, x[held], y[held], num_classes=num_classes)
        logger.info("auto-validation on %d held-out points: %s", len(held), _formatted(values))
        return forest, len(train)

    def _check_counts(self, points: int, *, classes: int) -> None:
        """A :class:`DataError` that says what to give when ``autoval_size`` holds out fewer points
        than the labelled points have classes, or leaves fewer to learn from (a split stratified by
        class needs one point of each on either side), or holds out every point. Counts as
        scikit-learn's: a fraction holds out ``ceil(size * points)`` (a float of 1 or more is no
        fraction: scikit-learn's error says so)."""
        if isinstance(self.size, float) and self.size >= 1:
            return
        held = self.size if isinstance(self.size, int) else math.ceil(self.size * points)
        at = f"training_type 'autoval': autoval_size {self.size} holds out {held} of the {points} labelled points"
        stratified = (
            f"their {classes} classes (a split stratified by class, shuffle_points true, needs a point of each)"
        )
        if self.shuffle and held < classes:
            raise DataError(
                f"{at}, fewer than {stratified}; give an autoval_size of at least {classes} points or a larger "
                "fraction, or shuffle_points false (the last points are held out, not stratified)"
            )
        if held >= points or (self.shuffle and points - held < classes):
            least, need = (classes, stratified) if self.shuffle else (1, "the one point a forest needs")
            raise DataError(
                f"{at} and leaves {max(points - held, 0)} to learn from, fewer than {need}; give an autoval_size "
                f"of at most {points - least} points or a smaller fraction"
            )

    def _kfold(self, new_forest: Callable[[], Any], x: np.ndarray, y: np.ndarray, *, num_classes: int) -> None:
        from sklearn.model_selection import StratifiedKFold

        splitter = StratifiedKFold(
            n_splits=self.folds, shuffle=self.shuffle, random_state=self.seed if self.shuffle else None
        )
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                folds = list(splitter.split(x, y))
        except ValueError as err:
            raise DataError(
                f"training_type 'stratified_kfold': cannot split the {len(y)} labelled points into num_folds "
                f"{self.folds} folds stratified by class ({err}); give fewer folds, or more points of each class"
            ) from err
        for warning in caught:  # scikit-learn's: a class with fewer points than folds
            logger.warning(
                "training_type 'stratified_kfold': %s That class is missing from some folds.", warning.message
            )
        for number, (train, held) in enumerate(folds, start=1):
            values = self._score(new_forest().fit(x[train], y[train]), x[held], y[held], num_classes=num_classes)
            logger.info("fold %d/%d, %d held-out points: %s", number, len(folds), len(held), _formatted(values))
        table = np.array([[np.nan if v is None else v for v in values.values()] for values in self.scores])
        report = kfold_table(table, names=list(self.metrics))
        logger.info("%s", report)
        if self.report_path is not None:
            write_text(self.report_path, report + "\n")
        if self.plot_path is not None:
            write_kfold_plot(table, names=list(self.metrics), path=self.plot_path)
