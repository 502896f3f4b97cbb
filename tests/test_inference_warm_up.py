"""The model's tracing ahead of the first batch: one function per model, the same probabilities."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
from helpers import killed_process_output

from vl3d_focal.data.parallel import THREADS_VARIABLE
from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.inference.network import inference_function, predict_fields, warm_up
from vl3d_focal.models.bundle import ModelBundle


def _bundle(*, fields: bool) -> ModelBundle:
    coordinates, features = keras.Input((8, 3), name="coordinates"), keras.Input((8, 2), name="features")
    hidden = keras.layers.Dense(6, activation="relu")(keras.layers.Concatenate()([coordinates, features]))
    model = keras.Model([coordinates, features], keras.layers.Dense(3)(hidden))
    return ModelBundle(
        model=model,
        feature_names=["a", "b"],
        normalizer=None,
        field_spec=FieldSpec(radius=1.0, num_points=8) if fields else None,
        mapping=None,
        class_names=["x", "y", "z"],
    )


def test_warm_up_traces_once_and_the_first_batch_reuses_it(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    bundle = _bundle(fields=True)
    thread = warm_up(bundle)
    assert thread is not None
    rng = np.random.default_rng(0)
    inputs = (rng.normal(size=(5, 8, 3)).astype("float32"), rng.normal(size=(5, 8, 2)).astype("float32"))
    probabilities = predict_fields(bundle.model, inputs, batch_size=2)  # may run while the thread traces
    thread.join()
    assert inference_function(bundle.model).experimental_get_tracing_count() == 1
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(bundle.model(list(inputs)), axis=-1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert warm_up(bundle) is None  # already there


def test_nothing_to_warm_up_for_a_model_of_points_or_in_a_one_thread_worker(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert warm_up(_bundle(fields=False)) is None
    monkeypatch.setenv(THREADS_VARIABLE, "1")  # a Dask worker of threads_per_worker 1: its one core is busy
    bundle = _bundle(fields=True)
    assert warm_up(bundle) is None
    assert inference_function(bundle.model).experimental_get_tracing_count() == 0  # traced at the first batch


def test_a_killed_worker_leaves_no_traced_source_in_the_temporary_folder(tmp_path):
    # autograph writes each function it converts to a temporary file, removed only at a clean exit:
    # a Dask worker, killed when its cluster closes, would leave one behind per run
    code = (
        "import keras, numpy as np; from vl3d_focal.inference.network import predict_fields\n"
        "model = keras.Sequential([keras.Input((8, 3)), keras.layers.Dense(3)])\n"
        "print(predict_fields(model, (np.ones((2, 8, 3), 'float32'),), batch_size=2).shape)"
    )
    assert killed_process_output(code, temporary=tmp_path) == ("(2, 8, 3)", [])


def test_a_process_that_ends_while_the_model_is_traced_exits_with_its_own_status():
    """A step that fails at once (a user's mistake: exit 2) ended the process while the warm-up
    thread was inside TensorFlow's tracing, which aborted it (status 134, "terminate called")."""
    code = (
        "import os, sys; os.environ['VL3D_FOCAL_THREADS'] = '2'\n"
        "sys.path.insert(0, sys.argv[1]); from test_inference_warm_up import _bundle\n"
        "from vl3d_focal.inference.network import warm_up\n"
        "thread = warm_up(_bundle(fields=True)); print(thread.daemon); sys.exit(2)"
    )
    ended = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert (ended.returncode, ended.stdout.strip()) == (2, "False"), ended.stderr[-2000:]
    assert "terminate called" not in ended.stderr
