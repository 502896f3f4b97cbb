"""What a step kind declares when it registers in ``registry.STEPS``.

A step of a spec is told apart by its *kind key* (``"train"``, ``"predict"``, ``"eval"``,
``"writer"``, ...) and that key's value (``"ModelLoader"``). Each registered step declares:

- ``name``: the value it handles; an entry named like its kind (``"train"``) handles every
  value of that kind (the train step takes any registered model) and says which in ``values``
  (a callable returning the accepted names, e.g. ``MODELS.names``);
- ``schema``: the closed JSON Schema of the whole step; output paths carry
  ``x-vl3d-path: cloud-output | model-output`` (see :mod:`vl3d_focal.schema_annotations`),
  which is how validation, preflight and the stale-file cleanup know what it writes;
- ``handler``: ``(step, state) -> None``, run by the runner (a callable, or
  ``"module:function"`` imported when the step runs);
- ``needs`` / ``gives``: what must have been produced by an earlier step (``"model"``,
  ``"trained_model"``, ``"predictions"``, ...) and what this step produces;
- ``uses``: what an earlier step produces that the step uses when it is there, without needing it
  (``Writer`` writes the predictions of a predict step before it);
- ``chief_only``: only the chief of a multi-worker training runs it (it writes outputs);
- ``per_cloud``: the handler works on each cloud of ``state.clouds`` alone, with only the
  state's ``mapping``, ``bundle``, ``model_prefix`` and ``tile_index``: the runner
  (:mod:`vl3d_focal.runner.cloud_phase`) runs consecutive per-cloud steps cloud by cloud, as
  parallel tasks with the Dask executor, each on a state holding one cloud; a callable
  ``(step) -> bool`` decides from the step's arguments
  (:func:`vl3d_focal.config.checks.runs_per_cloud`);
- ``prepare``: for a per-cloud step, ``(step, state) -> None`` run once in the driver before
  its clouds are processed (e.g. loading the model a ``ModelLoader`` applies, so that a bad
  model file fails before any tile and the model is shipped to workers once);
- ``outputs``: files written besides those named by its schema's output paths, as
  ``(scope, "*path")`` pairs where scope is ``"model"`` (under the first output prefix) or
  ``"cloud"`` (under each cloud's prefix): ``(step, place) -> pairs``, ``place`` a
  :class:`~vl3d_focal.config.step_files.StepPlace` (the step's number among the spec's steps of
  its kind, the run's input clouds and output prefixes: the second train step writes
  ``training_2/``);
- ``numbered_outputs``: files whose number the run only finds out as it writes them (one cloud
  per receptive field), as ``(scope, "*folder/name pattern")`` pairs, the pattern a glob of the
  file names in that folder; the run manifest lists the files that match once written;
- ``check``: the semantic checks a JSON Schema cannot express, run by validation before any
  work: ``(step, at, known) -> [(json path parts, message), ...]``, where ``at`` is the step's
  path and ``known`` a dict that earlier steps' checks filled (e.g. ``"class_names"``, and
  ``"mapping"``: the :class:`~vl3d_focal.data.labels.ClassMapping` of those classes, None where
  unknown), with ``known["given"]`` what the steps before this one give and
  ``known["later_gives"]`` what the steps after it give (absent where a step is unknown), and
  ``known["later_givers"]`` how many of them give each of those, ``known["clouds"]`` how many
  clouds the steps see; a
  message starting with :data:`~vl3d_focal.config.notes.NOTE_PREFIX` is a no-effect note
  (``validate --strict`` makes it an error), not an error;

Third-party steps register a :class:`~vl3d_focal.registry.RegistryEntry` built by
:func:`step_entry` through the entry-point group ``vl3d_focal.steps``.

Example:
    >>> entry = step_entry(kind="writer", name="Noop", handler="builtins:print",
    ...                    schema={"description": "Does nothing."}, needs=("model",))
    >>> entry.metadata["kind"], entry.metadata["needs"], entry.description
    ('writer', ('model',), 'Does nothing.')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vl3d_focal.registry import RegistryEntry, caller_module

if TYPE_CHECKING:
    from vl3d_focal.config.step_files import StepPlace

Outputs = Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]
PlacedOutputs = Callable[[Mapping[str, Any], "StepPlace"], Sequence[tuple[str, str]]]
Issue = tuple[tuple, str]
Check = Callable[[Mapping[str, Any], tuple, dict[str, Any]], Iterable[Issue]]


def step_entry(
    *,
    kind: str,
    name: str,
    handler: Callable[..., Any] | str,
    schema: Mapping[str, Any],
    description: str | None = None,
    needs: Sequence[str] = (),
    gives: Sequence[str] = (),
    uses: Sequence[str] = (),
    chief_only: bool = False,
    per_cloud: bool | Callable[[Mapping[str, Any]], bool] = False,
    prepare: Callable[..., Any] | None = None,
    outputs: PlacedOutputs | None = None,
    numbered_outputs: Outputs | None = None,
    check: Check | None = None,
    values: Callable[[], Sequence[str]] | None = None,
) -> RegistryEntry:
    """A step registry entry (see the module docstring for the meaning of each field);
    ``description`` (what ``vl3d-focal list`` shows) defaults to the schema's."""
    origin = caller_module()
    return RegistryEntry(
        name=name,
        builder=handler,
        schema=schema,
        description=schema.get("description", "") if description is None else description,
        origin=origin,
        metadata={
            "kind": kind,
            "needs": tuple(needs),
            "gives": tuple(gives),
            "uses": tuple(uses),
            "chief_only": chief_only,
            "per_cloud": per_cloud,
            "prepare": prepare,
            "outputs": outputs,
            "numbered_outputs": numbered_outputs,
            "check": check,
            "values": values,
        },
    )
