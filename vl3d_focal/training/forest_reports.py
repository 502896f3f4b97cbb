"""What VL3D reports of a trained random forest: feature importances, pictures of its trees, and
the summary of a stratified k-fold validation.

- :func:`importance_table`: each feature's impurity-based importance (scikit-learn's
  ``feature_importances_``) and, when computed, its permutation importance (mean and standard
  deviation of the score's drop when the feature's values are shuffled), least important first,
  in the columns of VL3D's report.
- :func:`write_tree_pictures`: the first trees drawn to a depth (scikit-learn's ``plot_tree``),
  one picture per tree (``_1``, ``_2``, ... before the suffix when there are several).
- :func:`kfold_table` and :func:`write_kfold_plot`: the metrics of each fold summed up (mean,
  standard deviation, first and third quartiles, in percent as VL3D's) and drawn (a box per
  metric).

Example:
    >>> print(kfold_table(np.array([[0.9, 0.5], [0.8, 0.7]]), names=["OA", "mIoU"]).splitlines()[2])
    mean           85.000       60.000
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.reports.figures import pyplot, save_figure

logger = logging.getLogger(__name__)

PERMUTATION_POINTS = 100_000
"""At most this many training points (a seeded draw) are shuffled for the permutation importances."""


def importance_table(
    names: Sequence[str], importance: np.ndarray, permutation: tuple[np.ndarray, np.ndarray] | None = None
) -> str:
    """The importance report: one row per feature, least important first.

    Args:
        names: the features, in the forest's column order.
        importance: impurity-based importance of each feature.
        permutation: mean and standard deviation of each feature's permutation importance, or None.

    Example:
        >>> print(importance_table(["a", "b"], np.array([0.7, 0.3])))
        FEATURE                 , FEATURE IMPORTANCE
        b                       ,             0.300000
        a                       ,             0.700000
    """
    head = f"{'FEATURE':24}, {'FEATURE IMPORTANCE':20}"
    if permutation is not None:
        head += f", {'PERM. IMP. MEAN':20}, {'PERM. IMP. STDEV':20}"
    rows = [head.rstrip()]
    for i in np.argsort(importance, kind="stable"):
        row = f"{names[i]:24}, {importance[i]:20.6f}"
        if permutation is not None:
            row += f", {permutation[0][i]:20.6f}, {permutation[1][i]:20.6f}"
        rows.append(row)
    return "\n".join(rows)


def permutation_importances(
    forest: Any, x: np.ndarray, y: np.ndarray, *, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each feature's permutation importance (scikit-learn's,
    accuracy drop over 5 shuffles) on at most :data:`PERMUTATION_POINTS` of the points.

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> x = np.random.default_rng(0).normal(size=(200, 2)); y = (x[:, 0] > 0).astype(int)
        >>> mean, _ = permutation_importances(RandomForestClassifier(8, random_state=0).fit(x, y), x, y, seed=0)
        >>> bool(mean[0] > mean[1])
        True
    """
    from sklearn.inspection import permutation_importance

    if len(y) > PERMUTATION_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(y), size=PERMUTATION_POINTS, replace=False))
        x, y = x[rows], y[rows]
    found = permutation_importance(forest, x, y, n_repeats=5, random_state=seed)
    return np.asarray(found["importances_mean"]), np.asarray(found["importances_std"])


def tree_picture_paths(path: Path, count: int) -> list[Path]:
    """The files of ``count`` tree pictures: ``path`` for one, else ``<stem>_1<suffix>``, ...

    Example:
        >>> [p.name for p in tree_picture_paths(Path("trees.svg"), 2)]
        ['trees_1.svg', 'trees_2.svg']
    """
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(1, count + 1)]


def most_trees(step: Mapping[str, Any]) -> int:
    """The most tree pictures a forest's train step may draw: ``decision_plot_trees`` (-1: every
    tree) up to the most trees the forest may have (its ``n_estimators``, or the largest a
    ``hyperparameter_tuning`` may choose); 0 without pictures.

    Example:
        >>> most_trees({"decision_plot_trees": -1, "model_args": {"n_estimators": 4}, "hyperparameter_tuning": {
        ...     "tuner": "GridSearch", "grid": {"n_estimators": [2, 8]}}})
        8
    """
    asked = step.get("decision_plot_trees") or 0
    if not isinstance(asked, int) or isinstance(asked, bool) or asked == 0:  # another type: the schema says so
        return 0
    tuning = step.get("hyperparameter_tuning") or {}
    tuning = tuning if isinstance(tuning, Mapping) else {}
    space = tuning.get("grid") or tuning.get("distributions") or {}
    searched = space.get("n_estimators") if isinstance(space, Mapping) else None
    counts = (
        [v for v in searched if isinstance(v, int) and not isinstance(v, bool)] if isinstance(searched, list) else []
    )
    end = searched.get("end") if isinstance(searched, Mapping) and searched.get("distribution") == "randint" else None
    if counts:
        available = max(counts)
    elif isinstance(end, int) and not isinstance(end, bool):
        available = end - 1
    else:  # no search of it (or one the checks refuse)
        args = step.get("model_args", {})
        given = args.get("n_estimators", 100) if isinstance(args, Mapping) else 100
        available = given if isinstance(given, int) else 100
    return available if asked == -1 else min(asked, available)


def write_tree_pictures(
    forest: Any, *, path: Path, trees: int, max_depth: int, feature_names: Sequence[str], class_names: Sequence[str]
) -> list[Path]:
    """Draws the forest's first ``trees`` trees (-1: all) to ``max_depth``; returns the files.

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> x = np.random.default_rng(0).normal(size=(50, 2)); y = (x[:, 0] > 0).astype(int)
        >>> forest = RandomForestClassifier(3, max_depth=2, random_state=0).fit(x, y)
        >>> [p.name for p in write_tree_pictures(forest, path=out / "t.svg", trees=2, max_depth=2,
        ...                                      feature_names=["a", "b"], class_names=["no", "yes"])]
        ['t_1.svg', 't_2.svg']
    """
    from sklearn.tree import plot_tree

    available = len(forest.estimators_)
    count = available if trees == -1 else min(trees, available)
    if trees > available:
        logger.warning("decision_plot_trees: %d trees asked, the forest has %d: all are drawn", trees, available)
    plt = pyplot()
    paths = tree_picture_paths(Path(path), count)
    classes = [str(class_names[int(c)]) for c in forest.classes_]
    for number, (tree, target) in enumerate(zip(forest.estimators_, paths), start=1):
        shown = min(tree.tree_.max_depth, max_depth) + 1  # levels of nodes drawn, the cut ones' marks below
        fig = plt.figure(figsize=(max(8.0, 1.1 * 2.0 ** min(shown, 7)), 1.5 * (shown + 1)))
        plot_tree(
            tree, max_depth=max_depth, filled=True, feature_names=list(feature_names), class_names=classes, fontsize=7
        )
        fig.suptitle(f"Decision tree {number}", fontsize=14)
        save_figure(fig, path=target)
        plt.close(fig)
    return paths


def kfold_table(scores: np.ndarray, *, names: Sequence[str], title: str = "RandomForestClassifier") -> str:
    """The k-fold report: mean, standard deviation, first and third quartiles of each metric over
    the folds (rows of ``scores``; NaN: undefined in a fold, left out), in percent.

    Example:
        >>> print(kfold_table(np.array([[0.9], [0.7]]), names=["OA"]))
        k-fold report on RandomForestClassifier over 1 metrics (2 folds):
                   OA
        mean           80.000
        stdev          10.000
        Q1             75.000
        Q3             85.000
    """
    rows = [f"k-fold report on {title} over {len(names)} metrics ({len(scores)} folds):"]
    rows.append("          " + "".join(f" {name:12.12}" for name in names).rstrip())
    summaries = (
        ("mean", np.nanmean(scores, axis=0)),
        ("stdev", np.nanstd(scores, axis=0)),
        ("Q1", np.nanquantile(scores, 0.25, axis=0)),
        ("Q3", np.nanquantile(scores, 0.75, axis=0)),
    )
    for label, values in summaries:
        rows.append(f"{label:10}" + "".join(f" {100 * value:10.3f}  " for value in values).rstrip())
    return "\n".join(rows)


def write_kfold_plot(scores: np.ndarray, *, names: Sequence[str], path: Path) -> None:
    """One box per metric of the folds' scores (percent).

    Example:
        >>> write_kfold_plot(np.array([[0.9, 0.5], [0.8, 0.7]]), names=["OA", "mIoU"], path=out / "kfold.svg")
        >>> (out / "kfold.svg").is_file()
        True
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 1.5), 4.0))
    columns = [100 * column[~np.isnan(column)] for column in np.asarray(scores, dtype=float).T]
    ax.boxplot(columns)
    ax.set_xticks(range(1, len(names) + 1), labels=list(names))
    ax.set_ylabel("percent")
    ax.set_title(f"Stratified k-fold validation ({len(scores)} folds)")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path=Path(path))
    plt.close(fig)
