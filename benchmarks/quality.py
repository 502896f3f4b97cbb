"""Quality: the IGN example pipeline's models (PointNet, hierarchical autoencoder with KPConv, random
forest) trained with cross-entropy, weighted cross-entropy and focal losses.

The base is ``examples/ign_train.json`` + ``examples/ign_predict_eval.json``. Each variant
differs from it only in the train step's model (``--models``, :mod:`benchmarks.quality_models`:
same features, seed, data and training settings) and ``compilation_args.loss`` entry (same
epochs, batch size, optimizer; the forest takes none); it is named ``<model>_<loss>`` and its
outputs go to ``<workdir>/<variant>/``, where its two
specs are written (``train.json``, ``predict_eval.json``: rerun one with
``vl3d-focal run <workdir>/<variant>/train.json``). Every spec runs through the library
(``load_spec`` + ``run_pipeline``) in its own subprocess, so runs share no TensorFlow state and
each has its own wall time. The evaluation JSONs are read back and set side by side; the issue's
targets are marked (measured, never asserted). Run ``python -m benchmarks.quality --help``.

Example:
    python -m benchmarks.quality --quick --out /tmp/quality.json
    python -m benchmarks.quality --models pointnet,autoencoder,forest --variants ce,focal_g2 --seeds 7,8,9
    python -m benchmarks.quality --variants focal_g2 --held-out 77050_627760 --workdir out/q/fold0
    python -m benchmarks.quality --variants focal_g2 --evaluate extra/a.laz,extra/b.laz --workdir out/q/extra
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality_models import MODEL_KEYS, model_train_step, takes_loss  # noqa: E402
from benchmarks.quality_report import format_table, mark_targets, rarest_classes, targets_text, variant_name  # noqa: E402
from benchmarks.quality_tiles import held_out, parse_clouds, with_clouds  # noqa: E402
from benchmarks.run_variant import run_variant  # noqa: E402
from benchmarks.seed_spread import format_summary, parse_seeds, run_name, summarise  # noqa: E402
from benchmarks.sensor_copies import copies_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IGN_DIR = REPO.parent / "shared" / "data" / "ign"
BASE_TRAIN = REPO / "examples" / "ign_train.json"
BASE_PREDICT = REPO / "examples" / "ign_predict_eval.json"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "quality.json"
DEFAULT_WORKDIR = REPO / "out" / "quality"
FOCAL = "class_weighted_focal_categorical_crossentropy"
WEIGHTED_CE = "class_weighted_categorical_crossentropy"
CE_CHOICES: tuple[str, ...] = ("categorical_crossentropy", "sparse_categorical_crossentropy")
OTHER_GAMMA = 1.0
QUICK_EPOCHS = 2


def loss_variants(
    *, base_loss: Mapping[str, Any], ce_function: str = CE_CHOICES[0], other_gamma: float = OTHER_GAMMA
) -> dict[str, dict[str, Any]]:
    """The loss entries compared, by variant name (the focal ones keep the base's other options).

    Args:
        base_loss: the base spec's loss entry; its ``class_weight`` is shared by the weighted runs.
        ce_function: the unweighted cross-entropy loss (one of ``CE_CHOICES``).
        other_gamma: the focal gamma compared with 2.

    Raises:
        ValueError: when the base loss has no ``class_weight`` or ``ce_function`` is unknown.

    Example:
        >>> v = loss_variants(base_loss={"function": FOCAL, "gamma": 2.0, "class_weight": "balanced"})
        >>> sorted(v), v["weighted_ce"]
        (['ce', 'focal_g1', 'focal_g2', 'weighted_ce'], {'function': 'class_weighted_categorical_crossentropy', 'class_weight': 'balanced'})
    """
    if ce_function not in CE_CHOICES:
        raise ValueError(f"Argument `ce_function` must be one of {CE_CHOICES}. Received: {ce_function!r}")
    weights = base_loss.get("class_weight")
    if weights is None:
        raise ValueError(
            f"the base loss entry needs a class_weight to share with the weighted runs; got {dict(base_loss)}"
        )
    focal = {k: copy.deepcopy(v) for k, v in base_loss.items() if base_loss.get("function") == FOCAL}
    focal.update(function=FOCAL, class_weight=copy.deepcopy(weights))
    return {
        "ce": {"function": ce_function},
        "weighted_ce": {"function": WEIGHTED_CE, "class_weight": copy.deepcopy(weights)},
        "focal_g2": {**copy.deepcopy(focal), "gamma": 2.0},
        f"focal_g{other_gamma:g}": {**copy.deepcopy(focal), "gamma": float(other_gamma)},
    }


def _rebase(paths: str | list[str], *, base_dir: Path, new_dir: Path) -> list[str]:
    """Spec paths relative to ``base_dir`` rewritten relative to ``new_dir`` (absolute ones kept)."""
    return [
        p if os.path.isabs(p) else os.path.relpath(os.path.normpath(base_dir / p), new_dir)
        for p in ([paths] if isinstance(paths, str) else paths)
    ]


def _train_step(doc: Mapping[str, Any], *, file: Path) -> dict[str, Any]:
    steps = [step for step in doc.get("sequential_pipeline", []) if "train" in step]
    if len(steps) != 1:
        raise ValueError(f"{file}: expected exactly one train step, got {len(steps)}")
    return steps[0]


def variant_specs(
    *,
    train_doc: Mapping[str, Any],
    predict_doc: Mapping[str, Any],
    train_dir: Path,
    predict_dir: Path,
    variant_dir: Path,
    loss: Mapping[str, Any] | None,
    epochs: int | None,
    seed: int | None = None,
    model: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The train and predict+eval specs of one variant, to be written into ``variant_dir``.

    Only the model (``quality_models.model_train_step``: same features and training settings),
    the loss entry (and, with ``epochs``, ``training_epochs``; with ``seed``, the train step's
    ``random_seed``) change; the input paths are rewritten relative to ``variant_dir``, and the
    clouds the predict spec evaluates are left out of the training clouds (the base example may
    train on every shared tile; the benchmark never scores a tile its model trained on); the
    outputs go to ``train/`` and ``predict/`` there, and the predict spec loads the model the
    train spec writes.

    Args:
        train_doc, predict_doc: the parsed base specs; train_dir, predict_dir: their folders.
        variant_dir: where the variant's specs are written; loss: its loss entry (None for a
            model that takes none).
        epochs: the training epochs, or None to keep the base's.
        seed: the train step's random seed, or None to keep the base's.
        model: a ``quality_models.MODEL_KEYS`` name, or None to keep the base's model.

    Example (from the repository's root):
        >>> t, p = (json.loads(Path(f"examples/ign_{name}.json").read_text()) for name in ("train", "predict_eval"))
        >>> train, predict = variant_specs(train_doc=t, predict_doc=p, train_dir=Path("examples"), predict_dir=Path(
        ...     "examples"), variant_dir=Path("out/q/ce"), loss={"function": "sparse_categorical_crossentropy"},
        ...     epochs=2)
        >>> train["out_pcloud"], predict["out_pcloud"], [s["model_path"] for s in predict["sequential_pipeline"]
        ...                                               if "predict" in s]
        (['train/*'], ['predict/*'], ['train/model/model.keras'])
    """
    train = copy.deepcopy(dict(train_doc))
    predict = copy.deepcopy(dict(predict_doc))
    train["in_pcloud"] = _rebase(train["in_pcloud"], base_dir=train_dir, new_dir=variant_dir)
    train["out_pcloud"] = ["train/*"]
    base = _train_step(train, file=train_dir)
    steps = train["sequential_pipeline"]
    step = model_train_step(base, model=model or base_model_key(base), loss=loss)
    steps[steps.index(base)] = step
    model_args = step["model_args"]
    handling = model_args.setdefault("model_handling", {})
    for key in ("training_pcloud", "validation_pcloud"):
        if isinstance(handling.get(key), list):
            handling[key] = _rebase(handling[key], base_dir=train_dir, new_dir=variant_dir)
    if epochs is not None and loss is not None:
        handling["training_epochs"] = int(epochs)
    if seed is not None:
        step["random_seed"] = int(seed)
    writers = [s for s in train["sequential_pipeline"] if s.get("writer") == "PredictiveModelWriter"]
    if not writers:
        raise ValueError(f"{train_dir}: the train spec writes no model (no PredictiveModelWriter step)")
    out_model = str(writers[0]["out_model"])
    if not out_model.startswith("*"):
        out_model = "*model/" + Path(out_model).name
        writers[0]["out_model"] = out_model
    train["_comment"] = (
        f"quality benchmark variant: {step['train']}, loss {'none' if loss is None else loss['function']}; "
        f"base {BASE_TRAIN.name}"
    )

    predict["in_pcloud"] = _rebase(predict["in_pcloud"], base_dir=predict_dir, new_dir=variant_dir)
    evaluated = {os.path.normpath(variant_dir / path) for path in predict["in_pcloud"]}
    train["in_pcloud"] = [path for path in train["in_pcloud"] if os.path.normpath(variant_dir / path) not in evaluated]
    predict["out_pcloud"] = ["predict/*"]
    loaders = [s for s in predict["sequential_pipeline"] if s.get("predict") == "ModelLoader"]
    if len(loaders) != 1:
        raise ValueError(f"{predict_dir}: expected one ModelLoader predict step, got {len(loaders)}")
    loaders[0]["model_path"] = "train/" + out_model[1:]
    predict["_comment"] = f"quality benchmark variant: evaluates the model of train.json; base {BASE_PREDICT.name}"
    return train, predict


def base_model_key(step: Mapping[str, Any]) -> str:
    """The ``quality_models.MODEL_KEYS`` name of a train step's model.

    Example:
        >>> base_model_key({"train": "RandomForestClassifier"})
        'forest'
    """
    return next(key for key, name in MODEL_KEYS.items() if name == step["train"])


def evaluation_paths(*, predict_spec: Mapping[str, Any]) -> dict[str, Path]:
    """The evaluation JSON of each input cloud of a normalised (``load_spec``) predict spec.

    Example:
        >>> evaluation_paths(predict_spec={"in_pcloud": ["/d/t.laz"], "out_pcloud": ["/o/"],
        ...     "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/e.json"}]})
        {'t': PosixPath('/o/eval/e.json')}
    """
    from vl3d_focal.config.prefixes import cloud_prefixes, expand_output

    inputs = list(predict_spec["in_pcloud"])
    prefixes = cloud_prefixes(inputs=inputs, prefixes=list(predict_spec["out_pcloud"]))
    reports = [s["report_path"] for s in predict_spec["sequential_pipeline"] if "eval" in s]
    if not reports:
        raise ValueError("the predict spec has no eval step: nothing to compare")
    return {Path(i).stem: Path(expand_output(reports[0], prefix=p)) for i, p in zip(inputs, prefixes)}


def main(*, argv: list[str] | None = None) -> int:
    """Command line entry point (see ``--help``).

    Example (the whole benchmark: minutes to hours)::

        main(argv=["--quick", "--out", "/tmp/q.json"])
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs per run (smoke test)")
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs per run (default: the base's; overrides --quick)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="variant specs and outputs")
    parser.add_argument("--ce-loss", choices=CE_CHOICES, default=CE_CHOICES[0], help="the unweighted cross-entropy")
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help="comma-separated random seeds, e.g. 7,8,9: every variant runs once per seed and a "
        "table gives each metric's mean, standard deviation and range (default: the base's seed)",
    )
    parser.add_argument(
        "--variants",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        default=None,
        help="comma-separated losses to run (ce, weighted_ce, focal_g2, focal_g1; "
        "default: all); a model without a loss runs once",
    )
    parser.add_argument(
        "--sensors",
        action="store_true",
        help="also evaluate every model on copies of the evaluated tiles as another sensor would "
        "record them (intensity x17; LAS 1.2 format 0 without intensity and returns)",
    )
    parser.add_argument(
        "--models",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        default=None,
        help=f"comma-separated models among {', '.join(MODEL_KEYS)}, on the base's "
        "features (default: the base's model)",
    )
    clouds = parser.add_mutually_exclusive_group()
    clouds.add_argument(
        "--held-out",
        default=None,
        help="evaluate the IGN tile whose name holds this (e.g. 77050_627760) instead of the base's, "
        "training on the other tiles: one fold of a leave-one-tile-out",
    )
    clouds.add_argument(
        "--evaluate",
        type=parse_clouds,
        default=None,
        metavar="PATHS",
        help="evaluate these comma-separated labelled .las/.laz files instead of the base's tile, training "
        "on all of the base's tiles (less any given here); the table scores them together (confusion "
        "matrices summed)",
    )
    args = parser.parse_args(argv)
    if not any(IGN_DIR.glob("*.laz")):
        print(f"skipped: the real IGN tiles are not in {IGN_DIR} (../shared/data/ign beside the repository)")
        return 0
    from vl3d_focal.config import load_spec, read_spec_file
    from vl3d_focal.errors import SpecError

    epochs = args.epochs if args.epochs is not None else QUICK_EPOCHS if args.quick else None
    if epochs is not None and epochs < 1:
        parser.error(f"--epochs: expected a positive number of epochs, got {epochs}")
    train_doc, predict_doc = read_spec_file(BASE_TRAIN), read_spec_file(BASE_PREDICT)
    if args.held_out:
        try:
            predict_doc = held_out(
                predict_doc, tile=args.held_out, tiles=sorted(IGN_DIR.glob("*.laz")), predict_dir=BASE_PREDICT.parent
            )
        except ValueError as exc:
            parser.error(str(exc))
    if args.evaluate:
        predict_doc = with_clouds(predict_doc, clouds=args.evaluate, predict_dir=BASE_PREDICT.parent)
    base_step = _train_step(train_doc, file=BASE_TRAIN)
    base_loss = base_step["model_args"]["compilation_args"]["loss"]
    if base_step["model_args"].get("model_handling", {}).get("class_weight") is not None:
        print("note: the base sets model_handling.class_weight: the pipeline applies it to losses without one")
    workdir = args.workdir.resolve()
    plan: dict[str, dict[str, Any]] = {}
    losses = loss_variants(base_loss=base_loss, ce_function=args.ce_loss)
    models = args.models or [base_model_key(base_step)]
    unknown = [name for name in [*models, *(args.variants or [])] if name not in MODEL_KEYS and name not in losses]
    if unknown:
        parser.error(
            f"--models/--variants: unknown {unknown}; expected models among {sorted(MODEL_KEYS)} "
            f"and losses among {sorted(losses)}"
        )
    variants = {
        variant_name(model, loss if takes_loss(model) else None): (model, losses[loss] if takes_loss(model) else None)
        for model in models
        for loss in (args.variants or list(losses))
    }
    chosen = list(variants)
    seeds: list[int | None] = list(args.seeds) if args.seeds else [None]
    for name in chosen:
        model, loss = variants[name]
        for seed in seeds:
            run = name if seed is None else run_name(name, seed)
            variant_dir = workdir / run
            variant_dir.mkdir(parents=True, exist_ok=True)
            train, predict = variant_specs(
                train_doc=train_doc,
                predict_doc=predict_doc,
                train_dir=BASE_TRAIN.parent,
                predict_dir=BASE_PREDICT.parent,
                variant_dir=variant_dir,
                loss=loss,
                epochs=epochs,
                seed=seed,
                model=model,
            )
            if args.sensors:
                predict["in_pcloud"] += [
                    os.path.relpath(copy_path, variant_dir)
                    for copy_path in copies_of(
                        [os.path.normpath(variant_dir / path) for path in predict["in_pcloud"]],
                        folder=workdir / "sensors",
                    )
                ]
            for file, doc in (("train.json", train), ("predict_eval.json", predict)):
                (variant_dir / file).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            try:
                load_spec(variant_dir / "train.json")
                normalised = load_spec(variant_dir / "predict_eval.json", check_files=False)
            except SpecError as exc:
                print(f"the variant spec {run} is invalid:\n{exc}")
                return 2
            plan[run] = {
                "loss": loss,
                "evaluations": evaluation_paths(predict_spec=normalised),
                "dir": variant_dir,
                "seed": seed,
            }
    load_before = os.getloadavg()
    print(
        f"{len(plan)} runs, specs in {workdir}; epochs: {epochs or 'as in the base'}; load average "
        f"{load_before[0]:.1f}",
        flush=True,
    )
    runs = {
        name: {
            "loss": item["loss"],
            "seed": item["seed"],
            **run_variant(name=name, variant_dir=item["dir"], evaluations=item["evaluations"]),
        }
        for name, item in plan.items()
    }
    counts: dict[str, int] = next(
        (r["class_weights"]["class_counts"] for r in runs.values() if r.get("class_weights")), {}
    )
    rare = rarest_classes(counts=counts)
    class_names = next((r["evaluation"]["class_names"] for r in runs.values() if r.get("evaluation")), list(counts))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    print()
    print(format_table(runs=runs, class_names=class_names, rare=rare))
    print("\n* rarest classes by training counts: " + ", ".join(f"{c} ({counts[c]})" for c in rare))
    marks: dict[str, Any] = {}
    summary = None
    for seed in seeds:
        of_seed = {name: runs[name if seed is None else run_name(name, seed)] for name in chosen}
        key = "base seed" if seed is None else f"seed {seed}"
        marks[key] = mark_targets(runs=of_seed, rare=rare, cores=cores)
        print(f"{key}: " + targets_text(marks[key]))
    if args.seeds:
        summary = summarise(runs=runs, variants=chosen, seeds=args.seeds, rare=rare)
        print()
        print(format_summary(summary, seeds=args.seeds))
    result = {
        "command": "python -m benchmarks.quality " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "epochs": epochs,
        "machine": {
            "python": platform.python_version(),
            "cores": cores,
            "processor": platform.processor() or platform.machine(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "base": [str(BASE_TRAIN.relative_to(REPO)), str(BASE_PREDICT.relative_to(REPO))],
        "held_out": args.held_out,
        "evaluated": None if args.evaluate is None else [str(path) for path in args.evaluate],
        "class_counts": counts,
        "rarest_classes": rare,
        "targets": marks,
        "seeds": args.seeds,
        "seed_summary": summary,
        "runs": {name: {k: v for k, v in run.items() if k != "evaluation"} for name, run in runs.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
