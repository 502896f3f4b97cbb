"""VL3D's ``RandomForestClassifier``: scikit-learn trains it, a small NumPy evaluator predicts.

A fitted ``sklearn.ensemble.RandomForestClassifier`` becomes a :class:`ForestModel`: its trees'
arrays (children, split features and thresholds, leaf class fractions) concatenated into a few
flat arrays. The model file holds them as ``forest.npz`` (NumPy arrays, read with
``allow_pickle=False``) beside the JSON metadata, so loading a model file never unpickles
anything: a model file from an untrusted source cannot run code. The arrays are checked before
use (shapes, child indices after their parent and in range, split features in range).

Prediction equals scikit-learn's ``predict_proba``: each tree's leaf class fractions (normalised
to sum 1) averaged over the trees, features compared in float32 as scikit-learn does.

Example:
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> model = ForestModel.from_sklearn(forest, num_classes=2)
    >>> bool(np.allclose(model.predict_proba(X), forest.predict_proba(X)))
    True
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError, SpecError, SpecIssue
from vl3d_focal.models.forest_schema import forest_args_issues

MEMBER = "forest.npz"
_CHUNK = 8192
_ARRAYS = ("left", "right", "feature", "threshold", "value", "roots")


class ForestModel:
    """A random forest as flat arrays (see the module docstring).

    Attributes:
        left, right: ``(nodes,)`` the children of each node (``-1`` at leaves), as global indices.
        feature, threshold: ``(nodes,)`` the split of each internal node.
        value: ``(nodes, classes)`` the class fractions of each node (rows summing to 1 at leaves).
        roots: ``(trees,)`` the root node of each tree.
        num_features: the number of features the forest was trained on.
    """

    def __init__(
        self,
        *,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        value: np.ndarray,
        roots: np.ndarray,
        num_features: int,
    ) -> None:
        self.left, self.right = np.asarray(left, np.int64), np.asarray(right, np.int64)
        self.feature, self.threshold = np.asarray(feature, np.int64), np.asarray(threshold, np.float64)
        self.value, self.roots = np.asarray(value, np.float64), np.asarray(roots, np.int64)
        self.num_features = int(num_features)

    @property
    def num_classes(self) -> int:
        """Number of classes (columns of the probabilities)."""
        return int(self.value.shape[1])

    @classmethod
    def from_sklearn(cls, forest: Any, *, num_classes: int) -> ForestModel:
        """The arrays of a fitted scikit-learn forest; classes absent from its training get 0."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS[:-1]}
        roots, offset = [], 0
        columns = np.asarray(forest.classes_, dtype=np.int64)
        for estimator in forest.estimators_:
            tree = estimator.tree_
            internal = tree.children_left >= 0
            parts["left"].append(np.where(internal, tree.children_left + offset, -1))
            parts["right"].append(np.where(internal, tree.children_right + offset, -1))
            parts["feature"].append(np.where(internal, tree.feature, 0))
            parts["threshold"].append(np.where(internal, tree.threshold, 0.0))
            fractions = tree.value[:, 0, :]
            total = fractions.sum(axis=1, keepdims=True)
            value = np.zeros((tree.node_count, num_classes))
            value[:, columns] = fractions / np.where(total > 0, total, 1.0)
            parts["value"].append(value)
            roots.append(offset)
            offset += tree.node_count
        return cls(
            **{name: np.concatenate(arrays) for name, arrays in parts.items()},
            roots=np.asarray(roots),
            num_features=int(forest.n_features_in_),
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``(n, classes)`` float32 class probabilities of ``(n, features)`` rows.

        Example:
            >>> stump = ForestModel(left=[1, -1, -1], right=[2, -1, -1], feature=[0, 0, 0], threshold=[0.5, 0, 0],
            ...                     value=[[.5, .5], [1, 0], [0, 1]], roots=[0], num_features=1)
            >>> stump.predict_proba(np.array([[0.2], [0.9]])).tolist()
            [[1.0, 0.0], [0.0, 1.0]]
        """
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise DataError(f"random forest: expected (n, {self.num_features}) features, received {x.shape}")
        out = np.empty((len(x), self.num_classes), dtype=np.float32)
        for start in range(0, len(x), _CHUNK):
            rows = x[start : start + _CHUNK]
            node = np.repeat(self.roots[None, :], len(rows), axis=0)
            sample = np.arange(len(rows))[:, None]
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                go_left = rows[sample, self.feature[node]] <= self.threshold[node]
                node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
            out[start : start + _CHUNK] = self.value[node].mean(axis=1)
        return out

    def get_weights(self) -> list[np.ndarray]:
        """The arrays the forest predicts with, as a Keras model's ``get_weights`` (model fingerprints).

        Example:
            >>> forest = ForestModel(left=[-1], right=[-1], feature=[0], threshold=[0.0], value=[[0.5, 0.5]],
            ...                      roots=[0], num_features=1)
            >>> [array.shape for array in forest.get_weights()][-1]
            (1,)
        """
        return [getattr(self, name) for name in _ARRAYS]

    def save(self, path: str | Path) -> None:
        """Writes a zip archive holding :data:`MEMBER` (plain NumPy arrays, no pickle)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, **{name: getattr(self, name) for name in _ARRAYS}, num_features=np.int64(self.num_features)
        )
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(MEMBER, buffer.getvalue())


def _checked(arrays: Mapping[str, np.ndarray], *, path: Path) -> ForestModel:
    problem = None
    left, right, feature = (np.asarray(arrays[name]) for name in ("left", "right", "feature"))
    value, roots, num_features = np.asarray(arrays["value"]), np.asarray(arrays["roots"]), int(arrays["num_features"])
    nodes = len(left)
    index = np.arange(nodes)
    inner = left >= 0
    if (
        any(np.asarray(arrays[name]).shape != (nodes,) for name in ("right", "feature", "threshold"))
        or value.ndim != 2
        or len(value) != nodes
        or roots.ndim != 1
        or not len(roots)
    ):
        problem = "arrays of inconsistent shapes"
    elif (
        (inner != (right >= 0)).any()
        or (left[inner] <= index[inner]).any()
        or (right[inner] <= index[inner]).any()
        or (left >= nodes).any()
        or (right >= nodes).any()
        or ((roots < 0) | (roots >= nodes)).any()
    ):
        problem = "child indices that do not point to later nodes"
    elif ((feature[inner] < 0) | (feature[inner] >= num_features)).any() or not np.isfinite(value).all():
        problem = "split features out of range or non-finite leaf values"
    if problem:
        raise DataError(f"model_path {path}: its {MEMBER} is not a valid forest ({problem}); re-train the model")
    return ForestModel(
        left=left,
        right=right,
        feature=feature,
        threshold=arrays["threshold"],
        value=value,
        roots=roots,
        num_features=num_features,
    )


def load_forest(path: str | Path, meta: Mapping[str, Any]) -> ForestModel:
    """The forest of a model file, checked against its metadata (feature and class counts).

    Raises:
        DataError: no forest member, arrays that are not a valid forest, or counts that differ
            from the metadata's feature and class names.

    Example:
        >>> import dataclasses
        >>> from vl3d_focal.models.model_file import read_metadata, save_bundle
        >>> stump = ForestModel(left=[-1], right=[-1], feature=[0], threshold=[0.0], value=[[0.25, 0.75]],
        ...                     roots=[0], num_features=1)
        >>> forest_bundle = dataclasses.replace(bundle, model=stump, model_name="RandomForestClassifier",
        ...                                     field_spec=None, class_names=["a", "b"])
        >>> path = save_bundle(forest_bundle, out / "forest.keras")
        >>> load_forest(path, read_metadata(path)).predict_proba(np.zeros((1, 1))).tolist()
        [[0.25, 0.75]]
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive, np.load(io.BytesIO(archive.read(MEMBER)), allow_pickle=False) as data:
            arrays = {name: data[name] for name in (*_ARRAYS, "num_features")}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataError(
            f"model_path {path}: no readable {MEMBER} in the archive ({type(err).__name__}: {err})"
        ) from err
    model = _checked(arrays, path=path)
    if model.num_features != len(meta["feature_names"]) or model.num_classes != len(meta["class_names"]):
        raise DataError(
            f"model_path {path}: expected a forest of {len(meta['feature_names'])} features and "
            f"{len(meta['class_names'])} classes, received {model.num_features} and {model.num_classes}"
        )
    return model


def build_random_forest(
    *,
    n_estimators: int = 100,
    criterion: str = "gini",
    max_depth: int | None = None,
    min_samples_split: float = 2,
    min_samples_leaf: float = 1,
    min_weight_fraction_leaf: float = 0.0,
    max_features: str | float | None = "sqrt",
    max_leaf_nodes: int | None = None,
    min_impurity_decrease: float = 0.0,
    bootstrap: bool = True,
    oob_score: bool = False,
    n_jobs: int | None = -1,
    warm_start: bool = False,
    ccp_alpha: float = 0.0,
    max_samples: float | None = None,
    class_weight: Sequence[float] | str | None = None,
    random_state: int | None = None,
    random_seed: int | None = None,
) -> Any:
    """An unfitted ``sklearn.ensemble.RandomForestClassifier``; arguments as scikit-learn's (see
    :mod:`~vl3d_focal.models.forest_schema`) but ``class_weight``: resolved weights, one per class,
    or scikit-learn's ``"balanced_subsample"`` (balanced within each tree's bootstrap sample), and
    the seed: ``random_state`` (``model_args``, scikit-learn's) if given, else ``random_seed``
    (the step's).

    Raises:
        SpecError: what :func:`~vl3d_focal.models.forest_schema.forest_args_issues` finds.

    Example:
        >>> build_random_forest(n_estimators=3, class_weight=[1.0, 2.0], random_seed=1).get_params()["class_weight"]
        {0: 1.0, 1: 2.0}
        >>> build_random_forest(random_state=7, random_seed=1).get_params()["random_state"]
        7
    """
    from sklearn.ensemble import RandomForestClassifier

    given = {
        "min_samples_split": min_samples_split,
        "min_samples_leaf": min_samples_leaf,
        "max_features": max_features,
        "n_jobs": n_jobs,
        "bootstrap": bootstrap,
        "oob_score": oob_score,
        "max_samples": max_samples,
    }
    issues = forest_args_issues(given)
    if issues:
        raise SpecError([SpecIssue(".".join(path), message) for path, message in issues])
    return RandomForestClassifier(
        n_estimators=n_estimators,
        criterion=criterion,
        max_depth=max_depth,
        min_samples_split=min_samples_split,
        min_samples_leaf=min_samples_leaf,
        min_weight_fraction_leaf=min_weight_fraction_leaf,
        max_features=max_features,
        max_leaf_nodes=max_leaf_nodes,
        min_impurity_decrease=min_impurity_decrease,
        bootstrap=bootstrap,
        oob_score=oob_score,
        n_jobs=n_jobs,
        warm_start=warm_start,
        ccp_alpha=ccp_alpha,
        max_samples=max_samples,
        class_weight=(
            class_weight
            if class_weight is None or isinstance(class_weight, str)
            else {i: float(w) for i, w in enumerate(class_weight)}
        ),
        random_state=random_seed if random_state is None else random_state,
    )
