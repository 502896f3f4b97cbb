"""Mapping LAS classification codes to named classes, with ignored codes.

LAS codes with gaps (2, 6, 65, ...) are normal: each class lists the codes it takes, classes are
numbered 0..C-1 in the order given, ignored codes become :data:`IGNORE_LABEL` (-1) and are never
trained on nor scored. A code that is neither mapped nor ignored is an error that lists every
such code with its point count, unless ``unmapped="ignore"``.

Example:
    >>> mapping = ClassMapping(names=["ground", "building"], codes=[[2], [6]], ignore_codes=[65])
    >>> mapping.map(np.array([2, 6, 65, 6])).tolist()
    [0, 1, -1, 1]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError, SpecError, SpecIssue

logger = logging.getLogger(__name__)

IGNORE_LABEL = -1
UNMAPPED_POLICIES = ("error", "ignore")
MAX_LAS_CODE = 255
DEFAULT_PALETTE = (
    "#a0785a",
    "#3c9a3c",
    "#d62728",
    "#1f77b4",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#2ca02c",
)
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _issue(problems: list[SpecIssue], path: str, message: str) -> None:
    problems.append(SpecIssue(path, message))


@dataclass(frozen=True)
class ClassMapping:
    """LAS codes -> class indices 0..C-1, ignored codes -> -1.

    Attributes:
        names: Class names, in class-index order.
        codes: For each class, the LAS codes it takes (non-empty, disjoint between classes).
        ignore_codes: LAS codes mapped to :data:`IGNORE_LABEL`.
        colors: One ``#rrggbb`` colour per class; default palette when None.
        las_codes: LAS code written for each class in output clouds; default the first code of
            each class.
        unmapped: ``"error"`` (default) or ``"ignore"`` for codes neither mapped nor ignored.
        vl3d_values: the classes are the cloud's classification values 0..C-1, as in VL3D
            (:meth:`from_values`, a spec without ``class_mapping`` step); only the message about
            a value outside them differs.
        raw_codes: the classes are the cloud's codes, one per code present, as VL3D learns them
            without class transformer (:meth:`from_codes`); predictions are written as codes.
        from_model: the mapping was read from a model file (it changes the hint of an unmapped code).

    Raises:
        SpecError: Inconsistent arguments (lengths, overlapping codes, bad colours or codes).

    Example:
        >>> m = ClassMapping(names=["ground", "veg"], codes=[[2], [3, 4, 5]])
        >>> m.las_codes, m.num_classes
        ([2, 3], 2)
    """

    names: list[str]
    codes: list[list[int]]
    ignore_codes: list[int] = field(default_factory=list)
    colors: list[str] | None = None
    las_codes: list[int] | None = None
    unmapped: str = "error"
    vl3d_values: bool = False
    raw_codes: bool = False
    from_model: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        names = [str(n) for n in self.names]
        codes = [[int(c) for c in class_codes] for class_codes in self.codes]
        ignore = sorted({int(c) for c in self.ignore_codes})
        problems: list[SpecIssue] = []
        if len(names) != len(codes):
            _issue(problems, "$.classes", f"{len(names)} names but {len(codes)} code lists")
        if len(set(names)) != len(names):
            _issue(problems, "$.classes", f"class names must be unique, received {names}")
        seen: dict[int, int] = {}
        for i, class_codes in enumerate(codes):
            if not class_codes:
                _issue(problems, f"$.classes[{i}].codes", "expected at least one LAS code")
            for code in class_codes:
                if not 0 <= code <= MAX_LAS_CODE:
                    _issue(problems, f"$.classes[{i}].codes", f"code {code} not in 0..255")
                if code in seen and seen[code] != i:
                    _issue(
                        problems, f"$.classes[{i}].codes", f"code {code} already belongs to class {names[seen[code]]!r}"
                    )
                if code in ignore:
                    _issue(problems, f"$.classes[{i}].codes", f"code {code} is also in ignore_codes")
                seen[code] = i
        colors = (
            list(self.colors)
            if self.colors is not None
            else [DEFAULT_PALETTE[i % len(DEFAULT_PALETTE)] for i in range(len(names))]
        )
        if len(colors) != len(names):
            _issue(problems, "$.colors", f"expected {len(names)} colours, received {len(colors)}")
        for i, color in enumerate(colors):
            if not (isinstance(color, str) and _HEX_COLOR.match(color)):
                _issue(problems, f"$.classes[{i}].color", f"expected '#rrggbb', received {color!r}")
        las_codes = (
            [int(c) for c in self.las_codes]
            if self.las_codes is not None
            else [class_codes[0] if class_codes else 0 for class_codes in codes]
        )
        if len(las_codes) != len(names):
            _issue(problems, "$.las_codes", f"expected {len(names)} codes, received {len(las_codes)}")
        if self.unmapped not in UNMAPPED_POLICIES:
            _issue(problems, "$.unmapped", f"expected one of {list(UNMAPPED_POLICIES)}, received {self.unmapped!r}")
        if problems:
            raise SpecError(problems)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "ignore_codes", ignore)
        object.__setattr__(self, "colors", [c.lower() for c in colors])
        object.__setattr__(self, "las_codes", las_codes)

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.names)

    @classmethod
    def from_spec(cls, step: Mapping[str, Any]) -> ClassMapping:
        """Build from a ``class_mapping`` pipeline step.

        The step holds ``classes`` (list of ``{"name", "codes", "color"?, "las_code"?}``),
        ``ignore_codes`` (optional) and ``unmapped`` (optional, "error" or "ignore").

        Example:
            >>> ClassMapping.from_spec({"class_mapping": "LASClassMapping",
            ...     "classes": [{"name": "ground", "codes": [2]}], "ignore_codes": [7]}).names
            ['ground']
        """
        classes = list(step.get("classes", []))
        colors = [c.get("color") for c in classes]
        default_colors = [DEFAULT_PALETTE[i % len(DEFAULT_PALETTE)] for i in range(len(classes))]
        return cls(
            names=[c.get("name", f"class_{i}") for i, c in enumerate(classes)],
            codes=[list(c.get("codes", [])) for c in classes],
            ignore_codes=list(step.get("ignore_codes", [])),
            colors=[c if c is not None else d for c, d in zip(colors, default_colors)],
            las_codes=[c.get("las_code", (c.get("codes") or [0])[0]) for c in classes],
            unmapped=step.get("unmapped", "error"),
        )

    @classmethod
    def from_values(cls, names: Sequence[str]) -> ClassMapping:
        """VL3D's classes: classification value ``i`` is class ``i``, named ``names[i]``.

        Example:
            >>> m = ClassMapping.from_values(["wood", "leaf"])
            >>> m.map(np.array([1, 0, 1])).tolist(), m.las_codes
            ([1, 0, 1], [0, 1])
        """
        return cls(names=list(names), codes=[[i] for i in range(len(names))], vl3d_values=True)

    @classmethod
    def from_codes(cls, codes: np.ndarray, *, ignore_codes: Sequence[int] = ()) -> ClassMapping:
        """One class per distinct LAS code present (named ``class_<code>``), for unmapped data
        (``raw_codes``: the predictions are written as these codes).

        Example:
            >>> ClassMapping.from_codes(np.array([6, 2, 2])).names
            ['class_2', 'class_6']
        """
        ignore = {int(c) for c in ignore_codes}
        present = [int(c) for c in np.unique(np.asarray(codes)) if int(c) not in ignore]
        return cls(
            names=[f"class_{c}" for c in present],
            codes=[[c] for c in present],
            ignore_codes=sorted(ignore),
            raw_codes=True,
        )

    def _lookup_table(self, size: int) -> np.ndarray:
        table = np.full(size, -2, dtype=np.int64)  # -2 marks "unmapped"
        for label, class_codes in enumerate(self.codes):
            table[[c for c in class_codes if c < size]] = label
        table[[c for c in self.ignore_codes if c < size]] = IGNORE_LABEL
        return table

    def map(self, codes: np.ndarray, *, source: str = "") -> np.ndarray:
        """Map LAS codes to class indices (int64), ignored codes to -1.

        Args:
            codes: (N,) LAS classification codes.
            source: Name of the cloud, used in error messages.

        Raises:
            DataError: Codes neither mapped nor ignored (listed with their counts) when
                ``unmapped == "error"``, or negative codes.

        Example:
            >>> ClassMapping(names=["g"], codes=[[2]], unmapped="ignore").map(np.array([2, 9])).tolist()
            [0, -1]
        """
        codes = np.asarray(codes).astype(np.int64, copy=False).ravel()
        where = f"{source}: " if source else ""
        if codes.size and codes.min() < 0:
            raise DataError(f"{where}LAS codes must be >= 0, received {int(codes.min())}")
        size = max(MAX_LAS_CODE + 1, int(codes.max()) + 1 if codes.size else 0)
        labels = self._lookup_table(size)[codes]
        unmapped = labels == -2
        if unmapped.any():
            self.check_code_counts(np.bincount(codes[unmapped], minlength=size), source=source)
            labels[unmapped] = IGNORE_LABEL
        return labels

    def check_code_counts(self, counts: np.ndarray, *, source: str = "") -> None:
        """The check of :meth:`map` on points per code (``np.bincount`` of a cloud's codes).

        Raises:
            DataError: codes neither mapped nor ignored, when ``unmapped == "error"``; the hint
                says where to add them: the spec's class mapping step, or, for the mapping a
                model was trained with, a class mapping step to add before the predict step.

        Example:
            >>> ClassMapping(names=["g"], codes=[[2]]).check_code_counts(np.array([0, 0, 5, 0, 0, 0, 0, 0, 0, 3]))
            Traceback (most recent call last):
            ...
            vl3d_focal.errors.DataError: LAS codes neither mapped to a class nor ignored (9: 3 points); add them to a class or to ignore_codes of the class_mapping step, or set its unmapped to 'ignore'
        """
        table = self._lookup_table(len(counts))
        unmapped = np.flatnonzero((table == -2) & (np.asarray(counts) > 0))
        if unmapped.size == 0:
            return
        where = f"{source}: " if source else ""
        listing = ", ".join(f"{code}: {int(counts[code])} points" for code in unmapped.tolist())
        if self.unmapped == "error" and self.vl3d_values:
            raise DataError(
                f"{where}classification values outside 0..{self.num_classes - 1} ({listing}); the classes "
                "are the cloud's classification values 0..num_classes-1 (VL3D): give num_classes and "
                "class_names covering every value, group values with a ClassReducer step, or map LAS "
                "codes with a class_mapping step"
            )
        if self.unmapped != "error":
            logger.info("%signoring unmapped LAS codes (%s)", where, listing)
            return
        hint = (
            "add them to a class or to ignore_codes of the class_mapping step, or set its unmapped to 'ignore'"
            if not self.from_model
            else f"the model was trained with the classes {list(self.names)} of the codes {self.codes}; to predict "
            "and score such a cloud, add a class_mapping step before the predict step with the model's "
            "classes and these codes in ignore_codes (or unmapped: ignore)"
        )
        raise DataError(f"{where}LAS codes neither mapped to a class nor ignored ({listing}); {hint}")

    def to_las_codes(self, labels: np.ndarray, *, ignored_code: int = 1) -> np.ndarray:
        """Class indices -> output LAS codes (uint8); -1 becomes ``ignored_code``.

        Example:
            >>> ClassMapping(names=["g", "b"], codes=[[2], [6]]).to_las_codes(np.array([1, 0, -1])).tolist()
            [6, 2, 1]
        """
        labels = np.asarray(labels).astype(np.int64, copy=False)
        if labels.size and (labels.min() < IGNORE_LABEL or labels.max() >= self.num_classes):
            raise DataError(
                f"class labels must be in -1..{self.num_classes - 1}, received {int(labels.min())}..{int(labels.max())}"
            )
        assert self.las_codes is not None  # filled by __post_init__
        table = np.array(self.las_codes + [ignored_code], dtype=np.uint8)
        return table[labels]  # -1 picks the last entry: ignored_code

    def prediction_values(self, labels: np.ndarray) -> np.ndarray:
        """Predicted class indices -> the values prediction outputs write (int64), as VL3D writes
        what its model learnt: where the classes are the cloud's values (``raw_codes``,
        ``vl3d_values``: no class step) their :meth:`to_las_codes`, else the indices.

        Example:
            >>> ClassMapping.from_codes(np.array([2, 5, 6])).prediction_values(np.array([2, 0, 1])).tolist()
            [6, 2, 5]
            >>> ClassMapping(names=["g", "b"], codes=[[2], [6]]).prediction_values(np.array([1, 0])).tolist()
            [1, 0]
        """
        if self.raw_codes or self.vl3d_values:
            return self.to_las_codes(labels).astype(np.int64)
        return np.asarray(labels).astype(np.int64, copy=False)

    def in_order(self, names: Sequence[str]) -> ClassMapping:
        """The same classes (codes, colours, output codes) listed in the order of ``names``.

        Example:
            >>> m = ClassMapping(names=["building", "ground"], codes=[[6], [2]]).in_order(["ground", "building"])
            >>> m.names, m.codes, m.las_codes
            (['ground', 'building'], [[2], [6]], [2, 6])
        """
        assert self.colors is not None and self.las_codes is not None  # filled by __post_init__
        order = [self.names.index(name) for name in names]
        return ClassMapping(
            names=[self.names[i] for i in order],
            codes=[self.codes[i] for i in order],
            ignore_codes=self.ignore_codes,
            colors=[self.colors[i] for i in order],
            las_codes=[self.las_codes[i] for i in order],
            unmapped=self.unmapped,
            vl3d_values=self.vl3d_values,
            raw_codes=self.raw_codes,
            from_model=self.from_model,
        )

    def to_config(self) -> dict[str, Any]:
        """JSON-able description, stored with the model.

        Example:
            >>> ClassMapping.from_config(mapping.to_config()).names == mapping.names
            True
        """
        assert self.colors is not None and self.las_codes is not None  # filled by __post_init__
        config = {
            "names": list(self.names),
            "codes": [list(c) for c in self.codes],
            "ignore_codes": list(self.ignore_codes),
            "colors": list(self.colors),
            "las_codes": list(self.las_codes),
            "unmapped": self.unmapped,
        }
        return {**config, **{flag: True for flag in ("raw_codes", "vl3d_values") if getattr(self, flag)}}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClassMapping:
        """Inverse of :meth:`to_config` (a mapping stored with a model: ``from_model``).

        Example:
            >>> ClassMapping.from_config({"names": ["g"], "codes": [[2]]}).las_codes
            [2]
        """
        return cls(
            names=list(config["names"]),
            codes=[list(c) for c in config["codes"]],
            ignore_codes=list(config.get("ignore_codes", [])),
            colors=config.get("colors"),
            las_codes=config.get("las_codes"),
            unmapped=config.get("unmapped", "error"),
            vl3d_values=bool(config.get("vl3d_values", False)),
            raw_codes=bool(config.get("raw_codes", False)),
            from_model=True,
        )
