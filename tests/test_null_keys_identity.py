"""An optional key that the package adds with a null default (filled into every normalised spec)
changes neither the identity of a spec's run nor that of its training checkpoint: an output
folder, and ``--resume``, of a run made before the key existed still belong to the same spec;
a real difference is still refused, and named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_resume import small_spec

from vl3d_focal import cli
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.errors import DataError
from vl3d_focal.runner.manifest import RunManifest
from vl3d_focal.runner.owned_files import OutputsTaken
from vl3d_focal.runner.spec_identity import spec_fingerprint
from vl3d_focal.training import engine
from vl3d_focal.training.checkpoint_match import (
    checkpoint_fingerprint,
    checkpoint_identity,
    earlier_fingerprints,
    fingerprint,
)
from vl3d_focal.training.checkpoints import resume_state

NEW_KEY = "training_receptive_fields_dir"


def _without_key(value: Any, key: str = NEW_KEY) -> Any:
    """``value`` as a version before ``key`` existed wrote it (nulls of the other keys kept)."""
    if isinstance(value, dict):
        return {k: _without_key(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without_key(v, key) for v in value]
    return value


def _spec(folder: Path, *, gamma: float = 2.0, **pre_processing: Any) -> dict:
    loss = {"function": "class_weighted_focal_categorical_crossentropy", "gamma": gamma}
    args = {"pre_processing": {"num_points": 32, **pre_processing}, "compilation_args": {"loss": loss}}
    train = {"train": "M", "model_args": {**args, "model_handling": {"training_epochs": 4}}}
    return {"in_pcloud": [], "out_pcloud": [f"{folder}/"], "sequential_pipeline": [train]}


def test_a_run_recorded_without_a_key_the_spec_has_as_null_is_the_same_run(tmp_path: Path):
    first = RunManifest(_spec(tmp_path), spec_file="s.json")
    first.claim()
    first.finish("done")
    again = RunManifest(_spec(tmp_path, **{NEW_KEY: None}), spec_file="s.json")
    assert again.fingerprint != first.fingerprint
    again.claim()  # no --overwrite needed
    again.finish("done")
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["fingerprint"] == again.fingerprint and record["status"] == "done"
    assert record["spec"]["sequential_pipeline"][0]["model_args"]["pre_processing"][NEW_KEY] is None


def test_a_real_difference_beside_a_null_key_is_refused_and_named(tmp_path: Path):
    first = RunManifest(_spec(tmp_path), spec_file="s.json")
    first.claim()
    first.finish("done")
    other = RunManifest(_spec(tmp_path, gamma=1.0, **{NEW_KEY: None}), spec_file="s.json")
    with pytest.raises(OutputsTaken) as refused:
        other.claim()
    message = str(refused.value)
    assert "holds the outputs of an earlier run of this spec file" in message and NEW_KEY not in message
    assert (
        "; the spec differs in $.sequential_pipeline[0].model_args.compilation_args.loss.gamma: 2.0 -> 1.0;" in message
    )
    valued = RunManifest(_spec(tmp_path, **{NEW_KEY: "fields/"}), spec_file="s.json")  # a value: a real change
    with pytest.raises(OutputsTaken, match=rf'{NEW_KEY}: null -> "fields/"'):
        valued.claim()


def test_a_checkpoint_fingerprint_ignores_null_keys_and_matches_one_hashed_before_the_key():
    step = _spec(Path("o"), **{NEW_KEY: None})["sequential_pipeline"][0]
    old = _without_key(step)
    shapes = [[10, 32, 3], 7]
    assert checkpoint_fingerprint(step, fields=shapes) == checkpoint_fingerprint(old, fields=shapes)
    before = fingerprint({"step": old, "fields": shapes})  # an older version's: training_epochs and nulls kept
    assert before in earlier_fingerprints(step, fields=shapes)
    assert before not in earlier_fingerprints(
        _spec(Path("o"), gamma=1.0, **{NEW_KEY: None})["sequential_pipeline"][0], fields=shapes
    )


def _as_an_older_version_wrote_them(out: Path, identities: list[tuple[Any, Any]]) -> None:
    """Rewrites ``out``'s run.json and checkpoint as a version without NEW_KEY wrote them."""
    record = json.loads((out / "run.json").read_text())
    record["spec"] = _without_key(record["spec"])
    record["fingerprint"] = spec_fingerprint(record["spec"])
    (out / "run.json").write_text(json.dumps(record))
    path = out / "training" / "resume" / "checkpoint.npz"
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    state = json.loads(arrays["state_json"].tobytes())
    identity, shapes = identities[-1]
    assert NEW_KEY in json.dumps(identity)  # the real train step has the key, as null
    state["fingerprint"] = fingerprint({"step": checkpoint_identity(_without_key(identity)), "fields": shapes})
    arrays["state_json"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_an_output_folder_and_checkpoint_of_an_older_version_are_run_again_and_resumed(tmp_path: Path, monkeypatch):
    identities: list[tuple[Any, Any]] = []

    def recorded(identity: Any, *, fields: Any) -> str:
        identities.append((json.loads(json.dumps(identity, default=str)), json.loads(json.dumps(fields))))
        return checkpoint_fingerprint(identity, fields=fields)

    monkeypatch.setattr(engine, "checkpoint_fingerprint", recorded)
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=12.0, density=2.0)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_spec(epochs=1, batch_size=8)))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(spec)]) == 0
    _as_an_older_version_wrote_them(tmp_path / "out", identities)
    assert cli.main(["run", str(spec)]) == 0  # the same spec again: no --overwrite needed

    _as_an_older_version_wrote_them(tmp_path / "out", identities)
    identity, shapes = identities[-1]
    path = tmp_path / "out" / "training" / "resume" / "checkpoint.npz"
    expected = checkpoint_fingerprint(identity, fields=shapes)
    with pytest.raises(DataError, match="or an older vl3d_focal wrote it; run without --resume"):
        resume_state(path, expected=expected)
    state = resume_state(path, expected=expected, earlier=earlier_fingerprints(identity, fields=shapes))
    assert state is not None and state["finished"] and state["epoch"] == 0


def test_a_resume_with_other_epochs_and_a_new_null_key_continues(tmp_path: Path):
    first = RunManifest(_spec(tmp_path), spec_file="s.json")
    first.claim()
    first.finish("done")
    spec = _spec(tmp_path, **{NEW_KEY: None})
    spec["sequential_pipeline"][0]["model_args"]["model_handling"]["training_epochs"] = 5
    longer = RunManifest(spec, spec_file="s.json", resume=True)
    longer.claim()  # refused without --resume, as any other change of training_epochs
    longer.finish("done")
    assert json.loads((tmp_path / "run.json").read_text())["fingerprint"] == longer.fingerprint
