"""Defaults of the ``hierarchical_fps`` receptive fields (VL3D's ``KPConv_training_T1``), kept in
a module of their own so that the schema of the autoencoder needs no SciPy.

Example:
    >>> DEFAULT_NUM_POINTS_PER_DEPTH[0]
    512
"""

DEFAULT_NUM_POINTS_PER_DEPTH = (512, 256, 128, 64, 32)
DEFAULT_NUM_PWISE_NEIGHBORS = (32, 16, 16, 8, 4)
DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS = (1, 16, 8, 8, 4)
DEFAULT_NUM_UPSAMPLING_NEIGHBORS = (1, 16, 8, 8, 4)
