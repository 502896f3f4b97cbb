"""``model_handling`` keys for watching a training from outside: ``tensorboard_dir``.

Example:
    >>> tensorboard_dir_schema()["default"] is None
    True
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.schema_annotations import FOLDER_OUTPUT, PATH_ANNOTATION


def tensorboard_dir_schema() -> dict[str, Any]:
    """``model_handling.tensorboard_dir``: the folder of TensorBoard's logs, or null for none.

    Example:
        >>> tensorboard_dir_schema()["anyOf"][1]["x-vl3d-path"]
        'model-folder-output'
    """
    folder = {
        "title": "a folder",
        "type": "string",
        "minLength": 1,
        PATH_ANNOTATION: FOLDER_OUTPUT,
        "description": "A leading '*' stands for the first output prefix (out_pcloud).",
    }
    return {
        "description": "Folder where TensorBoard logs of the training go (scalars per epoch; open "
        "it with: tensorboard --logdir FOLDER), e.g. '*training/tensorboard'; null: none. Needs the "
        "tensorboard package (pip install tensorboard).",
        "default": None,
        "anyOf": [{"type": "null", "title": "null"}, folder],
    }
