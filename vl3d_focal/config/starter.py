"""The commented starter spec ``vl3d-focal init`` writes (YAML with comments, or JSON).

The JSON form is the YAML form's data with ``_comment`` keys (comments in the spec
language): one at the top, and one per step holding that step kind's schema description.
Both validate as they are, except that their input cloud does not exist yet.

Example:
    >>> import yaml
    >>> yaml.safe_load(starter_spec(as_json=False))["in_pcloud"]
    ['data/my_cloud.laz']
"""

from __future__ import annotations

import json
from typing import Any

import yaml

STARTER_YAML = """\
# vl3d_focal pipeline spec (YAML; JSON works too). Relative paths are relative to this file.
# Keys starting with '_' are comments. Check it: vl3d-focal validate THIS_FILE
# Every key and its default: vl3d-focal schema
in_pcloud:                      # LAS/LAZ clouds with a reference classification
  - data/my_cloud.laz
out_pcloud: out/my_run/*        # output prefix; step paths starting with '*' go under it
# Several clouds (in_pcloud entries may be folders or glob patterns: tiles/*.laz) make a survey:
# rename '_executor' to 'executor' to run its per-cloud steps in parallel on Dask workers.
_executor:
  _comment: "rename to 'executor': the per-cloud steps (predict, eval, writers) of several clouds run in
    parallel on Dask workers; add scheduler: 'host:8786' for a running cluster (docs/survey.md)"
  engine: dask
  workers: 4                    # worker processes; null: one per CPU core
  threads_per_worker: 1
sequential_pipeline:
  # 1. LAS classification codes -> named classes (in class-index order)
  - class_mapping: LASClassMapping
    classes:
      - {name: ground, codes: [2], color: "#a0785a"}
      - {name: vegetation, codes: [3, 4, 5], color: "#2ca02c"}
      - {name: building, codes: [6], color: "#d62728"}
    ignore_codes: [0, 1, 7]     # never trained on, never scored (written predicted unless in keep_codes)
    unmapped: error             # or: ignore
  # 2. train a point-wise PointNet with the class-weighted focal loss
  - train: PointNetPwiseClassifier
    fnames: [intensity, return_number, number_of_returns]
    random_seed: 42
    model_args:
      num_classes: 3
      class_names: [ground, vegetation, building]
      pre_processing:
        pre_processor: furthest_point_subsampling   # or: grid_subsampling
        neighborhood: {type: sphere, radius: 3.0, separation_factor: 0.8}
        num_points: 512
      model_handling:
        # As written, the model trains on in_pcloud and step 3 predicts and evaluates that same
        # cloud: its scores are training-set scores. To score a cloud the model has not seen,
        # name the clouds to train on here (in_pcloud is then only predicted and evaluated):
        # training_pcloud: [data/my_training_cloud.laz]
        training_epochs: 20
        batch_size: 16
        validation_split: 0.2
        early_stopping: {monitor: val_loss, patience: 5}
      compilation_args:
        optimizer: {algorithm: Adam, learning_rate: 0.001}
        loss:
          function: class_weighted_focal_categorical_crossentropy   # vl3d-focal list losses
          gamma: 2.0
          class_weight: balanced    # or [w1, w2, w3], {ground: 1.0, ...}; vl3d-focal list class-weights
  # 3. save the model, predict, evaluate, write the classified cloud
  - writer: PredictiveModelWriter
    out_model: "*model/model.keras"
  - predict: PreviousModel      # or: {predict: ModelLoader, model_path: path/to/model.keras}
  - eval: ClassificationEvaluator
    report_path: "*eval/evaluation.json"
  - writer: ClassifiedPcloudWriter
    out_pcloud: "*predicted.laz"
"""


def _step_descriptions() -> dict[str, str]:
    from vl3d_focal.config.schemas import active_schemas, steps_by_kind

    defs = active_schemas()["pipeline.schema.json"]["$defs"]
    return {kind: defs[f"{kind}_step"]["description"] for kind in steps_by_kind()}


def starter_spec(*, as_json: bool) -> str:
    """The starter spec's text.

    Args:
        as_json: JSON with ``_comment`` keys instead of commented YAML.

    Example:
        >>> json.loads(starter_spec(as_json=True))["_comment"].startswith("vl3d_focal")
        True
    """
    if not as_json:
        return STARTER_YAML
    data: dict[str, Any] = yaml.safe_load(STARTER_YAML)
    descriptions = _step_descriptions()
    steps = []
    for step in data["sequential_pipeline"]:
        kind = next(k for k in descriptions if k in step)
        steps.append({"_comment": descriptions[kind], **step})
    header = [line.lstrip("# ") for line in STARTER_YAML.splitlines()[:3]]
    out = {"_comment": " ".join(header), **data, "sequential_pipeline": steps}
    return json.dumps(out, indent=2) + "\n"
