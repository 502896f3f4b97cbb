"""Faults: unwritable outputs and full disks reported before any step, atomic writes, NaN loss."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_resume import small_spec

from vl3d_focal.cli import main
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.runner import preflight
from vl3d_focal.training.checkpoints import read_checkpoint_state


def _spec(tmp_path: Path, *, out: str, epochs: int = 2, **handling) -> dict:
    spec = small_spec(epochs=epochs)
    spec["in_pcloud"] = [str(tmp_path / "data" / "scene.las")]
    spec["out_pcloud"] = [out]
    spec["sequential_pipeline"][1]["model_args"]["model_handling"].update(handling)
    return spec


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    write_demo_scene(root / "data" / "scene.las", seed=2, size_m=20.0, density=4.0)
    return root


def test_output_under_a_regular_file_is_reported_before_any_step(scene, capsys):
    blocker = scene / "not_a_folder"
    blocker.write_text("x")
    spec_path = scene / "blocked.json"
    spec_path.write_text(json.dumps(_spec(scene, out=f"{blocker}/out/")))
    assert main(["run", str(spec_path)]) == 2
    err = capsys.readouterr().err
    assert f"{blocker}/out/predicted.laz cannot be written: {blocker} is a file, not a folder" in err  # at validation
    assert blocker.read_text() == "x"


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root ignores folder permissions (chmod cannot block writes); "
    "the regular-file test covers unwritable outputs",
)
def test_read_only_output_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DataError, match=r"expected a writable folder"):
            preflight.check_writable(folder / "out")
    finally:
        folder.chmod(0o700)


def test_too_little_free_disk_is_reported_with_the_estimate(scene, monkeypatch):
    spec = _spec(scene, out=str(scene / "out_disk") + "/")
    needed = preflight.estimate_output_bytes(spec)
    # 3 models (model, best weights, checkpoint), the report, the classified cloud
    assert needed >= 3 * preflight.MODEL_ALLOWANCE_BYTES + preflight.REPORT_ALLOWANCE_BYTES
    free = needed - 1
    monkeypatch.setattr(
        preflight.shutil, "disk_usage", lambda path: SimpleNamespace(total=10 * needed, used=0, free=free)
    )
    with pytest.raises(DataError, match=r"free disk for the outputs .*got \d+ MiB free"):
        preflight.check_outputs(spec)
    monkeypatch.setattr(
        preflight.shutil, "disk_usage", lambda path: SimpleNamespace(total=10 * needed, used=0, free=needed + 1)
    )
    preflight.check_outputs(spec)


def test_classified_cloud_estimate_uses_the_header(scene):
    import laspy

    path = scene / "data" / "scene.las"
    header = laspy.read(path).header
    expected = header.offset_to_point_data + header.point_count * (header.point_format.size + 5)
    assert preflight.cloud_output_bytes(path, extra_bytes_per_point=5) == expected


def test_atomic_output_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(scene, capsys):
    """One batch per epoch; the learning rate jumps from 1e-3 to 1e27 after the first step."""
    spec = _spec(scene, out=str(scene / "out_nan") + "/", epochs=8, batch_size=100000, validation_split=0.0)
    spec["sequential_pipeline"][1]["model_args"]["compilation_args"]["optimizer"] = {
        "algorithm": "SGD",
        "learning_rate": {
            "schedule": "exponential_decay",
            "schedule_args": {"initial_learning_rate": 1e-3, "decay_steps": 1, "decay_rate": 1e30, "staircase": True},
        },
    }
    spec_path = scene / "nan.json"
    spec_path.write_text(json.dumps(spec))
    assert main(["run", str(spec_path)]) == 2
    err = capsys.readouterr().err
    assert "training stopped: the loss became" in err and "expected a finite loss" in err
    checkpoint = scene / "out_nan" / "training" / "resume" / "checkpoint.npz"
    assert "the last good checkpoint (epoch" in err and str(checkpoint) in err
    state = read_checkpoint_state(checkpoint)
    with np.load(checkpoint) as archive:
        assert all(np.all(np.isfinite(archive[k])) for k in archive.files if k.startswith("w"))
    assert not state["finished"]
    assert not (scene / "out_nan" / "model" / "model.keras").exists()
