"""Autoencoder vs PointNet on real IGN tiles, same wall-clock training budget (a measurement).

Trains on the receptive fields of three IGN tiles (``../shared/data/ign``), predicts the fourth
(every point: field probabilities averaged by :func:`~vl3d_focal.data.propagation.propagate`)
and prints per-class IoU. As ``examples/ign_train.json`` (the ``quality`` benchmark's base):
the "5class" mapping (ground {2}, low vegetation {3, 4}, high vegetation {5}, building {6},
other {1, 17, 64, 67}), its seven features standardised on the training points, spheres of 5 m
with 384 points, its PointNet; loss: the class-weighted focal loss (gamma 2,
``sqrt_inverse_frequency`` weights of the training points). PointNet gets coordinates divided by
the radius (its default), the autoencoder metres (its kernel radii are in metres). The
autoencoder: depths 384/192/96/48, KPConv 32..128 features, strided KPConv, mean upsampling.

Each model trains with Adam (1e-3, batch 16) until ``--budget`` seconds have passed. Run
``python -m benchmarks.autoencoder_ign --help``.

Example:
    python -m benchmarks.autoencoder_ign --budget 240
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.autoencoder_fields import IGN  # noqa: E402
from benchmarks.configs import IGN_FNAMES, POINTNET, kpconv_autoencoder  # noqa: E402
from vl3d_focal.data.features import extract_features  # noqa: E402
from vl3d_focal.data.hierarchical_fields import depth0_field_spec, hierarchical_model_inputs  # noqa: E402
from vl3d_focal.data.normalization import FeatureNormalizer  # noqa: E402
from vl3d_focal.data.propagation import propagate  # noqa: E402
from vl3d_focal.data.receptive_fields import build_fields, field_coordinates  # noqa: E402
from vl3d_focal.io.las import read_cloud  # noqa: E402
from vl3d_focal.losses import compute_class_weight  # noqa: E402
from vl3d_focal.models import build_conv_autoencoder_pwise_classifier, build_pointnet_pwise_classifier  # noqa: E402
from vl3d_focal.registry import LOSSES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "autoencoder_ign.json"
CLASS_NAMES = ("ground", "low_vegetation", "high_vegetation", "building", "other")
CODES = {2: 0, 3: 1, 4: 1, 5: 2, 6: 3, 1: 4, 17: 4, 64: 4, 67: 4}
FNAMES = tuple(IGN_FNAMES)
CONFIG = kpconv_autoencoder(radius=5.0, points_per_depth=[384, 192, 96, 48])  # cpu_small on the example's fields


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``seconds`` have passed since it began; counts the steps."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.steps = 0
        self.start = 0.0

    def on_train_begin(self, logs: Any = None) -> None:  # noqa: D102
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:  # noqa: D102
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def tile(path: Path, *, scale: bool) -> dict[str, Any]:
    """A tile's fields: coordinates, features, labels, and what propagation needs."""
    cloud = read_cloud(path)
    codes = np.asarray(cloud.las.classification)
    labels = np.array([CODES.get(int(c), 4) for c in codes], dtype=np.int32)
    feats = extract_features(cloud, list(FNAMES))
    spec = depth0_field_spec(CONFIG["pre_processing"])
    spec = type(spec)(**{**spec.__dict__, "scale": scale})
    fields = build_fields(cloud.xyz, spec, seed=0)
    return {
        "coords": field_coordinates(cloud.xyz, fields, spec),
        "point_feats": feats,
        "labels": labels[fields.indices],
        "point_labels": labels,
        "fields": fields,
        "xyz": cloud.xyz,
    }


def model_inputs(kind: str, data: dict[str, Any]) -> list[np.ndarray]:
    """The model's input arrays for a tile's fields."""
    if kind == "pointnet":
        return [data["coords"], data["feats"]]
    return hierarchical_model_inputs(CONFIG["pre_processing"], coordinates=data["coords"], features=data["feats"])


def iou_report(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per-class IoU, their mean over the classes present, and overall accuracy."""
    out = {}
    for c, name in enumerate(CLASS_NAMES):
        union = np.sum((predicted == c) | (labels == c))
        out[name] = float(np.sum((predicted == c) & (labels == c)) / union) if union else float("nan")
    out["mIoU"] = float(np.nanmean([out[n] for n in CLASS_NAMES]))
    out["OA"] = float(np.mean(predicted == labels))
    return out


def run(kind: str, *, budget: float, tiles: list[Path]) -> dict[str, Any]:
    """Trains one model kind for ``budget`` seconds on tiles[:3], evaluates on tiles[3]."""
    keras.utils.set_random_seed(0)
    scale = kind == "pointnet"
    train = [tile(p, scale=scale) for p in tiles[:3]]
    test = tile(tiles[3], scale=scale)
    normalizer = FeatureNormalizer().fit(np.concatenate([t["point_feats"] for t in train]), fnames=list(FNAMES))
    for t in (*train, test):
        t["feats"] = normalizer.transform(t["point_feats"])[t["fields"].indices].astype(np.float32)
    start = time.perf_counter()
    inputs = [np.concatenate(parts) for parts in zip(*(model_inputs(kind, t) for t in train))]
    test_inputs = model_inputs(kind, test)
    index_seconds = time.perf_counter() - start
    labels = np.concatenate([t["labels"] for t in train])
    counts = np.bincount(np.concatenate([t["point_labels"] for t in train]), minlength=len(CLASS_NAMES))
    weights = compute_class_weight("sqrt_inverse_frequency", counts)
    num_points = inputs[0].shape[1]
    if kind == "pointnet":
        model = build_pointnet_pwise_classifier(
            num_points=num_points, num_features=len(FNAMES), num_classes=5, random_seed=0, **POINTNET
        )
    else:
        model = build_conv_autoencoder_pwise_classifier(
            num_points=num_points, num_features=len(FNAMES), num_classes=5, random_seed=0, **CONFIG
        )
    loss = LOSSES.build(
        {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 2.0},
        num_classes=5,
        class_weight=weights,
        from_logits=True,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    stopper = TimeBudget(budget)
    history = model.fit(inputs, labels, batch_size=16, epochs=10_000, callbacks=[stopper], verbose=0)
    logits = model.predict(test_inputs, batch_size=32, verbose=0)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    predicted = propagate(probs, test["fields"], len(test["xyz"]), xyz=test["xyz"]).argmax(-1)
    return {
        "parameters": model.count_params(),
        "train_fields": len(labels),
        "steps": stopper.steps,
        "epochs": len(history.history["loss"]),
        "final_loss": float(history.history["loss"][-1]),
        "input_build_seconds": index_seconds,
        "class_weight": weights,
        "test": iou_report(predicted, test["point_labels"]),
    }


def main(argv: list[str] | None = None) -> None:
    """Trains and evaluates both models; prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds per model")
    parser.add_argument("--models", nargs="+", default=["autoencoder", "pointnet"], choices=["autoencoder", "pointnet"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    tiles = sorted(IGN.glob("*.laz"))
    if len(tiles) < 4:
        raise SystemExit(f"needs the four IGN tiles in {IGN}")
    results = {
        "budget_seconds": args.budget,
        "test_tile": tiles[3].name,
        "models": {kind: run(kind, budget=args.budget, tiles=tiles) for kind in args.models},
    }
    print(f"test tile {tiles[3].name}, {args.budget:.0f} s of training each")
    print(
        f"{'model':<12}{'steps':>7}{'epochs':>7}"
        + "".join(f"{n[:9]:>10}" for n in CLASS_NAMES)
        + f"{'mIoU':>8}{'OA':>8}"
    )
    for kind, r in results["models"].items():
        t = r["test"]
        print(
            f"{kind:<12}{r['steps']:>7}{r['epochs']:>7}"
            + "".join(f"{t[n]:>10.3f}" for n in CLASS_NAMES)
            + f"{t['mIoU']:>8.3f}{t['OA']:>8.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
