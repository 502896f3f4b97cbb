"""The pipeline spec language: loading, validation, normalisation and its JSON Schema files.

One concern per module:

- :mod:`~vl3d_focal.config.parsing`: parsing JSON/YAML spec files, dropping ``_`` comment keys;
- :mod:`~vl3d_focal.config.loading`: :func:`validate_spec` and :func:`load_spec` (the
  normalised form the runner gets), :func:`read_spec` (with the no-effect notes and the
  origin of each step VL3D's forms rewrote);
- :mod:`~vl3d_focal.config.forms`: VL3D's single-component training and mining forms as pipelines;
- :mod:`~vl3d_focal.config.components`: VL3D's components, one error for one we lack;
- :mod:`~vl3d_focal.config.notes`: keys accepted without effect (``x-vl3d-no-effect``);
- :mod:`~vl3d_focal.config.checks`: the semantic checks a JSON Schema cannot express;
- :mod:`~vl3d_focal.config.messages`: JSON paths, natural issue order, readable messages for
  schema errors ("did you mean ...?");
- :mod:`~vl3d_focal.config.normalise`: schema-driven rewriting of a valid spec (defaults
  filled in by :func:`apply_defaults`, paths resolved, lists made);
- :mod:`~vl3d_focal.config.schema_parts`: schema fragments shared by the top level and the step
  kinds (paths, closed objects, the ``x-vl3d-no-effect`` mark);
- :mod:`~vl3d_focal.config.model_args_schema` and its parts
  (:mod:`~vl3d_focal.config.pre_processing_schema`, :mod:`~vl3d_focal.config.model_handling_schema`,
  :mod:`~vl3d_focal.config.augmentation_schema`, :mod:`~vl3d_focal.config.compilation_schema`),
  :mod:`~vl3d_focal.config.training_reports_schema`: the train step's ``model_args`` and reports;
- :mod:`~vl3d_focal.config.schemas`: the schema files built from those fragments and the
  registries (:func:`generate_schemas`, :func:`write_schemas`, :func:`load_schema`);
- :mod:`~vl3d_focal.config.starter`: the commented starter spec of ``vl3d-focal init``.

This package re-exports the public API used by the CLI, the pipeline and the tests.

Example:
    >>> from vl3d_focal.config import validate_spec
    >>> [i.message for i in validate_spec({"in_pcloud": "a.las"}, check_files=False)]
    ["missing required key 'out_pcloud'"]
"""

from __future__ import annotations

from vl3d_focal.config.loading import check_spec, load_spec, read_spec, validate_spec
from vl3d_focal.config.messages import json_path, sort_issues
from vl3d_focal.config.normalise import apply_defaults, normalise_paths
from vl3d_focal.config.parsing import drop_comments, parse_spec_text, read_spec_file
from vl3d_focal.config.schemas import active_schemas, generate_schemas, load_schema, write_schemas
from vl3d_focal.config.starter import starter_spec

__all__ = [
    "active_schemas",
    "apply_defaults",
    "check_spec",
    "drop_comments",
    "generate_schemas",
    "json_path",
    "load_schema",
    "load_spec",
    "normalise_paths",
    "parse_spec_text",
    "read_spec",
    "read_spec_file",
    "sort_issues",
    "starter_spec",
    "validate_spec",
    "write_schemas",
]
