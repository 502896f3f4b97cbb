"""Spec loading and validation: the corpus under tests/specs, normalisation, examples, fuzzing."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import write_model_metadata, write_point_cloud
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vl3d_focal.config import drop_comments, load_spec, parse_spec_text, read_spec_file, validate_spec
from vl3d_focal.config.messages import did_you_mean, json_path, natural_key
from vl3d_focal.config.schemas import generate_schemas
from vl3d_focal.errors import SpecError, SpecIssue

SPECS = Path(__file__).parent / "specs"
EXAMPLES = Path(__file__).parent.parent / "examples"
INPUTS = (
    "data/scene.las",
    "data/scene2.laz",
    "data/other/scene.laz",
    "data/train.las",
    "data/scene.txt",
    "model/model.keras",
)
TRAIN = "$.sequential_pipeline[1]"
LOSS = f"{TRAIN}.model_args.compilation_args.loss"

# file in tests/specs/invalid -> (JSON path, message fragment) it must produce.
EXPECTED = {
    "both_class_weights.yaml": (f"{TRAIN}.model_args.model_handling.class_weight", "keep one"),
    "class_names_length.json": (f"{TRAIN}.model_args.class_names", "expected num_classes (5) names; got 4"),
    "class_names_order.yaml": (f"{TRAIN}.model_args.class_names", "class step's names in its order"),
    "duplicate_key.json": ("$", "duplicate key 'in_pcloud'"),
    "from_logits_false.json": (f"{LOSS}.from_logits", "from_logits must be true"),
    "ignored_code_mapped.json": ("$.sequential_pipeline[0].classes[2].codes[1]", "code 7 is also in ignore_codes"),
    "input_not_a_cloud.yaml": ("$.in_pcloud", "expected a path ending in .las or .laz"),
    "json_syntax.json": ("$", "JSON syntax error at line 4, column 3: Expecting ',' delimiter"),
    "loss_without_class_weights.json": (
        f"{TRAIN}.model_args.model_handling.class_weight",
        "'categorical_crossentropy' does not take class weights",
    ),
    "missing_input.json": ("$.in_pcloud[0]", "file not found"),
    "missing_required.json": ("$", "missing required key 'out_pcloud'"),
    "missing_training_cloud.yaml": (f"{TRAIN}.model_args.model_handling.training_pcloud[1]", "file not found"),
    "model_loader_without_path.yaml": ("$.sequential_pipeline[3]", "missing required key 'model_path'"),
    "monitor_not_logged.json": (
        f"{TRAIN}.model_args.model_handling.checkpoint_monitor",
        "'val_acc' is not logged by this training; did you mean 'val_accuracy'? It logs loss, accuracy, val_loss",
    ),
    "negative_gamma.yaml": (f"{LOSS}.gamma", "-0.5 is less than the minimum of 0"),
    "huge_gamma.yaml": (f"{LOSS}.gamma", "gamma 1e+09: the focal factor (1 - p)^gamma is exactly 0 in float32"),
    "class_weights_all_zero.yaml": (f"{LOSS}.class_weight", "every class weight is 0"),
    "out_pcloud_file.yaml": ("$.out_pcloud", "names one final cloud for 2 input clouds"),
    "star_inside_prefix.yaml": ("$.out_pcloud[0]", "'../out/a*b/*': a '*' stands only at the end of out_pcloud"),
    "non_finite.json": ("$.sequential_pipeline[0].ignore_codes[0]", "expected a finite number; got nan"),
    "not_an_object.json": ("$", "expected an object with in_pcloud"),
    "num_classes_mapping.json": (f"{TRAIN}.model_args.num_classes", "defines 5 classes"),
    "output_over_input.json": ("$.sequential_pipeline[5].out_pcloud", "would overwrite the input"),
    "output_over_run_record.json": (
        "$.sequential_pipeline[4].report_path",
        "o1/report.json is also written by the run itself (its own record)",
    ),
    "output_over_step_file.json": (
        f"{TRAIN}.model_args.model_handling.summary_report_path",
        "o1/training/history.csv is also written by $.sequential_pipeline[1] (a file it writes besides",
    ),
    "overlapping_codes.yaml": (
        "$.sequential_pipeline[0].classes[1].codes[0]",
        "code 2 is already mapped to class 'ground'",
    ),
    "per_cloud_output_without_prefix.yaml": ("$.sequential_pipeline[5].out_pcloud", "start it with '*'"),
    "predict_before_train.json": ("$.sequential_pipeline[1].predict", "needs a train step before it"),
    "prediction_dimension_standard.json": (
        "$.sequential_pipeline[5].prediction_dimension",
        "'X' is a standard LAS dimension; an extra dimension needs another name",
    ),
    "same_name_inputs.json": ("$.in_pcloud", "data/other/scene.laz have the same name"),
    "same_prefix_twice.json": ("$.out_pcloud", "data/scene2.laz would both write their outputs under"),
    "schedule_bad.json": (
        f"{TRAIN}.model_args.compilation_args.optimizer.learning_rate.schedule_args",
        "missing required key 'decay_steps'",
    ),
    "unknown_enum_value.yaml": (
        f"{TRAIN}.model_args.pre_processing.pre_processor",
        "did you mean 'furthest_point_subsampling'?",
    ),
    "unknown_key_typo.yaml": (
        f"{TRAIN}.model_args.model_handling.trainig_epochs",
        "unknown key 'trainig_epochs'; did you mean 'training_epochs'?",
    ),
    "unknown_loss.json": (f"{LOSS}.function", "did you mean 'class_weighted_focal_categorical_crossentropy'?"),
    "unknown_step_kind.json": (TRAIN, "did you mean 'train'?"),
    "unknown_strategy.yaml": (f"{LOSS}.class_weight", "did you mean 'balanced'?"),
    "validation_twice.json": (f"{TRAIN}.model_args.model_handling.validation_split", "not both"),
    "weight_dict_missing_name.json": (f"{LOSS}.class_weight", "missing: ['pole']"),
    "weight_dict_unknown_name.yaml": (f"{LOSS}.class_weight.vegetaton", "did you mean 'vegetation'?"),
    "weight_list_length.json": (f"{LOSS}.class_weight", "expected one weight per class (5); got 2"),
    "wrong_output_count.json": ("$.out_pcloud", "expected 1 output prefix or one per input cloud (2); got 3"),
    "wrong_type.json": (f"{TRAIN}.model_args.num_classes", 'expected integer; got string "5"'),
    "yaml_syntax.yaml": ("$", "YAML syntax error at line 3, column 11"),
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A copy of tests/specs with the input files the specs name (one-point clouds)."""
    shutil.copytree(SPECS, tmp_path / "specs")
    for kind in ("valid", "invalid"):
        for name in INPUTS:
            path = tmp_path / "specs" / kind / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".keras":
                write_model_metadata(path)
            else:
                write_point_cloud(path)
    return tmp_path / "specs"


def _schema_default(*keys: str):
    node = generate_schemas()["pipeline.schema.json"]["$defs"]
    for key in keys:
        node = node[key]
    return node["default"]


def test_every_invalid_spec_has_an_expectation():
    assert sorted(p.name for p in (SPECS / "invalid").iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_spec_reports_path_and_message(corpus: Path, name: str):
    path, fragment = EXPECTED[name]
    spec_file = corpus / "invalid" / name
    with pytest.raises(SpecError) as raised:
        load_spec(spec_file)
    issues = raised.value.issues
    assert all(issue.file == str(spec_file) for issue in issues)
    matching = [i for i in issues if i.path == path and fragment in i.message]
    assert matching, f"no issue at {path} containing {fragment!r}; got:\n{raised.value}"
    assert f"{spec_file}: {path}: " in str(raised.value)


@pytest.mark.parametrize("name", sorted(p.name for p in (SPECS / "valid").iterdir()))
def test_valid_spec_loads(corpus: Path, name: str):
    spec = load_spec(corpus / "valid" / name)
    assert all(os.path.isabs(p) and Path(p).is_file() for p in spec["in_pcloud"])
    assert _all_keys(spec) and not any(key.startswith("_") for key in _all_keys(spec))
    assert validate_spec(spec, check_files=True) == []  # the normalised form is itself valid


def _all_keys(node) -> list[str]:
    if isinstance(node, dict):
        return list(node) + [k for v in node.values() for k in _all_keys(v)]
    if isinstance(node, list):
        return [k for v in node for k in _all_keys(v)]
    return []


def test_normalised_form(corpus: Path):
    folder = corpus / "valid"
    spec = load_spec(folder / "minimal.yaml")
    assert spec["in_pcloud"] == [str(folder / "data" / "scene.las")]
    assert spec["out_pcloud"] == [str(corpus / "out" / "minimal") + os.sep]  # '../out/minimal/*'
    train = spec["sequential_pipeline"][1]
    assert "class_names" not in train["model_args"]  # '_class_names' is a comment
    handling = train["model_args"]["model_handling"]
    assert handling["training_epochs"] == _schema_default(
        "model_args.PointNetPwiseClassifier", "properties", "model_handling", "properties", "training_epochs"
    )
    assert train["model_args"]["pre_processing"]["neighborhood"] == {
        "radius": 2.5,
        "type": "sphere",
        "separation_factor": 0.8,
    }
    loss = train["model_args"]["compilation_args"]["loss"]
    assert loss["class_weight"] == {"ground": 1.0, "other": 3.0}
    loss_schema = generate_schemas()["losses/class_weighted_focal_categorical_crossentropy.schema.json"]
    assert loss["gamma"] == loss_schema["properties"]["gamma"]["default"]
    assert spec["sequential_pipeline"][3]["report_path"] == "*eval/evaluation.json"  # kept for the runner

    other = load_spec(folder / "predict_eval.yaml")
    assert other["sequential_pipeline"][0]["model_path"] == str(folder / "model" / "model.keras")
    assert other["sequential_pipeline"][2]["out_pcloud"] == "*classified.las"
    sgd = load_spec(folder / "schedule_sgd.json")
    handling = sgd["sequential_pipeline"][1]["model_args"]["model_handling"]
    assert handling["validation_pcloud"] == [str(folder / "data" / "scene2.laz")]
    assert handling["class_weight"] == {
        "strategy": "Effective_Number",
        "beta": 0.99,
        "k": 1.02,
        "on_absent_class": "error",
    }
    held_out = load_spec(folder / "held_out_training.yaml")
    handling = held_out["sequential_pipeline"][1]["model_args"]["model_handling"]
    assert held_out["in_pcloud"] == [str(folder / "data" / "scene.las")]
    assert handling["training_pcloud"] == [str(folder / "data" / "train.las")]  # one string made a list
    assert handling["validation_pcloud"] == [str(folder / "data" / "scene2.laz")]


def test_json_and_yaml_are_equivalent(corpus: Path):
    doc, _ = drop_comments(read_spec_file(corpus / "valid" / "demo_like.json"))
    (corpus / "valid" / "same.yaml").write_text(yaml.safe_dump(doc))
    assert load_spec(corpus / "valid" / "same.yaml") == load_spec(corpus / "valid" / "demo_like.json")


def test_given_values_are_kept_and_defaults_idempotent(corpus: Path):
    spec = load_spec(corpus / "valid" / "demo_like.json")
    handling = spec["sequential_pipeline"][1]["model_args"]["model_handling"]
    assert handling["validation_split"] == 0.2 and handling["early_stopping"] == {
        "monitor": "val_loss",
        "patience": 5,
        "min_delta": 0.0,
        "mode": "auto",
        "baseline": None,
        "restore_best_weights": False,
        "start_from_epoch": 0,
    }
    from vl3d_focal.config.normalise import apply_defaults

    assert apply_defaults(spec) == spec


def test_all_errors_at_once_in_natural_order():
    steps = [{"predict": "ModelLoader", "model_path": "m.keras"}] * 11
    steps = [dict(s) for s in steps]
    steps[2]["extra"] = 1
    steps[10]["extra"] = 1
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps, "bogus": True}
    issues = validate_spec(doc, file="f.json", check_files=False)
    assert [i.path for i in issues] == ["$.bogus", "$.sequential_pipeline[2].extra", "$.sequential_pipeline[10].extra"]
    assert all(i.file == "f.json" for i in issues)
    assert sorted(issues, key=natural_key) == issues


@pytest.mark.parametrize("check_files", [True, False])
def test_urls_are_refused_as_inputs_and_outputs_with_what_to_do(tmp_path: Path, check_files: bool):
    cloud = "https://example.org/trees/PinSyl_KA09.laz"  # VL3D reads in_pcloud from http(s) URLs
    doc = {
        "in_pcloud": [cloud, "FTP://example.org/b.las"],
        "out_pcloud": ["out/*", "http://example.org/out/*"],
        "sequential_pipeline": [
            {"predict": "PredictivePipeline", "model_path": "https://example.org/leafwood.pipe"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    issues = {i.path: i.message for i in validate_spec(doc, base_dir=tmp_path, check_files=check_files)}
    download = "vl3d_focal reads local files only, not URLs: download the file first (e.g. curl -O {!r}) and give "
    assert issues == {
        "$.in_pcloud[0]": download.format(cloud) + "the downloaded file's path",
        "$.in_pcloud[1]": download.format("FTP://example.org/b.las") + "the downloaded file's path",
        "$.out_pcloud[1]": "vl3d_focal writes local files only, not URLs: give a local path; got 'http://example.org/out/'",
        "$.sequential_pipeline[0].model_path": download.format("https://example.org/leafwood.pipe")
        + "the downloaded file's path",
    }


def test_training_pcloud_is_an_input_path(tmp_path: Path):
    write_point_cloud(tmp_path / "scene.las")
    write_point_cloud(tmp_path / "train.laz")
    train = {
        "train": "PointNetPwiseClassifier",
        "model_args": {
            "num_classes": 2,
            "pre_processing": {"neighborhood": {"radius": 2.0}},
            "model_handling": {"training_pcloud": ["train.laz", "gone.las"]},
            "compilation_args": {"loss": {"function": "categorical_crossentropy"}},
        },
    }
    doc = {
        "in_pcloud": "scene.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [
            {
                "class_mapping": "LASClassMapping",
                "classes": [{"name": "ground", "codes": [2]}, {"name": "other", "codes": [1, 3, 4, 5, 6]}],
            },
            train,
            {"predict": "PreviousModel"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "train.laz"},
        ],
    }
    at = "$.sequential_pipeline[1].model_args.model_handling.training_pcloud"
    issues = [(i.path, i.message) for i in validate_spec(doc, base_dir=tmp_path)]
    assert issues == [
        (f"{at}[1]", f"file not found: {tmp_path / 'gone.las'}"),
        (
            "$.sequential_pipeline[3].out_pcloud",
            f"this output would overwrite the input {tmp_path / 'train.laz'} ({at}[0])",
        ),
    ]
    # --no-check-files: only the existence check goes
    assert [i.path for i in validate_spec(doc, base_dir=tmp_path, check_files=False)] == [
        "$.sequential_pipeline[3].out_pcloud"
    ]
    train["model_args"]["model_handling"]["training_pcloud"] = "train.txt"
    [issue] = validate_spec(doc, base_dir=tmp_path, check_files=False)
    assert issue.path.startswith(at) and issue.message.startswith("expected a path ending in .las or .laz; got")
    assert issue.message.endswith("train.txt'")


def test_file_existence_is_relative_to_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_point_cloud(tmp_path / "a.las")
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [{"predict": "ModelLoader", "model_path": "m.keras"}],
    }
    assert [i.path for i in validate_spec(doc, base_dir=tmp_path)] == ["$.sequential_pipeline[0].model_path"]
    monkeypatch.chdir(tmp_path)
    assert [i.message for i in validate_spec(doc)] == [f"file not found: {tmp_path / 'm.keras'}"]
    assert validate_spec(doc, check_files=False) == []


def test_parse_problems_are_spec_errors(tmp_path: Path):
    with pytest.raises(SpecError, match="spec file not found"):
        read_spec_file(tmp_path / "nope.json")
    with pytest.raises(SpecError, match="got a folder"):
        read_spec_file(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"a: \xe9t\xe9")
    with pytest.raises(SpecError, match="not UTF-8"):
        read_spec_file(tmp_path / "latin1.yaml")
    doc = parse_spec_text("a: 1\nb: 2\na: 3\n1: x\nd: 2024-01-01\n", yaml_syntax=True)
    cleaned, issues = drop_comments(doc)
    messages = [i.message for i in issues]
    assert "duplicate key 'a' at line 3, column 1 (the last one would win)" in messages
    assert any(m.startswith("keys must be strings; got integer 1 at line 4") for m in messages)
    assert any(i.path == "$.d" and "unsupported value of type date" in i.message for i in issues)
    assert cleaned == {"a": 3, "b": 2, "d": "2024-01-01"}


def test_helpers():
    assert json_path(["a", 0, "b c", "d"]) == "$.a[0]['b c'].d"
    assert did_you_mean("Balanced", ["balanced", "log"]) == "; did you mean 'balanced'?"
    assert did_you_mean("zzz", ["balanced"]) == ""
    assert str(SpecError([SpecIssue("$.a", "bad", "f.yaml")])) == "f.yaml: $.a: bad"


@pytest.mark.parametrize(
    "example", sorted(p for p in EXAMPLES.glob("*") if p.suffix in (".json", ".yaml", ".yml")), ids=lambda p: p.name
)
def test_examples_validate(example: Path):
    # The demo's input is generated when it runs, the IGN ones live in ../shared: existence
    # is checked by `vl3d-focal run`, not here.
    spec = load_spec(example, check_files=False)
    assert spec["in_pcloud"] and all(os.path.isabs(p) for p in spec["in_pcloud"])


def _doc_specs() -> list[tuple[str, str]]:
    """The complete specs (a ``sequential_pipeline``) of the docs' ```json blocks: (page, block)."""
    found = []
    for page in sorted((EXAMPLES.parent / "docs").glob("*.md")):
        for block in page.read_text(encoding="utf-8").split("```json\n")[1:]:
            text = block.split("```", 1)[0]
            if '"sequential_pipeline"' in text:
                found.append((page.name, text))
    return found


@pytest.mark.parametrize("page, block", _doc_specs(), ids=lambda value: value if value.endswith(".md") else "")
def test_doc_specs_validate(page: str, block: str, tmp_path: Path):
    (tmp_path / "spec.json").write_text(block, encoding="utf-8")
    spec = load_spec(tmp_path / "spec.json", check_files=False)
    assert spec["sequential_pipeline"], page


def test_doc_specs_include_the_autoencoder_page():
    assert "autoencoder.md" in {page for page, _ in _doc_specs()}


def test_examples_exist():
    assert (EXAMPLES / "demo_pipeline.json").is_file()


def test_the_demo_baseline_differs_from_the_demo_only_in_its_loss_and_output():
    """examples/demo_cross_entropy.json is the README's compare baseline: the demo's spec, same
    data, features, model and training, with unweighted cross-entropy and its own output folder."""

    def read(name):
        document = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
        document.pop("_comment")
        train = next(step for step in document["sequential_pipeline"] if "train" in step)
        loss = train["model_args"]["compilation_args"].pop("loss")
        return document.pop("out_pcloud"), loss, document

    demo_out, demo_loss, demo = read("demo_pipeline.json")
    base_out, base_loss, base = read("demo_cross_entropy.json")
    assert base == demo
    assert base_loss == {"function": "sparse_categorical_crossentropy"}
    assert demo_loss["function"] == "class_weighted_focal_categorical_crossentropy"
    assert (demo_out, base_out) == (["../out/demo/*"], ["../out/cross_entropy/*"])


# --- fuzzing: only "valid" or SpecError, never another exception -------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
KEYS = [
    "in_pcloud",
    "out_pcloud",
    "sequential_pipeline",
    "train",
    "predict",
    "writer",
    "eval",
    "class_mapping",
    "model_args",
    "loss",
    "function",
    "class_weight",
    "classes",
    "codes",
    "_c",
    "strategy",
]


def _check(doc) -> None:
    issues = validate_spec(doc, file="fuzz.json", check_files=False)
    assert all(isinstance(i, SpecIssue) for i in issues)
    try:
        text = json.dumps(doc)
    except ValueError:
        return
    for yaml_syntax in (False, True):
        try:
            parse_spec_text(text, yaml_syntax=yaml_syntax)
        except SpecError:
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON_VALUES | st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=5))
def test_random_documents_give_issues_not_crashes(doc):
    _check(doc)


def _bases() -> list[dict]:
    files = sorted((SPECS / "valid").glob("*")) + sorted((SPECS / "vl3d").rglob("*.json"))
    files += sorted(p for p in EXAMPLES.glob("*.json"))
    return [drop_comments(read_spec_file(p))[0] for p in files]


BASES = _bases()


def _locations(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _locations(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _locations(value, path + (i,))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_specs_give_issues_not_crashes(data):
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(_locations(doc))))
        if not where:
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = data.draw(JSON_VALUES)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(KEYS))] = data.draw(JSON_VALUES)
    _check(doc)


def test_a_name_a_case_insensitive_pattern_refuses_says_what_was_given_and_what_is_allowed(tmp_path):
    """Before: "'sphre' is not neighborhood type; expected one of: ..." (no article, given first)."""
    from jsonschema import Draft202012Validator

    from vl3d_focal.config.messages import schema_error_messages
    from vl3d_focal.config.pre_processing_schema import pre_processing_schema

    neighborhood = pre_processing_schema()["properties"]["neighborhood"]["properties"]["type"]
    error = next(Draft202012Validator(neighborhood).iter_errors("sphre"))
    assert list(schema_error_messages(error)) == [
        (
            [],
            "expected a neighborhood type, one of: 'sphere', 'cylinder', 'rectangular2D', 'rectangular3D' (in any "
            "case); got 'sphre'; did you mean 'sphere'?",
        )
    ]
    untitled = next(Draft202012Validator({"type": "string", "pattern": "^a+$"}).iter_errors("b"))
    assert list(schema_error_messages(untitled)) == [([], "expected a match of the pattern '^a+$'; got 'b'")]
