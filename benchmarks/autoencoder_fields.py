"""Autoencoder fields: time per field of the hierarchical indices against the network's own time.

For each configuration, on real IGN fields (``../shared/data/ign``; synthetic ones where absent):

* ``indices``: :func:`~vl3d_focal.data.hierarchical_fields.build_hierarchy` on a batch of fields
  (furthest point sampling per depth and every neighbour index), per field;
* ``forward``: ``model(inputs, training=False)`` under ``tf.function`` (and XLA), per field;
* ``train step``: forward, the project's focal loss, gradients and an SGD update under
  ``tf.function`` (and XLA), per field;
* the project's PointNet on the same depth-0 fields, for reference.

Configurations: ``vl3d_t1`` is VL3D's ``KPConv_training_T1`` (depths 512..32, KPConv 64..1024
features, 15 kernel points, strided KPConv, mean upsampling); ``cpu_small`` a CPU-friendly one.
Medians of ``--repetitions`` timed calls after two warm-up calls; batch ``--batch`` fields.
Run ``python -m benchmarks.autoencoder_fields --help``.

Example:
    python -m benchmarks.autoencoder_fields --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vl3d_focal.losses  # noqa: E402,F401  (registers the losses)
from benchmarks.configs import kpconv_autoencoder  # noqa: E402
from benchmarks.timing import median_seconds  # noqa: E402
from vl3d_focal.data.hierarchical_fields import build_hierarchy, depth0_field_spec  # noqa: E402
from vl3d_focal.data.hierarchy_spec import HierarchySpec  # noqa: E402
from vl3d_focal.data.receptive_fields import build_fields, field_coordinates  # noqa: E402
from vl3d_focal.models import build_conv_autoencoder_pwise_classifier, build_pointnet_pwise_classifier  # noqa: E402
from vl3d_focal.registry import LOSSES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IGN = REPO.parent / "shared" / "data" / "ign"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "autoencoder_fields.json"
NUM_CLASSES = 5

CONFIGS: dict[str, dict[str, Any]] = {
    "vl3d_t1": {
        "pre_processing": {
            "pre_processor": "hierarchical_fps",
            "neighborhood": {"type": "sphere", "radius": 3.0},
            "num_points_per_depth": [512, 256, 128, 64, 32],
            "num_pwise_neighbors": [32, 16, 16, 8, 4],
            "num_downsampling_neighbors": [1, 16, 8, 8, 4],
            "num_upsampling_neighbors": [1, 16, 8, 8, 4],
        },
        "feature_extraction": {
            "type": "KPConv",
            "operations_per_depth": [2, 1, 1, 1, 1],
            "feature_space_dims": [64, 64, 128, 256, 512, 1024],
            "bn": True,
            "bn_momentum": 0.0,
            "activate": True,
            "sigma": [3.0] * 6,
            "kernel_radius": [3.0] * 6,
            "num_kernel_points": [15] * 6,
        },
        "downsampling_filter": "strided_kpconv",
        "upsampling_filter": "mean",
    },
    "cpu_small": kpconv_autoencoder(radius=3.0, points_per_depth=[256, 128, 64, 32]),
}


def field_batch(config: dict[str, Any], *, count: int) -> np.ndarray:
    """``count`` depth-0 field coordinates (metres, centred) from an IGN tile, else synthetic."""
    spec = depth0_field_spec(config["pre_processing"])
    tiles = sorted(IGN.glob("*.laz"))
    if not tiles:
        rng = np.random.default_rng(0)
        xyz = rng.uniform(0, 50, (60000, 3)) * [1, 1, 0.2]
    else:
        from vl3d_focal.io.las import read_cloud

        xyz = read_cloud(tiles[0]).xyz
    fields = build_fields(xyz, spec, seed=0)
    coords = field_coordinates(xyz, fields, spec)
    return np.resize(coords, (count, *coords.shape[1:]))  # repeats fields if the tile has fewer


def network_timings(
    model: keras.Model, inputs: list[np.ndarray], labels: np.ndarray, *, repetitions: int
) -> dict[str, float]:
    """Seconds per call of forward and train step, under tf.function and XLA."""
    loss_fn = LOSSES.build(
        {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 2.0},
        num_classes=NUM_CLASSES,
        class_weight=[1.0] * NUM_CLASSES,
        from_logits=True,
    )
    optimizer = keras.optimizers.SGD(1e-3)
    optimizer.build(model.trainable_variables)
    tensors = [tf.constant(a) for a in inputs]
    y = tf.constant(labels)

    def train_step(*xs):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(list(xs), training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def seconds(call: Callable[..., tf.Tensor]) -> float:
        return median_seconds(lambda: call(*tensors).numpy(), repetitions=repetitions, warmup=2)

    out = {}
    for mode, jit in (("tf.function", False), ("xla", True)):
        out[f"forward/{mode}"] = seconds(tf.function(lambda *xs: model(list(xs), training=False), jit_compile=jit))
        out[f"train_step/{mode}"] = seconds(tf.function(train_step, jit_compile=jit))
    return out


def run_config(name: str, *, batch: int, repetitions: int, index_fields: int) -> dict[str, Any]:
    """Every timing of one configuration, per field (milliseconds)."""
    config = CONFIGS[name]
    hierarchy = HierarchySpec.from_config(config["pre_processing"])
    coords = field_batch(config, count=max(index_fields, batch))
    index_s = median_seconds(lambda: build_hierarchy(coords[:index_fields], hierarchy), repetitions=3, warmup=2)
    arrays = build_hierarchy(coords[:batch], hierarchy).arrays()
    feats = np.random.default_rng(1).normal(size=(batch, coords.shape[1], 2)).astype(np.float32)
    labels = np.random.default_rng(2).integers(0, NUM_CLASSES, (batch, coords.shape[1])).astype(np.int32)
    model = build_conv_autoencoder_pwise_classifier(
        num_points=coords.shape[1], num_features=2, num_classes=NUM_CLASSES, random_seed=0, **config
    )
    timings = network_timings(model, [coords[:batch], feats, *arrays.values()], labels, repetitions=repetitions)
    pointnet = build_pointnet_pwise_classifier(
        num_points=coords.shape[1], num_features=2, num_classes=NUM_CLASSES, random_seed=0
    )
    reference = network_timings(pointnet, [coords[:batch], feats], labels, repetitions=repetitions)
    per_field = {"indices": 1e3 * index_s / index_fields}
    per_field.update({f"autoencoder {key}": 1e3 * value / batch for key, value in timings.items()})
    per_field.update({f"pointnet {key}": 1e3 * value / batch for key, value in reference.items()})
    return {
        "config": config,
        "parameters": model.count_params(),
        "pointnet_parameters": pointnet.count_params(),
        "batch": batch,
        "index_fields": index_fields,
        "ms_per_field": per_field,
    }


def main(argv: list[str] | None = None) -> None:
    """Runs the configurations, prints per-field milliseconds, writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--index-fields", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="cpu_small only, 3 repetitions")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    configs = ["cpu_small"] if args.quick else args.configs
    results = {"cores": len(os.sched_getaffinity(0)), "tensorflow": tf.__version__, "configs": {}}
    for name in configs:
        result = run_config(
            name, batch=args.batch, repetitions=3 if args.quick else args.repetitions, index_fields=args.index_fields
        )
        results["configs"][name] = result
        print(
            f"\n{name}: {result['parameters']:,} parameters (PointNet {result['pointnet_parameters']:,}), "
            f"batch {args.batch}, ms per field (median)"
        )
        for key, value in result["ms_per_field"].items():
            print(f"  {key:<34} {value:9.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
