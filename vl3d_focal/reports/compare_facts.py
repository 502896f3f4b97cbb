"""What ``vl3d-focal compare`` tells of one run besides its scores: how its model was set up
(seed, training clouds, input features and what is applied to them), the model the spec names
when the run ended before recording one, and why a run failed.

Everything is read from the run record (``report.json``) and the spec it holds; a record that
holds no spec is completed from the run's ``run.json`` beside it.

Example:
    >>> spec = {"sequential_pipeline": [{"train": "PointNetPwiseClassifier", "random_seed": 7}]}
    >>> train_step(spec)["random_seed"]
    7
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.wording import counted

PER_CLOUD = "cloud_normalization"
"""The feature transformer fact of a model's per-cloud scaling."""
STANDARDIZATION = "robust standardization"
"""The feature transformer fact of a model's own standardisation of its inputs."""
ERROR_CHARS = 160
"""The longest error message shown in a comparison (the run's report has it whole)."""


def train_step(spec: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The spec's first ``train`` step. A run record keeps the spec as run, in the pipeline form
    (validation rewrites VL3D's single-component forms into it), so no other form is read.

    Example:
        >>> train_step({"sequential_pipeline": [{"train": "RandomForestClassifier"}]}), train_step(None)
        ({'train': 'RandomForestClassifier'}, None)
    """
    if not isinstance(spec, Mapping):
        return None
    steps = spec.get("sequential_pipeline") or []
    return next((step for step in steps if isinstance(step, Mapping) and "train" in step), None)


def record_spec(record: Mapping[str, Any], *, path: Path) -> Mapping[str, Any] | None:
    """The spec the run ran: the record's, else that of the ``run.json`` beside ``path``.

    Example:
        >>> record_spec({"spec": {"sequential_pipeline": []}}, path=Path("out/report.json"))
        {'sequential_pipeline': []}
    """
    if isinstance(record.get("spec"), Mapping):
        return record["spec"]
    try:
        spec = json.loads((path.parent / "run.json").read_text(encoding="utf-8")).get("spec")
    except (OSError, ValueError, AttributeError):
        return None
    return spec if isinstance(spec, Mapping) else None


def spec_model(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The model a spec trains, as the facts of a training that was not recorded: its ``model``,
    ``loss`` (function and gamma), ``class_weight_spec`` and input ``feature_names``, with
    ``from_spec`` true; None for a spec without a train step.

    Example:
        >>> spec_model({"sequential_pipeline": [{"train": "PointNetPwiseClassifier", "fnames": ["i"], "model_args": {
        ...     "compilation_args": {"loss": {"function": "f", "gamma": 2.0, "class_weight": "balanced"}}}}]})
        {'model': 'PointNetPwiseClassifier', 'loss': {'function': 'f', 'gamma': 2.0}, 'class_weight_spec': 'balanced', 'feature_names': ['i'], 'from_spec': True}
    """
    step = train_step(spec)
    if step is None:
        return None
    args = step.get("model_args") or {}
    loss = (args.get("compilation_args") or {}).get("loss") or {}
    loss = {"function": loss} if isinstance(loss, str) else loss
    weight = loss.get("class_weight")
    if weight is None:
        weight = (args.get("model_handling") or {}).get("class_weight", args.get("class_weight"))
    return {
        "model": step["train"],
        "loss": {"function": loss.get("function"), "gamma": loss.get("gamma")},
        "class_weight_spec": weight,
        "feature_names": list(step.get("fnames") or []),
        "from_spec": True,
    }


def training_setup(
    source: Mapping[str, Any] | None, *, spec: Mapping[str, Any] | None, trained: bool
) -> dict[str, Any]:
    """The ``seed`` (the train step's ``random_seed``) and ``training_clouds`` (file names, see
    :func:`training_paths`) of a run that trained its model or was to (None for a loaded model:
    its record keeps neither), and the model's input ``feature_names``.

    Example:
        >>> training_setup({"clouds": [{"path": "/d/a.laz"}], "feature_names": ["i"]},
        ...                spec={"sequential_pipeline": [{"train": "X", "random_seed": 3}]}, trained=True)
        {'seed': 3, 'training_clouds': ['a.laz'], 'feature_names': ['i']}
    """
    step = train_step(spec) if trained else None
    paths = training_paths(source, spec=spec) if trained else None
    return {
        "seed": None if step is None else step.get("random_seed"),
        "training_clouds": None if paths is None else [Path(path).name for path in paths],
        "feature_names": _input_names(source),
    }


def training_paths(source: Mapping[str, Any] | None, *, spec: Mapping[str, Any] | None) -> list[str] | None:
    """The clouds a training read: those its record lists, else (a run stopped before it recorded
    its training) those its spec names: the train step's ``training_pcloud``, else the run's
    ``in_pcloud``. None where neither tells.

    Example:
        >>> training_paths({"from_spec": True}, spec={"in_pcloud": ["t.las"], "sequential_pipeline": [
        ...     {"train": "X", "model_args": {"model_handling": {"training_pcloud": "/d/a.las"}}}]})
        ['/d/a.las']
    """
    clouds = (source or {}).get("clouds")
    if clouds is not None:
        return [str(cloud.get("path")) for cloud in clouds]
    step = train_step(spec)
    if step is None:
        return None
    given = ((step.get("model_args") or {}).get("model_handling") or {}).get("training_pcloud")
    given = given or (spec or {}).get("in_pcloud")
    return None if not given else [given] if isinstance(given, str) else [str(path) for path in given]


def class_codes(spec: Mapping[str, Any] | None) -> dict[str, list[int]] | None:
    """Each class's LAS codes, as the spec's ``class_mapping`` step maps them (the first such
    step); None for a spec without one (its classes are the model's or the cloud's values).

    Example:
        >>> class_codes({"sequential_pipeline": [{"class_mapping": "LASClassMapping",
        ...     "classes": [{"name": "ground", "codes": [2, 3]}]}]})
        {'ground': [2, 3]}
    """
    steps = (spec or {}).get("sequential_pipeline") or []
    step = next((s for s in steps if isinstance(s, Mapping) and "class_mapping" in s), None)
    if step is None:
        return None
    return {str(c.get("name")): sorted(int(code) for code in c.get("codes") or []) for c in step.get("classes") or []}


def _input_names(source: Mapping[str, Any] | None) -> list[str] | None:
    names = (source or {}).get("feature_names")
    transformers = (source or {}).get("feature_transformers") or []
    if not names and transformers:  # a record written before feature_names: the last transformer's
        names = transformers[-1]["kept"]
    return None if names is None else list(names)


def model_inputs(source: Mapping[str, Any] | None, *, spec: Mapping[str, Any] | None, trained: bool) -> str | None:
    """A model's inputs in a few words, the same for the run that trained it and a run that
    loaded it: the number of features, then what the model applies to them in order: per-cloud
    scaling, the feature transformers, its robust standardisation. A loaded model's record
    (``feature_transformers``) and a training's (``model_transformers``) list them; a training's
    record written before lists only the transformer steps, and what it left out is inferred (the
    spec's per-cloud scaling, the standardisation every trained model with features fits). None
    where the record tells nothing.

    Example:
        >>> model_inputs({"feature_names": ["height", "PCA_1"], "feature_transformers": [
        ...     {"transformer": "MinmaxNormalizer (to [0, 1], clipped)", "kept": ["height", "a", "b"]},
        ...     {"transformer": "PCATransformer (1 component)", "kept": ["height", "PCA_1"]}]},
        ...     spec=None, trained=True)
        '2 features; MinmaxNormalizer, PCATransformer, robust standardization'
        >>> model_inputs({"feature_names": ["i"], "feature_transformers": [
        ...     {"transformer": "cloud_normalization"}, {"transformer": "robust standardization"}]},
        ...     spec=None, trained=False)
        '1 feature; per-cloud scaling, robust standardization'
        >>> model_inputs({"feature_names": ["i"], "model_transformers": [{"transformer": "MinmaxNormalizer (clip)"},
        ...     {"transformer": "robust standardization"}]}, spec=None, trained=True)
        '1 feature; MinmaxNormalizer, robust standardization'
    """
    names = _input_names(source)
    if names is None or (source or {}).get("from_spec"):
        return None if names is None else counted(len(names), "feature")
    recorded = trained and "model_transformers" in (source or {})
    facts = (source or {}).get("model_transformers" if recorded else "feature_transformers") or []
    kinds = [fact["transformer"].split(" (")[0] for fact in facts]
    if trained and not recorded:  # a record written before model_transformers
        step = train_step(spec) or {}
        if set(step.get("cloud_normalization") or {}) & set(step.get("fnames") or names):
            kinds.insert(0, PER_CLOUD)
        if names:
            kinds.append(STANDARDIZATION)
    chain = ["per-cloud scaling"] if PER_CLOUD in kinds else []
    chain += [kind for k, kind in enumerate(kinds) if kind not in (PER_CLOUD, STANDARDIZATION, *kinds[:k])]
    chain += [STANDARDIZATION] if STANDARDIZATION in kinds else []
    return counted(len(names), "feature") + (f"; {', '.join(chain)}" if chain else "")


def short_list(names: Sequence[str] | None, *, width: int = 64) -> str:
    """Names joined with commas, cut after ``width`` characters with how many are left out.

    Example:
        >>> short_list(["intensity", "return_number", "number_of_returns", "height_above_ground"], width=30)
        'intensity, return_number, … (+2)'
        >>> short_list(None), short_list([])
        ('', '')
    """
    names = list(names or [])
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > width:
            return ", ".join(shown) + f", … (+{len(names) - len(shown)})"
        shown.append(name)
    return ", ".join(shown)


def error_line(record: Mapping[str, Any]) -> str | None:
    """Why a run failed, in one line: the step, the error's type and its message (shortened).

    Example:
        >>> error_line({"steps": [{"index": 0, "kind": "predict", "name": "ModelLoader"}],
        ...             "error": {"step": 0, "type": "DataError", "message": "model.keras: no such file"}})
        'step 0 (predict ModelLoader): DataError: model.keras: no such file'
        >>> error_line({"error": None}) is None
        True
    """
    error = record.get("error")
    if not isinstance(error, Mapping):
        return None
    message = " ".join(str(error.get("message") or "").split())
    if len(message) > ERROR_CHARS:
        message = message[: ERROR_CHARS - 1].rstrip() + "…"
    where = ""
    if error.get("step") is not None:
        step: Mapping[str, Any] = next((s for s in record.get("steps") or [] if s.get("index") == error["step"]), {})
        named = " ".join(str(step[key]) for key in ("kind", "name") if step.get(key))
        where = f"step {error['step']}" + (f" ({named})" if named else "") + ": "
    return where + ": ".join(part for part in (str(error.get("type") or ""), message) if part)
