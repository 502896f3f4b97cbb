"""The processes the package starts import Keras without its optional scikit-learn wrapper and
image galleries; scikit-learn stays importable for the random forest, matplotlib for the
reports that draw (issue 14, a worker's start)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("sklearn")


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return done.stdout.split()


def test_keras_imported_without_sklearn_then_sklearn_and_the_forest_work():
    code = (
        "import sys\n"
        "from vl3d_focal.lazy import import_keras\n"
        "import_keras()\n"
        "print('keras' in sys.modules, 'tensorflow' in sys.modules, 'sklearn' in sys.modules)\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "import numpy as np\n"
        "forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(np.eye(4), [0, 1, 0, 1])\n"
        "print(forest.predict(np.eye(4)).tolist() == [0, 1, 0, 1], 'sklearn' in sys.modules)\n"
    )
    assert _run(code) == ["True", "True", "False", "True", "True"]


def _imports_then_report(imports: str, report: str) -> list[str]:
    """Runs ``imports`` in a fresh process, prints whether Keras and matplotlib are loaded, then
    runs ``report`` with ``folder``, a temporary folder."""
    body = "".join(f"    {line}\n" for line in report.splitlines())
    code = (
        "import sys, tempfile\nfrom pathlib import Path\n"
        f"{imports}\n"
        "print('keras' in sys.modules, 'matplotlib' in sys.modules)\n"
        f"with tempfile.TemporaryDirectory() as folder:\n{body}"
    )
    return _run(code)


def test_keras_imported_without_matplotlib_then_a_png_report_draws():
    report = (
        "import numpy as np\n"
        "from vl3d_focal.reports.evaluation_report import plot_confusion\n"
        "path = Path(folder) / 'cm.png'\n"
        "plot_confusion(np.array([[3, 1], [0, 2]]), ['a', 'b'], path)\n"
        "print(path.read_bytes()[1:4].decode(), 'matplotlib.pyplot' in sys.modules)"
    )
    imports = "from vl3d_focal.lazy import import_keras\nimport_keras()"
    assert _imports_then_report(imports, report) == ["True", "False", "PNG", "True"]


def test_a_workers_modules_and_an_svg_evaluation_leave_pyplot_unimported():
    report = (
        "from vl3d_focal.reports.evaluation_report import write_evaluation\n"
        "from vl3d_focal.reports.metrics import classification_metrics\n"
        "metrics = classification_metrics([[5, 1], [0, 3]], class_names=['ground', 'pole'])\n"
        "paths = write_evaluation(metrics, report_path=Path(folder) / 'evaluation.json')\n"
        "print(paths['confusion_svg'].read_text().count('<svg'), 'matplotlib.pyplot' in sys.modules)"
    )
    assert _imports_then_report("import vl3d_focal.runner.worker_preload", report) == ["True", "False", "1", "False"]


def test_an_sklearn_imported_before_is_left_alone():
    code = (
        "import sys, sklearn\n"
        "from vl3d_focal.lazy import import_keras\n"
        "import_keras()\n"
        "import keras.src.wrappers.sklearn_wrapper as wrapper\n"
        "print(sys.modules['sklearn'] is sklearn, wrapper.sklearn is sklearn)\n"
    )
    assert _run(code) == ["True", "True"]


def test_the_worker_thread_settings_import_keras_without_sklearn():
    code = (
        "import sys\n"
        "from vl3d_focal.runner.worker_process import apply_threads\n"
        "apply_threads(1)\n"
        "import tensorflow as tf\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), 'sklearn' in sys.modules)\n"
    )
    assert _run(code) == ["1", "False"]


def test_a_quiet_import_keeps_tensorflows_start_up_lines_off_stderr_and_gives_it_back():
    code = (
        "import sys\n"
        "from vl3d_focal.lazy import import_keras\n"
        "print('before', file=sys.stderr, flush=True)\n"
        "import_keras(quiet=True)\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stderr.split() == ["before", "after"]  # nothing of TensorFlow's C++ (CUDA, absl) between


def test_validating_an_autoencoder_spec_leaves_scipy_unimported(tmp_path):
    """`vl3d-focal validate` stays quick: the schemas (the hierarchical fields' included) are plain data."""
    spec = tmp_path / "train.json"
    spec.write_text(
        '{"in_pcloud": ["a.laz"], "out_pcloud": ["out/*"], "sequential_pipeline": [{"train": '
        '"ConvolutionalAutoencoderPwiseClassifier", "model_args": {"num_classes": 2, "pre_processing": {'
        '"pre_processor": "hierarchical_fps", "neighborhood": {"radius": 3.0}, '
        '"training_class_distribution": [4, 4]}, "compilation_args": {"loss": {"function": '
        '"categorical_crossentropy"}}}}]}'
    )
    code = (
        "import sys\n"
        "from vl3d_focal.config import load_spec\n"
        f"spec = load_spec({str(spec)!r}, check_files=False)\n"
        "print(spec['sequential_pipeline'][0]['model_args']['pre_processing']['training_class_distribution'],"
        " 'scipy' in sys.modules)"
    )
    assert _run(code) == ["[4,", "4]", "False"]


def test_a_model_run_after_a_quiet_import_prints_no_cuda_probe():
    # TensorFlow probes CUDA when the devices are first listed, which a model's first call does
    # after the import: on a machine without a GPU that probe printed "failed call to cuInit".
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from vl3d_focal.lazy import import_keras\n"
        "import_keras(quiet=True)\n"
        "print('imported', file=sys.stderr, flush=True)\n"
        "import keras\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "print('ran', tuple(model(np.zeros((1, 3))).shape), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    lines = done.stderr.splitlines()
    assert [line for line in lines if "cuinit" in line.lower() or "cuda" in line.lower()] == []
    assert lines[-2:] == ["imported", "ran (1, 2)"]


def test_the_workers_fork_server_lists_no_device_and_a_worker_does():
    # CUDA set up before a fork cannot be used in the child: the fork server leaves it to each worker
    code = (
        "import tensorflow as tf\n"
        "calls = []\n"
        "listing = tf.config.list_physical_devices\n"
        "tf.config.list_physical_devices = lambda *a, **k: calls.append(1) or listing(*a, **k)\n"
        "import vl3d_focal.runner.worker_preload\n"
        "print(len(calls))\n"
        "from vl3d_focal.runner.worker_process import apply_threads\n"
        "apply_threads(1, quiet=True)\n"
        "apply_threads(1, quiet=True)\n"
        "print(len(calls))\n"
    )
    assert _run(code) == ["0", "1"]
