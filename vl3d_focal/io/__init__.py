"""Input and output: LAS/LAZ clouds (:mod:`~vl3d_focal.io.las`, chunked in
:mod:`~vl3d_focal.io.chunks`) and the one atomic writer every output goes through
(:mod:`~vl3d_focal.io.atomic`).

Example:
    >>> from vl3d_focal.io.las import read_cloud, write_cloud
"""
