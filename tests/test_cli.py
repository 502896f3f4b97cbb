"""The vl3d-focal command line: exit codes, stderr format, no traceback on user errors."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
from pathlib import Path

import pytest
import yaml
from helpers import run_cli, write_point_cloud

import vl3d_focal
import vl3d_focal.config
import vl3d_focal.runner.pipeline
from vl3d_focal import cli
from vl3d_focal.config import schemas
from vl3d_focal.errors import DataError
from vl3d_focal.losses import CLASS_WEIGHT_STRATEGIES
from vl3d_focal.registry import LOSSES, MODELS

SPECS = Path(__file__).parent / "specs"
ISSUE_LINE = re.compile(r"^(?P<file>[^:]+): (?P<path>\$\S*): (?P<message>.+)$")


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture()
def specs(tmp_path: Path) -> Path:
    for name in (
        "valid/demo_like.json",
        "invalid/unknown_key_typo.yaml",
        "invalid/yaml_syntax.yaml",
        "invalid/weight_list_length.json",
    ):
        target = tmp_path / Path(name).name
        target.write_text((SPECS / name).read_text())
    write_point_cloud(tmp_path / "data" / "scene.las")
    return tmp_path


def test_validate_valid_spec(specs: Path, monkeypatch, capsys):
    monkeypatch.chdir(specs)
    assert cli.main(["validate", "demo_like.json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "demo_like.json: valid" and captured.err == ""


def test_validate_exit_codes_and_stderr_format(specs: Path):
    # several specs, an invalid one with several errors: every error, one per line, sorted
    bad = json.loads((specs / "demo_like.json").read_text())
    train = bad["sequential_pipeline"][1]["model_args"]
    train["compilation_args"]["loss"]["gamma"] = -1
    train["num_classes"] = "five"
    bad["sequential_pipeline"][10:] = [{"eval": "ClassificationEvaluator", "repport_path": "x.json"}]
    (specs / "many.json").write_text(json.dumps(bad))
    run = run_cli("validate", "many.json", "demo_like.json", "yaml_syntax.yaml", "unknown_key_typo.yaml", cwd=specs)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert lines and all(ISSUE_LINE.match(line) for line in lines), run.stderr
    parsed = [ISSUE_LINE.match(line).groupdict() for line in lines]
    many = [p["path"] for p in parsed if p["file"] == "many.json"]
    assert many == [
        "$.sequential_pipeline[1].model_args.compilation_args.loss.gamma",
        "$.sequential_pipeline[1].model_args.num_classes",
        "$.sequential_pipeline[6].repport_path",
    ]
    assert any(p["file"] == "yaml_syntax.yaml" and "line 3, column 11" in p["message"] for p in parsed)
    assert any(
        p["file"] == "unknown_key_typo.yaml" and "did you mean 'training_epochs'?" in p["message"] for p in parsed
    )
    assert "demo_like.json: valid" in run.stdout


def test_run_validates_before_any_work(specs: Path):
    run = run_cli("run", "weight_list_length.json", cwd=specs)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [
        "weight_list_length.json: $.sequential_pipeline[1].model_args.compilation_args.loss.class_weight: "
        "expected one weight per class (5); got 2"
    ]
    assert not (specs.parent / "out").exists()


def test_user_errors_have_a_traceback_only_with_debug(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "nope.yaml: $: spec file not found\n"
    for command in (["--debug", "run", "nope.yaml"], ["--debug", "validate", "nope.yaml"]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err and err.endswith("nope.yaml: $: spec file not found\n")


def test_version_and_module_entry_point(tmp_path: Path):
    out = run_cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"vl3d-focal {vl3d_focal.__version__}"


def test_run_calls_the_pipeline_with_the_normalised_spec(specs: Path, monkeypatch, capsys):
    received = []
    monkeypatch.setattr(vl3d_focal.runner.pipeline, "run_pipeline", lambda spec, **options: received.append(spec))
    assert cli.main(["run", str(specs / "demo_like.json")]) == 0
    assert received[0]["in_pcloud"] == [str(specs / "data" / "scene.las")]
    assert received[0]["sequential_pipeline"][2]["out_model"] == "*model/model.keras"

    def failing(spec, **options):
        raise DataError("scene.las: no point has a mapped class")

    monkeypatch.setattr(vl3d_focal.runner.pipeline, "run_pipeline", failing)
    assert cli.main(["run", str(specs / "demo_like.json")]) == 2
    err = capsys.readouterr().err
    assert "vl3d-focal: error: scene.las: no point has a mapped class" in err and "Traceback" not in err


def test_a_failure_names_the_run_page_only_when_this_run_wrote_it(specs: Path, monkeypatch, capsys):
    spec = json.loads((specs / "demo_like.json").read_text())
    spec["out_pcloud"] = ["out/*"]
    (specs / "here.json").write_text(json.dumps(spec))
    page = specs / "out" / "report.html"
    page.parent.mkdir()
    page.write_text("an earlier run's page")
    os.utime(page, ns=(0, 0))

    def failing(spec, *, rewrite: bool, **options):
        if rewrite:
            page.write_text("this run's page")
        raise DataError("out/eval.json: cannot be replaced")

    for rewrite in (False, True):
        monkeypatch.setattr(vl3d_focal.runner.pipeline, "run_pipeline", functools.partial(failing, rewrite=rewrite))
        assert cli.main(["run", str(specs / "here.json")]) == 2
        assert ("what ran, and the error" in capsys.readouterr().err) is rewrite


def test_logging_is_plain_lines_when_not_a_terminal(specs: Path, monkeypatch, capsys):
    monkeypatch.setattr(
        vl3d_focal.runner.pipeline,
        "run_pipeline",
        lambda spec, **options: logging.getLogger("vl3d_focal.x").info("step 1 of 6"),
    )
    assert cli.main(["run", str(specs / "demo_like.json")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert any(
        re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO vl3d_focal\.x: step 1 of 6$", line) for line in lines
    )
    assert logging.getLogger().level == logging.INFO
    cli.main(["list", "models"])
    assert logging.getLogger().level == logging.WARNING
    cli.main(["-vv", "list", "models"])
    assert logging.getLogger().level == logging.DEBUG


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_names_what_it_kept_and_how_to_continue(specs: Path, monkeypatch, capsys, signum, status):
    spec = vl3d_focal.config.load_spec(specs / "demo_like.json")
    checkpoint = Path(spec["out_pcloud"][0]) / "training" / "resume" / "checkpoint.npz"

    def interrupted(spec, **options):
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_bytes(b"kept")
        # Ctrl-C, or a batch scheduler's SIGTERM, raised in this thread: its handler runs before
        # raise_signal returns (os.kill may reach another thread, and the run could end first)
        signal.raise_signal(signum)

    monkeypatch.setattr(vl3d_focal.runner.pipeline, "run_pipeline", interrupted)
    # A background job of a non-interactive shell starts with SIGINT ignored (POSIX), and Python
    # leaves it so: the suite run that way saw no interruption (exit 0). Ctrl-C reaches a run
    # started from a terminal, whose SIGINT has Python's handler: the test gives it that handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["run", str(specs / "demo_like.json")]) == status  # 128 + the signal, as shells say
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"vl3d-focal: interrupted; the training checkpoint {checkpoint} was kept; continue with: "
        f"vl3d-focal run {specs / 'demo_like.json'} --resume"
    )
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_list_commands(capsys):
    assert cli.main(["list", "losses"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == LOSSES.names()
    for line, entry in zip(lines, LOSSES.entries()):
        assert entry.description in line and f"label_format={entry.metadata['label_format']}" in line
    cli.main(["list", "models"])
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == MODELS.names()
    cli.main(["list", "class-weights"])
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert names[: len(CLASS_WEIGHT_STRATEGIES)] == list(CLASS_WEIGHT_STRATEGIES) and "auto" in names
    assert all(len(line.split()) > 1 for line in out)  # each with a description


def test_schema_command(tmp_path: Path, capsys):
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schemas.generate_schemas()["pipeline.schema.json"]
    assert cli.main(["schema", "--name", "class_weight.schema.json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "class weights"
    assert cli.main(["schema", "--write", str(tmp_path)]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("**/*.json")}
    assert written == set(schemas.generate_schemas())


@pytest.mark.parametrize("name", ["starter.yaml", "starter.json"])
def test_init_writes_a_spec_that_only_lacks_its_input(tmp_path: Path, capsys, name: str):
    path = tmp_path / "sub" / name
    assert cli.main(["init", str(path)]) == 0
    text = path.read_text()
    if name.endswith(".yaml"):
        assert text.count("# ") > 10  # commented
    else:
        assert "_comment" in json.loads(text) and all("_comment" in s for s in json.loads(text)["sequential_pipeline"])
    capsys.readouterr()
    assert cli.main(["validate", "--no-check-files", str(path)]) == 0
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{path}: $.in_pcloud[0]: file not found: {tmp_path / 'sub' / 'data' / 'my_cloud.laz'}"]
    assert cli.main(["init", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_init_to_stdout(capsys):
    assert cli.main(["init"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["sequential_pipeline"][1]["train"] == "PointNetPwiseClassifier"


def test_the_interruption_note_of_a_survey_and_of_a_training_spec(tmp_path: Path):
    from vl3d_focal.runner.interruption_note import interruption_note

    predict = [{"predict": "ModelLoader", "model_path": "m.keras"}]
    train = [{"train": "PointNetPwiseClassifier"}, *predict]
    prefix = [f"{tmp_path}/out/"]

    def note(clouds: int, steps: list) -> str:
        spec = {"in_pcloud": [f"t{i}.laz" for i in range(clouds)], "out_pcloud": prefix, "sequential_pipeline": steps}
        return interruption_note(spec, spec_file="s.json")

    resume = "continue with: vl3d-focal run s.json --resume (the tiles already done are skipped)"
    assert note(4, predict) == resume  # a survey without training: no word of checkpoints
    assert note(1, predict) == "run it again: vl3d-focal run s.json"
    assert note(1, train) == "no training checkpoint was kept; run it again: vl3d-focal run s.json"
    assert note(4, train) == f"no training checkpoint was kept; {resume}"
    checkpoint = tmp_path / "out" / "training" / "resume" / "checkpoint.npz"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"kept")
    kept = f"the training checkpoint {checkpoint} was kept"
    assert note(1, train) == f"{kept}; continue with: vl3d-focal run s.json --resume"
    assert note(4, train) == f"{kept}; {resume}"
    assert note(4, predict) == resume


@pytest.mark.parametrize("name", ["starter.yaml", "starter.json"])
def test_the_starter_offers_an_executor_that_validates_once_renamed(tmp_path: Path, capsys, name: str):
    path = tmp_path / name
    assert cli.main(["init", str(path)]) == 0
    text = path.read_text()
    assert "_executor" in text
    renamed = tmp_path / f"renamed_{name}"
    renamed.write_text(text.replace("_executor", "executor"))
    spec = vl3d_focal.config.load_spec(renamed, check_files=False)
    assert spec["executor"] == {"engine": "dask", "workers": 4, "threads_per_worker": 1, "scheduler": None}
    assert vl3d_focal.config.load_spec(path, check_files=False)["executor"]["engine"] == "local"  # a comment as written


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["run", "focal.json", "--overwite"], "--overwite (did you mean --overwrite?)"),
        (["validate", "a.json", "--no-chek-files"], "--no-chek-files (did you mean --no-check-files?)"),
        (["demo", "--ovewrite=1"], "--ovewrite=1 (did you mean --overwrite?)"),
        (["compare", "a", "--fromat", "csv"], "--fromat (did you mean --format?)"),
        (["init", "--forse"], "--forse (did you mean --force?)"),
    ],
)
def test_a_mistyped_option_is_answered_with_the_closest_one(argv: list[str], suggestion: str, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"vl3d-focal {argv[0]}: error: unrecognized arguments: {suggestion}" in err
    assert "Traceback" not in err


def test_an_unknown_option_without_a_close_one_gets_no_suggestion(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["list", "losses", "--zzzzzz"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --zzzzzz" in err and "did you mean" not in err
