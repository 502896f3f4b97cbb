"""A synthetic, labelled urban airborne-LiDAR tile (LAS 1.4, point format 6, Lambert-93 CRS).

The scene has undulating terrain crossed by two roads, buildings with flat or gabled roofs and
a few facade points, trees (trunk and ellipsoidal crown, several returns per pulse, ground
seen through the crown as last returns), bushes and grass, parked cars along the roads, lamp
posts, and a little noise. Class codes (:data:`CLASS_CODES`):

====  ==========================================================
code  class
====  ==========================================================
2     ground (terrain and roads)
3     low vegetation (grass, bush parts below 0.5 m)
4     medium vegetation (bush parts 0.5 - 1.5 m)
5     high vegetation (tree trunks and crowns)
6     building (roofs and walls)
7     noise (isolated points far above or below the scene)
64    pole (lamp posts; IGN's "permanent above-ground structure")
68    vehicle (parked cars; a user-definable ASPRS code)
====  ==========================================================

Intensities differ by material (dark asphalt, brighter grass, bright roofs and car paint,
weaker later returns), ``scan_angle`` follows a flight line west of the tile, ``gps_time``
grows along the flight direction. Ground and vegetation are about 85 % of the points, cars
and poles about 1 % each. The same seed gives the same file.

Example:
    >>> las = generate_urban_scene(seed=0)
    >>> len(las.points) > 50_000
    True

Command line (writes the file, prints a class histogram)::

    python -m vl3d_focal.data.synthetic OUT.las [--seed N] [--size M] [--density D]
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal.data.synthetic_las import scene_las

logger = logging.getLogger(__name__)

CLASS_CODES = {
    "ground": 2,
    "low_vegetation": 3,
    "medium_vegetation": 4,
    "high_vegetation": 5,
    "building": 6,
    "noise": 7,
    "pole": 64,
    "vehicle": 68,
}
DEFAULT_SIZE_M = 80.0
DEFAULT_DENSITY = 12.0


class _Parts:
    """Accumulates point groups: x, y, z, class code, intensity, return number, returns."""

    def __init__(self) -> None:
        self.groups: list[tuple[np.ndarray, ...]] = []

    def add(self, x, y, z, code, intensity, rn=1, nr=1) -> None:
        n = len(x)
        col = lambda v, dt: np.broadcast_to(np.asarray(v, dtype=dt), (n,)).copy()  # noqa: E731
        self.groups.append(
            (
                np.asarray(x, float),
                np.asarray(y, float),
                np.asarray(z, float),
                col(code, np.uint8),
                col(intensity, float),
                col(rn, np.uint8),
                col(nr, np.uint8),
            )
        )

    def stack(self) -> list[np.ndarray]:
        return [np.concatenate(c) for c in zip(*self.groups)]


class _Terrain:
    def __init__(self, rng: np.random.Generator, size: float) -> None:
        self.a = rng.uniform(0.3, 1.0, 3)
        self.k = 2 * np.pi / rng.uniform(1.0, 2.5, 3) / size
        self.phase = rng.uniform(0, 2 * np.pi, 3)
        self.slope = rng.normal(0, 0.01, 2)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (
            45.0
            + self.a[0] * np.sin(self.k[0] * x + self.phase[0])
            + self.a[1] * np.cos(self.k[1] * y + self.phase[1])
            + self.a[2] * np.sin(self.k[2] * (x + y) + self.phase[2])
            + self.slope[0] * x
            + self.slope[1] * y
        )


def _uniform(rng, n, x0, x1, y0, y1):
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def _count(rng, area: float, density: float) -> int:
    return int(rng.poisson(max(area, 0.0) * density))


def _intensity(rng, n, mean, sd):
    return rng.normal(mean, sd, n)


def _place_buildings(rng, size, roads):
    buildings = []
    for _ in range(400):
        if len(buildings) >= int(round(7 * (size / 80.0) ** 2)):
            break
        w, d = rng.uniform(8, 18), rng.uniform(7, 13)
        cx, cy = rng.uniform(w / 2 + 2, size - w / 2 - 2), rng.uniform(w / 2 + 2, size - w / 2 - 2)
        radius = math.hypot(w, d) / 2
        if any(abs(c - r) < radius + 5 for axis, r in roads for c in [(cx, cy)[axis]]):
            continue
        if any(math.hypot(cx - b["cx"], cy - b["cy"]) < radius + b["r"] + 3 for b in buildings):
            continue
        buildings.append(
            {
                "cx": cx,
                "cy": cy,
                "w": w,
                "d": d,
                "r": radius,
                "angle": rng.uniform(0, np.pi),
                "h": rng.uniform(5, 14),
                "ridge": rng.uniform(2, 4) if rng.random() < 0.5 else 0.0,
            }
        )
    return buildings


def _local(b, x, y):
    c, s = math.cos(b["angle"]), math.sin(b["angle"])
    dx, dy = x - b["cx"], y - b["cy"]
    return c * dx + s * dy, -s * dx + c * dy


def _world(b, u, v):
    c, s = math.cos(b["angle"]), math.sin(b["angle"])
    return b["cx"] + c * u - s * v, b["cy"] + s * u + c * v


def _inside_any(buildings, x, y, margin=0.0):
    inside = np.zeros(len(x), dtype=bool)
    for b in buildings:
        u, v = _local(b, x, y)
        inside |= (np.abs(u) <= b["w"] / 2 + margin) & (np.abs(v) <= b["d"] / 2 + margin)
    return inside


def _add_building(parts, rng, b, terrain, density):
    base = float(terrain(np.array([b["cx"]]), np.array([b["cy"]]))[0]) - 0.3
    n = _count(rng, b["w"] * b["d"], density)
    u, v = rng.uniform(-b["w"] / 2, b["w"] / 2, n), rng.uniform(-b["d"] / 2, b["d"] / 2, n)
    z = base + b["h"] + b["ridge"] * (1 - 2 * np.abs(v) / b["d"]) + rng.normal(0, 0.03, n)
    x, y = _world(b, u, v)
    parts.add(x, y, z, CLASS_CODES["building"], _intensity(rng, n, 1250, 220))
    perimeter = 2 * (b["w"] + b["d"])
    m = _count(rng, perimeter * b["h"], density * 0.12)
    t = rng.uniform(0, perimeter, m)
    side = np.where(t < b["w"], 0, np.where(t < b["w"] + b["d"], 1, np.where(t < 2 * b["w"] + b["d"], 2, 3)))
    hw, hd = b["w"] / 2, b["d"] / 2
    u = np.select([side == 0, side == 1, side == 2], [t - hw, np.full(m, hw), t - b["w"] - b["d"] - hw], -hw)
    v = np.select(
        [side == 0, side == 1, side == 2],
        [np.full(m, -hd), t - b["w"] - hd, np.full(m, hd)],
        t - 2 * b["w"] - b["d"] - hd,
    )
    x, y = _world(b, u, v)
    z = terrain(x, y) + rng.uniform(0.2, 1.0, m) * b["h"]
    parts.add(x, y, z, CLASS_CODES["building"], _intensity(rng, m, 550, 150))


def _add_tree(parts, rng, cx, cy, terrain, density):
    ground = float(terrain(np.array([cx]), np.array([cy]))[0])
    radius, depth = rng.uniform(1.8, 4.0), rng.uniform(2.5, 5.0)
    base = rng.uniform(2.0, 4.0)
    n = _count(rng, np.pi * radius**2, density * 1.1)
    r = radius * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    x, y = cx + r * np.cos(phi), cy + r * np.sin(phi)
    top = base + depth * (0.5 + 0.5 * np.sqrt(np.clip(1 - (r / radius) ** 2, 0, 1)))
    returns = rng.choice([1, 2, 3, 4], size=n, p=[0.25, 0.35, 0.25, 0.15])
    for k in range(1, 4):
        hit = returns >= k
        frac = rng.uniform(0.0, 0.25, n) if k == 1 else rng.uniform(0.2, 0.9, n)
        z = ground + top - frac * (top - base)
        total = np.minimum(returns + (rng.random(n) < 0.5), 4)
        parts.add(
            x[hit],
            y[hit],
            z[hit],
            CLASS_CODES["high_vegetation"],
            _intensity(rng, int(hit.sum()), 650, 180) * (1.0 if k == 1 else 0.55),
            k,
            total[hit],
        )
    m = int(rng.integers(6, 16))
    height = rng.uniform(0.3, base, m)
    phi = rng.uniform(0, 2 * np.pi, m)
    tr = rng.uniform(0.12, 0.25)
    parts.add(
        cx + tr * np.cos(phi),
        cy + tr * np.sin(phi),
        ground + height,
        CLASS_CODES["high_vegetation"],
        _intensity(rng, m, 450, 120),
        2,
        3,
    )
    return radius


def _add_bushes_and_grass(parts, rng, cx, cy, terrain, density):
    radius, height = rng.uniform(0.6, 1.6), rng.uniform(0.6, 1.5)
    n = _count(rng, np.pi * radius**2, density * 1.2)
    r = radius * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    x, y = cx + r * np.cos(phi), cy + r * np.sin(phi)
    hag = height * np.sqrt(np.clip(1 - (r / radius) ** 2, 0, 1)) * rng.uniform(0.6, 1.0, n)
    code = np.where(hag < 0.5, CLASS_CODES["low_vegetation"], CLASS_CODES["medium_vegetation"])
    parts.add(x, y, terrain(x, y) + hag, code, _intensity(rng, n, 620, 140), 1, rng.integers(1, 3, n))


def _add_car(parts, rng, cx, cy, along_x, terrain, density):
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    n = _count(rng, length * width, density * 1.3)
    u, v = rng.uniform(-length / 2, length / 2, n), rng.uniform(-width / 2, width / 2, n)
    cabin = np.abs(u) < length * 0.28
    hag = np.where(cabin, rng.uniform(1.35, 1.55), rng.uniform(0.8, 1.0)) - 0.15 * (2 * np.abs(v) / width) ** 2
    m = _count(rng, 2 * (length + width) * 1.0, density * 0.5)
    t = rng.uniform(-1, 1, m)
    su = np.where(rng.random(m) < 0.7, t * length / 2, np.sign(t) * length / 2)
    sv = np.where(np.abs(su) < length / 2, np.sign(rng.uniform(-1, 1, m)) * width / 2, t * width / 2)
    u, v = np.concatenate([u, su]), np.concatenate([v, sv])
    hag = np.concatenate([hag, rng.uniform(0.3, 0.9, m)])
    x, y = (cx + u, cy + v) if along_x else (cx + v, cy + u)
    parts.add(x, y, terrain(x, y) + hag, CLASS_CODES["vehicle"], _intensity(rng, len(x), 1650, 380))


def _add_pole(parts, rng, cx, cy, terrain):
    ground = float(terrain(np.array([cx]), np.array([cy]))[0])
    height = rng.uniform(6.0, 9.0)
    n = int(rng.integers(40, 70))
    phi = rng.uniform(0, 2 * np.pi, n)
    z = ground + rng.uniform(0.2, height, n)
    x, y = cx + 0.12 * np.cos(phi), cy + 0.12 * np.sin(phi)
    arm = int(rng.integers(10, 20))
    direction = rng.uniform(0, 2 * np.pi)
    reach = rng.uniform(0.0, 1.5, arm)
    x = np.concatenate([x, cx + reach * np.cos(direction)])
    y = np.concatenate([y, cy + reach * np.sin(direction)])
    z = np.concatenate([z, ground + height + rng.normal(0, 0.05, arm)])
    parts.add(x, y, z, CLASS_CODES["pole"], _intensity(rng, len(x), 1100, 220))


def generate_urban_scene(
    *, seed: int = 0, size_m: float = DEFAULT_SIZE_M, density: float = DEFAULT_DENSITY
) -> laspy.LasData:
    """Generate the labelled synthetic urban tile (see the module docstring).

    Args:
        seed: Random seed; the same seed gives the same points.
        size_m: Side of the square tile in metres.
        density: Ground-level pulse density in points per square metre.

    Returns:
        A LAS 1.4, point format 6 ``laspy.LasData`` with a Lambert-93 WKT CRS.

    Example:
        >>> las = generate_urban_scene(seed=1, size_m=40.0)
        >>> int(las.header.point_format.id)
        6
    """
    rng = np.random.default_rng(seed)
    size = float(size_m)
    terrain = _Terrain(rng, size)
    roads = [(1, size * rng.uniform(0.25, 0.4)), (0, size * rng.uniform(0.55, 0.75))]
    buildings = _place_buildings(rng, size, roads)
    parts = _Parts()
    on_road = lambda x, y: np.logical_or(*[np.abs((x, y)[a] - r) < 4.0 for a, r in roads])  # noqa: E731

    trees = []
    for _ in range(int(40 * (size / 80.0) ** 2)):
        cx, cy = rng.uniform(0, size, 2)
        if on_road(np.array([cx]), np.array([cy]))[0] or _inside_any(buildings, np.array([cx]), np.array([cy]), 3.5)[0]:
            continue
        trees.append((cx, cy, _add_tree(parts, rng, cx, cy, terrain, density)))
    n = _count(rng, size * size, density)
    x, y = _uniform(rng, n, 0, size, 0, size)
    keep = ~_inside_any(buildings, x, y)
    x, y = x[keep], y[keep]
    under = np.zeros(len(x), dtype=bool)
    for cx, cy, radius in trees:
        under |= np.hypot(x - cx, y - cy) < radius
    keep = ~under | (rng.random(len(x)) < 0.45)
    x, y, under = x[keep], y[keep], under[keep]
    road = on_road(x, y)
    nr = np.where(under, rng.integers(2, 5, len(x)), 1)
    intensity = np.where(road, _intensity(rng, len(x), 340, 60), _intensity(rng, len(x), 900, 150))
    parts.add(
        x,
        y,
        terrain(x, y) + rng.normal(0, 0.03, len(x)),
        CLASS_CODES["ground"],
        intensity * np.where(under, 0.5, 1.0),
        nr,
        nr,
    )
    for b in buildings:
        _add_building(parts, rng, b, terrain, density)
    for _ in range(int(30 * (size / 80.0) ** 2)):
        cx, cy = rng.uniform(0, size, 2)
        if not (
            on_road(np.array([cx]), np.array([cy]))[0] or _inside_any(buildings, np.array([cx]), np.array([cy]), 1.5)[0]
        ):
            _add_bushes_and_grass(parts, rng, cx, cy, terrain, density)
    for axis, r in roads:
        along = rng.uniform(3, size - 3, int(rng.integers(4, 6) * size / 80.0))
        for pos, side in zip(along, rng.choice([-2.6, 2.6], len(along))):
            cx, cy = (pos, r + side) if axis == 1 else (r + side, pos)
            _add_car(parts, rng, cx, cy, axis == 1, terrain, density)
        for pos in np.arange(rng.uniform(4, 12), size, rng.uniform(14, 20)):
            cx, cy = (pos, r + 4.6) if axis == 1 else (r + 4.6, pos)
            _add_pole(parts, rng, cx, cy, terrain)
    xs, ys, zs, codes, intensity, rn, nr = parts.stack()
    k = max(1, int(len(xs) * 0.001))
    nx, ny = _uniform(rng, k, 0, size, 0, size)
    nz = terrain(nx, ny) + np.where(rng.random(k) < 0.6, rng.uniform(25, 60, k), -rng.uniform(2, 6, k))
    xs, ys, zs = np.concatenate([xs, nx]), np.concatenate([ys, ny]), np.concatenate([zs, nz])
    codes = np.concatenate([codes, np.full(k, CLASS_CODES["noise"], np.uint8)])
    intensity = np.concatenate([intensity, rng.uniform(0, 300, k)])
    rn, nr = np.concatenate([rn, np.ones(k, np.uint8)]), np.concatenate([nr, np.ones(k, np.uint8)])
    return scene_las(rng, xs, ys, zs, codes, intensity, rn, nr, size)


def write_demo_scene(
    path: str | Path, *, seed: int = 0, size_m: float = DEFAULT_SIZE_M, density: float = DEFAULT_DENSITY
) -> Path:
    """Generate the scene and write it as LAS or LAZ (by suffix), creating folders.

    Example:
        >>> write_demo_scene(out / "demo" / "demo_scene.las", seed=0, size_m=24.0, density=2.0).name
        'demo_scene.las'
    """
    from vl3d_focal.io.las import write_cloud

    las = generate_urban_scene(seed=seed, size_m=size_m, density=density)
    logger.info("synthetic scene: %d points, seed %d", len(las.points), seed)
    return write_cloud(las, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write synthetic scenes (seeds ``seed``, ``seed + 1``, ...) and print their class histograms."""
    parser = argparse.ArgumentParser(prog="python -m vl3d_focal.data.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="+", help="output .las or .laz files, one scene each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first scene; the next ones count up")
    parser.add_argument("--size", type=float, default=DEFAULT_SIZE_M, help="tile side in metres")
    parser.add_argument("--density", type=float, default=DEFAULT_DENSITY, help="points per m^2")
    args = parser.parse_args(argv)
    names = {code: name for name, code in CLASS_CODES.items()}
    for offset, out in enumerate(args.out):
        path = write_demo_scene(out, seed=args.seed + offset, size_m=args.size, density=args.density)
        las = laspy.read(path)
        values, counts = np.unique(np.asarray(las.classification), return_counts=True)
        print(f"wrote {path}: {len(las.points)} points (seed {args.seed + offset})")
        for value, count in zip(values.tolist(), counts.tolist()):
            print(f"  {value:3d} {names.get(value, '?'):18s} {count:7d} ({100 * count / len(las.points):.2f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
