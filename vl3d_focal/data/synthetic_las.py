"""Writing the synthetic scene (:mod:`vl3d_focal.data.synthetic`) as a LAS 1.4 tile in Lambert-93.

Example:
    >>> ORIGIN
    (770000.0, 6277000.0)
"""

from __future__ import annotations

import laspy
import numpy as np

ORIGIN = (770_000.0, 6_277_000.0)
LAMBERT93_WKT = (
    'PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",DATUM["Reseau_Geodesique_Francais_1993_v1",'
    'SPHEROID["GRS 1980",6378137,298.257222101]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4171"]],'
    'PROJECTION["Lambert_Conformal_Conic_2SP"],PARAMETER["latitude_of_origin",46.5],'
    'PARAMETER["central_meridian",3],PARAMETER["standard_parallel_1",49],'
    'PARAMETER["standard_parallel_2",44],PARAMETER["false_easting",700000],'
    'PARAMETER["false_northing",6600000],UNIT["metre",1],AUTHORITY["EPSG","2154"]]'
)


def scene_las(rng, x, y, z, codes, intensity, rn, nr, size) -> laspy.LasData:
    """The scene's points as LAS 1.4 point format 6 at :data:`ORIGIN` in Lambert-93, sorted by GPS
    time along a flight line west of the tile (coordinates in metres from the tile's corner).

    Example:
        >>> rng, xyz, returns = np.random.default_rng(0), np.ones(2), np.ones(2, np.uint8)
        >>> scene = scene_las(rng, xyz, xyz, xyz, np.array([2, 6], np.uint8), 100 * xyz, returns, returns, 10.0)
        >>> str(scene.header.version), sorted(np.asarray(scene.classification).tolist())
        ('1.4', [2, 6])
    """
    gps = 3.5e8 + y / 60.0 + rng.uniform(0, 0.01, len(x))
    order = np.argsort(gps, kind="stable")
    header = laspy.LasHeader(version="1.4", point_format=6)
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([ORIGIN[0], ORIGIN[1], 0.0])
    header.vlrs.append(laspy.vlrs.known.WktCoordinateSystemVlr(LAMBERT93_WKT))
    header.global_encoding.wkt = True
    header.system_identifier = "vl3d_focal synthetic"
    header.generating_software = "vl3d_focal.data.synthetic"
    las = laspy.LasData(header)
    las.x = ORIGIN[0] + x[order]
    las.y = ORIGIN[1] + y[order]
    las.z = z[order]
    las.classification = codes[order]
    las.intensity = np.clip(intensity[order], 0, 65535).astype(np.uint16)
    las.return_number = np.minimum(rn[order], nr[order])
    las.number_of_returns = nr[order]
    flight_x = -120.0 - 0.5 * size
    angle = np.degrees(np.arctan((x[order] - flight_x) / 1000.0))
    las.scan_angle = np.round(angle / 0.006).astype(np.int16)
    las.gps_time = gps[order]
    las.point_source_id = np.full(len(x), 1, dtype=np.uint16)
    return las
