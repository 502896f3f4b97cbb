"""Validation of the feature transformers against the train step after them: what their fit would
refuse at run time (after minutes of feature mining) is reported by ``vl3d-focal validate``, and a
Standardizer nothing uses is a note."""

from __future__ import annotations

import json

import pytest

from vl3d_focal import cli
from vl3d_focal.config import check_spec

FOREST = {"train": "RandomForestClassifier", "fnames": ["height", "twin", "noise"], "model_args": {}}
AUTO_FOREST = {**FOREST, "fnames": ["AUTO"]}
KBEST, EXPLICIT, PCA = "KBestSelector", "ExplicitSelector", "PCATransformer"


def _checked(steps: list[dict]) -> tuple[list[str], list[str]]:
    """The issues and notes of a spec of ``steps``."""
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}
    checked = check_spec(doc, check_files=False)
    return [str(issue) for issue in checked.issues], [str(note) for note in checked.notes]


@pytest.mark.parametrize(
    ("steps", "issue"),
    [
        (
            [{"feature_transformer": KBEST, "k": 4}, FOREST],
            "$.sequential_pipeline[0].k: k=4 is more than the 3 features it chooses among, the features of the model "
            "trained by $.sequential_pipeline[1] (height, twin, noise)",
        ),
        (
            [{"feature_transformer": "PercentileSelector", "percentile": 50, "fnames": ["height", "twinn"]}, FOREST],
            "$.sequential_pipeline[0].fnames[1]: 'twinn' is not among the features of the model trained by "
            "$.sequential_pipeline[1] (height, twin, noise); did you mean 'twin'?",
        ),
        (
            [{"feature_transformer": EXPLICIT, "fnames": ["height", "intensity"], "preserve": True}, FOREST],
            "$.sequential_pipeline[0].fnames[1]: 'intensity' is not among the features of the model trained by "
            "$.sequential_pipeline[1] (height, twin, noise)",
        ),
        (
            [
                {"feature_transformer": EXPLICIT, "fnames": ["noise"], "preserve": False},
                {"feature_transformer": "Standardizer"},
                {"feature_transformer": PCA, "fnames": ["height", "noise"]},
                FOREST,
            ],
            "$.sequential_pipeline[2].fnames[1]: 'noise' is dropped by the ExplicitSelector of "
            "$.sequential_pipeline[0] before it; name only features it keeps",
        ),
        (
            [{"feature_transformer": EXPLICIT, "fnames": ["height", "twin", "noise"], "preserve": False}, FOREST],
            "$.sequential_pipeline[0]: it would keep no feature of the model trained by $.sequential_pipeline[1] "
            "(height, twin, noise); change its fnames or preserve",
        ),
        (
            [
                {"feature_transformer": EXPLICIT, "fnames": ["height", "twin"]},
                {"feature_transformer": KBEST, "k": 3, "type": "regression"},
                FOREST,
            ],
            "$.sequential_pipeline[1].k: k=3 is more than the 2 features it chooses among, the features of the model "
            "trained by $.sequential_pipeline[2] (height, twin)",
        ),
        (  # the second train step fits the transformer too
            [{"feature_transformer": KBEST, "k": 1, "fnames": ["twin"]}, FOREST, {**FOREST, "fnames": ["height"]}],
            "$.sequential_pipeline[0].fnames[0]: 'twin' is not among the features of the model trained by "
            "$.sequential_pipeline[2] (height)",
        ),
    ],
)
def test_what_a_transformer_s_fit_on_the_train_step_s_fnames_would_refuse_is_a_validation_error(steps, issue):
    assert _checked(steps)[0] == [issue]


@pytest.mark.parametrize(
    "steps",
    [
        [{"feature_transformer": KBEST, "k": 7}, {"feature_transformer": EXPLICIT, "fnames": ["other"]}, AUTO_FOREST],
        [  # what a selector fitted on values keeps is known at run time only
            {"feature_transformer": KBEST, "k": 1},
            {"feature_transformer": PCA, "fnames": ["noise", "height"], "out_dim": 2},
            FOREST,
        ],
        [
            {"feature_transformer": EXPLICIT, "fnames": ["noise"], "preserve": False},
            {"feature_transformer": "VarianceSelector", "fnames": ["height", "twin"]},
            {"feature_transformer": KBEST, "k": 2},
            FOREST,
        ],
        [{"feature_transformer": PCA, "out_dim": 3}, FOREST],
    ],
)
def test_transformers_that_fit_the_train_step_s_fnames_or_before_fnames_auto_still_validate(steps):
    assert _checked(steps) == ([], [])


def test_transformers_before_a_model_of_no_features_are_a_validation_error():
    pointnet = {"train": "PointNetPwiseClassifier", "fnames": [], "model_args": {"num_classes": 2}}
    issues, _ = _checked([{"feature_transformer": "VarianceSelector"}, pointnet])
    assert (
        "$.sequential_pipeline[0]: the model trained by $.sequential_pipeline[1] learns from no feature (fnames is "
        "empty): remove the feature transformers or name the model's features"
    ) in issues


def test_validate_reports_a_name_the_train_step_does_not_have(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    steps = [{"feature_transformer": KBEST, "k": 2, "fnames": ["heigth", "twin"]}, FOREST]
    spec.write_text(json.dumps({"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}))
    assert cli.main(["validate", "--no-check-files", str(spec)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{spec}: $.sequential_pipeline[0].fnames[0]: 'heigth' is not among the features of the model trained by "
        "$.sequential_pipeline[1] (height, twin, noise); did you mean 'height'?"
    ]


def test_the_names_a_transformer_s_model_lacks_are_one_error_of_the_step_with_a_hint_each():
    explicit = {"feature_transformer": EXPLICIT, "fnames": ["noise"], "preserve": False}
    kbest = {"feature_transformer": KBEST, "k": 1, "fnames": ["heigth", "twinn", "other", "noise"]}
    assert _checked([explicit, kbest, FOREST])[0] == [
        "$.sequential_pipeline[1].fnames: 4 names are not among the features of the model trained by "
        "$.sequential_pipeline[2] (height, twin):\n"
        "  'heigth' (did you mean 'height'?), 'twinn' (did you mean 'twin'?), 'other'\n"
        "  dropped by the ExplicitSelector of $.sequential_pipeline[0] before it: 'noise'"
    ]
    many = {"feature_transformer": KBEST, "k": 1, "fnames": [f"f{i}" for i in range(14)]}
    [issue] = _checked([many, FOREST])[0]
    assert issue.endswith(
        "(height, twin, noise):\n  'f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10', 'f11' … and 2 more"
    )


@pytest.mark.parametrize(
    ("after", "why"),
    [
        ([], "no feature transformer after it uses its values"),
        (
            [
                {"feature_transformer": KBEST, "k": 2},
                {"feature_transformer": "PercentileSelector", "percentile": 50},
                {"feature_transformer": EXPLICIT, "fnames": ["height"], "preserve": False},
            ],
            "the feature transformers after it (KBestSelector, PercentileSelector, ExplicitSelector) choose the same "
            "features on standardised values (F-values are unchanged by an affine standardisation)",
        ),
    ],
)
def test_a_standardizer_whose_values_nothing_uses_is_a_note(after, why):
    issues, notes = _checked([{"feature_transformer": "Standardizer"}, *after, FOREST])
    assert issues == []
    assert notes == [
        f"$.sequential_pipeline[0]: accepted, no effect here: a model standardises its features itself, and {why}"
    ]


@pytest.mark.parametrize(
    "steps",
    [
        [{"feature_transformer": "Standardizer"}, {"feature_transformer": "VarianceSelector"}, AUTO_FOREST],
        [{"feature_transformer": "Standardizer", "center": False}, {"feature_transformer": PCA}, AUTO_FOREST],
        [{"feature_transformer": "Standardizer"}, AUTO_FOREST, {"feature_transformer": PCA}, AUTO_FOREST],
    ],
)
def test_a_standardizer_before_a_variance_selector_or_a_projection_is_no_note(steps):
    assert _checked(steps) == ([], [])


CENTRING_ONLY = (
    "accepted, no effect here: with scale false, a Standardizer only centres its features, which changes nothing: a "
    "PCATransformer centres its inputs itself, variances and F-values ignore offsets, and a model standardises its "
    "features itself"
)


@pytest.mark.parametrize(
    "after",
    [
        [],
        [{"feature_transformer": PCA}],  # before, no note: a PCA's axes depend on scales, not on offsets
        [{"feature_transformer": "VarianceSelector"}, {"feature_transformer": KBEST, "k": 2}],
        [{"feature_transformer": "Standardizer", "center": False}, {"feature_transformer": PCA}],
    ],
)
def test_a_standardizer_that_only_centres_is_one_note(after):
    standardizer = {"feature_transformer": "Standardizer", "scale": False}
    assert _checked([standardizer, *after, AUTO_FOREST]) == ([], [f"$.sequential_pipeline[0]: {CENTRING_ONLY}"])
    unchanged = "with center and scale false, a Standardizer leaves its features unchanged"
    assert _checked([{**standardizer, "center": False}, *after, AUTO_FOREST]) == (
        [],
        [f"$.sequential_pipeline[0]: accepted, no effect here: {unchanged}"],
    )


def test_a_standardizer_no_train_step_follows_is_one_note():
    _, notes = _checked([AUTO_FOREST, {"feature_transformer": "Standardizer", "scale": False}])
    assert notes == [
        "$.sequential_pipeline[1]: accepted, no effect here: a feature transformer applies to the models trained "
        "after it, and no train step follows it (a model a predict step loads takes the features it was trained with)"
    ]


@pytest.mark.parametrize(
    ("out_dim", "issue"),
    [
        (2, None),
        (1, None),
        (
            3.0,
            "$.sequential_pipeline[0].out_dim: out_dim=3.0: a number of components is written as an integer (3), as in "
            "VL3D; a fraction of the variance is at most 1",
        ),
        (
            0,
            "$.sequential_pipeline[0].out_dim: expected a number of components (integer >= 1); a fraction of the "
            "variance in (0, 1]; got integer 0",
        ),
        (4, "$.sequential_pipeline[0].out_dim: out_dim=4 is more than the 2 features it projects (height, twin)"),
    ],
)
def test_an_integer_out_dim_is_a_number_of_components(out_dim, issue):
    pca = {"feature_transformer": PCA, "fnames": ["height", "twin"], "out_dim": out_dim}
    assert _checked([pca, AUTO_FOREST])[0] == ([issue] if issue else [])
