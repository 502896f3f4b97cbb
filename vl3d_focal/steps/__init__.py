"""The step kinds of a pipeline, one module each, registered in ``registry.STEPS``.

Each module declares its step's schema, handler, outputs, what it needs and gives
(:mod:`~vl3d_focal.steps.definition`); :mod:`~vl3d_focal.steps.state` is the state the
handlers share. Handlers import the training and inference layers only when they run, so
loading the declarations (validation) imports no TensorFlow.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("PreviousModel").metadata["kind"]
    'predict'
"""
