"""The pipeline spec language: loading, validation, normalisation and its JSON Schema files.

One concern per module:

- :mod:`~vl3d_focal.config.parsing`: parsing JSON/YAML spec files, dropping ``_`` comment keys;
- :mod:`~vl3d_focal.config.loading`: :func:`validate_spec` and :func:`load_spec` (the
  normalised form the runner gets), :func:`read_spec` (with the no-effect notes and the
  origin of each step VL3D's forms rewrote);
- :mod:`~vl3d_focal.config.forms`: VL3D's single-component training, mining and predict forms as pipelines;
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

This package re-exports the public API used by the CLI, the pipeline and the tests, each
imported on first use.

Example:
    >>> from vl3d_focal.config import validate_spec
    >>> [i.message for i in validate_spec({"in_pcloud": "a.las"}, check_files=False)]
    ["missing required key 'out_pcloud'"]
"""

from __future__ import annotations

from vl3d_focal.lazy import lazy_attributes

_PUBLIC = {
    "active_schemas": "schemas",
    "apply_defaults": "normalise",
    "check_spec": "loading",
    "drop_comments": "parsing",
    "generate_schemas": "schemas",
    "json_path": "messages",
    "load_schema": "schemas",
    "load_spec": "loading",
    "normalise_paths": "normalise",
    "parse_spec_text": "parsing",
    "read_spec": "loading",
    "read_spec_file": "parsing",
    "sort_issues": "messages",
    "starter_spec": "starter",
    "validate_spec": "loading",
    "write_schemas": "schema_files",
}
"""The public API and the module of each; imported on first use, so that reading a spec file
(:mod:`~vl3d_focal.config.parsing`) does not load the validation's schemas and checks."""

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
