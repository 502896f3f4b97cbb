"""Copies of a labelled tile as another sensor would record it (issue 13: robustness to another sensor).

* ``scaled``: intensities multiplied by ``factor`` (default 17, the ratio of another survey's
  16-bit intensities to the IGN tiles': median 14,534 against 858), clipped to 65,535;
* ``format0``: a LAS 1.2 point format 0 copy whose intensities, return numbers and numbers of
  returns are all 0 (a sensor or export without them); classification codes above 31, which
  format 0 cannot store, become 1 (unclassified: "other" in the IGN examples' mapping).

Run ``python -m benchmarks.sensor_copies SRC.laz OUT_FOLDER`` to write both copies.

Example:
    python -m benchmarks.sensor_copies ../shared/data/ign/test_data_77060_627760_LA93_IGN69.laz out/sensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import laspy
import numpy as np

INTENSITY_FACTOR = 17.0


def write_scaled(source: Path, target: Path, *, factor: float = INTENSITY_FACTOR) -> Path:
    """``source`` with its intensities times ``factor`` (clipped to 16 bits) written to ``target``."""
    las = laspy.read(source)
    las.intensity = np.clip(np.round(np.asarray(las.intensity, dtype=np.float64) * factor), 0, 65535).astype(np.uint16)
    target.parent.mkdir(parents=True, exist_ok=True)
    las.write(target)
    return target


def write_format0(source: Path, target: Path) -> Path:
    """``source`` as LAS 1.2 point format 0 without intensity and returns, written to ``target``."""
    las = laspy.read(source)
    codes = np.asarray(las.classification).copy()
    codes[codes > 31] = 1
    las.classification = codes
    for name in ("intensity", "return_number", "number_of_returns"):
        las[name] = np.zeros(len(codes), dtype=np.asarray(las[name]).dtype)
    out = laspy.convert(las, point_format_id=0, file_version="1.2")
    target.parent.mkdir(parents=True, exist_ok=True)
    out.write(target)
    return target


def copies_of(clouds: list[str], *, folder: Path) -> list[Path]:
    """The intensity-x17 and format-0 copies of ``clouds`` in ``folder`` (written once).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
        >>> las.x, las.y, las.z = np.arange(3.0), np.zeros(3), np.zeros(3)
        >>> las.intensity, las.classification = np.array([1, 2, 4000], np.uint16), np.array([2, 6, 64], np.uint8)
        >>> las.write(folder / "a.las")
        >>> scaled, format0 = copies_of([str(folder / "a.las")], folder=folder / "sensors")
        >>> scaled.name, np.asarray(laspy.read(scaled).intensity).tolist()
        ('a_intensity_x17.las', [17, 34, 65535])
        >>> format0.name, laspy.read(format0).header.point_format.id, np.asarray(laspy.read(format0).classification).tolist()
        ('a_format0.las', 0, [2, 6, 1])
    """
    copies = []
    for cloud in map(Path, clouds):
        for suffix, write in ((f"_intensity_x{INTENSITY_FACTOR:g}", write_scaled), ("_format0", write_format0)):
            target = folder / f"{cloud.stem}{suffix}{cloud.suffix}"
            if not target.is_file():
                write(cloud, target)
            copies.append(target)
    return copies


def main(argv: list[str] | None = None) -> int:
    """Writes ``<stem>_intensity_x17<suffix>`` and ``<stem>_format0<suffix>`` into the folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--factor", type=float, default=INTENSITY_FACTOR)
    args = parser.parse_args(argv)
    stem, suffix = args.source.stem, args.source.suffix
    for path in (
        write_scaled(args.source, args.folder / f"{stem}_intensity_x{args.factor:g}{suffix}", factor=args.factor),
        write_format0(args.source, args.folder / f"{stem}_format0{suffix}"),
    ):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
