"""Chunked LAS/LAZ reading and writing: same points as whole-file I/O, atomic, safe."""

from __future__ import annotations

import laspy
import numpy as np
import pytest

from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.chunks import ChunkedCloudWriter, iter_chunks, read_header
from vl3d_focal.io.las import PointCloud, write_cloud


@pytest.fixture(scope="module")
def las():
    return generate_urban_scene(seed=2, size_m=30.0)


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_iter_chunks_reads_every_point_in_order(las, tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    las.write(path)
    chunks = list(iter_chunks(path, chunk_points=3000))
    n = len(las.points)
    assert [start for start, _ in chunks] == list(range(0, n, 3000))
    assert [len(points) for _, points in chunks] == [min(3000, n - s) for s in range(0, n, 3000)]
    x = np.concatenate([np.asarray(points.x) for _, points in chunks])
    np.testing.assert_array_equal(x, np.asarray(las.x))
    assert read_header(path).point_count == n


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_chunked_writer_equals_write_cloud(las, tmp_path, suffix):
    n = len(las.points)
    codes = (np.arange(n) % 5 + 2).astype(np.uint8)
    prob = np.random.default_rng(0).random(n).astype(np.float32)
    write_cloud(
        PointCloud.from_las(las), tmp_path / f"whole{suffix}", classification=codes, extra_dims={"prob_a": prob}
    )
    with ChunkedCloudWriter(
        tmp_path / f"chunked{suffix}", header=las.header, extra_dims={"prob_a": "float32"}
    ) as writer:
        for start in range(0, n, 2500):
            writer.write(
                las.points[start : start + 2500],
                classification=codes[start : start + 2500],
                extra={"prob_a": prob[start : start + 2500]},
            )
    assert writer.points_written == n
    whole, chunked = laspy.read(tmp_path / f"whole{suffix}"), laspy.read(tmp_path / f"chunked{suffix}")
    assert chunked.points.array.tobytes() == whole.points.array.tobytes()
    assert chunked.header.point_count == n
    np.testing.assert_allclose(chunked.header.mins, whole.header.mins)
    np.testing.assert_allclose(chunked.header.maxs, whole.header.maxs)
    np.testing.assert_array_equal(chunked.prob_a, prob)
    assert [type(v).__name__ for v in chunked.header.vlrs] == [type(v).__name__ for v in whole.header.vlrs]
    assert "prob_a" not in las.point_format.dimension_names  # the source header is not modified


def test_writer_failure_leaves_no_file_and_source_is_never_overwritten(las, tmp_path):
    path = tmp_path / "out.laz"
    with pytest.raises(DataError, match="classification"):
        with ChunkedCloudWriter(path, header=las.header) as writer:
            writer.write(las.points[:10], classification=np.full(10, 300))
    assert list(tmp_path.iterdir()) == []  # neither the final file nor the temporary one
    with pytest.raises(DataError, match="shape"):
        with ChunkedCloudWriter(path, header=las.header, extra_dims={"p": "float32"}) as writer:
            writer.write(las.points[:10], extra={"p": np.zeros(9, np.float32)})
    assert list(tmp_path.iterdir()) == []
    source = tmp_path / "in.las"
    las.write(source)
    with pytest.raises(DataError, match="refusing to overwrite"):
        ChunkedCloudWriter(source, header=las.header, source_path=source)
    with pytest.raises(DataError, match="suffix"):
        ChunkedCloudWriter(tmp_path / "out.txt", header=las.header)
    with pytest.raises(DataError, match="outside"):
        ChunkedCloudWriter(path, header=las.header).write(las.points[:1])


def test_bad_chunk_size_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="chunk_points"):
        next(iter_chunks(tmp_path / "a.las", chunk_points=0))
    with pytest.raises(DataError, match="no such file"):
        next(iter_chunks(tmp_path / "a.las", chunk_points=10))
    (tmp_path / "b.las").write_bytes(b"not a las file at all")
    with pytest.raises(DataError, match="b.las: not a LAS/LAZ file"):
        next(iter_chunks(tmp_path / "b.las", chunk_points=10))


@pytest.mark.parametrize("name", ["X", "intensity", "Return_Number", "classification"])
def test_an_extra_dimension_named_like_a_standard_one_is_refused(las, tmp_path, name):
    """It replaced that dimension (the coordinates, the intensity) or failed with an OverflowError."""
    with pytest.raises(DataError, match=f"writing .*out.laz: '{name}' is a standard LAS dimension"):
        ChunkedCloudWriter(tmp_path / "out.laz", header=las.header, extra_dims={name: "uint8"})
    cloud = PointCloud.from_las(las)
    with pytest.raises(DataError, match=f"'{name}' is a standard LAS dimension"):
        write_cloud(cloud, tmp_path / "out.las", extra_dims={name: np.zeros(len(las.points), dtype=np.uint8)})
    assert not list(tmp_path.iterdir())


def test_a_prediction_dimension_named_like_a_probability_dimension_is_refused(las, tmp_path):
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.inference.classified_output import source_chunks, write_classified_cloud

    las.write(tmp_path / "in.las")
    with pytest.raises(DataError, match="'prob_b' is also the name of a class's probability dimension"):
        write_classified_cloud(
            tmp_path / "out.las",
            source=tmp_path / "in.las",
            header=None,
            chunks=source_chunks(CloudRecord(path=tmp_path / "in.las")),
            mapping=ClassMapping.from_values(["a", "b"]),
            class_names=["a", "b"],
            prediction_dimension="prob_b",
            probabilities=True,
        )
    assert not (tmp_path / "out.las").exists()


def test_a_prediction_dimension_that_the_input_has_is_refused_at_validation_and_at_writing(las, tmp_path):
    from vl3d_focal.config import validate_spec
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.inference.classified_output import source_chunks, write_classified_cloud

    for name in ("reflectance", "planarity"):  # planarity: a name this project can also compute
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
        las[name] = np.linspace(-10, 0, len(las.points), dtype=np.float32)
    las.write(tmp_path / "in.las")
    for name, taken in (("reflectance", True), ("planarity", True), ("linearity", False), ("p" * 33, False)):
        writer = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*out.las", "prediction_dimension": name}
        spec = {
            "in_pcloud": ["in.las"],
            "out_pcloud": ["o/*"],
            "sequential_pipeline": [{"predict": "ModelLoader", "model_path": "in.las"}, writer],
        }
        found = [str(i) for i in validate_spec(spec, base_dir=tmp_path) if "prediction_dimension" in str(i)]
        assert any(f"already has a dimension {name!r}, whose values would be replaced" in i for i in found) == taken
        assert any("is 33 bytes long; a LAS extra dimension's name holds at most 32" in i for i in found) == (
            len(name) == 33
        ), found
    chunks = [
        (start, points, np.zeros(len(points), int), None)
        for start, points, _, _ in source_chunks(CloudRecord(path=tmp_path / "in.las"))
    ]
    with pytest.raises(DataError, match="already has a dimension 'reflectance'"):
        write_classified_cloud(
            tmp_path / "out.las",
            source=tmp_path / "in.las",
            header=None,
            chunks=chunks,
            mapping=ClassMapping.from_values(["a", "b"]),
            class_names=["a", "b"],
            prediction_dimension="reflectance",
            probabilities=False,
        )
    assert not (tmp_path / "out.las").exists()
