"""Data preparation: class mapping, features, receptive fields, propagation, synthetic scenes.

Example:
    >>> from vl3d_focal.data.labels import ClassMapping, IGNORE_LABEL
"""
