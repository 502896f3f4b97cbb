"""Writing the schema files into a folder (``vl3d-focal schema --write``): atomically, and deleting
only its own stale files.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "package.schema.json").write_text("{}")
    >>> _ = write_schemas(folder=folder)
    >>> (folder / "package.schema.json").read_text()  # not one of this package's files: kept
    '{}'
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from vl3d_focal.config.schemas import SCHEMA_BASE, generate_schemas
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import write_text


def _written_here(path: Path, name: str) -> bool:
    """Whether ``path`` is a schema file :func:`write_schemas` wrote as ``name``: its ``$id`` says so."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(schema, dict) and schema.get("$id") == SCHEMA_BASE + name


def write_schemas(*, folder: str | Path) -> list[Path]:
    """Writes :func:`~vl3d_focal.config.schemas.generate_schemas` into ``folder`` (2-space indented
    JSON, each file atomically); returns the paths written.

    A schema file no longer generated (a removed loss) is deleted only where this function wrote
    it: in ``folder`` or its ``losses/``, named ``*.schema.json`` and with the ``$id`` of that very
    file. Nothing else in ``folder`` is touched.

    Raises:
        DataError: ``folder`` is empty, ends in ``.json``, is a file, or cannot be created or written.

    Example:
        >>> import tempfile
        >>> paths = write_schemas(folder=tempfile.mkdtemp())
        >>> any(p.name == "pipeline.schema.json" for p in paths)
        True
    """
    if not str(folder):  # Path("") is the current folder
        raise DataError('schema --write "": cannot write there (an empty folder name); give a folder')
    out = Path(folder)
    if out.suffix.lower() == ".json":
        raise DataError(f"schema --write {out}: expected a folder to write the schema files in, not a .json file")
    schemas = generate_schemas()
    patterns = {str(PurePosixPath(name).with_name("*.schema.json")) for name in schemas}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in sorted({path for pattern in patterns for path in out.glob(pattern)}):
            name = stale.relative_to(out).as_posix()
            if name not in schemas and _written_here(stale, name):
                stale.unlink()
        return [
            write_text(out / name, json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
            for name, schema in schemas.items()
        ]
    except DataError:
        raise
    except OSError as error:
        raise DataError(
            f"schema --write {out}: cannot write there ({error.strerror or error}: {error.filename or out}); "
            "give a folder"
        ) from None
