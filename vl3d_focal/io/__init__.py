"""Point-cloud input and output (LAS/LAZ).

Example:
    >>> from vl3d_focal.io import read_cloud, write_cloud
"""

from vl3d_focal.io.las import PointCloud, available_features, read_cloud, write_cloud

__all__ = ["PointCloud", "available_features", "read_cloud", "write_cloud"]
