"""The free-disk estimate of a run's clouds: probabilities for the spec's own class count, a LAZ
output compressed like its input (:func:`vl3d_focal.runner.preflight.cloud_output_bytes`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import SimpleNamespace

import laspy
import numpy as np
import pytest
from helpers import write_model_metadata

from vl3d_focal.errors import DataError
from vl3d_focal.runner import preflight

POINTS = 1000


def _cloud(path: Path, *, constant: bool = False) -> Path:
    """``POINTS`` points of format 6 (30-byte records): random ones, or all at the origin."""
    rng = np.random.default_rng(3)
    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.x, las.y, las.z = (np.zeros(POINTS) if constant else rng.uniform(0, 10, POINTS) for _ in range(3))
    las.intensity = np.zeros(POINTS, dtype=np.uint16) if constant else rng.integers(0, 60000, POINTS)
    las.classification = np.full(POINTS, 2, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    las.write(path)
    return path


def _spec(cloud: Path, *, out: str = "*predicted.las", num_classes: int | None = 2, probabilities: bool = True):
    train = {"train": "PointNetPwiseClassifier", "model_args": {"num_classes": num_classes}}
    return {
        "in_pcloud": [str(cloud)],
        "out_pcloud": [f"{cloud.parent}/out/"],
        "sequential_pipeline": [
            train if num_classes is not None else {"class_mapping": "LASClassMapping"},
            {"predict": "PreviousModel"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": out, "probabilities": probabilities},
        ],
    }


def _point_data(path: Path) -> tuple[int, int, int]:
    """``(offset to the points, points x record length, bytes of the points on disk)``."""
    header = laspy.read(path).header
    size = header.point_count * header.point_format.size
    return header.offset_to_point_data, size, path.stat().st_size - header.offset_to_point_data


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    root = tmp_path_factory.mktemp("estimates")
    return SimpleNamespace(
        las=_cloud(root / "scene.las"), laz=_cloud(root / "scene.laz"), zeros=_cloud(root / "zeros.laz", constant=True)
    )


def test_probabilities_are_charged_for_the_spec_s_class_count(clouds):
    two = preflight.estimate_output_bytes(_spec(clouds.las, num_classes=2))
    assert preflight.estimate_output_bytes(_spec(clouds.las, num_classes=64)) - two == POINTS * 4 * 62
    # no num_classes in the spec: UNKNOWN_CLASSES (32) assumed, for the probabilities only
    unknown = preflight.estimate_output_bytes(_spec(clouds.las, num_classes=None))
    assert unknown - preflight.estimate_output_bytes(_spec(clouds.las, num_classes=None, probabilities=False)) == (
        POINTS * 4 * preflight.UNKNOWN_CLASSES
    )
    # without probabilities the class count changes nothing
    assert preflight.estimate_output_bytes(_spec(clouds.las, num_classes=2, probabilities=False)) == (
        preflight.estimate_output_bytes(_spec(clouds.las, num_classes=64, probabilities=False))
    )


def _loaded(cloud: Path, model: Path, *, probabilities: bool = True) -> dict:
    return {
        "in_pcloud": [str(cloud)],
        "out_pcloud": [f"{cloud.parent}/out/"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(model)},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.las", "probabilities": probabilities},
        ],
    }


def test_a_loaded_model_is_charged_the_classes_its_file_names(clouds, tmp_path, caplog):
    classes = [{"name": f"class_{code}", "codes": [code]} for code in range(7)]
    model = write_model_metadata(tmp_path / "model.keras", classes=classes)  # class names, no num_classes
    extra = preflight.estimate_output_bytes(_loaded(clouds.las, model))
    assert extra - preflight.estimate_output_bytes(_loaded(clouds.las, model, probabilities=False)) == POINTS * 4 * 7
    # a model file that says nothing (absent here): UNKNOWN_CLASSES, said in the debug log
    absent = tmp_path / "absent.keras"
    with caplog.at_level(logging.DEBUG, logger=preflight.__name__):
        unknown = preflight.estimate_output_bytes(_loaded(clouds.las, absent))
    assert unknown - preflight.estimate_output_bytes(_loaded(clouds.las, absent, probabilities=False)) == (
        POINTS * 4 * preflight.UNKNOWN_CLASSES
    )
    assert f"{preflight.UNKNOWN_CLASSES} classes assumed" in caplog.text


def test_a_two_class_cloud_is_its_input_plus_nine_bytes_a_point(clouds):
    offset, size, _ = _point_data(clouds.las)
    assert size == POINTS * 30
    assert preflight.cloud_output_bytes(clouds.las, extra_bytes_per_point=1 + 4 * 2) == offset + POINTS * (30 + 9)
    with_probabilities = preflight.estimate_output_bytes(_spec(clouds.las))
    assert with_probabilities - preflight.estimate_output_bytes(_spec(clouds.las, probabilities=False)) == POINTS * 8


def test_a_laz_output_is_smaller_than_its_las_estimate_by_the_input_s_ratio(clouds):
    offset, size, on_disk = _point_data(clouds.laz)
    ratio = on_disk / size
    assert preflight.LAZ_RATIO_FLOOR < ratio < 1  # random points: LAZ compresses them, above the floor
    las = preflight.estimate_output_bytes(_spec(clouds.laz, out="*predicted.las"))
    laz = preflight.estimate_output_bytes(_spec(clouds.laz, out="*predicted.laz"))
    assert las - laz == size - math.ceil(size * ratio)  # the records compressed, the 9 new bytes a point not
    assert preflight.cloud_output_bytes(clouds.laz, extra_bytes_per_point=9, compressed=True) == (
        offset + math.ceil(size * ratio) + POINTS * 9
    )


def test_a_laz_output_of_a_las_input_is_compressed_as_the_same_points_in_laz(clouds):
    las_offset, size, _ = _point_data(clouds.las)
    laz_offset, _, on_disk = _point_data(clouds.laz)  # the same points, in LAZ
    from_las = preflight.estimate_output_bytes(_spec(clouds.las, out="*predicted.laz"))
    from_laz = preflight.estimate_output_bytes(_spec(clouds.laz, out="*predicted.laz"))
    assert from_las - las_offset == from_laz - laz_offset  # the same, but for the input's header
    ratio = on_disk / size
    assert preflight.cloud_output_bytes(clouds.las, extra_bytes_per_point=9, compressed=True) == (
        las_offset + math.ceil(size * ratio) + POINTS * 9
    )
    assert from_las < preflight.estimate_output_bytes(_spec(clouds.las, out="*predicted.las"))


def test_a_las_input_without_a_laz_backend_is_sized_uncompressed(clouds, monkeypatch, caplog):
    def no_backend(*args, **kwargs):
        raise laspy.LaspyException("No LazBackend selected, cannot compress")

    monkeypatch.setattr(preflight.laspy, "LasWriter", no_backend)
    with caplog.at_level(logging.DEBUG, logger=preflight.__name__):
        as_laz = preflight.estimate_output_bytes(_spec(clouds.las, out="*predicted.laz"))
    assert as_laz == preflight.estimate_output_bytes(_spec(clouds.las, out="*predicted.las"))
    assert "ratio 1 assumed" in caplog.text and "No LazBackend" in caplog.text


def test_a_laz_ratio_below_the_floor_is_not_trusted(clouds):
    offset, size, on_disk = _point_data(clouds.zeros)
    assert on_disk / size < preflight.LAZ_RATIO_FLOOR  # identical points compress to almost nothing
    assert preflight.cloud_output_bytes(clouds.zeros, extra_bytes_per_point=1, compressed=True) == (
        offset + math.ceil(size * preflight.LAZ_RATIO_FLOOR) + POINTS
    )


def test_free_disk_for_the_compressed_estimate_is_enough(clouds, monkeypatch):
    spec = _spec(clouds.laz, out="*predicted.laz")
    needed = preflight.estimate_output_bytes(spec)
    assert needed < preflight.estimate_output_bytes(_spec(clouds.laz, out="*predicted.las"))
    for free, refused in ((needed, False), (needed - 1, True)):
        monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path, free=free: SimpleNamespace(free=free))
        if refused:
            with pytest.raises(DataError, match=r"free disk for the outputs"):
                preflight.check_outputs(spec)
        else:
            preflight.check_outputs(spec)


def test_las_inputs_of_one_point_format_are_sampled_once(tmp_path, monkeypatch):
    sampled = []
    measure, estimate_cloud = preflight.sample_laz_ratio, preflight.cloud_output_bytes
    monkeypatch.setattr(preflight, "sample_laz_ratio", lambda path: sampled.append(Path(path).name) or measure(path))
    copies = [_cloud(tmp_path / f"copy_{number}.las") for number in range(3)]  # the same points, format 6
    spec = {**_spec(copies[0], out="*predicted.laz"), "in_pcloud": [str(path) for path in copies]}
    total = preflight.estimate_output_bytes(spec)
    assert sampled == ["copy_0.las"]  # one sample for the three inputs of point format 6
    monkeypatch.setattr(
        preflight, "cloud_output_bytes", lambda path, ratios=None, **options: estimate_cloud(path, **options)
    )
    assert preflight.estimate_output_bytes(spec) == total  # each sampled on its own: the same estimate
    assert sampled == ["copy_0.las", "copy_0.las", "copy_1.las", "copy_2.las"]
