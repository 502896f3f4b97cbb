"""The receptive-field clouds of a model loaded from a file (``ModelLoader``, ``PredictivePipeline``).

A model file keeps its training's ``pre_processing``, ``receptive_fields_dir`` included; as in
VL3D, whose loaded model predicts with the paths it was trained with (a leading ``*`` the
prediction's output prefix), a loaded model writes each field of each cloud it predicts as its
own cloud in that folder, as the model trained in the pipeline does
(:mod:`~vl3d_focal.inference.field_clouds`), the folder's ``*`` standing for the predicted
cloud's output prefix. The run manifest lists those files (:func:`loaded_field_cloud_files`),
so that a re-run and ``--overwrite`` delete them. A stored folder without ``*`` is refused for
several clouds (:func:`stored_folder_issues`), as the train step's is: each cloud would overwrite
the last one's files.

Example:
    >>> stored_fields_folder({"receptive_fields_dir": "*fields/"}), stored_fields_folder({})
    ('*fields/', None)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, once_per_cloud_problem
from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.errors import DataError
from vl3d_focal.inference.field_clouds import FIELD_PATTERN, FIELDS_DIR

if TYPE_CHECKING:
    from vl3d_focal.models.bundle import ModelBundle


def stored_fields_folder(pre_processing: Mapping[str, Any] | None) -> str | None:
    """The ``receptive_fields_dir`` a model file stores (None: none)."""
    folder = pre_processing.get(FIELDS_DIR) if isinstance(pre_processing, Mapping) else None
    return folder if isinstance(folder, str) and folder else None


def stored_folder_issues(metadata: Mapping[str, Any], *, path: str, at: tuple, clouds: int) -> Iterator[Issue]:
    """The stored ``receptive_fields_dir`` of model ``path`` (its file's ``metadata``) when it has no
    leading ``*`` and the predict step at ``at`` predicts several ``clouds``.

    Example:
        >>> meta = {"pre_processing": {"receptive_fields_dir": "fields/"}}
        >>> [(p, m[:64]) for p, m in stored_folder_issues(meta, path="m.keras", at=("s", 0), clouds=2)]
        [(('s', 0, 'model_path'), "receptive_fields_dir stored in model m.keras: 'fields/' would be")]
        >>> list(stored_folder_issues(meta, path="m.keras", at=("s", 0), clouds=1))
        []
    """
    folder = stored_fields_folder(metadata.get("pre_processing"))
    problem = once_per_cloud_problem(folder, clouds=clouds) if folder else None
    if problem is not None:
        yield (
            at + ("model_path",),
            (
                f"{FIELDS_DIR} stored in model {path}: {problem} (train the model with a {FIELDS_DIR} that starts "
                "with '*', so that each cloud gets its own folder), or predict one cloud per run"
            ),
        )


def _folder_under(folder: str, prefix: str) -> dict[str, Path]:
    return {FIELDS_DIR: Path(expand_output(folder, prefix=prefix))}


def with_stored_field_clouds(bundle: ModelBundle) -> ModelBundle:
    """``bundle`` writing its fields' clouds where its stored ``receptive_fields_dir`` says (a copy;
    ``bundle`` itself when it stores none).

    Example:
        >>> loaded = dataclasses.replace(bundle, pre_processing={"receptive_fields_dir": "*fields/"})
        >>> with_stored_field_clouds(loaded).field_reports("out/a_")[FIELDS_DIR].as_posix()
        'out/a_fields'
    """
    folder = stored_fields_folder(bundle.pre_processing)
    if folder is None:
        return bundle
    return dataclasses.replace(bundle, field_reports=functools.partial(_folder_under, folder))


def loaded_field_cloud_files(step: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    """The clouds of the fields a loaded model writes, one per field of each cloud, as a glob
    pattern (none when the model file stores no folder, or cannot be read: validation says why).

    Example:
        >>> loaded_field_cloud_files({"predict": "ModelLoader", "model_path": "no/such.keras"})
        []
    """
    from vl3d_focal.models.model_file import read_metadata

    try:
        folder = stored_fields_folder(read_metadata(step["model_path"]).get("pre_processing"))
    except (DataError, OSError):
        return []
    return [("cloud", f"{folder.rstrip('/')}/{FIELD_PATTERN}")] if folder else []
