"""Input clouds as glob patterns and folders, the executor object and its command-line
overrides (issue 14); all TensorFlow-free."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_model_metadata, write_point_cloud

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.errors import SpecError
from vl3d_focal.runner.executor import ExecutorSettings, with_overrides
from vl3d_focal.runner.outputs import output_files

STEPS = [
    {"predict": "ModelLoader", "model_path": "m.keras"},
    {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
]


@pytest.fixture()
def tiles(tmp_path: Path) -> Path:
    for name in ("survey/b/t3.laz", "survey/a/t2.LAS", "survey/a/t1.laz", "loose.las"):
        write_point_cloud(tmp_path / name)
    (tmp_path / "survey" / "a" / "notes.txt").write_bytes(b"")
    write_model_metadata(tmp_path / "m.keras")
    return tmp_path


def _spec(folder: Path, inputs, **extra) -> Path:
    path = folder / "spec.json"
    path.write_text(json.dumps({"in_pcloud": inputs, "out_pcloud": "out/*", "sequential_pipeline": STEPS, **extra}))
    return path


def test_patterns_and_folders_expand_sorted_relative_to_the_spec(tiles: Path, monkeypatch):
    monkeypatch.chdir("/")  # relative to the spec's folder, not the working folder
    spec = load_spec(_spec(tiles, ["survey/**/*.laz", "survey/a", "loose.las"]))
    names = [Path(p).relative_to(tiles).as_posix() for p in spec["in_pcloud"]]
    assert names == ["survey/a/t1.laz", "survey/b/t3.laz", "survey/a/t2.LAS", "loose.las"]  # each file once
    assert all(Path(p).is_absolute() for p in spec["in_pcloud"])
    assert [Path(p).relative_to(tiles).as_posix() for p in load_spec(_spec(tiles, "survey/a"))["in_pcloud"]] == [
        "survey/a/t1.laz",
        "survey/a/t2.LAS",
    ]
    # one prefix for several clouds: each cloud's outputs under <prefix><stem>/, the survey record under the prefix
    files = [p.relative_to(tiles).as_posix() for p in output_files(spec)]
    assert files[:6] == [
        "out/t1/predicted.laz",
        "out/t3/predicted.laz",
        "out/t2/predicted.laz",
        "out/loose/predicted.laz",
        "out/survey.json",
        "out/survey.geojson",
    ]


def test_an_empty_expansion_is_a_clear_error(tiles: Path):
    (tiles / "empty").mkdir()
    with pytest.raises(SpecError) as caught:
        load_spec(_spec(tiles, ["survey/c/*.laz", "empty", "survey/a/t1.laz", "no_such_folder"]))
    messages = [str(issue) for issue in caught.value.issues]
    assert len(messages) == 3, messages
    assert "$.in_pcloud[0]: the pattern" in messages[0] and "matches no file" in messages[0]
    assert "$.in_pcloud[1]: the folder" in messages[1] and "holds no .las or .laz file" in messages[1]
    assert messages[2].endswith(f"$.in_pcloud[3]: folder not found: {tiles / 'no_such_folder'}"), messages[2]
    # without file checks (the demo's inputs do not exist yet) patterns are no error
    assert (
        validate_spec(
            {"in_pcloud": "x/*.laz", "out_pcloud": "o/", "sequential_pipeline": STEPS},
            base_dir=tiles,
            check_files=False,
        )
        == []
    )


def test_executor_defaults_validation_and_overrides(tiles: Path):
    spec = load_spec(_spec(tiles, "survey/a"))
    assert spec["executor"] == {"engine": "local", "workers": None, "threads_per_worker": 1, "scheduler": None}
    assert ExecutorSettings.from_spec(spec) == ExecutorSettings("local", None, 1, None)
    dask = with_overrides(spec, workers=3, scheduler=None)
    assert dask["executor"] == {"engine": "dask", "workers": 3, "threads_per_worker": 1, "scheduler": None}
    assert spec["executor"]["engine"] == "local"  # a copy
    remote = with_overrides(spec, workers=None, scheduler="tcp://10.0.0.1:8786")
    assert (remote["executor"]["engine"], remote["executor"]["scheduler"]) == ("dask", "tcp://10.0.0.1:8786")
    assert with_overrides(spec, workers=None, scheduler=None) == spec
    with pytest.raises(SpecError) as caught:
        load_spec(
            _spec(tiles, "survey/a", executor={"engine": "local", "scheduler": "tcp://h:1", "workers": 0, "thread": 2})
        )
    messages = sorted(str(issue).split(": ", 1)[1] for issue in caught.value.issues)
    assert any(m.startswith("$.executor.scheduler: a scheduler address needs") for m in messages), messages
    assert any(m.startswith("$.executor.workers:") for m in messages), messages
    assert any("'thread'" in m and "threads_per_worker" in m for m in messages), messages


def test_a_per_cloud_step_needing_predictions_must_share_their_run(tiles: Path):
    steps = [
        {"predict": "ModelLoader", "model_path": "m.keras"},
        {"writer": "PredictiveModelWriter", "out_model": "*model.keras"},
        {"eval": "ClassificationEvaluator"},
    ]
    issues = validate_spec(
        {"in_pcloud": "survey/a", "out_pcloud": "o/", "sequential_pipeline": steps}, base_dir=tiles, check_files=False
    )
    assert [i.path for i in issues] == ["$.sequential_pipeline[2].eval"]
    assert "needs the predictions of a per-cloud step in the same run" in issues[0].message


def test_run_takes_workers_and_scheduler():
    from vl3d_focal.cli import build_parser

    args = build_parser().parse_args(["run", "s.yaml", "--workers", "3", "--scheduler", "tcp://10.0.0.1:8786"])
    assert (args.workers, args.scheduler, args.resume) == (3, "tcp://10.0.0.1:8786", False)
    assert build_parser().parse_args(["run", "s.yaml"]).workers is None


def test_a_pattern_that_matches_an_earlier_runs_outputs_says_so(tiles: Path):
    for stem in ("t1", "t3"):  # what a run of out_pcloud "survey/out/*" wrote
        (tiles / "survey" / "out" / stem).mkdir(parents=True)
        (tiles / "survey" / "out" / stem / "predicted.laz").write_bytes(b"")
    path = tiles / "spec.json"
    path.write_text(
        json.dumps({"in_pcloud": "survey/**/*.laz", "out_pcloud": "survey/out/*", "sequential_pipeline": STEPS})
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}: $.in_pcloud: {tiles / 'survey/out/t1/predicted.laz'} lies under this spec's outputs (a cloud an "
        "earlier run wrote, matched by an in_pcloud pattern or folder); narrow the pattern, or write the outputs "
        "elsewhere"
    ]


def test_an_issue_names_the_entry_as_written_not_its_place_after_expansion(tiles: Path):
    (tiles / "empty").mkdir()
    inputs = ["survey/a", "nomatch_*.laz", "missing.laz", "empty", "survey/a/t1.laz", "survey/b"]
    issues = validate_spec(
        {"in_pcloud": inputs, "out_pcloud": "out/*", "sequential_pipeline": STEPS}, base_dir=tiles, check_files=True
    )
    paths = {issue.path: issue.message for issue in issues}
    # survey/a gives 2 clouds: without the mapping these were in_pcloud[2], [3] and [4]
    assert sorted(paths) == ["$.in_pcloud[1]", "$.in_pcloud[2]", "$.in_pcloud[3]"], paths
    assert "the pattern" in paths["$.in_pcloud[1]"] and "nomatch_*.laz' matches no file" in paths["$.in_pcloud[1]"]
    assert paths["$.in_pcloud[2]"] == f"file not found: {tiles / 'missing.laz'}"
    assert "holds no .las or .laz file" in paths["$.in_pcloud[3]"]
    # one string standing for several clouds: the issue is at the string itself
    issues = validate_spec(
        {"in_pcloud": "survey/**/*.las", "out_pcloud": "out/*", "sequential_pipeline": STEPS}, base_dir=tiles
    )
    assert [issue.path for issue in issues] == ["$.in_pcloud"]


def test_validate_prints_a_glob_s_report_path_clash_once(tiles: Path, capsys):
    from vl3d_focal import cli

    steps = [STEPS[0], {"eval": "ClassificationEvaluator", "report_path": "eval/report.json", "pictures": False}]
    spec = _spec(tiles, "survey/a/t*", sequential_pipeline=steps)
    assert cli.main(["validate", str(spec)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{spec}: $.sequential_pipeline[1].report_path: '{tiles / 'eval/report.json'}' would be written once per "
        "input cloud (2), each overwriting the last; start it with '*' to write under each cloud's prefix"
    ]


def test_without_file_checks_no_input_pattern_nor_folder_is_listed(tiles: Path, monkeypatch):
    inputs = ["survey/a", "survey/**/*.laz", "nomatch_*.laz", "no_such_folder"]
    steps = [*STEPS, {"writer": "PredictionsWriter", "out_preds": "labels.lbl"}]
    spec = {"in_pcloud": inputs, "out_pcloud": "out/*", "sequential_pipeline": steps}
    checked = validate_spec(spec, base_dir=tiles)
    assert [issue.path for issue in checked] == [
        "$.in_pcloud[2]",
        "$.in_pcloud[3]",
        "$.sequential_pipeline[2].out_preds",
    ]
    assert "once per input cloud (5)" in checked[2].message  # 3 clouds listed, 2 entries of none

    def listed(*args, **kwargs):
        raise AssertionError("the file system was read")

    monkeypatch.setattr("vl3d_focal.config.inputs.expand_cloud_path", listed)
    monkeypatch.setattr("os.path.isdir", listed)
    assert validate_spec(spec, base_dir=tiles, check_files=False) == []  # no entry an issue, the clouds uncounted
    listed = {**spec, "in_pcloud": ["loose.las", "survey/a/t1.laz", "survey/a"]}  # 2 clouds listed, a folder's not
    unread = validate_spec(listed, base_dir=tiles, check_files=False)
    assert [issue.path for issue in unread] == ["$.sequential_pipeline[2].out_preds"]
    assert "once per input cloud (at least 2)" in unread[0].message
    assert validate_spec({**spec, "in_pcloud": "survey/**/*.laz"}, base_dir=tiles, check_files=False) == []
    assert [str(i) for i in validate_spec({**spec, "in_pcloud": "a/t1.txt"}, base_dir=tiles, check_files=False)] == [
        f"$.in_pcloud: expected a path ending in .las or .laz; got '{tiles / 'a/t1.txt'}'"
    ]


@pytest.mark.parametrize("inputs", ["survey/a/t*", "survey/a", ["survey/a/", "survey/b/t3.laz"]])
def test_without_file_checks_an_unlisted_pattern_or_folder_may_have_a_prefix_per_cloud(tiles: Path, inputs, capsys):
    from vl3d_focal import cli

    prefixes = ["out/x/", "out/y/", "out/z/"][: 2 if isinstance(inputs, str) else 3]  # one per cloud
    spec = _spec(tiles, inputs, out_pcloud=prefixes)
    assert cli.main(["validate", str(spec)]) == 0
    assert cli.main(["validate", str(spec), "--no-check-files"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("prefixes", "checked", "unchecked"),
    [
        (["x/", "y/"], "one per input cloud (3); got 2", "one per input cloud (at least 3); got 2"),
        (["x/", "y/", "./x/"], "would both write their outputs under '{tiles}/x/'", "'{tiles}/x/' is given twice"),
        ("o.laz", "one final cloud for 3 input clouds", "one final cloud for at least 3 input clouds"),
    ],
)
def test_without_file_checks_a_count_mistake_certain_whatever_a_pattern_matches_is_refused(
    tiles: Path, prefixes, checked: str, unchecked: str
):
    inputs = ["loose.las", "survey/a/t1.laz", "survey/b/t3.laz", "survey/**/*.laz"]  # the pattern: nothing more
    spec = {"in_pcloud": inputs, "out_pcloud": prefixes, "sequential_pipeline": STEPS}
    for check_files, expected in ((True, checked), (False, unchecked)):
        issues = validate_spec(spec, base_dir=tiles, check_files=check_files)
        assert [issue.path for issue in issues] == ["$.out_pcloud"]
        assert expected.format(tiles=tiles) in issues[0].message


def test_without_file_checks_prefixes_one_per_cloud_count_the_clouds(tiles: Path):
    """Two prefixes for a pattern: the run has two clouds (or fails), so a per-cloud output
    without '*' overwrites itself, as with the clouds listed."""
    steps = [*STEPS[:-1], {"writer": "ClassifiedPcloudWriter", "out_pcloud": "predicted.laz"}]
    spec = {"in_pcloud": ["survey/a/t*"], "out_pcloud": ["x/", "y/"], "sequential_pipeline": steps}
    for check_files, count in ((True, "(2)"), (False, "(at least 2)")):
        issues = validate_spec(spec, base_dir=tiles, check_files=check_files)
        assert [issue.message for issue in issues if f"once per input cloud {count}" in issue.message], issues


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("head-node", "(no port; a scheduler started with 'dask scheduler' listens on 8786: 'head-node:8786')"),
        (
            "tcp://head-node",
            "(no port; a scheduler started with 'dask scheduler' listens on 8786: 'tcp://head-node:8786')",
        ),
        ("http://h:8786", "(unknown scheme 'http'; expected one of tcp, tls, ws, wss, ucx)"),
        ("tcp://h:port", "(the port 'port' is not a number from 1 to 65535)"),
        ("tcp://h:70000", "(the port '70000' is not a number from 1 to 65535)"),
        ("fe80::1:8786", "(an IPv6 host is written in brackets: [::1]:8786)"),
        (":8786", "(no host name)"),
    ],
)
def test_a_scheduler_address_dask_cannot_parse_is_refused_at_validation(tiles: Path, address: str, why: str):
    executor = {"engine": "dask", "scheduler": address}
    issues = validate_spec(
        {"in_pcloud": "survey/a", "out_pcloud": "out/*", "sequential_pipeline": STEPS, "executor": executor},
        base_dir=tiles,
    )
    assert [(i.path, i.message) for i in issues] == [
        ("$.executor.scheduler", f"expected a Dask scheduler address [SCHEME://]HOST:PORT; got {address!r} {why}")
    ]


@pytest.mark.parametrize(
    "address", ["tcp://head-node:8786", "head-node:8786", "tls://10.0.0.1:8786", "ws://[::1]:8787"]
)
def test_the_addresses_dask_takes_are_valid(tiles: Path, address: str):
    from distributed.comm.addressing import parse_address, parse_host_port

    parse_host_port(parse_address(address)[1])  # Dask parses it too
    executor = {"engine": "dask", "scheduler": address}
    spec = {"in_pcloud": "survey/a", "out_pcloud": "out/*", "sequential_pipeline": STEPS, "executor": executor}
    assert validate_spec(spec, base_dir=tiles) == []


def test_run_refuses_a_bad_scheduler_address_without_a_traceback(tiles: Path, capsys):
    from vl3d_focal import cli

    spec = _spec(tiles, "survey/a")
    assert cli.main(["run", str(spec), "--scheduler", "notanaddress"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "vl3d-focal: error: --scheduler: expected a Dask scheduler address [SCHEME://]HOST:PORT; got 'notanaddress' "
        "(no port; a scheduler started with 'dask scheduler' listens on 8786: 'notanaddress:8786')"
    )
    assert "Traceback" not in err and not (tiles / "out").exists()
    in_spec = _spec(tiles, "survey/a", executor={"engine": "dask", "workers": 2, "scheduler": "head-node"})
    assert cli.main(["run", str(in_spec)]) == 2
    err = capsys.readouterr().err
    assert f"{in_spec}: $.executor.scheduler: expected a Dask scheduler address" in err and "Traceback" not in err
    assert not (tiles / "out").exists()


def test_any_failure_to_connect_to_a_scheduler_is_a_data_error(monkeypatch):
    import dask.distributed

    from vl3d_focal.errors import DataError
    from vl3d_focal.runner.executor import DaskExecutor

    def refuse(address, **options):
        raise ValueError(f"missing port number in address {address!r}")  # what Dask raised before validation did

    monkeypatch.setattr(dask.distributed, "Client", refuse)
    with pytest.raises(DataError, match=r"^executor.scheduler: cannot connect to the Dask scheduler at 'tcp://h:1' "):
        DaskExecutor(ExecutorSettings("dask", None, 1, "tcp://h:1"))
