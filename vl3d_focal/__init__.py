"""vl3d_focal: VL3D's class-weighted focal categorical cross-entropy as a pipeline plugin.

Example:
    >>> from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 4.0], gamma=2.0)
"""

__version__ = "0.1.0"
