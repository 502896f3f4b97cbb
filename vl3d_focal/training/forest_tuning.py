"""VL3D's hyperparameter tuning of the random forest (the train step's ``hyperparameter_tuning``).

Before the forest is fitted, a cross-validated search over ``model_args`` runs on the training
points (scikit-learn's, with the forest's class weights; ``num_folds`` stratified folds, scored
by accuracy): ``"GridSearch"`` tries every combination of ``grid``, ``"RandomSearch"`` draws
``iterations`` candidates from ``distributions`` (a list of values, or ``uniform`` in
``[start, start + offset]``, ``normal`` of ``mean`` and ``stdev``, ``randint`` in
``[start, end)``; seeded by ``random_seed``). The best candidate's arguments replace the given
ones; every candidate is logged and written to ``report_path`` as VL3D's table (best last). The
points are shuffled before they are split into folds when ``shuffle_points`` is true (as VL3D).

Example:
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> x = np.random.default_rng(0).normal(size=(300, 2)); y = (x[:, 0] * x[:, 1] > 0).astype(int)
    >>> tune_forest(RandomForestClassifier(4, random_state=0), x, y, seed=0, report_path=None,
    ...             settings={"tuner": "GridSearch", "grid": {"max_depth": [1, 4]}, "num_folds": 3,
    ...                       "nthreads": 1, "pre_dispatch": 8, "iterations": 32})
    {'max_depth': 4}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import write_text
from vl3d_focal.models.forest_schema import FOREST_SCHEMA, SKLEARN_ARGS, forest_args_issues

logger = logging.getLogger(__name__)


def search_space(distributions: Mapping[str, Any]) -> dict[str, Any]:
    """``distributions`` as scikit-learn's random search takes them: lists as they are, the
    distribution objects as ``scipy.stats`` ones.

    Example:
        >>> space = search_space({"max_depth": {"distribution": "randint", "start": 2, "end": 5},
        ...                       "criterion": ["gini", "entropy"]})
        >>> [int(v) for v in space["max_depth"].support()], space["criterion"]
        ([2, 4], ['gini', 'entropy'])
    """
    from scipy import stats

    space: dict[str, Any] = {}
    for name, value in distributions.items():
        if isinstance(value, list):
            space[name] = value
        elif value["distribution"] == "uniform":
            space[name] = stats.uniform(loc=value["start"], scale=value["offset"])
        elif value["distribution"] == "normal":
            space[name] = stats.norm(loc=value["mean"], scale=value["stdev"])
        else:
            space[name] = stats.randint(value["start"], value["end"])
    return space


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def search_table(results: Mapping[str, Any]) -> str:
    """VL3D's report of a search: each candidate's arguments, the mean and deviation of its
    folds' accuracy (percent) and fit time (seconds), best last.

    Example:
        >>> print(search_table({"params": [{"max_depth": 2}, {"max_depth": 8}], "mean_test_score": [0.9, 0.8],
        ...     "std_test_score": [0.01, 0.02], "mean_fit_time": [0.5, 0.7], "std_fit_time": [0.1, 0.1]}))
        max_depth       ,mean_test ,std_test  ,mean_time ,std_time
        8               ,    80.000,     2.000,     0.700,     0.100
        2               ,    90.000,     1.000,     0.500,     0.100
    """
    names = list(results["params"][0])
    rows = ["".join(f"{name:16.16}," for name in names) + "mean_test ,std_test  ,mean_time ,std_time"]
    scores = np.nan_to_num(np.asarray(results["mean_test_score"], dtype=float), nan=-np.inf)  # failed: first
    for i in np.argsort(scores, kind="stable"):
        cells = "".join(f"{str(_plain(results['params'][i][name])):16.16}," for name in names)
        numbers = (
            100 * results["mean_test_score"][i],
            100 * results["std_test_score"][i],
            results["mean_fit_time"][i],
            results["std_fit_time"][i],
        )
        rows.append(cells + ",".join(f"{value:10.3f}" for value in numbers))
    return "\n".join(rows)


def tune_forest(
    forest: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int | None,
    report_path: Path | None,
    shuffle: bool = True,
) -> dict[str, Any]:
    """The ``model_args`` the search finds best for an unfitted forest on ``(x, y)``.

    Args:
        forest: the forest with the given arguments and class weights (not fitted).
        x: the training points' features; y: their classes.
        settings: the normalised ``hyperparameter_tuning`` object.
        seed: ``random_seed`` (draws of RandomSearch, the folds' shuffle).
        report_path: where to write the table of every candidate (None: logged only).
        shuffle: ``shuffle_points``: the points are shuffled before they are split into folds
            (else the folds are runs of consecutive points).

    Raises:
        DataError: the search cannot run (a class with fewer points than folds, a value the
            forest refuses); the message says which.
    """
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold

    folds = StratifiedKFold(settings["num_folds"], shuffle=shuffle, random_state=seed if shuffle else None)
    common = {"cv": folds, "n_jobs": settings["nthreads"], "pre_dispatch": settings["pre_dispatch"], "refit": False}
    tuner = settings["tuner"].lower()
    if tuner == "gridsearch":
        search = GridSearchCV(forest, settings["grid"], **common)
    else:
        search = RandomizedSearchCV(
            forest, search_space(settings["distributions"]), n_iter=settings["iterations"], random_state=seed, **common
        )
    logger.info(
        "hyperparameter %s: cross-validating on %d points (%d folds)", settings["tuner"], len(y), folds.n_splits
    )
    try:
        with warnings.catch_warnings(record=True) as caught:  # scikit-learn's, with a traceback per failed fit
            warnings.simplefilter("always")
            search.fit(x, y)
    except (ValueError, TypeError) as err:  # every candidate failed, or a class with too few points
        reason = str(err).strip().splitlines()[-1]
        raise DataError(
            f"hyperparameter_tuning: the {settings['tuner']} cannot run on the training points: {reason}"
        ) from err
    failed = [i for i, score in enumerate(search.cv_results_["mean_test_score"]) if not np.isfinite(score)]
    if failed:
        reason = next((str(w.message).strip().splitlines()[-1] for w in caught if "fit" in str(w.message)), "")
        logger.warning(
            "hyperparameter_tuning: %d of %d candidates failed and are left out (%s)",
            len(failed),
            len(search.cv_results_["params"]),
            reason,
        )
    table = search_table(search.cv_results_)
    logger.info(
        "hyperparameter %s over %d candidates:\n%s", settings["tuner"], len(search.cv_results_["params"]), table
    )
    if report_path is not None:
        write_text(report_path, table + "\n")
    best = {name: _plain(value) for name, value in search.best_params_.items()}
    index = search.best_index_
    logger.info(
        "hyperparameter_tuning: %s (cross-validated accuracy %.3f +- %.3f %%, fit %.3f +- %.3f s)",
        ", ".join(f"{name} {forest.get_params()[name]!r} -> {value!r}" for name, value in best.items()),
        100 * search.best_score_,
        100 * search.cv_results_["std_test_score"][index],
        search.cv_results_["mean_fit_time"][index],
        search.cv_results_["std_fit_time"][index],
    )
    return best


def _value_problems(name: str, value: Any, model_args: Mapping[str, Any]) -> list[str]:
    """Why a value (or a distribution) of a searched argument cannot be given to the forest, in
    place of its value among ``model_args``."""
    from jsonschema import Draft202012Validator

    if isinstance(value, Mapping):
        start, end = value.get("start"), value.get("end")
        if value.get("distribution") == "randint" and isinstance(start, int) and isinstance(end, int) and start >= end:
            return [
                f"randint draws from [start, end): expected start < end; got {value.get('start')}, {value.get('end')}"
            ]
        return []
    validator = Draft202012Validator(FOREST_SCHEMA["properties"][name])
    problems = []
    for item in value:
        if not validator.is_valid(item):
            problems.append(f"{item!r}: {next(validator.iter_errors(item)).message}")
            continue
        refused = [message for path, message in forest_args_issues({**model_args, name: item}) if path[-1] == name]
        problems += [f"{item!r}: {message}" for message in refused]
    return problems


def tuning_problems(
    settings: Mapping[str, Any], model_args: Mapping[str, Any] | None = None
) -> list[tuple[tuple, str]]:
    """What a ``hyperparameter_tuning`` object asks that cannot run: its searched names and values
    against the forest's arguments (:data:`~vl3d_focal.models.forest_schema.SKLEARN_ARGS`; each
    value also with the step's other ``model_args``, as scikit-learn would get it), and the tuner
    against ``grid``/``distributions``.

    Example:
        >>> tuning_problems({"tuner": "GridSearch", "grid": {"depth": [2]}})[0][1][:48]
        "'depth' is not an argument of the forest; expect"
        >>> tuning_problems({"tuner": "GridSearch", "grid": {"n_estimators": [0, 5]}})
        [(('grid', 'n_estimators'), 'cannot be given to the forest: 0: 0 is less than the minimum of 1')]
        >>> tuning_problems({"tuner": "GridSearch", "grid": {"min_samples_split": [1, 2]}})[0][1]
        'cannot be given to the forest: 1: expected an integer >= 2 (a count) or a number in (0, 1] (a fraction), received 1'
    """
    tuner = str(settings.get("tuner", "")).lower()
    key = "grid" if tuner == "gridsearch" else "distributions"
    space = settings.get(key)
    if not isinstance(space, Mapping):
        return [((), f"a {settings.get('tuner')} needs {key!r}: the values to try per model_args key")]
    problems: list[tuple[tuple, str]] = []
    for name, value in space.items():
        if name not in SKLEARN_ARGS:
            problems.append(
                ((key, name), f"{name!r} is not an argument of the forest; expected one of: {', '.join(SKLEARN_ARGS)}")
            )
        elif isinstance(value, (list, Mapping)) and (found := _value_problems(name, value, model_args or {})):
            problems.append(((key, name), "cannot be given to the forest: " + "; ".join(found)))
    named = settings.get("hyperparameters")
    if isinstance(named, list) and sorted(map(str, named)) != sorted(space):
        problems.append(
            (
                ("hyperparameters",),
                f"expected the keys of {key} ({', '.join(sorted(space))}); got {', '.join(map(str, named))}",
            )
        )
    return problems
