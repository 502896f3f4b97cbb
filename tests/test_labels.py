"""Class mapping: gapped LAS codes, ignored codes, unmapped codes, LAS codes back, config."""

import numpy as np
import pytest

from vl3d_focal.data.labels import IGNORE_LABEL, ClassMapping
from vl3d_focal.errors import DataError, SpecError

IGN_5CLASS = {
    "class_mapping": "LASClassMapping",
    "classes": [
        {"name": "ground", "codes": [2]},
        {"name": "low_vegetation", "codes": [3, 4]},
        {"name": "high_vegetation", "codes": [5]},
        {"name": "building", "codes": [6], "color": "#FF0000"},
        {"name": "other", "codes": [1, 17, 64, 67]},
    ],
    "ignore_codes": [0, 7, 65, 66],
}


def test_gapped_codes_map_to_dense_labels_and_ignores():
    mapping = ClassMapping.from_spec(IGN_5CLASS)
    codes = np.array([2, 6, 65, 64, 3, 4, 5, 1, 66, 0, 17, 67, 7])
    assert mapping.map(codes).tolist() == [0, 3, -1, 4, 1, 1, 2, 4, -1, -1, 4, 4, -1]
    assert IGNORE_LABEL == -1
    assert mapping.num_classes == 5
    assert mapping.las_codes == [2, 3, 5, 6, 1]
    assert mapping.colors[3] == "#ff0000"
    assert all(c.startswith("#") and len(c) == 7 for c in mapping.colors)


def test_unmapped_codes_error_lists_codes_and_counts():
    mapping = ClassMapping(names=["ground", "building"], codes=[[2], [6]], ignore_codes=[65])
    with pytest.raises(DataError) as info:
        mapping.map(np.array([2, 9, 9, 9, 12, 6, 65]), source="tile.laz")
    message = str(info.value)
    assert "tile.laz" in message and "9: 3 points" in message and "12: 1 points" in message


def test_unmapped_ignore_policy():
    mapping = ClassMapping(names=["ground"], codes=[[2]], unmapped="ignore")
    assert mapping.map(np.array([2, 9, 200])).tolist() == [0, -1, -1]


def test_to_las_codes_uses_first_code_or_explicit():
    mapping = ClassMapping(names=["veg", "building"], codes=[[5, 3, 4], [6]], las_codes=[4, 6])
    assert mapping.to_las_codes(np.array([0, 1, -1, 0])).tolist() == [4, 6, 1, 4]
    assert ClassMapping(names=["veg"], codes=[[5, 3]]).las_codes == [5]
    with pytest.raises(DataError):
        mapping.to_las_codes(np.array([2]))


def test_invalid_mappings_raise_spec_error_with_paths():
    with pytest.raises(SpecError) as info:
        ClassMapping(names=["a", "b"], codes=[[2, 6], [6]], ignore_codes=[2], colors=["red", "#000000"])
    paths = {issue.path for issue in info.value.issues}
    assert {"$.classes[0].codes", "$.classes[1].codes", "$.classes[0].color"} <= paths
    with pytest.raises(SpecError):
        ClassMapping(names=["a"], codes=[[2]], unmapped="drop")


def test_config_round_trip_and_from_codes():
    mapping = ClassMapping.from_spec(IGN_5CLASS)
    again = ClassMapping.from_config(mapping.to_config())
    assert again == mapping
    auto = ClassMapping.from_codes(np.array([6, 2, 2, 65]), ignore_codes=[65])
    assert auto.names == ["class_2", "class_6"]
    assert auto.map(np.array([65, 6, 2])).tolist() == [-1, 1, 0]
