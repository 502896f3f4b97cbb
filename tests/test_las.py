"""LAS/LAZ reading and writing: every dimension, extra bytes and the CRS survive a round trip."""

import laspy
import numpy as np
import pytest

from vl3d_focal.data.features import available_features
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, read_cloud, write_cloud


@pytest.fixture(scope="module")
def small_las():
    las = generate_urban_scene(seed=3, size_m=30.0)
    las.add_extra_dims([laspy.ExtraBytesParams(name="reflectance", type=np.float32)])
    las.reflectance = np.linspace(-1, 1, len(las.points)).astype(np.float32)
    return las


def _assert_same_points(a: laspy.LasData, b: laspy.LasData, *, skip=()):
    assert set(b.point_format.dimension_names) <= set(a.point_format.dimension_names)
    for name in b.point_format.dimension_names:
        if name not in skip:
            np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_round_trip_keeps_dimensions_extra_bytes_and_crs(tmp_path, small_las, suffix):
    src = write_cloud(small_las, tmp_path / f"src{suffix}")
    cloud = read_cloud(src)
    assert cloud.xyz.shape == (len(small_las.points), 3)
    np.testing.assert_allclose(cloud.xyz[:, 0], small_las.x, atol=1e-9)
    codes = np.full(cloud.num_points, 9, dtype=np.uint8)
    prob = np.random.default_rng(0).random(cloud.num_points).astype(np.float32)
    out = write_cloud(
        cloud,
        tmp_path / "deep" / "folder" / f"out{suffix}",
        classification=codes,
        extra_dims={"prob_ground": prob, "pred": codes},
    )
    back = laspy.read(out)
    assert back.header.point_format.id == small_las.header.point_format.id
    assert str(back.header.version) == "1.4"
    _assert_same_points(back, small_las, skip=("classification",))
    assert np.asarray(back.classification).tolist() == codes.tolist()
    np.testing.assert_array_equal(back.prob_ground, prob)
    assert back.point_format.dimension_by_name("prob_ground").dtype == np.float32
    assert np.asarray(back.pred).tolist() == codes.tolist()
    wkt = [v for v in back.header.vlrs if isinstance(v, laspy.vlrs.known.WktCoordinateSystemVlr)]
    assert wkt and 'AUTHORITY["EPSG","2154"]' in wkt[0].string
    assert list(tmp_path.glob("deep/folder/.*")) == []  # no temporary file left
    # the source cloud in memory is not modified
    assert "prob_ground" not in cloud.las.point_format.dimension_names


def test_refuses_to_overwrite_its_input(tmp_path, small_las):
    cloud = read_cloud(write_cloud(small_las, tmp_path / "a.las"))
    with pytest.raises(DataError, match="refusing to overwrite"):
        write_cloud(cloud, tmp_path / "a.las")


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_cloud(tmp_path / "missing.laz")
    bad = tmp_path / "bad.las"
    bad.write_bytes(b"this is not a LAS file at all" * 10)
    with pytest.raises(DataError, match="bad.las"):
        read_cloud(bad)
    txt = tmp_path / "cloud.txt"
    txt.write_text("1 2 3")
    with pytest.raises(DataError, match="expected a .las or .laz"):
        read_cloud(txt)


def test_write_validates_arrays(tmp_path, small_las):
    n = len(small_las.points)
    with pytest.raises(DataError, match="shape"):
        write_cloud(small_las, tmp_path / "x.las", classification=np.zeros(n - 1, dtype=np.uint8))
    with pytest.raises(DataError, match="0..255"):
        write_cloud(small_las, tmp_path / "x.las", classification=np.full(n, 300))
    assert not (tmp_path / "x.las").exists()


def test_available_features_lists_dimensions_and_derived(small_las):
    names = available_features(PointCloud.from_las(small_las))
    for expected in (
        "x",
        "z",
        "intensity",
        "return_number",
        "number_of_returns",
        "scan_angle",
        "reflectance",
        "height_above_ground",
    ):
        assert expected in names
    assert "X" not in names


def test_real_ign_tile_round_trip(tmp_path, ign_dir):
    source = ign_dir / "test_data_77050_627760_LA93_IGN69.laz"
    cloud = read_cloud(source)
    assert cloud.num_points == 56035
    values, counts = np.unique(np.asarray(cloud.las.classification), return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {1: 4783, 2: 33568, 3: 379, 4: 933, 5: 12154, 6: 4148, 64: 70}
    out = write_cloud(cloud, tmp_path / "ign.laz", extra_dims={"p": np.ones(cloud.num_points, np.float32)})
    back = laspy.read(out)
    _assert_same_points(back, cloud.las)
    kept = [v for v in back.header.vlrs if not isinstance(v, laspy.vlrs.known.ExtraBytesVlr)]
    assert [(v.user_id, v.record_id) for v in kept] == [(v.user_id, v.record_id) for v in cloud.las.header.vlrs]
    assert kept[0].string == cloud.las.header.vlrs[0].string
    np.testing.assert_array_equal(back.header.scales, cloud.las.header.scales)
    np.testing.assert_array_equal(back.header.offsets, cloud.las.header.offsets)


def test_every_written_cloud_names_this_package_and_today_keeping_the_rest_of_the_header(tmp_path, small_las):
    import datetime

    from vl3d_focal import __version__
    from vl3d_focal.io.chunks import ChunkedCloudWriter
    from vl3d_focal.io.las import write_points

    source = laspy.LasData(header=small_las.header, points=small_las.points.copy())
    source.header.generating_software = "PDAL 2.5.2"
    source.header.system_identifier = "survey 42"
    source.header.creation_date = datetime.date(2019, 3, 4)
    src = tmp_path / "src.laz"
    source.write(str(src))
    cloud = read_cloud(src)
    written = [
        write_cloud(cloud, tmp_path / "whole.laz"),
        write_points(tmp_path / "centres.las", cloud.xyz[:3], template=cloud),
    ]
    with ChunkedCloudWriter(tmp_path / "chunked.las", header=cloud.las.header, source_path=src) as writer:
        writer.write(cloud.las.points[:10])
    written.append(tmp_path / "chunked.las")
    for path in written:
        header = laspy.read(path).header
        assert header.generating_software == f"vl3d-focal {__version__}", path
        assert header.creation_date == datetime.date.today(), path
        assert header.system_identifier == "survey 42", path
        np.testing.assert_array_equal(header.scales, source.header.scales)
        np.testing.assert_array_equal(header.offsets, source.header.offsets)
        wkt = [v.string for v in header.vlrs if isinstance(v, laspy.vlrs.known.WktCoordinateSystemVlr)]
        assert wkt == [v.string for v in source.header.vlrs if isinstance(v, laspy.vlrs.known.WktCoordinateSystemVlr)]
    assert laspy.read(src).header.generating_software == "PDAL 2.5.2"  # the input is untouched
