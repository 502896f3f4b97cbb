"""The pipeline runner's steps, one concern per module.

- :mod:`~vl3d_focal.steps.state`: the pipeline state and the trained-model bundle.
- :mod:`~vl3d_focal.steps.paths`: VL3D ``*`` output prefixes.
- :mod:`~vl3d_focal.steps.reading`: reading clouds and the class mapping step.
- :mod:`~vl3d_focal.steps.targets`: class counts, class weights and label formats.
- :mod:`~vl3d_focal.steps.fields`: receptive-field tensors of a cloud.
- :mod:`~vl3d_focal.steps.fitting`: optimizer, callbacks and the tf.data input pipeline.
- :mod:`~vl3d_focal.steps.training`: the ``train`` step.
- :mod:`~vl3d_focal.steps.prediction`: chunked prediction and the ``predict`` step.
- :mod:`~vl3d_focal.steps.model_file`: saving and loading a model with what it needs to predict.
- :mod:`~vl3d_focal.steps.evaluate`: the ``eval`` step.
- :mod:`~vl3d_focal.steps.writers`: the ``writer`` steps.

Example:
    >>> from vl3d_focal.steps.paths import expand_output
    >>> expand_output("*eval/report.json", prefix="out/run_")
    'out/run_eval/report.json'
"""
