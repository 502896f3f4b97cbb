"""Schema files: one source of truth (registries), draft 2020-12, offline $ref, shipped in the wheel."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from vl3d_focal import cli
from vl3d_focal.config import schema_files, schemas, validate_spec
from vl3d_focal.config.normalise import apply_defaults, inline_refs
from vl3d_focal.config.starter import starter_spec
from vl3d_focal.errors import RegistryError
from vl3d_focal.registry import LOSSES, MODELS, RegistryEntry

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "config_schemas"


def _nodes(node, path=()):
    """Every (path, dict) in a JSON document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key not in ("default", "const", "enum", "examples"):
                yield from _nodes(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, path + (i,))


def test_files_on_disk_equal_generated():
    generated = schemas.generate_schemas()
    on_disk = {
        p.relative_to(SCHEMA_DIR).as_posix(): json.loads(p.read_text()) for p in SCHEMA_DIR.glob("**/*.schema.json")
    }
    assert sorted(on_disk) == sorted(generated), "regenerate: vl3d-focal schema --write config_schemas"
    for name, schema in generated.items():
        assert on_disk[name] == schema, f"{name} is stale: vl3d-focal schema --write config_schemas"


def test_every_file_is_draft_2020_12_with_id():
    for name, schema in schemas.generate_schemas().items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == schemas.SCHEMA_BASE + name
        assert schema["description"]


def test_properties_have_descriptions_and_valid_defaults():
    generated = schemas.generate_schemas()
    checked = 0
    for name, schema in generated.items():
        for path, node in _nodes(schema):
            for prop, sub in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else []:
                if path[-1:] in (("if",), ("then",)):  # dispatch rules refine declared properties
                    continue
                assert sub.get("description") or sub.get("const") is not None, f"{name} {path} {prop}"
                if "default" in sub:
                    inlined = inline_refs({"$id": schema["$id"], **sub}, schemas=generated)
                    assert Draft202012Validator(inlined).is_valid(sub["default"]), f"{name} {path} {prop}"
                    checked += 1
    assert checked > 40


def test_step_objects_are_closed():
    defs = schemas.generate_schemas()["pipeline.schema.json"]["$defs"]
    closed = [k for k in defs if k.startswith("model_args.")]
    for kind, entries in schemas.steps_by_kind().items():
        closed += [f"{kind}_step" if entry.name == kind else f"{kind}.{entry.name}" for entry in entries]
    assert len(closed) >= 8
    for key in closed:
        assert defs[key]["additionalProperties"] is False, key
        for path, node in _nodes(defs[key]):
            if node.get("type") == "object" and "properties" in node and path[-1:] != ("if",):
                assert node.get("additionalProperties") is False, (key, path)


def test_loss_is_chosen_with_if_then_from_the_registry():
    generated = schemas.generate_schemas()
    pipeline = generated["pipeline.schema.json"]
    assert "oneOf" not in json.dumps(pipeline)
    loss = pipeline["$defs"]["loss"]
    assert loss["properties"]["function"]["enum"] == LOSSES.names()
    refs = {rule["if"]["properties"]["function"]["const"]: rule["then"]["$ref"] for rule in loss["allOf"]}
    assert refs == {name: f"losses/{name}.schema.json" for name in LOSSES.names()}
    for entry in LOSSES.entries():
        shipped = generated[refs[entry.name]]
        assert shipped["properties"].keys() == entry.schema["properties"].keys()
        for prop, sub in entry.schema["properties"].items():
            if "$ref" in sub:  # made relative to losses/
                assert shipped["properties"][prop]["$ref"] == "../" + sub["$ref"]
            else:
                assert shipped["properties"][prop] == sub
        assert "reduction" in shipped["properties"]


def test_model_arguments_come_from_the_registry():
    defs = schemas.generate_schemas()["pipeline.schema.json"]["$defs"]
    for entry in MODELS.entries():
        props = defs[f"model_args.{entry.name}"]["properties"]
        for name, sub in entry.schema["properties"].items():
            assert props[name] == sub
        assert {"num_classes", "model_handling"} <= props.keys()
        # what the metadata says the model takes: a loss (compilation_args), receptive fields
        assert ("compilation_args" in props) == entry.metadata.get("takes_loss", True)
        assert ("pre_processing" in props) == (entry.metadata.get("samples", "fields") == "fields")


def test_refs_resolve_offline():
    generated = schemas.generate_schemas()
    registry = schemas.schema_registry(schemas=generated)
    count = 0
    for name, schema in generated.items():
        resolver = registry.resolver(base_uri=schema["$id"])
        for _, node in _nodes(schema):
            if isinstance(node.get("$ref"), str):
                assert resolver.lookup(node["$ref"]).contents, (name, node["$ref"])
                count += 1
    assert count >= len(LOSSES.names()) + 5


def test_load_schema_reads_the_shipped_files():
    assert schemas.load_schema("pipeline.schema.json") == json.loads((SCHEMA_DIR / "pipeline.schema.json").read_text())
    assert "losses/class_weighted_focal_categorical_crossentropy.schema.json" in schemas.shipped_schema_names()
    with pytest.raises(RegistryError, match="shipped: class_weight.schema.json"):
        schemas.load_schema("nope.json")


def test_write_schemas_replaces_stale_files(tmp_path: Path):
    (tmp_path / "losses").mkdir()
    stale = tmp_path / "losses" / "removed_loss.schema.json"  # what an earlier write wrote for a removed loss
    stale.write_text(json.dumps({"$id": schemas.SCHEMA_BASE + "losses/removed_loss.schema.json"}))
    written = schema_files.write_schemas(folder=tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(schemas.generate_schemas())
    assert not stale.exists()


def test_write_schemas_keeps_the_files_it_did_not_write(tmp_path: Path):
    theirs = {
        "package.schema.json": '{"title": "a package"}',
        "other/deep/invoice.schema.json": "{}",
        "losses/user_loss.schema.json": '{"$id": "https://example.org/user_loss.schema.json"}',
        "losses/broken.schema.json": "not JSON",
        "other/losses/gone.schema.json": json.dumps({"$id": schemas.SCHEMA_BASE + "losses/gone.schema.json"}),
    }
    for name, text in theirs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    schema_files.write_schemas(folder=tmp_path)
    assert {name: (tmp_path / name).read_text() for name in theirs} == theirs
    assert not list(tmp_path.glob("**/*.partial*")) and not list(tmp_path.glob("**/.*"))


def test_write_schemas_writes_what_config_schemas_holds(tmp_path: Path):
    schema_files.write_schemas(folder=tmp_path)
    for name, schema in schemas.generate_schemas().items():
        assert (tmp_path / name).read_text(encoding="utf-8") == json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("afile/sub", "schema --write {tmp}/afile/sub: cannot write there (Not a directory"),
        ("afile", "schema --write {tmp}/afile: cannot write there (File exists"),
        ("proj/init.json", "schema --write {tmp}/proj/init.json: expected a folder to write the schema files in"),
    ],
)
def test_schema_write_to_a_file_is_one_line(tmp_path: Path, capsys, folder: str, message: str):
    (tmp_path / "afile").write_text("mine")
    assert cli.main(["schema", "--write", str(tmp_path / folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("vl3d-focal: error: " + message.format(tmp=tmp_path))
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert (tmp_path / "afile").read_text() == "mine" and not (tmp_path / "proj").exists()


def test_schema_write_to_an_empty_folder_name_is_one_line_and_writes_nothing(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" would be the current folder
    assert cli.main(["schema", "--write", ""]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and list(tmp_path.iterdir()) == []
    assert (
        captured.err
        == 'vl3d-focal: error: schema --write "": cannot write there (an empty folder name); give a folder\n'
    )


def test_init_force_replaces_the_file_and_refuses_a_folder(tmp_path: Path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("old")
    assert cli.main(["init", str(spec), "--force"]) == 0
    assert spec.read_text() == starter_spec(as_json=False) and sorted(tmp_path.iterdir()) == [spec]
    capsys.readouterr()
    (tmp_path / "folder.yaml").mkdir()
    assert cli.main(["init", str(tmp_path / "folder.yaml"), "--force"]) == 2
    err = capsys.readouterr().err
    assert err == f"vl3d-focal: error: output {tmp_path / 'folder.yaml'}: is an existing folder; expected a file path\n"


def _plugin_loss(**kwargs):  # a plugin builder: keyword arguments only
    return kwargs


def test_plugin_loss_gets_a_schema_and_is_validated(monkeypatch: pytest.MonkeyPatch):
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["function"],
        "properties": {
            "function": {"const": "plugin_loss", "description": "name"},
            "alpha": {"type": "number", "minimum": 1, "default": 2.0, "description": "a"},
            "class_weight": {"$ref": "class_weight.schema.json"},
        },
    }
    entry = RegistryEntry(
        name="plugin_loss",
        builder=_plugin_loss,
        schema=schema,
        description="a plugin",
        metadata={"label_format": "sparse", "takes_class_weight": True},
    )
    monkeypatch.setitem(LOSSES._entries, "plugin_loss", entry)
    active = schemas.active_schemas()
    assert (
        active["losses/plugin_loss.schema.json"]["properties"]["class_weight"]["$ref"] == "../class_weight.schema.json"
    )
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": [{"name": "a", "codes": [1]}, {"name": "b", "codes": [2]}]},
            {
                "train": "PointNetPwiseClassifier",
                "model_args": {
                    "num_classes": 2,
                    "pre_processing": {"neighborhood": {"radius": 1.0}},
                    "compilation_args": {"loss": {"function": "plugin_loss", "alpha": 0.5, "class_weight": "balancd"}},
                },
            },
        ],
    }
    issues = {i.path: i.message for i in validate_spec(doc, check_files=False)}
    loss = "$.sequential_pipeline[1].model_args.compilation_args.loss"
    assert issues.keys() == {f"{loss}.alpha", f"{loss}.class_weight"}
    assert "less than the minimum of 1" in issues[f"{loss}.alpha"]
    assert "did you mean 'balanced'?" in issues[f"{loss}.class_weight"]
    del doc["sequential_pipeline"][1]["model_args"]["compilation_args"]["loss"]["alpha"]
    doc["sequential_pipeline"][1]["model_args"]["compilation_args"]["loss"]["class_weight"] = "AUTO"
    assert validate_spec(doc, check_files=False) == []
    filled = apply_defaults(doc)
    assert filled["sequential_pipeline"][1]["model_args"]["compilation_args"]["loss"]["alpha"] == 2.0


def _can_build_wheels() -> str | None:
    for module in ("build", "wheel", "setuptools"):
        if importlib.util.find_spec(module) is None:
            return f"the '{module}' package is not installed (pip install build wheel setuptools)"
    return None


@pytest.mark.skipif(_can_build_wheels() is not None, reason=str(_can_build_wheels()))
def test_wheel_ships_schemas_and_validates_outside_the_tree(tmp_path: Path):
    source = tmp_path / "source"  # build from a copy: the build writes build/ and *.egg-info
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "vl3d_focal", "config_schemas", "examples"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        elif (REPO / name).is_file():
            shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    # --skip-dependency-check: build with this environment's setuptools, whatever its version
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--skip-dependency-check",
            "--outdir",
            str(dist),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next(dist.glob("vl3d_focal-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # dependencies from this environment, after the venv's own site-packages
    Path(purelib, "zz_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "examples" / "demo_pipeline.json", work / "spec.json")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    check = (
        "import vl3d_focal, vl3d_focal.config.schemas as s; print(vl3d_focal.__file__); "
        "print(s.load_schema('pipeline.schema.json') == s.generate_schemas()['pipeline.schema.json'])"
    )
    out = subprocess.run([str(python), "-c", check], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    module_file, same = out.stdout.split()
    assert Path(module_file).is_relative_to(venv) and same == "True"
    run = subprocess.run(
        [str(python), "-m", "vl3d_focal", "validate", "--no-check-files", "spec.json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    demo = subprocess.run(
        [str(python), "-c", "from vl3d_focal.runner.demo import demo_spec_text as t; print(len(t()))"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0 and int(demo.stdout) > 1000, demo.stderr  # the demo spec ships in the wheel
    assert run.stdout.strip() == "spec.json: valid"
