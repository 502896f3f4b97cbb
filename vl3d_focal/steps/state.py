"""The state the pipeline steps share while a spec runs.

Example:
    >>> state = PipelineState(clouds=[], model_prefix="out/")
    >>> state.bundle is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vl3d_focal.data.feature_selection import FeatureSelector
from vl3d_focal.data.feature_standardization import Standardizer
from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.minmax_normalization import MinmaxNormalizer
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.steps.facts import RunFacts


@dataclass
class PipelineState:
    """Everything the steps pass to each other, in one place.

    Attributes:
        clouds: the input clouds, in ``in_pcloud`` order.
        model_prefix: where model-level outputs go (the first output prefix).
        mapping: the class mapping of the last ``class_mapping`` step.
        bundle: the model trained or loaded by the last ``train`` or ``predict`` step.
        resume: whether ``train`` steps continue from their last checkpoint (``--resume``).
        model_file: the file ``bundle`` was loaded from (None for a model trained in this run).
        model_training: the index in ``facts.trainings`` of the training that gave ``bundle``
            (None before any training; ``model_file`` set: a loaded model).
        tile_index: the footprints of every input cloud of the run (neighbours of a buffered
            prediction, the survey's grid anchor); None outside a pipeline run.
        predicted_names: the classes of the clouds' predictions (the model's, or reduced ones
            after a ``ClassReducer`` on predictions); None before any prediction.
        classes_rewritten: a ``ClassReducer`` replaced the clouds' classification values by
            reduced ones (VL3D's ``Writer`` then writes those).
        facts: what the steps did, for the run report (:mod:`vl3d_focal.steps.facts`).
        later_needs: what the steps after the running one need (their registry ``needs``), so
            that a step can check early what a later one would fail on.
        miners: the recipes of the miner steps run so far (their features can be ``fnames``).
        imputers: the recipes of the imputer steps run so far (the train steps apply them).
        feature_transformers: the recipes of the feature transformer steps run so far (the train
            steps fit and apply them).
    """

    clouds: list[CloudRecord]
    model_prefix: str
    mapping: ClassMapping | None = None
    bundle: ModelBundle | None = None
    resume: bool = False
    model_file: str | None = None
    model_training: int | None = None
    tile_index: TileIndex | None = None
    predicted_names: list[str] | None = None
    classes_rewritten: bool = False
    facts: RunFacts = field(default_factory=RunFacts)
    later_needs: frozenset[str] = frozenset()
    miners: list[MinedFeatures] = field(default_factory=list)
    imputers: list[Imputer] = field(default_factory=list)
    feature_transformers: list[FeatureSelector | Standardizer | MinmaxNormalizer | PCATransformer] = field(
        default_factory=list
    )

    def require_bundle(self, *, step: str) -> ModelBundle:
        """The current model, loaded now if the state holds only its description (see
        :func:`~vl3d_focal.steps.predict.load_model`); a clear error when no step produced one yet.

        Example:
            >>> PipelineState(clouds=[], model_prefix="").require_bundle(step="writer")
            Traceback (most recent call last):
            ...
            vl3d_focal.errors.DataError: step 'writer' needs a model: ...
        """
        if self.bundle is None:
            raise DataError(
                f"step {step!r} needs a model: expected a 'train' step or a "
                "'predict': 'ModelLoader' step before it, found none"
            )
        if self.bundle.model is None and self.model_file is not None:  # described only: load it now
            from vl3d_focal.models.model_file import load_bundle

            self.bundle = load_bundle(self.model_file)
        return self.bundle

    def require_mapping(self, *, step: str) -> ClassMapping:
        """The class mapping of the spec, else the one stored with the model.

        Example:
            >>> PipelineState(clouds=[], model_prefix="", mapping="m").require_mapping(step="eval")
            'm'
        """
        if self.mapping is not None:
            return self.mapping
        if self.bundle is not None and self.bundle.mapping is not None:
            return self.bundle.mapping
        raise DataError(
            f"step {step!r} needs a class mapping: expected a 'class_mapping' step or a "
            "model that stores one, found neither"
        )

    def prediction_mapping(self, *, step: str) -> ClassMapping:
        """The class mapping whose classes are the predictions' classes (their LAS codes, names).

        The pipeline's current mapping when its classes are the predicted ones (e.g. after a
        ``ClassReducer`` on predictions), else the model's.

        Example:
            >>> PipelineState(clouds=[], model_prefix="").prediction_mapping(step="writer")
            Traceback (most recent call last):
            ...
            vl3d_focal.errors.DataError: step 'writer' needs predictions: expected a 'predict' step before it
        """
        if self.predicted_names is None or self.bundle is None:
            raise DataError(f"step {step!r} needs predictions: expected a 'predict' step before it")
        for mapping in (self.mapping, self.bundle.mapping):
            if mapping is not None and list(mapping.names) == self.predicted_names:
                return mapping
        raise DataError(
            f"step {step!r}: the predictions' classes {self.predicted_names} are not the class mapping's "
            f"{list(self.require_mapping(step=step).names)}; expected the same classes in the same order"
        )
