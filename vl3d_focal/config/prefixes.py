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

from collections.abc import Sequence
from pathlib import Path

from vl3d_focal.errors import DataError

PREFIX_MARK = "*"


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
    paths = [str(path) for path in inputs]
    texts = [str(prefix) for prefix in prefixes]
    if not texts:
        return [str(Path(path).with_suffix("")) + "_" for path in paths]
    if len(texts) == len(paths):
        return texts
    if len(texts) == 1:
        return [f"{texts[0]}{Path(path).stem}/" for path in paths]
    raise DataError(f"out_pcloud: expected 1 prefix or one per input ({len(paths)}), got {len(texts)}")


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
        return f"{prefix}{text[len(PREFIX_MARK) :]}"
    return text
