"""Two survey maps inlined in one page keep their failed tiles' hatching apart: each map defines
its hatching pattern under an id of its own, and its failed tiles and legend point to it."""

from __future__ import annotations

import re

from vl3d_focal.reports.svg_tile_map import FAILED_FILL, tile_map


def _map(name: str) -> str:
    tiles: list[dict[str, object]] = [
        {"bounds": [0, 0, 10, 10], "label": f"{name}_ok", "color": "#2ca02c"},
        {"bounds": [10, 0, 20, 10], "label": f"{name}_failed", "failed": True},
    ]
    return tile_map(tiles=tiles, title=f"survey {name}", legend=[("failed", FAILED_FILL)])


def test_two_maps_have_their_own_hatching_pattern():
    maps = [_map("north"), _map("south")]
    ids = [re.findall(r'<pattern id="([^"]+)"', svg) for svg in maps]
    assert [len(found) for found in ids] == [1, 1]
    assert ids[0][0] != ids[1][0]
    for svg, (own,) in zip(maps, ids):
        assert set(re.findall(r'fill="url\(#([^)]+)\)"', svg)) == {own}
        assert len(re.findall(rf'fill="url\(#{own}\)"', svg)) == 2  # the failed tile and the legend's entry


def test_the_same_map_drawn_twice_gets_the_same_id():
    assert _map("north") == _map("north")  # deterministic: a hash of the map, not a random id
