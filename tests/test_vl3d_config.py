"""VL3D's spec vocabulary in the config layer: the single-component training form, the no-effect
notes (x-vl3d-no-effect, validate --strict), one issue per unavailable VL3D component."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec, load_spec, read_spec, validate_spec
from vl3d_focal.config.components import VL3D_COMPONENTS, accepted_values, unavailable_steps
from vl3d_focal.config.forms import as_pipeline
from vl3d_focal.config.notes import collect_notes
from vl3d_focal.config.schemas import generate_schemas
from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.registry import MODELS
from vl3d_focal.schema_annotations import NO_EFFECT_ANNOTATION, NO_EFFECT_PROPERTIES

TRAIN = {
    "train": "PointNetPwiseClassifier",
    "in_pcloud": "data/tree.laz",
    "out_model": "out/pnet/pnet.model",
    "fnames": ["AUTO"],
    "training_type": "base",
    "random_seed": None,
    "model_args": {
        "num_classes": 2,
        "class_names": ["wood", "leaf"],
        "pre_processing": {"num_points": 64, "neighborhood": {"type": "sphere", "radius": 0.4}},
        "model_handling": {"class_weight": "AUTO", "training_epochs": 1},
        "compilation_args": {"loss": {"function": "class_weighted_focal_categorical_crossentropy"}},
    },
}


def _messages(doc) -> list[str]:
    return [str(issue) for issue in validate_spec(doc, check_files=False)]


def test_the_single_component_form_is_the_pipeline_it_stands_for(tmp_path):
    form = as_pipeline(TRAIN)
    assert form.name == "train"
    assert form.spec["in_pcloud"] == "data/tree.laz" and form.spec["out_pcloud"] == "out/pnet/"
    train, writer = form.spec["sequential_pipeline"]
    assert writer == {"writer": "PredictiveModelWriter", "out_model": "out/pnet/pnet.model"}
    assert "in_pcloud" not in train and "out_model" not in train and train["fnames"] == ["AUTO"]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(TRAIN), encoding="utf-8")
    spec = load_spec(path, check_files=False)
    assert spec["out_pcloud"] == [str(tmp_path / "out" / "pnet") + "/"]
    assert spec["sequential_pipeline"][1]["out_model"] == str(tmp_path / "out" / "pnet" / "pnet.model")
    assert spec["sequential_pipeline"][0]["training_type"] == "base"


def test_issues_of_the_single_component_form_are_at_its_own_paths():
    doc = copy.deepcopy(TRAIN)
    doc["model_args"]["num_classes"] = "2"
    doc["fnames"] = ["AUTO", "intensity"]
    doc["out_model"] = 7
    assert _messages(doc) == [
        "$.fnames[0]: 'AUTO' takes every extra dimension of the training clouds: give it alone, or name the features",
        '$.model_args.num_classes: expected integer; got string "2"',
        "$.out_model: expected string; got integer 7",
    ]


def test_the_single_component_form_needs_a_model_file():
    doc = {key: value for key, value in TRAIN.items() if key != "out_model"}
    assert _messages(doc) == [
        "$: missing required key 'out_model' (the file the single-component train form writes its model to)"
    ]
    assert _messages({**TRAIN, "out_model": "*m.model"})[0].startswith("$.out_model: the single-component form has no")


MINER = {
    "miner": "GeometricFeatures",
    "in_pcloud": "data/tree.laz",
    "out_pcloud": "out/tree_geom.laz",
    "radius": 0.3,
    "fnames": ["linearity", "PCA1"],
    "frenames": ["linearity_r0_3", "PCA1_r0_3"],
}


def test_the_single_component_miner_form_is_the_miner_then_a_writer():
    form = as_pipeline(MINER)
    assert form.name == "miner" and form.issues == []
    assert form.spec["in_pcloud"] == "data/tree.laz" and form.spec["out_pcloud"] == "out/"
    miner, writer = form.spec["sequential_pipeline"]
    assert miner == {key: value for key, value in MINER.items() if key not in ("in_pcloud", "out_pcloud")}
    assert writer == {"writer": "Writer", "out_pcloud": "out/tree_geom.laz"}
    assert form.step_origins() == ("spec's miner", "spec's out_pcloud")
    assert _messages(MINER) == []


def test_issues_of_the_single_component_miner_form_are_at_its_own_paths():
    suffix, radius = _messages({**MINER, "radius": 0, "out_pcloud": "out/tree.txt"})
    assert suffix.startswith("$.out_pcloud: expected a path ending in .las or .laz; got") and suffix.endswith(
        "tree.txt'"
    )
    assert radius == "$.radius: 0 is less than or equal to the minimum of 0"
    assert _messages({**MINER, "frenames": ["a"]}) == ["$.frenames: expected 2 names (one per fnames entry); got 1"]
    assert _messages({**MINER, "miner": "TakeClosestMiner"})[0].startswith(
        "$.miner: 'TakeClosestMiner' is a VL3D data miner this project does not have"
    )
    covariance = {"miner": "CovarianceFeatures", "in_pcloud": "data/tree.laz", "out_pcloud": "out/tree_covar.laz"}
    assert _messages({**covariance, "fnames": ["Linearity", "Density"]}) == []
    assert _messages({**covariance, "neighborhood": "knn", "min_neighs": 1}) == [
        "$.min_neighs: min_neighs=1: a knn neighbourhood needs at least 2 neighbours"
    ]
    without = {key: value for key, value in MINER.items() if key != "out_pcloud"}
    assert _messages(without) == [
        "$: missing required key 'out_pcloud' (the file the single-component miner form writes the mined cloud to)"
    ]
    assert _messages({**MINER, "out_pcloud": None})[0].startswith(
        "$.out_pcloud: expected the LAS/LAZ file the single-component miner form writes the mined cloud to"
    )
    assert _messages({**MINER, "out_pcloud": "*m.laz"})[0].startswith("$.out_pcloud: the single-component form has no")


def test_a_pipeline_is_left_as_it_is():
    doc = {"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": []}
    form = as_pipeline(doc)
    assert form.name == "pipeline" and form.spec is doc
    assert form.original(SpecIssue("$.sequential_pipeline[0]", "m")) == SpecIssue("$.sequential_pipeline[0]", "m")


def test_notes_are_collected_where_the_annotation_applies():
    schema = {
        "properties": {
            "a": {"x-vl3d-no-effect": "why a"},
            "b": {"anyOf": [{"const": False}, {"const": True, "x-vl3d-no-effect": "why b"}]},
            "c": {"properties": {"d": {"x-vl3d-no-effect": "why d"}}},
        }
    }
    assert collect_notes({"a": 1, "b": False, "c": {"e": 1}}, schema) == [(("a",), "why a")]
    assert collect_notes({"b": True, "c": {"d": 0}}, schema) == [(("b",), "why b"), (("c", "d"), "why d")]


def test_every_no_effect_annotation_gives_its_reason_and_the_model_declares_it_apart():
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            if NO_EFFECT_ANNOTATION in node:
                found.append((where, node[NO_EFFECT_ANNOTATION]))
            for key, value in node.items():
                walk(value, where + (key,))
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(generate_schemas()["pipeline.schema.json"], ())
    assert found and all(isinstance(why, str) and len(why) > 20 for _, why in found)
    for name in MODELS.names():  # a model's no-effect properties are never passed to its builder
        schema = MODELS.get(name).schema
        assert not set(schema.get(NO_EFFECT_PROPERTIES, {})) & set(schema.get("properties", {})), name


def test_the_autoencoders_vl3d_tuning_keys_are_notes_and_its_reports_are_outputs():
    """hierarchical_fps shares the other pre-processors' VL3D keys: tuning keys are reported as
    notes (they were accepted silently), the receptive-field report paths are outputs."""
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/*",
        "sequential_pipeline": [
            {
                "train": "ConvolutionalAutoencoderPwiseClassifier",
                "fnames": ["intensity"],
                "model_args": {
                    "num_classes": 2,
                    "fnames": ["intensity"],
                    "compilation_args": {"loss": {"function": "class_weighted_focal_categorical_crossentropy"}},
                    "feature_extraction": {"operations_per_depth": [1, 1], "feature_space_dims": [8, 16]},
                    "pre_processing": {
                        "pre_processor": "hierarchical_fps",
                        "neighborhood": {"type": "sphere", "radius": 3.0},
                        "num_points_per_depth": [32, 16],
                        "num_pwise_neighbors": [8, 4],
                        "num_downsampling_neighbors": [1, 4],
                        "num_upsampling_neighbors": [1, 2],
                        "nthreads": 12,
                        "support_chunk_size": 2000,
                        "support_strategy_fast": True,
                        "fast_flag_per_depth": [False, False],
                        "training_receptive_fields_dir": "*fields/",
                        "training_support_points_report_path": "*training_eval/support.laz",
                        "receptive_fields_distribution_plot_path": "*eval/fields.txt",
                    },
                },
            }
        ],
    }
    checked = check_spec(doc, check_files=False)
    pre_processing = "$.sequential_pipeline[0].model_args.pre_processing"
    assert sorted(note.path for note in checked.notes) == [  # model_args.fnames: the step's own, read as VL3D does
        f"{pre_processing}.{key}"
        for key in ("fast_flag_per_depth", "nthreads", "support_chunk_size", "support_strategy_fast")
    ]
    assert [(issue.path, issue.message[:30]) for issue in checked.issues] == [
        (f"{pre_processing}.receptive_fields_distribution_plot_path", "expected a path ending in .svg")
    ]


def test_the_kpconv_kernel_plot_folders_are_notes():
    """VL3D's model_handling folders for plots of the (strided) KPConv kernels: accepted, noted."""
    doc = copy.deepcopy(TRAIN)
    doc["model_args"]["model_handling"].update(
        kpconv_representation_dir="*/training_eval/kpconv_layers/",
        skpconv_representation_dir="*/training_eval/skpconv_layers/",
    )
    checked = check_spec(doc, check_files=False)
    assert checked.issues == []
    assert [(note.path, "KPConv kernels" in note.message) for note in checked.notes] == [
        ("$.model_args.model_handling.kpconv_representation_dir", True),
        ("$.model_args.model_handling.skpconv_representation_dir", True),
    ]


def test_validate_prints_notes_and_strict_makes_them_errors(tmp_path, capsys, restore_logging):
    doc = copy.deepcopy(TRAIN)
    doc["model_args"]["pre_processing"].update(nthreads=12, fast=False)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["validate", "--no-check-files", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: valid (2 keys accepted without effect)\n"
    assert err.splitlines() == [
        f"{path}: $.model_args.pre_processing.fast: accepted, no effect here: furthest point subsampling is exact "
        "(batched in numpy)",
        f"{path}: $.model_args.pre_processing.nthreads: accepted, no effect here: receptive fields are computed on "
        "every CPU core",
    ]
    assert main(["validate", "--strict", "--no-check-files", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == err.splitlines()
    with pytest.raises(SpecError, match="nthreads: accepted, no effect here"):
        read_spec(path, check_files=False, strict=True)
    assert len(read_spec(path, check_files=False)[1]) == 2


def test_a_value_dependent_note_only_for_that_value():
    def notes(flag: bool) -> list[str]:
        doc = {
            "in_pcloud": "a.las",
            "out_pcloud": "o/",
            "sequential_pipeline": [
                {"writer": "PredictivePipelineWriter", "out_pipeline": "*p.pipe", "include_writer": flag}
            ],
        }
        return [n.path for n in check_spec(doc, check_files=False).notes]

    assert notes(False) == []
    assert notes(True) == ["$.sequential_pipeline[0].include_writer"]


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        (
            {"eval": "RasterGridEvaluator", "grids": [{}]},
            "$.sequential_pipeline[0].eval",
            "'RasterGridEvaluator' is a VL3D evaluator this project does not have; available: "
            "'ClassificationEvaluator', 'DLModelEvaluator', 'ClassificationUncertaintyEvaluator'",
        ),
        (
            {"writer": "PredictivPipelineWriter", "out_pipeline": "*p.pipe"},
            "$.sequential_pipeline[0].writer",
            "unknown writer 'PredictivPipelineWriter'; available: 'PredictiveModelWriter', 'ModelWriter', "
            "'PredictivePipelineWriter', 'ClassifiedPcloudWriter', 'Writer', 'PredictionsWriter'; "
            "did you mean 'PredictivePipelineWriter'?",
        ),
    ],
)
def test_an_unavailable_component_is_one_issue_at_its_kind_key(step, path, message):
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": [step]}
    assert [(i.path, i.message) for i in validate_spec(doc, check_files=False)] == [(path, message)]


def test_an_unavailable_component_leaves_the_other_steps_checked():
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [
            {"miner": "TakeClosestMiner", "support_chunk_size": 50},
            {"writer": "Writer", "out_pcloud": "*x.txt"},
        ],
    }
    assert [i.path for i in validate_spec(doc, check_files=False)] == [
        "$.sequential_pipeline[0].miner",
        "$.sequential_pipeline[1].out_pcloud",
    ]


def test_registered_components_are_accepted_whatever_the_catalogue_says():
    for kind, known in VL3D_COMPONENTS.items():
        for name in accepted_values(kind):
            assert unavailable_steps({"sequential_pipeline": [{kind: name}]}) == []
        if not accepted_values(kind):  # a kind without any step here says what to do instead
            assert known.without.startswith("this project has no ")


def test_the_model_file_name_is_free(tmp_path):
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "m/pnet_pwise_classif.model"},
            {"writer": "PredictiveModelWriter", "out_model": "*copy.model"},
            {"writer": "PredictivePipelineWriter", "out_pipeline": "*pipe/p.pipe"},
        ],
    }
    assert validate_spec(doc, check_files=False) == []


def test_a_class_mapping_is_optional_and_both_styles_validate():
    examples = Path(__file__).parent.parent / "examples"
    for path in sorted(examples.glob("*.json")):
        assert load_spec(path, check_files=False)["sequential_pipeline"]
    doc = as_pipeline(copy.deepcopy(TRAIN)).spec
    assert validate_spec(doc, check_files=False) == []
