"""VL3D output prefixes: a step path starting with ``*`` is ``<prefix><rest>``.

``out_pcloud`` holds one prefix per input cloud, or one prefix for all of them. Per-cloud
outputs (classified clouds, evaluations) go to the cloud's prefix; with one prefix for
several clouds, the cloud's prefix is ``<prefix><input stem>/``. Model-level outputs (the
model, the training history, the class weights) go to the first prefix.

Example:
    >>> cloud_prefixes(inputs=["a.laz", "b.laz"], prefixes=["out/"])
    ['out/a/', 'out/b/']
    >>> expand_output("*predicted.laz", prefix="out/a/")
    'out/a/predicted.laz'
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from vl3d_focal.errors import DataError

PREFIX_MARK = "*"

TRAINING_FOLDER = "training/"
"""Model-level training outputs go to ``<first prefix>training/``."""

RESUME_CHECKPOINT = "resume/checkpoint.npz"
"""The resumable checkpoint, under the training folder."""


def cloud_prefixes(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> list[str]:
    """The output prefix of each input cloud.

    Args:
        inputs: the input cloud paths (``in_pcloud``).
        prefixes: ``out_pcloud``: one prefix per input, or one for all (an empty list
            puts outputs beside the inputs, each under ``<input stem>_``).

    Returns:
        One prefix string per input.

    Raises:
        DataError: when the number of prefixes is neither 1 nor the number of inputs.

    Example:
        >>> cloud_prefixes(inputs=["x/a.las"], prefixes=["out/run_"])
        ['out/run_']
    """
    inputs = [str(path) for path in inputs]
    prefixes = [str(prefix) for prefix in prefixes]
    if not prefixes:
        return [str(Path(path).with_suffix("")) + "_" for path in inputs]
    if len(prefixes) == len(inputs):
        return prefixes
    if len(prefixes) == 1:
        return [f"{prefixes[0]}{Path(path).stem}/" for path in inputs]
    raise DataError(
        f"out_pcloud: expected 1 prefix or one per input ({len(inputs)}), got {len(prefixes)}"
    )


def model_prefix(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> str:
    """Where model-level outputs go: the first prefix.

    Example:
        >>> model_prefix(inputs=["a.las", "b.las"], prefixes=["out/m_", "out/n_"])
        'out/m_'
    """
    if prefixes:
        return str(prefixes[0])
    return cloud_prefixes(inputs=inputs[:1], prefixes=[])[0] if inputs else ""


def expand_output(path: str | Path, *, prefix: str) -> str:
    """``<prefix><rest>`` for a path ``*<rest>``; other paths unchanged.

    Example:
        >>> expand_output("model/m.keras", prefix="out/")
        'model/m.keras'
    """
    text = str(path)
    if text.startswith(PREFIX_MARK):
        return f"{prefix}{text[len(PREFIX_MARK):]}"
    return text


def prepare_output(path: str | Path) -> Path:
    """Creates the parent folder of an output file and returns it as a Path.

    Example:
        >>> import tempfile
        >>> prepare_output(Path(tempfile.mkdtemp()) / "eval" / "x.json").parent.is_dir()
        True
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def partial_path(path: str | Path) -> Path:
    """A fresh temporary file beside ``path``, hidden, with the same suffixes.

    Keeping the suffixes matters to writers that check them (``.weights.h5``, ``.laz``).

    Example:
        >>> import tempfile
        >>> tmp = partial_path(Path(tempfile.mkdtemp()) / "best.weights.h5")
        >>> tmp.name.startswith(".best.") and tmp.name.endswith(".partial.weights.h5")
        True
    """
    out = Path(path)
    suffixes = "".join(out.suffixes)
    stem = out.name[: len(out.name) - len(suffixes)] if suffixes else out.name
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffixes}", dir=out.parent)
    os.close(handle)
    return Path(name)


_RANDOM_PART = r"[a-z0-9_]{8}"
"""The random part of a :func:`tempfile.mkstemp` name."""


def is_stale_partial(path: str | Path, *, outputs: Sequence[str | Path] = ()) -> bool:
    """Whether ``path`` is the name of a temporary file of ours.

    Ours are the files of :func:`partial_path` (``.<stem>.<random>.partial<suffixes>``) and
    the temporary files of writers that create ``.<stem>.<random><suffix>`` beside one of
    ``outputs`` (the model file and the classified clouds) before renaming it into place.

    Example:
        >>> is_stale_partial("out/.history.k2j4h_9a.partial.csv")
        True
        >>> is_stale_partial("out/.predicted.k2j4h_9a.laz", outputs=["out/predicted.laz"])
        True
        >>> is_stale_partial("out/.predicted.k2j4h_9a.laz"), is_stale_partial("out/history.partial.csv")
        (False, False)
    """
    name = Path(path).name
    if re.fullmatch(rf"\..*\.{_RANDOM_PART}\.partial(?:\..+)?", name):
        return True
    for output in outputs:
        out = Path(output)
        if re.fullmatch(re.escape(f".{out.stem}.") + _RANDOM_PART + re.escape(out.suffix), name):
            return True
    return False


def remove_stale_partials(*, folder: str | Path, outputs: Sequence[str | Path] = ()) -> list[Path]:
    """Deletes the temporary files a killed run left in ``folder`` (see :func:`is_stale_partial`).

    Only regular files of ``folder`` itself whose names are those of our temporary files are
    deleted; a missing folder is no error.

    Args:
        folder: an output folder.
        outputs: the output files written into ``folder`` (their writers' temporary names).

    Returns:
        The deleted files, sorted.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> stale = partial_path(folder / "history.csv")
        >>> remove_stale_partials(folder=folder) == [stale]
        True
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    stale = sorted(path for path in root.iterdir()
                   if path.is_file() and not path.is_symlink() and is_stale_partial(path, outputs=outputs))
    for path in stale:
        path.unlink()
    return stale


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it is renamed to ``path`` in one step.

    A crash (or an exception) never leaves a truncated file under the final name: the
    temporary file is removed on error, and ``os.replace`` is atomic within a folder.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out" / "a.txt"
        >>> with atomic_output(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('done', ['a.txt'])
    """
    out = prepare_output(path)
    tmp = partial_path(out)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
