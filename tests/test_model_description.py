"""A model file describes its model without Keras: the fingerprint stored when it was saved, the
bundle's description, and the checks that keep a stored fingerprint honest (issue 14: a survey's
driver that only predicts never imports TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from bad_inputs.make_corpus import rewrite_model_metadata
from helpers import random_bundle

from vl3d_focal.errors import DataError
from vl3d_focal.models.model_file import (
    FINGERPRINT_KEY,
    bundle_fingerprint,
    load_bundle,
    save_bundle,
    stored_fingerprint,
)
from vl3d_focal.runner.cloud_phase import driver_loads_models
from vl3d_focal.runner.cloud_task import ModelCache, ModelRef
from vl3d_focal.steps.state import PipelineState


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, str]:
    """A saved model file and the fingerprint of the bundle it was saved from."""
    bundle = random_bundle(fnames=["intensity"], radius=2.0, num_points=16)
    path = save_bundle(bundle, tmp_path_factory.mktemp("model") / "model.keras")
    return path, bundle_fingerprint(bundle)


def test_the_stored_fingerprint_is_the_saved_and_the_loaded_models(saved):
    path, fingerprint = saved
    assert stored_fingerprint(path) == fingerprint == bundle_fingerprint(load_bundle(path))


def test_a_description_and_the_stored_fingerprint_are_read_without_tensorflow(saved):
    path, fingerprint = saved
    code = (
        "import sys; from vl3d_focal.models.model_file import load_bundle, stored_fingerprint; "
        f"b = load_bundle({str(path)!r}, with_model=False); "
        f"print(b.model, b.feature_names, b.field_spec.radius, stored_fingerprint({str(path)!r}), "
        "[m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.split() == ["None", "['intensity']", "2.0", fingerprint, "[]"]


def test_a_described_model_is_loaded_when_a_step_needs_it(saved):
    path, fingerprint = saved
    state = PipelineState(
        clouds=[], model_prefix="out/", bundle=load_bundle(path, with_model=False), model_file=str(path)
    )
    assert state.bundle.model is None
    bundle = state.require_bundle(step="predict")
    assert bundle.model is not None and state.bundle is bundle and bundle_fingerprint(bundle) == fingerprint


def test_a_file_saved_before_fingerprints_were_stored_has_none(saved, tmp_path):
    path, _ = saved
    old = rewrite_model_metadata(
        path, tmp_path / "old.keras", lambda meta: {k: v for k, v in meta.items() if k != FINGERPRINT_KEY}
    )
    assert stored_fingerprint(old) is None
    assert load_bundle(old).feature_names == ["intensity"]


def test_a_worker_refuses_weights_that_are_not_the_stored_fingerprints(saved, tmp_path):
    path, _ = saved
    forged = rewrite_model_metadata(path, tmp_path / "forged.keras", lambda meta: {**meta, FINGERPRINT_KEY: "0" * 64})
    with pytest.raises(DataError, match="its weights are not the ones it was saved with"):
        ModelCache().get(ModelRef(path=str(forged), fingerprint=stored_fingerprint(forged)))
    cache = ModelCache()
    assert cache.get(ModelRef(path=str(path), fingerprint=stored_fingerprint(path))).model is not None
    assert cache.loads == 1


def test_the_command_line_imports_keras_first_only_where_its_process_loads_a_model(saved, tmp_path):
    path, _ = saved
    old = rewrite_model_metadata(
        path, tmp_path / "old.keras", lambda meta: {k: v for k, v in meta.items() if k != FINGERPRINT_KEY}
    )

    def loads(engine: str, *steps: dict) -> bool:
        return driver_loads_models({"executor": {"engine": engine}, "sequential_pipeline": list(steps)})

    assert not loads("dask", {"predict": "ModelLoader", "model_path": str(path)}, {"eval": "ClassificationEvaluator"})
    assert loads("local", {"predict": "ModelLoader", "model_path": str(path)})
    assert loads("dask", {"train": "PointNetPwiseClassifier"}, {"predict": "PreviousModel"})
    assert loads("dask", {"predict": "ModelLoader", "model_path": str(old)})  # to compute its fingerprint
    assert loads("dask", {"predict": "ModelLoader", "model_path": str(tmp_path / "missing.keras")})


def test_a_damaged_model_file_is_reported_where_it_is_only_described(saved, tmp_path):
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        weights = next(item for item in archive.infolist() if item.filename.endswith(".h5"))
        start = weights.header_offset + 30 + len(weights.filename.encode()) + len(weights.extra)
    data = bytearray(path.read_bytes())
    data[start + weights.compress_size // 2] ^= 0xFF  # one byte of the weights' data
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(bytes(data))
    assert stored_fingerprint(damaged) == stored_fingerprint(path)  # its metadata still reads
    with pytest.raises(DataError, match=f"damaged: its member {weights.filename} does not read back"):
        load_bundle(damaged, with_model=False)


def test_a_worker_names_the_user_s_model_file_never_the_temporary_copy(saved, tmp_path, caplog):
    """A model trained in the run reaches Dask workers as a temporary copy; before, the worker's log
    and its predict step's messages named that copy's path."""
    import shutil

    from vl3d_focal.runner.cloud_task import CloudTask, PhaseContext, _state

    path, _ = saved
    copy = tmp_path / ".survey_model.x.partial.keras"
    shutil.copy(path, copy)
    trained = ModelRef(path=str(copy), fingerprint=stored_fingerprint(path))
    loaded = ModelRef(path=str(path), fingerprint=stored_fingerprint(path), source=str(path))
    with caplog.at_level("INFO", logger="vl3d_focal.runner.cloud_task"):
        ModelCache().get(trained)
        ModelCache().get(loaded)
    assert [r.message for r in caplog.records if r.name == "vl3d_focal.runner.cloud_task"] == [
        "worker: loaded the model trained in this run",
        f"worker: loaded model {path}",
    ]
    task = CloudTask(number=0, path="a.laz", prefix="out/a/", points=10)
    for ref, expected in ((trained, None), (loaded, str(path))):
        context = PhaseContext(steps=[], needs=[], model_prefix="out/", mapping=None, tile_index=None, model=ref)
        assert _state(task, context).model_file == expected
